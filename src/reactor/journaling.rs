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
            return;
        }
        if let Err(TrySendError::Full(record)) = journal.try_send(record) {
            self.journal_backlog.push_back(record);
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
                    return;
                }
                // The journal has stopped (shutdown): nothing more can be kept.
                Err(TrySendError::Disconnected(_)) => {
                    self.journal_backlog.clear();
                    return;
                }
            }
        }
    }
}
