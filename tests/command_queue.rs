//! Commands kept for charge points that are not connected (the embedded
//! store in the journal directory): queued through the admin API,
//! replaced, cancelled, expired, bounded, delivered in order once the
//! charge point's session is ready, and at most once across `kill -9`.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(10);

fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let (status, body) = http(addr, method, path, body, None);
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, body)
}

/// An in-process gateway with the admin API and the journal (so the store).
fn gateway(
    edit: impl FnOnce(&mut ocpp_gateway::config::Config),
) -> (ocpp_gateway::GatewayHandle, SocketAddr) {
    let mut config = test_config();
    config.admin.enabled = true;
    edit(&mut config);
    let gw = start(config);
    let addr = gw.admin_address().expect("admin on");
    (gw, addr)
}

/// Queues `action`/`payload` for `id`; the 202 body's command id.
fn queue(addr: SocketAddr, id: &str, action: &str, payload: Value, queue: Value) -> String {
    let body = json!({"action": action, "payload": payload, "queue": queue});
    let (status, reply) = admin(
        addr,
        "POST",
        &format!("/connections/{id}/calls"),
        Some(&body),
    );
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["state"], "queued");
    reply["command_id"].as_str().expect("command_id").to_owned()
}

fn command(addr: SocketAddr, command_id: &str) -> Value {
    let (status, body) = admin(addr, "GET", &format!("/commands/{command_id}"), None);
    assert_eq!(status, 200, "{body}");
    body
}

fn wait_state(addr: SocketAddr, command_id: &str, state: &str) -> Value {
    let mut last = Value::Null;
    wait_for(&format!("{command_id} {state}"), LONG, || {
        last = command(addr, command_id);
        last["state"] == state
    });
    last
}

/// Every journal line of the gateway's journal directory.
fn journal_lines(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn metric(addr: SocketAddr, series: &str) -> u64 {
    let (_, text) = http(addr, "GET", "/metrics", None, None);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn kept_commands_go_out_in_order_after_the_boot_replaced_and_expired_ones_do_not() {
    let (gw, addr) = gateway(|_| {});
    let journal_dir = gw.config().journal.directory.clone();
    let key = json!({"ttl": "1h", "replace_key": "ChangeConfiguration:HeartbeatInterval"});
    let first = queue(
        addr,
        "CP-Q1",
        "ChangeConfiguration",
        json!({"key": "HeartbeatInterval", "value": "60"}),
        key.clone(),
    );
    let reset = queue(
        addr,
        "CP-Q1",
        "Reset",
        json!({"type": "Soft"}),
        json!({"ttl": "1h"}),
    );
    let second = queue(
        addr,
        "CP-Q1",
        "ChangeConfiguration",
        json!({"key": "HeartbeatInterval", "value": "120"}),
        key,
    );
    let replaced = command(addr, &first);
    assert_eq!(replaced["state"], "cancelled", "{replaced}");
    assert_eq!(replaced["replaced_by"], second.as_str());
    let (status, list) = admin(addr, "GET", "/connections/CP-Q1/commands", None);
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [reset.as_str(), second.as_str()]);
    // One for a charge point that stays away, with a 1 s ttl.
    let short = queue(
        addr,
        "CP-Q1-AWAY",
        "Reset",
        json!({"type": "Hard"}),
        json!({"ttl": "1s"}),
    );

    let mut cp = ChargePoint::connect(gw.local_addr, "CP-Q1");
    expect_silence(&mut cp, Duration::from_millis(300));
    assert_eq!(
        command(addr, &reset)["state"],
        "queued",
        "nothing before the boot"
    );
    cp.boot();
    let (id, action, payload) = expect_call(&mut cp);
    assert_eq!(
        (action.as_str(), payload),
        ("Reset", json!({"type": "Soft"}))
    );
    assert_eq!(command(addr, &reset)["state"], "sent");
    answer(&mut cp, &id, json!({"status": "Accepted"}));
    let (id, action, payload) = expect_call(&mut cp);
    assert_eq!(action, "ChangeConfiguration");
    assert_eq!(payload["value"], "120");
    answer(&mut cp, &id, json!({"status": "RebootRequired"}));
    let done = wait_state(addr, &reset, "answered");
    assert_eq!(done["payload"], json!({"type": "Soft"}), "the request");
    assert_eq!(done["result"], json!({"status": "Accepted"}), "the answer");
    assert!(done["ended_at"].is_string());
    let done = wait_state(addr, &second, "answered");
    assert_eq!(done["result"]["status"], "RebootRequired");
    expect_silence(&mut cp, Duration::from_millis(300));
    let expired = wait_state(addr, &short, "expired");
    assert!(expired["ended_at"].is_string());
    let (_, list) = admin(addr, "GET", "/connections/CP-Q1/commands", None);
    assert_eq!(list["commands"], json!([]), "nothing left");

    // The journal names the kept command on its server_call and result lines.
    wait_for("journal lines with command_id", LONG, || {
        let lines = journal_lines(&journal_dir);
        let with = |kind: &str| {
            lines
                .iter()
                .any(|l| l["kind"] == kind && l["command_id"] == reset.as_str())
        };
        with("server_call") && with("result")
    });
    assert_eq!(
        metric(
            addr,
            "ocpp_gateway_queue_commands_total{event=\"answered\"}"
        ),
        2
    );
    assert_eq!(
        metric(addr, "ocpp_gateway_queue_commands_total{event=\"expired\"}"),
        1
    );
    assert_eq!(
        metric(
            addr,
            "ocpp_gateway_queue_commands_total{event=\"cancelled\"}"
        ),
        1
    );
    assert_eq!(metric(addr, "ocpp_gateway_queue_depth"), 0);
    cp.close();
    stop(gw);
}

#[test]
fn the_answer_of_a_kept_command_is_recorded_and_live_commands_interleave() {
    let (gw, addr) = gateway(|_| {});
    let a = queue(addr, "CP-I", "Reset", json!({"type": "Soft"}), json!({}));
    let b = queue(addr, "CP-I", "ClearCache", json!({}), json!({}));
    let mut cp = ChargePoint::connect(gw.local_addr, "CP-I");
    // A charge point that booted before this connection goes straight on:
    // its first CALL is not a boot.
    cp.call_ok("Heartbeat", json!({}));
    let (first, action, _) = expect_call(&mut cp);
    assert_eq!(action, "Reset");
    // A live command while the kept one is out: it waits its turn behind it,
    // and goes before the next kept one.
    let live = std::thread::spawn(move || {
        let body = json!({"action": "GetConfiguration", "payload": {}});
        admin(addr, "POST", "/connections/CP-I/calls", Some(&body))
    });
    std::thread::sleep(Duration::from_millis(300));
    answer(&mut cp, &first, json!({"status": "Accepted"}));
    let (id, action, _) = expect_call(&mut cp);
    assert_eq!(action, "GetConfiguration", "live between the kept ones");
    answer(&mut cp, &id, json!({"configurationKey": []}));
    let (status, body) = live.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let (id, action, _) = expect_call(&mut cp);
    assert_eq!(action, "ClearCache");
    cp.send_text(&json!([4, id, "NotSupported", "no cache", {}]).to_string());
    let answered = wait_state(addr, &a, "answered");
    assert_eq!(answered["result"], json!({"status": "Accepted"}));
    let errored = wait_state(addr, &b, "answered");
    assert_eq!(errored["callerror"]["code"], "NotSupported", "{errored}");
    assert_eq!(errored["callerror"]["description"], "no cache");
    cp.close();
    stop(gw);
}

#[test]
fn bounds_bad_requests_and_cancel() {
    let (gw, addr) = gateway(|c| {
        c.queue.max_per_charge_point = 2;
        c.queue.max_total = 3;
        c.queue.max_ttl = Duration::from_secs(3600);
    });
    let post = |id: &str, body: Value| {
        admin(
            addr,
            "POST",
            &format!("/connections/{id}/calls"),
            Some(&body),
        )
    };
    let reset = json!({"action": "Reset", "payload": {"type": "Soft"}, "queue": {}});
    let a1 = queue(addr, "CP-A", "Reset", json!({"type": "Soft"}), json!({}));
    queue(addr, "CP-A", "Reset", json!({"type": "Soft"}), json!({}));
    let (status, body) = post("CP-A", reset.clone());
    assert_eq!(status, 507, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("queue.max_per_charge_point"),
        "{body}"
    );
    queue(addr, "CP-B", "Reset", json!({"type": "Soft"}), json!({}));
    let (status, body) = post("CP-C", reset.clone());
    assert_eq!(status, 507, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("queue.max_total"),
        "{body}"
    );
    assert_eq!(
        metric(
            addr,
            "ocpp_gateway_queue_refused_total{reason=\"charge_point_full\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            addr,
            "ocpp_gateway_queue_refused_total{reason=\"total_full\"}"
        ),
        1
    );
    assert_eq!(metric(addr, "ocpp_gateway_queue_depth"), 3);

    // Checked before it is kept: the payload (as today), the queue object.
    let (status, body) = post(
        "CP-D",
        json!({"action": "Reset", "payload": {"type": "Sideways"}, "queue": {}}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        "CP-D",
        json!({"action": "Reset", "payload": {"type": "Soft"}, "queue": {"ttl": "2h"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("queue.max_ttl"),
        "{body}"
    );
    for bad in [
        json!({"ttl": 5}),
        json!({"ttl": "soon"}),
        json!({"later": true}),
        json!([]),
    ] {
        let (status, body) = post(
            "CP-D",
            json!({"action": "Reset", "payload": {"type": "Soft"}, "queue": bad}),
        );
        assert_eq!(status, 400, "{body}");
    }
    // Without "queue", a charge point that is not connected is 404, as always.
    let (status, _) = post(
        "CP-D",
        json!({"action": "Reset", "payload": {"type": "Soft"}}),
    );
    assert_eq!(status, 404);

    let (status, body) = admin(addr, "DELETE", &format!("/commands/{a1}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "cancelled");
    let (status, _) = admin(addr, "DELETE", &format!("/commands/{a1}"), None);
    assert_eq!(status, 409, "ended already");
    let (status, _) = admin(addr, "GET", "/commands/c000000000000000000000000", None);
    assert_eq!(status, 404);
    // The place it took is free again.
    queue(addr, "CP-A", "Reset", json!({"type": "Hard"}), json!({}));
    stop(gw);
}

/// A free loopback port for a child gateway's admin API.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kill_9(gw: &mut GatewayProcess) {
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
}

#[test]
fn kill_9_loses_no_kept_command_and_never_sends_one_twice() {
    let port = free_port();
    let toml = process_config("").replace(
        "[admin]\naddress = \"127.0.0.1:0\"",
        &format!("[admin]\nenabled = true\naddress = \"127.0.0.1:{port}\""),
    );
    let mut gw = GatewayProcess::start("queue-crash", &toml);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("admin API", LONG, || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let kept = queue(addr, "CP-K1", "Reset", json!({"type": "Soft"}), json!({}));
    let unanswered = queue(addr, "CP-K2", "Reset", json!({"type": "Hard"}), json!({}));
    let after = queue(addr, "CP-K2", "ClearCache", json!({}), json!({}));
    // CP-K2 takes its first command and never answers it before the crash.
    let mut cp = ChargePoint::connect(gw.addr, "CP-K2");
    cp.boot();
    let (_, action, _) = expect_call(&mut cp);
    assert_eq!(action, "Reset");
    wait_state(addr, &unanswered, "sent");
    kill_9(&mut gw);
    drop(cp);

    let gw = GatewayProcess::spawn_in(&gw.dir);
    wait_for("admin API again", LONG, || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let failed = command(addr, &unanswered);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["reason"], "unknown outcome, gateway restarted");
    assert_eq!(command(addr, &kept)["state"], "queued");
    assert_eq!(command(addr, &after)["state"], "queued");

    let mut cp = ChargePoint::connect(gw.addr, "CP-K1");
    cp.boot();
    let (id, action, _) = expect_call(&mut cp);
    assert_eq!(action, "Reset");
    answer(&mut cp, &id, json!({"status": "Accepted"}));
    wait_state(addr, &kept, "answered");
    expect_silence(&mut cp, Duration::from_millis(500));
    cp.close();

    let mut cp = ChargePoint::connect(gw.addr, "CP-K2");
    cp.boot();
    let (id, action, _) = expect_call(&mut cp);
    assert_eq!(
        action, "ClearCache",
        "the unanswered Reset is never sent again"
    );
    answer(&mut cp, &id, json!({"status": "Accepted"}));
    wait_state(addr, &after, "answered");
    expect_silence(&mut cp, Duration::from_millis(500));
    assert_eq!(command(addr, &unanswered)["state"], "failed");
    cp.close();
}
