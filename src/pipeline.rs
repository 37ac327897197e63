//! Everything that crosses threads, and nothing else.
//!
//! ```text
//! reactor --InboundCall--> processor queue (one bounded MPMC) --> processor
//! reactor <--ToReactor---- reactor inbox (bounded, one per reactor) <-- processor, main
//! ```
//! Every channel is bounded by `[channels] capacity`. A connection lives on
//! one reactor only; other threads name it by [`ConnRef`] and send messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_channel::{Receiver, SendError, Sender, TrySendError};
use tungstenite::Utf8Bytes;

use crate::ocpp::OcppVersion;

/// Names one connection for its whole life: the owning reactor, its slot,
/// and the slot's generation. A reused slot has a new generation, so a
/// message for a closed connection is recognised and dropped by the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub reactor: u16,
    pub slot: u32,
    pub generation: u32,
}

/// A charge-point CALL, handed to the processors. The reactor has checked the
/// envelope; the processor parses it again (cheap, borrowed) and decides.
#[derive(Debug)]
pub struct InboundCall {
    pub conn: ConnRef,
    /// Shared with the connection: for the journal, without a copy.
    pub charge_point: Arc<str>,
    pub version: OcppVersion,
    pub frame: Utf8Bytes,
    /// Where the reactor found id, action and payload in `frame`; `None`
    /// (escapes, or a held frame) makes the processor parse it again.
    pub parts: Option<crate::ocpp::frame::CallRanges>,
}

/// Messages a reactor receives in its inbox.
#[derive(Debug)]
pub enum ToReactor {
    /// The answer to the connection's in-flight CALL (a CALLRESULT or CALLERROR
    /// frame). It also releases the connection to read its next frame.
    Answer(CallAnswer),
    /// Describe the connections of this reactor (all, or one charge point).
    Inspect {
        charge_point: Option<Box<str>>,
        reply: Deliver<Vec<ConnectionInfo>>,
    },
    /// Close a charge point's connection with this code, if this reactor
    /// holds it; the reply says whether it did.
    Close {
        charge_point: Box<str>,
        code: u16,
        reply: Deliver<bool>,
    },
    /// Close this connection: its charge point has connected again
    /// (`duplicate_id = "replace"`). Stale if the connection is already gone.
    Evict { conn: ConnRef },
    /// A CALL for a charge point, sent to the reactor the registry names as
    /// its holder; if the charge point is not (or no longer) open there, the
    /// reactor answers `NotConnected`.
    ServerCall(Box<ServerCallRequest>),
}

/// The answer to a connection's CALL, on its way to the owning reactor.
#[derive(Debug)]
pub struct CallAnswer {
    pub conn: ConnRef,
    /// Shared with the journal record of the answer (no copy). Empty:
    /// nothing to send, only release the connection.
    pub frame: Utf8Bytes,
    /// Set when the CALL was an accepted BootNotification: what the
    /// charge point said about itself, kept for the admin API.
    pub boot: Option<Box<BootInfo>>,
    /// The CALL was malformed or broke its schema: it counts against the
    /// connection's `ocpp.max_bad_messages`.
    pub malformed: bool,
}

/// What a charge point said about itself in its last accepted BootNotification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootInfo {
    pub vendor: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// One connection as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionInfo {
    pub id: String,
    pub remote_address: String,
    pub subprotocol: &'static str,
    pub reactor: u16,
    /// RFC 3339 UTC.
    pub connected_at: String,
    /// RFC 3339 UTC: the last frame of any kind from the charge point.
    pub last_frame_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootInfo>,
}

/// A reply a reactor owes another thread, handed over once, on the
/// reactor's thread. The function must not block: it passes the value on
/// with `try_send` into a channel that has room for every reply its owner
/// awaits, and may wake the owner (a `mio::Waker`).
pub struct Deliver<T>(Box<dyn FnOnce(T) + Send>);

impl<T> Deliver<T> {
    pub fn new(deliver: impl FnOnce(T) + Send + 'static) -> Deliver<T> {
        Deliver(Box::new(deliver))
    }

    pub fn send(self, value: T) {
        (self.0)(value)
    }
}

impl<T> std::fmt::Debug for Deliver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deliver")
    }
}

/// Where a reactor sends the one outcome it owes for a server-initiated CALL.
pub enum ReplyTo {
    /// A waiting thread (tests). The channel has a place for the one
    /// outcome, so sending never blocks.
    Channel(Sender<ServerCallOutcome>),
    /// Called once on the reactor thread; must not block (the bus bridge
    /// passes one that completes a oneshot, the admin API one that queues
    /// the outcome for its event loop and wakes it).
    Callback(Box<dyn FnOnce(ServerCallOutcome) + Send>),
}

impl ReplyTo {
    /// Delivers the outcome. A caller that has given up has dropped its
    /// receiver, which is fine.
    pub fn send(self, outcome: ServerCallOutcome) {
        match self {
            ReplyTo::Channel(tx) => {
                let _ = tx.try_send(outcome);
            }
            ReplyTo::Callback(deliver) => deliver(outcome),
        }
    }
}

impl std::fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplyTo::Channel(_) => "ReplyTo::Channel",
            ReplyTo::Callback(_) => "ReplyTo::Callback",
        })
    }
}

/// A server-initiated CALL on its way to the reactor that holds the charge point.
#[derive(Debug)]
pub struct ServerCallRequest {
    pub charge_point: Box<str>,
    pub action: Box<str>,
    /// JSON object text, validated by the reactor against the action's
    /// request schema for the connection's version before anything is sent.
    pub payload: Box<str>,
    pub timeout: std::time::Duration,
    /// The reactor that receives the request replies exactly once.
    pub reply: ReplyTo,
}

pub use crate::ocpp::session::ServerCallOutcome;

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
