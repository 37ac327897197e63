//! The `[queue]` table: commands kept for charge points that are not
//! connected (`POST /connections/{id}/calls` with `"queue"`). Kept in the
//! journal directory (`{journal.directory}/queue/commands.log`) when the
//! bus is off, in JetStream with `bus.kind = "nats"`. The keeper itself
//! is `queue` (embedded) or `bus::queue`.
//!
//! Like all of `config`, plain data. Read at start only.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{duration_text, ms};
use super::problems::Problems;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Whether commands may be queued at all (off: a command for a charge
    /// point that is not connected is answered 404, as without `"queue"`).
    /// Left out: on wherever there is a keeper (the journal, or the bus).
    /// `true` without either is a configuration error, never ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Commands queued or sent, not yet ended, for one charge point;
    /// beyond it a new one is refused with 507.
    pub max_per_charge_point: usize,
    /// The same, all charge points together; beyond it 507.
    pub max_total: usize,
    /// The longest `ttl` a command may ask for (longer is 400).
    #[serde(with = "duration_text")]
    pub max_ttl: Duration,
    /// Ended commands are remembered (for `GET /commands/{id}`) this long
    /// after they ended...
    #[serde(with = "duration_text")]
    pub keep_finished: Duration,
    /// ...and at most this many of them, the oldest forgotten first.
    pub max_finished: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: None,
            max_per_charge_point: 100,
            max_total: 100_000,
            max_ttl: Duration::from_secs(7 * 86_400),
            keep_finished: Duration::from_secs(86_400),
            max_finished: 100_000,
        }
    }
}

impl QueueConfig {
    /// Whether the queue runs, given whether a keeper exists (the journal
    /// is on, or the bus).
    pub fn runs(&self, keeper: bool) -> bool {
        self.enabled.unwrap_or(true) && keeper
    }

    /// Range checks, keyed like the file (`queue.max_total`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            (1..=100_000).contains(&self.max_per_charge_point),
            "queue.max_per_charge_point",
            "must be between 1 and 100000",
        );
        out.check(
            (1..=10_000_000).contains(&self.max_total)
                && self.max_total >= self.max_per_charge_point,
            "queue.max_total",
            "must be between queue.max_per_charge_point and 10000000",
        );
        out.check(
            ms(self.max_ttl) >= 1000 && self.max_ttl <= Duration::from_secs(366 * 86_400),
            "queue.max_ttl",
            "must be between 1s and 366d",
        );
        out.check(
            self.keep_finished <= Duration::from_secs(366 * 86_400),
            "queue.keep_finished",
            "must be at most 366d",
        );
        out.check(
            self.max_finished <= 10_000_000,
            "queue.max_finished",
            "must be at most 10000000",
        );
        out.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_text() {
        let c: QueueConfig = toml::from_str("").unwrap();
        assert_eq!(c, QueueConfig::default());
        assert!(c.problems().is_empty());
        let c: QueueConfig =
            toml::from_str("max_per_charge_point = 3\nmax_total = 5\nmax_ttl = \"1h\"").unwrap();
        assert_eq!(c.max_ttl, Duration::from_secs(3600));
        assert!(c.problems().is_empty());
        let again: QueueConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let e = toml::from_str::<QueueConfig>("max = 3").unwrap_err();
        assert!(e.message().contains("unknown field"), "{e}");
        let c = QueueConfig {
            max_per_charge_point: 0,
            max_total: 0,
            max_ttl: Duration::from_millis(10),
            keep_finished: Duration::from_secs(400 * 86_400),
            max_finished: 20_000_000,
            enabled: Some(true),
        };
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "queue.max_per_charge_point",
                "queue.max_total",
                "queue.max_ttl",
                "queue.keep_finished",
                "queue.max_finished"
            ]
        );
    }
}
