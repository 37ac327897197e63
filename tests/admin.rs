//! The admin API over real HTTP: health, metrics, connections, commands.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, None, None);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

fn admin_gateway() -> (ocpp_gateway::GatewayHandle, SocketAddr) {
    admin_gateway_with(|_| {})
}

fn admin_gateway_with(
    adjust: impl FnOnce(&mut ocpp_gateway::Config),
) -> (ocpp_gateway::GatewayHandle, SocketAddr) {
    let mut config = test_config();
    config.admin.enabled = true;
    adjust(&mut config);
    let gw = start(config);
    let admin = gw.admin_address().expect("admin enabled");
    (gw, admin)
}

/// Reads one response (head, then a Content-Length body): its status and
/// body. An error is what the client saw instead (reset, EOF, timeout).
fn read_response(stream: &mut TcpStream) -> io::Result<(u16, String)> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&received).into_owned();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not a response: {head:?}")))?;
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// True once the server has closed the connection (EOF or reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = [0u8; 256];
    loop {
        match stream.read(&mut rest) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// The admin metrics as samples (with the token, when one is needed).
fn admin_metrics(addr: SocketAddr, token: Option<&str>) -> Vec<(String, f64)> {
    let (status, text) = http(addr, "GET", "/metrics", None, token);
    assert_eq!(status, 200, "{text}");
    samples(&text)
}

fn refused(metrics: &[(String, f64)], reason: &str) -> f64 {
    sum(
        metrics,
        &format!("ocpp_gateway_admin_refused_total{{reason=\"{reason}\"}}"),
    )
}

#[test]
fn health_reports_every_reactor() {
    let (gw, admin) = admin_gateway();
    wait_for("first ticks", Duration::from_secs(2), || {
        get_json(admin, "/health").0 == 200
    });
    let (status, body) = get_json(admin, "/health");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["reactors"].as_array().unwrap().len(), 2);
    assert!(body["reactors"][0]["last_tick_age_ms"].as_u64().unwrap() < 5_000);
    assert_eq!(body["processor_queue_depth"], 0);
    stop(gw);
}

/// Parses OpenMetrics text into (name{labels}, value) samples, checking the
/// line grammar as it goes.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    assert!(text.trim_end().ends_with("# EOF"), "no # EOF terminator");
    for line in text.lines() {
        if line.starts_with('#') {
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some("#"));
            assert!(
                matches!(words.next(), Some("HELP" | "TYPE" | "UNIT" | "EOF")),
                "{line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line}"
        );
        out.push((
            series.to_owned(),
            value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}")),
        ));
    }
    out
}

fn sum(samples: &[(String, f64)], prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(s, _)| s.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn metrics_parse_and_move_with_traffic() {
    let (gw, admin) = admin_gateway();
    let (status, before) = http(admin, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let before = samples(&before);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-METRICS");
    cp.boot();
    cp.call_ok("Heartbeat", json!({}));
    cp.call("NoSuchAction", json!({}));
    // Reactors and processors publish on their own ticks: wait for both.
    wait_for("counters published", Duration::from_secs(2), || {
        let now = samples(&http(admin, "GET", "/metrics", None, None).1);
        sum(&now, "ocpp_gateway_frames_in_total") >= 3.0
            && sum(&now, "ocpp_gateway_answers_total") >= 3.0
    });
    let after = samples(&http(admin, "GET", "/metrics", None, None).1);
    assert_eq!(sum(&before, "ocpp_gateway_handshakes_accepted_total"), 0.0);
    assert_eq!(sum(&after, "ocpp_gateway_handshakes_accepted_total"), 1.0);
    assert_eq!(sum(&after, "ocpp_gateway_connections_open"), 1.0);
    assert_eq!(
        sum(
            &after,
            r#"ocpp_gateway_answers_total{action="Heartbeat",outcome="result"}"#
        ),
        1.0
    );
    assert_eq!(
        sum(
            &after,
            r#"ocpp_gateway_answers_total{action="unknown",outcome="NotImplemented"}"#
        ),
        1.0
    );
    assert!(
        after
            .iter()
            .any(|(s, _)| s.starts_with("ocpp_gateway_processor_queue_depth"))
    );
    assert!(
        after
            .iter()
            .any(|(s, _)| s.starts_with("ocpp_gateway_log_lines_dropped_total"))
    );
    cp.close();
    stop(gw);
}

#[test]
fn connections_list_page_and_detail() {
    let (gw, admin) = admin_gateway();
    let mut cps: Vec<ChargePoint> = (0..5)
        .map(|i| ChargePoint::connect(gw.local_addr(), &format!("CP-LIST-{i}")))
        .collect();
    cps[2].boot();
    let (status, page) = get_json(admin, "/connections?offset=1&limit=2");
    assert_eq!(status, 200);
    assert_eq!(page["total"], 5);
    let ids: Vec<&str> = page["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CP-LIST-1", "CP-LIST-2"]);
    let (status, one) = get_json(admin, "/connections/CP-LIST-2");
    assert_eq!(status, 200);
    assert_eq!(one["subprotocol"], "ocpp1.6");
    assert_eq!(one["boot"]["vendor"], "TestVendor");
    assert_eq!(one["boot"]["model"], "TestModel");
    assert!(
        one["remote_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(humantime::parse_rfc3339(one["connected_at"].as_str().unwrap()).is_ok());
    assert!(humantime::parse_rfc3339(one["last_frame_at"].as_str().unwrap()).is_ok());
    assert_eq!(get_json(admin, "/connections/CP-NONE").0, 404);
    assert_eq!(get_json(admin, "/connections?limit=0").0, 400);
    assert_eq!(get_json(admin, "/connections?offset=x").0, 400);
    assert_eq!(get_json(admin, "/nowhere").0, 404);
    for cp in cps {
        cp.close();
    }
    stop(gw);
}

#[test]
fn a_reset_command_round_trip_timeout_and_invalid_payload() {
    let (gw, admin) = admin_gateway();
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-CMD");
    std::thread::scope(|s| {
        let post = s.spawn(|| {
            http(
                admin,
                "POST",
                "/connections/CP-CMD/calls",
                Some(&json!({"action": "Reset", "payload": {"type": "Soft"}, "timeout_ms": 5000})),
                None,
            )
        });
        let frame = cp.recv();
        assert_eq!(frame[0], 2);
        assert_eq!(frame[2], "Reset");
        assert_eq!(frame[3], json!({"type": "Soft"}));
        cp.send_text(&json!([3, frame[1], {"status": "Accepted"}]).to_string());
        let (status, body) = post.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["payload"],
            json!({"status": "Accepted"})
        );

        // No answer: 504.
        let post = s.spawn(|| {
            http(
                admin,
                "POST",
                "/connections/CP-CMD/calls",
                Some(&json!({"action": "ClearCache", "payload": {}, "timeout_ms": 300})),
                None,
            )
        });
        let frame = cp.recv();
        assert_eq!(frame[2], "ClearCache");
        assert_eq!(post.join().unwrap().0, 504);

        // A CALLERROR: 502 with its code.
        let post = s.spawn(|| {
            http(
                admin,
                "POST",
                "/connections/CP-CMD/calls",
                Some(&json!({"action": "UnlockConnector", "payload": {"connectorId": 1}})),
                None,
            )
        });
        let frame = cp.recv();
        cp.send_text(&json!([4, frame[1], "NotSupported", "no", {}]).to_string());
        let (status, body) = post.join().unwrap();
        assert_eq!(status, 502);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["callerror"]["code"],
            "NotSupported"
        );
    });
    // Invalid payload: 400, and nothing reaches the charge point.
    let (status, body) = http(
        admin,
        "POST",
        "/connections/CP-CMD/calls",
        Some(&json!({"action": "Reset", "payload": {"type": "Sideways"}})),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("type"), "{body}");
    assert_eq!(
        http(
            admin,
            "POST",
            "/connections/CP-CMD/calls",
            Some(&json!({"payload": {}})),
            None
        )
        .0,
        400
    );
    assert_eq!(
        http(
            admin,
            "POST",
            "/connections/CP-NONE/calls",
            Some(&json!({"action": "Reset", "payload": {"type": "Soft"}})),
            None
        )
        .0,
        404
    );
    assert_eq!(
        cp.call("Heartbeat", json!({}))[0],
        3,
        "something was sent for the invalid command"
    );
    cp.close();
    stop(gw);
}

#[test]
fn delete_closes_with_the_given_code() {
    let (gw, admin) = admin_gateway();
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-DEL");
    assert_eq!(
        http(admin, "DELETE", "/connections/CP-DEL?code=99", None, None).0,
        400
    );
    let (status, _) = http(admin, "DELETE", "/connections/CP-DEL?code=4001", None, None);
    assert_eq!(status, 200);
    assert_eq!(cp.expect_close(), Some(4001));
    assert_eq!(
        http(admin, "DELETE", "/connections/CP-DEL", None, None).0,
        404
    );
    stop(gw);
}

#[test]
fn a_bearer_token_guards_everything_but_health() {
    let mut config = test_config();
    config.admin.enabled = true;
    config.admin.bearer_token = Some("s3cret-token-0123456789".into());
    let gw = start(config);
    let admin = gw.admin_address().unwrap();
    assert_eq!(http(admin, "GET", "/metrics", None, None).0, 401);
    assert_eq!(
        http(
            admin,
            "GET",
            "/connections",
            None,
            Some("wrong-token-0123456789")
        )
        .0,
        401
    );
    assert_eq!(
        http(
            admin,
            "GET",
            "/connections",
            None,
            Some("s3cret-token-0123456789")
        )
        .0,
        200
    );
    wait_for("health", Duration::from_secs(2), || {
        http(admin, "GET", "/health", None, None).0 == 200
    });
    stop(gw);
}

/// Regression: a reactor that has not ticked yet used to be reported with
/// `last_tick_age_ms` ≈ now (its tick time was 0) and /health answered 503
/// for the first tick after start. With a 1 s tick that window was a second.
#[test]
fn health_is_ok_from_the_first_request() {
    let mut config = test_config();
    config.admin.enabled = true;
    config.reactors.timer_tick = Duration::from_secs(1);
    config.admin.stall_after = Duration::from_secs(5);
    let gw = start(config);
    let admin = gw.admin_address().unwrap();
    let (status, body) = get_json(admin, "/health");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    for reactor in body["reactors"].as_array().unwrap() {
        assert_eq!(reactor["ok"], true, "{reactor}");
        // Null only while starting; never the age of the Unix epoch.
        if let Some(age) = reactor["last_tick_age_ms"].as_u64() {
            assert!(age < 5_000, "{reactor}");
        }
    }
    stop(gw);
}

#[test]
fn keep_alive_serves_several_requests_and_honours_connection_close() {
    let (gw, admin) = admin_gateway();
    let mut stream = connect(admin);
    // Two requests in one write (pipelined), then a third that closes.
    stream
        .write_all(
            b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /connections HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .unwrap();
    let (status, body) = read_response(&mut stream).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"reactors\""), "{body}");
    let (status, body) = read_response(&mut stream).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 0);
    stream
        .write_all(b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().0, 404);
    assert!(
        closed_by_server(&mut stream),
        "Connection: close not honoured"
    );
    stop(gw);
}

/// The attack that found tiny_http answering 200: a head of 100 000 headers.
#[test]
fn a_hundred_thousand_headers_get_431_and_the_connection_closes() {
    let (gw, admin) = admin_gateway();
    let mut stream = connect(admin);
    let mut writer = stream.try_clone().unwrap();
    // Written on another thread: the server stops reading after 64 headers.
    let flood = std::thread::spawn(move || {
        let mut head = b"GET /health HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..100_000 {
            head.extend_from_slice(format!("X-Header-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let _ = writer.write_all(&head);
    });
    let (status, body) = read_response(&mut stream).expect("a 431 before the close");
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("admin.max_headers"), "{body}");
    assert!(closed_by_server(&mut stream), "connection left open");
    flood.join().unwrap();
    assert_eq!(get_json(admin, "/health").0, 200);
    assert_eq!(
        refused(&admin_metrics(admin, None), "too_many_headers"),
        1.0
    );
    stop(gw);
}

/// One 64 MiB header line without a token: refused at max_header_bytes,
/// before the token is looked at, without holding the 64 MiB.
#[test]
fn a_64_mib_header_line_without_a_token_is_refused_431() {
    const TOKEN: &str = "s3cret-token-0123456789";
    let (gw, admin) = admin_gateway_with(|c| c.admin.bearer_token = Some(TOKEN.into()));
    let mut stream = connect(admin);
    let mut writer = stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        let _ = writer.write_all(b"GET /connections HTTP/1.1\r\nX-Big: ");
        for _ in 0..64 {
            if writer.write_all(&chunk).is_err() {
                return; // the server has closed: expected
            }
        }
        let _ = writer.write_all(b"\r\n\r\n");
    });
    // The server stops reading at the limit and answers; the client, busy
    // writing, may see that answer or only the reset that follows.
    match read_response(&mut stream) {
        Ok((status, body)) => {
            assert_eq!(status, 431, "{body}");
            assert!(body.contains("admin.max_header_bytes"), "{body}");
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
            ),
            "neither a 431 nor a closed connection: {e}"
        ),
    }
    flood.join().unwrap();
    // Healthy, and serving the next (authorised) request.
    assert_eq!(get_json(admin, "/health").0, 200);
    let (status, _) = http(admin, "GET", "/connections", None, Some(TOKEN));
    assert_eq!(status, 200);
    let metrics = admin_metrics(admin, Some(TOKEN));
    assert_eq!(refused(&metrics, "header_too_large"), 1.0);
    assert_eq!(
        refused(&metrics, "unauthorized"),
        0.0,
        "token checked first"
    );
    stop(gw);
}

#[test]
fn a_body_over_max_body_bytes_gets_413_before_it_is_sent_and_chunked_411() {
    let (gw, admin) = admin_gateway();
    let mut stream = connect(admin);
    // Only the head: the answer must come without the body.
    stream
        .write_all(
            b"POST /connections/CP-1/calls HTTP/1.1\r\nContent-Type: application/json\r\n\
              Content-Length: 65537\r\n\r\n",
        )
        .unwrap();
    let (status, body) = read_response(&mut stream).expect("413 before the body");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("admin.max_body_bytes"), "{body}");
    assert!(closed_by_server(&mut stream));
    let mut stream = connect(admin);
    stream
        .write_all(
            b"POST /connections/CP-1/calls HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().0, 411);
    assert!(closed_by_server(&mut stream));
    // A body at the limit is read (and then refused as a bad command).
    let big = json!({"action": "Reset", "payload": {"type": "x".repeat(65_000)}});
    assert_eq!(
        http(admin, "POST", "/connections/CP-1/calls", Some(&big), None).0,
        404
    );
    let metrics = admin_metrics(admin, None);
    assert_eq!(refused(&metrics, "body_too_large"), 1.0);
    assert_eq!(refused(&metrics, "length_required"), 1.0);
    stop(gw);
}

#[test]
fn a_connection_beyond_max_connections_gets_503_and_service_resumes() {
    let (gw, admin) = admin_gateway_with(|c| c.admin.max_connections = 4);
    let idle: Vec<TcpStream> = (0..4).map(|_| connect(admin)).collect();
    let mut extra = connect(admin);
    let (status, body) = read_response(&mut extra).expect("a 503, not silence");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("admin.max_connections"), "{body}");
    assert!(closed_by_server(&mut extra));
    drop(idle);
    // The server notices the closes on its next turn.
    wait_for(
        "service after the idle ones close",
        Duration::from_secs(2),
        || {
            let mut stream = connect(admin);
            stream
                .write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            matches!(read_response(&mut stream), Ok((200, _)))
        },
    );
    assert!(refused(&admin_metrics(admin, None), "too_many_connections") >= 1.0);
    stop(gw);
}

#[test]
fn a_slow_request_is_cut_408_and_an_idle_connection_closed_after_read_timeout() {
    let (gw, admin) = admin_gateway_with(|c| c.admin.read_timeout = Duration::from_secs(1));
    let idle = connect(admin);
    let mut stream = connect(admin);
    let mut writer = stream.try_clone().unwrap();
    let started = Instant::now();
    // One byte per 100 ms: the whole request would take 6 s.
    let slow = std::thread::spawn(move || {
        let request = format!("GET /health HTTP/1.1\r\nX-Slow: {}\r\n\r\n", "z".repeat(25));
        for byte in request.as_bytes() {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    match read_response(&mut stream) {
        Ok((status, body)) => assert_eq!(status, 408, "{body}"),
        Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "not cut: {e}"),
    }
    let cut_after = started.elapsed();
    assert!(
        cut_after < Duration::from_millis(2_500),
        "cut after {cut_after:?}"
    );
    slow.join().unwrap();
    let mut idle = idle;
    assert!(closed_by_server(&mut idle), "idle connection still open");
    let metrics = admin_metrics(admin, None);
    assert_eq!(refused(&metrics, "timeout"), 1.0);
    assert!(refused(&metrics, "idle") >= 1.0);
    stop(gw);
}

/// Threads of this process (tests run in it, two at a time).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// 300 commands at once to a charge point that never answers: the first
/// `max_commands_in_flight` wait (without a thread each), the rest get 503
/// at once.
#[test]
fn commands_beyond_max_commands_in_flight_get_503_without_a_thread_each() {
    let (gw, admin) = admin_gateway_with(|c| {
        c.admin.max_connections = 400;
        c.admin.max_commands_in_flight = 256;
    });
    // Twenty charge points that never answer: 15 commands each stay within
    // the per-connection queue (ocpp.max_queued_server_calls = 16), so the
    // gateway-wide admin cap is what refuses the excess.
    let cps: Vec<ChargePoint> = (0..20)
        .map(|i| ChargePoint::connect(gw.local_addr(), &format!("CP-MUTE-{i}")))
        .collect();
    let threads_before = threads();
    let body = json!({"action": "ClearCache", "payload": {}, "timeout_ms": 60_000}).to_string();
    let request = |i: usize| {
        format!(
            "POST /connections/CP-MUTE-{}/calls HTTP/1.1\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            i % 20,
            body.len()
        )
    };
    let started = Instant::now();
    let mut streams: Vec<Option<TcpStream>> = (0..300)
        .map(|i| {
            let mut s = connect(admin);
            s.write_all(request(i).as_bytes()).unwrap();
            s.set_nonblocking(true).unwrap();
            Some(s)
        })
        .collect();
    // Collect what is answered at once; the rest wait for CP-MUTE.
    let mut busy = 0;
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle && busy < 44 {
        for slot in streams.iter_mut() {
            let Some(stream) = slot else { continue };
            let mut first = [0u8; 12];
            match stream.peek(&mut first) {
                Ok(12) => {
                    stream.set_nonblocking(false).unwrap();
                    let (status, body) = read_response(stream).unwrap();
                    assert_eq!(status, 503, "{body}");
                    assert!(body.contains("admin.max_commands_in_flight"), "{body}");
                    busy += 1;
                    *slot = None;
                }
                _ => continue,
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(busy, 44, "the excess was not refused at once");
    assert!(started.elapsed() < Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(300));
    let waiting: Vec<TcpStream> = streams.into_iter().flatten().collect();
    assert_eq!(waiting.len(), 256);
    for stream in &waiting {
        let mut first = [0u8; 1];
        assert!(
            matches!(stream.peek(&mut first), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "a waiting command was answered early"
        );
    }
    let grown = threads().saturating_sub(threads_before);
    assert!(grown < 50, "{grown} more threads while 256 commands wait");
    let metrics = admin_metrics(admin, None);
    assert_eq!(
        sum(&metrics, "ocpp_gateway_admin_commands_in_flight"),
        256.0
    );
    assert_eq!(refused(&metrics, "commands_busy"), 44.0);
    // The charge points go away: every waiting command learns it.
    for cp in cps {
        cp.close();
    }
    for mut stream in waiting {
        stream.set_nonblocking(false).unwrap();
        let (status, body) = read_response(&mut stream).unwrap();
        assert_eq!(status, 502, "{body}");
    }
    wait_for("no command in flight", Duration::from_secs(2), || {
        sum(
            &admin_metrics(admin, None),
            "ocpp_gateway_admin_commands_in_flight",
        ) == 0.0
    });
    stop(gw);
}

#[test]
fn a_wrong_token_gets_401_whatever_its_length_and_is_counted() {
    const TOKEN: &str = "s3cret-token-0123456789";
    let (gw, admin) = admin_gateway_with(|c| c.admin.bearer_token = Some(TOKEN.into()));
    for wrong in [
        "s",
        "s3cret-token-012345678",
        "s3cret-token-01234567890",
        &"x".repeat(4096),
    ] {
        let (status, body) = http(admin, "GET", "/connections", None, Some(wrong));
        assert_eq!(status, 401, "{body}");
    }
    // Keep-alive survives a 401 without a body: the next request is served.
    let mut stream = connect(admin);
    let auth = format!("GET /connections HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    stream
        .write_all(format!("GET /connections HTTP/1.1\r\n\r\n{auth}").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().0, 401);
    assert_eq!(read_response(&mut stream).unwrap().0, 200);
    // A refused POST with a body: answered, and the connection closed
    // rather than its body read as the next request.
    let mut stream = connect(admin);
    stream
        .write_all(b"POST /connections/CP/calls HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().0, 401);
    assert!(closed_by_server(&mut stream));
    assert_eq!(
        refused(&admin_metrics(admin, Some(TOKEN)), "unauthorized"),
        6.0
    );
    stop(gw);
}

#[test]
fn a_stuck_charge_point_never_blocks_commands_to_another() {
    // Measured before: 300 commands to one charge point that never answers
    // filled every admin waiter, and a healthy charge point's ClearCache
    // got 503. Now that charge point's queue (ocpp.max_queued_server_calls)
    // refuses its excess at once.
    let (gw, admin) = admin_gateway_with(|c| c.admin.max_connections = 400);
    let _stuck = ChargePoint::connect(gw.local_addr(), "CP-STUCK");
    let body = json!({"action": "ClearCache", "payload": {}, "timeout_ms": 60_000}).to_string();
    let request = format!(
        "POST /connections/CP-STUCK/calls HTTP/1.1\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut streams: Vec<Option<TcpStream>> = (0..300)
        .map(|_| {
            let mut s = connect(admin);
            s.write_all(request.as_bytes()).unwrap();
            s.set_nonblocking(true).unwrap();
            Some(s)
        })
        .collect();
    // 1 on the wire + 16 queued wait; every other one is refused at once.
    let mut refused = 0;
    let settle = Instant::now() + Duration::from_secs(5);
    while Instant::now() < settle && refused < 283 {
        for slot in streams.iter_mut() {
            let Some(stream) = slot else { continue };
            let mut first = [0u8; 12];
            if let Ok(12) = stream.peek(&mut first) {
                stream.set_nonblocking(false).unwrap();
                let (status, body) = read_response(stream).unwrap();
                assert_eq!(status, 503, "{body}");
                refused += 1;
                *slot = None;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(refused, 283);
    let mut healthy = ChargePoint::connect(gw.local_addr(), "CP-HEALTHY");
    std::thread::scope(|s| {
        let answering = s.spawn(move || {
            let call = healthy.recv();
            healthy.send_text(&json!([3, call[1], {"status": "Accepted"}]).to_string());
            healthy
        });
        let (status, body) = http(
            admin,
            "POST",
            "/connections/CP-HEALTHY/calls",
            Some(&json!({"action": "ClearCache", "payload": {}})),
            None,
        );
        assert_eq!(status, 200, "{body}");
        answering.join().unwrap().close();
    });
    stop(gw);
}
