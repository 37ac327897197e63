//! Reading a connection: frames in, each handled or held, within the
//! limits that keep one connection from slowing its reactor.
//!
//! Per poll turn a connection delivers at most `websocket.bytes_per_turn`
//! bytes and `websocket.frames_per_turn` messages; what is left is read on
//! the next turn (the read queue), after every other ready connection has
//! had its share. A CALL goes to the processors one at a time per
//! connection; while one is out, the connection is still read for control
//! frames and answers to server calls, and the next CALL (or any frame that
//! needs an answer of its own) is held, which stops reading until the
//! answer is back. Bytes of partly received messages count against the
//! gateway-wide `websocket.max_buffered_bytes`, and every message must be
//! complete within `websocket.message_timeout`.
//!
//! On the reactor thread. Touches the connection, the processor queue
//! (`try_send` only), the gateway-wide buffer tally (an atomic) and the
//! counters. Which answer a broken frame gets is
//! [`crate::ocpp::session::answer_to`]; answers to server calls go to the
//! connection's session (`server_calls`).

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;
use crate::ocpp::schema::Lenience;
use crate::ocpp::session::{self, Answer, FrameErrorAnswer};

/// Offers a connection's CALL to the processor queue without waiting; on
/// success the connection has a CALL in flight. On failure the frame comes
/// back to be held.
fn hand_over(
    processors: &Sender<InboundCall>,
    conn_ref: ConnRef,
    conn: &mut Connection,
    frame: Utf8Bytes,
    parts: Option<CallRanges>,
    lenience: Lenience,
    counters: &mut ReactorCounters,
) -> Result<(), TrySendError<Utf8Bytes>> {
    let call = inbound_call(conn_ref, conn, frame, parts, lenience);
    match processors.try_send(call) {
        Ok(()) => {
            conn.in_flight = true;
            counters.calls_dispatched += 1;
            Ok(())
        }
        Err(TrySendError::Full(call)) => Err(TrySendError::Full(call.frame)),
        Err(TrySendError::Disconnected(call)) => Err(TrySendError::Disconnected(call.frame)),
    }
}

/// A connection's CALL as processors (and inline answerers) take it.
fn inbound_call(
    conn_ref: ConnRef,
    conn: &Connection,
    frame: Utf8Bytes,
    parts: Option<CallRanges>,
    lenience: Lenience,
) -> InboundCall {
    InboundCall {
        conn: conn_ref,
        charge_point: conn.charge_point.clone(),
        version: conn.version,
        frame,
        parts,
        lenience,
        lenient_notes: None,
    }
}

impl Reactor {
    /// One read pass over a connection: frames until the socket would
    /// block, the connection must wait, or its share of this turn is used
    /// up (then it is queued for the next turn). Edge-triggered readiness:
    /// whoever stops reading early must come back here — the read queue, an
    /// answer (`resume`), the buffer budget or the call-rate timer.
    pub(super) fn read_frames(&mut self, key: SlotKey) {
        let ws = &self.config.websocket;
        let (bytes_budget, frames_budget) = (ws.bytes_per_turn, ws.frames_per_turn);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if self.reads_paused && !conn.closing {
            self.queue_read(key);
            return;
        }
        if let Link::Open(ws) = &mut conn.link {
            ws.get_mut().grant(bytes_budget);
        }
        let mut frames = 0;
        let drained = loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.discarding {
                self.discard(key);
                return;
            }
            if !conn.wants_read() {
                break false;
            }
            if frames >= frames_budget {
                self.counters.read_budget_exhausted += 1;
                self.queue_read(key);
                break false;
            }
            let Link::Open(ws) = &mut conn.link else {
                return;
            };
            let message = match ws.read() {
                Ok(message) => message,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let exhausted = ws.get_ref().exhausted();
                    if conn.flush() != KeepOrDrop::Keep {
                        self.remove(key, "write failed");
                        return;
                    }
                    if exhausted {
                        self.counters.read_budget_exhausted += 1;
                        self.queue_read(key);
                    }
                    break true;
                }
                Err(tungstenite::Error::Capacity(e)) => {
                    debug!("{}: {e}", conn.charge_point);
                    self.fail(key, CloseCode::Size, "message too big");
                    return;
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    self.close(key, CloseCode::Invalid, "text frame is not UTF-8");
                    return;
                }
                Err(tungstenite::Error::Protocol(e)) if !conn.closing => {
                    debug!("{}: WebSocket protocol error: {e}", conn.charge_point);
                    self.fail(key, CloseCode::Protocol, "WebSocket protocol error");
                    return;
                }
                Err(e) => {
                    let why = match keep_or_drop(e) {
                        KeepOrDrop::Drop(why) => why,
                        KeepOrDrop::Keep => "closed",
                    };
                    self.remove(key, why);
                    return;
                }
            };
            frames += 1;
            conn.last_rx = self.now;
            if conn.trace.is_some() {
                let frame = match &message {
                    Message::Text(text) => TracedFrame::Text(text.clone()),
                    Message::Binary(b) => TracedFrame::Binary(b.len()),
                    Message::Ping(b) => TracedFrame::Ping(b.len()),
                    Message::Pong(b) => TracedFrame::Pong(b.len()),
                    Message::Close(f) => {
                        TracedFrame::Close(f.as_ref().map(|f| (f.code.into(), f.reason.clone())))
                    }
                    Message::Frame(f) => TracedFrame::Binary(f.payload().len()),
                };
                self.tracer.frame(&conn.charge_point, Direction::In, frame);
            }
            match message {
                Message::Text(text) => {
                    self.counters.frames_in += 1;
                    if !conn.closing {
                        let was_in_flight = conn.in_flight;
                        self.on_text(key, text);
                        // A CALL just went to the processors: stop here rather
                        // than spend a read that would only find the socket
                        // empty (a syscall per call). What comes meanwhile
                        // (pongs, answers to server calls) raises a new
                        // readiness event, and the answer resumes reading.
                        if !was_in_flight && self.conns.get_mut(key).is_some_and(|c| c.in_flight) {
                            break false;
                        }
                    }
                }
                Message::Binary(_) => {
                    self.close(
                        key,
                        CloseCode::Unsupported,
                        "OCPP-J accepts text frames only",
                    );
                }
                // Pongs to pings are queued by tungstenite and flushed above.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                // tungstenite queued the close reply; the next read ends it.
                Message::Close(frame) => {
                    if !conn.closing {
                        // The peer closed first: its code is the one to journal.
                        conn.close_code = frame.map_or(1005, |f| f.code.into());
                    }
                    conn.closing = true;
                }
            }
        };
        self.settle(key, drained);
    }

    /// Reads and drops what a failed connection still sends, within the
    /// same per-turn budget as reading frames.
    fn discard(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.discard_input() {
            KeepOrDrop::Drop(why) => self.remove(key, why),
            KeepOrDrop::Keep => {
                let exhausted = match &conn.link {
                    Link::Open(ws) => ws.get_ref().exhausted(),
                    _ => false,
                };
                if exhausted {
                    self.queue_read(key);
                }
            }
        }
    }

    /// After a read pass: the connection's partly received message against
    /// the gateway-wide budget and its deadline, and buffers that grew for a
    /// large frame given back once the connection is idle. `drained`: the
    /// pass ended because tungstenite asked the socket for more.
    fn settle(&mut self, key: SlotKey, drained: bool) {
        let ws_configs = self.ws_configs;
        let limits = &self.config.websocket;
        let (max_buffered, timeout) = (limits.max_buffered_bytes, limits.message_timeout);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Link::Open(ws) = &mut conn.link else {
            return;
        };
        let ws_config = ws_configs.of(ws.get_ref());
        let read_buffer = ws_config.read_buffer_size as u64;
        let Some(meter) = ws.get_mut().meter_mut() else {
            return;
        };
        let held = usize::try_from(meter.open_message_bytes()).unwrap_or(usize::MAX);
        let open = meter.open_message();
        let idle = drained && meter.is_idle();
        conn.oversized |= meter.take_largest_frame() > read_buffer;
        // Only a message that spans reads touches the gateway-wide total;
        // one that arrives whole never counts.
        let total = if held != conn.buffered {
            self.tallies.set_buffered(conn, held)
        } else if held > 0 {
            self.tallies.buffered_bytes.load(Ordering::Relaxed)
        } else {
            0
        };
        if conn.closing {
            return;
        }
        if held > 0 && total > max_buffered && !conn.buffer_wait {
            conn.buffer_wait = true;
            self.counters.buffer_budget_pauses += 1;
            self.buffer_waiters.push_back(key);
        }
        if let Some(seq) = open
            && conn.deadline_for != Some(seq)
        {
            conn.deadline_for = Some(seq);
            let kind = TimerKind::MessageDeadline(seq);
            self.wheel
                .schedule(self.now + timeout, TimerKey { key, kind });
            return;
        }
        if idle && conn.oversized && conn.write_blocked_since.is_none() {
            conn.compact(ws_config);
            self.counters.buffers_compacted += 1;
        }
    }

    /// Queues a connection to be read on a later turn (once).
    pub(super) fn queue_read(&mut self, key: SlotKey) {
        if let Some(conn) = self.conns.get_mut(key)
            && !conn.read_queued
        {
            conn.read_queued = true;
            self.read_queue.push(key);
        }
    }

    /// Reads the connections whose previous turn's share ran out, each once.
    pub(super) fn serve_read_queue(&mut self) {
        if self.read_queue.is_empty() || self.reads_paused {
            return;
        }
        let queue = std::mem::take(&mut self.read_queue);
        for &key in &queue {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.read_queued = false;
                self.read_frames(key);
            }
        }
        // Keep the allocation when nothing was queued meanwhile.
        if self.read_queue.is_empty() {
            self.read_queue = queue;
            self.read_queue.clear();
        }
    }

    /// Lets connections waiting for buffer room read again, oldest first,
    /// while the gateway-wide total is under the budget.
    pub(super) fn resume_buffer_waiters(&mut self) {
        let max = self.config.websocket.max_buffered_bytes;
        while !self.buffer_waiters.is_empty()
            && self.tallies.buffered_bytes.load(Ordering::Acquire) <= max
        {
            let Some(key) = self.buffer_waiters.pop_front() else {
                return;
            };
            if let Some(conn) = self.conns.get_mut(key) {
                conn.buffer_wait = false;
                conn.listening_since = self.now;
                self.read_frames(key);
            }
        }
    }

    pub(super) fn on_text(&mut self, key: SlotKey, text: Utf8Bytes) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let version = conn.version;
        match frame::parse_for(text.as_str(), version) {
            // A SEND (2.1) takes a CALL's path, turn and rate: the processor
            // validates and journals it, and only releases the connection.
            Ok(call @ (Frame::Call { .. } | Frame::Send { .. })) => {
                if conn.in_flight {
                    // Answers leave in order: this one waits for the first.
                    conn.held = Some(text);
                    return;
                }
                let settings = *self.profiles.settings(conn.profile);
                let rate = settings.max_calls_per_second;
                let burst = f64::from(settings.call_burst);
                if rate > 0.0
                    && let Err(wait) = conn.call_tokens.take(rate, burst, self.now)
                {
                    // Over the call rate: hold it, read nothing more until a
                    // token is due (TCP slows the charge point meanwhile).
                    conn.held = Some(text);
                    self.counters.call_rate_waits += 1;
                    self.schedule(wait, key, TimerKind::CallToken);
                    return;
                }
                if matches!(call, Frame::Send { .. }) {
                    self.counters.sends_dispatched += 1;
                }
                // A first CALL other than a boot: the charge point booted
                // before this connection (OCPP lets it skip the boot on a
                // reconnect), so its session can take kept commands.
                // Bools first: once ready (or with no queue) a CALL pays no compare.
                if !conn.queue_ready
                    && self.queue_notes.enabled()
                    && let Frame::Call { action, .. } = &call
                    && action != "BootNotification"
                {
                    self.session_ready(key);
                }
                // Handed over with the frame so the processor need not parse it again.
                let parts = call.call_ranges(text.as_str());
                let here = match &call {
                    Frame::Call { action, .. } => self
                        .inline
                        .as_ref()
                        .is_some_and(|inline| inline.takes(action, text.len())),
                    _ => false,
                };
                if here {
                    self.answer_here(key, text, parts);
                } else {
                    self.dispatch(key, text, parts);
                }
            }
            Ok(Frame::CallResultError {
                id,
                code,
                description,
                details,
            }) => {
                self.counters.result_errors_received += 1;
                let error = Answer::Error {
                    code: &code,
                    description: &description,
                    details: details.get(),
                };
                self.on_result_error(key, &id, error);
            }
            Ok(Frame::CallResult { id, payload }) => {
                self.on_call_answer(key, &id, Answer::Result(payload.get()));
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
                details,
            }) => {
                self.counters.callerrors_received += 1;
                let error = Answer::Error {
                    code: &code,
                    description: &description,
                    details: details.get(),
                };
                self.on_call_answer(key, &id, error);
            }
            Err(e) => {
                let answer = session::answer_to(version, &e);
                if matches!(answer, FrameErrorAnswer::CallError(_)) && conn.in_flight {
                    // Its CALLERROR must not overtake the answer in flight.
                    conn.held = Some(text);
                    return;
                }
                self.counters.frame_errors += 1;
                debug!("{}: bad frame: {e}", conn.charge_point);
                match answer {
                    FrameErrorAnswer::CallError(reply) => self.send(key, reply.into()),
                    FrameErrorAnswer::FailServerCall => self.on_malformed_answer(key, &e),
                    FrameErrorAnswer::Nothing => {}
                }
                self.count_bad_message(key);
            }
        }
    }

    /// Tells the command queue (once per connection) that this session is
    /// ready for kept commands.
    pub(super) fn session_ready(&mut self, key: SlotKey) {
        if !self.queue_notes.enabled() {
            return;
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.queue_ready || conn.closing {
            return;
        }
        conn.queue_ready = true;
        self.queue_notes.ready(&conn.charge_point, conn.version);
    }

    /// Hands a CALL to the processors, or holds it while their queue is full.
    fn dispatch(&mut self, key: SlotKey, frame: Utf8Bytes, parts: Option<CallRanges>) {
        let conn_ref = self.conn_ref(key);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let lenience = self.profiles.settings(conn.profile).lenience;
        match hand_over(
            &self.processors,
            conn_ref,
            conn,
            frame,
            parts,
            lenience,
            &mut self.counters,
        ) {
            Ok(()) => {}
            Err(TrySendError::Full(frame)) => {
                // Backpressure: keep the frame, stop reading this connection
                // (TCP then slows the charge point), retry every turn.
                conn.held = Some(frame);
                self.stalled.push(key);
                self.counters.backpressure_stalls += 1;
            }
            Err(TrySendError::Disconnected(_)) => {
                self.close(key, CloseCode::Away, "gateway shutting down");
            }
        }
    }

    /// Answers a CALL on this thread (`processors.inline_actions`): the
    /// connection has it in flight until the answer is sent, as if a
    /// processor had it — at once with the journal off (the read pass goes
    /// on), once its line is written with the journal on.
    fn answer_here(&mut self, key: SlotKey, frame: Utf8Bytes, parts: Option<CallRanges>) {
        let conn_ref = self.conn_ref(key);
        let (Some(conn), Some(inline)) = (self.conns.get_mut(key), self.inline.as_mut()) else {
            return;
        };
        let lenience = self.profiles.settings(conn.profile).lenience;
        let call = inbound_call(conn_ref, conn, frame, parts, lenience);
        conn.in_flight = true;
        self.counters.calls_answered_inline += 1;
        match inline.answer(call) {
            // Sent at once; the read pass that found the CALL reads on.
            AnsweredHere::Now(answer) => {
                self.deliver_answer(answer);
            }
            AnsweredHere::Journal(record) => self.journal(record),
        }
    }

    pub(super) fn retry_stalled(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let mut stalled = std::mem::take(&mut self.stalled);
        let mut done = 0;
        for &key in &stalled {
            let conn_ref = self.conn_ref(key);
            let Some(conn) = self.conns.get_mut(key) else {
                done += 1;
                continue;
            };
            let Some(frame) = conn.held.take() else {
                done += 1;
                continue;
            };
            // A held frame is handed over without its ranges (rare: backpressure).
            let lenience = self.profiles.settings(conn.profile).lenience;
            match hand_over(
                &self.processors,
                conn_ref,
                conn,
                frame,
                None,
                lenience,
                &mut self.counters,
            ) {
                Ok(()) => {
                    done += 1;
                    conn.listening_since = self.now;
                    // Control frames and answers are read again meanwhile.
                    self.queue_read(key);
                }
                Err(TrySendError::Full(frame) | TrySendError::Disconnected(frame)) => {
                    // The queue is full: the rest would fail too; keep order.
                    conn.held = Some(frame);
                    break;
                }
            }
        }
        stalled.drain(..done);
        // New stalls may have been added meanwhile; they queue behind the old.
        stalled.append(&mut self.stalled);
        self.stalled = stalled;
    }

    /// Handles the frame a connection held (its turn has come: the answer
    /// in flight is back, or a call token is due), then reads on.
    pub(super) fn resume(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(text) = conn.held.take() {
            conn.listening_since = self.now;
            if !conn.closing {
                self.on_text(key, text);
            }
        }
        self.read_frames(key);
    }

    /// Counts a malformed or schema-breaking message; past
    /// `ocpp.max_bad_messages` within `ocpp.bad_message_window` the
    /// connection is closed 1008 (the journal's disconnect line says why).
    pub(super) fn count_bad_message(&mut self, key: SlotKey) {
        let window = self.config.ocpp.bad_message_window;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let max = self.profiles.settings(conn.profile).max_bad_messages;
        if max == 0 || conn.closing {
            return;
        }
        if self.now.saturating_duration_since(conn.bad_since) >= window {
            conn.bad_since = self.now;
            conn.bad_messages = 0;
        }
        conn.bad_messages += 1;
        if conn.bad_messages > max {
            self.counters.bad_message_closes += 1;
            info!(
                "{} from {}: more than {max} malformed messages within {window:?}; closing 1008",
                conn.charge_point, conn.peer
            );
            self.close(key, CloseCode::Policy, "too many malformed messages");
        }
    }
}
