//! The `[trace]` table: where frame traces of single charge points go
//! (`POST /connections/{id}/trace`, a profile's `trace` globs) and how
//! large a trace file may grow. The writer thread itself is `trace`.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state. The table takes
//! effect at start only (the writer thread and its directory); SIGHUP
//! re-applies the profiles' `trace` globs, not these keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{duration_text, ms};
use super::problems::Problems;

/// The longest trace an operator may ask for, in minutes (a day): a
/// forgotten trace ends by itself.
pub const MAX_TRACE_MINUTES: u64 = 1440;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConfig {
    /// Where trace files go (created if missing). No default: without it
    /// tracing is off, and `POST /connections/{id}/trace` answers 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// A trace file stops growing before it would pass this size; one
    /// last line then says it was truncated.
    pub max_file_bytes: u64,
    /// Trace files open at once; past it the least recently written one
    /// is closed (and reopened, appending, when its charge point sends
    /// again). Bounds descriptors and buffers whatever a profile matches.
    pub max_open_files: usize,
    /// The writer flushes what it buffered at least this often.
    #[serde(with = "duration_text")]
    pub flush_interval: Duration,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            directory: None,
            max_file_bytes: 16 << 20,
            max_open_files: 64,
            flush_interval: Duration::from_secs(1),
        }
    }
}

impl TraceConfig {
    /// Whether tracing is configured (a directory is set).
    pub fn enabled(&self) -> bool {
        self.directory.is_some()
    }

    /// Range checks, keyed like the file (`trace.max_file_bytes`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.directory
                .as_ref()
                .is_none_or(|d| !d.as_os_str().is_empty()),
            "trace.directory",
            "must be a directory path (leave the key out to turn tracing off)",
        );
        out.check(
            (4096..=1 << 40).contains(&self.max_file_bytes),
            "trace.max_file_bytes",
            "must be between 4096 bytes and 1 TiB",
        );
        out.check(
            (1..=65_536).contains(&self.max_open_files),
            "trace.max_open_files",
            "must be between 1 and 65536",
        );
        out.check(
            ms(self.flush_interval) >= 1 && self.flush_interval <= Duration::from_secs(60),
            "trace.flush_interval",
            "must be between 1ms and 60s",
        );
        out.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_text() {
        let c: TraceConfig = toml::from_str("").unwrap();
        assert_eq!(c, TraceConfig::default());
        assert!(!c.enabled(), "off without a directory");
        assert!(c.problems().is_empty());
        let c: TraceConfig = toml::from_str(
            "directory = \"/tmp/t\"\nmax_file_bytes = 4096\nflush_interval = \"50ms\"",
        )
        .unwrap();
        assert!(c.enabled());
        assert!(c.problems().is_empty());
        let again: TraceConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let e = toml::from_str::<TraceConfig>("dir = \"/tmp\"").unwrap_err();
        assert!(e.message().contains("unknown field"), "{e}");
        let c = TraceConfig {
            directory: Some(PathBuf::new()),
            max_file_bytes: 100,
            max_open_files: 0,
            flush_interval: Duration::ZERO,
        };
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "trace.directory",
                "trace.max_file_bytes",
                "trace.max_open_files",
                "trace.flush_interval"
            ]
        );
    }
}
