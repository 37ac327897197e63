//! The writer thread: the only code that touches journal files.
//!
//! Invariants:
//! * One writer owns the directory's current file; files are created with
//!   `create_new` and never reopened, so no two writers share a file.
//! * Only whole lines reach the OS: a line is encoded completely before any
//!   of it is written, and a line is never split across files (rotation
//!   happens between lines).
//! * A record leaves memory only after `write` has taken it. On an I/O error
//!   the records not yet written stay in hand and are retried, forever, into
//!   a fresh file; meanwhile the channel fills and producers feel it as
//!   backpressure. Nothing is dropped.
//! * Write-ahead: an answer a record carries (`release`) goes to its
//!   reactor only after the record's `write` has returned (and, with
//!   `fsync_interval = "0s"`, after the fsync), once per batch.
//! * Counters are kept in plain fields and published once per batch.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, select};

use crate::config::JournalConfig;
use crate::cross_thread::journal_files as files;
use crate::cross_thread::{CallAnswer, JournalCounters, JournalRecord, ReactorHandle, ToReactor};

/// Bytes of whole lines gathered before one `write` call. Bounds the memory
/// of a big batch (up to a channel's worth of records, each up to a frame).
const WRITE_CHUNK: usize = 256 << 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct Current {
    path: PathBuf,
    file: File,
    /// Bytes handed to the OS: always a whole number of lines.
    len: u64,
}

#[derive(Default)]
struct Counters {
    records_written: u64,
    bytes_written: u64,
    records_synced: u64,
    fsyncs: u64,
    rotations: u64,
    io_errors: u64,
}

pub(super) struct Writer {
    dir: PathBuf,
    rotate_size: u64,
    fsync_interval: Duration,
    shared: Arc<JournalCounters>,
    /// The directory lock (`journal.lock`), released when the writer ends.
    _lock: File,
    current: Option<Current>,
    next_seq: u64,
    /// Newest stamp used in a file name; new names never go below it.
    last_stamp: String,
    /// Whole lines not yet written, and how many.
    buf: Vec<u8>,
    buf_records: usize,
    line: Vec<u8>,
    /// When the first byte not yet fsynced was written.
    dirty_since: Option<Instant>,
    counts: Counters,
    /// Where released answers go, by reactor index.
    reactors: Arc<[ReactorHandle]>,
}

impl Writer {
    pub(super) fn new(
        config: &JournalConfig,
        shared: Arc<JournalCounters>,
        lock: File,
        next_seq: u64,
        last_stamp: String,
        reactors: Arc<[ReactorHandle]>,
    ) -> Writer {
        Writer {
            dir: config.directory.clone(),
            rotate_size: config.rotate_size,
            fsync_interval: config.fsync_interval,
            shared,
            _lock: lock,
            current: None,
            next_seq,
            last_stamp,
            buf: Vec::new(),
            buf_records: 0,
            line: Vec::new(),
            dirty_since: None,
            counts: Counters::default(),
            reactors,
        }
    }

    /// Opens a new file if there is none; returns the current file's length.
    /// Called at start (so a directory we cannot write is an error from
    /// `Journal::start`), after a rotation and after an error.
    pub(super) fn ensure_file(&mut self) -> io::Result<u64> {
        if self.current.is_none() {
            let now = files::stamp(SystemTime::now());
            if now > self.last_stamp {
                self.last_stamp = now;
            }
            let (path, file) = loop {
                let seq = self.next_seq;
                self.next_seq += 1;
                match files::create(&self.dir, &self.last_stamp, seq) {
                    // Someone else's file: never write into it, take the next number.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    other => break other?,
                }
            };
            log::debug!("journal: writing {}", path.display());
            self.current = Some(Current { path, file, len: 0 });
        }
        Ok(self.current.as_ref().map_or(0, |c| c.len))
    }

    /// The thread body. `batch_limit` is the channel capacity: a batch never
    /// holds more than one channel's worth of records.
    pub(super) fn run(
        mut self,
        records: Receiver<JournalRecord>,
        stop: Receiver<()>,
        batch_limit: usize,
    ) {
        let mut batch: Vec<JournalRecord> = Vec::new();
        let mut stopping = false;
        loop {
            self.shared.wait_while_paused();
            if !stopping {
                // Sleep until a record, the stop signal (its sender is
                // dropped, never used) or the fsync deadline.
                let first = match self.sync_deadline() {
                    Some(deadline) => select! {
                        recv(records) -> r => r.ok(),
                        recv(stop) -> _ => None,
                        default(deadline.saturating_duration_since(Instant::now())) => {
                            self.sync_if_due();
                            self.publish();
                            continue;
                        }
                    },
                    None => select! {
                        recv(records) -> r => r.ok(),
                        recv(stop) -> _ => None,
                    },
                };
                match first {
                    Some(record) => {
                        batch.push(record);
                        self.shared.in_hand.store(1, Ordering::Relaxed);
                    }
                    // Stop requested, or every sender gone: drain and finish.
                    None => stopping = true,
                }
                self.shared.wait_while_paused();
            }
            // Only this thread receives, so what `try_recv` finds stays ours.
            while batch.len() < batch_limit {
                match records.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            self.shared
                .in_hand
                .store(batch.len() as u64, Ordering::Relaxed);
            if !batch.is_empty() {
                self.write_batch(&batch);
            }
            if self.fsync_interval.is_zero() {
                self.sync_batch(&batch);
            } else {
                self.sync_if_due();
            }
            // Every record of the batch is written (and synced if asked):
            // their answers may leave now. Records are freed here, on the
            // writer, not on a producer.
            self.release(&mut batch);
            self.publish();
            self.shared.in_hand.store(0, Ordering::Relaxed);
            if stopping && records.is_empty() {
                break;
            }
        }
        self.sync_or_abandon();
        self.publish();
        let senders = self.shared.senders.load(Ordering::Acquire);
        if senders > 0 {
            log::warn!(
                "journal: stopped while {senders} senders are alive; \
                 a record sent from now on is refused and handed back to its sender"
            );
        }
    }

    /// Sends each record's answer to its reactor, in batch order: one
    /// message per reactor and batch (a connection's answers all go to its
    /// own reactor, so their order is kept).
    fn release(&self, batch: &mut Vec<JournalRecord>) {
        let mut per_reactor: Vec<Vec<CallAnswer>> =
            self.reactors.iter().map(|_| Vec::new()).collect();
        for record in batch.drain(..) {
            let Some(answer) = record.release else {
                continue;
            };
            match per_reactor.get_mut(usize::from(answer.conn.reactor)) {
                Some(answers) => answers.push(answer),
                None => log::error!(
                    "journal: answer for unknown reactor {}",
                    answer.conn.reactor
                ),
            }
        }
        for (reactor, answers) in self.reactors.iter().zip(per_reactor) {
            if answers.is_empty() {
                continue;
            }
            // Waits while the inbox is full: reactors always drain it.
            // Err: the reactor has stopped; the connection is gone.
            let _ = reactor.send(ToReactor::Answers(answers));
        }
    }

    /// `fsync_interval = "0s"`: the batch is on disk before its answers
    /// leave. A failed fsync may have lost the pages, so the batch is
    /// written again into a fresh file and synced there, until it holds.
    fn sync_batch(&mut self, batch: &[JournalRecord]) {
        let mut backoff = FIRST_BACKOFF;
        while let Err(e) = self.sync() {
            self.counts.io_errors += 1;
            log::error!(
                "journal: fsync failed: {e}; writing {} records again in a new file in {backoff:?}",
                batch.len()
            );
            self.abandon();
            self.publish();
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            self.write_batch(batch);
        }
    }

    fn sync_deadline(&self) -> Option<Instant> {
        self.dirty_since.map(|t| t + self.fsync_interval)
    }

    fn sync_if_due(&mut self) {
        if self.sync_deadline().is_some_and(|d| d <= Instant::now()) {
            self.sync_or_abandon();
        }
    }

    /// Writes every record of `batch`, retrying after I/O errors until all
    /// are written. Records written before an error are not written again.
    fn write_batch(&mut self, batch: &[JournalRecord]) {
        let mut done = 0;
        let mut backoff = FIRST_BACKOFF;
        while done < batch.len() {
            match self.write_records(&batch[done..]) {
                Ok(()) => return,
                Err((written, e)) => {
                    done += written;
                    self.counts.io_errors += 1;
                    let path = self.current.as_ref().map(|c| c.path.clone());
                    log::error!(
                        "journal: write failed ({}): {e}; {} records held, retrying in {:?} in a new file",
                        path.as_deref().unwrap_or(self.dir.as_path()).display(),
                        batch.len() - done,
                        backoff
                    );
                    self.abandon();
                    self.publish();
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// On error, also returns how many leading records were written.
    fn write_records(&mut self, records: &[JournalRecord]) -> Result<(), (usize, io::Error)> {
        let mut written = 0;
        for record in records {
            self.line.clear();
            record.encode(&mut self.line);
            let len = self.ensure_file().map_err(move |e| (written, e))?;
            let used = len + self.buf.len() as u64;
            if used > 0 && used + self.line.len() as u64 > self.rotate_size {
                written += self.flush_buf().map_err(move |e| (written, e))?;
                self.rotate().map_err(move |e| (written, e))?;
            }
            self.buf.extend_from_slice(&self.line);
            self.buf_records += 1;
            if self.buf.len() >= WRITE_CHUNK {
                written += self.flush_buf().map_err(move |e| (written, e))?;
            }
        }
        self.flush_buf().map_err(move |e| (written, e))?;
        Ok(())
    }

    /// Hands `buf` (whole lines) to the OS; returns how many records that was.
    fn flush_buf(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() {
            return Ok(0);
        }
        self.ensure_file()?;
        let Some(cur) = self.current.as_mut() else {
            return Err(io::Error::other("journal: no current file"));
        };
        cur.file.write_all(&self.buf)?;
        let n = self.buf.len() as u64;
        cur.len += n;
        self.counts.bytes_written += n;
        let records = std::mem::take(&mut self.buf_records);
        self.counts.records_written += records as u64;
        self.dirty_since.get_or_insert_with(Instant::now);
        self.buf.clear();
        Ok(records)
    }

    /// Closes the current file (synced) and starts the next.
    fn rotate(&mut self) -> io::Result<()> {
        self.sync()?;
        self.current = None;
        self.ensure_file()?;
        self.counts.rotations += 1;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if let (Some(cur), Some(_)) = (&self.current, self.dirty_since) {
            cur.file.sync_data()?;
            self.counts.fsyncs += 1;
        }
        self.dirty_since = None;
        self.counts.records_synced = self.counts.records_written;
        Ok(())
    }

    fn sync_or_abandon(&mut self) {
        if let Err(e) = self.sync() {
            // After a failed fsync the kernel may have dropped the dirty
            // pages; the file can no longer be trusted to grow. Start anew.
            self.counts.io_errors += 1;
            log::error!("journal: fsync failed: {e}; continuing in a new file");
            self.abandon();
        }
    }

    /// Gives up the current file after an error: cuts it back to its last
    /// whole line (best effort) so it does not end torn.
    fn abandon(&mut self) {
        self.buf.clear();
        self.buf_records = 0;
        self.dirty_since = None;
        if let Some(cur) = self.current.take()
            && let Err(e) = cur
                .file
                .set_len(cur.len)
                .and_then(|()| cur.file.sync_data())
        {
            log::warn!(
                "journal: cannot cut {} back to {} bytes: {e}",
                cur.path.display(),
                cur.len
            );
        }
    }

    /// Copies the counters to the shared atomics; `records_written` last, so
    /// a reader that sees it (Acquire) sees the rest at least as new.
    fn publish(&self) {
        let s = &self.shared;
        let c = &self.counts;
        s.bytes_written.store(c.bytes_written, Ordering::Relaxed);
        s.records_synced.store(c.records_synced, Ordering::Relaxed);
        s.fsyncs.store(c.fsyncs, Ordering::Relaxed);
        s.rotations.store(c.rotations, Ordering::Relaxed);
        s.io_errors.store(c.io_errors, Ordering::Relaxed);
        s.records_written
            .store(c.records_written, Ordering::Release);
    }
}
