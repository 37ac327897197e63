//! What the queue keeps in NATS, as JSON: the command as published to the
//! stream (immutable), and its record in the KV bucket (command + state,
//! rewritten at every change with compare-and-set).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cross_thread::command_queue::command_view;
use crate::cross_thread::{CommandState, QueuedCommand};

pub use crate::cross_thread::command_queue::RESTARTED;

/// A command as it travels: the stream message's body and the `command`
/// of its KV record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommandBody {
    pub command_id: String,
    pub charge_point: String,
    pub action: String,
    /// The payload text exactly as it was checked, sent as it is.
    pub payload: Box<RawValue>,
    pub timeout_ms: u64,
    pub queued_at_ms: u64,
    pub expires_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_key: Option<String>,
}

impl CommandBody {
    pub fn of(command: &QueuedCommand) -> Result<CommandBody, String> {
        let payload = RawValue::from_string(command.payload.clone())
            .map_err(|e| format!("the payload is not JSON: {e}"))?;
        Ok(CommandBody {
            command_id: command.command_id.clone(),
            charge_point: command.charge_point.clone(),
            action: command.action.clone(),
            payload,
            timeout_ms: command.timeout.as_millis() as u64,
            queued_at_ms: command.queued_at_ms,
            expires_at_ms: command.expires_at_ms,
            replace_key: command.replace_key.clone(),
        })
    }

    pub fn command(&self) -> QueuedCommand {
        QueuedCommand {
            command_id: self.command_id.clone(),
            charge_point: self.charge_point.clone(),
            action: self.action.clone(),
            payload: self.payload.get().to_owned(),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            queued_at_ms: self.queued_at_ms,
            expires_at_ms: self.expires_at_ms,
            replace_key: self.replace_key.clone(),
        }
    }
}

/// A command's KV record. `view` is written for readers of the bucket (it
/// is what `GET /commands/{id}` answers) and ignored when read back.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    #[serde(default, skip_deserializing)]
    pub view: Value,
    pub command: CommandBody,
    pub state: CommandState,
    /// The command's message in the queue stream (deleted once it ends).
    pub seq: u64,
    /// The gateway that sent it (while `sent`, the one that may end it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_by: Option<String>,
}

impl Record {
    pub fn state(&self) -> CommandState {
        self.state.clone()
    }

    pub fn view(&self) -> Value {
        command_view(&self.command.command(), &self.state())
    }

    pub fn is_final(&self) -> bool {
        self.state().is_final()
    }

    /// The same command in another state.
    pub fn with(&self, state: CommandState, sent_by: Option<&str>) -> Record {
        Record {
            view: Value::Null,
            command: self.command.clone(),
            state,
            seq: self.seq,
            sent_by: sent_by.map(str::to_owned),
        }
    }

    /// The JSON written to KV (with a fresh `view`; the payload text as it is).
    pub fn to_bytes(&self) -> bytes::Bytes {
        #[derive(Serialize)]
        struct Written<'a> {
            view: Value,
            command: &'a CommandBody,
            state: &'a CommandState,
            seq: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            sent_by: &'a Option<String>,
        }
        let written = Written {
            view: self.view(),
            command: &self.command,
            state: &self.state,
            seq: self.seq,
            sent_by: &self.sent_by,
        };
        serde_json::to_vec(&written).unwrap_or_default().into()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Record, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable command record: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> QueuedCommand {
        QueuedCommand {
            command_id: "c1".into(),
            charge_point: "CP.1".into(),
            action: "Reset".into(),
            payload: r#"{"type": "Soft"}"#.into(),
            timeout: std::time::Duration::from_millis(1500),
            queued_at_ms: 1000,
            expires_at_ms: 5000,
            replace_key: Some("k".into()),
        }
    }

    #[test]
    fn a_record_reads_back_as_written_and_keeps_the_payload_text() {
        let body = CommandBody::of(&command()).unwrap();
        assert_eq!(body.command(), command());
        let record = Record {
            view: Value::Null,
            command: body,
            state: CommandState::Queued,
            seq: 7,
            sent_by: None,
        };
        let sent = record.with(CommandState::Sent { at_ms: 2000 }, Some("gw-a"));
        let bytes = sent.to_bytes();
        let back = Record::from_bytes(&bytes).unwrap();
        assert_eq!(back.command.command(), command());
        assert_eq!(back.state(), CommandState::Sent { at_ms: 2000 });
        assert_eq!(back.seq, 7);
        assert_eq!(back.sent_by.as_deref(), Some("gw-a"));
        let stored: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(stored["view"]["state"], "sent");
        assert_eq!(stored["view"]["command_id"], "c1");
        assert!(!back.is_final());
    }
}
