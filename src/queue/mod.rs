//! The embedded command store: one thread that keeps commands for charge
//! points that are not connected, in the journal directory, and delivers
//! them when their session is ready (used when the bus is off; with
//! `bus.kind = "nats"` the bus bridge keeps the queue in JetStream).
//!
//! ```text
//! admin API --ToQueue--> store inbox (bounded) --> store thread --> commands.log
//! reactors  --Ready/Gone-->        "                    |
//!                            Route::start_call <--------+  (one command in flight per charge point)
//! reactor --outcome--> outcome channel (bounded) --> store thread
//! ```
//!
//! Each turn the thread takes what waits (a bounded batch), decides, and
//! writes the turn's records in one `write` before anything it decided
//! takes effect outside: an `Enqueue` is answered 202 only once its line
//! is written (so `kill -9` cannot lose it), and a command is handed to
//! its connection only once its `sent` line is written *and synced*, so a
//! restart, even after a power cut, never sends it again (at most once).
//! Other lines are synced every `journal.fsync_interval`.
//!
//! Invariant: commands in flight (handed to a reactor, outcome not yet
//! taken) never exceed the outcome channel's capacity, so a reactor's
//! `try_send` of an outcome always finds room and none is lost.

mod book;
mod log;
mod record;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};

use self::book::{Book, Limits};
use self::log::StoreLog;
use self::record::Record;
use crate::config::Config;
use crate::cross_thread::command_queue::store_inbox;
use crate::cross_thread::{
    CancelOutcome, CommandState, Deliver, QueueRefusal, QueueSender, QueueStats, QueuedCommand,
    ReplyTo, Route, ServerCallOutcome, ServerCallRequest, ToQueue, unix_ms,
};

pub use crate::cross_thread::command_queue::RESTARTED;

/// The longest the thread sleeps between turns: ttl expiry and periodic
/// syncs are this precise.
const TICK: Duration = Duration::from_millis(50);
/// The log is rewritten from a snapshot once it is past this size and
/// more than twice what it still has to say.
const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// The running store thread.
pub struct CommandStore {
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl CommandStore {
    /// Opens the store under `{journal.directory}/queue`, replays it (a
    /// command that was sent before the restart ends `failed`, see
    /// [`RESTARTED`]), and starts its thread.
    pub fn start(
        config: &Config,
        route: Route,
        stats: Arc<QueueStats>,
    ) -> io::Result<(QueueSender, CommandStore)> {
        let dir = config.journal.directory.join("queue");
        let (log, replayed) = StoreLog::open(&dir)?;
        let q = &config.queue;
        let mut book = Book::new(Limits {
            per_charge_point: q.max_per_charge_point,
            total: q.max_total,
            keep_finished_ms: q.keep_finished.as_millis() as u64,
            max_finished: q.max_finished,
        });
        if replayed.bad_lines > 0 {
            ::log::warn!(
                "queue: {} unreadable line(s) in {} skipped",
                replayed.bad_lines,
                dir.display()
            );
            QueueStats::add(&stats.store_errors, replayed.bad_lines as u64);
        }
        for (record, bytes) in replayed.records {
            book.apply(record, bytes);
        }
        let (sender, inbox) = store_inbox(&config.channels);
        let (outcome_tx, outcomes) = crossbeam_channel::bounded(config.channels.capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let mut store = Store {
            book,
            log,
            route,
            inbox,
            outcome_tx,
            outcomes,
            in_flight: 0,
            batch: config.channels.capacity,
            stats,
            fsync_interval: config.journal.fsync_interval,
            last_sync: Instant::now(),
            stop: stop.clone(),
            effects: Vec::new(),
        };
        store.recover()?;
        ::log::info!(
            "queue: {} command(s) waiting in {}",
            store.book.live(),
            dir.display()
        );
        let thread = std::thread::Builder::new()
            .name("queue-store".into())
            .spawn(move || store.run())?;
        Ok((sender, CommandStore { thread, stop }))
    }

    /// Stops the thread after its current turn (call once the reactors
    /// have stopped, so the outcomes they delivered are recorded) and
    /// waits for it. What it wrote is synced.
    pub fn shutdown(self) {
        self.stop.store(true, Relaxed);
        if self.thread.join().is_err() {
            ::log::error!("queue: the store thread panicked");
        }
    }
}

/// Something decided this turn that may happen only once the turn's
/// lines are written.
enum Effect {
    Enqueued {
        command_id: String,
        reply: Deliver<Result<(), QueueRefusal>>,
    },
    Cancelled {
        command_id: String,
        reply: Deliver<CancelOutcome>,
    },
    Send(QueuedCommand),
}

/// The store thread's state, owned by it alone.
struct Store {
    book: Book,
    log: StoreLog,
    route: Route,
    inbox: Receiver<ToQueue>,
    outcome_tx: Sender<(String, ServerCallOutcome)>,
    outcomes: Receiver<(String, ServerCallOutcome)>,
    /// Commands handed to reactors whose outcome has not been taken.
    in_flight: usize,
    /// Messages (and outcomes, and deliveries) taken per turn; also the
    /// outcome channel's capacity, the bound of `in_flight`.
    batch: usize,
    stats: Arc<QueueStats>,
    fsync_interval: Duration,
    last_sync: Instant,
    stop: Arc<AtomicBool>,
    effects: Vec<Effect>,
}

impl Store {
    fn run(mut self) {
        loop {
            let stopping = self.stop.load(Relaxed);
            self.turn();
            if stopping {
                break;
            }
            let mut ready = Select::new();
            ready.recv(&self.inbox);
            ready.recv(&self.outcomes);
            let _ = ready.ready_timeout(TICK);
        }
        if let Err(e) = self.log.write().and_then(|()| self.log.sync()) {
            ::log::error!("queue: cannot write the store at shutdown: {e}");
        }
    }

    /// Replay's end: commands sent before the restart have an unknown
    /// outcome and are never sent again; then the log is compacted.
    fn recover(&mut self) -> io::Result<()> {
        let now = unix_ms();
        for record in self.book.recover(now) {
            self.commit(record);
        }
        self.book.prune(now);
        self.compact()?;
        self.publish();
        Ok(())
    }

    fn turn(&mut self) {
        let now = unix_ms();
        for _ in 0..self.batch {
            match self.inbox.try_recv() {
                Ok(message) => self.on_message(message, now),
                Err(_) => break,
            }
        }
        for _ in 0..self.batch {
            let Ok((id, outcome)) = self.outcomes.try_recv() else {
                break;
            };
            self.in_flight = self.in_flight.saturating_sub(1);
            if let Some(record) = self.book.outcome(&id, outcome, now) {
                self.commit(record);
            }
        }
        for record in self.book.expired(now) {
            self.commit(record);
        }
        // Only this loop plans sends: count them here, not by rescanning.
        let mut planned = 0;
        while self.in_flight + planned < self.batch {
            let Some((sent, command)) = self.book.next_delivery(now) else {
                break;
            };
            self.commit(sent);
            self.effects.push(Effect::Send(command));
            planned += 1;
        }
        let written = self.write();
        self.carry_out(written, now);
        self.book.prune(now);
        if self.log.bytes() > COMPACT_MIN_BYTES
            && self.log.bytes() > 2 * self.book.retained_bytes()
            && let Err(e) = self.compact()
        {
            QueueStats::add(&self.stats.store_errors, 1);
            ::log::error!("queue: cannot compact the store: {e}");
        }
        self.publish();
    }

    fn on_message(&mut self, message: ToQueue, now: u64) {
        match message {
            ToQueue::Enqueue { command, reply } => match self.book.enqueue(&command, now) {
                Ok(records) => {
                    for record in records {
                        self.commit(record);
                    }
                    let command_id = command.command_id.clone();
                    self.effects.push(Effect::Enqueued { command_id, reply });
                }
                Err(refusal) => {
                    let counter = match refusal {
                        QueueRefusal::ChargePointFull { .. } => {
                            &self.stats.refused_charge_point_full
                        }
                        QueueRefusal::TotalFull { .. } => &self.stats.refused_total_full,
                        QueueRefusal::Unavailable(_) => &self.stats.refused_unavailable,
                    };
                    QueueStats::add(counter, 1);
                    reply.send(Err(refusal));
                }
            },
            ToQueue::Get { command_id, reply } => reply.send(Ok(self.book.view(&command_id))),
            ToQueue::List {
                charge_point,
                reply,
            } => reply.send(Ok(self.book.list(&charge_point))),
            ToQueue::Cancel { command_id, reply } => match self.book.cancel(&command_id, now) {
                Ok(record) => {
                    self.commit(record);
                    self.effects.push(Effect::Cancelled { command_id, reply });
                }
                Err(outcome) => reply.send(outcome),
            },
            ToQueue::Ready { charge_point, .. } => self.book.ready(&charge_point),
            ToQueue::Gone { charge_point } => self.book.gone(&charge_point),
        }
    }

    /// Stages a record for this turn's write and applies it.
    fn commit(&mut self, record: Record) {
        let counter = match &record {
            Record::Queued { .. } => Some(&self.stats.queued),
            Record::Sent { .. } => Some(&self.stats.delivered),
            Record::Returned { .. } => None,
            Record::Ended { state, .. } => match state {
                CommandState::Answered { .. } => Some(&self.stats.answered),
                CommandState::Expired { .. } => Some(&self.stats.expired),
                CommandState::Cancelled { .. } => Some(&self.stats.cancelled),
                CommandState::Failed { .. } => Some(&self.stats.failed),
                CommandState::Queued | CommandState::Sent { .. } => None,
            },
        };
        if let Some(counter) = counter {
            QueueStats::add(counter, 1);
        }
        let bytes = self.log.stage(&record);
        self.book.apply(record, bytes);
    }

    /// Writes the turn's lines, and syncs them when a command is about to
    /// be sent or the interval has passed. `Err`: they may not be on disk.
    fn write(&mut self) -> Result<(), String> {
        let must_sync = self.effects.iter().any(|e| matches!(e, Effect::Send(_)))
            || (self.log.needs_sync() || self.log.has_staged())
                && self.last_sync.elapsed() >= self.fsync_interval;
        let mut result = self.log.write();
        if must_sync && result.is_ok() {
            result = self.log.sync();
            self.last_sync = Instant::now();
        }
        result.map_err(|e| {
            QueueStats::add(&self.stats.store_errors, 1);
            ::log::error!("queue: cannot write the store: {e}");
            format!("the queue store cannot be written: {e}")
        })
    }

    /// The turn's decisions take effect; if its lines could not be
    /// written, enqueued commands fail (the caller hears 503), and nothing
    /// is sent.
    fn carry_out(&mut self, written: Result<(), String>, now: u64) {
        for effect in std::mem::take(&mut self.effects) {
            match (effect, &written) {
                (Effect::Enqueued { reply, .. }, Ok(())) => reply.send(Ok(())),
                (Effect::Enqueued { command_id, reply }, Err(why)) => {
                    self.commit(Record::Ended {
                        id: command_id,
                        state: CommandState::Failed {
                            at_ms: now,
                            reason: why.clone(),
                        },
                    });
                    QueueStats::add(&self.stats.refused_unavailable, 1);
                    reply.send(Err(QueueRefusal::Unavailable(why.clone())));
                }
                (Effect::Cancelled { command_id, reply }, _) => {
                    let view = self.book.view(&command_id).unwrap_or_default();
                    reply.send(CancelOutcome::Cancelled(view));
                }
                (Effect::Send(command), Ok(())) => self.send(command, now),
                (Effect::Send(command), Err(_)) => {
                    self.commit(Record::Returned {
                        id: command.command_id,
                    });
                }
            }
        }
    }

    /// Hands a command to the reactor holding its charge point.
    fn send(&mut self, command: QueuedCommand, now: u64) {
        let id = command.command_id.clone();
        let outcomes = self.outcome_tx.clone();
        let reply_id = id.clone();
        let request = ServerCallRequest {
            charge_point: command.charge_point.into(),
            action: command.action.into(),
            payload: command.payload.into(),
            timeout: command.timeout,
            // Never full: in_flight ≤ the channel's capacity.
            reply: ReplyTo::Callback(Box::new(move |outcome| {
                let _ = outcomes.try_send((reply_id, outcome));
            })),
            command_id: Some(command.command_id.into()),
        };
        match self.route.start_call(request) {
            Ok(()) => self.in_flight += 1,
            Err(refused) => {
                // Not handed over (nobody holds it, the inbox is full or
                // closed): never sent.
                let outcome = match refused {
                    ServerCallOutcome::QueueFull => ServerCallOutcome::QueueFull,
                    _ => ServerCallOutcome::NotConnected,
                };
                if let Some(record) = self.book.outcome(&id, outcome, now) {
                    self.commit(record);
                }
            }
        }
    }

    /// Rewrites the log from the state (live commands and those ended
    /// commands still remembered).
    fn compact(&mut self) -> io::Result<()> {
        let snapshot = self.book.snapshot();
        let lengths = self.log.rewrite(&snapshot)?;
        self.book.recount(&snapshot, &lengths);
        Ok(())
    }

    fn publish(&self) {
        self.stats.depth.store(self.book.live() as u64, Relaxed);
        self.stats.store_bytes.store(self.log.bytes(), Relaxed);
    }
}
