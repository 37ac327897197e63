//! Server-initiated CALLs through the library API (`GatewayHandle::call`),
//! with a real charge point on the other end of the socket.

mod common;

use std::time::Duration;

use common::*;
use ocpp_gateway::cross_thread::ServerCallOutcome;
use serde_json::json;

const LONG: Duration = Duration::from_secs(10);

#[test]
fn reset_round_trip() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-RESET");
    cp.boot();
    std::thread::scope(|s| {
        let caller = s.spawn(|| gw.call("CP-RESET", "Reset", r#"{"type":"Soft"}"#, LONG));
        let (id, action, payload) = expect_call(&mut cp);
        assert_eq!(action, "Reset");
        assert_eq!(payload, json!({"type": "Soft"}));
        assert!(id.len() <= 36);
        cp.send_text(&json!([3, id, {"status": "Accepted"}]).to_string());
        let outcome = caller.join().unwrap();
        assert_eq!(
            outcome,
            ServerCallOutcome::Result(r#"{"status":"Accepted"}"#.into())
        );
    });
    cp.close();
    stop(gw);
}

#[test]
fn timeout_then_the_late_answer_is_ignored() {
    let gw = start(test_config());
    let journal_dir = gw.config().journal.directory.clone();
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-SLOW");
    let mut message_id = String::new();
    std::thread::scope(|s| {
        let caller = s.spawn(|| gw.call("CP-SLOW", "ClearCache", "{}", Duration::from_millis(300)));
        let (id, _, _) = expect_call(&mut cp);
        assert_eq!(caller.join().unwrap(), ServerCallOutcome::Timeout);
        // The answer arrives after the timeout: ignored, counted, harmless.
        cp.send_text(&json!([3, id, {"status": "Accepted"}]).to_string());
        assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
        message_id = id;
    });
    let total = |f: fn(&ocpp_gateway::cross_thread::ReactorCounters) -> u64| {
        gw.reactor_counters().iter().map(f).sum::<u64>()
    };
    wait_for("late answer counted", LONG, || {
        total(|c| c.late_results) == 1 && total(|c| c.server_calls_timed_out) == 1
    });
    assert_eq!(total(|c| c.unsolicited_results), 0);
    cp.close();
    stop(gw);
    // The journal tells how the command ended: a timeout, then the late answer.
    let records = ocpp_gateway::journal::read_records(&journal_dir).unwrap();
    let of_call: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["id"] == message_id.as_str())
        .collect();
    let kinds: Vec<&str> = of_call.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["server_call", "timeout", "result"], "{of_call:?}");
    assert_eq!(of_call[1]["action"], "ClearCache");
    assert_eq!(of_call[2]["late"], true);
    assert_eq!(of_call[2]["payload"]["status"], "Accepted");
}

#[test]
fn a_malformed_answer_fails_the_call_and_gets_no_callerror() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-GARBLED");
    std::thread::scope(|s| {
        let caller = s.spawn(|| gw.call("CP-GARBLED", "ClearCache", "{}", LONG));
        let (id, _, _) = expect_call(&mut cp);
        // A CALLRESULT without its payload (OCPP-J never answers an answer).
        cp.send_text(&json!([3, id]).to_string());
        match caller.join().unwrap() {
            ServerCallOutcome::MalformedAnswer(why) => assert!(why.contains("elements"), "{why}"),
            other => panic!("expected MalformedAnswer, got {other:?}"),
        }
        // Nothing came back for it: the next frame answers our Heartbeat.
        let hb = cp.call("Heartbeat", json!({}));
        assert_eq!(hb[0], 3, "{hb}");
    });
    cp.close();
    stop(gw);
}

#[test]
fn a_second_call_waits_until_the_first_is_answered() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-QUEUE");
    std::thread::scope(|s| {
        let first = s.spawn(|| gw.call("CP-QUEUE", "Reset", r#"{"type":"Hard"}"#, LONG));
        let (id1, action1, _) = expect_call(&mut cp);
        assert_eq!(action1, "Reset");
        let second = s.spawn(|| gw.call("CP-QUEUE", "ClearCache", "{}", LONG));
        // One outstanding CALL per connection (OCPP-J §4.1.1): nothing more yet.
        expect_silence(&mut cp, Duration::from_millis(400));
        cp.send_text(&json!([3, id1, {"status": "Accepted"}]).to_string());
        let (id2, action2, _) = expect_call(&mut cp);
        assert_eq!(action2, "ClearCache");
        assert_ne!(id1, id2);
        cp.send_text(&json!([3, id2, {"status": "Rejected"}]).to_string());
        assert!(matches!(
            first.join().unwrap(),
            ServerCallOutcome::Result(_)
        ));
        assert_eq!(
            second.join().unwrap(),
            ServerCallOutcome::Result(r#"{"status":"Rejected"}"#.into())
        );
    });
    cp.close();
    stop(gw);
}

#[test]
fn answers_are_validated_and_callerrors_reported() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-ODD");
    std::thread::scope(|s| {
        let caller = s.spawn(|| gw.call("CP-ODD", "Reset", r#"{"type":"Soft"}"#, LONG));
        let (id, _, _) = expect_call(&mut cp);
        cp.send_text(&json!([3, id, {"status": "Maybe"}]).to_string());
        match caller.join().unwrap() {
            ServerCallOutcome::InvalidResponse { payload, violation } => {
                assert_eq!(payload, r#"{"status":"Maybe"}"#);
                assert_eq!(violation.field.as_deref(), Some("status"));
            }
            other => panic!("expected InvalidResponse, got {other:?}"),
        }

        let caller = s.spawn(|| gw.call("CP-ODD", "UnlockConnector", r#"{"connectorId":1}"#, LONG));
        let (id, _, _) = expect_call(&mut cp);
        cp.send_text(&json!([4, id, "NotSupported", "no lock here", {}]).to_string());
        assert_eq!(
            caller.join().unwrap(),
            ServerCallOutcome::Error {
                code: "NotSupported".into(),
                description: "no lock here".into(),
                details: "{}".into(),
            }
        );
    });
    cp.close();
    stop(gw);
}

#[test]
fn invalid_requests_and_unknown_charge_points_send_nothing() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-STRICT");
    match gw.call("CP-STRICT", "Reset", r#"{"type":"Sideways"}"#, LONG) {
        ServerCallOutcome::InvalidRequest(v) => assert_eq!(v.field.as_deref(), Some("type")),
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
    assert!(matches!(
        gw.call("CP-STRICT", "Heartbeat", "{}", LONG),
        ServerCallOutcome::InvalidRequest(_)
    ));
    expect_silence(&mut cp, Duration::from_millis(300));
    assert_eq!(
        gw.call("CP-NOBODY", "Reset", r#"{"type":"Soft"}"#, LONG),
        ServerCallOutcome::NotConnected
    );
    cp.close();
    stop(gw);
}

#[test]
fn crossing_calls_are_both_answered() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-CROSS");
    std::thread::scope(|s| {
        let caller = s.spawn(|| gw.call("CP-CROSS", "GetConfiguration", "{}", LONG));
        let (id, _, _) = expect_call(&mut cp);
        // The charge point sends its own CALL before answering ours
        // (OCPP-J 1.6 §4.1.1): the gateway answers it normally.
        let hb = cp.call("Heartbeat", json!({}));
        assert_eq!(hb[0], 3);
        cp.send_text(&json!([3, id, {"configurationKey": []}]).to_string());
        assert!(matches!(
            caller.join().unwrap(),
            ServerCallOutcome::Result(_)
        ));
    });
    cp.close();
    stop(gw);
}

#[test]
fn a_call_outstanding_when_the_charge_point_leaves_reports_closed() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-GONE");
    std::thread::scope(|s| {
        let caller = s.spawn(|| gw.call("CP-GONE", "Reset", r#"{"type":"Soft"}"#, LONG));
        expect_call(&mut cp);
        drop(cp);
        assert_eq!(caller.join().unwrap(), ServerCallOutcome::Closed);
    });
    stop(gw);
}
