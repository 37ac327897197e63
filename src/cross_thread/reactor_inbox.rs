//! A reactor's inbox: the only way into a reactor from another thread.
//!
//! Senders: processors (answers), the journal writer (answers released
//! after their record is written), the admin API and the bus bridge
//! (commands, inspections, closes, evictions), other reactors (evictions of
//! a replaced connection). The receiver is the reactor alone. Bounded by
//! `[channels] capacity`; the reactor drains it between poll turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_channel::{Receiver, SendError, Sender, TrySendError};

use super::calls::{CallAnswer, ConnRef, ConnectionInfo};
use super::server_calls::{Deliver, ServerCallRequest};
use super::trace_queue::{TraceCommand, TraceReply};
use crate::config::ProfileTable;

/// Messages a reactor receives in its inbox.
#[derive(Debug)]
pub enum ToReactor {
    /// The answer to the connection's in-flight CALL (a CALLRESULT or CALLERROR
    /// frame). It also releases the connection to read its next frame.
    Answer(CallAnswer),
    /// Answers the journal writer released together, in their order: one
    /// channel operation and at most one wake for a batch instead of one
    /// per answer. Never empty.
    Answers(Vec<CallAnswer>),
    /// Describe the connections of this reactor: all (`None`, for the
    /// embedding API), or those of these charge points it holds.
    Inspect {
        charge_points: Option<Vec<Box<str>>>,
        reply: Deliver<Vec<ConnectionInfo>>,
    },
    /// Close a charge point's connection with this code, if this reactor
    /// holds it; the reply says whether it did.
    Close {
        charge_point: Box<str>,
        code: u16,
        reply: Deliver<bool>,
    },
    /// Start or stop tracing a charge point's frames, if this reactor
    /// holds it open; the reply is its trace now (`None`: not held here).
    Trace {
        charge_point: Box<str>,
        command: TraceCommand,
        reply: Deliver<Option<TraceReply>>,
    },
    /// Close this connection: its charge point has connected again
    /// (`duplicate_id = "replace"`). Stale if the connection is already gone.
    Evict { conn: ConnRef },
    /// A CALL for a charge point, sent to the reactor the registry names as
    /// its holder; if the charge point is not (or no longer) open there, the
    /// reactor answers `NotConnected`.
    ServerCall(Box<ServerCallRequest>),
    /// SIGHUP: the `[[profiles]]` now in force, to apply to the reactor's
    /// open connections at once.
    Profiles(Arc<ProfileTable>),
}

/// The sending side of one reactor's inbox, held by processors and main.
///
/// Wake protocol: the reactor sets `asleep` before it blocks in `poll` and
/// re-checks its inbox; a sender pushes, then wakes the reactor only if it
/// finds `asleep` set. A busy reactor is never woken (no eventfd write); it
/// drains its inbox in batches between `poll` turns.
#[derive(Clone)]
pub struct ReactorHandle {
    inbox: Sender<ToReactor>,
    waker: Arc<mio::Waker>,
    asleep: Arc<AtomicBool>,
}

/// The reactor's side of the wake protocol.
pub struct Inbox {
    pub receiver: Receiver<ToReactor>,
    asleep: Arc<AtomicBool>,
}

pub fn reactor_inbox(capacity: usize, waker: mio::Waker) -> (ReactorHandle, Inbox) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let asleep = Arc::new(AtomicBool::new(false));
    (
        ReactorHandle {
            inbox: tx,
            waker: Arc::new(waker),
            asleep: asleep.clone(),
        },
        Inbox {
            receiver: rx,
            asleep,
        },
    )
}

impl ReactorHandle {
    /// Sends, waiting while the inbox is full (only non-reactor threads call
    /// this; the reactor always drains its inbox, so the wait is bounded).
    pub fn send(&self, msg: ToReactor) -> Result<(), SendError<ToReactor>> {
        self.inbox.send(msg)?;
        self.wake_if_asleep();
        Ok(())
    }

    pub fn try_send(&self, msg: ToReactor) -> Result<(), TrySendError<ToReactor>> {
        self.inbox.try_send(msg)?;
        self.wake_if_asleep();
        Ok(())
    }

    /// Wakes the reactor unconditionally (shutdown, reload).
    pub fn wake(&self) {
        // A failed eventfd write leaves the reactor to notice at its next tick.
        let _ = self.waker.wake();
    }

    fn wake_if_asleep(&self) {
        // Pairs with the fence in `Inbox::prepare_sleep`: either the reactor
        // sees our message, or we see its `asleep` flag.
        fence(Ordering::SeqCst);
        if self.asleep.swap(false, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }
}

impl Inbox {
    /// Called right before `poll`: returns false (do not block) if messages
    /// are already waiting.
    pub fn prepare_sleep(&self) -> bool {
        self.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.receiver.is_empty() {
            true
        } else {
            self.asleep.store(false, Ordering::Relaxed);
            false
        }
    }

    pub fn woke(&self) {
        self.asleep.store(false, Ordering::Relaxed);
    }
}
