//! DESIGN.md's "OCPP-J rules" table, row by row, over a real socket.
//!
//! Each test is one row of the table (or a few closely related rows): a table
//! of cases `(name, frame sent, expected answer)` run for OCPP 1.6, 2.0.1
//! and 2.1 on a gateway that accepts all three. A case asserts on exactly what a
//! charge point sees: the message type id, the message id, the error code in
//! the spelling of the connection's version, `errorDetails` (`{}`, or
//! `{"field": path}` when a field is to blame) and a non-empty description.
//! After every case a Heartbeat must still get its CALLRESULT as the very
//! next frame: the refused frame left the connection usable, and a frame
//! that must not be answered really was not.
//!
//! Tests named `design_gap_*` check a row the gateway does not (yet) follow;
//! they are kept apart so the rest of the table stays green.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use common::*;
use ocpp_gateway::GatewayHandle;
use ocpp_gateway::config::MissingSubprotocol;
use ocpp_gateway::cross_thread::ReactorCounters;
use ocpp_gateway::ocpp::OcppVersion;
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

// ---- versions and their spellings ----------------------------------------

/// The two versions under test, with the wire spellings DESIGN.md gives for
/// each (written out here, not taken from the gateway's own code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V {
    V16,
    V201,
    /// 2.1 spells every code as 2.0.1 does; it differs only in the
    /// message types 5 and 6 (tests/ocpp21.rs).
    V21,
}

const ALL_VERSIONS: [V; 3] = [V::V16, V::V201, V::V21];

impl V {
    fn subprotocol(self) -> &'static str {
        match self {
            V::V16 => "ocpp1.6",
            V::V201 => "ocpp2.0.1",
            V::V21 => "ocpp2.1",
        }
    }

    /// A broken frame whose message id can be read.
    fn frame_error(self) -> &'static str {
        match self {
            V::V16 => "FormationViolation",
            V::V201 | V::V21 => "RpcFrameworkError",
        }
    }

    /// Unknown field / payload not an object.
    fn format_violation(self) -> &'static str {
        match self {
            V::V16 => "FormationViolation",
            V::V201 | V::V21 => "FormatViolation",
        }
    }

    /// Required field missing.
    fn occurrence(self) -> &'static str {
        match self {
            V::V16 => "OccurenceConstraintViolation",
            V::V201 | V::V21 => "OccurrenceConstraintViolation",
        }
    }
}

impl std::fmt::Display for V {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.subprotocol())
    }
}

// ---- gateway and charge point --------------------------------------------

fn both_versions_config() -> ocpp_gateway::Config {
    let mut config = test_config();
    config.ocpp.subprotocols = OcppVersion::ALL.to_vec();
    config
}

fn gateway() -> GatewayHandle {
    start(both_versions_config())
}

/// Sum of every reactor's counters, field by field, for the ones we watch.
fn counter(gw: &GatewayHandle, pick: fn(&ReactorCounters) -> u64) -> u64 {
    gw.reactor_counters().iter().map(pick).sum()
}

/// A charge point speaking one version; reads never panic, so a table can
/// report every failing case instead of stopping at the first.
struct Cp {
    ws: Ws,
    version: V,
    id: String,
    syncs: u32,
}

impl Cp {
    fn open(addr: SocketAddr, version: V, id: &str) -> Cp {
        let (ws, response) = connect(addr, &format!("/ocpp/{id}"), &[version.subprotocol()])
            .unwrap_or_else(|status| panic!("{id}: HTTP {status}"));
        let chosen = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|h| h.to_str().ok());
        assert_eq!(chosen, Some(version.subprotocol()), "{id}");
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Cp {
            ws,
            version,
            id: id.to_owned(),
            syncs: 0,
        }
    }

    fn send(&mut self, text: &str) -> Result<(), String> {
        self.ws
            .send(Message::text(text))
            .map_err(|e| format!("send failed: {e}"))
    }

    /// The next text frame, as JSON.
    fn next(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| format!("answer {text:?} is not JSON: {e}"));
                }
                Ok(Message::Close(frame)) => return Err(format!("closed by gateway: {frame:?}")),
                Ok(Message::Binary(_)) => return Err("binary frame from gateway".into()),
                Ok(_) => continue,
                Err(e) => return Err(format!("no answer: {e}")),
            }
        }
    }

    /// Sends a Heartbeat; the very next frame must be its CALLRESULT.
    fn heartbeat(&mut self) -> Result<(), String> {
        self.syncs += 1;
        let id = format!("hb-{}", self.syncs);
        self.send(&json!([2, id, "Heartbeat", {}]).to_string())?;
        let answer = self.next()?;
        check_heartbeat_answer(&answer, &id)
    }

    /// Sends a CALL and returns the answer frame.
    fn call(&mut self, id: &str, action: &str, payload: Value) -> Value {
        self.send(&call(id, action, payload)).unwrap();
        let answer = self.next().unwrap();
        assert_eq!(
            answer[1], id,
            "{}: answer to the wrong id: {answer}",
            self.id
        );
        answer
    }

    /// Sends a CALL that must be accepted; returns the CALLRESULT payload.
    fn call_ok(&mut self, id: &str, action: &str, payload: Value) -> Value {
        let answer = self.call(id, action, payload);
        assert_eq!(answer.as_array().map(Vec::len), Some(3), "{answer}");
        assert_eq!(answer[0], 3, "{}: {action} refused: {answer}", self.version);
        assert!(answer[2].is_object(), "{answer}");
        answer[2].clone()
    }

    /// Reads until the gateway's close frame; returns its code.
    fn expect_close(&mut self) -> Result<u16, String> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => {
                    // Let tungstenite send the close reply.
                    while self.ws.read().is_ok() {}
                    return Ok(u16::from(frame.code));
                }
                Ok(Message::Close(None)) => return Err("close frame without a code".into()),
                Ok(other) => {
                    if other.is_text() {
                        return Err(format!("expected a close, got {other:?}"));
                    }
                }
                Err(e) => return Err(format!("no close frame: {e}")),
            }
        }
    }
}

fn call(id: &str, action: &str, payload: Value) -> String {
    json!([2, id, action, payload]).to_string()
}

fn assert_recent(value: &Value) -> Result<(), String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("dateTime {value} is not a string"))?;
    let at = humantime::parse_rfc3339(text).map_err(|e| format!("{text}: {e}"))?;
    let skew = SystemTime::now()
        .duration_since(at)
        .unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(5) {
        return Err(format!("{text} is not now"));
    }
    Ok(())
}

fn check_heartbeat_answer(answer: &Value, id: &str) -> Result<(), String> {
    let ok = answer.as_array().is_some_and(|a| a.len() == 3)
        && answer[0] == 3
        && answer[1] == id
        && answer[2].as_object().is_some_and(|o| o.len() == 1);
    if !ok {
        return Err(format!(
            "the next frame was not the CALLRESULT of Heartbeat {id:?}: {answer}"
        ));
    }
    assert_recent(&answer[2]["currentTime"])
}

// ---- the table runner -----------------------------------------------------

#[derive(Clone, Debug)]
enum Expect {
    /// `[4, id, code, description, details]`; details `{"field": f}` or `{}`.
    Error {
        id: String,
        code: &'static str,
        field: Option<String>,
    },
    /// `[3, id, payload]`, payload exactly this.
    Result { id: String, payload: Value },
    /// No answer at all: the next frame is the following Heartbeat's answer.
    Nothing,
}

fn error(id: &str, code: &'static str) -> Expect {
    Expect::Error {
        id: id.to_owned(),
        code,
        field: None,
    }
}

fn error_at(id: &str, code: &'static str, field: &str) -> Expect {
    Expect::Error {
        id: id.to_owned(),
        code,
        field: Some(field.to_owned()),
    }
}

fn result(id: &str, payload: Value) -> Expect {
    Expect::Result {
        id: id.to_owned(),
        payload,
    }
}

struct Case {
    name: &'static str,
    frame: String,
    expect: Expect,
}

fn case(name: &'static str, frame: impl Into<String>, expect: Expect) -> Case {
    Case {
        name,
        frame: frame.into(),
        expect,
    }
}

fn check_answer(expect: &Expect, answer: &Value) -> Result<(), String> {
    let elements = answer.as_array().map_or(0, Vec::len);
    match expect {
        Expect::Error { id, code, field } => {
            let details = match field {
                Some(f) => json!({ "field": f }),
                None => json!({}),
            };
            let description_ok = answer[3].as_str().is_some_and(|d| !d.trim().is_empty());
            if elements != 5
                || answer[0] != 4
                || answer[1] != id.as_str()
                || answer[2] != *code
                || !description_ok
                || answer[4] != details
            {
                return Err(format!(
                    "expected [4,{id:?},{code:?},<description>,{details}], got {answer}"
                ));
            }
        }
        Expect::Result { id, payload } => {
            if elements != 3 || answer[0] != 3 || answer[1] != id.as_str() || answer[2] != *payload
            {
                return Err(format!("expected [3,{id:?},{payload}], got {answer}"));
            }
        }
        Expect::Nothing => unreachable!("nothing to compare"),
    }
    Ok(())
}

fn run_case(cp: &mut Cp, case: &Case) -> Result<(), String> {
    cp.send(&case.frame)?;
    if !matches!(case.expect, Expect::Nothing) {
        let answer = cp.next()?;
        eprintln!("[{}] {}: {} -> {answer}", cp.version, case.name, case.frame);
        check_answer(&case.expect, &answer)?;
    } else {
        eprintln!(
            "[{}] {}: {} -> (nothing)",
            cp.version, case.name, case.frame
        );
    }
    cp.heartbeat()
        .map_err(|e| format!("after the frame, Heartbeat failed: {e}"))
}

/// Runs `cases` on one connection of `version`; returns the failures. A
/// failing case gets a fresh connection so the next case starts clean.
fn run_table(gw: &GatewayHandle, version: V, table: &str, cases: &[Case]) -> Vec<String> {
    let addr = gw.local_addr();
    let mut connections = 0;
    let open = |connections: &mut u32| {
        *connections += 1;
        let id = format!(
            "{table}-{}-{connections}",
            version.subprotocol().replace('.', "")
        );
        Cp::open(addr, version, &id)
    };
    let mut cp = open(&mut connections);
    let mut failures = Vec::new();
    for case in cases {
        if let Err(why) = run_case(&mut cp, case) {
            failures.push(format!(
                "[{version}] {table} / {}: sent {}\n    {why}",
                case.name, case.frame
            ));
            cp = open(&mut connections);
        }
    }
    failures
}

fn assert_no_failures(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs each version's table on one gateway; asserts once at the end.
fn run_tables(gw: &GatewayHandle, table: &str, cases: impl Fn(V) -> Vec<Case>) -> usize {
    let mut failures = Vec::new();
    let mut total = 0;
    for v in ALL_VERSIONS {
        let cases = cases(v);
        total += cases.len();
        failures.extend(run_table(gw, v, table, &cases));
    }
    assert_no_failures(&failures, total);
    total
}

/// 1.6 stays silent where 2.0.1 answers with id "-1" (unreadable frames).
fn unreadable(v: V, code: &'static str) -> Expect {
    match v {
        V::V16 => Expect::Nothing,
        V::V201 | V::V21 => error("-1", code),
    }
}

// ---- row: text frame not JSON, not an array, wrong arity, wrong element types

/// A malformed CALLRESULT or CALLERROR gets no answer (OCPP-J 1.6 §4.2.3:
/// a CALLERROR answers a CALL only); it is logged and counted.
fn broken_frame_cases(v: V) -> Vec<Case> {
    let fe = v.frame_error();
    let rpc = unreadable(v, "RpcFrameworkError");
    vec![
        case("not JSON", "this is not json", rpc.clone()),
        case("truncated JSON", r#"[2,"tr-1","Heartbeat",{"#, rpc.clone()),
        case("empty text frame", "", rpc.clone()),
        case("not an array: object", r#"{"a":1}"#, rpc.clone()),
        case("not an array: string", r#""hello""#, rpc.clone()),
        case("not an array: number", "42", rpc.clone()),
        case("not an array: null", "null", rpc.clone()),
        case("empty array", "[]", rpc.clone()),
        case("only a message type id", "[2]", rpc.clone()),
        case(
            "CALL with 3 elements",
            r#"[2,"ar-1","Heartbeat"]"#,
            error("ar-1", fe),
        ),
        case(
            "CALL with 5 elements",
            r#"[2,"ar-2","Heartbeat",{},{}]"#,
            error("ar-2", fe),
        ),
        case(
            "CALL with 7 elements",
            r#"[2,"ar-3","Heartbeat",{},1,2,3]"#,
            error("ar-3", fe),
        ),
        case(
            "CALLRESULT with 4 elements",
            r#"[3,"ar-4",{},{}]"#,
            Expect::Nothing,
        ),
        case(
            "CALLRESULT with 2 elements",
            r#"[3,"ar-5"]"#,
            Expect::Nothing,
        ),
        case(
            "CALLERROR with 4 elements",
            r#"[4,"ar-6","GenericError","boom"]"#,
            Expect::Nothing,
        ),
        case(
            "messageTypeId is a string",
            r#"["2","et-1","Heartbeat",{}]"#,
            error("et-1", fe),
        ),
        case(
            "messageTypeId is null",
            r#"[null,"et-2","Heartbeat",{}]"#,
            error("et-2", fe),
        ),
        case(
            "messageTypeId is a decimal",
            r#"[2.5,"et-3","Heartbeat",{}]"#,
            error("et-3", fe),
        ),
        case(
            "messageId is a number",
            r#"[2,17,"Heartbeat",{}]"#,
            rpc.clone(),
        ),
        case(
            "messageId is an object",
            r#"[2,{"id":"x"},"Heartbeat",{}]"#,
            rpc.clone(),
        ),
        case(
            "action is a number",
            r#"[2,"et-4",7,{}]"#,
            error("et-4", fe),
        ),
        case("action is null", r#"[2,"et-5",null,{}]"#, error("et-5", fe)),
        case(
            "CALLERROR errorCode is a number",
            r#"[4,"et-7",5,"boom",{}]"#,
            Expect::Nothing,
        ),
        case(
            "CALLERROR errorDetails is a string",
            r#"[4,"et-8","GenericError","boom","x"]"#,
            Expect::Nothing,
        ),
    ]
}

#[test]
fn row_broken_text_frames_are_refused_and_the_connection_stays() {
    let gw = gateway();
    let sent = run_tables(&gw, "broken", broken_frame_cases);
    // Every one of them, answered or not, is logged and counted.
    wait_for("frame_errors counted", Duration::from_secs(5), || {
        counter(&gw, |c| c.frame_errors) >= sent as u64
    });
    assert_eq!(counter(&gw, |c| c.frame_errors), sent as u64);
    stop(gw);
}

// ---- row: message id over 36 chars ----------------------------------------

fn message_id_cases(v: V) -> Vec<Case> {
    let fe = v.frame_error();
    let id36 = "x".repeat(36);
    let id37 = "y".repeat(37);
    let wide36 = "é".repeat(36); // 36 characters, 72 bytes
    let wide37 = "é".repeat(37);
    let status = |v: V| match v {
        V::V16 => json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        V::V201 | V::V21 => {
            json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Available",
                          "evseId": 1, "connectorId": 1})
        }
    };
    vec![
        case(
            "37-character id on a CALL",
            call(&id37, "StatusNotification", status(v)),
            error(&id37, fe),
        ),
        case(
            "37 non-ASCII characters",
            call(&wide37, "StatusNotification", status(v)),
            error(&wide37, fe),
        ),
        case(
            "37-character id on a CALLRESULT: not answered",
            json!([3, "z".repeat(37), {}]).to_string(),
            Expect::Nothing,
        ),
        case(
            "65-character id: too long to echo, unreadable",
            call(&"w".repeat(65), "StatusNotification", status(v)),
            unreadable(v, "RpcFrameworkError"),
        ),
        case(
            "64-character id: still echoed",
            call(&"v".repeat(64), "StatusNotification", status(v)),
            error(&"v".repeat(64), fe),
        ),
        case(
            "36-character id is accepted",
            call(&id36, "StatusNotification", status(v)),
            result(&id36, json!({})),
        ),
        case(
            "36 non-ASCII characters are accepted",
            call(&wide36, "StatusNotification", status(v)),
            result(&wide36, json!({})),
        ),
    ]
}

#[test]
fn row_message_id_over_36_characters_is_refused() {
    let gw = gateway();
    run_tables(&gw, "msgid", message_id_cases);
    stop(gw);
}

// ---- row: message type id not 2, 3 or 4 -----------------------------------

fn message_type_cases(v: V) -> Vec<Case> {
    // 1.6: ignored (§4.1.3); 2.0.1: MessageTypeNotSupported.
    let unsupported = |id: &str| match v {
        V::V16 => Expect::Nothing,
        V::V201 | V::V21 => error(id, "MessageTypeNotSupported"),
    };
    vec![
        // On 2.1 type 5 exists: a broken CALLRESULTERROR is never answered.
        case(
            "type 5",
            r#"[5,"mt-1",{}]"#,
            if v == V::V21 {
                Expect::Nothing
            } else {
                unsupported("mt-1")
            },
        ),
        case(
            "type 0",
            r#"[0,"mt-2","Heartbeat",{}]"#,
            unsupported("mt-2"),
        ),
        case(
            "type 1",
            r#"[1,"mt-3","Heartbeat",{}]"#,
            unsupported("mt-3"),
        ),
        // 2.1's SEND, here with a payload that is not an object: on 2.1 a
        // broken frame that is never answered.
        case(
            "type 6 (2.1 SEND)",
            r#"[6,"mt-4","NotifyPeriodicEventStream",[]]"#,
            if v == V::V21 {
                Expect::Nothing
            } else {
                unsupported("mt-4")
            },
        ),
        case("type -1", r#"[-1,"mt-5",{}]"#, unsupported("mt-5")),
        case("type 99", r#"[99,"mt-6"]"#, unsupported("mt-6")),
    ]
}

#[test]
fn row_unknown_message_type_is_ignored_on_16_and_refused_on_201() {
    let gw = gateway();
    let sent = run_tables(&gw, "msgtype", message_type_cases);
    wait_for("frame_errors counted", Duration::from_secs(5), || {
        counter(&gw, |c| c.frame_errors) >= sent as u64
    });
    assert_eq!(counter(&gw, |c| c.frame_errors), sent as u64);
    stop(gw);
}

// ---- rows: action unknown / known but not handled ------------------------

fn action_cases(v: V) -> Vec<Case> {
    let mut cases = vec![
        case(
            "unknown action",
            call("ac-1", "Teleport", json!({})),
            error("ac-1", "NotImplemented"),
        ),
        case(
            "action in the wrong case",
            call("ac-2", "heartbeat", json!({})),
            error("ac-2", "NotImplemented"),
        ),
        case(
            "empty action",
            call("ac-3", "", json!({})),
            error("ac-3", "NotImplemented"),
        ),
    ];
    match v {
        V::V16 => cases.extend([
            case(
                "2.0.1-only action",
                call("ac-4", "TransactionEvent", json!({})),
                error("ac-4", "NotImplemented"),
            ),
            case(
                "Reset sent by a charge point",
                call("ac-5", "Reset", json!({"type": "Soft"})),
                error("ac-5", "NotSupported"),
            ),
            case(
                "Reset with a bad payload is still NotSupported",
                call("ac-6", "Reset", json!({"type": 5, "x": 1})),
                error("ac-6", "NotSupported"),
            ),
            case(
                "RemoteStartTransaction sent by a charge point",
                call("ac-7", "RemoteStartTransaction", json!({"idTag": "T"})),
                error("ac-7", "NotSupported"),
            ),
        ]),
        V::V201 | V::V21 => cases.extend([
            case(
                "1.6-only action",
                call("ac-4", "StartTransaction", json!({})),
                error("ac-4", "NotImplemented"),
            ),
            case(
                "NotifyChargingLimit",
                call(
                    "ac-5",
                    "NotifyChargingLimit",
                    json!({"chargingLimit": {"chargingLimitSource": "EMS"}}),
                ),
                error("ac-5", "NotSupported"),
            ),
            case(
                "NotifyChargingLimit with a bad payload is still NotSupported",
                call("ac-6", "NotifyChargingLimit", json!({"x": 1})),
                error("ac-6", "NotSupported"),
            ),
            case(
                "Reset sent by a charging station",
                call("ac-7", "Reset", json!({"type": "Immediate"})),
                error("ac-7", "NotSupported"),
            ),
        ]),
    }
    cases
}

#[test]
fn row_unknown_action_not_implemented_known_unhandled_not_supported() {
    let gw = gateway();
    run_tables(&gw, "action", action_cases);
    stop(gw);
}

// ---- rows: payload breaks the schema -------------------------------------

fn payload_cases(v: V) -> Vec<Case> {
    let occ = v.occurrence();
    let typ = "TypeConstraintViolation";
    let prop = "PropertyConstraintViolation";
    let fmt = v.format_violation();
    let mut cases = match v {
        V::V16 => vec![
            // required field missing
            case(
                "Authorize without idTag",
                call("pl-1", "Authorize", json!({})),
                error_at("pl-1", occ, "idTag"),
            ),
            case(
                "BootNotification without chargePointModel",
                call(
                    "pl-2",
                    "BootNotification",
                    json!({"chargePointVendor": "Acme"}),
                ),
                error_at("pl-2", occ, "chargePointModel"),
            ),
            case(
                "MeterValues without meterValue[0].timestamp",
                call(
                    "pl-3",
                    "MeterValues",
                    json!({"connectorId": 1, "meterValue": [{"sampledValue": [{"value": "1"}]}]}),
                ),
                error_at("pl-3", occ, "meterValue[0].timestamp"),
            ),
            // wrong JSON type
            case(
                "idTag is a number",
                call("pl-4", "Authorize", json!({"idTag": 5})),
                error_at("pl-4", typ, "idTag"),
            ),
            case(
                "connectorId is a string",
                call(
                    "pl-5",
                    "StatusNotification",
                    json!({"connectorId": "1", "errorCode": "NoError", "status": "Available"}),
                ),
                error_at("pl-5", typ, "connectorId"),
            ),
            case(
                "meterValue is an object",
                call(
                    "pl-6",
                    "MeterValues",
                    json!({"connectorId": 1, "meterValue": {}}),
                ),
                error_at("pl-6", typ, "meterValue"),
            ),
            case(
                "integer given a decimal",
                call(
                    "pl-7",
                    "StatusNotification",
                    json!({"connectorId": 1.5, "errorCode": "NoError", "status": "Available"}),
                ),
                error_at("pl-7", typ, "connectorId"),
            ),
            // bad enum, string too long
            case(
                "bad enum value",
                call(
                    "pl-8",
                    "StatusNotification",
                    json!({"connectorId": 1, "errorCode": "NoError", "status": "Flying"}),
                ),
                error_at("pl-8", prop, "status"),
            ),
            case(
                "enum in the wrong case",
                call(
                    "pl-9",
                    "StatusNotification",
                    json!({"connectorId": 1, "errorCode": "noerror", "status": "Available"}),
                ),
                error_at("pl-9", prop, "errorCode"),
            ),
            case(
                "idTag of 21 characters",
                call("pl-10", "Authorize", json!({"idTag": "T".repeat(21)})),
                error_at("pl-10", prop, "idTag"),
            ),
            case(
                "idTag of 20 characters is accepted",
                call("pl-11", "Authorize", json!({"idTag": "T".repeat(20)})),
                result("pl-11", json!({"idTagInfo": {"status": "Accepted"}})),
            ),
            // (no OCPP 1.6 schema has a minimum or maximum: no range case)
            // bad date-time
            case(
                "timestamp is not a date-time",
                call(
                    "pl-12",
                    "StatusNotification",
                    json!({"connectorId": 1, "errorCode": "NoError", "status": "Available",
                           "timestamp": "yesterday"}),
                ),
                error_at("pl-12", prop, "timestamp"),
            ),
            case(
                "timestamp with month 13",
                call(
                    "pl-13",
                    "StatusNotification",
                    json!({"connectorId": 1, "errorCode": "NoError", "status": "Available",
                           "timestamp": "2026-13-01T00:00:00Z"}),
                ),
                error_at("pl-13", prop, "timestamp"),
            ),
            // unknown field
            case(
                "unknown top-level field",
                call("pl-14", "Heartbeat", json!({"foo": 1})),
                error_at("pl-14", fmt, "foo"),
            ),
            case(
                "unknown nested field",
                call(
                    "pl-15",
                    "MeterValues",
                    json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-11-24T10:00:00Z",
                           "sampledValue": [{"value": "1", "bogus": true}]}]}),
                ),
                error_at("pl-15", fmt, "meterValue[0].sampledValue[0].bogus"),
            ),
        ],
        V::V201 | V::V21 => vec![
            // required field missing
            case(
                "Authorize without idToken",
                call("pl-1", "Authorize", json!({})),
                error_at("pl-1", occ, "idToken"),
            ),
            case(
                "idToken without type",
                call("pl-2", "Authorize", json!({"idToken": {"idToken": "T"}})),
                error_at("pl-2", occ, "idToken.type"),
            ),
            case(
                "BootNotification without reason",
                call(
                    "pl-3",
                    "BootNotification",
                    json!({"chargingStation": {"model": "X1", "vendorName": "Acme"}}),
                ),
                error_at("pl-3", occ, "reason"),
            ),
            // wrong JSON type
            case(
                "idToken is a string",
                call("pl-4", "Authorize", json!({"idToken": "T"})),
                error_at("pl-4", typ, "idToken"),
            ),
            case(
                "evseId is a string",
                call(
                    "pl-5",
                    "StatusNotification",
                    json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Available",
                           "evseId": "1", "connectorId": 1}),
                ),
                error_at("pl-5", typ, "evseId"),
            ),
            case(
                "sampledValue value is a string",
                call(
                    "pl-6",
                    "MeterValues",
                    json!({"evseId": 1, "meterValue": [{"timestamp": "2026-11-24T10:00:00Z",
                           "sampledValue": [{"value": "12"}]}]}),
                ),
                error_at("pl-6", typ, "meterValue[0].sampledValue[0].value"),
            ),
            case(
                "integer given a decimal",
                call(
                    "pl-7",
                    "StatusNotification",
                    json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Available",
                           "evseId": 1.5, "connectorId": 1}),
                ),
                error_at("pl-7", typ, "evseId"),
            ),
            case(
                "integer given 1.0 is accepted (draft-06)",
                call(
                    "pl-8",
                    "StatusNotification",
                    json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Available",
                           "evseId": 1.0, "connectorId": 1}),
                ),
                result("pl-8", json!({})),
            ),
            // bad enum, string too long
            case(
                "bad enum value",
                call(
                    "pl-9",
                    "StatusNotification",
                    json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Flying",
                           "evseId": 1, "connectorId": 1}),
                ),
                error_at("pl-9", prop, "connectorStatus"),
            ),
            case(
                "bad nested enum value",
                // (not idToken.type: an enum in 2.0.1, any string in 2.1)
                call(
                    "pl-10",
                    "Authorize",
                    json!({"idToken": {"idToken": "T", "type": "ISO14443"},
                           "iso15118CertificateHashData": [{"hashAlgorithm": "MD5",
                               "issuerNameHash": "a", "issuerKeyHash": "b",
                               "serialNumber": "c", "responderURL": "http://x"}]}),
                ),
                error_at(
                    "pl-10",
                    prop,
                    "iso15118CertificateHashData[0].hashAlgorithm",
                ),
            ),
            // maxLength 36 in 2.0.1, 255 in 2.1
            case(
                "idToken over its maxLength",
                call(
                    "pl-11",
                    "Authorize",
                    json!({"idToken": {"idToken": "T".repeat(if v == V::V21 { 256 } else { 37 }),
                           "type": "ISO14443"}}),
                ),
                error_at("pl-11", prop, "idToken.idToken"),
            ),
            case(
                "chargingStation.model of 21 characters",
                call(
                    "pl-12",
                    "BootNotification",
                    json!({"reason": "PowerUp",
                           "chargingStation": {"model": "M".repeat(21), "vendorName": "Acme"}}),
                ),
                error_at("pl-12", prop, "chargingStation.model"),
            ),
            case(
                "idToken of 36 characters is accepted",
                call(
                    "pl-13",
                    "Authorize",
                    json!({"idToken": {"idToken": "T".repeat(36), "type": "ISO14443"}}),
                ),
                result("pl-13", json!({"idTokenInfo": {"status": "Accepted"}})),
            ),
            // (minimum/maximum appear only in schemas of actions the gateway
            // does not handle, which are NotSupported before validation)
            // bad date-time
            case(
                "timestamp is not a date-time",
                call(
                    "pl-14",
                    "StatusNotification",
                    json!({"timestamp": "not-a-date", "connectorStatus": "Available",
                           "evseId": 1, "connectorId": 1}),
                ),
                error_at("pl-14", prop, "timestamp"),
            ),
            case(
                "timestamp on 30 February",
                call(
                    "pl-15",
                    "StatusNotification",
                    json!({"timestamp": "2026-02-30T00:00:00Z", "connectorStatus": "Available",
                           "evseId": 1, "connectorId": 1}),
                ),
                error_at("pl-15", prop, "timestamp"),
            ),
            // unknown field
            case(
                "unknown top-level field",
                call("pl-16", "Heartbeat", json!({"foo": 1})),
                error_at("pl-16", fmt, "foo"),
            ),
            case(
                "unknown nested field",
                call(
                    "pl-17",
                    "Authorize",
                    json!({"idToken": {"idToken": "T", "type": "ISO14443", "colour": "red"}}),
                ),
                error_at("pl-17", fmt, "idToken.colour"),
            ),
            case(
                "customData may carry vendor fields",
                call(
                    "pl-18",
                    "StatusNotification",
                    json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Available",
                           "evseId": 1, "connectorId": 1,
                           "customData": {"vendorId": "acme", "extra": [1, 2]}}),
                ),
                result("pl-18", json!({})),
            ),
        ],
    };
    // Payload not an object: the payload row, not the element-type row.
    cases.extend([
        case(
            "payload is an array",
            r#"[2,"np-1","Heartbeat",[]]"#,
            error("np-1", fmt),
        ),
        case(
            "payload is a string",
            r#"[2,"np-2","Heartbeat","{}"]"#,
            error("np-2", fmt),
        ),
        case(
            "payload is null",
            r#"[2,"np-3","Heartbeat",null]"#,
            error("np-3", fmt),
        ),
        case(
            "payload is a number",
            r#"[2,"np-4","Heartbeat",0]"#,
            error("np-4", fmt),
        ),
        case(
            "payload is true",
            r#"[2,"np-5","Authorize",true]"#,
            error("np-5", fmt),
        ),
    ]);
    cases
}

#[test]
fn rows_payload_schema_violations_name_code_and_field() {
    let gw = gateway();
    run_tables(&gw, "payload", payload_cases);
    stop(gw);
}

// ---- row: CALLRESULT/CALLERROR whose id we did not send --------------------

fn unsolicited_cases(_: V) -> Vec<Case> {
    vec![
        case(
            "CALLRESULT, unknown id",
            r#"[3,"never-1",{}]"#,
            Expect::Nothing,
        ),
        case(
            "CALLRESULT with a payload, unknown id",
            r#"[3,"never-2",{"status":"Accepted"}]"#,
            Expect::Nothing,
        ),
        case(
            "CALLERROR, unknown id",
            r#"[4,"never-3","GenericError","boom",{}]"#,
            Expect::Nothing,
        ),
        case(
            "CALLRESULT with the id of the charge point's own last CALL",
            r#"[3,"hb-1",{}]"#,
            Expect::Nothing,
        ),
    ]
}

#[test]
fn row_results_for_ids_never_sent_are_ignored_and_counted() {
    let gw = gateway();
    let sent = run_tables(&gw, "unsolicited", unsolicited_cases) as u64;
    wait_for(
        "unsolicited_results counted",
        Duration::from_secs(5),
        || counter(&gw, |c| c.unsolicited_results) >= sent,
    );
    assert_eq!(counter(&gw, |c| c.unsolicited_results), sent);
    assert_eq!(counter(&gw, |c| c.frame_errors), 0);
    stop(gw);
}

// ---- row: a second CALL before the first is answered ----------------------

#[test]
fn row_calls_sent_before_answers_are_all_answered_in_order() {
    let gw = gateway();
    for v in ALL_VERSIONS {
        let mut cp = Cp::open(gw.local_addr(), v, &format!("PIPE-{}", v.subprotocol()));
        let (status, auth, auth_ok, auth_field) = match v {
            V::V16 => (
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
                json!({"idTag": "TAG"}),
                json!({"idTagInfo": {"status": "Accepted"}}),
                "idTag",
            ),
            V::V201 | V::V21 => (
                json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Available",
                       "evseId": 1, "connectorId": 1}),
                json!({"idToken": {"idToken": "TAG", "type": "ISO14443"}}),
                json!({"idTokenInfo": {"status": "Accepted"}}),
                "idToken",
            ),
        };
        // Mixed: accepted, refused by the processor, refused at the envelope.
        let frames = [
            (
                call("p-1", "StatusNotification", status.clone()),
                result("p-1", json!({})),
            ),
            (
                call("p-2", "Authorize", json!({})),
                error_at("p-2", v.occurrence(), auth_field),
            ),
            (
                r#"[2,"p-3","Heartbeat"]"#.to_owned(),
                error("p-3", v.frame_error()),
            ),
            (
                call("p-4", "Teleport", json!({})),
                error("p-4", "NotImplemented"),
            ),
            (
                call("p-5", "Authorize", auth.clone()),
                result("p-5", auth_ok.clone()),
            ),
        ];
        // All written before reading anything, in one flush.
        for (frame, _) in &frames {
            cp.ws.write(Message::text(frame.as_str())).unwrap();
        }
        cp.ws.flush().unwrap();
        for (frame, expect) in &frames {
            let answer = cp.next().unwrap();
            check_answer(expect, &answer).unwrap_or_else(|e| panic!("[{v}] {frame}: {e}"));
        }
        // And many of the same kind, back to back.
        let ids: Vec<String> = (0..50).map(|i| format!("q-{i}")).collect();
        for id in &ids {
            cp.ws
                .write(Message::text(call(
                    id,
                    "StatusNotification",
                    status.clone(),
                )))
                .unwrap();
        }
        cp.ws.flush().unwrap();
        for id in &ids {
            let answer = cp.next().unwrap();
            check_answer(&result(id, json!({})), &answer)
                .unwrap_or_else(|e| panic!("[{v}] pipelined {id}: {e}"));
        }
        cp.heartbeat().unwrap();
    }
    stop(gw);
}

// ---- rows: binary frame, frame or message over max_message_size -----------

#[test]
fn row_binary_frame_closes_1003() {
    let gw = gateway();
    for v in ALL_VERSIONS {
        let mut cp = Cp::open(gw.local_addr(), v, &format!("BIN-{}", v.subprotocol()));
        cp.heartbeat().unwrap();
        cp.ws
            .send(Message::binary(br#"[2,"b-1","Heartbeat",{}]"#.to_vec()))
            .unwrap();
        assert_eq!(cp.expect_close(), Ok(1003), "[{v}]");
    }
    wait_for("connections freed", Duration::from_secs(5), || {
        gw.open_connections() == 0
    });
    stop(gw);
}

/// A DataTransfer CALL (same shape in 1.6 and 2.0.1) of exactly `size` bytes.
fn data_transfer_of_size(v: V, id: &str, size: usize) -> String {
    let frame = |data: &str| call(id, "DataTransfer", json!({"vendorId": "v", "data": data}));
    let overhead = frame("").len();
    let text = frame(&"d".repeat(size - overhead));
    assert_eq!(text.len(), size, "[{v}]");
    text
}

#[test]
fn row_frame_or_message_over_max_message_size_closes_1009() {
    const MAX: usize = 4096;
    let mut config = both_versions_config();
    config.websocket.max_message_size = MAX;
    let gw = start(config);
    let addr = gw.local_addr();
    let unknown_vendor = json!({"status": "UnknownVendorId"});
    for v in ALL_VERSIONS {
        let name = |what: &str| format!("BIG-{what}-{}", v.subprotocol());

        // Exactly the limit: answered, connection stays.
        let mut cp = Cp::open(addr, v, &name("at"));
        cp.send(&data_transfer_of_size(v, "at-limit", MAX)).unwrap();
        let answer = cp.next().unwrap();
        check_answer(&result("at-limit", unknown_vendor.clone()), &answer).unwrap();
        cp.heartbeat().unwrap();

        // One frame one byte over the limit.
        let mut cp = Cp::open(addr, v, &name("frame"));
        cp.send(&data_transfer_of_size(v, "over-1", MAX + 1))
            .unwrap();
        assert_eq!(cp.expect_close(), Ok(1009), "[{v}] single frame");

        // A much larger frame.
        let mut cp = Cp::open(addr, v, &name("huge"));
        cp.send(&data_transfer_of_size(v, "over-2", 64 * 1024))
            .unwrap();
        assert_eq!(cp.expect_close(), Ok(1009), "[{v}] 64 KiB frame");

        // A message over the limit in frames each under it.
        let mut cp = Cp::open(addr, v, &name("fragments"));
        let text = data_transfer_of_size(v, "over-3", MAX + 1);
        let (a, b) = text.as_bytes().split_at(MAX / 2);
        let (b, c) = b.split_at(MAX / 2);
        cp.ws
            .write(Message::Frame(Frame::message(
                a.to_vec(),
                OpCode::Data(Data::Text),
                false,
            )))
            .unwrap();
        cp.ws
            .write(Message::Frame(Frame::message(
                b.to_vec(),
                OpCode::Data(Data::Continue),
                false,
            )))
            .unwrap();
        cp.ws
            .write(Message::Frame(Frame::message(
                c.to_vec(),
                OpCode::Data(Data::Continue),
                true,
            )))
            .unwrap();
        cp.ws.flush().unwrap();
        assert_eq!(cp.expect_close(), Ok(1009), "[{v}] fragmented message");

        // A fragmented message under the limit is fine.
        let mut cp = Cp::open(addr, v, &name("fragments-ok"));
        let text = data_transfer_of_size(v, "frag-ok", MAX);
        let (a, b) = text.as_bytes().split_at(MAX / 2);
        cp.ws
            .write(Message::Frame(Frame::message(
                a.to_vec(),
                OpCode::Data(Data::Text),
                false,
            )))
            .unwrap();
        cp.ws
            .write(Message::Frame(Frame::message(
                b.to_vec(),
                OpCode::Data(Data::Continue),
                true,
            )))
            .unwrap();
        cp.ws.flush().unwrap();
        let answer = cp.next().unwrap();
        check_answer(&result("frag-ok", unknown_vendor.clone()), &answer).unwrap();
        cp.heartbeat().unwrap();
    }
    stop(gw);
}

// ---- row: WebSocket ping → pong -------------------------------------------

#[test]
fn row_websocket_ping_gets_a_pong() {
    let gw = gateway();
    for v in ALL_VERSIONS {
        let mut cp = Cp::open(gw.local_addr(), v, &format!("PING-{}", v.subprotocol()));
        for payload in [&b"are you there"[..], b""] {
            cp.ws.send(Message::Ping(payload.to_vec().into())).unwrap();
            loop {
                match cp.ws.read().expect("read") {
                    Message::Pong(data) => {
                        assert_eq!(&data[..], payload, "[{v}]");
                        break;
                    }
                    Message::Ping(_) => continue,
                    other => panic!("[{v}] expected a pong, got {other:?}"),
                }
            }
            cp.heartbeat().unwrap();
        }
    }
    stop(gw);
}

// ---- row: no frame for ping_interval + pong_timeout -----------------------

#[test]
fn row_silent_peer_is_dropped_and_freed() {
    let mut config = both_versions_config();
    config.websocket.ping_interval = Duration::from_millis(200);
    config.websocket.pong_timeout = Duration::from_millis(200);
    let gw = start(config);
    // These never read, so never answer the gateway's pings.
    let silent: Vec<Cp> = ALL_VERSIONS
        .iter()
        .map(|&v| Cp::open(gw.local_addr(), v, &format!("SILENT-{}", v.subprotocol())))
        .collect();
    wait_for("every connection open", Duration::from_secs(5), || {
        gw.open_connections() == ALL_VERSIONS.len()
    });
    wait_for("silent peers dropped", Duration::from_secs(5), || {
        gw.open_connections() == 0
    });
    wait_for("dead_peer_closes counted", Duration::from_secs(5), || {
        counter(&gw, |c| c.dead_peer_closes) == ALL_VERSIONS.len() as u64
    });
    drop(silent);
    stop(gw);
}

// ---- 2.0.1 happy paths, field by field ------------------------------------

#[test]
fn v201_charging_station_calls_are_answered_field_by_field() {
    let mut config = both_versions_config();
    config.ocpp.heartbeat_interval = Duration::from_secs(120);
    config.ocpp.data_transfer_vendors = vec!["com.acme".into()];
    let gw = start(config);
    let mut cs = Cp::open(gw.local_addr(), V::V201, "CS-201");

    let boot = cs.call_ok(
        "b-1",
        "BootNotification",
        json!({"reason": "PowerUp", "chargingStation": {"model": "X1", "vendorName": "Acme",
               "serialNumber": "SN-1", "firmwareVersion": "1.0",
               "modem": {"iccid": "8931", "imsi": "2620"}}}),
    );
    assert_eq!(boot["status"], "Accepted", "{boot}");
    assert_eq!(boot["interval"], 120, "{boot}");
    assert_recent(&boot["currentTime"]).unwrap();
    assert_eq!(boot.as_object().unwrap().len(), 3, "{boot}");

    let hb = cs.call_ok("h-1", "Heartbeat", json!({}));
    assert_recent(&hb["currentTime"]).unwrap();
    assert_eq!(hb.as_object().unwrap().len(), 1, "{hb}");

    let status = cs.call_ok(
        "s-1",
        "StatusNotification",
        json!({"timestamp": "2026-11-24T10:00:00Z", "connectorStatus": "Occupied",
               "evseId": 1, "connectorId": 1}),
    );
    assert_eq!(status, json!({}));

    let auth = cs.call_ok(
        "a-1",
        "Authorize",
        json!({"idToken": {"idToken": "TAG-1", "type": "ISO14443",
               "additionalInfo": [{"additionalIdToken": "X", "type": "y"}]}}),
    );
    assert_eq!(auth, json!({"idTokenInfo": {"status": "Accepted"}}));

    let started = cs.call_ok(
        "t-1",
        "TransactionEvent",
        json!({"eventType": "Started", "timestamp": "2026-11-24T10:00:01Z",
               "triggerReason": "Authorized", "seqNo": 0,
               "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"},
               "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
               "evse": {"id": 1, "connectorId": 1},
               "meterValue": [{"timestamp": "2026-11-24T10:00:01Z", "sampledValue": [
                   {"value": 0.0, "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "Wh", "multiplier": 0}}]}]}),
    );
    assert_eq!(started, json!({"idTokenInfo": {"status": "Accepted"}}));

    let updated = cs.call_ok(
        "t-2",
        "TransactionEvent",
        json!({"eventType": "Updated", "timestamp": "2026-11-24T10:05:00Z",
               "triggerReason": "MeterValuePeriodic", "seqNo": 1,
               "transactionInfo": {"transactionId": "TX-1"}}),
    );
    assert_eq!(updated, json!({}));

    let meter = cs.call_ok(
        "m-1",
        "MeterValues",
        json!({"evseId": 1, "meterValue": [{"timestamp": "2026-11-24T10:05:00Z",
               "sampledValue": [{"value": 1234.5, "measurand": "Energy.Active.Import.Register",
                                 "context": "Sample.Periodic", "phase": "L1",
                                 "location": "Outlet"}]}]}),
    );
    assert_eq!(meter, json!({}));

    let event = cs.call_ok(
        "e-1",
        "NotifyEvent",
        json!({"generatedAt": "2026-11-24T10:06:00Z", "seqNo": 0, "tbc": false,
               "eventData": [{"eventId": 1, "timestamp": "2026-11-24T10:06:00Z",
                              "trigger": "Alerting", "actualValue": "Faulted",
                              "eventNotificationType": "HardWiredNotification",
                              "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                              "variable": {"name": "AvailabilityState"}}]}),
    );
    assert_eq!(event, json!({}));

    let known = cs.call_ok(
        "d-1",
        "DataTransfer",
        json!({"vendorId": "com.acme", "messageId": "m", "data": {"any": ["json", 1]}}),
    );
    assert_eq!(known, json!({"status": "Accepted"}));
    let unknown = cs.call_ok("d-2", "DataTransfer", json!({"vendorId": "org.other"}));
    assert_eq!(unknown, json!({"status": "UnknownVendorId"}));

    let ended = cs.call_ok(
        "t-3",
        "TransactionEvent",
        json!({"eventType": "Ended", "timestamp": "2026-11-24T10:10:00Z",
               "triggerReason": "StopAuthorized", "seqNo": 2,
               "transactionInfo": {"transactionId": "TX-1", "stoppedReason": "Local"},
               "idToken": {"idToken": "TAG-1", "type": "ISO14443"}}),
    );
    assert_eq!(ended, json!({"idTokenInfo": {"status": "Accepted"}}));
    stop(gw);
}

// ---- handshake rows -------------------------------------------------------

#[test]
fn row_url_prefix_and_id_accepted_last_segment_percent_decoded() {
    let gw = gateway();
    let addr = gw.local_addr();
    let id48 = "A".repeat(48);
    let accepted = [
        "/ocpp/CP-1".to_owned(),
        "/ocpp/CP%2D2".to_owned(),          // percent-decoded: CP-2
        "/ocpp/site-7/CP-3".to_owned(),     // the last segment is the id
        "/ocpp/Az09*-_=:+%7C@.".to_owned(), // every allowed character ('|' encoded)
        format!("/ocpp/{id48}"),
    ];
    for v in ALL_VERSIONS {
        for path in &accepted {
            match connect(addr, path, &[v.subprotocol()]) {
                Ok((mut ws, response)) => {
                    assert_eq!(response.status().as_u16(), 101, "{path}");
                    assert_eq!(
                        response.headers().get("Sec-WebSocket-Protocol").unwrap(),
                        v.subprotocol(),
                        "{path}"
                    );
                    ws.send(Message::text(call("u-1", "Heartbeat", json!({}))))
                        .unwrap();
                    match ws.read().unwrap() {
                        Message::Text(t) => {
                            let answer: Value = serde_json::from_str(t.as_str()).unwrap();
                            check_heartbeat_answer(&answer, "u-1").unwrap();
                        }
                        other => panic!("{path}: {other:?}"),
                    }
                }
                Err(status) => panic!("[{v}] {path}: HTTP {status}, expected 101"),
            }
        }
    }
    stop(gw);
}

#[test]
fn row_bad_ids_get_400_paths_outside_the_prefix_404() {
    let gw = gateway();
    let addr = gw.local_addr();
    let id49 = "A".repeat(49);
    let table: Vec<(&str, String, u16)> = vec![
        ("empty id", "/ocpp/".into(), 400),
        (
            "trailing slash: last segment empty",
            "/ocpp/CP-1/".into(),
            400,
        ),
        ("percent-encoded empty id", "/ocpp/%".into(), 400),
        ("'/' after decoding", "/ocpp/a%2Fb".into(), 400),
        ("49 characters", format!("/ocpp/{id49}"), 400),
        ("space", "/ocpp/CP%201".into(), 400),
        ("'#' encoded", "/ocpp/CP%23".into(), 400),
        ("'!'", "/ocpp/CP!".into(), 400),
        ("non-ASCII", "/ocpp/%C3%A9".into(), 400),
        ("invalid UTF-8", "/ocpp/%FF".into(), 400),
        ("root", "/".into(), 404),
        ("other prefix", "/other/CP-1".into(), 404),
        ("prefix as a longer word", "/ocppx/CP-1".into(), 404),
        ("prefix not first", "/x/ocpp/CP-1".into(), 404),
    ];
    let mut failures = Vec::new();
    for v in ALL_VERSIONS {
        for (name, path, status) in &table {
            let got = connect(addr, path, &[v.subprotocol()]).err();
            if got != Some(*status) {
                failures.push(format!(
                    "[{v}] {name}: {path} -> {got:?}, expected {status}"
                ));
            }
        }
    }
    let cases = ALL_VERSIONS.len() * table.len();
    assert_no_failures(&failures, cases);
    wait_for("refusals counted", Duration::from_secs(5), || {
        counter(&gw, |c| c.handshakes_refused) == cases as u64
    });
    assert_eq!(gw.open_connections(), 0);
    stop(gw);
}

#[test]
fn row_subprotocol_is_the_first_of_ours_in_the_clients_order() {
    let gw = gateway();
    let addr = gw.local_addr();
    let table: [(&[&str], &str); 5] = [
        (&["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
        (&["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
        (&["ocpp1.5", "ocpp2.0.1"], "ocpp2.0.1"),
        (&["ocpp2.0", "ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
        (&["ocpp2.0.1"], "ocpp2.0.1"),
    ];
    for (offered, chosen) in table {
        let (mut ws, response) = connect(addr, "/ocpp/CP-SUB", offered)
            .unwrap_or_else(|s| panic!("{offered:?}: HTTP {s}"));
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").unwrap(),
            chosen,
            "{offered:?}"
        );
        // The connection speaks the chosen version: a missing field is
        // spelled the way that version spells it.
        ws.send(Message::text(call("s-1", "Authorize", json!({}))))
            .unwrap();
        let Message::Text(text) = ws.read().unwrap() else {
            panic!("{offered:?}: no text answer");
        };
        let answer: Value = serde_json::from_str(text.as_str()).unwrap();
        let v = if chosen == "ocpp1.6" { V::V16 } else { V::V201 };
        let field = if v == V::V16 { "idTag" } else { "idToken" };
        check_answer(&error_at("s-1", v.occurrence(), field), &answer)
            .unwrap_or_else(|e| panic!("{offered:?}: {e}"));
    }
    stop(gw);
}

#[test]
fn row_no_acceptable_subprotocol_is_upgraded_then_closed_1002() {
    let gw = gateway();
    let addr = gw.local_addr();
    for offered in [&[][..], &["ocpp1.5"][..], &["ocpp2.0", "wamp"][..]] {
        let (ws, head) = raw_upgrade(addr, "/ocpp/CP-NOSUB", offered);
        assert!(head.starts_with("HTTP/1.1 101"), "{offered:?}: {head}");
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
            "{offered:?}: {head}"
        );
        let mut cp = Cp {
            ws,
            version: V::V16,
            id: "CP-NOSUB".into(),
            syncs: 0,
        };
        assert_eq!(cp.expect_close(), Ok(1002), "{offered:?}");
    }
    stop(gw);
}

#[test]
fn row_assume_ocpp16_lets_firmware_without_subprotocol_in() {
    let mut config = both_versions_config();
    config.ocpp.missing_subprotocol = MissingSubprotocol::AssumeOcpp16;
    let gw = start(config);
    let (ws, head) = raw_upgrade(gw.local_addr(), "/ocpp/CP-OLD", &[]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
    let mut cp = Cp {
        ws,
        version: V::V16,
        id: "CP-OLD".into(),
        syncs: 0,
    };
    let answer = cp.call("o-1", "Authorize", json!({}));
    check_answer(&error_at("o-1", V::V16.occurrence(), "idTag"), &answer).unwrap();
    cp.heartbeat().unwrap();
    stop(gw);
}

#[test]
fn row_beyond_max_connections_is_503() {
    let mut config = both_versions_config();
    config.listen.max_connections = 2;
    let gw = start(config);
    let addr = gw.local_addr();
    let mut first = Cp::open(addr, V::V16, "MAX-1");
    let mut second = Cp::open(addr, V::V201, "MAX-2");
    for v in ALL_VERSIONS {
        assert_eq!(
            connect(addr, "/ocpp/MAX-3", &[v.subprotocol()]).err(),
            Some(503),
            "[{v}]"
        );
    }
    // The two that got in are unaffected.
    first.heartbeat().unwrap();
    second.heartbeat().unwrap();
    // A freed place can be taken again.
    let _ = first.ws.close(None);
    while first.ws.read().is_ok() {}
    wait_for("a place freed", Duration::from_secs(5), || {
        gw.open_connections() == 1
    });
    let mut third = Cp::open(addr, V::V201, "MAX-3");
    third.heartbeat().unwrap();
    assert_eq!(connect(addr, "/ocpp/MAX-4", &["ocpp1.6"]).err(), Some(503));
    stop(gw);
}

/// DESIGN.md: "a second connection with an id already connected →
/// `duplicate_id = "replace"` (default): close the old one (1008), keep the
/// new". The gateway has no `duplicate_id` setting and keeps both.
#[test]
fn design_gap_duplicate_id_closes_the_old_connection_1008() {
    let gw = gateway();
    let addr = gw.local_addr();
    let mut failures = Vec::new();
    for v in ALL_VERSIONS {
        let id = format!("DUP-{}", v.subprotocol());
        let mut old = Cp::open(addr, v, &id);
        old.heartbeat().unwrap();
        let mut new = Cp::open(addr, v, &id);
        old.ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        match old.expect_close() {
            Ok(1008) => {}
            other => failures.push(format!(
                "[{v}] old connection of {id}: expected close 1008, got {other:?}"
            )),
        }
        new.heartbeat().unwrap();
    }
    stop(gw);
    assert_no_failures(&failures, 2);
}
