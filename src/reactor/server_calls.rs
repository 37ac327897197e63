//! Server-initiated CALLs of one connection: at most one outstanding (OCPP-J
//! §4.1.1), the rest queued in order. Owned by the connection, so by its
//! reactor; nothing here is shared.

use std::collections::VecDeque;

// The reactor side below extends the parent's Reactor: its imports apply.
use super::*;
use crate::pipeline::ReplyTo;

/// The call on the wire, waiting for its CALLRESULT/CALLERROR.
pub struct Outstanding {
    /// Our message id, unique per reactor (`seq` in text).
    pub message_id: Box<str>,
    pub seq: u32,
    pub action: Box<str>,
    pub reply: ReplyTo,
}

#[derive(Default)]
pub struct ServerCalls {
    pub outstanding: Option<Outstanding>,
    /// Validated requests waiting their turn.
    pub queued: VecDeque<ServerCallRequest>,
}

impl ServerCalls {
    pub fn is_idle(&self) -> bool {
        self.outstanding.is_none() && self.queued.is_empty()
    }

    /// Answers every pending call with `outcome` (the connection is going away).
    pub fn fail_all(&mut self, outcome: &ServerCallOutcome) {
        if let Some(call) = self.outstanding.take() {
            call.reply.send(outcome.clone());
        }
        for request in self.queued.drain(..) {
            request.reply.send(outcome.clone());
        }
    }
}

/// The reactor's side: routing, sending, matching answers, timeouts.
impl Reactor {
    /// The open (not closing) connection of a charge point on this reactor.
    pub(super) fn open_key(&mut self, charge_point: &str) -> Option<SlotKey> {
        let key = self.ids.get(charge_point).copied()?;
        let conn = self.conns.get_mut(key)?;
        (matches!(conn.link, Link::Open(_)) && !conn.closing).then_some(key)
    }

    pub(super) fn on_server_call(&mut self, request: ServerCallRequest) {
        let Some(key) = self.open_key(&request.charge_point) else {
            request.reply.send(ServerCallOutcome::NotConnected);
            return;
        };
        let capacity = self.config.channels.capacity;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Err(violation) =
            server_call::check_request(conn.version, &request.action, &request.payload)
        {
            let outcome = ServerCallOutcome::InvalidRequest(violation);
            request.reply.send(outcome);
            return;
        }
        let calls = conn.server_calls.get_or_insert_with(Box::default);
        if calls.outstanding.is_none() {
            self.send_server_call(key, request);
        } else if calls.queued.len() < capacity {
            // OCPP-J §4.1.1: one CALL at a time; the rest wait their turn.
            calls.queued.push_back(request);
        } else {
            request.reply.send(ServerCallOutcome::QueueFull);
        }
    }

    pub(super) fn send_server_call(&mut self, key: SlotKey, request: ServerCallRequest) {
        let Some(conn) = self.conns.get_mut(key) else {
            request.reply.send(ServerCallOutcome::Closed);
            return;
        };
        let seq = self.next_call_seq;
        self.next_call_seq = self.next_call_seq.wrapping_add(1);
        let message_id = format!("gw{}-{seq}", self.index);
        let mut text = String::with_capacity(request.payload.len() + 64);
        frame::write_call(&mut text, &message_id, &request.action, &request.payload);
        let record = match (
            &self.journal,
            Payload::from_json(request.payload.to_string()),
        ) {
            (Some(_), Ok(payload)) => Some(JournalRecord::message(
                conn.charge_point.clone(),
                self.index,
                Direction::Out,
                Kind::ServerCall,
                Some(&request.action),
                &message_id,
                payload,
            )),
            _ => None,
        };
        let calls = conn.server_calls.get_or_insert_with(Box::default);
        calls.outstanding = Some(Outstanding {
            message_id: message_id.into_boxed_str(),
            seq,
            action: request.action,
            reply: request.reply,
        });
        self.counters.server_calls_sent += 1;
        if let Some(record) = record {
            self.journal(record);
        }
        self.schedule(request.timeout, key, TimerKind::ServerCall(seq));
        self.send(key, text.into());
    }

    pub(super) fn send_next_server_call(&mut self, key: SlotKey) {
        let next = self
            .conns
            .get_mut(key)
            .and_then(|c| c.server_calls.as_mut())
            .and_then(|calls| calls.queued.pop_front());
        if let Some(request) = next {
            self.send_server_call(key, request);
        }
    }

    /// A CALLRESULT (`Ok(payload)`) or CALLERROR from the charge point.
    pub(super) fn on_call_answer(
        &mut self,
        key: SlotKey,
        id: &str,
        answer: Result<&str, ServerCallOutcome>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let version = conn.version;
        let ours = conn
            .server_calls
            .as_mut()
            .filter(|c| c.outstanding.as_ref().is_some_and(|o| &*o.message_id == id))
            .and_then(|c| c.outstanding.take());
        let Some(call) = ours else {
            // Not an answer to anything we sent, or one after its timeout.
            self.counters.unsolicited_results += 1;
            debug!(
                "{}: result for unknown message id {id:?} ignored",
                conn.charge_point
            );
            return;
        };
        let outcome = match answer {
            Ok(payload) => match server_call::check_response(version, &call.action, payload) {
                Ok(()) => ServerCallOutcome::Result(payload.to_owned()),
                Err(violation) => ServerCallOutcome::InvalidResponse {
                    payload: payload.to_owned(),
                    violation,
                },
            },
            Err(error) => error,
        };
        self.counters.server_calls_answered += 1;
        let mut record = None;
        if self.journal.is_some() {
            let (kind, payload) = match &outcome {
                ServerCallOutcome::Error { details, .. } => (Kind::Error, details.as_str()),
                ServerCallOutcome::Result(p)
                | ServerCallOutcome::InvalidResponse { payload: p, .. } => {
                    (Kind::Result, p.as_str())
                }
                _ => (Kind::Result, "{}"),
            };
            if let Ok(payload) = Payload::from_json(payload.to_owned()) {
                let mut answer = JournalRecord::message(
                    conn.charge_point.clone(),
                    self.index,
                    Direction::In,
                    kind,
                    Some(&call.action),
                    id,
                    payload,
                );
                if let ServerCallOutcome::Error {
                    code, description, ..
                } = &outcome
                {
                    answer.extra = crate::journal::Extra::Error {
                        code: code.as_str().into(),
                        description: description.clone().into(),
                    };
                }
                record = Some(answer);
            }
        }
        call.reply.send(outcome);
        if conn.server_calls.as_ref().is_some_and(|c| c.is_idle()) {
            conn.server_calls = None;
        }
        if let Some(record) = record {
            self.journal(record);
        }
        self.send_next_server_call(key);
    }
}
