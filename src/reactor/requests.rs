//! What other threads ask of a reactor besides answers: close a connection
//! replaced by a newer one with the same id, and describe its connections.

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
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
    pub(super) fn inspect(&mut self, charge_point: Option<&str>) -> Vec<ConnectionInfo> {
        let wall_now = std::time::SystemTime::now();
        let wall = |at: Instant| {
            let ago = self.now.saturating_duration_since(at);
            humantime::format_rfc3339_millis(wall_now - ago).to_string()
        };
        let keys: Vec<SlotKey> = match charge_point {
            Some(id) => self.ids.get(id).copied().into_iter().collect(),
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
            });
        }
        out
    }
}
