//! The `[reactors]` table: how many event loops, their cores, and the
//! resolution of their timer wheels.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{duration_text, ms};
use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReactorsConfig {
    /// Event loops; 0 = one per core.
    pub count: usize,
    /// Pin reactor N to core N (mod cores).
    pub pin_cores: bool,
    /// Timer wheel resolution: timeouts fire at most this late.
    #[serde(with = "duration_text")]
    pub timer_tick: Duration,
}

impl Default for ReactorsConfig {
    fn default() -> Self {
        ReactorsConfig {
            count: 0,
            pin_cores: true,
            timer_tick: Duration::from_millis(100),
        }
    }
}

impl ReactorsConfig {
    /// Range checks, keyed like the file (`reactors.count`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.count <= 1024,
            "reactors.count",
            "must be 0 (one per core) to 1024",
        );
        out.check(
            ms(self.timer_tick) >= 1 && ms(self.timer_tick) <= 1000,
            "reactors.timer_tick",
            "must be between 1ms and 1s",
        );
        out.into_vec()
    }
}
