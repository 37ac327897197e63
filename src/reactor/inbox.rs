//! A reactor's inbox, on the reactor thread: everything other threads ask
//! of it — processors' answers to CALLs, the admin API's inspections and
//! closes, server calls (handed on to `server_calls`), and evictions of a
//! connection replaced by a newer one with the same id — and its own
//! evictions for other reactors, whose inbox may be full.
//!
//! Touches only this reactor's state. What goes back out never waits:
//! replies through the `Deliver` handle that came with the request, and
//! evictions as a `try_send` into the other reactor's inbox (a full one
//! only delays them).

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
    /// Handles what waits in the inbox, a bounded batch per turn.
    pub(super) fn drain_inbox(&mut self) {
        // Bounded: a flood of answers cannot starve the sockets. A batch of
        // answers counts as many messages as it holds.
        let mut budget = self.config.channels.capacity;
        while budget > 0 {
            let message = self.inbox.receiver.try_recv();
            budget -= match &message {
                Ok(ToReactor::Answers(answers)) => answers.len().clamp(1, budget),
                _ => 1,
            };
            match message {
                Ok(ToReactor::Answer(answer)) => self.on_answer(answer),
                Ok(ToReactor::Answers(answers)) => {
                    for answer in answers {
                        self.on_answer(answer);
                    }
                }
                Ok(ToReactor::Inspect {
                    charge_points,
                    reply,
                }) => reply.send(self.inspect(charge_points.as_deref())),
                Ok(ToReactor::Close {
                    charge_point,
                    code,
                    reply,
                }) => {
                    let found = self.open_key(&charge_point);
                    if let Some(key) = found {
                        self.close(key, CloseCode::from(code), "closed by the operator");
                    }
                    reply.send(found.is_some());
                }
                Ok(ToReactor::Trace {
                    charge_point,
                    command,
                    reply,
                }) => reply.send(self.on_trace(&charge_point, command)),
                Ok(ToReactor::ServerCall(request)) => self.on_server_call(*request),
                Ok(ToReactor::Evict { conn }) => self.evict(conn),
                Ok(ToReactor::Profiles(profiles)) => self.replace_profiles(profiles),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// The answer to the connection's CALL in flight (from a processor, or
    /// from the journal writer once its line is written): sent, then the
    /// connection reads on.
    fn on_answer(&mut self, answer: CallAnswer) {
        if let Some(key) = self.deliver_answer(answer) {
            // The next CALL waited for this answer: its turn now.
            self.resume(key);
        }
    }

    /// Sends the answer and releases its connection; returns the
    /// connection if it is still there (for the caller to read on).
    pub(super) fn deliver_answer(&mut self, answer: CallAnswer) -> Option<SlotKey> {
        let CallAnswer {
            conn: conn_ref,
            frame,
            boot,
            malformed,
        } = answer;
        let key = SlotKey {
            slot: conn_ref.slot,
            generation: conn_ref.generation,
        };
        let Some(conn) = self.conns.get_mut(key) else {
            self.counters.answers_for_closed += 1;
            return None;
        };
        conn.in_flight = false;
        let booted = boot.is_some();
        if booted {
            conn.boot = boot;
        }
        let close_after = conn.close_after_answer.take();
        if !frame.is_empty() {
            self.send(key, frame);
        }
        if malformed {
            self.count_bad_message(key);
        }
        if booted {
            // Profiles that match on what the boot said apply from now on.
            self.rematch_profile(key, false);
            self.session_ready(key);
        }
        if let Some((code, reason)) = close_after {
            self.close(key, code, reason);
        }
        Some(key)
    }

    /// Closes `old` (1008): its charge point has connected again. On another
    /// reactor, asks that reactor; its inbox being full only delays this.
    pub(super) fn evict(&mut self, old: ConnRef) {
        if old.reactor != self.index {
            self.pending_evictions.push(old);
            self.retry_evictions();
            return;
        }
        let key = SlotKey {
            slot: old.slot,
            generation: old.generation,
        };
        let Some(conn) = self.conns.get_mut(key) else {
            return; // already gone
        };
        if conn.closing {
            return;
        }
        info!(
            "{} from {}: replaced by a newer connection; closing 1008",
            conn.charge_point, conn.peer
        );
        self.counters.replaced_connections += 1;
        if self.ids.get(&conn.charge_point) == Some(&key) {
            let id = conn.charge_point.clone();
            self.ids.remove(&id);
        }
        self.close(key, CloseCode::Policy, "replaced by a newer connection");
    }

    pub(super) fn retry_evictions(&mut self) {
        if self.pending_evictions.is_empty() {
            return;
        }
        let peers = self.peers.clone();
        self.pending_evictions
            .retain(|&old| match peers.get(usize::from(old.reactor)) {
                Some(reactor) => matches!(
                    reactor.try_send(ToReactor::Evict { conn: old }),
                    Err(TrySendError::Full(_))
                ),
                None => false,
            });
    }

    /// Open connections of this reactor, for the admin API (allocates only
    /// when asked).
    pub(super) fn inspect(&mut self, charge_points: Option<&[Box<str>]>) -> Vec<ConnectionInfo> {
        let wall_now = std::time::SystemTime::now();
        let wall = |at: Instant| {
            let ago = self.now.saturating_duration_since(at);
            humantime::format_rfc3339_millis(wall_now - ago).to_string()
        };
        let keys: Vec<SlotKey> = match charge_points {
            Some(ids) => ids
                .iter()
                .filter_map(|id| self.ids.get(&**id).copied())
                .collect(),
            None => self.ids.values().copied().collect(),
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closing) else {
                continue;
            };
            out.push(ConnectionInfo {
                id: conn.charge_point.to_string(),
                remote_address: conn.peer.to_string(),
                subprotocol: conn.version.subprotocol(),
                reactor: self.index,
                connected_at: wall(conn.connected_at),
                last_frame_at: wall(conn.last_rx),
                boot: conn.boot.as_deref().cloned(),
                profile: self.profiles.get(conn.profile).map(|p| p.name.clone()),
                traced: conn.trace.is_some(),
                // Only a time limit that will end the trace: under a
                // tracing profile it goes on after it.
                trace_until: conn
                    .trace
                    .as_deref()
                    .filter(|t| !t.by_profile)
                    .and_then(|t| t.until_wall)
                    .map(tracing::wall_text),
            });
        }
        out
    }
}
