//! The `[processors]` table: the pool answering charge-point CALLs.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use serde::{Deserialize, Serialize};

use super::problems::Problems;

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

impl ProcessorsConfig {
    /// Range checks, keyed like the file (`processors.threads`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            (1..=1024).contains(&self.threads),
            "processors.threads",
            "must be between 1 and 1024",
        );
        out.into_vec()
    }
}
