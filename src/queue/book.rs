//! The queue's state, without I/O: every kept command and where it
//! stands, each charge point's queue in order, which sessions are ready.
//!
//! Changes come in two steps. A decision (`enqueue`, `cancel`, `expired`,
//! `next_delivery`, `outcome`, `recover`) looks at the state and returns
//! the [`Record`]s it needs, changing nothing; the store writes them to the
//! log and [`Book::apply`]s them, the same function replay uses. So the
//! state after a restart is the state that ran, record for record.
//!
//! Invariants: a charge point's `order` holds its live (queued or sent)
//! commands, oldest first; at most one of them is sent (`in_flight`), and
//! it is the head. `expiries` holds exactly the queued ones.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use super::record::{Record, StoredCommand};
use crate::cross_thread::command_queue::{RESTARTED, command_view, settle};
use crate::cross_thread::{CancelOutcome, CommandState, QueueRefusal, QueuedCommand};
use crate::ocpp::session::ServerCallOutcome;

/// How long a charge point's delivery waits after its connection could
/// not take a command (its queue of server calls was full, or its journal
/// behind) before the next try.
pub const RETRY_AFTER_MS: u64 = 1000;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_charge_point: usize,
    pub total: usize,
    pub keep_finished_ms: u64,
    pub max_finished: usize,
}

struct Entry {
    command: QueuedCommand,
    state: CommandState,
    /// Bytes of this command's lines in the log (for compaction).
    bytes: u64,
}

#[derive(Default)]
struct ChargePointQueue {
    /// Live commands, oldest first.
    order: VecDeque<String>,
    /// The sent one (the head), while its outcome is awaited.
    in_flight: Option<String>,
    /// Its session is ready for commands.
    ready: bool,
    /// No delivery before this time (ms).
    retry_at: u64,
}

pub struct Book {
    limits: Limits,
    entries: HashMap<String, Entry>,
    queues: HashMap<String, ChargePointQueue>,
    /// (expires at, id) of every queued command.
    expiries: BTreeSet<(u64, String)>,
    /// (ended at, id) of ended commands still remembered, oldest first.
    finished: VecDeque<(u64, String)>,
    /// Charge points that may have a command to deliver now.
    wake: VecDeque<String>,
    /// (retry at, charge point) of deliveries put off.
    retries: BTreeSet<(u64, String)>,
    live: usize,
    /// Bytes of the log lines of every command remembered.
    retained_bytes: u64,
}

impl Book {
    pub fn new(limits: Limits) -> Book {
        Book {
            limits,
            entries: HashMap::new(),
            queues: HashMap::new(),
            expiries: BTreeSet::new(),
            finished: VecDeque::new(),
            wake: VecDeque::new(),
            retries: BTreeSet::new(),
            live: 0,
            retained_bytes: 0,
        }
    }

    /// Commands queued or sent.
    pub fn live(&self) -> usize {
        self.live
    }

    pub fn retained_bytes(&self) -> u64 {
        self.retained_bytes
    }

    /// Applies a record (written, or read back at replay); `bytes` is the
    /// length of its line. A record about a command not known is stale
    /// (its command was forgotten) and changes nothing.
    pub fn apply(&mut self, record: Record, bytes: u64) {
        match record {
            Record::Queued { command } => {
                let command = QueuedCommand::from(command);
                let id = command.command_id.clone();
                if self.entries.contains_key(&id) {
                    return;
                }
                let queue = self.queues.entry(command.charge_point.clone()).or_default();
                queue.order.push_back(id.clone());
                if queue.ready {
                    self.wake.push_back(command.charge_point.clone());
                }
                self.expiries.insert((command.expires_at_ms, id.clone()));
                self.live += 1;
                self.retained_bytes += bytes;
                let state = CommandState::Queued;
                let entry = Entry {
                    command,
                    state,
                    bytes,
                };
                self.entries.insert(id, entry);
            }
            Record::Sent { id, at } => {
                let Some(entry) = self.entries.get_mut(&id) else {
                    return;
                };
                if entry.state != CommandState::Queued {
                    return;
                }
                entry.state = CommandState::Sent { at_ms: at };
                entry.bytes += bytes;
                self.retained_bytes += bytes;
                self.expiries
                    .remove(&(entry.command.expires_at_ms, id.clone()));
                if let Some(queue) = self.queues.get_mut(&entry.command.charge_point) {
                    queue.in_flight = Some(id);
                }
            }
            Record::Returned { id } => {
                let Some(entry) = self.entries.get_mut(&id) else {
                    return;
                };
                if !matches!(entry.state, CommandState::Sent { .. }) {
                    return;
                }
                entry.state = CommandState::Queued;
                entry.bytes += bytes;
                self.retained_bytes += bytes;
                self.expiries
                    .insert((entry.command.expires_at_ms, id.clone()));
                if let Some(queue) = self.queues.get_mut(&entry.command.charge_point)
                    && queue.in_flight.as_deref() == Some(id.as_str())
                {
                    queue.in_flight = None;
                }
            }
            Record::Ended { id, state } => {
                let Some(entry) = self.entries.get_mut(&id) else {
                    return;
                };
                let Some(at) = state.ended_at() else {
                    return;
                };
                if entry.state.is_final() {
                    return;
                }
                if entry.state == CommandState::Queued {
                    self.expiries
                        .remove(&(entry.command.expires_at_ms, id.clone()));
                }
                entry.state = state;
                entry.bytes += bytes;
                self.retained_bytes += bytes;
                self.live -= 1;
                let cp = entry.command.charge_point.clone();
                if let Some(queue) = self.queues.get_mut(&cp) {
                    queue.order.retain(|o| *o != id);
                    if queue.in_flight.as_deref() == Some(id.as_str()) {
                        queue.in_flight = None;
                    }
                    if queue.ready {
                        self.wake.push_back(cp.clone());
                    } else if queue.order.is_empty() {
                        self.queues.remove(&cp);
                    }
                }
                self.finished.push_back((at, id));
            }
        }
    }

    /// The records that keep `command`, or why it cannot be kept.
    pub fn enqueue(&self, command: &QueuedCommand, now: u64) -> Result<Vec<Record>, QueueRefusal> {
        let order = self.queues.get(&command.charge_point).map(|q| &q.order);
        let replaced = command.replace_key.as_ref().and_then(|key| {
            order?.iter().find(|id| {
                self.entries.get(*id).is_some_and(|e| {
                    e.state == CommandState::Queued && e.command.replace_key.as_ref() == Some(key)
                })
            })
        });
        let mut records = Vec::with_capacity(2);
        match replaced {
            Some(old) => records.push(Record::Ended {
                id: old.clone(),
                state: CommandState::Cancelled {
                    at_ms: now,
                    replaced_by: Some(command.command_id.clone()),
                },
            }),
            None => {
                if order.map_or(0, VecDeque::len) >= self.limits.per_charge_point {
                    return Err(QueueRefusal::ChargePointFull {
                        max: self.limits.per_charge_point,
                    });
                }
                if self.live >= self.limits.total {
                    return Err(QueueRefusal::TotalFull {
                        max: self.limits.total,
                    });
                }
            }
        }
        records.push(Record::Queued {
            command: StoredCommand::from(command),
        });
        Ok(records)
    }

    pub fn view(&self, id: &str) -> Option<Value> {
        let entry = self.entries.get(id)?;
        Some(command_view(&entry.command, &entry.state))
    }

    /// The live commands of a charge point, in queue order.
    pub fn list(&self, charge_point: &str) -> Vec<Value> {
        let Some(queue) = self.queues.get(charge_point) else {
            return Vec::new();
        };
        queue.order.iter().filter_map(|id| self.view(id)).collect()
    }

    /// The record that cancels `id`, or why there is none.
    pub fn cancel(&self, id: &str, now: u64) -> Result<Record, CancelOutcome> {
        let Some(entry) = self.entries.get(id) else {
            return Err(CancelOutcome::Unknown);
        };
        if entry.state != CommandState::Queued {
            return Err(CancelOutcome::TooLate(command_view(
                &entry.command,
                &entry.state,
            )));
        }
        Ok(Record::Ended {
            id: id.to_owned(),
            state: CommandState::Cancelled {
                at_ms: now,
                replaced_by: None,
            },
        })
    }

    /// The records that expire every queued command whose ttl has passed.
    pub fn expired(&self, now: u64) -> Vec<Record> {
        self.expiries
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| Record::Ended {
                id: id.clone(),
                state: CommandState::Expired { at_ms: now },
            })
            .collect()
    }

    /// The next command that may be sent now, as its `sent` record and
    /// the command. `None`: nothing more this turn.
    pub fn next_delivery(&mut self, now: u64) -> Option<(Record, QueuedCommand)> {
        while let Some((at, cp)) = self.retries.first().cloned() {
            if at > now {
                break;
            }
            self.retries.pop_first();
            self.wake.push_back(cp);
        }
        while let Some(cp) = self.wake.pop_front() {
            let Some(queue) = self.queues.get(&cp) else {
                continue;
            };
            if !queue.ready || queue.in_flight.is_some() {
                continue;
            }
            if queue.retry_at > now {
                self.retries.insert((queue.retry_at, cp));
                continue;
            }
            let Some(entry) = queue.order.front().and_then(|id| self.entries.get(id)) else {
                continue;
            };
            if entry.state != CommandState::Queued || entry.command.expires_at_ms <= now {
                // Expired: the sweep ends it, and wakes the queue.
                continue;
            }
            let record = Record::Sent {
                id: entry.command.command_id.clone(),
                at: now,
            };
            return Some((record, entry.command.clone()));
        }
        None
    }

    /// What the outcome of delivered command `id` records: its end, or
    /// `returned` when it was never sent (the charge point is then not
    /// ready, or is retried later when its connection was full).
    pub fn outcome(&mut self, id: &str, outcome: ServerCallOutcome, now: u64) -> Option<Record> {
        let entry = self.entries.get(id)?;
        if !matches!(entry.state, CommandState::Sent { .. }) {
            return None;
        }
        let timeout_ms = entry.command.timeout.as_millis() as u64;
        match settle(outcome, timeout_ms, now) {
            Ok(state) => Some(Record::Ended {
                id: id.to_owned(),
                state,
            }),
            Err(not_sent) => {
                let cp = entry.command.charge_point.clone();
                if let Some(queue) = self.queues.get_mut(&cp) {
                    if not_sent == ServerCallOutcome::QueueFull {
                        queue.retry_at = now + RETRY_AFTER_MS;
                        self.wake.push_back(cp);
                    } else {
                        queue.ready = false;
                    }
                }
                Some(Record::Returned { id: id.to_owned() })
            }
        }
    }

    /// After replay: every command that was sent has an unknown outcome.
    pub fn recover(&self, now: u64) -> Vec<Record> {
        self.queues
            .values()
            .filter_map(|q| q.in_flight.clone())
            .map(|id| Record::Ended {
                id,
                state: CommandState::Failed {
                    at_ms: now,
                    reason: RESTARTED.into(),
                },
            })
            .collect()
    }

    /// The charge point's session can take commands now.
    pub fn ready(&mut self, charge_point: &str) {
        let queue = self.queues.entry(charge_point.to_owned()).or_default();
        queue.ready = true;
        queue.retry_at = 0;
        if !queue.order.is_empty() {
            self.wake.push_back(charge_point.to_owned());
        }
    }

    pub fn gone(&mut self, charge_point: &str) {
        if let Some(queue) = self.queues.get_mut(charge_point) {
            queue.ready = false;
            if queue.order.is_empty() {
                self.queues.remove(charge_point);
            }
        }
    }

    /// Forgets ended commands past `keep_finished` or beyond `max_finished`.
    pub fn prune(&mut self, now: u64) {
        while let Some((at, _)) = self.finished.front() {
            let too_many = self.finished.len() > self.limits.max_finished;
            if !too_many && at.saturating_add(self.limits.keep_finished_ms) > now {
                break;
            }
            if let Some((_, id)) = self.finished.pop_front()
                && let Some(entry) = self.entries.remove(&id)
            {
                self.retained_bytes -= entry.bytes.min(self.retained_bytes);
            }
        }
    }

    /// Records that rebuild every remembered command as it stands: live
    /// ones in each charge point's order, then the ended ones, oldest
    /// ending first (what compaction writes).
    pub fn snapshot(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.entries.len() * 2);
        let ids = self
            .queues
            .values()
            .flat_map(|q| q.order.iter())
            .chain(self.finished.iter().map(|(_, id)| id));
        for id in ids {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            out.push(Record::Queued {
                command: StoredCommand::from(&entry.command),
            });
            match &entry.state {
                CommandState::Queued => {}
                CommandState::Sent { at_ms } => out.push(Record::Sent {
                    id: id.clone(),
                    at: *at_ms,
                }),
                ended => out.push(Record::Ended {
                    id: id.clone(),
                    state: ended.clone(),
                }),
            }
        }
        out
    }

    /// After the log was rewritten as `snapshot`: each command's bytes
    /// are those of its lines there (`lengths`, in order).
    pub fn recount(&mut self, snapshot: &[Record], lengths: &[u64]) {
        for entry in self.entries.values_mut() {
            entry.bytes = 0;
        }
        self.retained_bytes = 0;
        for (record, &bytes) in snapshot.iter().zip(lengths) {
            if let Some(entry) = self.entries.get_mut(record.command_id()) {
                entry.bytes += bytes;
                self.retained_bytes += bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            per_charge_point: 3,
            total: 4,
            keep_finished_ms: 10_000,
            max_finished: 2,
        }
    }

    fn command(id: &str, cp: &str, key: Option<&str>) -> QueuedCommand {
        QueuedCommand {
            command_id: id.into(),
            charge_point: cp.into(),
            action: "Reset".into(),
            payload: "{\"type\":\"Soft\"}".into(),
            timeout: Duration::from_secs(30),
            queued_at_ms: 0,
            expires_at_ms: 100_000,
            replace_key: key.map(Into::into),
        }
    }

    fn commit(book: &mut Book, records: Vec<Record>) {
        for r in records {
            book.apply(r, 10);
        }
    }

    fn enqueue(book: &mut Book, command: &QueuedCommand, now: u64) {
        let records = book.enqueue(command, now).unwrap();
        commit(book, records);
    }

    fn state(book: &Book, id: &str) -> String {
        book.view(id).unwrap()["state"].as_str().unwrap().to_owned()
    }

    #[test]
    fn replace_key_limits_and_order() {
        let mut book = Book::new(limits());
        for (id, key) in [("a", Some("k")), ("b", None), ("c", Some("k"))] {
            enqueue(&mut book, &command(id, "CP", key), 1);
        }
        assert_eq!(state(&book, "a"), "cancelled");
        assert_eq!(book.view("a").unwrap()["replaced_by"], "c");
        let order: Vec<_> = book
            .list("CP")
            .iter()
            .map(|v| v["command_id"].clone())
            .collect();
        assert_eq!(order, ["b", "c"]);
        enqueue(&mut book, &command("d", "CP", None), 1);
        assert_eq!(
            book.enqueue(&command("e", "CP", None), 1),
            Err(QueueRefusal::ChargePointFull { max: 3 })
        );
        // A replacement takes no new place.
        assert!(book.enqueue(&command("e", "CP", Some("k")), 1).is_ok());
        enqueue(&mut book, &command("x", "CP2", None), 1);
        assert_eq!(
            book.enqueue(&command("y", "CP3", None), 1),
            Err(QueueRefusal::TotalFull { max: 4 })
        );
    }

    #[test]
    fn delivery_one_at_a_time_outcomes_and_expiry() {
        let mut book = Book::new(limits());
        for id in ["a", "b"] {
            enqueue(&mut book, &command(id, "CP", None), 1);
        }
        assert!(book.next_delivery(5).is_none(), "not ready yet");
        book.ready("CP");
        let (sent, c) = book.next_delivery(5).unwrap();
        assert_eq!(c.command_id, "a");
        commit(&mut book, vec![sent]);
        assert!(book.next_delivery(5).is_none(), "one outstanding at a time");
        let ended = book
            .outcome(
                "a",
                ServerCallOutcome::Result("{\"status\":\"Accepted\"}".into()),
                6,
            )
            .unwrap();
        commit(&mut book, vec![ended]);
        assert_eq!(book.view("a").unwrap()["payload"]["type"], "Soft");
        assert_eq!(book.view("a").unwrap()["result"]["status"], "Accepted");
        assert_eq!(state(&book, "a"), "answered");
        let (sent, c) = book.next_delivery(7).unwrap();
        assert_eq!(c.command_id, "b");
        commit(&mut book, vec![sent]);
        // Never sent (closed while waiting behind another): queued again.
        let back = book
            .outcome("b", ServerCallOutcome::ClosedBeforeSending, 8)
            .unwrap();
        commit(&mut book, vec![back]);
        assert_eq!(state(&book, "b"), "queued");
        assert!(book.next_delivery(9).is_none(), "no longer ready");
        // Its ttl passes.
        let expired = book.expired(100_000);
        commit(&mut book, expired);
        assert_eq!(state(&book, "b"), "expired");
        assert_eq!(book.live(), 0);
    }

    #[test]
    fn a_full_connection_is_retried_later_and_sent_ones_fail_at_recovery() {
        let mut book = Book::new(limits());
        enqueue(&mut book, &command("a", "CP", None), 1);
        book.ready("CP");
        let (sent, _) = book.next_delivery(2).unwrap();
        commit(&mut book, vec![sent]);
        let back = book.outcome("a", ServerCallOutcome::QueueFull, 2).unwrap();
        commit(&mut book, vec![back]);
        assert!(book.next_delivery(3).is_none(), "backing off");
        let (sent, _) = book.next_delivery(2 + RETRY_AFTER_MS).unwrap();
        commit(&mut book, vec![sent]);
        let failed = book.recover(5);
        assert_eq!(failed.len(), 1);
        commit(&mut book, failed);
        assert_eq!(book.view("a").unwrap()["reason"], RESTARTED);
    }

    #[test]
    fn cancel_prune_and_snapshot() {
        let mut book = Book::new(limits());
        for id in ["a", "b", "c"] {
            enqueue(&mut book, &command(id, "CP", None), 1);
        }
        let cancel = book.cancel("a", 2).unwrap();
        commit(&mut book, vec![cancel]);
        assert!(matches!(
            book.cancel("a", 2),
            Err(CancelOutcome::TooLate(_))
        ));
        assert_eq!(book.cancel("zz", 2), Err(CancelOutcome::Unknown));
        book.ready("CP");
        let (sent, _) = book.next_delivery(3).unwrap();
        commit(&mut book, vec![sent]);
        let snapshot = book.snapshot();
        let mut again = Book::new(limits());
        commit(&mut again, snapshot);
        for id in ["a", "b", "c"] {
            assert_eq!(again.view(id), book.view(id), "{id}");
        }
        assert_eq!(again.live(), 2);
        // Kept for keep_finished, then forgotten.
        book.prune(5_000);
        assert!(book.view("a").is_some());
        book.prune(20_000);
        assert!(book.view("a").is_none());
    }
}
