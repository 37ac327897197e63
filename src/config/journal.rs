//! The `[journal]` table: where and how the event journal is written. The
//! journal itself (its writer thread and files) is `journal`.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::problems::Problems;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Whether the gateway starts the journal (`journal::Journal::start` itself
    /// does not look at this).
    pub enabled: bool,
    /// Where the journal files go; created if missing.
    pub directory: PathBuf,
    /// A file is closed and a new one started before it would grow past this.
    pub rotate_size: u64,
    /// Written records reach the disk (fsync) at most this long after being
    /// written; "0s" syncs after every batch.
    #[serde(with = "duration_text")]
    pub fsync_interval: Duration,
    /// Records one reactor keeps while the journal's queue is full. Past
    /// it the reactor stops reading its charge points (and accepting) until
    /// the journal catches up: backpressure, never a lost record.
    pub reactor_backlog: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: true,
            directory: PathBuf::from("journal"),
            rotate_size: 64 << 20,
            fsync_interval: Duration::from_secs(1),
            reactor_backlog: 4096,
        }
    }
}

impl JournalConfig {
    /// Range checks, keyed like the file (`journal.rotate_size`).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            !self.directory.as_os_str().is_empty(),
            "journal.directory",
            "must be a directory path",
        );
        out.check(
            (4096..=1 << 40).contains(&self.rotate_size),
            "journal.rotate_size",
            "must be between 4096 bytes and 1 TiB",
        );
        out.check(
            self.fsync_interval <= Duration::from_secs(3600),
            "journal.fsync_interval",
            "must be at most 1h (\"0s\" syncs after every batch)",
        );
        out.check(
            (1..=1 << 24).contains(&self.reactor_backlog),
            "journal.reactor_backlog",
            "must be between 1 and 16777216",
        );
        out.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_text() {
        let c: JournalConfig = toml::from_str("").unwrap();
        assert_eq!(c, JournalConfig::default());
        assert!(c.enabled);
        assert_eq!(c.rotate_size, 64 << 20);
        assert_eq!(c.fsync_interval, Duration::from_secs(1));
        assert!(c.problems().is_empty());

        let c: JournalConfig =
            toml::from_str("fsync_interval = \"0s\"\nrotate_size = 4096\ndirectory = \"/tmp/j\"")
                .unwrap();
        assert_eq!(c.fsync_interval, Duration::ZERO);
        assert!(c.problems().is_empty());
        let again: JournalConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn config_rejects_unknown_keys_and_bad_values() {
        let e = toml::from_str::<JournalConfig>("async = true").unwrap_err();
        assert!(e.message().contains("unknown field"), "{e}");
        let e = toml::from_str::<JournalConfig>("fsync_interval = \"soon\"").unwrap_err();
        assert!(e.message().contains("not a duration"), "{e}");

        let c = JournalConfig {
            rotate_size: 4095,
            fsync_interval: Duration::from_secs(7200),
            directory: PathBuf::new(),
            ..JournalConfig::default()
        };
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "journal.directory",
                "journal.rotate_size",
                "journal.fsync_interval"
            ]
        );
    }
}
