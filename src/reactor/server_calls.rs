//! Server-initiated CALLs of one connection: at most one outstanding (OCPP-J
//! §4.1.1), the rest queued in order. Owned by the connection, so by its
//! reactor; nothing here is shared.

use std::collections::VecDeque;

use crossbeam_channel::Sender;

use crate::pipeline::{ServerCallOutcome, ServerCallReply, ServerCallRequest};

/// The call on the wire, waiting for its CALLRESULT/CALLERROR.
pub struct Outstanding {
    /// Our message id, unique per reactor (`seq` in text).
    pub message_id: Box<str>,
    pub seq: u32,
    pub action: Box<str>,
    pub reply: Sender<ServerCallReply>,
}

#[derive(Default)]
pub struct ServerCalls {
    pub outstanding: Option<Outstanding>,
    /// Validated requests waiting their turn.
    pub queued: VecDeque<ServerCallRequest>,
}

/// Sends the one reply a reactor owes a caller. The reply channel has a
/// place for every reactor, so this never blocks; a caller that has given
/// up has dropped the receiver, which is fine.
pub fn reply(to: &Sender<ServerCallReply>, reactor: u16, outcome: ServerCallOutcome) {
    let _ = to.try_send(ServerCallReply { reactor, outcome });
}

impl ServerCalls {
    pub fn is_idle(&self) -> bool {
        self.outstanding.is_none() && self.queued.is_empty()
    }

    /// Answers every pending call with `outcome` (the connection is going away).
    pub fn fail_all(&mut self, reactor: u16, outcome: &ServerCallOutcome) {
        if let Some(call) = self.outstanding.take() {
            reply(&call.reply, reactor, outcome.clone());
        }
        for request in self.queued.drain(..) {
            reply(&request.reply, reactor, outcome.clone());
        }
    }
}
