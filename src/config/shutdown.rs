//! The `[shutdown]` table: the grace period on SIGTERM.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// On SIGTERM: time for charge points to finish the close handshake and
    /// for queues to drain before connections are cut.
    #[serde(with = "duration_text")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace: Duration::from_secs(10),
        }
    }
}

impl ShutdownConfig {
    /// Range checks, keyed like the file (`shutdown.grace`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.grace <= Duration::from_secs(3600),
            "shutdown.grace",
            "must be at most 1h",
        );
        out.into_vec()
    }
}
