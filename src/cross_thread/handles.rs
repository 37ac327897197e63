//! What the admin API and the bus bridge may do while the gateway runs:
//! one narrow handle each, made by the start-up wiring.
//!
//! Neither handle has a method that blocks: commands go out through
//! [`Route`] with `try_send`, counters are read from what the other threads
//! have published. A reactor holds neither (it gets only the id registry,
//! the credential and TLS stores, the stop signal and the other reactors'
//! inboxes). The blocking forms that tests and embedders use
//! (`call`, `connections`) are on [`crate::start::GatewayHandle`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::calls::{ConnRef, InboundCall};
use super::command_queue::{QueueSender, QueueStats};
use super::id_registry::{IdRegistry, PresenceChange};
use super::journal_queue::{JournalStats, JournalWatch};
use super::reloadable::Reloadable;
use super::route::Route;
use super::server_calls::{ServerCallOutcome, ServerCallRequest};
use super::stats::{
    AnswerCounts, BusStats, LenientCounts, MemoryStats, ProcessorStats, ReactorCounters,
    ReactorStats, ReactorTallies,
};
use super::stop::StopSignal;
use super::trace_queue::TraceStats;
use crate::config::{Config, ProfileTable};

/// Every counter the other threads publish, for reading.
pub struct PublishedCounters {
    pub reactors: Vec<Arc<ReactorStats>>,
    pub processors: Vec<Arc<ProcessorStats>>,
    /// Held only to read the processor queue's depth; never receives.
    pub calls_queue: Receiver<InboundCall>,
    pub open_connections: Arc<AtomicUsize>,
    pub tallies: Arc<ReactorTallies>,
    pub memory: Arc<MemoryStats>,
    pub journal: Option<JournalWatch>,
    pub bus: Option<Arc<BusStats>>,
    /// The trace writer's, when `[trace] directory` is set.
    pub trace: Option<Arc<TraceStats>>,
    /// The command queue's counts, when the queue runs.
    pub queue: Option<Arc<QueueStats>>,
}

/// The gateway as the admin API sees it.
pub struct AdminHandle {
    pub config: Arc<Config>,
    pub route: Route,
    pub counters: PublishedCounters,
    pub stop: Arc<StopSignal>,
    /// `[[profiles]]` in force (SIGHUP replaces them), to name the
    /// reactors' per-profile gauges.
    pub profiles: Arc<Reloadable<ProfileTable>>,
    /// The command queue's keeper, when the queue runs.
    pub queue: Option<QueueSender>,
}

impl AdminHandle {
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Each reactor's counters, at most one timer tick old.
    pub fn reactor_counters(&self) -> Vec<ReactorCounters> {
        self.counters
            .reactors
            .iter()
            .map(|s| s.snapshot())
            .collect()
    }

    /// Open connections per profile in force, by name (all reactors, at
    /// most one tick old; for a tick after SIGHUP, counted under the old
    /// list's indices).
    pub fn profile_connections(&self) -> Vec<(String, u64)> {
        self.profiles
            .current()
            .profiles()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let n = self
                    .counters
                    .reactors
                    .iter()
                    .map(|s| s.profile_connections.get(i))
                    .sum();
                (p.name.clone(), n)
            })
            .collect()
    }

    /// Wall-clock time (Unix ms) of each reactor's last published tick.
    pub fn reactor_last_ticks(&self) -> Vec<u64> {
        self.counters
            .reactors
            .iter()
            .map(|s| s.last_tick_unix_ms())
            .collect()
    }

    /// Answers by (action, outcome), all processors together, at most one
    /// tick old.
    pub fn answer_counts(&self) -> AnswerCounts {
        self.processor_sum(ProcessorStats::snapshot)
    }

    /// Tolerated schema violations by (quirk, action), all processors
    /// together, at most one tick old.
    pub fn lenient_counts(&self) -> LenientCounts {
        self.processor_sum(ProcessorStats::lenient_snapshot)
    }

    /// One labelled count of every processor, summed per label pair.
    fn processor_sum(&self, snapshot: fn(&ProcessorStats) -> AnswerCounts) -> AnswerCounts {
        let mut total = AnswerCounts::new();
        for stats in &self.counters.processors {
            for (label, n) in snapshot(stats) {
                *total.entry(label).or_insert(0) += n;
            }
        }
        total
    }

    /// CALLs waiting in the processor queue.
    pub fn processor_queue_depth(&self) -> usize {
        self.counters.calls_queue.len()
    }

    /// Established WebSocket connections, all reactors together.
    pub fn open_connections(&self) -> usize {
        self.counters.open_connections.load(Ordering::Acquire)
    }

    /// What the memory trimmer has done.
    pub fn memory_stats(&self) -> &MemoryStats {
        &self.counters.memory
    }

    /// Handshakes in progress and bytes in partly received messages, all reactors.
    pub fn reactor_tallies(&self) -> &ReactorTallies {
        &self.counters.tallies
    }

    /// The journal's counters, when it is on.
    pub fn journal_stats(&self) -> Option<JournalStats> {
        self.counters.journal.as_ref().map(JournalWatch::stats)
    }

    /// The trace writer's counters, when tracing is configured.
    pub fn trace_stats(&self) -> Option<&TraceStats> {
        self.counters.trace.as_deref()
    }

    /// The bus bridge's counters, when the bus is on.
    pub fn bus_stats(&self) -> Option<&BusStats> {
        self.counters.bus.as_deref()
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_stopping()
    }

    /// Reactors started (running or not).
    pub fn reactor_count(&self) -> usize {
        self.route.reactor_count()
    }

    /// Reactor threads still running (all of them until shutdown).
    pub fn reactors_running(&self) -> usize {
        self.stop.reactors_running()
    }

    /// Waits (at most `limit`) until every reactor has published once.
    pub fn wait_for_first_publish(&self, limit: std::time::Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.reactor_last_ticks().contains(&0) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }
}

/// The gateway as the bus bridge sees it.
pub struct BusHandle {
    pub config: Arc<Config>,
    pub route: Route,
    /// For presence: the bridge publishes local changes and records ids
    /// other gateways hold.
    pub ids: Arc<IdRegistry>,
}

impl BusHandle {
    /// See [`Route::start_call`].
    pub fn start_call(&self, request: ServerCallRequest) -> Result<(), ServerCallOutcome> {
        self.route.start_call(request)
    }

    /// Closes `conn`: its charge point connected to another gateway.
    pub fn evict(&self, conn: ConnRef) {
        self.route.evict(conn);
    }

    /// Connects and disconnects since the last call.
    pub fn take_presence_changes(&self) -> Vec<(Box<str>, PresenceChange)> {
        self.ids.take_changes()
    }

    /// Forgets expired entries of other gateways.
    pub fn prune_held_elsewhere(&self) {
        self.ids.prune_held_elsewhere();
    }

    /// What the presence bucket says about an id held elsewhere.
    pub fn set_held_elsewhere(&self, charge_point: &str, until: Option<Instant>) {
        self.ids.set_held_elsewhere(charge_point, until);
    }
}
