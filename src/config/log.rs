//! The `[log]` table: level, output, format and flushing of the log writer.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{duration_text, ms};
use super::problems::Problems;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    /// `stdout`, `stderr`, or a file path (reopened on SIGHUP).
    pub output: String,
    pub format: LogFormat,
    /// The writer thread flushes its buffer at least this often.
    #[serde(with = "duration_text")]
    pub flush_interval: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Info,
            output: "stdout".into(),
            format: LogFormat::Text,
            flush_interval: Duration::from_millis(100),
        }
    }
}

impl LogConfig {
    /// Range checks, keyed like the file (`log.output`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            !self.output.is_empty(),
            "log.output",
            "must be stdout, stderr or a file path",
        );
        out.check(
            ms(self.flush_interval) >= 1 && self.flush_interval <= Duration::from_secs(60),
            "log.flush_interval",
            "must be between 1ms and 60s",
        );
        out.into_vec()
    }
}
