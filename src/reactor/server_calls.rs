//! Server-initiated CALLs, on the reactor thread: routes a command to its
//! connection's [`Session`] and carries out what the session decides —
//! sending the CALL, arming its timeout in the timer wheel, delivering the
//! outcome through the request's `ReplyTo`, journaling, counting.
//!
//! The OCPP rules themselves (one outstanding call, the queue, matching
//! answers, schemas, late answers) are in [`crate::ocpp::session`]. This
//! file touches only its reactor's state: the connection, the wheel, the
//! journal queue and the counters.

// The reactor side below extends the parent's Reactor: its imports apply.
use super::connection::CallReply;
use super::*;
use crate::ocpp::session::{Answer, Answered, CallToSend, Delivery, Offered, ServerCall, Settled};

fn deliver(delivery: Delivery<CallReply>) {
    delivery.reply.send(delivery.outcome);
}

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
        let call = ServerCall {
            action: request.action,
            payload: request.payload,
            timeout: request.timeout,
            reply: CallReply {
                reply: request.reply,
                command_id: request.command_id,
            },
        };
        match conn
            .server_calls
            .offer(conn.version, call, max_queued, &mut self.call_ids)
        {
            Offered::Send(call) => self.send_server_call(key, call),
            Offered::Queued => {}
            Offered::Invalid(refused) => deliver(refused),
            Offered::QueueFull(refused) => {
                self.counters.server_calls_refused_queue_full += 1;
                deliver(refused);
            }
        }
    }

    /// Sends the call the session has just made outstanding: journal line
    /// first, then its timer, then the frame.
    fn send_server_call(&mut self, key: SlotKey, call: CallToSend) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let record = match (
            &self.journal,
            conn.server_calls.outstanding(),
            Payload::from_json(call.payload.into()),
        ) {
            (Some(_), Some((message_id, action)), Ok(payload)) => {
                let mut record = JournalRecord::message(
                    conn.charge_point.clone(),
                    self.index,
                    Direction::Out,
                    Kind::ServerCall,
                    Some(action),
                    message_id,
                    payload,
                );
                record.command_id = conn
                    .server_calls
                    .outstanding_reply()
                    .and_then(|r| r.command_id.as_deref())
                    .map(|id| Box::new(id.to_owned()));
                Some(record)
            }
            _ => None,
        };
        self.counters.server_calls_sent += 1;
        if let Some(record) = record {
            self.journal(record);
        }
        self.schedule(call.timeout, key, TimerKind::ServerCall(call.seq));
        self.send(key, call.text.into());
    }

    /// A CALLRESULT or CALLERROR from the charge point.
    pub(super) fn on_call_answer(&mut self, key: SlotKey, id: &str, answer: Answer<'_>) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.server_calls.on_answer(id, answer, &mut self.call_ids) {
            Answered::InTime(settled) => {
                // Its timer can no longer fire usefully.
                self.abandoned_timers += 1;
                self.counters.server_calls_answered += 1;
                self.finish_call(key, settled);
            }
            Answered::Late {
                message_id,
                action,
                outcome,
            } => {
                // After its timeout: the caller has its answer (504); the
                // journal still learns how the command ended.
                self.counters.late_results += 1;
                if let Some(record) = self.answer_record(key, &message_id, &action, &outcome, true)
                {
                    self.journal(record);
                }
            }
            Answered::Unsolicited => {
                self.counters.unsolicited_results += 1;
                debug!(
                    "{}: result for unknown message id {id:?} ignored",
                    conn.charge_point
                );
            }
        }
    }

    /// A CALLRESULTERROR (2.1) from the charge point. Naming the
    /// outstanding server call (or one that timed out), it ends that call
    /// like a CALLERROR. Otherwise it says the charge point could not
    /// process one of our CALLRESULTs: nothing more can be done on the
    /// wire (it is never answered), so it is journaled, counted and logged.
    pub(super) fn on_result_error(&mut self, key: SlotKey, id: &str, error: Answer<'_>) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let known = conn
            .server_calls
            .outstanding()
            .is_some_and(|(m, _)| m == id);
        if known {
            self.on_call_answer(key, id, error);
            return;
        }
        let Answer::Error {
            code,
            description,
            details,
        } = error
        else {
            return;
        };
        warn!(
            "{}: CALLRESULTERROR {code} for our answer to {id:?}: {description}",
            conn.charge_point
        );
        if self.journal.is_none() {
            return;
        }
        let Ok(payload) = Payload::from_json(details.to_owned()) else {
            return;
        };
        let mut record = JournalRecord::message(
            conn.charge_point.clone(),
            self.index,
            Direction::In,
            Kind::ResultError,
            None,
            id,
            payload,
        );
        record.extra = crate::cross_thread::KindFields::Error {
            code: code.into(),
            description: description.to_owned().into(),
        };
        self.journal(record);
    }

    /// A frame that should have been a CALLRESULT or CALLERROR but is
    /// malformed: nothing is sent back; the server call it names fails.
    pub(super) fn on_malformed_answer(&mut self, key: SlotKey, error: &frame::FrameError) {
        self.counters.malformed_answers += 1;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(settled) = conn
            .server_calls
            .on_malformed_answer(error, &mut self.call_ids)
        {
            self.abandoned_timers += 1;
            self.finish_call(key, settled);
        }
    }

    /// The server call `seq` got no answer in time: its caller hears
    /// `Timeout`, the journal gets a `timeout` line, the next call goes.
    pub(super) fn server_call_timed_out(&mut self, key: SlotKey, seq: u32) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(settled) = conn.server_calls.on_timeout(seq, &mut self.call_ids) {
            self.counters.server_calls_timed_out += 1;
            self.finish_call(key, settled);
        }
    }

    /// Carries out the end of an outstanding call: its journal line is
    /// made, the outcome delivered, the line journaled, the next call sent.
    fn finish_call(&mut self, key: SlotKey, settled: Settled<CallReply>) {
        let Settled {
            message_id,
            action,
            reply,
            outcome,
            next,
            result_error,
        } = settled;
        let mut record = self.answer_record(key, &message_id, &action, &outcome, false);
        if let Some(record) = &mut record {
            record.command_id = reply
                .command_id
                .as_deref()
                .map(|id| Box::new(id.to_owned()));
        }
        reply.send(outcome);
        if let Some(record) = record {
            self.journal(record);
        }
        if let Some(frame) = result_error {
            // 2.1: tell the charge point its CALLRESULT could not be processed.
            self.counters.result_errors_sent += 1;
            self.send(key, frame.into());
        }
        if let Some(next) = next {
            self.send_server_call(key, next);
        }
    }

    /// The journal line of how a server call ended: the charge point's
    /// `result` (also one that breaks the response schema) or `error`, an
    /// `invalid_answer`, or our `timeout`.
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
        let bare = |dir, kind| {
            let mut record = JournalRecord::bare(conn.charge_point.clone(), self.index, dir, kind);
            record.action = Some(action.into());
            record.id = Some(id.into());
            record
        };
        let (kind, payload) = match outcome {
            ServerCallOutcome::Error { details, .. } => (Kind::Error, details.as_str()),
            ServerCallOutcome::Result(p)
            | ServerCallOutcome::InvalidResponse { payload: p, .. } => (Kind::Result, p.as_str()),
            ServerCallOutcome::MalformedAnswer(why) => {
                let mut record = bare(Direction::In, Kind::InvalidAnswer);
                record.extra = crate::cross_thread::KindFields::Error {
                    code: "FormationViolation".into(),
                    description: why.clone().into(),
                };
                return Some(record);
            }
            ServerCallOutcome::Timeout => return Some(bare(Direction::Out, Kind::Timeout)),
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
