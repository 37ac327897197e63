//! Answering on a reactor's own thread the CALLs that need no processor:
//! the actions of `processors.inline_actions` (none by default), up to
//! `processors.inline_max_bytes` long.
//!
//! Why: for such a CALL a processor's work (validate an almost empty
//! payload, write the time) is smaller than the hop itself: a push into the
//! shared queue, a futex wake of a parked processor, another thread's cache
//! misses on the frame, and the answer's trip back. Here the reactor runs
//! the very code a processor runs ([`super::answer`]) with the same policy,
//! so the answer, its counts and its journal line are a processor's; only
//! the thread differs. With the journal on the answer still leaves only
//! after its line is written: the record carries it to the journal writer,
//! which releases it to the reactor as it does a processor's.
//!
//! What cannot run here: a CALL a backend answers (the bus), a
//! StartTransaction (its id is reserved in a file; refused by the config),
//! anything while an embedding's `before_answer` hook is set (it may
//! block), a CALL longer than the bound. Those go to the pool as before.
//! Owned by one reactor thread; its counts are published like a
//! processor's, once per reactor tick, so `/metrics` sums them with the
//! pool's.

use std::sync::Arc;

use log::error;

use super::{ProcessorSetup, ReadyAnswer, Step};
use crate::config::ProcessorsConfig;
use crate::cross_thread::{
    AnswerCounts, AnswerHere, AnsweredHere, InboundCall, LenientCounts, ProcessorStats,
};

/// One reactor's inline answerer.
pub struct InlineAnswerer {
    /// The pool's setup without a backend or hook (neither can apply here).
    setup: ProcessorSetup,
    actions: Box<[Box<str>]>,
    max_bytes: usize,
    /// The answer frame being written (keeps its capacity between calls).
    out: String,
    counts: AnswerCounts,
    lenient: LenientCounts,
    stats: Arc<ProcessorStats>,
}

impl InlineAnswerer {
    /// `None` when nothing may be answered inline: the list is empty, every
    /// action on it is answered by the backend, or a hook is set.
    pub fn new(
        pool: &ProcessorSetup,
        config: &ProcessorsConfig,
        stats: Arc<ProcessorStats>,
    ) -> Option<InlineAnswerer> {
        if pool.before_answer.is_some() {
            return None;
        }
        let actions: Box<[Box<str>]> = config
            .inline_actions
            .iter()
            .filter(|a| {
                !pool
                    .backend
                    .as_ref()
                    .is_some_and(|link| link.answers_from_backend(a))
            })
            .map(|a| a.as_str().into())
            .collect();
        if actions.is_empty() {
            return None;
        }
        Some(InlineAnswerer {
            setup: ProcessorSetup {
                calls: pool.calls.clone(),
                cores: Vec::new(),
                reactors: pool.reactors.clone(),
                policy: pool.policy.clone(),
                before_answer: None,
                publish_every: pool.publish_every,
                journal: pool.journal.clone(),
                backend: None,
            },
            actions,
            max_bytes: config.inline_max_bytes,
            out: String::new(),
            counts: AnswerCounts::new(),
            lenient: LenientCounts::new(),
            stats,
        })
    }
}

impl AnswerHere for InlineAnswerer {
    fn takes(&self, action: &str, len: usize) -> bool {
        len <= self.max_bytes && self.actions.iter().any(|a| **a == *action)
    }

    fn answer(&mut self, mut call: InboundCall) -> AnsweredHere {
        self.out.clear();
        let conn = call.conn;
        let decided = match super::answer(&self.setup, &mut call, &mut self.out, &mut self.lenient)
        {
            Step::Now(decided) => decided,
            Step::Backend { action, .. } => {
                // Cannot happen: this setup has no backend. Release the
                // connection rather than leave it waiting.
                error!("inline answer for {action} asked for the backend");
                ReadyAnswer::nothing()
            }
        };
        let (label, answer, record) = decided.split(conn);
        *self.counts.entry(label).or_insert(0) += 1;
        // A record is made only with the journal on.
        match record {
            Some(mut record) => {
                record.release = Some(answer);
                AnsweredHere::Journal(record)
            }
            None => AnsweredHere::Now(answer),
        }
    }

    fn publish(&self) {
        self.stats.publish(&self.counts, &self.lenient);
    }
}
