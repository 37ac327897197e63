//! Calls from the gateway to a charge point (admin API, bus, tests) and
//! the one outcome the owning reactor owes for each.

use crossbeam_channel::Sender;

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
    /// The kept command this call delivers (`queue/`, `bus/queue.rs`); it
    /// goes into the call's journal lines. `None` for a live command.
    pub command_id: Option<Box<str>>,
}

/// What became of a server-initiated CALL (the session state machine in
/// `ocpp::session` decides the protocol outcomes; defined there).
pub use crate::ocpp::session::ServerCallOutcome;
