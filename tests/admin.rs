//! The admin API over real HTTP: health, metrics, connections, commands.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// A minimal HTTP/1.1 client: one request per connection.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, None, None);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

fn admin_gateway() -> (ocpp_gateway::GatewayHandle, SocketAddr) {
    let mut config = test_config();
    config.admin.enabled = true;
    let gw = start(config);
    let admin = gw.admin_address().expect("admin enabled");
    (gw, admin)
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
    wait_for("counters published", Duration::from_secs(2), || {
        sum(
            &samples(&http(admin, "GET", "/metrics", None, None).1),
            "ocpp_gateway_frames_in_total",
        ) >= 3.0
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
