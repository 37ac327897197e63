//! Frame traces of single charge points: what reactors hand the trace
//! writer, the queue it travels on, and the writer's counters.
//!
//! ```text
//! reactors --TraceEvent--> trace queue (bounded, channels.capacity) --> trace writer --> {dir}/{id}.trace
//! admin --ToReactor::Trace--> the holder reactor (starts/stops it) --Deliver<TraceReply>--> admin
//! ```
//! A reactor only ever `try_send`s here. A full queue drops a frame (the
//! reactor counts it, `trace_frames_dropped`); the start and stop of a
//! trace are kept by the reactor and offered again each turn, so a file is
//! always closed. An event carries what the reactor already has: the id
//! (shared `Arc`), the frame's text (a `Utf8Bytes` clone shares the
//! buffer) and a `SystemTime`; formatting happens on the writer thread.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tungstenite::Utf8Bytes;

use super::journal_record::Direction;
use crate::config::ChannelsConfig;

/// One traced frame's content: a text frame's text, or what a control
/// or binary frame was.
#[derive(Debug, Clone)]
pub enum TracedFrame {
    Text(Utf8Bytes),
    /// Bytes of a binary frame (OCPP-J is text only; the gateway closes 1003).
    Binary(usize),
    /// Payload bytes of a ping or pong.
    Ping(usize),
    Pong(usize),
    /// A close frame: code and reason (none: no status code was sent).
    Close(Option<(u16, Utf8Bytes)>),
}

/// Why a trace began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceCause {
    /// `POST /connections/{id}/trace`.
    Operator,
    /// A profile's `trace` globs.
    Profile,
}

impl TraceCause {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceCause::Operator => "operator",
            TraceCause::Profile => "profile",
        }
    }
}

/// Why a trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEnd {
    /// `DELETE /connections/{id}/trace`.
    Operator,
    /// Its minutes ran out.
    Expired,
    /// SIGHUP: the profile in force no longer traces it.
    Profile,
    /// The connection ended.
    Disconnected,
}

impl TraceEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceEnd::Operator => "operator",
            TraceEnd::Expired => "expired",
            TraceEnd::Profile => "profile",
            TraceEnd::Disconnected => "disconnected",
        }
    }
}

/// What a reactor tells the trace writer.
#[derive(Debug)]
pub enum TraceEvent {
    /// A connection of `charge_point` is traced from now on: the writer
    /// opens (appends to) its file. `until`: when an operator's trace
    /// ends (`None`: for as long as the profile says).
    Start {
        charge_point: Arc<str>,
        at: SystemTime,
        cause: TraceCause,
        until: Option<SystemTime>,
    },
    /// One frame of a traced connection, at the moment the reactor read
    /// or wrote it.
    Frame {
        charge_point: Arc<str>,
        at: SystemTime,
        dir: Direction,
        frame: TracedFrame,
    },
    /// That connection is traced no more: the writer closes the file once
    /// no connection of the id is traced.
    Stop {
        charge_point: Arc<str>,
        at: SystemTime,
        why: TraceEnd,
    },
}

impl TraceEvent {
    /// A start or stop: these are never dropped (the reactor keeps them
    /// until the queue takes them).
    pub fn is_control(&self) -> bool {
        !matches!(self, TraceEvent::Frame { .. })
    }
}

/// The trace writer's counters: updated by the writer alone, read by the
/// admin API.
#[derive(Debug, Default)]
pub struct TraceStats {
    pub frames_written: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Frames not written because their file had reached `max_file_bytes`.
    pub frames_capped: AtomicU64,
    /// Files that reached `max_file_bytes` (each gets one truncation line).
    pub files_capped: AtomicU64,
    /// Failed opens, writes or flushes (the file is closed; the next
    /// start opens it again).
    pub io_errors: AtomicU64,
    /// Trace files open now.
    pub files_open: AtomicU64,
}

/// The sending side of the trace queue, one clone per reactor.
#[derive(Clone)]
pub struct TraceSender(Sender<TraceEvent>);

/// The trace queue, sized like every channel by `[channels] capacity`.
pub fn trace_queue(channels: &ChannelsConfig) -> (TraceSender, Receiver<TraceEvent>) {
    let (tx, rx) = crossbeam_channel::bounded(channels.capacity);
    (TraceSender(tx), rx)
}

impl TraceSender {
    /// Never waits: a full queue gives the event back; a closed one (the
    /// writer has stopped) too.
    pub fn try_send(&self, event: TraceEvent) -> Result<(), TrySendError<TraceEvent>> {
        self.0.try_send(event)
    }

    /// The queue's capacity (`channels.capacity`).
    pub fn capacity(&self) -> usize {
        self.0.capacity().unwrap_or(usize::MAX)
    }
}

/// What the admin asks the reactor holding a charge point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceCommand {
    /// Trace it for this long from now (replacing an earlier time limit).
    Start(Duration),
    Stop,
}

/// The reactor's answer: the charge point's trace as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceReply {
    pub traced: bool,
    /// RFC 3339 UTC: when the operator's trace ends.
    pub until: Option<String>,
    /// Its profile traces it too (no time limit; DELETE still stops it
    /// until the next SIGHUP or reconnect).
    pub by_profile: bool,
}
