//! The `[channels]` table: the capacity of every bounded channel.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use serde::{Deserialize, Serialize};

use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Capacity of every bounded channel in the program.
    pub capacity: usize,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig { capacity: 8192 }
    }
}

impl ChannelsConfig {
    /// Range checks, keyed like the file (`channels.capacity`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            (1..=1 << 24).contains(&self.capacity),
            "channels.capacity",
            "must be between 1 and 16777216",
        );
        out.into_vec()
    }
}
