//! Just enough OCPP-J 1.6 for a load generator: building CALL frames as text
//! and scanning the head of incoming frames without a JSON parser.
//!
//! Frames are written straight into a `String` (one allocation per message,
//! handed to tungstenite without copying); nothing here builds a JSON tree.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use ocpp_gateway::time_text::civil_from_days;

/// Message type ids of the OCPP-J envelope.
pub const CALL: u8 = 2;
pub const CALLRESULT: u8 = 3;
pub const CALLERROR: u8 = 4;

/// Scans `[<type>,"<id>"` at the start of a frame.
///
/// Returns the message type and the unique id; `None` if the frame does not
/// start like an OCPP-J message. Whitespace is allowed where JSON allows it.
pub fn scan_head(frame: &str) -> Option<(u8, &str)> {
    let b = frame.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let ty = match b.get(i)? {
        d @ b'2'..=b'4' => d - b'0',
        _ => return None,
    };
    i = skip_ws(b, i + 1);
    if b.get(i) != Some(&b',') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    // Ids we generate and the ones servers send carry no escapes; an id with
    // a backslash is returned raw, which is still fine for echoing back.
    let len = b[start..].iter().position(|&c| c == b'"')?;
    Some((ty, &frame[start..start + len]))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// Finds `"key":<integer>` anywhere in `frame` (cheap scan, first match).
pub fn scan_int(frame: &str, key: &str) -> Option<i64> {
    let mut from = 0;
    while let Some(pos) = frame[from..].find(key) {
        let at = from + pos;
        from = at + key.len();
        let before_ok = at > 0 && frame.as_bytes()[at - 1] == b'"';
        let rest = &frame[from..];
        if !before_ok || !rest.starts_with('"') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        return rest[..end].parse().ok();
    }
    None
}

/// Does a BootNotification answer accept the charge point?
pub fn boot_accepted(frame: &str) -> bool {
    // Both `"status":"Accepted"` and `"status": "Accepted"` occur in the wild.
    frame.contains("\"Accepted\"")
}

/// The payload of our answer to any CALL a server sends us.
///
/// `{"status":"Accepted"}` is a valid CALLRESULT payload for every 1.6
/// command whose response is a status enum with an `Accepted` value: Reset,
/// ChangeAvailability, ChangeConfiguration, ClearCache, ClearChargingProfile,
/// RemoteStartTransaction, RemoteStopTransaction, ReserveNow,
/// CancelReservation, SendLocalList, SetChargingProfile, TriggerMessage,
/// DataTransfer, GetCompositeSchedule and the security extension's
/// (Extended)TriggerMessage, CertificateSigned, InstallCertificate, ... (the
/// test below lists them against the OCA schemas). It is *not* valid for
/// GetConfiguration, GetDiagnostics, GetLocalListVersion, UnlockConnector
/// (`Unlocked`) and UpdateFirmware (`{}`): a gateway that validates answers
/// reports those as an invalid response. An empty `{}` would be valid for
/// almost none of them.
pub const ACCEPTED_PAYLOAD: &str = r#"{"status":"Accepted"}"#;

/// `[3,"<id>",{"status":"Accepted"}]`: our answer to any CALL a server sends us.
pub fn accepted_result(id: &str) -> String {
    let mut s = String::with_capacity(id.len() + 8 + ACCEPTED_PAYLOAD.len());
    s.push_str("[3,\"");
    s.push_str(id);
    s.push_str("\",");
    s.push_str(ACCEPTED_PAYLOAD);
    s.push(']');
    s
}

/// Charge point side CALLs. The payloads are valid against the OCA 1.6
/// schemas (checked in the tests below).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    BootNotification,
    Heartbeat,
    StatusPreparing,
    Authorize,
    StartTransaction,
    StatusCharging,
    MeterValues,
    StopTransaction,
    StatusFinishing,
    StatusAvailable,
}

/// One charging session, repeated by every charge point in `--mix realistic`.
pub const SESSION: [Action; 10] = [
    Action::StatusPreparing,
    Action::Authorize,
    Action::StartTransaction,
    Action::StatusCharging,
    Action::MeterValues,
    Action::MeterValues,
    Action::MeterValues,
    Action::StopTransaction,
    Action::StatusFinishing,
    Action::StatusAvailable,
];

/// What a CALL may refer to; kept per connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Session {
    pub transaction_id: i64,
    /// Energy register in Wh, grows with every MeterValues.
    pub meter_wh: i64,
}

/// Appends the CALL frame `[2,"<msg_id>","<Action>",{...}]` to `out`.
pub fn write_call(out: &mut String, msg_id: u32, action: Action, cp: u32, s: &Session, now: &str) {
    let _ = write!(out, "[2,\"{msg_id}\",");
    let _ = match action {
        Action::BootNotification => {
            write!(
                out,
                r#""BootNotification",{{"chargePointVendor":"perf","chargePointModel":"loadgen"}}]"#
            )
        }
        Action::Heartbeat => write!(out, r#""Heartbeat",{{}}]"#),
        Action::StatusPreparing => status(out, "Preparing", now),
        Action::StatusCharging => status(out, "Charging", now),
        Action::StatusFinishing => status(out, "Finishing", now),
        Action::StatusAvailable => status(out, "Available", now),
        Action::Authorize => write!(out, r#""Authorize",{{"idTag":"TAG{cp}"}}]"#),
        Action::StartTransaction => write!(
            out,
            r#""StartTransaction",{{"connectorId":1,"idTag":"TAG{cp}","meterStart":{},"timestamp":"{now}"}}]"#,
            s.meter_wh
        ),
        Action::MeterValues => write!(
            out,
            r#""MeterValues",{{"connectorId":1,"transactionId":{},"meterValue":[{{"timestamp":"{now}","sampledValue":[{{"value":"{}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"}},{{"value":"7360","measurand":"Power.Active.Import","unit":"W"}}]}}]}}]"#,
            s.transaction_id, s.meter_wh
        ),
        Action::StopTransaction => write!(
            out,
            r#""StopTransaction",{{"idTag":"TAG{cp}","meterStop":{},"timestamp":"{now}","transactionId":{},"reason":"Local"}}]"#,
            s.meter_wh, s.transaction_id
        ),
    };
}

fn status(out: &mut String, status: &str, now: &str) -> std::fmt::Result {
    write!(
        out,
        r#""StatusNotification",{{"connectorId":1,"errorCode":"NoError","status":"{status}","timestamp":"{now}"}}]"#
    )
}

/// RFC 3339 UTC time, re-formatted at most once per second.
pub struct Clock {
    second: u64,
    text: String,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            second: u64::MAX,
            text: String::with_capacity(24),
        }
    }
}

impl Clock {
    pub fn now(&mut self) -> &str {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if secs != self.second {
            self.second = secs;
            self.text.clear();
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let tod = secs % 86_400;
            let _ = write!(
                self.text,
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
                tod / 3600,
                tod / 60 % 60,
                tod % 60
            );
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_heads() {
        assert_eq!(scan_head(r#"[3,"17",{}]"#), Some((3, "17")));
        assert_eq!(
            scan_head(r#" [ 2 , "abc-1","Reset",{}]"#),
            Some((2, "abc-1"))
        );
        assert_eq!(
            scan_head(r#"[4,"9","NotImplemented","",{}]"#),
            Some((4, "9"))
        );
        assert_eq!(scan_head(r#"[5,"9"]"#), None);
        assert_eq!(scan_head(r#"{"a":1}"#), None);
        assert_eq!(scan_head(r#"[3,"unterminated"#), None);
    }

    #[test]
    fn scans_ints() {
        let f = r#"[3,"1",{"idTagInfo":{"status":"Accepted"},"transactionId": 4711}]"#;
        assert_eq!(scan_int(f, "transactionId"), Some(4711));
        assert_eq!(
            scan_int(r#"[3,"1",{"xtransactionId":1}]"#, "transactionId"),
            None
        );
    }

    #[test]
    fn formats_time() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        let mut c = Clock::default();
        assert_eq!(c.now().len(), 20);
    }

    #[test]
    fn answers_server_calls_with_accepted() {
        let f = accepted_result("gw0-7");
        assert_eq!(f, r#"[3,"gw0-7",{"status":"Accepted"}]"#);
        assert_eq!(scan_head(&f), Some((CALLRESULT, "gw0-7")));
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v[2]["status"], "Accepted");
    }

    /// The commands `accepted_result` answers correctly, checked against
    /// `../tests/ocpp-schemas/v16/<Action>Response.json` (skipped without
    /// python3 + jsonschema, like `payloads_match_oca_schemas`).
    #[test]
    fn accepted_matches_command_response_schemas() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ocpp-schemas/v16");
        // Vendored in the repository: missing is a broken checkout, not a skip.
        assert!(dir.is_dir(), "schemas expected at {}", dir.display());
        let script = r#"
import json, sys, jsonschema
d, payload = sys.argv[1], json.loads(sys.argv[2])
for action in sys.argv[3:]:
    jsonschema.validate(payload, json.load(open(f"{d}/{action}Response.json")))
print("ok")
"#;
        let actions = [
            "Reset",
            "ChangeAvailability",
            "ChangeConfiguration",
            "ClearCache",
            "ClearChargingProfile",
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "ReserveNow",
            "CancelReservation",
            "SendLocalList",
            "SetChargingProfile",
            "TriggerMessage",
            "DataTransfer",
        ];
        let out = std::process::Command::new("python3")
            .args(["-c", script, dir.to_str().unwrap(), ACCEPTED_PAYLOAD])
            .args(actions)
            .output();
        let Ok(out) = out else {
            eprintln!("skipped: no python3");
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'jsonschema'") {
            eprintln!("skipped: python3 has no jsonschema");
            return;
        }
        assert!(out.status.success(), "schema validation failed: {err}");
    }

    /// One frame of every CALL we send, for the validity tests below.
    pub fn all_calls() -> Vec<(Action, String)> {
        let s = Session {
            transaction_id: 42,
            meter_wh: 1234,
        };
        let mut actions = vec![Action::BootNotification, Action::Heartbeat];
        actions.extend(SESSION);
        actions
            .into_iter()
            .map(|a| {
                let mut out = String::new();
                write_call(&mut out, 7, a, 3, &s, "2026-01-01T00:00:00Z");
                (a, out)
            })
            .collect()
    }

    #[test]
    fn payloads_are_valid_json() {
        for (action, frame) in all_calls() {
            let v: serde_json::Value =
                serde_json::from_str(&frame).unwrap_or_else(|e| panic!("{action:?}: {e}: {frame}"));
            assert_eq!(v[0], 2);
            assert_eq!(v[1], "7");
            assert!(v[3].is_object(), "{frame}");
        }
    }

    /// Validates every payload against `../tests/ocpp-schemas/v16` when
    /// python3 with `jsonschema` is available (skipped otherwise).
    #[test]
    fn payloads_match_oca_schemas() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ocpp-schemas/v16");
        // Vendored in the repository: missing is a broken checkout, not a skip.
        assert!(dir.is_dir(), "schemas expected at {}", dir.display());
        let frames: Vec<String> = all_calls().into_iter().map(|(_, f)| f).collect();
        let script = r#"
import json, sys, jsonschema
d = sys.argv[1]
for line in sys.stdin:
    msg = json.loads(line)
    schema = json.load(open(f"{d}/{msg[2]}.json"))
    jsonschema.validate(msg[3], schema)
print("ok")
"#;
        let child = std::process::Command::new("python3")
            .args(["-c", script, dir.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("skipped: no python3");
            return;
        };
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(frames.join("\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'jsonschema'") {
            eprintln!("skipped: python3 has no jsonschema");
            return;
        }
        assert!(out.status.success(), "schema validation failed: {err}");
    }
}
