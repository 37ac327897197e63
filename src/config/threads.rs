//! The `[threads]` table: where the threads that are neither reactors nor
//! processors run (the log writer, journal, bus, admin, command queue and
//! trace threads, and the main thread that waits for signals).
//!
//! Like all of `config`, plain data: read at start only.

use serde::{Deserialize, Serialize};

use super::problems::Problems;
use super::reactors::{core_list, is_valid_core_list};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreadsConfig {
    /// The cores those threads may run on (the kernel places each among
    /// them): a list `[0, 1]` or a text `"0-1"`. Empty: wherever the
    /// process may run. Checked at start like `reactors.cores`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "core_list"
    )]
    pub other_cores: Vec<usize>,
}

impl ThreadsConfig {
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            is_valid_core_list(&self.other_cores),
            "threads.other_cores",
            "must list at most 1024 distinct core numbers below 4096",
        );
        out.into_vec()
    }
}
