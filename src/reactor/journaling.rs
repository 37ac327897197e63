//! A reactor's journal records (connects, disconnects, server calls, CALLs
//! answered inline): gathered during a turn and handed over together at
//! its end, without waiting; a full journal queue keeps them in a local
//! backlog, in order, never dropped.
//!
//! Why per turn: the journal writer sleeps whenever its queue is empty, and
//! a record sent to a sleeping writer costs the sender a futex wake and the
//! writer a context switch and a `write` of its own. Handed one by one, the
//! CALLs a reactor answers inline woke it for almost every record (three
//! times the writes and context switches of the processor path, measured);
//! handed at the end of a turn, a turn's records wake it once and go into
//! one `write`. They wait at most until this turn's `poll`, which does not
//! block while work is left (the flush is the last thing before it).

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
    /// Journals a record: it goes to the journal at the end of this turn.
    /// Bounded: a turn makes at most a record or two per connection it
    /// touches (one CALL in flight each, one connect or disconnect).
    pub(super) fn journal(&mut self, record: JournalRecord) {
        if self.journal.is_some() {
            self.journal_turn.push(record);
        }
    }

    /// Hands this turn's records to the journal (the last step before `poll`).
    pub(super) fn hand_journal_turn(&mut self) {
        if self.journal_turn.is_empty() {
            return;
        }
        let mut turn = std::mem::take(&mut self.journal_turn);
        for record in turn.drain(..) {
            self.hand_to_journal(record);
        }
        // Keep the emptied list's capacity for the next turn.
        self.journal_turn = turn;
    }

    /// Hands a record to the journal without waiting; a full queue keeps
    /// it in the reactor's backlog (never dropped, order kept).
    fn hand_to_journal(&mut self, record: JournalRecord) {
        let Some(journal) = &self.journal else {
            return;
        };
        if !self.journal_backlog.is_empty() {
            self.journal_backlog.push_back(record);
        } else if let Err(TrySendError::Full(record)) = journal.try_send(record) {
            self.journal_backlog.push_back(record);
        }
        // Past the bound, stop what makes records: reading charge points
        // (and accepting, see `accept`). Disconnects still add theirs, at
        // most one per connection.
        if self.journal_backlog.len() >= self.config.journal.reactor_backlog && !self.reads_paused {
            self.reads_paused = true;
            self.counters.journal_read_pauses += 1;
            warn!(
                "reactor {}: the journal is behind ({} records waiting); not reading charge points",
                self.index,
                self.journal_backlog.len()
            );
        }
    }

    pub(super) fn flush_journal_backlog(&mut self) {
        let Some(journal) = &self.journal else {
            return;
        };
        while let Some(record) = self.journal_backlog.pop_front() {
            match journal.try_send(record) {
                Ok(()) => {}
                Err(TrySendError::Full(record)) => {
                    self.journal_backlog.push_front(record);
                    break;
                }
                // The journal has stopped (shutdown): nothing more can be kept.
                Err(TrySendError::Disconnected(_)) => {
                    self.journal_backlog.clear();
                    break;
                }
            }
        }
        // Resume at half the bound, so reading does not flap at its edge.
        if self.reads_paused
            && self.journal_backlog.len() < self.config.journal.reactor_backlog.div_ceil(2)
        {
            self.reads_paused = false;
            self.reads_resumed_at = self.now;
            info!(
                "reactor {}: the journal caught up; reading again",
                self.index
            );
        }
    }
}
