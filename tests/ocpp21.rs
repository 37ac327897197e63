//! OCPP 2.1's two new RPC message types over a real socket, in each
//! direction, and their absence on the versions that lack them:
//! - type 6 SEND from a charging station: validated, journaled, never
//!   answered; a broken one is not answered either, only counted;
//! - type 5 CALLRESULTERROR: sent by the gateway when a CALLRESULT to a
//!   server call breaks its schema; from a charge point, it fails the
//!   server call it names, or (naming one of our CALLRESULTs) is journaled;
//! - on 1.6 a type 5 or 6 frame is ignored and counted; on 2.0.1 it is
//!   answered `MessageTypeNotSupported`.
//!
//! After every frame that must not be answered, a Heartbeat must get its
//! CALLRESULT as the very next frame: nothing was sent in between.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use ocpp_gateway::GatewayHandle;
use ocpp_gateway::cross_thread::{ReactorCounters, ServerCallOutcome};
use ocpp_gateway::ocpp::OcppVersion;
use serde_json::{Value, json};
use tungstenite::Message;

fn gateway() -> GatewayHandle {
    let mut config = test_config();
    config.ocpp.subprotocols = OcppVersion::ALL.to_vec();
    start(config)
}

fn counter(gw: &GatewayHandle, pick: fn(&ReactorCounters) -> u64) -> u64 {
    gw.reactor_counters().iter().map(pick).sum()
}

/// Counters are published once per reactor tick: wait for `value`.
fn wait_counter(gw: &GatewayHandle, what: &str, pick: fn(&ReactorCounters) -> u64, value: u64) {
    wait_for(
        &format!("{what} = {value}"),
        Duration::from_secs(10),
        || counter(gw, pick) == value,
    );
    // Nothing more arrives later.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(counter(gw, pick), value, "{what}");
}

/// Sends a Heartbeat and asserts that its CALLRESULT is the next frame.
fn heartbeat_is_next(cp: &mut ChargePoint, after: &str) {
    let id = cp.send_call("Heartbeat", json!({}));
    let frame = cp.recv();
    assert_eq!(
        (frame[0].as_u64(), frame[1].as_str()),
        (Some(3), Some(id.as_str())),
        "after {after}: expected the Heartbeat's CALLRESULT next, got {frame}"
    );
}

fn periodic_stream(id: u64) -> Value {
    json!({"id": id, "pending": 0, "basetime": "2026-12-01T10:00:00Z",
           "data": [{"t": 0.5, "v": "230.1"}, {"t": 1.5, "v": "229.8"}]})
}

/// Every journal line so far (the writer flushes within its interval).
fn journal(dir: &Path) -> Vec<Value> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return lines;
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    for file in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
    {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
        );
    }
    lines
}

fn wait_for_line(dir: &Path, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    wait_for(what, Duration::from_secs(10), || {
        found = journal(dir).into_iter().find(|l| pick(l));
        found.is_some()
    });
    found.unwrap_or_default()
}

#[test]
fn a_send_is_journaled_and_never_answered() {
    let gw = gateway();
    let dir = gw.config().journal.directory.clone();
    let mut cp = ChargePoint::connect_with(gw.local_addr(), "ocpp2.1", "SEND-1");
    cp.send_text(
        &json!([6, "send-1", "NotifyPeriodicEventStream", periodic_stream(7)]).to_string(),
    );
    heartbeat_is_next(&mut cp, "a valid SEND");
    let line = wait_for_line(&dir, "the SEND's journal line", |l| l["kind"] == "send");
    assert_eq!(line["cp"], "SEND-1");
    assert_eq!(line["dir"], "in");
    assert_eq!(line["action"], "NotifyPeriodicEventStream");
    assert_eq!(line["id"], "send-1");
    assert_eq!(line["payload"], periodic_stream(7));
    assert!(line.get("answer").is_none(), "a SEND has no answer: {line}");
    wait_counter(&gw, "sends_dispatched", |c| c.sends_dispatched, 1);
    stop(gw);
}

#[test]
fn a_broken_send_is_not_answered_but_counted_and_not_journaled() {
    let gw = gateway();
    let dir = gw.config().journal.directory.clone();
    let mut cp = ChargePoint::connect_with(gw.local_addr(), "ocpp2.1", "SEND-2");
    let broken = [
        // breaks its schema: `data` missing
        json!([6, "bad-1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0,
               "basetime": "2026-12-01T10:00:00Z"}]),
        // a CALL's action sent as a SEND
        json!([6, "bad-2", "Heartbeat", {}]),
        // an action 2.1 does not have
        json!([6, "bad-3", "Teleport", {}]),
        // a SEND a CSMS sends, not a charging station: not a SEND at all
        json!([6, "bad-4", "SetDERControl", {}]),
    ];
    for frame in &broken {
        cp.send_text(&frame.to_string());
        heartbeat_is_next(&mut cp, &frame.to_string());
    }
    // Broken at the envelope: also unanswerable on 2.1.
    for text in [
        r#"[6,"bad-5","NotifyPeriodicEventStream"]"#,
        r#"[6,"bad-6","NotifyPeriodicEventStream",[]]"#,
    ] {
        let before = counter(&gw, |c| c.frame_errors);
        cp.send_text(text);
        heartbeat_is_next(&mut cp, text);
        wait_counter(&gw, "frame_errors", |c| c.frame_errors, before + 1);
    }
    // Processors publish their counts within a tick.
    wait_for("the broken SENDs' counts", Duration::from_secs(10), || {
        gw.answer_counts().get(&("unknown", "NotImplemented")) == Some(&1)
    });
    let counts = gw.answer_counts();
    assert_eq!(
        counts.get(&("NotifyPeriodicEventStream", "OccurrenceConstraintViolation")),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get(&("Heartbeat", "NotSupported")),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get(&("unknown", "NotImplemented")),
        Some(&1),
        "{counts:?}"
    );
    // The heartbeats are journaled; no broken SEND is.
    wait_for_line(&dir, "the last heartbeat", |l| {
        l["kind"] == "call" && l["id"] == "SEND-2-6"
    });
    assert!(
        journal(&dir).iter().all(|l| l["kind"] != "send"),
        "a broken SEND was journaled"
    );
    stop(gw);
}

#[test]
fn broken_sends_count_against_the_bad_message_budget() {
    let mut config = test_config();
    config.ocpp.subprotocols = vec![OcppVersion::V21];
    config.ocpp.max_bad_messages = 3;
    let gw = start(config);
    let mut cp = ChargePoint::connect_with(gw.local_addr(), "ocpp2.1", "SEND-3");
    for n in 0..4 {
        cp.send_text(&json!([6, format!("b{n}"), "NotifyPeriodicEventStream", {}]).to_string());
    }
    assert_eq!(cp.expect_close(), Some(1008));
    stop(gw);
}

#[test]
fn the_gateway_answers_a_schema_breaking_callresult_with_a_callresulterror() {
    let gw = gateway();
    let addr = gw.local_addr();
    let dir = gw.config().journal.directory.clone();
    let mut cp = ChargePoint::connect_with(addr, "ocpp2.1", "CRE-1");
    heartbeat_is_next(&mut cp, "connect");
    let caller = {
        let gw = &gw;
        std::thread::scope(|s| {
            let call = s.spawn(move || {
                gw.call(
                    "CRE-1",
                    "Reset",
                    r#"{"type":"Immediate"}"#,
                    Duration::from_secs(10),
                )
            });
            let request = cp.recv();
            assert_eq!(request[0], 2, "{request}");
            assert_eq!(request[2], "Reset");
            let id = request[1].as_str().unwrap().to_owned();
            cp.send_text(&json!([3, id, {"status": "Maybe"}]).to_string());
            let refusal = cp.recv();
            assert_eq!(refusal[0], 5, "expected a CALLRESULTERROR: {refusal}");
            assert_eq!(refusal[1], id.as_str());
            assert_eq!(refusal[2], "PropertyConstraintViolation");
            assert!(
                refusal[3].as_str().is_some_and(|d| d.contains("Maybe")),
                "{refusal}"
            );
            assert_eq!(refusal[4], json!({"field": "status"}));
            (call.join().unwrap(), id)
        })
    };
    let (outcome, id) = caller;
    match outcome {
        ServerCallOutcome::InvalidResponse { payload, violation } => {
            assert_eq!(payload, r#"{"status":"Maybe"}"#);
            assert_eq!(violation.field.as_deref(), Some("status"));
        }
        other => panic!("{other:?}"),
    }
    wait_counter(&gw, "result_errors_sent", |c| c.result_errors_sent, 1);
    wait_for_line(&dir, "the invalid result", |l| {
        l["kind"] == "result" && l["id"] == id.as_str()
    });
    heartbeat_is_next(&mut cp, "the CALLRESULTERROR");
    stop(gw);
}

#[test]
fn a_callresult_that_is_not_an_object_gets_a_callresulterror_on_2_1_only() {
    let gw = gateway();
    for (subprotocol, id) in [("ocpp2.1", "CRE-2"), ("ocpp2.0.1", "CRE-3")] {
        let mut cp = ChargePoint::connect_with(gw.local_addr(), subprotocol, id);
        heartbeat_is_next(&mut cp, "connect");
        let outcome = std::thread::scope(|s| {
            let gw = &gw;
            let call = s.spawn(move || {
                gw.call(id, "Reset", r#"{"type":"OnIdle"}"#, Duration::from_secs(10))
            });
            let request = cp.recv();
            let message_id = request[1].as_str().unwrap().to_owned();
            cp.send_text(&format!(r#"[3,"{message_id}",7]"#));
            if subprotocol == "ocpp2.1" {
                let refusal = cp.recv();
                assert_eq!(refusal[0], 5, "{refusal}");
                assert_eq!(refusal[1], message_id.as_str());
                assert_eq!(refusal[2], "FormatViolation");
            }
            call.join().unwrap()
        });
        assert!(
            matches!(outcome, ServerCallOutcome::MalformedAnswer(_)),
            "{subprotocol}: {outcome:?}"
        );
        // 2.0.1 has no type 5: nothing was sent back.
        heartbeat_is_next(&mut cp, "the malformed CALLRESULT");
    }
    stop(gw);
}

#[test]
fn on_2_0_1_a_schema_breaking_callresult_gets_no_answer() {
    let gw = gateway();
    let mut cp = ChargePoint::connect_with(gw.local_addr(), "ocpp2.0.1", "CRE-4");
    heartbeat_is_next(&mut cp, "connect");
    let outcome = std::thread::scope(|s| {
        let gw = &gw;
        let call = s.spawn(move || {
            gw.call(
                "CRE-4",
                "Reset",
                r#"{"type":"Immediate"}"#,
                Duration::from_secs(10),
            )
        });
        let request = cp.recv();
        cp.send_text(&json!([3, request[1], {"status": "Maybe"}]).to_string());
        call.join().unwrap()
    });
    assert!(
        matches!(outcome, ServerCallOutcome::InvalidResponse { .. }),
        "{outcome:?}"
    );
    heartbeat_is_next(&mut cp, "the invalid CALLRESULT");
    wait_counter(&gw, "result_errors_sent", |c| c.result_errors_sent, 0);
    stop(gw);
}

#[test]
fn a_callresulterror_from_the_charge_point_fails_the_server_call_it_names() {
    let gw = gateway();
    let mut cp = ChargePoint::connect_with(gw.local_addr(), "ocpp2.1", "CRE-5");
    heartbeat_is_next(&mut cp, "connect");
    let outcome = std::thread::scope(|s| {
        let gw = &gw;
        let call = s.spawn(move || {
            gw.call(
                "CRE-5",
                "Reset",
                r#"{"type":"Immediate"}"#,
                Duration::from_secs(10),
            )
        });
        let request = cp.recv();
        cp.send_text(
            &json!([5, request[1], "InternalError", "could not process", {"why": "busy"}])
                .to_string(),
        );
        call.join().unwrap()
    });
    match outcome {
        ServerCallOutcome::Error {
            code,
            description,
            details,
        } => {
            assert_eq!(code, "InternalError");
            assert_eq!(description, "could not process");
            assert_eq!(details, r#"{"why":"busy"}"#);
        }
        other => panic!("{other:?}"),
    }
    wait_counter(
        &gw,
        "result_errors_received",
        |c| c.result_errors_received,
        1,
    );
    heartbeat_is_next(&mut cp, "the CALLRESULTERROR");
    stop(gw);
}

#[test]
fn a_callresulterror_for_our_callresult_is_journaled_and_not_answered() {
    let gw = gateway();
    let dir = gw.config().journal.directory.clone();
    let mut cp = ChargePoint::connect_with(gw.local_addr(), "ocpp2.1", "CRE-6");
    let answer = cp.call("Heartbeat", json!({}));
    assert_eq!(answer[0], 3);
    let id = answer[1].as_str().unwrap().to_owned();
    cp.send_text(
        &json!([5, id, "FormatViolation", "currentTime unreadable", {"field": "currentTime"}])
            .to_string(),
    );
    heartbeat_is_next(&mut cp, "the CALLRESULTERROR");
    let line = wait_for_line(&dir, "the result_error line", |l| {
        l["kind"] == "result_error"
    });
    assert_eq!(line["dir"], "in");
    assert_eq!(line["id"], id.as_str());
    assert_eq!(line["error_code"], "FormatViolation");
    assert_eq!(line["error_description"], "currentTime unreadable");
    assert_eq!(line["payload"], json!({"field": "currentTime"}));
    wait_counter(
        &gw,
        "result_errors_received",
        |c| c.result_errors_received,
        1,
    );
    stop(gw);
}

#[test]
fn types_5_and_6_do_not_exist_before_2_1() {
    let gw = gateway();
    let send = json!([6, "t6", "NotifyPeriodicEventStream", periodic_stream(1)]).to_string();
    let result_error = r#"[5,"t5","FormatViolation","x",{}]"#;
    // 1.6: ignored (OCPP-J 1.6 §4.1.3), and counted.
    let mut v16 = ChargePoint::connect_with(gw.local_addr(), "ocpp1.6", "OLD-16");
    for text in [send.as_str(), result_error] {
        let before = counter(&gw, |c| c.frame_errors);
        v16.send_text(text);
        heartbeat_is_next(&mut v16, text);
        wait_counter(&gw, "frame_errors", |c| c.frame_errors, before + 1);
    }
    // 2.0.1: MessageTypeNotSupported, echoing the message id.
    let mut v201 = ChargePoint::connect_with(gw.local_addr(), "ocpp2.0.1", "OLD-201");
    for (text, id) in [(send.as_str(), "t6"), (result_error, "t5")] {
        v201.send_text(text);
        let answer = v201.recv();
        assert_eq!(answer[0], 4, "{answer}");
        assert_eq!(answer[1], id);
        assert_eq!(answer[2], "MessageTypeNotSupported");
        assert_eq!(answer[4], json!({}));
        heartbeat_is_next(&mut v201, text);
    }
    wait_counter(&gw, "sends_dispatched", |c| c.sends_dispatched, 0);
    stop(gw);
}

#[test]
fn the_three_versions_share_a_port_and_2_1_answers_its_first_messages() {
    let gw = gateway();
    let addr = gw.local_addr();
    for (offered, chosen) in [
        (vec!["ocpp2.1", "ocpp2.0.1", "ocpp1.6"], "ocpp2.1"),
        (vec!["ocpp1.6", "ocpp2.1"], "ocpp1.6"),
        (vec!["ocpp2.0.1", "ocpp2.1"], "ocpp2.0.1"),
    ] {
        let (_ws, response) = connect(addr, "/ocpp/CHOICE", &offered).expect("upgrade");
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").unwrap(),
            chosen,
            "{offered:?}"
        );
    }
    let mut cp = ChargePoint::connect_with(addr, "ocpp2.1", "V21-1");
    let boot = cp.call_ok(
        "BootNotification",
        json!({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}),
    );
    assert_eq!(boot["status"], "Accepted");
    let tx = cp.call_ok(
        "TransactionEvent",
        json!({"eventType": "Started", "timestamp": "2026-12-01T10:00:00Z",
               "triggerReason": "Authorized", "seqNo": 0,
               "transactionInfo": {"transactionId": "tx-1"},
               "idToken": {"idToken": "TAG", "type": "ISO14443"}}),
    );
    assert_eq!(tx["idTokenInfo"]["status"], "Accepted");
    // A 2.1-only message a charging station sends, not answered locally.
    let refused = cp.call("NotifySettlement", json!({}));
    assert_eq!(refused[0], 4, "{refused}");
    assert_eq!(refused[2], "NotSupported");
    // A 2.1 error code spelling: OccurrenceConstraintViolation, as 2.0.1.
    let missing = cp.call("Authorize", json!({}));
    assert_eq!(missing[2], "OccurrenceConstraintViolation");
    assert_eq!(missing[4], json!({"field": "idToken"}));
    cp.ws.send(Message::Close(None)).ok();
    stop(gw);
}
