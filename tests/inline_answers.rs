//! `processors.inline_actions`: CALLs a reactor answers itself. A charge
//! point must not be able to tell: the same answers, CALLERRORs and
//! journal lines as from a processor; only the counters say where.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn metric_sum(admin: std::net::SocketAddr, prefix: &str) -> f64 {
    let (status, text) = http(admin, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn inline_config(max_bytes: usize) -> ocpp_gateway::config::Config {
    let mut config = test_config();
    config.admin.enabled = true;
    config.processors.inline_actions = vec!["Heartbeat".to_owned()];
    config.processors.inline_max_bytes = max_bytes;
    config
}

#[test]
fn heartbeats_are_answered_on_the_reactor_journaled_and_counted() {
    let config = inline_config(1024);
    let dir = config.journal.directory.clone();
    let gw = start(config);
    let admin = gw.admin_address().expect("admin on");
    let mut cp = ChargePoint::connect(gw.local_addr(), "INLINE-1");
    cp.boot();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let id = cp.send_call("Heartbeat", json!({}));
        let answer = cp.recv();
        assert_eq!(answer[0], 3, "{answer}");
        assert_eq!(answer[1], id.as_str());
        assert!(answer[2]["currentTime"].is_string(), "{answer}");
        ids.push(id);
    }
    // Breaks the 1.6 schema (no additional properties): the CALLERROR a
    // processor would give, and counted as a bad message like one.
    let id = cp.send_call("Heartbeat", json!({"extra": 1}));
    let refused = cp.recv();
    assert_eq!(refused[0], 4, "{refused}");
    assert_eq!(refused[1], id.as_str());
    // Not on the list: to the processors.
    cp.call_ok(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    );
    wait_for("counters published", Duration::from_secs(3), || {
        metric_sum(admin, "ocpp_gateway_calls_answered_inline_total") >= 21.0
            && metric_sum(
                admin,
                r#"ocpp_gateway_answers_total{action="Heartbeat",outcome="result"}"#,
            ) >= 20.0
    });
    assert_eq!(
        metric_sum(admin, "ocpp_gateway_calls_answered_inline_total"),
        21.0
    );
    // The boot and the StatusNotification went to the pool.
    assert_eq!(
        metric_sum(admin, "ocpp_gateway_calls_dispatched_total"),
        2.0
    );
    assert_eq!(
        metric_sum(
            admin,
            r#"ocpp_gateway_answers_total{action="Heartbeat",outcome="result"}"#
        ),
        20.0
    );
    cp.close();
    stop(gw);
    // Every inline answer has its journal line, with the answer on it.
    let records = ocpp_gateway::journal::read_records(&dir).expect("every line parses");
    for id in &ids {
        let line = records
            .iter()
            .find(|r| r["kind"] == "call" && r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("no journal line for Heartbeat {id}"));
        assert_eq!(line["cp"], "INLINE-1");
        assert_eq!(line["action"], "Heartbeat");
        assert!(line["answer"]["currentTime"].is_string(), "{line}");
    }
    // The refused one too, with the CALLERROR's code.
    let refused_line = records
        .iter()
        .find(|r| r["kind"] == "call" && r["id"] == id.as_str())
        .expect("the refused Heartbeat is journaled");
    assert_eq!(refused_line["error_code"], refused[2], "{refused_line}");
}

#[test]
fn a_heartbeat_longer_than_the_bound_goes_to_the_processors() {
    let gw = start(inline_config(64));
    let admin = gw.admin_address().expect("admin on");
    let mut cp = ChargePoint::connect(gw.local_addr(), "INLINE-2");
    // Valid JSON, 200 bytes: whitespace counts against the bound.
    let id = cp.new_message_id();
    let padded = format!("[2,\"{id}\",\"Heartbeat\",{{{}}}]", " ".repeat(180));
    assert!(padded.len() > 64);
    cp.send_text(&padded);
    let answer = cp.recv();
    assert_eq!(answer[0], 3, "{answer}");
    assert_eq!(answer[1], id.as_str());
    // A short one stays on the reactor.
    cp.call_ok("Heartbeat", json!({}));
    wait_for("counters published", Duration::from_secs(3), || {
        metric_sum(admin, "ocpp_gateway_calls_answered_inline_total") >= 1.0
            && metric_sum(admin, "ocpp_gateway_calls_dispatched_total") >= 1.0
    });
    assert_eq!(
        metric_sum(admin, "ocpp_gateway_calls_dispatched_total"),
        1.0
    );
    assert_eq!(
        metric_sum(admin, "ocpp_gateway_calls_answered_inline_total"),
        1.0
    );
    cp.close();
    stop(gw);
}

#[test]
fn an_empty_list_sends_every_call_to_the_processors() {
    let mut config = inline_config(1024);
    config.processors.inline_actions.clear();
    let gw = start(config);
    let admin = gw.admin_address().expect("admin on");
    let mut cp = ChargePoint::connect(gw.local_addr(), "INLINE-3");
    for _ in 0..5 {
        cp.call_ok("Heartbeat", json!({}));
    }
    wait_for("counters published", Duration::from_secs(3), || {
        metric_sum(admin, "ocpp_gateway_calls_dispatched_total") >= 5.0
    });
    assert_eq!(
        metric_sum(admin, "ocpp_gateway_calls_answered_inline_total"),
        0.0
    );
    cp.close();
    stop(gw);
}

#[test]
fn stateful_or_unknown_inline_actions_are_config_errors() {
    for (list, says) in [
        ("[\"StartTransaction\"]", "transaction id"),
        ("[\"Heartbeat\", \"NoSuchAction\"]", "not an OCPP action"),
    ] {
        let toml = process_config(&format!("[processors]\ninline_actions = {list}\n"));
        let out = run_until_exit("inline-config", &toml);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{list}: {stderr}");
        assert!(stderr.contains("processors.inline_actions"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}
