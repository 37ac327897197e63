//! Frame traces, on the reactor thread: which connections are traced
//! (an operator's `POST /connections/{id}/trace` for some minutes, or
//! their profile's `trace` globs), and handing their frames to the trace
//! writer without ever waiting.
//!
//! Cost: an untraced connection pays one branch per frame
//! (`conn.trace.is_some()`). A traced one pays a `SystemTime::now()`, an
//! `Arc` clone of its id and a `Utf8Bytes` clone of the frame (shared, not
//! copied) per frame; formatting is the writer's. A full trace queue
//! drops the frame (counted in `trace_frames_dropped`). Starts and stops
//! are never dropped: they wait in `Tracer::backlog` and are offered
//! again each turn, and while any wait, frames are dropped rather than
//! sent ahead of them, so the writer sees every trace's start before its
//! frames and its stop after them. The backlog is bounded: while it holds
//! as many lines as the queue (`channels.capacity`), no trace starts (the
//! operator's POST answers `traced: false`; counted in
//! `trace_starts_refused`). So it holds at most that many starts, and
//! stops only of traces that started, at most one per connection.

use std::time::SystemTime;

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::connection::ConnTrace;
use super::*;
use crate::cross_thread::{
    TraceCause, TraceCommand, TraceEnd, TraceEvent, TraceReply, TraceSender, TracedFrame,
};

/// The reactor's end of the trace queue.
#[derive(Default)]
pub(super) struct Tracer {
    /// `None`: tracing is not configured (no `[trace] directory`).
    queue: Option<TraceSender>,
    /// Starts and stops the full queue refused, oldest first. Bounded by
    /// the traces begun and ended while the writer was behind.
    backlog: VecDeque<TraceEvent>,
    /// Connections traced now (published as a gauge).
    pub(super) traced: u64,
    /// Frames dropped at a full queue (published as a counter).
    pub(super) dropped: u64,
    /// Traces not started because the backlog was at its limit.
    pub(super) starts_refused: u64,
}

impl Tracer {
    pub(super) fn new(queue: Option<TraceSender>) -> Tracer {
        Tracer {
            queue,
            ..Tracer::default()
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// One frame of a traced connection, read or written now.
    pub(super) fn frame(&mut self, charge_point: &Arc<str>, dir: Direction, frame: TracedFrame) {
        let Some(queue) = &self.queue else {
            return;
        };
        if !self.backlog.is_empty() {
            self.dropped += 1;
            return;
        }
        let event = TraceEvent::Frame {
            charge_point: charge_point.clone(),
            at: SystemTime::now(),
            dir,
            frame,
        };
        if queue.try_send(event).is_err() {
            self.dropped += 1;
        }
    }

    fn control(&mut self, event: TraceEvent) {
        let Some(queue) = &self.queue else {
            return;
        };
        if !self.backlog.is_empty() {
            self.backlog.push_back(event);
        } else if let Err(TrySendError::Full(event)) = queue.try_send(event) {
            // (A stopped writer has closed its files: nothing to keep then.)
            self.backlog.push_back(event);
        }
    }

    /// Offers the waiting starts and stops again, oldest first.
    pub(super) fn retry(&mut self) {
        let Some(queue) = &self.queue else {
            return;
        };
        while let Some(event) = self.backlog.pop_front() {
            if let Err(TrySendError::Full(event)) = queue.try_send(event) {
                self.backlog.push_front(event);
                return;
            }
        }
    }

    pub(super) fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Whether a new trace may start: its start line could wait in the
    /// backlog without passing its limit.
    fn may_start(&mut self) -> bool {
        let full = self
            .queue
            .as_ref()
            .is_some_and(|q| self.backlog.len() >= q.capacity());
        if full {
            self.starts_refused += 1;
        }
        !full
    }
}

impl Reactor {
    /// The admin's request for `charge_point`, if it is open here.
    pub(super) fn on_trace(
        &mut self,
        charge_point: &str,
        command: TraceCommand,
    ) -> Option<TraceReply> {
        let key = self.open_key(charge_point)?;
        match command {
            TraceCommand::Start(duration) => {
                let until = self.now + duration;
                self.begin_trace(key, TraceCause::Operator, Some(until));
                self.schedule(duration, key, TimerKind::TraceEnd);
            }
            TraceCommand::Stop => self.end_trace(key, TraceEnd::Operator),
        }
        let conn = self.conns.get(key)?;
        let trace = conn.trace.as_deref();
        Some(TraceReply {
            traced: trace.is_some(),
            until: trace.and_then(|t| t.until_wall).map(wall_text),
            by_profile: trace.is_some_and(|t| t.by_profile),
        })
    }

    fn wall(&self, at: Instant) -> SystemTime {
        let now = SystemTime::now();
        match at.checked_duration_since(self.now) {
            Some(ahead) => now + ahead,
            None => now - self.now.duration_since(at),
        }
    }

    /// Traces `key` from now (an operator's trace until `until`, or its
    /// profile's); a connection already traced keeps its file and gets
    /// the new cause.
    fn begin_trace(&mut self, key: SlotKey, cause: TraceCause, until: Option<Instant>) {
        if !self.tracer.enabled() {
            return;
        }
        let wall_until = until.map(|at| self.wall(at));
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(trace) = conn.trace.as_mut() {
            match cause {
                TraceCause::Operator => (trace.until, trace.until_wall) = (until, wall_until),
                TraceCause::Profile => trace.by_profile = true,
            }
            return;
        }
        if !self.tracer.may_start() {
            return;
        }
        conn.trace = Some(Box::new(ConnTrace {
            until,
            until_wall: wall_until,
            by_profile: cause == TraceCause::Profile,
        }));
        self.tracer.traced += 1;
        self.tracer.control(TraceEvent::Start {
            charge_point: conn.charge_point.clone(),
            at: SystemTime::now(),
            cause,
            until: wall_until,
        });
    }

    /// Stops tracing `key` (whatever the cause), if it is traced.
    pub(super) fn end_trace(&mut self, key: SlotKey, why: TraceEnd) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.trace.take().is_some() {
            self.tracer.end(&conn.charge_point, why);
        }
    }

    /// The operator's time ran out (or a later request moved it: then its
    /// own timer comes later). The profile's trace, if any, goes on.
    pub(super) fn trace_timer(&mut self, key: SlotKey) {
        let now = self.now;
        let Some(trace) = self.conns.get_mut(key).and_then(|c| c.trace.as_mut()) else {
            return;
        };
        if trace.until.is_none_or(|until| until > now) {
            return;
        }
        (trace.until, trace.until_wall) = (None, None);
        if !trace.by_profile {
            self.end_trace(key, TraceEnd::Expired);
        }
    }

    /// Starts or stops the profile's trace of `key` as its profile's
    /// `trace` globs now say (at the upgrade, a profile change, SIGHUP).
    pub(super) fn apply_profile_trace(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.closing || !matches!(conn.link, Link::Open(_)) {
            return;
        }
        let wants = self.profiles.traces(conn.profile, &conn.charge_point);
        let has = conn.trace.as_ref().is_some_and(|t| t.by_profile);
        if wants && !has {
            self.begin_trace(key, TraceCause::Profile, None);
        } else if !wants
            && has
            && let Some(trace) = conn.trace.as_mut()
        {
            trace.by_profile = false;
            if trace.until.is_none() {
                self.end_trace(key, TraceEnd::Profile);
            }
        }
    }
}

/// Wall-clock text of a trace's end: RFC 3339 UTC, milliseconds.
pub(super) fn wall_text(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

impl Tracer {
    /// A connection of `charge_point` is traced no more.
    pub(super) fn end(&mut self, charge_point: &Arc<str>, why: TraceEnd) {
        self.traced = self.traced.saturating_sub(1);
        self.control(TraceEvent::Stop {
            charge_point: charge_point.clone(),
            at: SystemTime::now(),
            why,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cross_thread::trace_queue;

    fn stop(id: &Arc<str>) -> TraceEvent {
        TraceEvent::Stop {
            charge_point: id.clone(),
            at: SystemTime::now(),
            why: TraceEnd::Operator,
        }
    }

    #[test]
    fn a_full_queue_drops_frames_and_keeps_starts_and_stops_in_order() {
        // A gateway whose channels hold one message each.
        let one = crate::config::ChannelsConfig { capacity: 1 };
        let (tx, rx) = trace_queue(&one);
        let mut tracer = Tracer::new(Some(tx));
        let id: Arc<str> = Arc::from("CP-1");
        let text = || TracedFrame::Text("[2,\"1\",\"Heartbeat\",{}]".into());
        tracer.frame(&id, Direction::In, text());
        tracer.frame(&id, Direction::In, text());
        assert_eq!(tracer.dropped, 1, "the queue held one");
        // A stop the full queue refuses waits; frames meanwhile are dropped
        // rather than sent ahead of it.
        tracer.control(stop(&id));
        assert!(tracer.has_backlog());
        assert!(matches!(rx.try_recv(), Ok(TraceEvent::Frame { .. })));
        tracer.frame(&id, Direction::Out, text());
        assert_eq!(tracer.dropped, 2);
        tracer.retry();
        assert!(!tracer.has_backlog());
        assert!(matches!(rx.try_recv(), Ok(TraceEvent::Stop { .. })));
        // A stopped writer: nothing is kept for it.
        drop(rx);
        tracer.control(stop(&id));
        assert!(!tracer.has_backlog());
        // A backlog as long as the queue refuses new traces (counted):
        // only stops of traces that started may join it then.
        let (tx, _rx) = trace_queue(&one);
        let mut full = Tracer::new(Some(tx));
        full.control(stop(&id));
        full.control(stop(&id));
        assert_eq!(full.backlog.len(), 1);
        assert!(!full.may_start());
        assert_eq!(full.starts_refused, 1);
        full.retry();
        assert!(!full.may_start(), "the queue is still full");
        // Not configured: nothing is sent or counted.
        let mut off = Tracer::new(None);
        off.frame(&id, Direction::In, text());
        assert_eq!((off.dropped, off.enabled()), (0, false));
    }
}
