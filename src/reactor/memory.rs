//! Giving memory back after a burst of disconnects.
//!
//! Every connection frees its buffers when it goes, but glibc keeps freed
//! memory in its per-thread arenas; after thousands of connections come and
//! go (a charge point fleet reconnecting, a load balancer draining) the
//! process would stay at its peak. `malloc_trim` returns free pages to the
//! kernel. It walks the heap, so it runs rarely: only after many
//! disconnects, at most once per interval, on the reactor that saw them.

use std::time::{Duration, Instant};

/// Disconnects that make a trim worth its cost.
const DISCONNECTS_PER_TRIM: u64 = 256;
/// The least time between two trims by one reactor.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// A quiet reactor trims what fewer disconnects left behind after this long.
const QUIET_TRIM_AFTER: Duration = Duration::from_secs(10);

pub struct Trimmer {
    disconnects: u64,
    last_trim: Instant,
}

impl Trimmer {
    pub fn new(now: Instant) -> Trimmer {
        Trimmer {
            disconnects: 0,
            last_trim: now,
        }
    }

    pub fn count_disconnect(&mut self) {
        self.disconnects += 1;
    }

    /// Whether enough connections have gone since the last trim to trim
    /// now. When true, the caller shrinks its own structures, then calls
    /// [`Trimmer::trim`].
    pub fn due(&self, now: Instant) -> bool {
        let since = now.saturating_duration_since(self.last_trim);
        (self.disconnects >= DISCONNECTS_PER_TRIM && since >= TRIM_INTERVAL)
            || (self.disconnects > 0 && since >= QUIET_TRIM_AFTER)
    }

    /// Returns free heap pages to the kernel.
    pub fn trim(&mut self, now: Instant) {
        self.disconnects = 0;
        self.last_trim = now;
        release_free_memory();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only inspects and releases the allocator's free
    // lists; it has no preconditions and is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
