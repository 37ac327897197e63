//! The event journal: the embedded northbound default (DESIGN.md, "Northbound").
//!
//! Reactors and processors send [`JournalRecord`]s through a
//! [`JournalSender`] (a bounded crossbeam channel sized by `[channels]
//! capacity`) to one writer thread, which appends each as one JSON line to
//! size-rotated `journal-<stamp>-<seq>.jsonl` files in `directory`, syncing
//! them every `fsync_interval`, on rotation and at shutdown.
//!
//! The journal never drops a record: [`JournalSender::send`] waits while the
//! queue is full (processors: that is the backpressure), and
//! [`JournalSender::try_send`] hands the record back (reactors, which must
//! not block: they keep it and retry). A crash leaves at most one torn last
//! line per file; [`Journal::start`] cuts it off, and [`read_records`] skips it.

mod files;
mod record;
mod writer;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};

use crate::config::JournalConfig;
use crate::pipeline::ReactorHandle;

pub(crate) use files::list as list_files;
pub use files::read_records;
pub use record::{Direction, Extra, FrameSlice, JournalRecord, Kind, Payload, SmallText};

/// State shared by the writer (which alone updates the counters), the
/// senders and the handle.
#[derive(Default)]
struct Shared {
    records_written: AtomicU64,
    bytes_written: AtomicU64,
    records_synced: AtomicU64,
    fsyncs: AtomicU64,
    rotations: AtomicU64,
    io_errors: AtomicU64,
    /// Records the writer has taken from the channel and not yet written.
    in_hand: AtomicU64,
    /// Live `JournalSender`s (changed on clone and drop, not per record).
    senders: AtomicUsize,
    /// Test/diagnostic pause; the flag is the fast path, the mutex and
    /// condvar only matter while paused.
    paused: AtomicBool,
    pause_lock: Mutex<bool>,
    resumed: Condvar,
}

impl Shared {
    fn wait_while_paused(&self) {
        if !self.paused.load(Ordering::Acquire) {
            return;
        }
        let mut paused = self.pause_lock.lock().unwrap_or_else(|e| e.into_inner());
        while *paused {
            paused = self.resumed.wait(paused).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn set_paused(&self, on: bool) {
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

/// Entry point: see [`Journal::start`].
pub struct Journal;

impl Journal {
    /// A journal whose records carry no answers to release.
    pub fn start(
        config: &JournalConfig,
        capacity: usize,
    ) -> io::Result<(JournalSender, JournalHandle)> {
        Journal::start_releasing(config, capacity, Arc::from([]))
    }

    /// Creates `config.directory`, repairs torn last lines left by a crash,
    /// opens a new file and starts the writer thread. `capacity` is
    /// `[channels] capacity`. A record's answer ([`JournalRecord::release`])
    /// goes to its reactor in `reactors` once the record is written
    /// (write-ahead).
    pub fn start_releasing(
        config: &JournalConfig,
        capacity: usize,
        reactors: Arc<[ReactorHandle]>,
    ) -> io::Result<(JournalSender, JournalHandle)> {
        let dir = &config.directory;
        fs::create_dir_all(dir)?;
        // Held by the writer for its life: repairing and writing assume no
        // other process writes this directory.
        let lock = files::lock(dir)?;
        let existing = files::list(dir)?;
        // Normally only the newest file can be torn, but an abandoned file
        // (I/O error) could be too; checking a file's last byte is cheap.
        for f in &existing {
            let dropped = files::repair(&f.path)?;
            if dropped > 0 {
                log::warn!(
                    "journal: {} ended in a torn line (crash?): dropped its last {dropped} bytes",
                    f.path.display()
                );
            }
        }
        let next_seq = existing.iter().map(|f| f.seq + 1).max().unwrap_or(1);
        let last_stamp = existing.last().map(|f| f.stamp.clone()).unwrap_or_default();

        let shared = Arc::new(Shared::default());
        let mut writer =
            writer::Writer::new(config, shared.clone(), lock, next_seq, last_stamp, reactors);
        writer.ensure_file()?;

        let (tx, rx) = crossbeam_channel::bounded(capacity);
        // Never sent on: dropping the sender is the stop signal.
        let (stop_tx, stop_rx) = crossbeam_channel::unbounded::<()>();
        let batch_limit = capacity.max(1);
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx, stop_rx, batch_limit))?;
        shared.senders.store(1, Ordering::Release);
        Ok((
            JournalSender {
                tx: tx.clone(),
                shared: shared.clone(),
            },
            JournalHandle {
                shared,
                depth: tx,
                stop: Some(stop_tx),
                writer: Some(thread),
                directory: config.directory.clone(),
            },
        ))
    }
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
    shared: Arc<Shared>,
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
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        JournalSender {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl Drop for JournalSender {
    fn drop(&mut self) {
        self.shared.senders.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Control of the journal, held by main.
pub struct JournalHandle {
    shared: Arc<Shared>,
    /// For `len()` only; never sends. (Not a `JournalSender`: not counted as
    /// a live producer.)
    depth: Sender<JournalRecord>,
    stop: Option<Sender<()>>,
    writer: Option<JoinHandle<()>>,
    directory: PathBuf,
}

impl JournalHandle {
    pub fn stats(&self) -> JournalStats {
        let s = &self.shared;
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

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Stops (`true`) or resumes the writer taking records, for diagnostics
    /// and tests of backpressure through a running gateway.
    pub fn set_paused(&self, paused: bool) {
        self.shared.set_paused(paused);
    }

    /// Stops the writer taking records until the guard is dropped, so the
    /// queue fills (backpressure tests). The writer may take one more record
    /// if it was waiting for one. Shutdown cannot run while paused: the guard
    /// borrows the handle.
    pub fn pause(&self) -> Paused<'_> {
        self.shared.set_paused(true);
        Paused { handle: self }
    }

    /// Writes out every queued record, fsyncs, and joins the writer.
    ///
    /// Call it after the producers have stopped: every record whose `send`
    /// returned before this call is written. Once the writer has finished,
    /// `send`/`try_send` hand records back; a send racing the very end of the
    /// final drain is not covered (the writer warns if senders are alive).
    pub fn shutdown(mut self) -> JournalStats {
        self.stop_and_join();
        self.stats()
    }

    fn stop_and_join(&mut self) {
        self.stop.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            log::error!("journal: the writer thread panicked");
        }
    }
}

impl Drop for JournalHandle {
    /// Dropping the handle stops the journal the same way: never a silent loss.
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// See [`JournalHandle::pause`].
pub struct Paused<'a> {
    handle: &'a JournalHandle,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.handle.shared.set_paused(false);
    }
}
