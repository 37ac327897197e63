//! When a reactor gives memory back after a burst of disconnects.
//!
//! Structures that keep their peak size for allocation-free steady state
//! (the timer wheel's buckets, the id map) are shrunk by their reactor,
//! rarely: after many disconnects, at most once per interval. Then the
//! reactor asks the trimmer thread (`crate::memory`) to return the freed
//! pages; `malloc_trim` itself never runs on a reactor.
//!
//! On the reactor thread; [`GiveBack`] only counts and keeps time (passed
//! in). The reactor does the shrinking and sends the trim request.

use std::time::{Duration, Instant};

/// Disconnects that make a trim worth its cost.
const DISCONNECTS_PER_TRIM: u64 = 256;
/// The least time between two trims by one reactor.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// A quiet reactor trims what fewer disconnects left behind after this
/// long (the trim itself runs on the trimmer thread, so this can be short:
/// memory comes back within a second or two after a burst ends).
const QUIET_TRIM_AFTER: Duration = Duration::from_secs(1);

/// Counts disconnects and says when giving memory back is worth it.
pub struct GiveBack {
    disconnects: u64,
    last_trim: Instant,
}

impl GiveBack {
    pub fn new(now: Instant) -> GiveBack {
        GiveBack {
            disconnects: 0,
            last_trim: now,
        }
    }

    pub fn count_disconnect(&mut self) {
        self.disconnects += 1;
    }

    /// Whether enough connections have gone since the last trim to trim
    /// now. When true, the caller shrinks its own structures, then calls
    /// [`GiveBack::given_back`].
    pub fn due(&self, now: Instant) -> bool {
        let since = now.saturating_duration_since(self.last_trim);
        (self.disconnects >= DISCONNECTS_PER_TRIM && since >= TRIM_INTERVAL)
            || (self.disconnects > 0 && since >= QUIET_TRIM_AFTER)
    }

    /// Starts a new count; the caller has shrunk its structures and asks
    /// the trimmer thread to return free pages (`crate::memory`).
    pub fn given_back(&mut self, now: Instant) {
        self.disconnects = 0;
        self.last_trim = now;
    }
}
