//! A charge point that connects again while connected: the newcomer wins
//! ("replace", default; the old connection is closed 1008) or is refused
//! with HTTP 409 ("reject"). The two connections may sit on different
//! reactors, which share nothing per frame.

mod common;

use common::*;
use ocpp_gateway::config::DuplicateId;
use serde_json::json;

fn reactor_of(gw: &ocpp_gateway::GatewayHandle, id: &str) -> u16 {
    let list = gw.connections(Some(id));
    assert_eq!(
        list.len(),
        1,
        "{id} should be listed exactly once: {list:?}"
    );
    list[0].reactor
}

#[test]
fn replace_closes_the_old_connection_1008_across_reactors() {
    let gw = start(test_config());
    let mut old = ChargePoint::connect(gw.local_addr(), "CP-TWICE");
    old.boot();
    let mut old_reactor = reactor_of(&gw, "CP-TWICE");
    let (mut same, mut cross) = (0, 0);
    // The kernel picks the reactor of each connection: reconnect until both
    // a same-reactor and a cross-reactor replacement have happened.
    for _ in 0..64 {
        let mut new = ChargePoint::connect(gw.local_addr(), "CP-TWICE");
        assert_eq!(
            old.expect_close(),
            Some(1008),
            "old connection not closed 1008"
        );
        assert!(new.call_ok("Heartbeat", json!({}))["currentTime"].is_string());
        let new_reactor = reactor_of(&gw, "CP-TWICE");
        if new_reactor == old_reactor {
            same += 1;
        } else {
            cross += 1;
        }
        // Commands reach the new connection, not the closing one.
        std::thread::scope(|s| {
            let call = s.spawn(|| {
                gw.call(
                    "CP-TWICE",
                    "ClearCache",
                    "{}",
                    std::time::Duration::from_secs(5),
                )
            });
            let frame = new.recv();
            assert_eq!(frame[2], "ClearCache");
            new.send_text(&json!([3, frame[1], {"status": "Accepted"}]).to_string());
            assert!(matches!(
                call.join().unwrap(),
                ocpp_gateway::cross_thread::ServerCallOutcome::Result(_)
            ));
        });
        old = new;
        old_reactor = new_reactor;
        if same > 0 && cross > 0 {
            break;
        }
    }
    assert!(cross > 0, "never replaced across reactors");
    old.close();
    wait_for("registry empty", std::time::Duration::from_secs(5), || {
        gw.open_connections() == 0
    });
    stop(gw);
}

#[test]
fn reject_refuses_the_newcomer_with_409() {
    let mut config = test_config();
    config.ocpp.duplicate_id = DuplicateId::Reject;
    let gw = start(config);
    let mut first = ChargePoint::connect(gw.local_addr(), "CP-ONCE");
    for _ in 0..8 {
        assert_eq!(
            connect(gw.local_addr(), "/ocpp/CP-ONCE", &["ocpp1.6"]).err(),
            Some(409)
        );
    }
    // The first connection is untouched.
    assert_eq!(first.call("Heartbeat", json!({}))[0], 3);
    first.close();
    // Once it is gone, the id may connect again.
    wait_for("id released", std::time::Duration::from_secs(5), || {
        connect(gw.local_addr(), "/ocpp/CP-ONCE", &["ocpp1.6"]).is_ok()
    });
    stop(gw);
}
