//! Which connection holds each charge point id, over all reactors — and,
//! with the bus on, which ids other gateways hold.
//!
//! Locked at handshake and at disconnect (reactors) and by the bus bridge
//! when it applies presence changes; never per frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use crate::pipeline::ConnRef;

/// A change of a locally held id, for the bus bridge to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChange {
    Connected {
        conn: ConnRef,
        remote: SocketAddr,
        at: SystemTime,
    },
    Disconnected {
        conn: ConnRef,
    },
}

#[derive(Default)]
pub struct Registry {
    local: HashMap<Box<str>, ConnRef>,
    /// Ids another gateway holds, until when (presence entries of a dead
    /// gateway expire without a delete anyone could watch); empty without the bus.
    remote: HashMap<Box<str>, Instant>,
    /// Changes not yet taken by the bridge, in order; `None` without the bus.
    /// Bounded by the connections that come and go between two takes (the
    /// bridge takes them every few milliseconds).
    changes: Option<Vec<(Box<str>, PresenceChange)>>,
}

impl Registry {
    pub fn new(track_changes: bool) -> Registry {
        Registry {
            changes: track_changes.then(Vec::new),
            ..Registry::default()
        }
    }

    /// Records `conn` as the holder of `id`; returns the previous local holder.
    pub fn register(&mut self, id: &str, conn: ConnRef, remote: SocketAddr) -> Option<ConnRef> {
        if let Some(changes) = &mut self.changes {
            let at = SystemTime::now();
            changes.push((id.into(), PresenceChange::Connected { conn, remote, at }));
        }
        self.local.insert(id.into(), conn)
    }

    /// Forgets `conn` as the holder of `id`, if it still is.
    pub fn unregister(&mut self, id: &str, conn: ConnRef) {
        if self.local.get(id) == Some(&conn) {
            self.local.remove(id);
            if let Some(changes) = &mut self.changes {
                changes.push((id.into(), PresenceChange::Disconnected { conn }));
            }
        }
    }

    /// Held here or, as far as the presence bucket says, by another gateway.
    pub fn is_connected(&self, id: &str) -> bool {
        self.local.contains_key(id)
            || self
                .remote
                .get(id)
                .is_some_and(|until| *until > Instant::now())
    }

    pub fn holder(&self, id: &str) -> Option<ConnRef> {
        self.local.get(id).copied()
    }

    /// Another gateway holds `id` until `until` (its entry's expiry), or no longer.
    pub fn set_remote(&mut self, id: &str, until: Option<Instant>) {
        match until {
            Some(until) => {
                self.remote.insert(id.into(), until);
            }
            None => {
                self.remote.remove(id);
            }
        }
    }

    /// Forgets other gateways' entries that have expired: a dead gateway's
    /// entries expire in the bucket without a delete anyone could watch.
    pub fn prune_remote(&mut self, now: Instant) {
        self.remote.retain(|_, until| *until > now);
    }

    /// Ids other gateways hold, as far as this gateway knows (expired ones
    /// included until the next prune).
    pub fn remote_len(&self) -> usize {
        self.remote.len()
    }

    pub fn take_changes(&mut self) -> Vec<(Box<str>, PresenceChange)> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(slot: u32) -> ConnRef {
        ConnRef {
            reactor: 0,
            slot,
            generation: 1,
        }
    }

    #[test]
    fn changes_follow_the_local_holder_only() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut r = Registry::new(true);
        assert_eq!(r.register("CP", conn(1), addr), None);
        // Replaced by a newer connection: the old one's disconnect is not news.
        assert_eq!(r.register("CP", conn(2), addr), Some(conn(1)));
        r.unregister("CP", conn(1));
        assert_eq!(r.holder("CP"), Some(conn(2)));
        r.unregister("CP", conn(2));
        let kinds: Vec<bool> = r
            .take_changes()
            .iter()
            .map(|(_, c)| matches!(c, PresenceChange::Connected { .. }))
            .collect();
        assert_eq!(kinds, [true, true, false]);
        assert!(r.take_changes().is_empty());

        let later = Instant::now() + std::time::Duration::from_secs(60);
        r.set_remote("CP", Some(later));
        assert!(r.is_connected("CP"));
        r.set_remote("CP", Some(Instant::now()));
        assert!(!r.is_connected("CP"), "an expired entry does not count");
        r.set_remote("CP", Some(later));
        r.set_remote("CP", None);
        assert!(!r.is_connected("CP"));
        r.set_remote("OLD", Some(Instant::now()));
        r.set_remote("NEW", Some(later));
        r.prune_remote(Instant::now() + std::time::Duration::from_millis(1));
        assert_eq!(r.remote_len(), 1, "the expired entry is gone");

        let mut off = Registry::new(false);
        off.register("CP", conn(1), addr);
        assert!(off.take_changes().is_empty());
    }
}
