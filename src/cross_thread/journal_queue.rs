//! The queue into the journal writer, and its counters.
//!
//! ```text
//! reactors, processors --JournalRecord--> journal queue (bounded) --> journal writer --> files
//! ```
//! Bounded by `[channels] capacity`. A reactor only `try_send`s (it keeps a
//! record that does not fit and stops reading, `journal.reactor_backlog`);
//! processors may wait. The writer alone updates [`JournalCounters`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::{Sender, TrySendError};

use super::journal_record::JournalRecord;

/// The journal writer's counters and pause switch: updated by the writer
/// alone, read by the admin API (through [`JournalWatch`]), the senders
/// count themselves in `senders`.
#[derive(Default)]
pub struct JournalCounters {
    pub records_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub records_synced: AtomicU64,
    pub fsyncs: AtomicU64,
    pub rotations: AtomicU64,
    pub io_errors: AtomicU64,
    /// Records the writer has taken from the channel and not yet written.
    pub in_hand: AtomicU64,
    /// Live `JournalSender`s (changed on clone and drop, not per record).
    pub senders: AtomicUsize,
    /// Test/diagnostic pause; the flag is the fast path, the mutex and
    /// condvar only matter while paused.
    pub paused: AtomicBool,
    pub pause_lock: Mutex<bool>,
    pub resumed: Condvar,
}

impl JournalCounters {
    pub fn wait_while_paused(&self) {
        if !self.paused.load(Ordering::Acquire) {
            return;
        }
        let mut paused = self.pause_lock.lock().unwrap_or_else(|e| e.into_inner());
        while *paused {
            paused = self.resumed.wait(paused).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn set_paused(&self, on: bool) {
        let mut paused = self.pause_lock.lock().unwrap_or_else(|e| e.into_inner());
        *paused = on;
        self.paused.store(on, Ordering::Release);
        self.resumed.notify_all();
    }
}

/// A point-in-time copy of the journal's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Records handed to the OS (`write` returned), since start.
    pub records_written: u64,
    pub bytes_written: u64,
    /// Of those, records known to be on disk (fsync returned).
    pub records_synced: u64,
    pub fsyncs: u64,
    /// Files closed because they were full.
    pub rotations: u64,
    /// Failed writes or syncs (each retried in a new file).
    pub io_errors: u64,
    /// Records waiting in the channel.
    pub queue_depth: u64,
    /// Records sent but not yet written: the queue plus the writer's batch.
    pub lag: u64,
}

/// The journal's writer has stopped; the record comes back unwritten.
#[derive(Debug)]
pub struct JournalClosed(pub JournalRecord);

impl fmt::Display for JournalClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the journal is shut down")
    }
}

impl std::error::Error for JournalClosed {}

/// Sends records to the journal writer. Cheap to clone: one per reactor or
/// processor.
pub struct JournalSender {
    tx: Sender<JournalRecord>,
    counters: Arc<JournalCounters>,
}

impl JournalSender {
    /// Queues `record`, waiting while the queue is full. For threads that
    /// may wait (processors), never for a reactor.
    // The record comes back by value so it is never lost and a retry needs
    // no allocation; boxing it would allocate exactly when the queue is full.
    #[allow(clippy::result_large_err)]
    pub fn send(&self, record: JournalRecord) -> Result<(), JournalClosed> {
        self.tx.send(record).map_err(|e| JournalClosed(e.0))
    }

    /// Queues `record` if there is room; otherwise hands it back
    /// (`Full`: keep it and retry; `Disconnected`: the journal is shut down).
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, record: JournalRecord) -> Result<(), TrySendError<JournalRecord>> {
        self.tx.try_send(record)
    }

    pub fn queue_depth(&self) -> usize {
        self.tx.len()
    }
}

impl Clone for JournalSender {
    fn clone(&self) -> Self {
        self.counters.senders.fetch_add(1, Ordering::AcqRel);
        JournalSender {
            tx: self.tx.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl Drop for JournalSender {
    fn drop(&mut self) {
        self.counters.senders.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the admin API may see of the journal: counters and queue depth.
#[derive(Clone)]
pub struct JournalWatch {
    counters: Arc<JournalCounters>,
    /// For `len()` only; never sends (not a `JournalSender`: not counted
    /// as a live producer).
    depth: Sender<JournalRecord>,
}

impl JournalWatch {
    pub fn new(counters: Arc<JournalCounters>, depth: Sender<JournalRecord>) -> JournalWatch {
        JournalWatch { counters, depth }
    }

    pub fn stats(&self) -> JournalStats {
        let s = &self.counters;
        // Acquire pairs with the writer publishing `records_written` last.
        let records_written = s.records_written.load(Ordering::Acquire);
        let queue_depth = self.depth.len() as u64;
        JournalStats {
            records_written,
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            records_synced: s.records_synced.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            rotations: s.rotations.load(Ordering::Relaxed),
            io_errors: s.io_errors.load(Ordering::Relaxed),
            queue_depth,
            lag: queue_depth + s.in_hand.load(Ordering::Relaxed),
        }
    }
}

impl JournalSender {
    /// A sender into `tx`, counted in `counters.senders`.
    pub fn new(tx: Sender<JournalRecord>, counters: Arc<JournalCounters>) -> JournalSender {
        counters.senders.fetch_add(1, Ordering::AcqRel);
        JournalSender { tx, counters }
    }
}
