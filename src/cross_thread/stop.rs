//! The shutdown signal: set once by whoever begins the shutdown (SIGTERM in
//! main, a test), read by every thread at its next turn.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct StopSignal {
    stopping: AtomicBool,
    /// When everything must be over: `shutdown.grace` after shutdown began.
    deadline: OnceLock<Instant>,
    grace: Duration,
    /// Reactor threads still running (each counts itself out as it ends).
    reactors_running: AtomicUsize,
}

impl StopSignal {
    pub fn new(grace: Duration, reactors: usize) -> StopSignal {
        StopSignal {
            stopping: AtomicBool::new(false),
            deadline: OnceLock::new(),
            grace,
            reactors_running: AtomicUsize::new(reactors),
        }
    }

    /// Begins the shutdown (the first call sets the deadline). The caller
    /// then wakes the reactors.
    pub fn begin(&self) {
        let grace = self.grace;
        self.deadline.get_or_init(|| Instant::now() + grace);
        self.stopping.store(true, Ordering::Release);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// When the whole stop must be over, once it has begun.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get().copied()
    }

    /// When connections must be gone, once shutdown has begun: a share of
    /// `shutdown.grace` is kept back for the journal, the bus and the logs,
    /// so the whole stop ends within the grace.
    pub fn connections_deadline(&self) -> Option<Instant> {
        let end = self.deadline()?;
        let reserve = (self.grace / 10)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
            .min(self.grace / 2);
        Some(end - reserve)
    }

    /// A reactor thread has ended.
    pub fn reactor_ended(&self) {
        self.reactors_running.fetch_sub(1, Ordering::AcqRel);
    }

    /// Reactor threads still running (all of them until shutdown).
    pub fn reactors_running(&self) -> usize {
        self.reactors_running.load(Ordering::Acquire)
    }
}
