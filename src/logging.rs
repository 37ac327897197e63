//! Logging that never blocks a network thread.
//!
//! `log` macros → fern → a bounded channel → the one writer thread, which
//! owns the output (stdout, stderr or a file), buffers it and flushes it
//! every `flush_interval` and at exit. When the queue is full the line is
//! dropped and counted, and the writer reports the count. SIGHUP reopens
//! the file (for logrotate) via [`LogHandle::reopen`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::config::{LogConfig, LogFormat};
use crate::cross_thread::stats::LOG_LINES_DROPPED;

/// Shared between main and the writer.
struct LogState {
    reopen: AtomicBool,
}

/// Control of the logging pipeline, held by main.
pub struct LogHandle {
    state: Arc<LogState>,
    /// Tells the writer to drain and stop. (The global logger keeps a sender
    /// of the line queue for the life of the process, so the queue closing
    /// cannot be the signal.)
    stop: Sender<()>,
    writer: Option<JoinHandle<()>>,
}

enum Output {
    Stdout(BufWriter<io::Stdout>),
    Stderr(BufWriter<io::Stderr>),
    File(PathBuf, BufWriter<File>),
}

impl Output {
    fn open(target: &str) -> io::Result<Output> {
        Ok(match target {
            "stdout" => Output::Stdout(BufWriter::new(io::stdout())),
            "stderr" => Output::Stderr(BufWriter::new(io::stderr())),
            path => {
                let path = PathBuf::from(path);
                let file = OpenOptions::new().create(true).append(true).open(&path)?;
                Output::File(path, BufWriter::new(file))
            }
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::Stderr(w) => w,
            Output::File(_, w) => w,
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Output::File(path, w) = self {
            w.flush()?;
            let file = OpenOptions::new().create(true).append(true).open(&*path)?;
            *w = BufWriter::new(file);
        }
        Ok(())
    }
}

/// Installs the global logger. Fails if the output cannot be opened or a
/// logger is already installed.
pub fn init(config: &LogConfig, capacity: usize) -> Result<LogHandle, String> {
    let output = Output::open(&config.output)
        .map_err(|e| format!("log.output: cannot open {:?}: {e}", config.output))?;
    let (lines_tx, lines_rx) = crossbeam_channel::bounded::<String>(capacity);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(capacity);
    let state = Arc::new(LogState {
        reopen: AtomicBool::new(false),
    });
    let format = config.format;
    fern::Dispatch::new()
        // Filtering is done by log::max_level, which SIGHUP can change.
        .level(log::LevelFilter::Trace)
        .level_for("tungstenite", log::LevelFilter::Warn)
        .chain(fern::Output::call(move |record| {
            let line = format_line(format, record);
            if let Err(TrySendError::Full(_)) = lines_tx.try_send(line) {
                LOG_LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }))
        .apply()
        .map_err(|e| format!("cannot install logger: {e}"))?;
    log::set_max_level(config.level.filter());
    let writer_state = state.clone();
    let flush_interval = config.flush_interval;
    let writer = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(output, lines_rx, stop_rx, writer_state, flush_interval))
        .map_err(|e| format!("cannot start log writer: {e}"))?;
    Ok(LogHandle {
        state,
        stop: stop_tx,
        writer: Some(writer),
    })
}

fn format_line(format: LogFormat, record: &log::Record) -> String {
    let ts = humantime::format_rfc3339_micros(SystemTime::now());
    match format {
        LogFormat::Text => format!(
            "{ts} {:<5} {} {}\n",
            record.level(),
            record.target(),
            record.args()
        ),
        LogFormat::Json => {
            let mut line = String::with_capacity(128);
            line.push_str("{\"ts\":\"");
            line.push_str(&ts.to_string());
            line.push_str("\",\"level\":\"");
            line.push_str(record.level().as_str());
            line.push_str("\",\"target\":");
            crate::json_text::push_json_str(&mut line, record.target());
            line.push_str(",\"msg\":");
            crate::json_text::push_json_str(&mut line, &record.args().to_string());
            line.push_str("}\n");
            line
        }
    }
}

fn write_lines(
    mut output: Output,
    lines: Receiver<String>,
    stop: Receiver<()>,
    state: Arc<LogState>,
    flush_interval: Duration,
) {
    let mut reported_dropped = 0;
    loop {
        let stopping = stop.try_recv().is_ok();
        // Write what is queued, then wait for more up to the flush interval.
        match lines.recv_timeout(if stopping {
            Duration::ZERO
        } else {
            flush_interval
        }) {
            Ok(line) => {
                let _ = output.writer().write_all(line.as_bytes());
                while let Ok(line) = lines.try_recv() {
                    let _ = output.writer().write_all(line.as_bytes());
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        let dropped = LOG_LINES_DROPPED.load(Ordering::Relaxed);
        if dropped != reported_dropped {
            let note = format!(
                "{} WARN  ocpp_gateway::logging log queue full: dropped {} lines\n",
                humantime::format_rfc3339_micros(SystemTime::now()),
                dropped - reported_dropped
            );
            let _ = output.writer().write_all(note.as_bytes());
            reported_dropped = dropped;
        }
        let _ = output.writer().flush();
        if state.reopen.swap(false, Ordering::AcqRel)
            && let Err(e) = output.reopen()
        {
            let _ = writeln!(io::stderr(), "cannot reopen log file: {e}");
        }
        if stopping && lines.is_empty() {
            return;
        }
    }
}

impl LogHandle {
    /// Reopens a log file at the writer's next turn (SIGHUP, logrotate).
    pub fn reopen(&self) {
        self.state.reopen.store(true, Ordering::Release);
    }

    pub fn set_level(&self, level: log::LevelFilter) {
        log::set_max_level(level);
    }

    /// Writes out everything queued so far and stops the writer.
    pub fn shutdown(mut self) {
        let _ = self.stop.try_send(());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}
