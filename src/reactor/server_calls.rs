//! Server-initiated CALLs of one connection: at most one outstanding (OCPP-J
//! §4.1.1), the rest queued in order. Owned by the connection, so by its
//! reactor; nothing here is shared.

use std::collections::VecDeque;

// The reactor side below extends the parent's Reactor: its imports apply.
use super::*;
use crate::cross_thread::ReplyTo;

/// The call on the wire, waiting for its CALLRESULT/CALLERROR.
pub struct Outstanding {
    /// Our message id, unique per reactor (`seq` in text).
    pub message_id: Box<str>,
    pub seq: u32,
    pub action: Box<str>,
    pub reply: ReplyTo,
}

/// Calls that timed out recently, remembered so a late answer is
/// journaled as late rather than as unsolicited.
const REMEMBERED_TIMEOUTS: usize = 4;

#[derive(Default)]
pub struct ServerCalls {
    pub outstanding: Option<Outstanding>,
    /// Validated requests waiting their turn (`ocpp.max_queued_server_calls`).
    pub queued: VecDeque<ServerCallRequest>,
    /// (message id, action) of the last calls that timed out, oldest first.
    pub timed_out: VecDeque<(Box<str>, Box<str>)>,
}

impl ServerCalls {
    pub fn is_idle(&self) -> bool {
        self.outstanding.is_none() && self.queued.is_empty() && self.timed_out.is_empty()
    }

    fn remember_timeout(&mut self, call: &Outstanding) {
        if self.timed_out.len() == REMEMBERED_TIMEOUTS {
            self.timed_out.pop_front();
        }
        self.timed_out
            .push_back((call.message_id.clone(), call.action.clone()));
    }

    /// The action of a call that timed out with this id, forgetting it.
    fn take_timed_out(&mut self, id: &str) -> Option<Box<str>> {
        let at = self.timed_out.iter().position(|(m, _)| &**m == id)?;
        self.timed_out.remove(at).map(|(_, action)| action)
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
        let max_queued = self.config.ocpp.max_queued_server_calls;
        if self.reads_paused {
            // The journal is behind: a command would add records it cannot take.
            request.reply.send(ServerCallOutcome::QueueFull);
            return;
        }
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
        } else if calls.queued.len() < max_queued {
            // OCPP-J §4.1.1: one CALL at a time; the rest wait their turn.
            calls.queued.push_back(request);
        } else {
            self.counters.server_calls_refused_queue_full += 1;
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
        let calls = conn.server_calls.as_mut();
        let ours = calls.and_then(|c| {
            if c.outstanding.as_ref().is_some_and(|o| &*o.message_id == id) {
                c.outstanding.take().map(Ok)
            } else {
                c.take_timed_out(id).map(Err)
            }
        });
        let call = match ours {
            Some(Ok(call)) => call,
            Some(Err(action)) => {
                // After its timeout: the caller has its answer (504); the
                // journal still learns how the command ended.
                self.counters.late_results += 1;
                let outcome = match answer {
                    Ok(payload) => ServerCallOutcome::Result(payload.to_owned()),
                    Err(error) => error,
                };
                let record = self.answer_record(key, id, &action, &outcome, true);
                if let Some(record) = record {
                    self.journal(record);
                }
                return;
            }
            None => {
                // Not an answer to anything we sent.
                self.counters.unsolicited_results += 1;
                debug!(
                    "{}: result for unknown message id {id:?} ignored",
                    conn.charge_point
                );
                return;
            }
        };
        // Its timer can no longer fire usefully.
        self.abandoned_timers += 1;
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
        let record = self.answer_record(key, id, &call.action, &outcome, false);
        call.reply.send(outcome);
        self.forget_idle_calls(key);
        if let Some(record) = record {
            self.journal(record);
        }
        self.send_next_server_call(key);
    }

    /// A frame that should have been a CALLRESULT or CALLERROR but is
    /// malformed: nothing is sent back (OCPP-J answers only CALLs with a
    /// CALLERROR); the server call it names fails with the reason.
    pub(super) fn on_malformed_answer(&mut self, key: SlotKey, error: &frame::FrameError) {
        self.counters.malformed_answers += 1;
        let Some(id) = error.message_id.as_deref() else {
            return;
        };
        let Some(call) = self
            .conns
            .get_mut(key)
            .and_then(|c| c.server_calls.as_mut())
            .filter(|c| c.outstanding.as_ref().is_some_and(|o| &*o.message_id == id))
            .and_then(|c| c.outstanding.take())
        else {
            return;
        };
        self.abandoned_timers += 1;
        let why = error.to_string();
        let record = self.conns.get_mut(key).map(|conn| {
            let mut record = JournalRecord::bare(
                conn.charge_point.clone(),
                self.index,
                Direction::In,
                Kind::InvalidAnswer,
            );
            record.action = Some(call.action.as_ref().into());
            record.id = Some(id.into());
            record.extra = crate::cross_thread::KindFields::Error {
                code: "FormationViolation".into(),
                description: why.clone().into(),
            };
            record
        });
        call.reply.send(ServerCallOutcome::MalformedAnswer(why));
        self.forget_idle_calls(key);
        if let Some(record) = record {
            self.journal(record);
        }
        self.send_next_server_call(key);
    }

    /// The server call `seq` got no answer in time: its caller hears
    /// `Timeout`, the journal gets a `timeout` line, the next call goes.
    pub(super) fn server_call_timed_out(&mut self, key: SlotKey, seq: u32) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(calls) = conn.server_calls.as_mut() else {
            return;
        };
        if calls.outstanding.as_ref().is_none_or(|o| o.seq != seq) {
            return;
        }
        let Some(call) = calls.outstanding.take() else {
            return;
        };
        calls.remember_timeout(&call);
        self.counters.server_calls_timed_out += 1;
        let mut record = JournalRecord::bare(
            conn.charge_point.clone(),
            self.index,
            Direction::Out,
            Kind::Timeout,
        );
        record.action = Some(call.action.as_ref().into());
        record.id = Some(call.message_id.as_ref().into());
        call.reply.send(ServerCallOutcome::Timeout);
        self.journal(record);
        self.send_next_server_call(key);
    }

    fn forget_idle_calls(&mut self, key: SlotKey) {
        if let Some(conn) = self.conns.get_mut(key)
            && conn.server_calls.as_ref().is_some_and(|c| c.is_idle())
        {
            conn.server_calls = None;
        }
    }

    /// The journal line of a charge point's answer to a server call:
    /// `result` (also for one that breaks the response schema) or `error`.
    fn answer_record(
        &mut self,
        key: SlotKey,
        id: &str,
        action: &str,
        outcome: &ServerCallOutcome,
        late: bool,
    ) -> Option<JournalRecord> {
        self.journal.as_ref()?;
        let conn = self.conns.get_mut(key)?;
        let (kind, payload) = match outcome {
            ServerCallOutcome::Error { details, .. } => (Kind::Error, details.as_str()),
            ServerCallOutcome::Result(p)
            | ServerCallOutcome::InvalidResponse { payload: p, .. } => (Kind::Result, p.as_str()),
            _ => (Kind::Result, "{}"),
        };
        let payload = Payload::from_json(payload.to_owned()).ok()?;
        let mut record = JournalRecord::message(
            conn.charge_point.clone(),
            self.index,
            Direction::In,
            kind,
            Some(action),
            id,
            payload,
        );
        if let ServerCallOutcome::Error {
            code, description, ..
        } = outcome
        {
            record.extra = crate::cross_thread::KindFields::Error {
                code: code.as_str().into(),
                description: description.clone().into(),
            };
        }
        record.late = late;
        Some(record)
    }
}
