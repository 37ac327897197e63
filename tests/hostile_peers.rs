//! Hostile and broken peers: every per-connection and gateway-wide limit,
//! tried by a peer that exceeds it, seen from the charge points' side.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ocpp_gateway::GatewayHandle;
use ocpp_gateway::cross_thread::ReactorCounters;
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

const LONG: Duration = Duration::from_secs(10);

/// A counter summed over the reactors.
fn total(gw: &GatewayHandle, counter: fn(&ReactorCounters) -> u64) -> u64 {
    gw.reactor_counters().iter().map(counter).sum()
}

/// One fragment of a text message (the first one is `Text`, the rest
/// `Continue`).
fn fragment(first: bool, fin: bool, data: &[u8]) -> Message {
    let opcode = if first {
        OpCode::Data(Data::Text)
    } else {
        OpCode::Data(Data::Continue)
    };
    Message::Frame(Frame::message(data.to_vec(), opcode, fin))
}

/// The answer frame to `id`, skipping pings; panics on a close.
fn answer_to(cp: &mut ChargePoint, id: &str) -> Value {
    let answer = cp.recv();
    assert_eq!(answer[1], id, "answer to the wrong message: {answer}");
    answer
}

/// Sends an HTTP upgrade by hand and returns the response head.
fn upgrade_head(addr: SocketAddr, id: &str, wait: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(wait))?;
    write!(
        stream,
        "GET /ocpp/{id} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte)? {
            0 => break,
            _ => head.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[test]
fn a_garbage_flood_does_not_starve_or_drop_the_honest_charge_points_on_its_reactor() {
    let mut config = test_config();
    config.reactors.count = 1;
    // Short enough that a monopolised reactor drops its honest peers
    // within the 3 s flood, long enough for a loaded test machine.
    config.websocket.ping_interval = Duration::from_millis(1000);
    config.websocket.pong_timeout = Duration::from_millis(1000);
    // Fairness alone, without the bad-message budget cutting the attacker.
    config.ocpp.max_bad_messages = 0;
    let gw = start(config);
    let addr = gw.local_addr();
    let mut honest: Vec<ChargePoint> = (0..3)
        .map(|i| ChargePoint::connect(addr, &format!("HONEST-{i}")))
        .collect();
    for cp in &mut honest {
        cp.boot();
    }
    let attacking = AtomicBool::new(true);
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut attacker = ChargePoint::connect(addr, "ATTACKER");
            let garbage = "[".repeat(100_000);
            while attacking.load(Ordering::Relaxed) {
                if attacker.ws.send(Message::text(garbage.as_str())).is_err() {
                    break;
                }
            }
        });
        // Stops the flood however this thread leaves the scope (a failed
        // assertion included), so a failure cannot hang the test binary.
        struct StopFlood<'a>(&'a AtomicBool);
        impl Drop for StopFlood<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Relaxed);
            }
        }
        let _stop_flood = StopFlood(&attacking);
        // Let the flood build up, then the honest ones go on working.
        std::thread::sleep(Duration::from_millis(300));
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            for cp in &mut honest {
                let sent = Instant::now();
                assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
                slowest = slowest.max(sent.elapsed());
                answered += 1;
            }
        }
    });
    // Before the read budget one such sender held its reactor for seconds
    // and honest peers were dropped as dead (1 s + 1 s here). The
    // floor is low on purpose: a loaded test machine slows everyone, but
    // a monopolised reactor answers nothing at all for the whole flood.
    assert!(answered >= 9, "only {answered} heartbeats answered in 3 s");
    assert!(
        slowest < Duration::from_secs(2),
        "slowest heartbeat {slowest:?}"
    );
    assert_eq!(total(&gw, |c| c.dead_peer_closes), 0);
    assert!(total(&gw, |c| c.read_budget_exhausted) > 0);
    for cp in honest {
        cp.close();
    }
    stop(gw);
}

#[test]
fn too_many_malformed_messages_close_the_connection_1008() {
    let mut config = test_config();
    config.ocpp.max_bad_messages = 3;
    let journal = config.journal.directory.clone();
    let gw = start(config);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-BROKEN");
    cp.send_text("not json");
    cp.send_text("[2]");
    // A schema-breaking CALL counts too, and still gets its CALLERROR.
    let refused = cp.call("Authorize", json!({}));
    assert_eq!(refused[2], "OccurenceConstraintViolation");
    // Within the budget the connection works.
    assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
    cp.send_text("{}");
    assert_eq!(cp.expect_close(), Some(1008));
    wait_for("the closure counted", LONG, || {
        total(&gw, |c| c.bad_message_closes) == 1
    });
    stop(gw);
    let records = ocpp_gateway::journal::read_records(&journal).unwrap();
    let disconnect = records
        .iter()
        .find(|r| r["kind"] == "disconnect")
        .expect("disconnect journaled");
    assert_eq!(disconnect["close_code"], 1008);
    assert!(
        disconnect["close_reason"]
            .as_str()
            .unwrap()
            .contains("too many malformed messages"),
        "{disconnect}"
    );
}

#[test]
fn a_message_that_never_completes_is_cut_at_the_message_timeout_despite_pings() {
    let mut config = test_config();
    config.websocket.message_timeout = Duration::from_millis(500);
    let gw = start(config);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-TRICKLE");
    let started = Instant::now();
    cp.ws
        .send(fragment(true, false, br#"[2,"1","Heartbeat","#))
        .unwrap();
    // Pings keep the connection alive, not the half-built message.
    cp.ws.get_ref().set_nonblocking(true).unwrap();
    let code = loop {
        assert!(started.elapsed() < LONG, "never cut");
        let _ = cp.ws.send(Message::Ping(Default::default()));
        match cp.ws.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, Some(1008));
    assert!(started.elapsed() >= Duration::from_millis(450));
    wait_for("the timeout counted", LONG, || {
        total(&gw, |c| c.message_timeouts) == 1
    });
    stop(gw);
}

/// `[2,id,"DataTransfer",{...,"data":"xxx…"}]` of about `size` bytes.
fn big_call(id: &str, size: usize) -> String {
    json!([2, id, "DataTransfer", {"vendorId": "V", "data": "x".repeat(size)}]).to_string()
}

#[test]
fn past_the_buffer_budget_a_partial_message_waits_and_completes_later() {
    let mut config = test_config();
    config.reactors.count = 1;
    config.websocket.max_message_size = 64 << 10;
    config.websocket.max_buffered_bytes = 64 << 10;
    let gw = start(config);
    let addr = gw.local_addr();
    let buffered = || {
        gw.reactor_tallies()
            .buffered_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let (mut a, mut b) = (
        ChargePoint::connect(addr, "CP-A"),
        ChargePoint::connect(addr, "CP-B"),
    );
    let (text_a, text_b) = (big_call("a", 50_000), big_call("b", 50_000));
    let (head_a, tail_a) = text_a.as_bytes().split_at(text_a.len() - 10);
    let (head_b, tail_b) = text_b.as_bytes().split_at(text_b.len() - 10);
    a.ws.send(fragment(true, false, head_a)).unwrap();
    wait_for("A's part counted", LONG, || buffered() >= 50_000);
    b.ws.send(fragment(true, false, head_b)).unwrap();
    wait_for("B paused at the budget", LONG, || {
        total(&gw, |c| c.buffer_budget_pauses) >= 1
    });
    // B's message is complete on the wire but not read: no answer yet.
    b.ws.send(fragment(false, true, tail_b)).unwrap();
    b.ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        matches!(b.ws.read(), Err(tungstenite::Error::Io(_))),
        "B was answered above the budget"
    );
    b.ws.get_ref().set_read_timeout(Some(LONG)).unwrap();
    // A completes; the budget has room; B is read and answered. Nothing lost.
    a.ws.send(fragment(false, true, tail_a)).unwrap();
    assert_eq!(answer_to(&mut a, "a")[0], 3);
    assert_eq!(answer_to(&mut b, "b")[0], 3);
    wait_for("nothing buffered", LONG, || buffered() == 0);
    a.close();
    b.close();
    stop(gw);
}

#[test]
fn buffers_grown_by_a_large_frame_are_given_back() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-LARGE");
    cp.send_text(&big_call("big", 200_000));
    assert_eq!(answer_to(&mut cp, "big")[0], 3);
    assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
    wait_for("buffers compacted", LONG, || {
        total(&gw, |c| c.buffers_compacted) >= 1
    });
    // The rebuilt WebSocket goes on as before.
    cp.send_text(&big_call("big2", 100_000));
    assert_eq!(answer_to(&mut cp, "big2")[0], 3);
    cp.close();
    stop(gw);
}

#[test]
fn at_the_handshake_cap_the_oldest_silent_socket_makes_room_for_a_newcomer() {
    let mut config = test_config();
    config.reactors.count = 1;
    config.listen.max_handshakes = 3;
    let gw = start(config);
    let addr = gw.local_addr();
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    wait_for("three handshakes held", LONG, || {
        gw.reactor_tallies()
            .handshakes
            .load(std::sync::atomic::Ordering::Relaxed)
            == 3
    });
    // A charge point arriving now gets in at once (it would otherwise wait
    // out the silent sockets' handshake timeout)...
    let head = upgrade_head(addr, "CP-NEWCOMER", LONG).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // ...and the oldest silent socket was dropped for it.
    let mut first = &silent[0];
    first.set_read_timeout(Some(LONG)).unwrap();
    assert_eq!(first.read(&mut [0u8; 16]).unwrap(), 0, "oldest not dropped");
    wait_for("the shed counted", LONG, || {
        total(&gw, |c| c.handshakes_shed) >= 1
    });
    assert!(
        gw.reactor_tallies()
            .handshakes
            .load(std::sync::atomic::Ordering::Relaxed)
            <= 3
    );
    stop(gw);
}

#[test]
fn over_the_handshake_rate_an_upgrade_gets_503_with_retry_after() {
    let mut config = test_config();
    config.reactors.count = 1;
    config.listen.max_handshakes_per_second = 2;
    let gw = start(config);
    let heads: Vec<String> = (0..5)
        .map(|i| upgrade_head(gw.local_addr(), &format!("CP-{i}"), LONG).unwrap())
        .collect();
    let upgraded = heads
        .iter()
        .filter(|h| h.starts_with("HTTP/1.1 101"))
        .count();
    let busy: Vec<&String> = heads
        .iter()
        .filter(|h| h.starts_with("HTTP/1.1 503"))
        .collect();
    assert!(upgraded >= 2, "{heads:?}");
    assert!(!busy.is_empty(), "{heads:?}");
    assert!(
        busy.iter()
            .all(|h| h.to_ascii_lowercase().contains("retry-after: 1")),
        "{busy:?}"
    );
    let refused = busy.len() as u64;
    wait_for("refusals counted", LONG, || {
        total(&gw, |c| c.handshakes_rate_limited) == refused
    });
    stop(gw);
}

#[test]
fn over_the_call_rate_calls_are_slowed_and_none_is_lost() {
    let mut config = test_config();
    config.ocpp.max_calls_per_second = 10.0;
    config.ocpp.call_burst = 2;
    let gw = start(config);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-CHATTY");
    let started = Instant::now();
    let ids: Vec<String> = (0..12)
        .map(|_| cp.send_call("Heartbeat", json!({})))
        .collect();
    for id in &ids {
        assert_eq!(answer_to(&mut cp, id)[0], 3);
    }
    // 2 at once, then 10 at 10 per second.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(total(&gw, |c| c.call_rate_waits) >= 1);
    cp.close();
    stop(gw);
}

#[test]
fn commands_beyond_the_per_connection_queue_are_refused_at_once() {
    use ocpp_gateway::cross_thread::ServerCallOutcome;
    let mut config = test_config();
    config.ocpp.max_queued_server_calls = 2;
    let gw = start(config);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-STUCK");
    let mut healthy = ChargePoint::connect(gw.local_addr(), "CP-HEALTHY");
    const SLOW: Duration = Duration::from_secs(1);
    std::thread::scope(|s| {
        let outstanding = s.spawn(|| gw.call("CP-STUCK", "ClearCache", "{}", SLOW));
        assert_eq!(cp.recv()[2], "ClearCache");
        let queued: Vec<_> = (0..2)
            .map(|_| s.spawn(|| gw.call("CP-STUCK", "ClearCache", "{}", SLOW)))
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        assert_eq!(
            gw.call("CP-STUCK", "ClearCache", "{}", SLOW),
            ServerCallOutcome::QueueFull
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        // Another charge point is not affected.
        let other = s.spawn(|| gw.call("CP-HEALTHY", "ClearCache", "{}", LONG));
        let call = healthy.recv();
        healthy.send_text(&json!([3, call[1], {"status": "Accepted"}]).to_string());
        assert!(matches!(
            other.join().unwrap(),
            ServerCallOutcome::Result(_)
        ));
        assert_eq!(outstanding.join().unwrap(), ServerCallOutcome::Timeout);
        for q in queued {
            q.join().unwrap();
        }
    });
    assert_eq!(total(&gw, |c| c.server_calls_refused_queue_full), 1);
    stop(gw);
}

#[test]
fn a_charge_point_that_never_reads_is_dropped_at_the_write_buffer_limit() {
    let mut config = test_config();
    config.websocket.max_message_size = 64 << 10;
    config.websocket.max_write_buffer_size = 128 << 10;
    let gw = start(config);
    let addr = gw.local_addr();
    // A socket with a small receive window that is never read.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    let request = "ws://gw/ocpp/CP-DEAF".to_owned();
    let (_ws, _) = tungstenite::client::client(
        {
            use tungstenite::client::IntoClientRequest;
            let mut r = request.into_client_request().unwrap();
            r.headers_mut()
                .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
            r
        },
        stream,
    )
    .unwrap();
    let payload = json!({"vendorId": "V", "data": "y".repeat(60_000)}).to_string();
    let started = Instant::now();
    while total(&gw, |c| c.write_buffer_full_drops) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "never dropped");
        // Each command goes out, finds no reader, and times out.
        let _ = gw.call(
            "CP-DEAF",
            "DataTransfer",
            &payload,
            Duration::from_millis(20),
        );
    }
    wait_for("connection gone", LONG, || gw.open_connections() == 0);
    stop(gw);
}

#[test]
fn a_journal_that_falls_behind_stops_reading_and_loses_nothing() {
    let mut config = test_config();
    config.reactors.count = 1;
    config.channels.capacity = 2;
    config.journal.reactor_backlog = 4;
    let journal = config.journal.directory.clone();
    let gw = start(config);
    let addr = gw.local_addr();
    let mut cps: Vec<ChargePoint> = (0..10)
        .map(|i| ChargePoint::connect(addr, &format!("CP-J{i}")))
        .collect();
    for cp in &mut cps {
        cp.boot();
    }
    gw.pause_journal(true);
    let leaving: Vec<ChargePoint> = cps.drain(2..).collect();
    std::thread::scope(|s| {
        // Disconnects add records the stalled journal cannot take; past
        // the backlog bound the reactor stops reading, so the last of these
        // closes wait with everything else.
        for cp in leaving {
            s.spawn(move || cp.close());
        }
        wait_for("reads paused", LONG, || {
            total(&gw, |c| c.journal_read_pauses) == 1
        });
        // Write-ahead: no answer leaves while its record cannot be written.
        let id = cps[0].send_call("Heartbeat", json!({}));
        cps[0]
            .ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(matches!(cps[0].ws.read(), Err(tungstenite::Error::Io(_))));
        cps[0].ws.get_ref().set_read_timeout(Some(LONG)).unwrap();
        gw.pause_journal(false);
        assert_eq!(answer_to(&mut cps[0], &id)[0], 3);
    });
    assert_eq!(cps[1].call("Heartbeat", json!({}))[0], 3);
    for cp in cps {
        cp.close();
    }
    stop(gw);
    let records = ocpp_gateway::journal::read_records(&journal).unwrap();
    let count = |kind: &str| records.iter().filter(|r| r["kind"] == kind).count();
    assert_eq!(count("connect"), 10);
    assert_eq!(count("disconnect"), 10);
    assert_eq!(count("call"), 10 + 2);
}

#[test]
fn timers_of_answered_commands_do_not_pile_up() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-QUICK");
    let hour = Duration::from_secs(3600);
    std::thread::scope(|s| {
        let answering = s.spawn(move || {
            for _ in 0..1500 {
                let call = cp.recv();
                cp.send_text(&json!([3, call[1], {"status": "Accepted"}]).to_string());
            }
            cp
        });
        for _ in 0..1500 {
            let outcome = gw.call("CP-QUICK", "ClearCache", "{}", hour);
            assert!(matches!(
                outcome,
                ocpp_gateway::cross_thread::ServerCallOutcome::Result(_)
            ));
        }
        answering.join().unwrap().close();
    });
    wait_for("dead timers pruned", LONG, || {
        total(&gw, |c| c.timers_pruned) >= 1024
    });
    stop(gw);
}

#[test]
fn a_charge_point_that_sends_but_never_takes_its_output_is_dropped_at_the_write_timeout() {
    let mut config = test_config();
    config.websocket.ping_interval = Duration::from_millis(300);
    config.websocket.pong_timeout = Duration::from_millis(300);
    config.websocket.write_timeout = Duration::from_secs(1);
    // Not the write buffer limit: the timeout is what must end it.
    config.websocket.max_write_buffer_size = 64 << 20;
    let gw = start(config);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&gw.local_addr().into()).unwrap();
    let mut request = {
        use tungstenite::client::IntoClientRequest;
        "ws://gw/ocpp/CP-TALKER".into_client_request().unwrap()
    };
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
    let (mut ws, _) = tungstenite::client::client(request, TcpStream::from(socket)).unwrap();
    let payload = json!({"vendorId": "V", "data": "z".repeat(900_000)}).to_string();
    std::thread::scope(|s| {
        // More than the kernel's socket buffers take (tcp_wmem tops out at
        // 4 MiB), one command after the other as each times out.
        s.spawn(|| {
            for _ in 0..8 {
                gw.call(
                    "CP-TALKER",
                    "DataTransfer",
                    &payload,
                    Duration::from_millis(100),
                );
            }
        });
        // It keeps talking (so it is not a dead peer) and never reads.
        let started = Instant::now();
        while total(&gw, |c| c.write_timeouts) == 0 {
            assert!(started.elapsed() < LONG, "never dropped");
            let _ = ws.send(Message::Ping(Default::default()));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(total(&gw, |c| c.dead_peer_closes), 0);
    stop(gw);
}
