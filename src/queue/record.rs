//! The lines of the store's log: every change to the queue is one record,
//! written before it takes effect and applied by the same [`super::book`]
//! code at replay, so what a restart rebuilds is what ran.
//!
//! One JSON object per line, tagged by `"op"`:
//! `queued` (the whole command), `sent`, `returned` (it went back to
//! queued: never on the wire), `ended` (a final [`CommandState`], as the
//! bus keeps it too).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cross_thread::{CommandState, QueuedCommand};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Record {
    Queued {
        #[serde(flatten)]
        command: StoredCommand,
    },
    Sent {
        id: String,
        at: u64,
    },
    Returned {
        id: String,
    },
    /// `state` is final.
    Ended {
        id: String,
        state: CommandState,
    },
}

/// A [`QueuedCommand`] as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCommand {
    pub id: String,
    pub cp: String,
    pub action: String,
    /// JSON object text.
    pub payload: String,
    pub timeout_ms: u64,
    pub queued_at: u64,
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_key: Option<String>,
}

impl From<&QueuedCommand> for StoredCommand {
    fn from(c: &QueuedCommand) -> StoredCommand {
        StoredCommand {
            id: c.command_id.clone(),
            cp: c.charge_point.clone(),
            action: c.action.clone(),
            payload: c.payload.clone(),
            timeout_ms: c.timeout.as_millis() as u64,
            queued_at: c.queued_at_ms,
            expires_at: c.expires_at_ms,
            replace_key: c.replace_key.clone(),
        }
    }
}

impl From<StoredCommand> for QueuedCommand {
    fn from(c: StoredCommand) -> QueuedCommand {
        QueuedCommand {
            command_id: c.id,
            charge_point: c.cp,
            action: c.action,
            payload: c.payload,
            timeout: Duration::from_millis(c.timeout_ms),
            queued_at_ms: c.queued_at,
            expires_at_ms: c.expires_at,
            replace_key: c.replace_key,
        }
    }
}

impl Record {
    /// Appends the record as one line, `\n` included. serde_json escapes
    /// control characters, so a line never holds a raw newline.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Serialising these plain types into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }

    /// The id of the command the record is about.
    pub fn command_id(&self) -> &str {
        match self {
            Record::Queued { command } => &command.id,
            Record::Sent { id, .. } | Record::Returned { id } | Record::Ended { id, .. } => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_round_trip_as_single_lines() {
        let records = [
            Record::Queued {
                command: StoredCommand {
                    id: "c1".into(),
                    cp: "CP\n1".into(),
                    action: "Reset".into(),
                    payload: "{\"type\":\"Soft\"}".into(),
                    timeout_ms: 30_000,
                    queued_at: 1,
                    expires_at: 2,
                    replace_key: Some("k".into()),
                },
            },
            Record::Sent {
                id: "c1".into(),
                at: 3,
            },
            Record::Returned { id: "c1".into() },
            Record::Ended {
                id: "c1".into(),
                state: CommandState::Answered {
                    at_ms: 4,
                    answer: json!({"result": {"status": "Accepted"}}),
                },
            },
            Record::Ended {
                id: "c2".into(),
                state: CommandState::Cancelled {
                    at_ms: 5,
                    replaced_by: Some("c3".into()),
                },
            },
        ];
        for record in records {
            let mut line = Vec::new();
            record.encode(&mut line);
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            let back: Record = serde_json::from_slice(&line).unwrap();
            assert_eq!(back, record);
        }
    }
}
