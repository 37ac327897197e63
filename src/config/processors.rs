//! The `[processors]` table: the pool answering charge-point CALLs.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorsConfig {
    /// Threads answering charge-point CALLs.
    pub threads: usize,
}

impl Default for ProcessorsConfig {
    fn default() -> Self {
        ProcessorsConfig { threads: 2 }
    }
}
