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
    /// CALLs a reactor answers on its own thread instead of handing them
    /// to this pool: actions whose answer needs no shared state and no
    /// I/O (the answer and the journal line are the same as a processor's).
    /// Saves the hop to a processor and back for the commonest CALLs.
    /// Empty: every CALL goes to the pool.
    pub inline_actions: Vec<String>,
    /// Larger CALLs of those actions still go to the pool, so that no
    /// frame costs its reactor more than a small, bounded validation.
    pub inline_max_bytes: usize,
}

/// Answered from shared state or with I/O (transaction ids are reserved in
/// a file): never on a reactor.
const NEVER_INLINE: &[&str] = &["StartTransaction"];

impl Default for ProcessorsConfig {
    fn default() -> Self {
        ProcessorsConfig {
            threads: 2,
            cores: Vec::new(),
            inline_actions: Vec::new(),
            inline_max_bytes: 1024,
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
        let unknown = self
            .inline_actions
            .iter()
            .find(|a| !crate::ocpp::is_action_name(a));
        out.check(
            unknown.is_none(),
            "processors.inline_actions",
            format!(
                "{:?} is not an OCPP action name",
                unknown.map_or("", String::as_str)
            ),
        );
        let stateful = self
            .inline_actions
            .iter()
            .find(|a| NEVER_INLINE.contains(&a.as_str()));
        out.check(
            stateful.is_none(),
            "processors.inline_actions",
            format!(
                "{} cannot be answered on a reactor (its answer reserves a transaction id in a file)",
                stateful.map_or("", String::as_str)
            ),
        );
        out.check(
            self.inline_max_bytes <= 65536,
            "processors.inline_max_bytes",
            "must be at most 65536",
        );
        out.into_vec()
    }
}
