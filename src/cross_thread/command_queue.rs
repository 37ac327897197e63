//! Commands kept for charge points that are not connected: what the admin
//! API, the bus and the reactors say to whoever keeps the queue, and the
//! one JSON shape of a kept command.
//!
//! The queue has one owner at a time: the embedded store thread
//! (`queue/`, in the journal directory) when the bus is off, or the bus
//! bridge (`bus/queue.rs`, a JetStream stream and KV bucket) with
//! `bus.kind = "nats"`. Both take [`ToQueue`] through a [`QueueSender`]
//! (bounded by `[channels] capacity`; a full queue is an answer, never a
//! wait), deliver a command through [`super::Route::start_call`] with its
//! `command_id`, and record how it ended before they forget it.
//!
//! Delivery is at most once: a command is marked `sent` (durably) before
//! it leaves its keeper, and a command whose outcome is unknown (the
//! gateway restarted, the connection closed while it was on the wire)
//! ends `failed`, never sent again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde_json::{Value, json};

use super::server_calls::{Deliver, ServerCallOutcome};
use crate::ocpp::OcppVersion;

/// How a command asks to be kept when its charge point is not connected
/// (the `"queue"` object of a command request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Undelivered for this long, it ends `expired`. `None`: the request
    /// gave none; [`QueueSpec::ttl_within`] then takes a day, or
    /// `queue.max_ttl` if shorter.
    pub ttl: Option<Duration>,
    /// A later command for the same charge point with the same key
    /// replaces this one while it is still queued.
    pub replace_key: Option<String>,
}

impl QueueSpec {
    /// The ttl to keep the command for; `Err` if it asks for more than
    /// `max_ttl`.
    pub fn ttl_within(&self, max_ttl: Duration) -> Result<Duration, String> {
        match self.ttl {
            None => Ok(DEFAULT_TTL.min(max_ttl)),
            Some(ttl) if ttl <= max_ttl => Ok(ttl),
            Some(ttl) => Err(format!(
                "queue.ttl {ttl:?} is longer than queue.max_ttl ({max_ttl:?})"
            )),
        }
    }
}

/// The reason a command ends `failed` when it was sent but its outcome
/// was never recorded (the gateway holding it stopped): at most once, it is
/// not sent again. Both keepers use it.
pub const RESTARTED: &str = "unknown outcome, gateway restarted";

/// A queued command's ttl when the request gives none (at most `queue.max_ttl`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);

/// A command kept for a charge point. Immutable once made; its state is
/// kept beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedCommand {
    pub command_id: String,
    pub charge_point: String,
    pub action: String,
    /// JSON object text, checked against the action's request schema.
    pub payload: String,
    /// How long the charge point has to answer once it is sent.
    pub timeout: Duration,
    pub queued_at_ms: u64,
    pub expires_at_ms: u64,
    pub replace_key: Option<String>,
}

/// Where a kept command stands. Every state but `Queued` and `Sent` is
/// final. Serialised tagged by `name` (the bus keeps it so in KV).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum CommandState {
    Queued,
    /// Handed to the connection (on the wire or about to be).
    Sent {
        at_ms: u64,
    },
    /// The charge point answered: `answer` is `{"result": …}` (the
    /// CALLRESULT's payload), or `{"callerror": {"code","description",
    /// "details"}}`; the view shows these fields beside the request's.
    Answered {
        at_ms: u64,
        answer: Value,
    },
    /// Its ttl passed before it could be sent.
    Expired {
        at_ms: u64,
    },
    /// Cancelled by `DELETE /commands/{id}`, or replaced by a later
    /// command with the same `replace_key` (`replaced_by`).
    Cancelled {
        at_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaced_by: Option<String>,
    },
    /// It was sent and did not end in an answer that could be read, or its
    /// outcome is unknown; `reason` says which.
    Failed {
        at_ms: u64,
        reason: String,
    },
}

impl CommandState {
    pub fn name(&self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Sent { .. } => "sent",
            CommandState::Answered { .. } => "answered",
            CommandState::Expired { .. } => "expired",
            CommandState::Cancelled { .. } => "cancelled",
            CommandState::Failed { .. } => "failed",
        }
    }

    pub fn is_final(&self) -> bool {
        !matches!(self, CommandState::Queued | CommandState::Sent { .. })
    }

    /// When a final state was reached (`None` for queued and sent).
    pub fn ended_at(&self) -> Option<u64> {
        match self {
            CommandState::Queued | CommandState::Sent { .. } => None,
            CommandState::Answered { at_ms, .. }
            | CommandState::Expired { at_ms }
            | CommandState::Cancelled { at_ms, .. }
            | CommandState::Failed { at_ms, .. } => Some(*at_ms),
        }
    }
}

/// The JSON of a kept command, as `GET /commands/{id}` and the bus show it.
pub fn command_view(command: &QueuedCommand, state: &CommandState) -> Value {
    let payload: Value = serde_json::from_str(&command.payload).unwrap_or(Value::Null);
    let mut view = json!({
        "command_id": command.command_id,
        "charge_point": command.charge_point,
        "action": command.action,
        "payload": payload,
        "state": state.name(),
        "queued_at": crate::time_text::rfc3339_ms(command.queued_at_ms),
        "expires_at": crate::time_text::rfc3339_ms(command.expires_at_ms),
        "timeout_ms": command.timeout.as_millis() as u64,
    });
    let Some(fields) = view.as_object_mut() else {
        return view;
    };
    if let Some(key) = &command.replace_key {
        fields.insert("replace_key".into(), json!(key));
    }
    let mut at = |name: &str, ms: u64| {
        fields.insert(name.into(), json!(crate::time_text::rfc3339_ms(ms)));
    };
    match state {
        CommandState::Queued => {}
        CommandState::Sent { at_ms } => at("sent_at", *at_ms),
        CommandState::Answered { at_ms, answer } => {
            at("ended_at", *at_ms);
            if let Some(answer) = answer.as_object() {
                for (k, v) in answer {
                    fields.insert(k.clone(), v.clone());
                }
            }
        }
        CommandState::Expired { at_ms } => at("ended_at", *at_ms),
        CommandState::Cancelled { at_ms, replaced_by } => {
            at("ended_at", *at_ms);
            if let Some(by) = replaced_by {
                fields.insert("replaced_by".into(), json!(by));
            }
        }
        CommandState::Failed { at_ms, reason } => {
            at("ended_at", *at_ms);
            fields.insert("reason".into(), json!(reason));
        }
    }
    view
}

/// The state a delivered command ends in, from its CALL's outcome; `Err`
/// gives back an outcome that means it was never sent (the connection
/// closed while it waited behind another, the charge point was not held,
/// its connection could take no more): it may go again. Both keepers use
/// this one mapping.
pub fn settle(
    outcome: ServerCallOutcome,
    timeout_ms: u64,
    at_ms: u64,
) -> Result<CommandState, ServerCallOutcome> {
    let failed = |reason: String| Ok(CommandState::Failed { at_ms, reason });
    let json_of = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    match outcome {
        ServerCallOutcome::Result(payload) => Ok(CommandState::Answered {
            at_ms,
            answer: json!({ "result": json_of(&payload) }),
        }),
        ServerCallOutcome::Error {
            code,
            description,
            details,
        } => Ok(CommandState::Answered {
            at_ms,
            answer: json!({"callerror": {
                "code": code, "description": description, "details": json_of(&details),
            }}),
        }),
        ServerCallOutcome::InvalidResponse { violation, .. } => failed(format!(
            "the answer breaks the response schema: {}",
            violation.description
        )),
        ServerCallOutcome::MalformedAnswer(why) => failed(format!("malformed answer: {why}")),
        ServerCallOutcome::Timeout => failed(format!("no answer within {timeout_ms} ms")),
        ServerCallOutcome::Closed => {
            failed("the charge point disconnected before answering".into())
        }
        ServerCallOutcome::InvalidRequest(v) => failed(format!(
            "invalid for the connection's OCPP version: {}",
            v.description
        )),
        not_sent @ (ServerCallOutcome::ClosedBeforeSending
        | ServerCallOutcome::NotConnected
        | ServerCallOutcome::QueueFull) => Err(not_sent),
    }
}

/// Why a command could not be queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueRefusal {
    /// `queue.max_per_charge_point` commands already wait for it (507).
    ChargePointFull { max: usize },
    /// `queue.max_total` commands already wait, all charge points together (507).
    TotalFull { max: usize },
    /// The keeper cannot take it now (503): its store failed, or the bus
    /// is down.
    Unavailable(String),
}

/// What `DELETE /commands/{id}` did.
#[derive(Clone, Debug, PartialEq)]
pub enum CancelOutcome {
    /// It was queued and is now cancelled (its view).
    Cancelled(Value),
    /// It is past queued (sent or ended): nothing was changed (its view; 409).
    TooLate(Value),
    /// No such command (or forgotten: finished ones are kept for a while).
    Unknown,
    Unavailable(String),
}

/// Messages to the queue's keeper.
pub enum ToQueue {
    /// Keep `command` (its id already made, [`new_command_id`]); the reply
    /// says whether it was.
    Enqueue {
        command: Box<QueuedCommand>,
        reply: Deliver<Result<(), QueueRefusal>>,
    },
    /// The view of one command (`Ok(None)`: unknown).
    Get {
        command_id: String,
        reply: Deliver<Result<Option<Value>, String>>,
    },
    Cancel {
        command_id: String,
        reply: Deliver<CancelOutcome>,
    },
    /// The views of a charge point's commands that have not ended, in
    /// queue order.
    List {
        charge_point: String,
        reply: Deliver<Result<Vec<Value>, String>>,
    },
    /// From the reactor: this charge point's session is ready for commands
    /// (its BootNotification was accepted, or its first CALL shows it had
    /// booted before). Its queued commands may go.
    Ready {
        charge_point: Arc<str>,
        version: OcppVersion,
    },
    /// From the reactor: that ready session has closed.
    Gone { charge_point: Arc<str> },
}

impl std::fmt::Debug for ToQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToQueue::Enqueue { command, .. } => write!(f, "Enqueue({})", command.command_id),
            ToQueue::Get { command_id, .. } => write!(f, "Get({command_id})"),
            ToQueue::Cancel { command_id, .. } => write!(f, "Cancel({command_id})"),
            ToQueue::List { charge_point, .. } => write!(f, "List({charge_point})"),
            ToQueue::Ready { charge_point, .. } => write!(f, "Ready({charge_point})"),
            ToQueue::Gone { charge_point } => write!(f, "Gone({charge_point})"),
        }
    }
}

/// The sending side of the keeper's inbox, held by the admin API, the bus
/// and the reactors. Bounded by `[channels] capacity`.
#[derive(Clone)]
pub enum QueueSender {
    /// The embedded store thread.
    Store(crossbeam_channel::Sender<ToQueue>),
    /// The bus bridge's queue task.
    Bus(tokio::sync::mpsc::Sender<ToQueue>),
}

/// The keeper's inbox was full (or it has stopped): the message is back.
#[derive(Debug)]
pub struct QueueBusy(pub ToQueue);

impl QueueSender {
    /// Offers a message without waiting.
    pub fn try_send(&self, message: ToQueue) -> Result<(), QueueBusy> {
        match self {
            QueueSender::Store(tx) => tx.try_send(message).map_err(|e| QueueBusy(e.into_inner())),
            QueueSender::Bus(tx) => tx.try_send(message).map_err(|e| {
                QueueBusy(match e {
                    tokio::sync::mpsc::error::TrySendError::Full(m)
                    | tokio::sync::mpsc::error::TrySendError::Closed(m) => m,
                })
            }),
        }
    }
}

/// What the bus bridge is given to keep the queue with `bus.kind = "nats"`.
pub struct QueueEnds {
    /// Bounded by `[channels] capacity` ([`bus_inbox`]).
    pub inbox: tokio::sync::mpsc::Receiver<ToQueue>,
    pub stats: Arc<QueueStats>,
}

/// The bus bridge's queue inbox.
pub fn bus_inbox(
    channels: &crate::config::ChannelsConfig,
    stats: Arc<QueueStats>,
) -> (QueueSender, QueueEnds) {
    let (tx, rx) = tokio::sync::mpsc::channel(channels.capacity);
    (QueueSender::Bus(tx), QueueEnds { inbox: rx, stats })
}

/// The embedded store's inbox (the bus bridge makes its own with
/// `tokio::sync::mpsc::channel(channels.capacity)`).
pub fn store_inbox(
    channels: &crate::config::ChannelsConfig,
) -> (QueueSender, crossbeam_channel::Receiver<ToQueue>) {
    let (tx, rx) = crossbeam_channel::bounded(channels.capacity);
    (QueueSender::Store(tx), rx)
}

/// A new command id: `c` and 24 hex digits (96 random bits), unique
/// across gateways, a valid NATS subject token and KV key.
pub fn new_command_id() -> Result<String, String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot get random bytes from the OS: {e}"))?;
    let mut id = String::with_capacity(25);
    id.push('c');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

/// Counts published by the queue's keeper, read by `/metrics`.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Commands taken into the queue.
    pub queued: AtomicU64,
    /// Commands handed to a connection (sent).
    pub delivered: AtomicU64,
    pub answered: AtomicU64,
    pub expired: AtomicU64,
    /// Cancelled by DELETE or replaced.
    pub cancelled: AtomicU64,
    pub failed: AtomicU64,
    /// Refused: `queue.max_per_charge_point` reached.
    pub refused_charge_point_full: AtomicU64,
    /// Refused: `queue.max_total` reached.
    pub refused_total_full: AtomicU64,
    /// Refused: the store or the bus could not take it.
    pub refused_unavailable: AtomicU64,
    /// Ready messages a reactor could not hand over (keeper's inbox full):
    /// that charge point's commands wait for its next boot.
    pub ready_dropped: AtomicU64,
    /// Commands queued or sent now (gauge).
    pub depth: AtomicU64,
    /// Bytes of the embedded store's log on disk (gauge; 0 on the bus).
    pub store_bytes: AtomicU64,
    /// Store writes or syncs that failed.
    pub store_errors: AtomicU64,
}

impl QueueStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
