//! Frame traces of single charge points, over real WebSockets and the real
//! admin API: `POST /connections/{id}/trace` writes every frame of that
//! charge point, both ways and in order, to its own file; other charge
//! points write nothing; the file stops at `trace.max_file_bytes` with one
//! truncation line; `DELETE` stops it; a profile's `trace` globs trace from
//! the connect on and SIGHUP (a profile reload) re-applies them; and the
//! refusals (404, 400, 401, 503).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;
use ocpp_gateway::GatewayHandle;
use ocpp_gateway::config::{Config, ProfileConfig};
use serde_json::{Value, json};
use tungstenite::Message;

const TOKEN: &str = "trace-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(10);

fn profiles_from(toml: &str) -> Vec<ProfileConfig> {
    Config::parse(
        &format!("[trace]\ndirectory = \"/unused\"\n{toml}"),
        Path::new("profiles.toml"),
    )
    .expect("valid profiles")
    .profiles
}

/// A gateway with the admin API (behind a bearer token) and tracing into a
/// fresh directory, flushed every 20 ms.
fn gateway(adjust: impl FnOnce(&mut Config)) -> (GatewayHandle, SocketAddr, PathBuf) {
    let mut config = test_config();
    config.admin.enabled = true;
    config.admin.bearer_token = Some(TOKEN.into());
    let dir = scratch_dir("trace");
    config.trace.directory = Some(dir.clone());
    config.trace.flush_interval = Duration::from_millis(20);
    adjust(&mut config);
    let gw = start(config);
    let admin = gw.admin_address().expect("admin on");
    (gw, admin, dir)
}

fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let (status, text) = http(addr, method, path, body, Some(TOKEN));
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, body)
}

fn trace_for(addr: SocketAddr, id: &str, minutes: u64) -> Value {
    let (status, body) = admin(
        addr,
        "POST",
        &format!("/connections/{id}/trace"),
        Some(&json!({"minutes": minutes})),
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn detail(addr: SocketAddr, id: &str) -> Value {
    let (status, body) = admin(addr, "GET", &format!("/connections/{id}"), None);
    assert_eq!(status, 200, "{body}");
    body
}

fn trace_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(ocpp_gateway::trace::file_name(id))
}

/// Every line of `id`'s trace file, each of which must be JSON.
fn lines(dir: &Path, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(trace_file(dir, id)).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The text frames of a trace, as (direction, text).
fn texts(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l["kind"] == "text")
        .map(|l| {
            let dir = l["dir"].as_str().expect("dir").to_owned();
            (dir, l["frame"].as_str().expect("frame").to_owned())
        })
        .collect()
}

fn wait_for_line(dir: &Path, id: &str, what: &str, check: impl Fn(&[Value]) -> bool) {
    wait_for(what, WAIT, || check(&lines(dir, id)));
}

/// Sends a CALL as raw text and returns the raw text of its answer: the
/// exact frames both ways, as they went over the wire.
fn exchange(cp: &mut ChargePoint, action: &str, payload: Value) -> (String, String) {
    let id = cp.new_message_id();
    let call = json!([2, id, action, payload]).to_string();
    cp.send_text(&call);
    loop {
        match cp.ws.read().expect("read") {
            Message::Text(text) => return (call, text.to_string()),
            Message::Close(frame) => panic!("{}: closed: {frame:?}", cp.id),
            _ => continue,
        }
    }
}

fn metric(addr: SocketAddr, name: &str) -> Option<u64> {
    let (status, text) = http(addr, "GET", "/metrics", None, Some(TOKEN));
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_traced_charge_point_has_every_frame_in_order_and_no_one_else_has_any() {
    let (gw, addr, dir) = gateway(|_| {});
    // An id with characters a path must not hold raw.
    let id = "CP:T*1";
    let mut cp = ChargePoint::connect(gw.local_addr(), id);
    let mut other = ChargePoint::connect(gw.local_addr(), "CP-UNTRACED");
    assert_eq!(detail(addr, "CP:T*1")["traced"], false);

    let before = SystemTime::now();
    let answer = trace_for(addr, "CP:T*1", 10);
    assert_eq!(
        (&answer["traced"], &answer["by_profile"]),
        (&json!(true), &json!(false))
    );
    let until = humantime::parse_rfc3339(answer["until"].as_str().expect("until")).unwrap();
    let ten = Duration::from_secs(600);
    assert!(until >= before + ten - Duration::from_secs(1) && until <= before + ten + WAIT);
    let shown = detail(addr, "CP:T*1");
    assert_eq!(shown["traced"], true, "{shown}");
    assert_eq!(shown["trace_until"], answer["until"], "{shown}");

    let mut expected = Vec::new();
    let calls = [
        (
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M"}),
        ),
        ("Heartbeat", json!({})),
        ("Authorize", json!({"idTag": "TAG\"1\\n"})),
        (
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        ),
        ("Heartbeat", json!({})),
        // Refused at the schema: a CALLERROR is traced like any frame.
        ("Authorize", json!({"idTag": 5})),
    ];
    for (action, payload) in calls {
        let (call, answer) = exchange(&mut cp, action, payload);
        expected.push(("in".to_owned(), call));
        expected.push(("out".to_owned(), answer));
        // The other charge point is as busy, and traced nowhere.
        exchange(&mut other, "Heartbeat", json!({}));
    }
    wait_for_line(&dir, id, "every frame in the trace", |l| {
        texts(l).len() >= expected.len()
    });
    let trace = lines(&dir, id);
    assert_eq!(texts(&trace), expected, "frames, in order, byte for byte");
    assert_eq!(trace[0]["kind"], "trace_start", "{}", trace[0]);
    assert_eq!(
        (&trace[0]["id"], &trace[0]["cause"]),
        (&json!(id), &json!("operator"))
    );
    assert_eq!(trace[0]["until"], answer["until"]);
    // Timestamps: RFC 3339 UTC with milliseconds, never going back.
    let mut last = before - Duration::from_millis(1);
    for line in &trace {
        let at = line["at"].as_str().expect("at");
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
            "{at}"
        );
        let at = humantime::parse_rfc3339(at).expect("RFC 3339");
        assert!(at >= last, "time went back at {line}");
        last = at;
    }
    assert!(last <= SystemTime::now());
    assert!(trace_file(&dir, id).ends_with("CP%3AT%2A1.trace"));
    // Only the traced charge point has a file.
    let files: Vec<String> = std::fs::read_dir(&dir)
        .expect("trace dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["CP%3AT%2A1.trace"]);
    assert_eq!(detail(addr, "CP-UNTRACED")["traced"], false);

    wait_for("trace gauges", WAIT, || {
        metric(addr, "ocpp_gateway_trace_connections") == Some(1)
            && metric(addr, "ocpp_gateway_trace_frames_written_total") >= Some(12)
    });
    assert_eq!(
        metric(addr, "ocpp_gateway_trace_frames_dropped_total"),
        Some(0)
    );

    // The connection ends: the file gets its close frames and a stop line.
    cp.close();
    wait_for_line(&dir, id, "the stop line", |l| {
        l.last().is_some_and(|l| l["kind"] == "trace_stop")
    });
    let trace = lines(&dir, id);
    let close = &trace[trace.len() - 2];
    assert_eq!(
        (&close["dir"], &close["kind"]),
        (&json!("in"), &json!("close")),
        "{close}"
    );
    assert_eq!(
        (&close["code"], &close["reason"]),
        (&json!(1000), &json!("bye")),
        "{close}"
    );
    assert_eq!(trace.last().expect("stop")["why"], "disconnected");
    wait_for("gauge back to 0", WAIT, || {
        metric(addr, "ocpp_gateway_trace_connections") == Some(0)
    });
    stop(gw);
}

#[test]
fn a_trace_file_stops_at_its_cap_with_one_truncation_line() {
    let cap = 4096;
    let (gw, addr, dir) = gateway(|c| c.trace.max_file_bytes = cap);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CHATTY-1");
    trace_for(addr, "CHATTY-1", 1);
    // About 100 bytes a line, 2 lines a call: well past 4 KiB.
    for _ in 0..60 {
        exchange(&mut cp, "Heartbeat", json!({}));
    }
    wait_for_line(&dir, "CHATTY-1", "the truncation line", |l| {
        l.iter().any(|l| l["kind"] == "truncated")
    });
    // More frames after the cap change nothing.
    for _ in 0..10 {
        exchange(&mut cp, "Heartbeat", json!({}));
    }
    wait_for("capped frames counted", WAIT, || {
        metric(addr, "ocpp_gateway_trace_frames_capped_total") >= Some(20)
    });
    let text = std::fs::read_to_string(trace_file(&dir, "CHATTY-1")).expect("file");
    let all: Vec<&str> = text.lines().collect();
    let last = all.last().expect("lines");
    let last: Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(last["kind"], "truncated", "the last line: {last}");
    assert_eq!(last["max_file_bytes"], cap);
    assert_eq!(text.matches("\"kind\":\"truncated\"").count(), 1);
    let before_last = text.len() - all.last().map_or(0, |l| l.len() + 1);
    assert!(
        before_last as u64 <= cap,
        "{before_last} bytes before the truncation line"
    );
    assert!(
        before_last as u64 > cap - 200,
        "filled up to the cap: {before_last}"
    );
    assert!(texts(&lines(&dir, "CHATTY-1")).len() > 20);
    assert_eq!(
        metric(addr, "ocpp_gateway_trace_files_capped_total"),
        Some(1)
    );
    // The connection's end writes nothing more either.
    cp.close();
    wait_for("trace ended", WAIT, || {
        metric(addr, "ocpp_gateway_trace_connections") == Some(0)
    });
    std::thread::sleep(Duration::from_millis(100));
    let after = std::fs::read_to_string(trace_file(&dir, "CHATTY-1")).expect("file");
    assert_eq!(after, text);
    // A later session's trace finds the file full: still nothing more.
    let mut cp = ChargePoint::connect(gw.local_addr(), "CHATTY-1");
    trace_for(addr, "CHATTY-1", 1);
    let capped = metric(addr, "ocpp_gateway_trace_frames_capped_total");
    for _ in 0..5 {
        exchange(&mut cp, "Heartbeat", json!({}));
    }
    wait_for("the new session's frames capped", WAIT, || {
        metric(addr, "ocpp_gateway_trace_frames_capped_total") >= capped.map(|n| n + 10)
    });
    let after = std::fs::read_to_string(trace_file(&dir, "CHATTY-1")).expect("file");
    assert_eq!(after, text, "a full file gets nothing in a later session");
    assert_eq!(
        metric(addr, "ocpp_gateway_trace_files_capped_total"),
        Some(1)
    );
    stop(gw);
}

#[test]
fn delete_stops_the_trace() {
    let (gw, addr, dir) = gateway(|_| {});
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-D1");
    trace_for(addr, "CP-D1", 5);
    assert_eq!(detail(addr, "CP-D1")["traced"], true);
    let (traced_call, _) = exchange(&mut cp, "Heartbeat", json!({}));
    let (status, body) = admin(addr, "DELETE", "/connections/CP-D1/trace", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["traced"], false, "{body}");
    let shown = detail(addr, "CP-D1");
    assert_eq!(shown["traced"], false, "{shown}");
    assert!(shown.get("trace_until").is_none(), "{shown}");
    let (untraced_call, _) = exchange(&mut cp, "Heartbeat", json!({}));
    exchange(&mut cp, "Authorize", json!({"idTag": "AFTER"}));
    wait_for_line(&dir, "CP-D1", "the stop line", |l| {
        l.iter().any(|l| l["kind"] == "trace_stop")
    });
    std::thread::sleep(Duration::from_millis(100));
    let trace = lines(&dir, "CP-D1");
    assert_eq!(trace.last().expect("lines")["why"], "operator");
    let frames = texts(&trace);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0], ("in".to_owned(), traced_call));
    assert!(
        !frames
            .iter()
            .any(|(_, f)| *f == untraced_call || f.contains("AFTER"))
    );
    // A second trace appends to the same file.
    trace_for(addr, "CP-D1", 5);
    let (again, _) = exchange(&mut cp, "Heartbeat", json!({}));
    wait_for_line(&dir, "CP-D1", "the second trace", |l| {
        texts(l).iter().any(|(_, f)| *f == again)
    });
    let starts = lines(&dir, "CP-D1")
        .iter()
        .filter(|l| l["kind"] == "trace_start")
        .count();
    assert_eq!(starts, 2);
    stop(gw);
}

#[test]
fn a_profiles_trace_globs_trace_from_the_connect_and_sighup_reapplies_them() {
    let debug_profile = |trace: &str| {
        profiles_from(&format!(
            "[[profiles]]\nname = \"debug\"\nids = [\"CP-DEBUG-*\", \"OTHER-*\"]\n{trace}\n"
        ))
    };
    let (gw, addr, dir) = gateway(|c| c.profiles = debug_profile("trace = [\"CP-DEBUG-*\"]"));
    let mut debug = ChargePoint::connect(gw.local_addr(), "CP-DEBUG-1");
    let mut other = ChargePoint::connect(gw.local_addr(), "OTHER-1");
    let (boot, _) = exchange(
        &mut debug,
        "BootNotification",
        json!({"chargePointVendor": "V", "chargePointModel": "M"}),
    );
    exchange(&mut other, "Heartbeat", json!({}));
    wait_for_line(&dir, "CP-DEBUG-1", "the profile's trace", |l| {
        texts(l).iter().any(|(_, f)| *f == boot)
    });
    let trace = lines(&dir, "CP-DEBUG-1");
    assert_eq!(trace[0]["kind"], "trace_start");
    assert_eq!(trace[0]["cause"], "profile");
    assert!(
        trace[0].get("until").is_none(),
        "no time limit: {}",
        trace[0]
    );
    let shown = detail(addr, "CP-DEBUG-1");
    assert_eq!(
        (&shown["traced"], &shown["profile"]),
        (&json!(true), &json!("debug"))
    );
    assert!(shown.get("trace_until").is_none(), "{shown}");
    assert_eq!(detail(addr, "OTHER-1")["traced"], false);
    assert!(
        !trace_file(&dir, "OTHER-1").exists(),
        "OTHER-1 is not in the trace globs"
    );

    // SIGHUP with the globs changed: CP-DEBUG-1 stops, OTHER-1 starts.
    assert_eq!(
        gw.reload_profiles(&debug_profile("trace = [\"OTHER-*\"]")),
        2
    );
    wait_for("the reload applied", WAIT, || {
        detail(addr, "OTHER-1")["traced"] == true && detail(addr, "CP-DEBUG-1")["traced"] == false
    });
    let (untraced, _) = exchange(&mut debug, "Heartbeat", json!({}));
    let (traced, _) = exchange(&mut other, "Heartbeat", json!({}));
    wait_for_line(&dir, "OTHER-1", "OTHER-1 traced after the reload", |l| {
        texts(l).iter().any(|(_, f)| *f == traced)
    });
    let trace = lines(&dir, "CP-DEBUG-1");
    assert_eq!(trace.last().expect("lines")["why"], "profile");
    assert!(!texts(&trace).iter().any(|(_, f)| *f == untraced));
    // A profile without trace globs: nobody is traced.
    assert_eq!(gw.reload_profiles(&debug_profile("")), 2);
    wait_for("no one traced", WAIT, || {
        metric(addr, "ocpp_gateway_trace_connections") == Some(0)
    });
    stop(gw);
}

#[test]
fn refusals_unknown_id_bad_minutes_no_token_and_no_directory() {
    let (gw, addr, _dir) = gateway(|_| {});
    let _cp = ChargePoint::connect(gw.local_addr(), "CP-R1");
    let post = |path: &str, body: Value| admin(addr, "POST", path, Some(&body));
    let (status, body) = post("/connections/NOBODY/trace", json!({"minutes": 5}));
    assert_eq!(status, 404, "{body}");
    let (status, _) = admin(addr, "DELETE", "/connections/NOBODY/trace", None);
    assert_eq!(status, 404);
    for bad in [
        json!({}),
        json!({"minutes": 0}),
        json!({"minutes": 1441}),
        json!({"minutes": 2.5}),
        json!({"minutes": "10"}),
        json!({"minutes": null}),
        json!([10]),
    ] {
        let (status, body) = post("/connections/CP-R1/trace", bad.clone());
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("minutes")),
            "{body}"
        );
    }
    assert_eq!(
        detail(addr, "CP-R1")["traced"],
        false,
        "no refused request traced it"
    );
    let (status, _) = http(
        addr,
        "POST",
        "/connections/CP-R1/trace",
        Some(&json!({"minutes": 5})),
        None,
    );
    assert_eq!(status, 401);
    stop(gw);

    // Without [trace] directory: 503, saying what to set.
    let (gw, addr, _dir) = gateway(|c| c.trace.directory = None);
    let _cp = ChargePoint::connect(gw.local_addr(), "CP-R2");
    let (status, body) = post_to(addr, "/connections/CP-R2/trace", json!({"minutes": 5}));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("[trace] directory")),
        "{body}"
    );
    let (status, _) = admin(addr, "DELETE", "/connections/CP-R2/trace", None);
    assert_eq!(status, 503);
    assert_eq!(detail(addr, "CP-R2")["traced"], false);
    assert_eq!(
        metric(addr, "ocpp_gateway_trace_connections"),
        None,
        "no trace metrics"
    );
    stop(gw);
}

fn post_to(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    admin(addr, "POST", path, Some(&body))
}
