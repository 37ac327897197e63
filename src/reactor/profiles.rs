//! A reactor's profiles: which `[[profiles]]` entry each of its charge
//! points is under, the settings that gives (ping, dead-peer rule, call
//! rate, bad-message budget), and re-applying them when the boot or a
//! SIGHUP changes the match.
//!
//! Matching happens at the upgrade (id globs), at an accepted boot and at
//! SIGHUP, never per frame: a connection keeps the index of its profile,
//! and a lookup is an index into the list.

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
    /// Matches `key`'s charge point again (its id, and its boot once it
    /// has one) and, if its profile changed, restarts its ping chain at
    /// the new interval. `force`: restart it even if the index is the same
    /// (SIGHUP may have changed what the index holds).
    pub(super) fn rematch_profile(&mut self, key: SlotKey, force: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let boot = conn.boot.as_deref().map(|b| BootFacts {
            vendor: &b.vendor,
            model: &b.model,
            firmware_version: b.firmware_version.as_deref(),
        });
        let profile = self.profiles.matching(&conn.charge_point, boot);
        if profile == conn.profile && !force {
            return;
        }
        if profile != conn.profile {
            let name = |p| self.profiles.get(p).map_or("(none)", |p| p.name.as_str());
            info!(
                "{} from {}: profile {} (was {})",
                conn.charge_point,
                conn.peer,
                name(profile),
                name(conn.profile)
            );
        }
        conn.profile = profile;
        if conn.closing || !matches!(conn.link, Link::Open(_)) {
            return;
        }
        conn.ping_epoch = conn.ping_epoch.wrapping_add(1);
        let epoch = conn.ping_epoch;
        let settings = *self.profiles.settings(profile);
        if !settings.ping_interval.is_zero() {
            self.schedule(settings.ping_interval, key, TimerKind::Ping(epoch));
        }
        // The dead-peer check reads the settings when it fires; one more
        // check at the new period makes a shorter one take effect now.
        self.schedule(settings.dead_after(), key, TimerKind::Idle);
        // The new profile's (or the new list's) `trace` globs.
        self.apply_profile_trace(key);
    }

    /// SIGHUP: the new profile list, applied to every open connection at
    /// once (ping and dead-peer rule now; the boot interval at the next
    /// boot, which the processors answer).
    pub(super) fn replace_profiles(&mut self, profiles: Arc<ProfileTable>) {
        *self.admission.profiles.borrow_mut() = profiles.clone();
        self.profiles = profiles;
        let keys: Vec<SlotKey> = self.ids.values().copied().collect();
        for key in keys {
            self.rematch_profile(key, true);
        }
    }

    /// Publishes how many open connections each profile holds: one pass
    /// over the open connections per tick, and none without profiles.
    pub(super) fn publish_profile_counts(&mut self) {
        if self.profiles.is_empty() && self.profile_counts.is_empty() {
            return;
        }
        self.profile_counts.clear();
        self.profile_counts
            .resize(self.profiles.profiles().len(), 0);
        for key in self.ids.values() {
            if let Some(i) = self.conns.get(*key).and_then(|c| c.profile)
                && let Some(n) = self.profile_counts.get_mut(usize::from(i))
            {
                *n += 1;
            }
        }
        self.stats.profile_connections.publish(&self.profile_counts);
        if self.profiles.is_empty() {
            // Published zeros once after the last profile went away.
            self.profile_counts = Vec::new();
        }
    }
}
