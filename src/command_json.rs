//! The JSON shape of a command to a charge point and of its outcome, shared
//! by the admin API (`POST /connections/{id}/calls`) and the bus
//! (`{prefix}.cmd.{id}` requests), so both speak the same language.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cross_thread::command_queue::new_command_id;
use crate::cross_thread::{
    CancelOutcome, QueueRefusal, QueueSpec, QueuedCommand, ServerCallOutcome,
};

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
    /// `"queue": {"ttl"?, "replace_key"?}`: keep it if the charge point is
    /// not connected.
    pub queue: Option<QueueSpec>,
}

/// The longest `replace_key`, in bytes.
pub const MAX_REPLACE_KEY: usize = 256;

/// Reads `{"action", "payload"?, "timeout_ms"?, "queue"?}`; `Err` is the
/// reason (answered 400).
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
    let queue = match command.get("queue") {
        None | Some(Value::Null) => None,
        Some(spec) => Some(queue_spec(spec)?),
    };
    Ok(Command {
        action: action.to_owned(),
        payload: payload.to_string(),
        timeout,
        queue,
    })
}

/// `{"ttl": "24h"?, "replace_key": "…"?}` and nothing else.
fn queue_spec(spec: &Value) -> Result<QueueSpec, String> {
    let refuse = |why: &str| format!("\"queue\" {why}");
    let fields = spec
        .as_object()
        .ok_or_else(|| refuse("must be an object {\"ttl\", \"replace_key\"}"))?;
    if let Some(other) = fields.keys().find(|k| *k != "ttl" && *k != "replace_key") {
        return Err(refuse(&format!("has an unknown field {other:?}")));
    }
    let ttl = match fields.get("ttl") {
        None => None,
        Some(Value::String(text)) => Some(
            humantime::parse_duration(text)
                .ok()
                .filter(|ttl| *ttl >= Duration::from_secs(1))
                .ok_or_else(|| refuse("ttl must be a duration of at least 1s, like \"24h\""))?,
        ),
        Some(_) => return Err(refuse("ttl must be a duration text, like \"24h\"")),
    };
    let replace_key = match fields.get("replace_key") {
        None => None,
        Some(Value::String(key)) if !key.is_empty() && key.len() <= MAX_REPLACE_KEY => {
            Some(key.clone())
        }
        Some(_) => {
            return Err(refuse(&format!(
                "replace_key must be a string of 1 to {MAX_REPLACE_KEY} bytes"
            )));
        }
    };
    Ok(QueueSpec { ttl, replace_key })
}

/// The command to keep for `charge_point` (not connected): its payload
/// checked against the action's request schema (of any OCPP version: the
/// charge point's is not known until it connects) and its ttl against
/// `max_ttl`; `Err` is the 400 answer's body.
pub fn queued_command(
    charge_point: &str,
    command: &Command,
    spec: &QueueSpec,
    max_ttl: Duration,
    now_ms: u64,
) -> Result<QueuedCommand, Value> {
    let ttl = spec
        .ttl_within(max_ttl)
        .map_err(|e| json!({ "error": e }))?;
    if let Err(v) =
        crate::ocpp::server_call::check_request_any_version(&command.action, &command.payload)
    {
        return Err(
            json!({"error": v.description, "code": format!("{:?}", v.code), "field": v.field}),
        );
    }
    let command_id = new_command_id().map_err(|e| json!({ "error": e }))?;
    Ok(QueuedCommand {
        command_id,
        charge_point: charge_point.to_owned(),
        action: command.action.clone(),
        payload: command.payload.clone(),
        timeout: command.timeout,
        queued_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(ttl.as_millis() as u64),
        replace_key: spec.replace_key.clone(),
    })
}

/// The answer to a command kept for later: 202 with its id, or why not.
pub fn enqueued_body(command_id: &str, result: Result<(), QueueRefusal>) -> (u16, Value) {
    match result {
        Ok(()) => (202, json!({"command_id": command_id, "state": "queued"})),
        Err(QueueRefusal::ChargePointFull { max }) => (
            507,
            json!({"error": format!(
                "queue.max_per_charge_point ({max}) commands already wait for this charge point")}),
        ),
        Err(QueueRefusal::TotalFull { max }) => (
            507,
            json!({"error": format!(
                "queue.max_total ({max}) commands already wait, all charge points together")}),
        ),
        Err(QueueRefusal::Unavailable(why)) => (503, json!({ "error": why })),
    }
}

/// The answer to `DELETE /commands/{id}`.
pub fn cancel_body(command_id: &str, outcome: CancelOutcome) -> (u16, Value) {
    match outcome {
        CancelOutcome::Cancelled(view) => (200, view),
        CancelOutcome::TooLate(view) => (
            409,
            json!({"error": "only a queued command can be cancelled", "command": view}),
        ),
        CancelOutcome::Unknown => unknown_command(command_id),
        CancelOutcome::Unavailable(why) => (503, json!({ "error": why })),
    }
}

pub fn unknown_command(command_id: &str) -> (u16, Value) {
    (
        404,
        json!({"error": format!(
            "no command {command_id} (unknown, or ended longer ago than queue.keep_finished)")}),
    )
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
