//! The event journal: the embedded northbound default (DESIGN.md, "Northbound").
//!
//! Reactors and processors send [`JournalRecord`](crate::cross_thread::JournalRecord)s through a
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

//!
//! This folder is the writer thread's: starting it ([`Journal`]), stopping
//! it ([`JournalHandle`], held by the start-up wiring) and its loop
//! (`writer.rs`). What producers and readers share with it (the record
//! types, the queue, the file format) is in [`crate::cross_thread`].

mod writer;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::config::JournalConfig;
use crate::cross_thread::journal_files as files;
pub use crate::cross_thread::journal_files::read_records;
use crate::cross_thread::{
    JournalCounters, JournalSender, JournalStats, JournalWatch, ReactorHandle,
};

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
    /// `[channels] capacity`. A record's answer ([`JournalRecord::release`](crate::cross_thread::JournalRecord::release))
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

        let counters = Arc::new(JournalCounters::default());
        let mut writer = writer::Writer::new(
            config,
            counters.clone(),
            lock,
            next_seq,
            last_stamp,
            reactors,
        );
        writer.ensure_file()?;

        let (tx, rx) = crossbeam_channel::bounded(capacity);
        // Never sent on: dropping the sender is the stop signal.
        let (stop_tx, stop_rx) = crossbeam_channel::unbounded::<()>();
        let batch_limit = capacity.max(1);
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx, stop_rx, batch_limit))?;
        Ok((
            JournalSender::new(tx.clone(), counters.clone()),
            JournalHandle {
                watch: JournalWatch::new(counters.clone(), tx),
                counters,
                stop: Some(stop_tx),
                writer: Some(thread),
                directory: config.directory.clone(),
            },
        ))
    }
}

/// Control of the journal, held by main.
pub struct JournalHandle {
    counters: Arc<JournalCounters>,
    watch: JournalWatch,
    stop: Option<Sender<()>>,
    writer: Option<JoinHandle<()>>,
    directory: PathBuf,
}

impl JournalHandle {
    pub fn stats(&self) -> JournalStats {
        self.watch.stats()
    }

    /// What the admin API may see: counters and queue depth.
    pub fn watch(&self) -> JournalWatch {
        self.watch.clone()
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Stops (`true`) or resumes the writer taking records, for diagnostics
    /// and tests of backpressure through a running gateway.
    pub fn set_paused(&self, paused: bool) {
        self.counters.set_paused(paused);
    }

    /// Stops the writer taking records until the guard is dropped, so the
    /// queue fills (backpressure tests). The writer may take one more record
    /// if it was waiting for one. Shutdown cannot run while paused: the guard
    /// borrows the handle.
    pub fn pause(&self) -> Paused<'_> {
        self.counters.set_paused(true);
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
        self.handle.counters.set_paused(false);
    }
}
