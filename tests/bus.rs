//! The NATS bus end to end (a real nats-server, gateway processes): events
//! up to JetStream, commands down, backend answers, store and forward across
//! a bus outage and a gateway restart, presence in KV and duplicate ids
//! across gateways. Everything is checked as a charge point or a NATS
//! backend sees it.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::RequestErrorKind;
use common::nats::*;
use common::*;
use serde_json::{Value, json};

const SECOND: Duration = Duration::from_secs(1);
/// presence_ttl in `bus_table`.
const PRESENCE_TTL: Duration = Duration::from_secs(2);

/// A child gateway's config with `bus` (a `[bus]` table) appended: one
/// reactor, short close timeout and grace so stops are quick.
fn gateway_config(bus: &str) -> String {
    process_config(&format!(
        "[reactors]\ncount = 1\npin_cores = false\n\n\
         [websocket]\nclose_timeout = \"500ms\"\n\n\
         [shutdown]\ngrace = \"3s\"\n\n{bus}"
    ))
}

fn start_gateway(name: &str, nats: &NatsServer, gateway_id: &str, extra: &str) -> GatewayProcess {
    GatewayProcess::start(
        name,
        &gateway_config(&bus_table(&nats.url(), gateway_id, extra)),
    )
}

fn boot_payload() -> Value {
    json!({"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"})
}

/// `{gateway_id}/{journal file name}/{byte offset}`.
fn parse_msg_id(msg_id: &str) -> (String, String, u64) {
    let parts: Vec<&str> = msg_id.split('/').collect();
    assert_eq!(
        parts.len(),
        3,
        "Nats-Msg-Id {msg_id:?} is not gw/file/offset"
    );
    let offset = parts[2]
        .parse()
        .unwrap_or_else(|_| panic!("Nats-Msg-Id {msg_id:?}: offset is not a number"));
    (parts[0].to_owned(), parts[1].to_owned(), offset)
}

/// Checks every event's envelope: subject, headers, one-line JSON body;
/// no message id twice; per journal file, offsets rise in stream order.
fn check_envelopes(events: &[Event], gateway_of: &dyn Fn(&str) -> Option<String>) {
    let mut ids = HashSet::new();
    let mut last_offset: HashMap<(String, String), u64> = HashMap::new();
    for e in events {
        let kind = e.kind();
        assert!(
            [
                "connect",
                "disconnect",
                "call",
                "result",
                "error",
                "server_call",
                "timeout",
                "invalid_answer",
                "send",
                "result_error"
            ]
            .contains(&kind),
            "unexpected kind in {}",
            e.raw
        );
        assert_eq!(
            e.subject,
            format!("ocpp.up.{}.{kind}", token(e.cp())),
            "subject of {}",
            e.raw
        );
        assert!(
            !e.raw.contains('\n') && e.raw.starts_with('{') && e.raw.ends_with('}'),
            "body is not one JSON line: {:?}",
            e.raw
        );
        assert!(e.body["ts"].is_string(), "no ts in {}", e.raw);
        let msg_id = e
            .msg_id
            .as_deref()
            .unwrap_or_else(|| panic!("no Nats-Msg-Id on {}", e.raw));
        assert!(
            ids.insert(msg_id.to_owned()),
            "Nats-Msg-Id {msg_id} twice in the stream"
        );
        let (gw, file, offset) = parse_msg_id(msg_id);
        if let Some(expected) = gateway_of(e.cp()) {
            assert_eq!(
                e.gateway.as_deref(),
                Some(expected.as_str()),
                "Ocpp-Gateway of {}",
                e.raw
            );
            assert_eq!(gw, expected, "gateway in Nats-Msg-Id {msg_id} of {}", e.raw);
        }
        assert_eq!(
            e.gateway.as_deref(),
            Some(gw.as_str()),
            "{msg_id} vs Ocpp-Gateway"
        );
        if let Some(previous) = last_offset.insert((gw, file), offset) {
            assert!(
                offset > previous,
                "{msg_id} published after offset {previous} of the same file (out of journal order)"
            );
        }
    }
}

/// The message ids of `cp`'s CALL events, in stream order.
fn call_ids(events: &[Event], cp: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.cp() == cp && e.kind() == "call")
        .map(|e| e.body["id"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Waits until the presence entry of `key` is removed and checks it was
/// deleted by its gateway, not left to expire: either a delete/purge marker
/// is seen, or the key vanished well within presence_ttl of its last put.
/// The `call` event of the charge-point CALL `id`, once it is on the stream.
fn call_event(bus: &Bus, id: &str) -> Event {
    let mut reader = EventReader::new("OCPP_EVENTS");
    let is_it = |e: &Event| e.kind() == "call" && e.body["id"] == id;
    bus.read_until(
        &mut reader,
        &format!("the event of CALL {id}"),
        10 * SECOND,
        |events| events.iter().any(is_it),
    );
    reader.events.into_iter().find(is_it).unwrap()
}

fn wait_presence_deleted(bus: &Bus, key: &str, what: &str) {
    let deadline = Instant::now() + 5 * SECOND;
    let mut last_put: Option<std::time::SystemTime> = None;
    loop {
        match bus.kv_entry("ocpp_presence", key) {
            Some(entry) if entry.operation == async_nats::jetstream::kv::Operation::Put => {
                last_put = Some(entry.created);
            }
            Some(_) => return, // a delete or purge marker
            None => {
                let last_put = last_put.unwrap_or_else(|| panic!("{what}: {key} was never seen"));
                let age = std::time::SystemTime::now()
                    .duration_since(last_put)
                    .unwrap_or_default();
                assert!(
                    age < PRESENCE_TTL - Duration::from_millis(300),
                    "{what}: {key} vanished {age:?} after its last put (presence_ttl {PRESENCE_TTL:?}): \
                     it expired, it was not deleted"
                );
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {key} is still present"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn events_from_two_gateways_reach_the_stream_and_commands_reach_charge_points() {
    let nats = NatsServer::start();
    let gw_a = start_gateway("bus-a", &nats, "gw-a", "");
    let gw_b = start_gateway("bus-b", &nats, "gw-b", "");
    let bus = Bus::connect(&nats.url());

    let on_a: Vec<String> = (0..5)
        .map(|i| format!("A-{i}"))
        .chain(["cp.7".to_owned()])
        .collect();
    let on_b: Vec<String> = (0..5).map(|i| format!("B-{i}")).collect();
    let mut gateway_of: HashMap<String, String> = HashMap::new();
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    let mut cps: HashMap<String, ChargePoint> = HashMap::new();
    for (gw, addr, ids) in [("gw-a", gw_a.addr, &on_a), ("gw-b", gw_b.addr, &on_b)] {
        for id in ids {
            let mut cp = ChargePoint::connect(addr, id);
            let mut calls = Vec::new();
            let boot = cp.call("BootNotification", boot_payload());
            assert_eq!(boot[0], 3, "{id}: {boot}");
            calls.push(boot[1].as_str().unwrap().to_owned());
            for _ in 0..3 {
                let hb = cp.call("Heartbeat", json!({}));
                assert_eq!(hb[0], 3, "{id}: {hb}");
                calls.push(hb[1].as_str().unwrap().to_owned());
            }
            gateway_of.insert(id.clone(), gw.to_owned());
            sent.insert(id.clone(), calls);
            cps.insert(id.clone(), cp);
        }
    }
    let closed = ["A-0", "A-1", "B-0", "B-1"];
    for id in closed {
        cps.remove(id).unwrap().close();
    }

    // Commands down. The id with a dot travels as cp=2E7.
    assert_eq!(token("cp.7"), "cp=2E7");
    let reset = json!({"action": "Reset", "payload": {"type": "Soft"}});
    for (id, subject) in [("cp.7", "ocpp.cmd.cp=2E7"), ("B-2", "ocpp.cmd.B-2")] {
        let player = answer_one_call(cps.remove(id).unwrap(), |call| {
            Some(json!([3, call[1], {"status": "Accepted"}]))
        });
        let reply = bus.request_retrying(subject, &reset, 5 * SECOND, 5 * SECOND);
        let reply = reply.unwrap_or_else(|e| panic!("command to {id} on {subject}: {e:?}"));
        assert_eq!(
            reply,
            json!({"status": 200, "payload": {"status": "Accepted"}}),
            "reply to the Reset of {id}"
        );
        let (cp, call) = player.join().expect("charge point thread");
        assert_eq!(call[0], 2, "{id} got {call}");
        assert_eq!(call[2], "Reset", "{id} got {call}");
        assert_eq!(call[3], json!({"type": "Soft"}), "{id} got {call}");
        cps.insert(id.to_owned(), cp);
    }

    // The charge point answers with a CALLERROR: 502 with the CALLERROR.
    let player = answer_one_call(cps.remove("B-3").unwrap(), |call| {
        Some(json!([4, call[1], "NotSupported", "not here", {}]))
    });
    let reply = bus
        .request_retrying("ocpp.cmd.B-3", &reset, 5 * SECOND, 5 * SECOND)
        .expect("command to B-3");
    assert_eq!(reply["status"], 502, "{reply}");
    assert_eq!(reply["callerror"]["code"], "NotSupported", "{reply}");
    assert_eq!(reply["callerror"]["description"], "not here", "{reply}");
    let (cp, _) = player.join().expect("charge point thread");
    cps.insert("B-3".into(), cp);

    // A payload breaking the request schema never reaches the charge point.
    let reply = bus
        .request(
            "ocpp.cmd.B-3",
            &json!({"action": "Reset", "payload": {"type": "Sideways"}}),
            5 * SECOND,
        )
        .expect("bad command to B-3");
    assert_eq!(reply["status"], 400, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");

    // A charge point that does not answer: 504 after timeout_ms.
    let player = answer_one_call(cps.remove("B-4").unwrap(), |_| None);
    let started = Instant::now();
    let reply = bus
        .request_retrying(
            "ocpp.cmd.B-4",
            &json!({"action": "Reset", "payload": {"type": "Hard"}, "timeout_ms": 300}),
            5 * SECOND,
            5 * SECOND,
        )
        .expect("command to B-4");
    assert_eq!(reply["status"], 504, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    assert!(
        started.elapsed() < 4 * SECOND,
        "timeout_ms = 300 took {:?}",
        started.elapsed()
    );
    let (cp, call) = player.join().expect("charge point thread");
    assert_eq!(call[2], "Reset");
    cps.insert("B-4".into(), cp);

    // Nobody holds these: "no responders" at once.
    let started = Instant::now();
    assert_eq!(
        bus.request("ocpp.cmd.NOBODY", &reset, 5 * SECOND),
        Err(RequestErrorKind::NoResponders)
    );
    assert!(started.elapsed() < 2 * SECOND);
    // A charge point that left: its gateway unsubscribes.
    for id in closed {
        let subject = format!("ocpp.cmd.{id}");
        wait_for(&format!("no responders on {subject}"), 5 * SECOND, || {
            bus.request(&subject, &reset, 2 * SECOND) == Err(RequestErrorKind::NoResponders)
        });
    }

    // Every event of both gateways is in the stream.
    let mut reader = EventReader::new("OCPP_EVENTS");
    bus.read_until(
        &mut reader,
        "every event of both gateways",
        10 * SECOND,
        |events| {
            sent.iter()
                .all(|(cp, ids)| call_ids(events, cp).len() >= ids.len())
                && closed.iter().all(|cp| {
                    events
                        .iter()
                        .any(|e| e.cp() == *cp && e.kind() == "disconnect")
                })
                && events
                    .iter()
                    .any(|e| e.cp() == "B-4" && e.kind() == "server_call")
                // How the unanswered command ended reaches the backend too.
                && events
                    .iter()
                    .any(|e| e.cp() == "B-4" && e.kind() == "timeout")
                && events
                    .iter()
                    .any(|e| e.cp() == "B-3" && e.kind() == "error")
        },
    );
    let events = &reader.events;
    check_envelopes(events, &|cp| gateway_of.get(cp).cloned());
    for (cp, ids) in &sent {
        let mine: Vec<&Event> = events.iter().filter(|e| e.cp() == cp.as_str()).collect();
        assert_eq!(
            mine[0].kind(),
            "connect",
            "{cp}: first event {}",
            mine[0].raw
        );
        assert_eq!(mine[0].body["dir"], "in");
        assert!(mine[0].body["remote"].is_string(), "{}", mine[0].raw);
        assert_eq!(
            mine.iter().filter(|e| e.kind() == "connect").count(),
            1,
            "{cp}: connects"
        );
        assert_eq!(
            &call_ids(events, cp),
            ids,
            "{cp}: CALL events vs CALLs sent"
        );
        let calls: Vec<&&Event> = mine.iter().filter(|e| e.kind() == "call").collect();
        assert_eq!(calls[0].body["action"], "BootNotification");
        assert_eq!(calls[0].body["payload"], boot_payload());
        assert_eq!(
            calls[0].body["answer"]["status"], "Accepted",
            "{}",
            calls[0].raw
        );
        for hb in &calls[1..] {
            assert_eq!(hb.body["action"], "Heartbeat");
            assert!(hb.body["answer"]["currentTime"].is_string(), "{}", hb.raw);
        }
        let disconnects: Vec<&&Event> = mine.iter().filter(|e| e.kind() == "disconnect").collect();
        if closed.contains(&cp.as_str()) {
            assert_eq!(disconnects.len(), 1, "{cp}: disconnects");
            assert_eq!(
                disconnects[0].body["close_code"], 1000,
                "{}",
                disconnects[0].raw
            );
            assert_eq!(
                mine.last().unwrap().kind(),
                "disconnect",
                "{cp}: last event"
            );
        } else {
            assert!(disconnects.is_empty(), "{cp} is still connected");
        }
    }
    // The commands as events: server_call then its result (or error).
    for (cp, kind, answer) in [
        ("cp.7", "result", json!({"status": "Accepted"})),
        ("B-2", "result", json!({"status": "Accepted"})),
    ] {
        let call = events
            .iter()
            .find(|e| e.cp() == cp && e.kind() == "server_call")
            .unwrap_or_else(|| panic!("no server_call event for {cp}"));
        assert_eq!(call.body["dir"], "out");
        assert_eq!(call.body["action"], "Reset");
        assert_eq!(call.body["payload"], json!({"type": "Soft"}));
        let result = events
            .iter()
            .find(|e| e.cp() == cp && e.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} event for {cp}"));
        assert_eq!(result.body["id"], call.body["id"], "{}", result.raw);
        assert_eq!(result.body["payload"], answer, "{}", result.raw);
        assert!(result.seq > call.seq);
    }
    let error = events
        .iter()
        .find(|e| e.cp() == "B-3" && e.kind() == "error")
        .unwrap();
    assert!(error.raw.contains("NotSupported"), "{}", error.raw);
    for gw in ["gw-a", "gw-b"] {
        assert!(
            events.iter().any(|e| e.gateway.as_deref() == Some(gw)),
            "nothing from {gw}"
        );
    }
    drop(cps);
}

/// Backend answers for BootNotification: reply, CALLERROR reply, invalid
/// reply, no backend, silent backend; fallback "local" and "error".
#[test]
fn backend_answers_boot_notifications() {
    let nats = NatsServer::start();
    let backend_boot = "\n[bus.answers]\nBootNotification = \"backend\"\n";
    let config = |id: &str, fallback: &str| {
        gateway_config(&bus_table(
            &nats.url(),
            id,
            &format!("backend_fallback = \"{fallback}\"\n{backend_boot}"),
        ))
    };
    let gw = GatewayProcess::start("bus-backend", &config("gw-a", "local"));
    let bus = Bus::connect(&nats.url());
    let subject = "ocpp.req.BootNotification";
    let backend = Listener::start(&nats.url(), subject, Some("backends"), |_| {
        Some(json!({"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 77}))
    });

    let mut cp = ChargePoint::connect(gw.addr, "BK-1");
    wait_connect_event(&bus, "BK-1");

    let answer = cp.call("BootNotification", boot_payload());
    assert_eq!(
        answer[2],
        json!({"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 77}),
        "the backend's answer: {answer}"
    );
    let seen = backend.seen();
    assert_eq!(seen.len(), 1, "backend requests: {seen:?}");
    let request = &seen[0].body;
    assert_eq!(request["chargePointId"], "BK-1", "{request}");
    assert_eq!(request["gatewayId"], "gw-a", "{request}");
    assert_eq!(request["protocol"], "ocpp1.6", "{request}");
    assert_eq!(request["action"], "BootNotification", "{request}");
    assert_eq!(request["messageId"], answer[1], "{request}");
    assert_eq!(request["payload"], boot_payload(), "{request}");

    // Not a backend action: answered locally, the backend sees nothing.
    let hb = cp.call("Heartbeat", json!({}));
    assert_eq!(hb[0], 3, "{hb}");
    // An invalid CALL is refused by the gateway before any request.
    let bad = cp.call(
        "BootNotification",
        json!({"chargePointVendor": "TestVendor"}),
    );
    assert_eq!(bad[0], 4, "a BootNotification without model: {bad}");
    assert_eq!(
        backend.count(),
        1,
        "the backend saw more: {:?}",
        backend.seen()
    );
    backend.stop();

    // No backend: the gateway's own answer (heartbeat_interval = 5m).
    let local = cp.call_ok("BootNotification", boot_payload());
    assert_eq!(local["status"], "Accepted", "{local}");
    assert_eq!(local["interval"], 300, "the gateway's own answer: {local}");
    assert_ne!(local["currentTime"], "2026-01-01T00:00:00Z");

    // A backend that never answers: the same after backend_timeout.
    let silent = Listener::start(&nats.url(), subject, Some("backends"), |_| None);
    let started = Instant::now();
    let local = cp.call_ok("BootNotification", boot_payload());
    let waited = started.elapsed();
    assert_eq!(local["interval"], 300, "{local}");
    assert!(
        waited >= Duration::from_millis(450) && waited < 4 * SECOND,
        "answered after {waited:?} with backend_timeout = 500ms"
    );
    assert_eq!(silent.stop().len(), 1, "the silent backend got the request");

    // The backend answers with a CALLERROR.
    let refusing = Listener::start(&nats.url(), subject, Some("backends"), |_| {
        Some(json!(["SecurityError", "nope", {"reason": "unknown serial"}]))
    });
    let error = cp.call("BootNotification", boot_payload());
    assert_eq!(error[0], 4, "{error}");
    assert_eq!(error[2], "SecurityError", "{error}");
    assert_eq!(error[3], "nope", "{error}");
    assert_eq!(error[4], json!({"reason": "unknown serial"}), "{error}");
    assert_eq!(refusing.stop().len(), 1);

    // Replies the gateway must not pass on: InternalError.
    for reply in [
        json!({"status": "Maybe", "currentTime": "2026-01-01T00:00:00Z", "interval": 77}),
        json!({"status": "Maybe"}),
        json!(["NoSuchErrorCode", "x", {}]),
        json!("a string"),
    ] {
        let r = reply.clone();
        let wrong = Listener::start(&nats.url(), subject, Some("backends"), move |_| {
            Some(r.clone())
        });
        let started = Instant::now();
        let error = cp.call("BootNotification", boot_payload());
        let took = started.elapsed();
        let seen = wrong.stop();
        let why = format!(
            "backend reply {reply} gave {error} after {took:?}; the backend saw {} request(s), \
             {:?} after the CALL",
            seen.len(),
            seen.first()
                .map(|s| s.at.saturating_duration_since(started))
        );
        assert_eq!(error[0], 4, "{why}");
        assert_eq!(error[2], "InternalError", "{why}");
        assert_eq!(seen.len(), 1, "{why}");
    }

    // The journal (so the stream) records what the charge point was told.
    let event = call_event(&bus, answer[1].as_str().unwrap());
    assert_eq!(event.body["answer"]["interval"], 77, "{}", event.raw);

    // backend_fallback = "error": InternalError without a backend, or
    // with a silent one; other actions are still answered.
    let gw_e = GatewayProcess::start("bus-backend-e", &config("gw-e", "error"));
    let mut cp_e = ChargePoint::connect(gw_e.addr, "BK-E");
    wait_connect_event(&bus, "BK-E");
    let error = cp_e.call("BootNotification", boot_payload());
    assert_eq!(error[0], 4, "{error}");
    assert_eq!(error[2], "InternalError", "{error}");
    let silent = Listener::start(&nats.url(), subject, Some("backends"), |_| None);
    let error = cp_e.call("BootNotification", boot_payload());
    assert_eq!(error[0], 4, "{error}");
    assert_eq!(error[2], "InternalError", "{error}");
    assert_eq!(silent.stop().len(), 1);
    assert_eq!(cp_e.call("Heartbeat", json!({}))[0], 3);
    // And a backend answer still passes on this gateway.
    let ok = Listener::start(&nats.url(), subject, Some("backends"), |_| {
        Some(json!({"status": "Pending", "currentTime": "2026-01-01T00:00:00Z", "interval": 5}))
    });
    let pending = cp_e.call_ok("BootNotification", boot_payload());
    assert_eq!(pending["status"], "Pending", "{pending}");
    assert_eq!(pending["interval"], 5, "{pending}");
    let seen = ok.stop();
    assert_eq!(seen[0].body["gatewayId"], "gw-e");
}

/// Lenient mode on the bus: a CALL the backend answers reaches it with
/// the corrected payload, and the event stream carries the corrected
/// payload and the `lenient` notes of a CALL answered locally.
#[test]
fn lenient_corrections_reach_the_backend_and_the_stream() {
    let nats = NatsServer::start();
    let extra = "\n[bus.answers]\nStatusNotification = \"backend\"\n\n\
                 [[profiles]]\nname = \"sloppy\"\nids = [\"SLOPPY-*\"]\n\
                 lenient = [\"enum_case\", \"numbers_as_strings\"]\n";
    let gw = start_gateway("bus-lenient", &nats, "gw-l", extra);
    let bus = Bus::connect(&nats.url());
    let backend = Listener::start(
        &nats.url(),
        "ocpp.req.StatusNotification",
        Some("backends"),
        |_| Some(json!({})),
    );
    let mut cp = ChargePoint::connect(gw.addr, "SLOPPY-1");
    wait_connect_event(&bus, "SLOPPY-1");
    let status = cp.call_ok(
        "StatusNotification",
        json!({"connectorId": "1", "errorCode": "noerror", "status": "AVAILABLE"}),
    );
    assert_eq!(status, json!({}));
    let seen = backend.stop();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].body["payload"],
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        "the backend gets the corrected payload: {}",
        seen[0].body
    );

    let meter = cp.call(
        "MeterValues",
        json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z",
               "sampledValue": [{"value": "5", "unit": "KWH"}]}]}),
    );
    assert_eq!(meter[0], 3, "{meter}");
    let meter_id = meter[1].as_str().unwrap().to_owned();
    let event = call_event(&bus, &meter_id);
    assert_eq!(
        event.body["payload"]["meterValue"][0]["sampledValue"][0]["unit"], "kWh",
        "{}",
        event.raw
    );
    assert_eq!(
        event.body["lenient"],
        json!(["enum_case:meterValue[0].sampledValue[0].unit"]),
        "{}",
        event.raw
    );
    cp.close();
}

/// Heartbeats from several charge points while nats-server is down for a
/// while: every event reaches the stream once, in order. Then a gateway
/// restart on the same journal publishes nothing twice.
#[test]
fn events_survive_a_bus_outage_and_a_gateway_restart() {
    let mut nats = NatsServer::start();
    let gw = start_gateway("bus-outage", &nats, "gw-a", "");
    let addr = gw.addr;
    const CPS: usize = 6;
    let names: Vec<String> = (0..CPS).map(|i| format!("SF-{i}")).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let answered: Arc<Vec<AtomicUsize>> = Arc::new((0..CPS).map(|_| AtomicUsize::new(0)).collect());
    let workers: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (stop, answered, name) = (stop.clone(), answered.clone(), name.clone());
            std::thread::spawn(move || {
                let mut cp = ChargePoint::connect(addr, &name);
                let mut ids = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = cp.call("Heartbeat", json!({}));
                    assert_eq!(answer[0], 3, "{name}: {answer}");
                    ids.push(answer[1].as_str().unwrap().to_owned());
                    answered[i].fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
                (cp, ids)
            })
        })
        .collect();
    let progress = |answered: &Arc<Vec<AtomicUsize>>| -> Vec<usize> {
        answered.iter().map(|a| a.load(Ordering::Relaxed)).collect()
    };

    // Load is flowing to the bus.
    {
        let bus = Bus::connect(&nats.url());
        let mut reader = EventReader::new("OCPP_EVENTS");
        bus.read_until(
            &mut reader,
            "the charge points' first calls",
            10 * SECOND,
            |events| {
                names.iter().all(|n| {
                    events
                        .iter()
                        .any(|e| e.cp() == n.as_str() && e.kind() == "call")
                })
            },
        );
    }

    // The bus goes away for two seconds; the charge points keep calling and
    // keep being answered.
    let before = progress(&answered);
    nats.stop();
    let down = Instant::now();
    wait_for("answers while the bus is down", 10 * SECOND, || {
        progress(&answered)
            .iter()
            .zip(&before)
            .all(|(now, then)| *now >= then + 20)
    });
    std::thread::sleep((2 * SECOND).saturating_sub(down.elapsed()));
    let during = progress(&answered);
    nats.restart();
    let up = progress(&answered);
    wait_for("answers after the bus is back", 10 * SECOND, || {
        progress(&answered)
            .iter()
            .zip(&up)
            .all(|(now, then)| *now >= then + 20)
    });
    stop.store(true, Ordering::Relaxed);
    let mut cps = Vec::new();
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    for (name, worker) in names.iter().zip(workers) {
        let (cp, ids) = worker.join().expect("charge point thread");
        cps.push(cp);
        sent.insert(name.clone(), ids);
    }
    let during_outage: usize = during.iter().zip(&before).map(|(d, b)| d - b).sum();
    assert!(
        during_outage >= 20 * CPS,
        "only {during_outage} calls during the outage"
    );

    let bus = Bus::connect(&nats.url());
    let mut reader = EventReader::new("OCPP_EVENTS");
    bus.read_until(
        &mut reader,
        "every call in the stream",
        15 * SECOND,
        |events| {
            sent.iter()
                .all(|(cp, ids)| call_ids(events, cp).len() >= ids.len())
        },
    );
    check_envelopes(&reader.events, &|_| Some("gw-a".to_owned()));
    for (cp, ids) in &sent {
        assert_eq!(
            &call_ids(&reader.events, cp),
            ids,
            "{cp}: CALL events in the stream vs CALLs answered"
        );
    }

    // Restart the gateway on the same journal. A tap on the subjects sees
    // every publish, including those JetStream would drop as duplicates.
    let tap = Listener::start(&nats.url(), "ocpp.up.>", None, |_| None);
    bus.read_new(&mut reader);
    let acked_before: HashSet<String> = reader
        .events
        .iter()
        .filter_map(|e| e.msg_id.clone())
        .collect();
    let dir = gw.dir.clone();
    gw.signal("TERM");
    let mut gw = gw;
    let deadline = Instant::now() + 15 * SECOND;
    let status = loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "gateway did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "gateway exit: {status}");
    drop(gw);
    drop(cps);
    let restarted_at = Instant::now();
    let gw = GatewayProcess::spawn_in(&dir);
    let mut cp = ChargePoint::connect(gw.addr, "SF-after");
    let mut after_ids = Vec::new();
    for _ in 0..3 {
        let answer = cp.call("Heartbeat", json!({}));
        assert_eq!(answer[0], 3, "{answer}");
        after_ids.push(answer[1].as_str().unwrap().to_owned());
    }
    bus.read_until(
        &mut reader,
        "the restarted gateway's events and the shutdown disconnects",
        10 * SECOND,
        |events| {
            call_ids(events, "SF-after").len() >= after_ids.len()
                && names.iter().all(|n| {
                    events
                        .iter()
                        .any(|e| e.cp() == n.as_str() && e.kind() == "disconnect")
                })
        },
    );
    check_envelopes(&reader.events, &|_| Some("gw-a".to_owned()));
    assert_eq!(call_ids(&reader.events, "SF-after"), after_ids);
    for (cp, ids) in &sent {
        assert_eq!(&call_ids(&reader.events, cp), ids, "{cp} after the restart");
        let disconnects: Vec<&Event> = reader
            .events
            .iter()
            .filter(|e| e.cp() == cp.as_str() && e.kind() == "disconnect")
            .collect();
        assert_eq!(disconnects.len(), 1, "{cp}: disconnect events");
        assert_eq!(
            disconnects[0].body["close_code"], 1001,
            "{cp} at SIGTERM: {}",
            disconnects[0].raw
        );
    }
    // What the first run had published (and JetStream acknowledged) is not
    // published again by the second run.
    // The tap works: it sees the second run's own calls.
    wait_for("the tap to see SF-after's calls", 5 * SECOND, || {
        tap.seen()
            .iter()
            .filter(|s| s.subject == "ocpp.up.SF-after.call")
            .count()
            >= after_ids.len()
    });
    let tapped = tap.stop();
    let republished: Vec<Seen> = tapped
        .into_iter()
        .filter(|s| s.at >= restarted_at)
        .filter(|s| {
            s.msg_id
                .as_ref()
                .is_some_and(|id| acked_before.contains(id))
        })
        .collect();
    assert!(
        republished.is_empty(),
        "{} events published again after the restart, e.g. {:?}",
        republished.len(),
        republished.first()
    );
    cp.close();
}

/// Presence in KV: put on connect, gone on disconnect, kept alive while
/// held, expired when the gateway dies, taken over by another gateway.
#[test]
fn presence_follows_the_charge_point() {
    let nats = NatsServer::start();
    let mut gw_a = start_gateway("bus-pres-a", &nats, "gw-a", "");
    let gw_b = start_gateway("bus-pres-b", &nats, "gw-b", "");
    let bus = Bus::connect(&nats.url());

    let cp = ChargePoint::connect(gw_a.addr, "P-1");
    let local = cp.ws.get_ref().local_addr().unwrap().to_string();
    let value = bus
        .wait_presence("P-1", "P-1 on gw-a", 10 * SECOND, |v| v.is_some())
        .unwrap();
    assert_eq!(value["gateway_id"], "gw-a", "{value}");
    assert_eq!(value["remote"], local.as_str(), "{value}");
    let connected_at = value["connected_at"].as_str().expect("connected_at");
    assert!(
        humantime::parse_rfc3339_weak(connected_at).is_ok()
            || humantime::parse_rfc3339(connected_at).is_ok(),
        "{value}"
    );
    cp.close();
    wait_presence_deleted(&bus, "P-1", "P-1 gone after a clean disconnect");

    // Held longer than presence_ttl (2s): refreshed, never missing.
    let _cp = ChargePoint::connect(gw_a.addr, "p.2");
    assert_eq!(token("p.2"), "p=2E2");
    bus.wait_presence("p=2E2", "p.2 on gw-a", 10 * SECOND, |v| {
        v.as_ref().is_some_and(|v| v["gateway_id"] == "gw-a")
    });
    let held = Instant::now();
    while held.elapsed() < Duration::from_millis(3500) {
        let value = bus.presence("p=2E2");
        assert!(
            value.as_ref().is_some_and(|v| v["gateway_id"] == "gw-a"),
            "p.2 is still on gw-a after {:?}, presence: {value:?}",
            held.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // gw-a dies without a word: the entry expires.
    gw_a.child.kill().unwrap();
    gw_a.child.wait().unwrap();
    let killed = Instant::now();
    bus.wait_presence("p=2E2", "p.2 expired after gw-a died", 5 * SECOND, |v| {
        v.is_none()
    });
    assert!(killed.elapsed() < 5 * SECOND);

    // The charge point comes back through gw-b.
    let mut cp = ChargePoint::connect(gw_b.addr, "p.2");
    let value = bus
        .wait_presence("p=2E2", "p.2 on gw-b", 10 * SECOND, |v| v.is_some())
        .unwrap();
    assert_eq!(value["gateway_id"], "gw-b", "{value}");
    assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
    // Commands now go to gw-b.
    let player = answer_one_call(cp, |call| Some(json!([3, call[1], {"status": "Accepted"}])));
    let reply = bus
        .request_retrying(
            "ocpp.cmd.p=2E2",
            &json!({"action": "Reset", "payload": {"type": "Soft"}}),
            5 * SECOND,
            5 * SECOND,
        )
        .expect("command to p.2 on gw-b");
    assert_eq!(reply["status"], 200, "{reply}");
    player.join().unwrap();
}

/// The same id on two gateways: the older connection is closed with 1008
/// and presence names the newer gateway (which keeps it).
#[test]
fn a_duplicate_id_on_another_gateway_replaces_the_connection() {
    let nats = NatsServer::start();
    let gw_a = start_gateway("bus-dup-a", &nats, "gw-a", "");
    let gw_b = start_gateway("bus-dup-b", &nats, "gw-b", "");
    let bus = Bus::connect(&nats.url());

    let mut first = ChargePoint::connect(gw_a.addr, "CP-X");
    bus.wait_presence("CP-X", "CP-X on gw-a", 10 * SECOND, |v| {
        v.as_ref().is_some_and(|v| v["gateway_id"] == "gw-a")
    });
    let mut second = ChargePoint::connect(gw_b.addr, "CP-X");
    assert_eq!(first.expect_close(), Some(1008), "gw-a's connection");
    bus.wait_presence("CP-X", "CP-X on gw-b", 5 * SECOND, |v| {
        v.as_ref().is_some_and(|v| v["gateway_id"] == "gw-b")
    });
    // gw-a's disconnect must not delete gw-b's entry.
    let since = Instant::now();
    while since.elapsed() < Duration::from_millis(1500) {
        let value = bus.presence("CP-X");
        assert!(
            value.as_ref().is_some_and(|v| v["gateway_id"] == "gw-b"),
            "CP-X presence after the replacement: {value:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(second.call("Heartbeat", json!({}))[0], 3);
    // Only gw-b answers commands for CP-X now.
    let player = answer_one_call(second, |call| {
        Some(json!([3, call[1], {"status": "Accepted"}]))
    });
    let reply = bus
        .request_retrying(
            "ocpp.cmd.CP-X",
            &json!({"action": "Reset", "payload": {"type": "Soft"}}),
            5 * SECOND,
            5 * SECOND,
        )
        .expect("command to CP-X");
    assert_eq!(reply["status"], 200, "{reply}");
    let (second, _) = player.join().unwrap();

    // Its events say which gateway held it when.
    let mut reader = EventReader::new("OCPP_EVENTS");
    bus.read_until(&mut reader, "CP-X's events", 10 * SECOND, |events| {
        events
            .iter()
            .any(|e| e.cp() == "CP-X" && e.kind() == "result")
            && events
                .iter()
                .any(|e| e.cp() == "CP-X" && e.kind() == "disconnect")
    });
    let disconnect = reader
        .events
        .iter()
        .find(|e| e.cp() == "CP-X" && e.kind() == "disconnect")
        .unwrap();
    assert_eq!(disconnect.gateway.as_deref(), Some("gw-a"));
    assert_eq!(disconnect.body["close_code"], 1008, "{}", disconnect.raw);
    let result = reader
        .events
        .iter()
        .find(|e| e.cp() == "CP-X" && e.kind() == "result")
        .unwrap();
    assert_eq!(result.gateway.as_deref(), Some("gw-b"));
    drop(second);
}

/// duplicate_id = "reject": a handshake for an id another gateway holds
/// is refused with 409, and the holder keeps it.
#[test]
fn a_duplicate_id_on_another_gateway_is_rejected_when_configured() {
    let nats = NatsServer::start();
    let gw_a = start_gateway("bus-rej-a", &nats, "gw-a", "");
    let config = gateway_config(&bus_table(&nats.url(), "gw-b", ""))
        .replace("[ocpp]\n", "[ocpp]\nduplicate_id = \"reject\"\n");
    assert!(config.contains("duplicate_id = \"reject\""));
    let gw_b = GatewayProcess::start("bus-rej-b", &config);
    let bus = Bus::connect(&nats.url());

    // gw-b can only know what others hold once it is on the bus: its own
    // charge point's presence entry says it is.
    let probe = ChargePoint::connect(gw_b.addr, "PROBE-B");
    bus.wait_presence("PROBE-B", "gw-b on the bus", 10 * SECOND, |v| v.is_some());
    probe.close();
    let mut held = ChargePoint::connect(gw_a.addr, "CP-R");
    bus.wait_presence("CP-R", "CP-R on gw-a", 10 * SECOND, |v| {
        v.as_ref().is_some_and(|v| v["gateway_id"] == "gw-a")
    });
    match connect(gw_b.addr, "/ocpp/CP-R", &["ocpp1.6"]) {
        Err(status) => assert_eq!(status, 409),
        Ok(_) => panic!("gw-b accepted CP-R although gw-a holds it"),
    }
    assert_eq!(held.call("Heartbeat", json!({}))[0], 3);
    assert_eq!(
        bus.presence("CP-R").unwrap()["gateway_id"],
        "gw-a",
        "presence after the refused handshake"
    );
    // Once gw-a lets it go, gw-b takes it.
    held.close();
    wait_presence_deleted(&bus, "CP-R", "CP-R released");
    let _cp = ChargePoint::connect(gw_b.addr, "CP-R");
    bus.wait_presence("CP-R", "CP-R on gw-b", 10 * SECOND, |v| {
        v.as_ref().is_some_and(|v| v["gateway_id"] == "gw-b")
    });
}

#[test]
fn commands_beyond_bus_max_commands_in_flight_get_503_at_once() {
    let nats = NatsServer::start();
    let gw = start_gateway(
        "bus-cmd-cap",
        &nats,
        "gw-cap",
        "max_commands_in_flight = 2\n",
    );
    let mut cp = ChargePoint::connect(gw.addr, "CP-SLOW");
    cp.boot();
    let url = nats.url();
    let slow = json!({"action": "ClearCache", "payload": {}, "timeout_ms": 2000});
    // Two commands wait for a charge point that never answers...
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let (url, slow) = (url.clone(), slow.clone());
            std::thread::spawn(move || {
                Bus::connect(&url).request_retrying(
                    "ocpp.cmd.CP-SLOW",
                    &slow,
                    5 * SECOND,
                    5 * SECOND,
                )
            })
        })
        .collect();
    let bus = Bus::connect(&url);
    // The first is on the wire; give the second a moment to reach the bridge.
    assert_eq!(cp.recv()[2], "ClearCache");
    std::thread::sleep(Duration::from_millis(500));
    // ...so a third is refused at once, not queued behind them.
    let started = Instant::now();
    let reply = bus
        .request("ocpp.cmd.CP-SLOW", &slow, 5 * SECOND)
        .expect("third command");
    assert_eq!(reply["status"], 503, "{reply}");
    assert!(started.elapsed() < SECOND, "{:?}", started.elapsed());
    for w in waiting {
        let reply = w.join().unwrap().expect("command");
        assert_eq!(reply["status"], 504, "{reply}");
    }
    drop(cp);
}
