//! The event journal as the backend sees it: every answered call is on
//! disk after SIGTERM, every line parses, files rotate, and disconnects say why.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn every_answered_call_is_journaled_across_rotation_and_sigterm() {
    let mut gw = GatewayProcess::start(
        "journal",
        &process_config(
            "[reactors]\ncount = 2\npin_cores = false\n\n\
             [log]\nlevel = \"info\"\n",
        )
        .replace(
            "[journal]\ndirectory = \"@DIR@/journal\"",
            "[journal]\ndirectory = \"@DIR@/journal\"\nrotate_size = 65536\nfsync_interval = \"200ms\"",
        ),
    );
    let addr = gw.addr;
    const CPS: usize = 200;
    const CALLS: usize = 50;
    let workers: Vec<_> = (0..10)
        .map(|w| {
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                let mut cps: Vec<ChargePoint> = (0..CPS / 10)
                    .map(|i| ChargePoint::connect(addr, &format!("J-{w}-{i}")))
                    .collect();
                for round in 0..CALLS {
                    for cp in &mut cps {
                        let id = cp.send_call("Heartbeat", json!({}));
                        let answer = cp.recv();
                        assert_eq!(answer[1], id.as_str());
                        answered.push((cp.id.clone(), id, round));
                    }
                }
                (cps, answered)
            })
        })
        .collect();
    let mut answered = Vec::new();
    let mut cps = Vec::new();
    for w in workers {
        let (c, a) = w.join().unwrap();
        cps.extend(c);
        answered.extend(a);
    }
    assert_eq!(answered.len(), CPS * CALLS);

    // A replaced connection: the journal must say why it ended.
    let mut first = ChargePoint::connect(addr, "J-TWICE");
    let _second = ChargePoint::connect(addr, "J-TWICE");
    assert_eq!(first.expect_close(), Some(1008));

    gw.signal("TERM");
    let status = gw.child.wait().unwrap();
    assert!(status.success(), "{status}");
    drop(cps);

    let dir = gw.dir.join("journal");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .collect();
    assert!(files.len() > 1, "no rotation: {} file(s)", files.len());
    // read_records fails on any line that does not parse.
    let records = ocpp_gateway::journal::read_records(&dir).expect("every line parses");

    let calls: HashSet<(String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "call" && r["dir"] == "in")
        .map(|r| {
            (
                r["cp"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // A charge-point CALL and its answer are one line: the answer rides along.
    let results: HashSet<(String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "call" && r["answer"]["currentTime"].is_string())
        .map(|r| {
            (
                r["cp"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (cp, id, _) in &answered {
        let key = (cp.clone(), id.clone());
        assert!(
            calls.contains(&key),
            "call {cp}/{id} missing from the journal"
        );
        assert!(
            results.contains(&key),
            "answer to {cp}/{id} missing from the journal"
        );
    }
    let heartbeat = records
        .iter()
        .find(|r| r["kind"] == "call" && r["action"] == "Heartbeat")
        .unwrap();
    assert_eq!(heartbeat["payload"], json!({}));
    assert!(humantime::parse_rfc3339(heartbeat["ts"].as_str().unwrap()).is_ok());

    let connects = records.iter().filter(|r| r["kind"] == "connect").count();
    assert!(connects >= CPS + 2, "{connects} connects journaled");
    let replaced = records
        .iter()
        .find(|r| r["kind"] == "disconnect" && r["cp"] == "J-TWICE" && r["close_code"] == 1008)
        .expect("the replaced connection's disconnect");
    assert!(
        replaced.to_string().contains("replaced"),
        "disconnect does not say why: {replaced}"
    );
    let shutdown = records
        .iter()
        .filter(|r| r["kind"] == "disconnect" && r["close_code"] == 1001)
        .count();
    assert!(
        shutdown >= CPS,
        "only {shutdown} disconnects with 1001 at SIGTERM"
    );
    let _ = Duration::ZERO;
}

/// Write-ahead: `kill -9` under load, several times. Every transactionId a
/// charge point received is in the journal (the process died, the kernel
/// kept what it was handed). Before the fix, answers left before their
/// record was written, and a crash could lose them.
#[test]
fn after_kill_9_every_answer_a_charge_point_received_is_in_the_journal() {
    let config =
        process_config("[reactors]\ncount = 2\npin_cores = false\n\n[log]\nlevel = \"info\"\n");
    let mut gw = GatewayProcess::start("kill9", &config);
    for cycle in 0..3 {
        let addr = gw.addr;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..20)
            .map(|w| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut received = Vec::new();
                    let Ok(mut cp) = std::panic::catch_unwind(|| {
                        ChargePoint::connect(addr, &format!("K{cycle}-{w}"))
                    }) else {
                        return received;
                    };
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let payload = json!({"connectorId": 1, "idTag": "TAG", "meterStart": 0,
                                             "timestamp": "2026-12-01T10:00:00Z"});
                        let id = cp.new_message_id();
                        let frame = json!([2, id, "StartTransaction", payload]).to_string();
                        if cp.ws.send(tungstenite::Message::text(frame)).is_err() {
                            break;
                        }
                        // Until the kill cuts the connection.
                        match cp.ws.read() {
                            Ok(tungstenite::Message::Text(text)) => {
                                let answer: serde_json::Value =
                                    serde_json::from_str(text.as_str()).unwrap();
                                received.push(answer[2]["transactionId"].as_i64().unwrap());
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    received
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400));
        gw.signal("KILL");
        let _ = gw.child.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let received: Vec<i64> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        assert!(!received.is_empty(), "cycle {cycle}: no load");
        let journaled: HashSet<i64> = ocpp_gateway::journal::read_records(gw.dir.join("journal"))
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "call" && r["action"] == "StartTransaction")
            .filter_map(|r| r["answer"]["transactionId"].as_i64())
            .collect();
        let missing: Vec<&i64> = received.iter().filter(|t| !journaled.contains(t)).collect();
        assert!(
            missing.is_empty(),
            "cycle {cycle}: {} of {} transactionIds received but not journaled: {missing:?}",
            missing.len(),
            received.len()
        );
        gw = GatewayProcess::spawn_in(&gw.dir.clone());
    }
}
