//! A reactor's timers firing: handshake deadline, ping, dead-peer check,
//! close deadline, server-call timeout. Every entry names its connection by
//! (slot, generation); one whose connection has gone finds nothing.

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
    pub(super) fn expire_timers(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.expire(self.now, &mut due);
        for timer in due.drain(..) {
            self.on_timer(timer);
        }
        self.due = due;
    }

    pub(super) fn on_timer(&mut self, timer: TimerKey) {
        let key = timer.key;
        // A timer of a closed connection, or of its slot's previous occupant,
        // finds nothing: that is the whole of cancellation.
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let ws = &self.config.websocket;
        let settings = *self.profiles.settings(conn.profile);
        match timer.kind {
            TimerKind::Handshake => {
                if let Link::Handshaking(mid) = &conn.link {
                    if mid.get_ref().get_ref().tls_handshaking() {
                        let timeouts = &self.tls_tally.timeout;
                        timeouts.set(timeouts.get() + 1);
                    }
                    self.counters.handshake_timeouts += 1;
                    debug!("handshake with {} timed out", conn.peer);
                    self.remove(key, "handshake timeout");
                }
            }
            TimerKind::Ping(epoch) => {
                let interval = settings.ping_interval;
                if conn.closing || epoch != conn.ping_epoch || interval.is_zero() {
                    // Closing, or a chain a profile change replaced.
                    return;
                }
                self.counters.pings_sent += 1;
                if conn.trace.is_some() {
                    let frame = TracedFrame::Ping(0);
                    self.tracer.frame(&conn.charge_point, Direction::Out, frame);
                }
                if let KeepOrDrop::Drop(why) = conn.send_ping() {
                    self.remove(key, why);
                    return;
                }
                self.schedule(interval, key, TimerKind::Ping(epoch));
            }
            TimerKind::Idle => {
                let dead_after = settings.dead_after();
                if let Some(since) = conn.write_blocked_since
                    && self.now.saturating_duration_since(since) >= ws.write_timeout
                {
                    // It sends, perhaps, but does not take what we send.
                    self.counters.write_timeouts += 1;
                    info!(
                        "{} from {}: took nothing we sent for {:?}; dropping",
                        conn.charge_point, conn.peer, ws.write_timeout
                    );
                    self.remove(key, "peer does not read: write timeout");
                    return;
                }
                if !conn.listened_to() || self.reads_paused {
                    // The gateway is not reading this peer: its silence is
                    // ours, not its. Look again a full period later.
                    self.schedule(dead_after, key, TimerKind::Idle);
                    return;
                }
                let since = conn
                    .last_rx
                    .max(conn.listening_since)
                    .max(self.reads_resumed_at);
                let silent = self.now.saturating_duration_since(since);
                if silent >= dead_after {
                    self.counters.dead_peer_closes += 1;
                    info!(
                        "{} from {}: nothing received for {:?}; dropping dead peer",
                        conn.charge_point, conn.peer, silent
                    );
                    self.remove(key, "dead peer");
                } else {
                    let at = since + dead_after;
                    self.wheel.schedule(
                        at,
                        TimerKey {
                            key,
                            kind: TimerKind::Idle,
                        },
                    );
                }
            }
            TimerKind::MessageDeadline(seq) => {
                let open = match &conn.link {
                    Link::Open(ws) => ws.get_ref().meter().and_then(|m| m.open_message()),
                    _ => None,
                };
                if open == Some(seq) && !conn.discarding {
                    self.counters.message_timeouts += 1;
                    info!(
                        "{} from {}: message not complete within {:?}; closing 1008",
                        conn.charge_point, conn.peer, ws.message_timeout
                    );
                    self.fail(key, CloseCode::Policy, "message not complete in time");
                }
            }
            TimerKind::CallToken => self.resume(key),
            TimerKind::CloseDeadline => {
                self.counters.close_timeouts += 1;
                self.remove(key, "no close reply");
            }
            TimerKind::ServerCall(seq) => self.server_call_timed_out(key, seq),
            TimerKind::TraceEnd => self.trace_timer(key),
        }
    }
}
