//! The `[processors]` table: the pool answering charge-point CALLs.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use serde::{Deserialize, Serialize};

use super::problems::Problems;
use super::reactors::{core_list, is_valid_core_list};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorsConfig {
    /// Threads answering charge-point CALLs.
    pub threads: usize,
    /// The cores processor threads may run on (the kernel places each
    /// among them), e.g. `"6-7"`; empty: with the other threads
    /// (`threads.other_cores`). Checked at start like `reactors.cores`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "core_list"
    )]
    pub cores: Vec<usize>,
}

impl Default for ProcessorsConfig {
    fn default() -> Self {
        ProcessorsConfig {
            threads: 2,
            cores: Vec::new(),
        }
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
        out.check(
            is_valid_core_list(&self.cores),
            "processors.cores",
            "must list at most 1024 distinct core numbers below 4096",
        );
        out.into_vec()
    }
}
