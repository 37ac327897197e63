//! Which connection holds each charge point id, over all reactors — and,
//! with the bus on, which ids other gateways hold.
//!
//! Written by the reactors (at handshake and at disconnect) and by the bus
//! bridge (presence of other gateways); read by [`super::Route`] to find the
//! reactor that owns a charge point. Its lock is taken at those moments
//! only, never per frame, and held for a map operation.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use super::calls::ConnRef;

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

/// The registry every thread shares (see the module doc).
pub struct IdRegistry {
    ids: Mutex<Ids>,
}

impl IdRegistry {
    /// `track_changes`: keep connects and disconnects for the bus bridge.
    pub fn new(track_changes: bool) -> IdRegistry {
        IdRegistry {
            ids: Mutex::new(Ids::new(track_changes)),
        }
    }

    fn ids(&self) -> MutexGuard<'_, Ids> {
        // Every operation leaves the maps whole, so a poisoned lock still
        // guards a consistent registry.
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `conn` as the holder of `charge_point`; returns the previous
    /// holder, if any (to be closed by its reactor).
    pub fn register(
        &self,
        charge_point: &str,
        conn: ConnRef,
        remote: SocketAddr,
    ) -> Option<ConnRef> {
        self.ids().register(charge_point, conn, remote)
    }

    /// Forgets `conn` as the holder of `charge_point` (if it still is).
    pub fn unregister(&self, charge_point: &str, conn: ConnRef) {
        self.ids().unregister(charge_point, conn);
    }

    /// Held by a connection here or, per the presence bucket, by another gateway.
    pub fn is_connected(&self, charge_point: &str) -> bool {
        self.ids().is_connected(charge_point)
    }

    /// The connection holding `charge_point` here, if any.
    pub fn holder(&self, charge_point: &str) -> Option<ConnRef> {
        self.ids().holder(charge_point)
    }

    /// The `limit` locally held ids from `offset` on, in id order, of those
    /// that contain `search` (ASCII case-insensitively; empty: all), and how
    /// many contain it in all. The lock is held for one pass over the map,
    /// which copies the page's ids only (a few hundred microseconds at
    /// 20 000 ids): a reactor's handshake waits at most that long for it.
    pub fn page(&self, search: &str, offset: usize, limit: usize) -> IdPage {
        self.ids().page(search, offset, limit)
    }

    /// Connects and disconnects since the last call (bus bridge only).
    pub fn take_changes(&self) -> Vec<(Box<str>, PresenceChange)> {
        self.ids().take_changes()
    }

    /// Forgets expired entries of other gateways (bus bridge only).
    pub fn prune_held_elsewhere(&self) {
        self.ids().prune_remote(Instant::now());
    }

    /// What the presence bucket says about an id held elsewhere (bus bridge only).
    pub fn set_held_elsewhere(&self, charge_point: &str, until: Option<Instant>) {
        self.ids().set_remote(charge_point, until);
    }
}

/// A page of locally held ids (see [`IdRegistry::page`]).
#[derive(Debug, Default)]
pub struct IdPage {
    /// Ids that match the search, on every page.
    pub total: usize,
    /// This page's, in id order, with their holders.
    pub ids: Vec<(Box<str>, ConnRef)>,
}

/// Whether `id` contains `search`, ignoring ASCII case.
fn contains_ignoring_case(id: &str, search: &str) -> bool {
    let (id, search) = (id.as_bytes(), search.as_bytes());
    search.is_empty()
        || id
            .windows(search.len())
            .any(|w| w.eq_ignore_ascii_case(search))
}

#[derive(Default)]
struct Ids {
    /// In id order, so the admin API pages it without sorting or copying.
    local: BTreeMap<Box<str>, ConnRef>,
    /// Ids another gateway holds, until when (presence entries of a dead
    /// gateway expire without a delete anyone could watch); empty without the bus.
    remote: HashMap<Box<str>, Instant>,
    /// Changes not yet taken by the bridge, in order; `None` without the bus.
    /// Bounded by the connections that come and go between two takes (the
    /// bridge takes them every few milliseconds).
    changes: Option<Vec<(Box<str>, PresenceChange)>>,
}

impl Ids {
    fn new(track_changes: bool) -> Ids {
        Ids {
            changes: track_changes.then(Vec::new),
            ..Ids::default()
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

    fn page(&self, search: &str, offset: usize, limit: usize) -> IdPage {
        let mut page = IdPage::default();
        for (id, conn) in &self.local {
            if !contains_ignoring_case(id, search) {
                continue;
            }
            if page.total >= offset && page.ids.len() < limit {
                page.ids.push((id.clone(), *conn));
            }
            page.total += 1;
        }
        page
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
    #[cfg(test)]
    fn remote_len(&self) -> usize {
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
        let mut r = Ids::new(true);
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

        let mut off = Ids::new(false);
        for (slot, id) in ["cp-b", "CP-A", "other", "CP-C"].into_iter().enumerate() {
            off.register(id, conn(slot as u32 + 10), addr);
        }
        let page = off.page("cp-", 1, 1);
        assert_eq!(page.total, 3, "case-insensitive: CP-A, CP-C, cp-b");
        let ids: Vec<&str> = page.ids.iter().map(|(id, _)| &**id).collect();
        assert_eq!(ids, ["CP-C"], "in id order, from the offset");
        assert_eq!(off.page("", 0, 10).total, 4);
        assert!(off.page("zz", 0, 10).ids.is_empty());
        assert!(off.page("", 9, 10).ids.is_empty(), "past the end");
        off.register("CP", conn(1), addr);
        assert!(off.take_changes().is_empty());
    }
}
