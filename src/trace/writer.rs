//! The trace writer's loop and the files it owns.
//!
//! Invariants:
//! * one entry per charge point id with a trace going on; `sessions`
//!   counts its traced connections (a replaced connection and its
//!   successor may overlap), and the entry (its file) goes when it is 0;
//! * at most `max_open_files` files are open; past it the one opened
//!   longest ago is flushed and closed, its entry kept, and reopened
//!   (appending) when it is written again;
//! * a file never grows past `max_file_bytes` except by the one
//!   truncation line, after which nothing more is written to it (also in
//!   later sessions: a file that ends with that line stays full).

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::warn;

use super::line;
use crate::config::TraceConfig;
use crate::cross_thread::{TraceEvent, TraceStats};

/// Bytes read from the end of an existing file to see whether it is full.
const TAIL_BYTES: u64 = 256;

/// One charge point's trace file.
struct Traced {
    sessions: u32,
    file: Option<BufWriter<File>>,
    /// Bytes in the file: what it held when opened, plus what was written.
    size: u64,
    /// At the cap: nothing more is written.
    capped: bool,
    /// Written since the last flush.
    dirty: bool,
    /// The last open or write failed (logged once until one succeeds).
    failing: bool,
}

pub(super) struct Writer {
    directory: PathBuf,
    max_file_bytes: u64,
    max_open_files: usize,
    flush_interval: Duration,
    stats: Arc<TraceStats>,
    files: HashMap<Arc<str>, Traced>,
    /// Ids whose file is open, oldest open first.
    open: VecDeque<Arc<str>>,
    /// One line, built here and reused.
    line: Vec<u8>,
}

impl Writer {
    pub(super) fn new(config: &TraceConfig, directory: PathBuf, stats: Arc<TraceStats>) -> Writer {
        Writer {
            directory,
            max_file_bytes: config.max_file_bytes,
            max_open_files: config.max_open_files,
            flush_interval: config.flush_interval,
            stats,
            files: HashMap::new(),
            open: VecDeque::new(),
            line: Vec::with_capacity(1024),
        }
    }

    /// Until every sender is gone: take events (at most `batch` between
    /// two looks at the clock), flush every `flush_interval`.
    pub(super) fn run(&mut self, events: Receiver<TraceEvent>, batch: usize) {
        let mut next_flush = Instant::now() + self.flush_interval;
        loop {
            let wait = next_flush.saturating_duration_since(Instant::now());
            match events.recv_timeout(wait) {
                Ok(event) => {
                    self.handle(event);
                    for event in events.try_iter().take(batch) {
                        self.handle(event);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_flush {
                self.flush_all();
                next_flush = Instant::now() + self.flush_interval;
            }
        }
        let ids: Vec<Arc<str>> = self.files.keys().cloned().collect();
        for id in ids {
            self.close(&id);
        }
    }

    fn handle(&mut self, event: TraceEvent) {
        self.line.clear();
        match event {
            TraceEvent::Start {
                charge_point,
                at,
                cause,
                until,
            } => {
                self.files
                    .entry(charge_point.clone())
                    .or_insert(Traced {
                        sessions: 0,
                        file: None,
                        size: 0,
                        capped: false,
                        dirty: false,
                        failing: false,
                    })
                    .sessions += 1;
                line::trace_start(&mut self.line, at, &charge_point, cause, until);
                self.write(&charge_point, at, false);
            }
            TraceEvent::Frame {
                charge_point,
                at,
                dir,
                frame,
            } => {
                line::frame(&mut self.line, at, dir.as_str(), &frame);
                self.write(&charge_point, at, true);
            }
            TraceEvent::Stop {
                charge_point,
                at,
                why,
            } => {
                line::trace_stop(&mut self.line, at, why);
                self.write(&charge_point, at, false);
                let Some(traced) = self.files.get_mut(&charge_point) else {
                    return;
                };
                traced.sessions = traced.sessions.saturating_sub(1);
                if traced.sessions == 0 {
                    self.close(&charge_point);
                }
            }
        }
    }

    /// Writes `self.line` to `id`'s file, or the truncation line if it
    /// would pass the cap. A frame of an id with no trace going on (none
    /// can come: its start is never dropped) is ignored.
    fn write(&mut self, id: &Arc<str>, at: std::time::SystemTime, is_frame: bool) {
        let Some(traced) = self.files.get(id) else {
            return;
        };
        if traced.file.is_none() && !traced.capped {
            self.open_file(id);
        }
        let max = self.max_file_bytes;
        let Some(traced) = self.files.get_mut(id) else {
            return;
        };
        if traced.capped {
            if is_frame {
                self.stats.frames_capped.fetch_add(1, Relaxed);
            }
            return;
        }
        let Some(file) = traced.file.as_mut() else {
            return; // could not be opened (counted, logged)
        };
        let mut written = self.line.len() as u64;
        if traced.size + written > max {
            // The one line past the cap; nothing follows it.
            traced.capped = true;
            self.stats.files_capped.fetch_add(1, Relaxed);
            if is_frame {
                self.stats.frames_capped.fetch_add(1, Relaxed);
            }
            self.line.clear();
            line::truncated(&mut self.line, at, max);
            written = self.line.len() as u64;
        } else if is_frame {
            self.stats.frames_written.fetch_add(1, Relaxed);
        }
        match file.write_all(&self.line) {
            Ok(()) => {
                traced.size += written;
                traced.dirty = true;
                traced.failing = false;
                self.stats.bytes_written.fetch_add(written, Relaxed);
            }
            Err(e) => self.failed(id, "write", &e),
        }
    }

    /// Opens `id`'s file for appending (closing the longest-open file at
    /// `max_open_files`), and learns its size and whether it is full.
    fn open_file(&mut self, id: &Arc<str>) {
        while self.open.len() >= self.max_open_files {
            let Some(oldest) = self.open.pop_front() else {
                break;
            };
            self.release(&oldest);
        }
        let path = self.directory.join(line::file_name(id));
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .and_then(|mut file| {
                let size = file.seek(SeekFrom::End(0))?;
                let mut tail = Vec::new();
                if size > 0 {
                    file.seek(SeekFrom::Start(size.saturating_sub(TAIL_BYTES)))?;
                    (&mut file).take(TAIL_BYTES).read_to_end(&mut tail)?;
                }
                Ok((file, size, line::ends_truncated(&tail)))
            });
        let Some(traced) = self.files.get_mut(id) else {
            return;
        };
        match opened {
            Ok((file, size, full)) => {
                traced.file = Some(BufWriter::new(file));
                traced.size = size;
                traced.capped = full;
                traced.failing = false;
                self.open.push_back(id.clone());
                self.stats.files_open.fetch_add(1, Relaxed);
            }
            Err(e) => self.failed(id, "open", &e),
        }
    }

    /// Flushes and closes `id`'s file, keeping its entry.
    fn release(&mut self, id: &Arc<str>) {
        let Some(traced) = self.files.get_mut(id) else {
            return;
        };
        if let Some(mut file) = traced.file.take() {
            self.stats.files_open.fetch_sub(1, Relaxed);
            if let Err(e) = file.flush() {
                self.failed(id, "flush", &e);
            }
        }
        if let Some(traced) = self.files.get_mut(id) {
            traced.dirty = false;
        }
        self.open.retain(|open| open != id);
    }

    /// The trace of `id` is over: its file is flushed and closed.
    fn close(&mut self, id: &Arc<str>) {
        self.release(id);
        self.files.remove(id);
    }

    fn flush_all(&mut self) {
        let mut failed = Vec::new();
        for (id, traced) in &mut self.files {
            if let (true, Some(file)) = (traced.dirty, traced.file.as_mut()) {
                traced.dirty = false;
                if let Err(e) = file.flush() {
                    failed.push((id.clone(), e));
                }
            }
        }
        for (id, e) in failed {
            self.failed(&id, "flush", &e);
        }
    }

    /// Counts a failed open, write or flush and drops the file handle (what
    /// it buffered is lost); the next line opens the file again. Logged
    /// once until the file works again.
    fn failed(&mut self, id: &Arc<str>, what: &str, error: &io::Error) {
        self.stats.io_errors.fetch_add(1, Relaxed);
        let Some(traced) = self.files.get_mut(id) else {
            return;
        };
        if !traced.failing {
            warn!(
                "trace: cannot {what} {}: {error}",
                self.directory.join(line::file_name(id)).display()
            );
        }
        traced.failing = true;
        traced.dirty = false;
        if traced.file.take().is_some() {
            self.stats.files_open.fetch_sub(1, Relaxed);
            self.open.retain(|open| open != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cross_thread::{Direction, TraceCause, TraceEnd, TracedFrame};
    use std::time::SystemTime;

    fn text(id: &str, frame: &str) -> TraceEvent {
        TraceEvent::Frame {
            charge_point: id.into(),
            at: SystemTime::now(),
            dir: Direction::In,
            frame: TracedFrame::Text(frame.to_owned().into()),
        }
    }

    fn start(id: &str) -> TraceEvent {
        TraceEvent::Start {
            charge_point: id.into(),
            at: SystemTime::now(),
            cause: TraceCause::Operator,
            until: None,
        }
    }

    fn stop(id: &str) -> TraceEvent {
        TraceEvent::Stop {
            charge_point: id.into(),
            at: SystemTime::now(),
            why: TraceEnd::Disconnected,
        }
    }

    #[test]
    fn files_past_max_open_files_are_closed_and_reopened_and_sessions_overlap() {
        let dir = std::env::temp_dir().join(format!("trace-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = TraceConfig {
            max_open_files: 1,
            ..TraceConfig::default()
        };
        let stats = Arc::new(TraceStats::default());
        let mut w = Writer::new(&config, dir.clone(), stats.clone());
        let channels = crate::config::ChannelsConfig { capacity: 16 };
        let (tx, rx) = crate::cross_thread::trace_queue(&channels);
        // A and B alternate with room for one open file; A's connection is
        // replaced (a second session starts before the first stops).
        for event in [
            start("A"),
            start("B"),
            text("A", "a1"),
            text("B", "b1"),
            start("A"),
            stop("A"),
            text("A", "a2"),
            stop("A"),
            stop("B"),
        ] {
            tx.try_send(event).unwrap();
        }
        drop(tx);
        w.run(rx, channels.capacity);
        let read = |id: &str| std::fs::read_to_string(dir.join(line::file_name(id))).unwrap();
        let frames = |id: &str| -> Vec<String> {
            read(id)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter_map(|l| l["frame"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(frames("A"), ["a1", "a2"], "{}", read("A"));
        assert_eq!(frames("B"), ["b1"]);
        assert_eq!(read("A").matches("trace_stop").count(), 2);
        assert_eq!(stats.frames_written.load(Relaxed), 3);
        assert_eq!(stats.files_open.load(Relaxed), 0, "all closed at the end");
        assert!(w.files.is_empty() && w.open.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
