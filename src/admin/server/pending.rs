//! What a waiting admin request is waiting for, and the replies that
//! complete it (the admin thread's own data; see `waiting.rs`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::admin::routes::ListQuery;
use crate::command_json::Command;
use crate::cross_thread::{
    CancelOutcome, ConnectionInfo, QueueRefusal, QueueSpec, ServerCallOutcome, TraceReply,
};
use crate::slab::SlotKey;

/// A reactor's reply to the request `ticket`.
pub(super) struct Reply {
    pub(super) ticket: u64,
    pub(super) body: ReplyBody,
}

pub(super) enum ReplyBody {
    Call(ServerCallOutcome),
    Inspect(Vec<ConnectionInfo>),
    Close(bool),
    Trace(Option<TraceReply>),
    /// From the command queue's keeper.
    Enqueued(Result<(), QueueRefusal>),
    Command(Result<Option<Value>, String>),
    Cancel(CancelOutcome),
    Commands(Result<Vec<Value>, String>),
}

/// A request that waits for reactors or a charge point.
pub(super) struct Pending {
    pub(super) conn: SlotKey,
    pub(super) keep_alive: bool,
    /// A Call waits for its timeout (the reactor answers then) and
    /// `REPLY_GRACE`; the others for `stall_after`.
    pub(super) deadline: Instant,
    pub(super) awaiting: Awaiting,
}

pub(super) enum Awaiting {
    Call {
        charge_point: String,
        timeout: Duration,
        /// The command again, with how to keep it, when the request asked
        /// for that: the reactor may find the charge point gone.
        queue: Option<Box<(Command, QueueSpec)>>,
    },
    Enqueue {
        command_id: String,
    },
    Command {
        command_id: String,
    },
    Cancel {
        command_id: String,
    },
    Commands,
    List {
        query: ListQuery,
        /// Ids that matched, on every page.
        total: usize,
        found: Vec<ConnectionInfo>,
        /// Reactors yet to reply.
        replies_left: usize,
    },
    Detail {
        charge_point: String,
    },
    Close {
        charge_point: String,
        code: u16,
    },
    Trace {
        charge_point: String,
        /// A POST (start), not a DELETE.
        start: bool,
    },
}
