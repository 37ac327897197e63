//! The `[channels]` table: the capacity of every bounded channel.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use serde::{Deserialize, Serialize};

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
