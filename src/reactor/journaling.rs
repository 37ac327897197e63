//! A reactor's journal records (connects, disconnects, server calls): handed
//! over without waiting; a full journal queue keeps them in a local backlog,
//! in order, never dropped.

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
    /// Hands a record to the journal without waiting; a full queue keeps
    /// it in the reactor's backlog (never dropped, order kept).
    pub(super) fn journal(&mut self, record: JournalRecord) {
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
