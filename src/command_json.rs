//! The JSON shape of a command to a charge point and of its outcome, shared
//! by the admin API (`POST /connections/{id}/calls`) and the bus
//! (`{prefix}.cmd.{id}` requests), so both speak the same language.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cross_thread::ServerCallOutcome;

/// How long past a command's own timeout its sender waits for the outcome.
/// The reactor's timer answers `Timeout` at the timeout itself; this only
/// covers a reactor that has gone away.
pub const REPLY_GRACE: Duration = Duration::from_secs(1);

/// A command as read from a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub action: String,
    /// JSON object text.
    pub payload: String,
    pub timeout: Duration,
}

/// Reads `{"action", "payload"?, "timeout_ms"?}`; `Err` is the reason
/// (answered 400).
pub fn parse(body: &[u8], default_timeout: Duration) -> Result<Command, String> {
    let command: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let Some(action) = command.get("action").and_then(Value::as_str) else {
        return Err("\"action\" (a string) is required".into());
    };
    let payload = command.get("payload").cloned().unwrap_or(json!({}));
    if !payload.is_object() {
        return Err("\"payload\" must be a JSON object".into());
    }
    let timeout = match command.get("timeout_ms") {
        None => default_timeout,
        Some(ms) => match ms.as_u64() {
            Some(ms) if (1..=3_600_000).contains(&ms) => Duration::from_millis(ms),
            _ => return Err("\"timeout_ms\" must be an integer from 1 to 3600000".into()),
        },
    };
    Ok(Command {
        action: action.to_owned(),
        payload: payload.to_string(),
        timeout,
    })
}

/// The HTTP status and JSON body that tell what became of a command.
pub fn outcome_body(id: &str, timeout: Duration, outcome: ServerCallOutcome) -> (u16, Value) {
    let error = |status: u16, message: String| (status, json!({ "error": message }));
    match outcome {
        ServerCallOutcome::Result(result) => {
            let result: Value = serde_json::from_str(&result).unwrap_or(Value::Null);
            (200, json!({ "payload": result }))
        }
        ServerCallOutcome::InvalidRequest(v) => (
            400,
            json!({"error": v.description, "code": format!("{:?}", v.code), "field": v.field}),
        ),
        ServerCallOutcome::NotConnected => error(404, format!("{id} is not connected")),
        ServerCallOutcome::Error {
            code,
            description,
            details,
        } => {
            let details: Value = serde_json::from_str(&details).unwrap_or(Value::Null);
            (
                502,
                json!({"error": "the charge point answered with a CALLERROR",
                        "callerror": {"code": code, "description": description, "details": details}}),
            )
        }
        ServerCallOutcome::InvalidResponse { payload, violation } => (
            502,
            json!({"error": "the charge point's answer breaks the response schema",
                    "reason": violation.description, "field": violation.field,
                    "payload": serde_json::from_str::<Value>(&payload).unwrap_or(Value::Null)}),
        ),
        ServerCallOutcome::MalformedAnswer(why) => (
            502,
            json!({"error": "the charge point's answer is not a well-formed CALLRESULT or CALLERROR",
                    "reason": why}),
        ),
        ServerCallOutcome::Timeout => error(504, format!("no answer from {id} within {timeout:?}")),
        ServerCallOutcome::Closed => error(502, format!("{id} disconnected before answering")),
        ServerCallOutcome::ClosedBeforeSending => error(
            502,
            format!("{id} disconnected before the command could be sent"),
        ),
        ServerCallOutcome::QueueFull => error(503, format!("too many commands queued for {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let d = Duration::from_secs(30);
        let c = parse(
            br#"{"action":"Reset","payload":{"type":"Soft"},"timeout_ms":500}"#,
            d,
        )
        .unwrap();
        assert_eq!(c.action, "Reset");
        assert_eq!(c.payload, r#"{"type":"Soft"}"#);
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(parse(br#"{"action":"Reset"}"#, d).unwrap().timeout, d);
        assert_eq!(parse(br#"{"action":"Reset"}"#, d).unwrap().payload, "{}");
        for bad in [
            &b"nope"[..],
            br#"{}"#,
            br#"{"action":"R","payload":[]}"#,
            br#"{"action":"R","timeout_ms":0}"#,
        ] {
            assert!(parse(bad, d).is_err());
        }
        let (status, body) = outcome_body("CP", d, ServerCallOutcome::Timeout);
        assert_eq!(status, 504);
        assert!(body["error"].as_str().unwrap().contains("CP"));
    }
}
