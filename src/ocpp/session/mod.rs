//! One connection's OCPP-J RPC state, as a state machine without I/O: the
//! CALLs the gateway sends to the charge point (server-initiated calls),
//! and which answer a broken frame gets ([`answer_to`]).
//!
//! The reactor feeds a [`Session`] what happens (a command to send, an
//! answer from the charge point, a malformed answer, a timer, the close)
//! and carries out the step it gets back: send this text, arm a timer,
//! deliver this outcome to whoever asked, journal it. Nothing here reads a
//! clock, touches a socket or a channel, logs or journals; limits come in
//! as plain numbers, and the caller's reply handle is a type parameter
//! (`R`) that comes back, exactly once, with the call's outcome.
//!
//! The rules (OCPP-J 1.6 §4.1.1 and §4.2, DESIGN.md):
//! * A request is checked against its action's request schema for the
//!   connection's version before it is sent or queued
//!   ([`ServerCallOutcome::InvalidRequest`]).
//! * One server CALL is outstanding at a time; later ones wait in order,
//!   at most `max_queued` of them; beyond that they are refused
//!   ([`ServerCallOutcome::QueueFull`]).
//! * A CALLRESULT or CALLERROR is matched to the outstanding call by its
//!   message id; a CALLRESULT payload is checked against the action's
//!   response schema ([`ServerCallOutcome::InvalidResponse`]).
//! * An answer to one of the last few calls that timed out is late: its
//!   caller has already heard [`ServerCallOutcome::Timeout`], so it is only
//!   journaled. An answer to anything else is unsolicited and ignored.
//! * A malformed answer fails the outstanding call it names
//!   ([`ServerCallOutcome::MalformedAnswer`]); nothing is sent back, except
//!   on 2.1 (below).
//! * On 2.1 (OCPP 2.1 Part 4 §4.2.4), a CALLRESULT to the outstanding call
//!   that breaks the response schema, or whose payload is not an object, is
//!   answered with a CALLRESULTERROR (type 5) naming the violation
//!   ([`Settled::result_error`]); a CALLRESULTERROR from the charge point
//!   naming the outstanding call fails it like a CALLERROR.
//! * When the connection closes, every pending call ends
//!   [`ServerCallOutcome::Closed`].
//!
//! A session takes one pointer in its connection and allocates only while
//! it has calls to track.

mod frame_errors;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use super::{OcppVersion, Violation, frame, server_call};

pub use frame_errors::{FrameErrorAnswer, answer_to};

/// What became of a server-initiated CALL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCallOutcome {
    /// The charge point answered with this CALLRESULT payload (JSON text),
    /// valid against the action's response schema.
    Result(String),
    /// The charge point answered with a CALLERROR.
    Error {
        code: String,
        description: String,
        details: String,
    },
    /// The charge point answered, but the payload breaks the response schema.
    InvalidResponse {
        payload: String,
        violation: Violation,
    },
    /// The charge point answered with a frame that is not a well-formed
    /// CALLRESULT or CALLERROR (why, for the operator).
    MalformedAnswer(String),
    /// Refused before sending: the payload or action is not valid.
    InvalidRequest(Violation),
    /// No answer within the timeout; a late answer will be ignored.
    Timeout,
    /// The charge point is not connected (to this reactor, for one reply).
    NotConnected,
    /// The connection closed before the answer came.
    Closed,
    /// The connection closed while the call waited behind another: it was
    /// never sent.
    ClosedBeforeSending,
    /// Too many calls already queued for this charge point.
    QueueFull,
}

/// A server-initiated CALL offered to a connection's session.
#[derive(Debug)]
pub struct ServerCall<R> {
    pub action: Box<str>,
    /// JSON object text.
    pub payload: Box<str>,
    /// How long the charge point has to answer once the call is sent.
    pub timeout: Duration,
    /// Where the outcome goes; the session hands it back exactly once.
    pub reply: R,
}

/// Message ids for server calls: `gw{reactor}-{seq}`, with `seq` counting
/// (and wrapping) over all connections of one reactor, so an id is never
/// reused while a call could still be answered. One per reactor, lent to
/// each session step that may send a call.
#[derive(Debug)]
pub struct CallIds {
    reactor: u16,
    next: u32,
}

impl CallIds {
    pub fn new(reactor: u16) -> CallIds {
        CallIds { reactor, next: 0 }
    }

    /// The next (sequence number, message id).
    fn take(&mut self) -> (u32, Box<str>) {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        (seq, format!("gw{}-{seq}", self.reactor).into_boxed_str())
    }
}

/// A call that has just become the outstanding one. The driver sends
/// `text`, then arms a timer for `timeout` that reports `seq` to
/// [`Session::on_timeout`]. [`Session::outstanding`] names it meanwhile.
#[derive(Debug)]
pub struct CallToSend {
    pub seq: u32,
    /// The CALL frame.
    pub text: String,
    pub timeout: Duration,
    /// The request payload (JSON object text), for the journal.
    pub payload: Box<str>,
}

/// An outcome owed to the caller behind `reply`.
#[derive(Debug)]
pub struct Delivery<R> {
    pub reply: R,
    pub outcome: ServerCallOutcome,
}

/// The outstanding call has ended (answered, answered badly, timed out).
/// The driver delivers `outcome` to `reply`, then sends `next`.
#[derive(Debug)]
pub struct Settled<R> {
    pub message_id: Box<str>,
    pub action: Box<str>,
    pub reply: R,
    pub outcome: ServerCallOutcome,
    /// The first queued call, now the outstanding one.
    pub next: Option<CallToSend>,
    /// 2.1: the CALLRESULTERROR frame that tells the charge point its
    /// CALLRESULT could not be processed; sent before `next`.
    pub result_error: Option<String>,
}

/// What became of a call offered to a session.
#[derive(Debug)]
pub enum Offered<R> {
    /// Nothing was outstanding: this one is now; send it.
    Send(CallToSend),
    /// It waits behind the outstanding call (OCPP-J §4.1.1).
    Queued,
    /// Refused: the request breaks its schema, or the action is not one a
    /// central system sends ([`ServerCallOutcome::InvalidRequest`]).
    Invalid(Delivery<R>),
    /// Refused: `max_queued` calls already wait ([`ServerCallOutcome::QueueFull`]).
    QueueFull(Delivery<R>),
}

/// A CALLRESULT or CALLERROR from the charge point, borrowed from its frame.
#[derive(Clone, Copy, Debug)]
pub enum Answer<'a> {
    /// The CALLRESULT payload (JSON object text).
    Result(&'a str),
    /// The CALLERROR; `details` is JSON object text.
    Error {
        code: &'a str,
        description: &'a str,
        details: &'a str,
    },
}

impl Answer<'_> {
    /// The outcome as the charge point gave it, without checking the payload.
    fn as_given(self) -> ServerCallOutcome {
        match self {
            Answer::Result(payload) => ServerCallOutcome::Result(payload.to_owned()),
            Answer::Error {
                code,
                description,
                details,
            } => ServerCallOutcome::Error {
                code: code.to_owned(),
                description: description.to_owned(),
                details: details.to_owned(),
            },
        }
    }
}

/// What an answer from the charge point meant.
#[derive(Debug)]
pub enum Answered<R> {
    /// It answers the outstanding call.
    InTime(Settled<R>),
    /// It answers a call that timed out: its caller has heard `Timeout`
    /// already; the journal still learns how the command ended. Late
    /// answers are taken as given (not checked against the schema).
    Late {
        message_id: Box<str>,
        action: Box<str>,
        outcome: ServerCallOutcome,
    },
    /// It answers nothing the gateway sent (or remembers): ignore it.
    Unsolicited,
}

/// The server calls of one connection. See the module documentation.
#[derive(Debug)]
pub struct Session<R> {
    /// Allocated while there are calls to track.
    calls: Option<Box<Calls<R>>>,
}

impl<R> Default for Session<R> {
    fn default() -> Self {
        Session { calls: None }
    }
}

/// Calls that timed out recently, remembered so a late answer is told
/// from an unsolicited one.
const REMEMBERED_TIMEOUTS: usize = 4;

#[derive(Debug)]
struct Calls<R> {
    /// The connection's version, fixed by its handshake.
    version: OcppVersion,
    outstanding: Option<Outstanding<R>>,
    /// Checked requests waiting their turn, oldest first.
    queued: VecDeque<ServerCall<R>>,
    /// (message id, action) of the last calls that timed out, oldest first.
    timed_out: VecDeque<(Box<str>, Box<str>)>,
}

/// The call on the wire, waiting for its CALLRESULT/CALLERROR.
#[derive(Debug)]
struct Outstanding<R> {
    message_id: Box<str>,
    seq: u32,
    action: Box<str>,
    reply: R,
}

impl<R> Calls<R> {
    fn new(version: OcppVersion) -> Calls<R> {
        Calls {
            version,
            outstanding: None,
            queued: VecDeque::new(),
            timed_out: VecDeque::new(),
        }
    }

    fn is_idle(&self) -> bool {
        self.outstanding.is_none() && self.queued.is_empty() && self.timed_out.is_empty()
    }

    /// Makes `call` the outstanding one (nothing else is).
    fn start(&mut self, call: ServerCall<R>, ids: &mut CallIds) -> CallToSend {
        let (seq, message_id) = ids.take();
        let mut text = String::with_capacity(call.payload.len() + 64);
        frame::write_call(&mut text, &message_id, &call.action, &call.payload);
        self.outstanding = Some(Outstanding {
            message_id,
            seq,
            action: call.action,
            reply: call.reply,
        });
        CallToSend {
            seq,
            text,
            timeout: call.timeout,
            payload: call.payload,
        }
    }

    /// Takes the outstanding call if its message id is `id`.
    fn take_outstanding(&mut self, id: &str) -> Option<Outstanding<R>> {
        if self.outstanding.as_ref()?.message_id.as_ref() == id {
            self.outstanding.take()
        } else {
            None
        }
    }

    fn remember_timeout(&mut self, call: &Outstanding<R>) {
        if self.timed_out.len() == REMEMBERED_TIMEOUTS {
            self.timed_out.pop_front();
        }
        self.timed_out
            .push_back((call.message_id.clone(), call.action.clone()));
    }

    /// The (message id, action) of a call that timed out with this id,
    /// forgetting it.
    fn take_timed_out(&mut self, id: &str) -> Option<(Box<str>, Box<str>)> {
        let at = self.timed_out.iter().position(|(m, _)| m.as_ref() == id)?;
        self.timed_out.remove(at)
    }
}

impl<R> Session<R> {
    /// Offers a server call. `version` is the connection's; `max_queued`
    /// is `ocpp.max_queued_server_calls`.
    pub fn offer(
        &mut self,
        version: OcppVersion,
        call: ServerCall<R>,
        max_queued: usize,
        ids: &mut CallIds,
    ) -> Offered<R> {
        if let Err(violation) = server_call::check_request(version, &call.action, &call.payload) {
            return Offered::Invalid(Delivery {
                reply: call.reply,
                outcome: ServerCallOutcome::InvalidRequest(violation),
            });
        }
        let calls = self
            .calls
            .get_or_insert_with(|| Box::new(Calls::new(version)));
        if calls.outstanding.is_none() {
            Offered::Send(calls.start(call, ids))
        } else if calls.queued.len() < max_queued {
            calls.queued.push_back(call);
            Offered::Queued
        } else {
            Offered::QueueFull(Delivery {
                reply: call.reply,
                outcome: ServerCallOutcome::QueueFull,
            })
        }
    }

    /// A CALLRESULT or CALLERROR with message id `id` from the charge point.
    pub fn on_answer(&mut self, id: &str, answer: Answer<'_>, ids: &mut CallIds) -> Answered<R> {
        let Some(calls) = self.calls.as_mut() else {
            return Answered::Unsolicited;
        };
        if let Some(call) = calls.take_outstanding(id) {
            let version = calls.version;
            let mut result_error = None;
            let outcome = match answer {
                Answer::Result(payload) => {
                    match server_call::check_response(version, &call.action, payload) {
                        Ok(()) => ServerCallOutcome::Result(payload.to_owned()),
                        Err(violation) => {
                            result_error = result_error_frame(version, id, &violation);
                            ServerCallOutcome::InvalidResponse {
                                payload: payload.to_owned(),
                                violation,
                            }
                        }
                    }
                }
                Answer::Error { .. } => answer.as_given(),
            };
            let mut settled = self.settle(call, outcome, ids);
            settled.result_error = result_error;
            return Answered::InTime(settled);
        }
        match calls.take_timed_out(id) {
            Some((message_id, action)) => Answered::Late {
                message_id,
                action,
                outcome: answer.as_given(),
            },
            None => Answered::Unsolicited,
        }
    }

    /// A frame that claims to be a CALLRESULT or CALLERROR but is
    /// malformed ([`FrameErrorAnswer::FailServerCall`]): the outstanding
    /// call it names, if any, fails with the reason. `None`: it names no
    /// outstanding call (or no readable id); nothing more to do.
    pub fn on_malformed_answer(
        &mut self,
        error: &frame::FrameError,
        ids: &mut CallIds,
    ) -> Option<Settled<R>> {
        let id = error.message_id.as_deref()?;
        let calls = self.calls.as_mut()?;
        let version = calls.version;
        let call = calls.take_outstanding(id)?;
        let outcome = ServerCallOutcome::MalformedAnswer(error.to_string());
        let mut settled = self.settle(call, outcome, ids);
        if error.message_type == Some(3) {
            // A CALLRESULT that cannot be read is one that cannot be processed.
            let violation = Violation::new(super::ErrorCode::FormatViolation, error.to_string());
            settled.result_error = result_error_frame(version, id, &violation);
        }
        Some(settled)
    }

    /// The timer armed for call `seq` has fired. `None`: that call is no
    /// longer outstanding (answered meanwhile); the timer was stale.
    pub fn on_timeout(&mut self, seq: u32, ids: &mut CallIds) -> Option<Settled<R>> {
        let calls = self.calls.as_mut()?;
        if calls.outstanding.as_ref().is_none_or(|o| o.seq != seq) {
            return None;
        }
        let call = calls.outstanding.take()?;
        calls.remember_timeout(&call);
        Some(self.settle(call, ServerCallOutcome::Timeout, ids))
    }

    /// The connection is going away: the outstanding call ends `Closed`
    /// (it was on the wire), then the queued ones, in order,
    /// `ClosedBeforeSending`.
    pub fn on_close(&mut self) -> impl Iterator<Item = Delivery<R>> + use<R> {
        let (outstanding, queued) = match self.calls.take() {
            Some(calls) => {
                let Calls {
                    outstanding,
                    queued,
                    ..
                } = *calls;
                (outstanding, queued)
            }
            None => (None, VecDeque::new()),
        };
        let sent = outstanding.map(|call| Delivery {
            reply: call.reply,
            outcome: ServerCallOutcome::Closed,
        });
        sent.into_iter()
            .chain(queued.into_iter().map(|call| Delivery {
                reply: call.reply,
                outcome: ServerCallOutcome::ClosedBeforeSending,
            }))
    }

    /// Whether call `seq` is the outstanding one (so its timer still matters).
    pub fn awaits(&self, seq: u32) -> bool {
        self.outstanding_call().is_some_and(|call| call.seq == seq)
    }

    /// (message id, action) of the outstanding call.
    pub fn outstanding(&self) -> Option<(&str, &str)> {
        self.outstanding_call()
            .map(|call| (call.message_id.as_ref(), call.action.as_ref()))
    }

    /// The reply handle of the outstanding call.
    pub fn outstanding_reply(&self) -> Option<&R> {
        self.outstanding_call().map(|call| &call.reply)
    }

    fn outstanding_call(&self) -> Option<&Outstanding<R>> {
        self.calls.as_ref()?.outstanding.as_ref()
    }

    /// Ends the outstanding call `call` with `outcome`: the next queued one
    /// becomes outstanding; a session with nothing left to track frees its
    /// allocation.
    fn settle(
        &mut self,
        call: Outstanding<R>,
        outcome: ServerCallOutcome,
        ids: &mut CallIds,
    ) -> Settled<R> {
        let mut next = None;
        if let Some(calls) = self.calls.as_mut() {
            next = calls
                .queued
                .pop_front()
                .map(|queued| calls.start(queued, ids));
            if calls.is_idle() {
                self.calls = None;
            }
        }
        Settled {
            message_id: call.message_id,
            action: call.action,
            reply: call.reply,
            outcome,
            next,
            result_error: None,
        }
    }
}

/// On 2.1, the CALLRESULTERROR for the CALLRESULT with id `id`; `None` on
/// the versions without type 5.
fn result_error_frame(version: OcppVersion, id: &str, violation: &Violation) -> Option<String> {
    if !version.has_send_and_result_error() {
        return None;
    }
    let mut out = String::with_capacity(96 + violation.description.len());
    frame::write_call_result_error(&mut out, version, violation, id);
    Some(out)
}
