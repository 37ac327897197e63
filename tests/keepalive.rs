//! Pings on schedule, dead peers dropped, client pings answered.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;

fn keepalive_config(ping_ms: u64, pong_ms: u64) -> ocpp_gateway::Config {
    let mut config = test_config();
    config.reactors.timer_tick = Duration::from_millis(20);
    config.websocket.ping_interval = Duration::from_millis(ping_ms);
    config.websocket.pong_timeout = Duration::from_millis(pong_ms);
    config
}

#[test]
fn server_pings_arrive_at_the_configured_interval() {
    let gw = start(keepalive_config(200, 1000));
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-PING");
    let opened = Instant::now();
    let mut arrivals = Vec::new();
    while arrivals.len() < 4 {
        if let Message::Ping(_) = cp.ws.read().expect("read") {
            arrivals.push(opened.elapsed());
        }
    }
    // Each ping fires one interval after the last, never early, at most a
    // tick late (plus scheduling slack on a shared machine).
    let mut previous = Duration::ZERO;
    for at in arrivals {
        let gap = at - previous;
        assert!(gap >= Duration::from_millis(170), "ping after {gap:?}");
        assert!(gap <= Duration::from_millis(600), "ping after {gap:?}");
        previous = at;
    }
    cp.close();
    stop(gw);
}

#[test]
fn a_silent_peer_is_dropped_after_ping_interval_plus_pong_timeout() {
    let gw = start(keepalive_config(300, 300));
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-SILENT");
    // The gateway's last frame from us is the boot, read after this instant.
    let silent_since = Instant::now();
    cp.boot();
    // From now on the client reads raw bytes and never answers a ping.
    let mut raw = cp.ws.get_ref().try_clone().unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let closed_after = loop {
        match raw.read(&mut buf) {
            Ok(0) | Err(_) => break silent_since.elapsed(),
            Ok(_) => continue, // pings and the gateway's close frame, unanswered
        }
    };
    assert!(
        closed_after >= Duration::from_millis(600),
        "dropped after {closed_after:?}, before 600 ms of silence"
    );
    // 600 ms + one 20 ms tick, plus slack for a loaded shared machine.
    assert!(
        closed_after <= Duration::from_millis(600 + 20 + 1500),
        "still open after {closed_after:?}"
    );
    wait_for("dead-peer counter", Duration::from_secs(2), || {
        gw.reactor_counters()
            .iter()
            .map(|c| c.dead_peer_closes)
            .sum::<u64>()
            == 1
    });
    stop(gw);
}

#[test]
fn a_peer_that_answers_pings_stays() {
    let gw = start(keepalive_config(150, 850));
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-ALIVE");
    // tungstenite answers each ping while we read; 2 s is two dead-peer periods.
    let until = Instant::now() + Duration::from_secs(2);
    let mut pings = 0;
    cp.ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while Instant::now() < until {
        match cp.ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("connection lost: {e}"),
        }
    }
    assert!(pings >= 5, "only {pings} pings");
    cp.ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(cp.boot()["status"], "Accepted");
    cp.close();
    stop(gw);
}

#[test]
fn a_client_ping_gets_a_pong() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-PONG");
    cp.ws
        .send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    loop {
        match cp.ws.read().expect("read") {
            Message::Pong(data) => {
                assert_eq!(&data[..], b"are you there");
                break;
            }
            Message::Ping(_) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    cp.close();
    stop(gw);
}

/// A gateway whose answers to `Authorize` take `delay` (a slow backend or a
/// stalled journal, as far as the charge point can tell).
fn slow_authorize_gateway(delay: Duration) -> ocpp_gateway::GatewayHandle {
    let extensions = ocpp_gateway::Extensions {
        before_answer: Some(std::sync::Arc::new(move |action: &str| {
            if action == "Authorize" {
                std::thread::sleep(delay);
            }
        })),
    };
    start_with(keepalive_config(200, 200), extensions)
}

#[test]
fn a_charge_point_waiting_for_a_slow_answer_is_not_dropped_as_dead() {
    // The answer takes 2 s; the dead-peer period is 400 ms. While its CALL
    // is out the gateway still reads the charge point's pongs.
    let gw = slow_authorize_gateway(Duration::from_secs(2));
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-WAITING");
    let answer = cp.call("Authorize", serde_json::json!({"idTag": "TAG"}));
    assert_eq!(answer[0], 3, "{answer}");
    assert_eq!(cp.call("Heartbeat", serde_json::json!({}))[0], 3);
    let dead: u64 = gw
        .reactor_counters()
        .iter()
        .map(|c| c.dead_peer_closes)
        .sum();
    assert_eq!(dead, 0);
    cp.close();
    stop(gw);
}

#[test]
fn a_held_call_stops_the_dead_peer_clock() {
    // A second CALL behind the slow one is held: the gateway reads nothing
    // of this charge point (no pongs either) until the first is answered,
    // and that silence is the gateway's, not the charge point's.
    let gw = slow_authorize_gateway(Duration::from_secs(2));
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-PIPELINING");
    let first = cp.send_call("Authorize", serde_json::json!({"idTag": "TAG"}));
    let second = cp.send_call("Heartbeat", serde_json::json!({}));
    assert_eq!(cp.recv()[1], first);
    assert_eq!(cp.recv()[1], second);
    let dead: u64 = gw
        .reactor_counters()
        .iter()
        .map(|c| c.dead_peer_closes)
        .sum();
    assert_eq!(dead, 0);
    cp.close();
    stop(gw);
}
