//! The trace writer: frame traces of single charge points, one file each.
//!
//! Reactors send [`TraceEvent`](crate::cross_thread::TraceEvent)s through
//! a [`TraceSender`] (a bounded crossbeam channel sized by `[channels]
//! capacity`, offered with `try_send` only: a full queue drops the frame
//! and the reactor counts it) to this one thread, which owns the files:
//! `{directory}/{encoded id}.trace`, one JSON line per frame (`line.rs`),
//! opened when a trace starts, appended to across sessions, closed when
//! the trace stops or the connection ends, buffered and flushed every
//! `flush_interval`. A file stops growing at `max_file_bytes` with one
//! last line saying so.
//!
//! A separate thread rather than the log writer: the files, their caps
//! and their lifetimes are this thread's own state, and a busy trace must
//! not delay or drop log lines (nor the reverse).
//!
//! This folder is the writer thread's: starting and joining it (here),
//! its loop and files (`writer.rs`), the line format (`line.rs`).

mod line;
mod writer;

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::{ChannelsConfig, TraceConfig};
use crate::cross_thread::{TraceSender, TraceStats, trace_queue};

pub use line::file_name;

/// The running writer, held by the start-up wiring.
pub struct TraceWriter {
    stats: Arc<TraceStats>,
    thread: JoinHandle<()>,
}

impl TraceWriter {
    /// Creates `directory` and starts the writer thread on a queue of
    /// `[channels] capacity`. The writer stops, flushing and closing every
    /// file, once every [`TraceSender`] is dropped (the reactors hold them).
    pub fn start(
        config: &TraceConfig,
        directory: &Path,
        channels: &ChannelsConfig,
    ) -> io::Result<(TraceSender, TraceWriter)> {
        fs::create_dir_all(directory)?;
        let stats = Arc::new(TraceStats::default());
        let (tx, rx) = trace_queue(channels);
        let capacity = channels.capacity;
        let mut writer = writer::Writer::new(config, directory.to_owned(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || writer.run(rx, capacity))?;
        Ok((tx, TraceWriter { stats, thread }))
    }

    pub fn stats(&self) -> Arc<TraceStats> {
        self.stats.clone()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    pub fn join(self) {
        if self.thread.join().is_err() {
            log::error!("trace: the writer thread panicked");
        }
    }
}
