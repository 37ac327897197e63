//! What a reactor tells the command queue's keeper: a charge point's
//! session is ready for kept commands (its BootNotification was accepted,
//! or its first CALL shows it had booted before), or that ready session
//! has gone. Offered without waiting; a notice the keeper's inbox cannot
//! take waits in a backlog retried every turn, at most `channels.capacity`
//! of them (past it a notice is dropped and counted: that charge point's
//! commands then wait for its next boot).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::cross_thread::{QueueBusy, QueueSender, ToQueue};
use crate::ocpp::OcppVersion;

pub struct QueueNotes {
    sender: Option<QueueSender>,
    backlog: VecDeque<ToQueue>,
    max_backlog: usize,
    /// Notices dropped at `max_backlog` (published as a counter).
    pub dropped: u64,
}

impl QueueNotes {
    pub fn new(sender: Option<QueueSender>, max_backlog: usize) -> QueueNotes {
        QueueNotes {
            sender,
            backlog: VecDeque::new(),
            max_backlog,
            dropped: 0,
        }
    }

    /// Whether a queue runs (else nothing is ever told).
    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    pub fn ready(&mut self, charge_point: &Arc<str>, version: OcppVersion) {
        self.offer(ToQueue::Ready {
            charge_point: charge_point.clone(),
            version,
        });
    }

    pub fn gone(&mut self, charge_point: &Arc<str>) {
        self.offer(ToQueue::Gone {
            charge_point: charge_point.clone(),
        });
    }

    fn offer(&mut self, note: ToQueue) {
        let Some(sender) = &self.sender else {
            return;
        };
        // Behind a backlog, a notice waits its turn: ready and gone keep order.
        if !self.backlog.is_empty() {
            self.keep(note);
        } else if let Err(QueueBusy(note)) = sender.try_send(note) {
            self.keep(note);
        }
    }

    fn keep(&mut self, note: ToQueue) {
        if self.backlog.len() >= self.max_backlog {
            self.dropped += 1;
            return;
        }
        self.backlog.push_back(note);
    }

    /// Offers the backlog again, oldest first, until the inbox is full.
    pub fn retry(&mut self) {
        let Some(sender) = &self.sender else {
            return;
        };
        while let Some(note) = self.backlog.pop_front() {
            if let Err(QueueBusy(note)) = sender.try_send(note) {
                self.backlog.push_front(note);
                return;
            }
        }
    }

    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChannelsConfig;
    use crate::cross_thread::command_queue::store_inbox;

    #[test]
    fn a_full_inbox_keeps_notices_in_order_up_to_the_backlog_bound() {
        let (sender, inbox) = store_inbox(&ChannelsConfig { capacity: 1 });
        let mut notes = QueueNotes::new(Some(sender), 2);
        let cp: Arc<str> = "CP".into();
        notes.ready(&cp, OcppVersion::V16);
        notes.gone(&cp);
        notes.ready(&cp, OcppVersion::V16);
        notes.gone(&cp);
        assert_eq!(notes.dropped, 1, "one in the inbox, two kept, one dropped");
        let names = |inbox: &crossbeam_channel::Receiver<ToQueue>| {
            inbox
                .try_iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&inbox), ["Ready(CP)"]);
        notes.retry();
        assert_eq!(names(&inbox), ["Gone(CP)"]);
        notes.retry();
        assert_eq!(names(&inbox), ["Ready(CP)"]);
        assert!(!notes.has_backlog());
    }
}
