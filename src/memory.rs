//! Giving freed memory back to the kernel, on a thread of its own.
//!
//! glibc keeps freed memory in its per-thread arenas; after thousands of
//! connections come and go (a fleet reconnecting, a load balancer draining,
//! an attack that ended) the process would stay at its peak. `malloc_trim`
//! returns free pages, but it walks every arena under that arena's lock,
//! which took milliseconds with 19 000 connections: run on a reactor it
//! stalled every connection there. Reactors only ask (after shrinking their
//! own structures); this thread trims, at most once per interval, so a
//! reactor waits at most for its own arena's lock while it is walked.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cross_thread::{MemoryStats, StopSignal};

/// How often the trimmer looks for a request.
const POLL: Duration = Duration::from_millis(100);
/// The least time between two trims.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the trimmer; it ends once shutdown has begun.
pub fn spawn(stats: Arc<MemoryStats>, stop: Arc<StopSignal>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("memory-trimmer".into())
        .spawn(move || {
            let mut last = Instant::now() - MIN_INTERVAL;
            while !stop.is_stopping() {
                std::thread::sleep(POLL);
                if last.elapsed() < MIN_INTERVAL || !stats.trim_wanted.swap(false, Ordering::AcqRel)
                {
                    continue;
                }
                let started = Instant::now();
                release_free_memory();
                last = Instant::now();
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                stats.trims.fetch_add(1, Ordering::Relaxed);
                stats.trim_micros_total.fetch_add(micros, Ordering::Relaxed);
                stats.trim_micros_max.fetch_max(micros, Ordering::Relaxed);
                log::debug!("memory: malloc_trim took {micros} µs");
            }
        })
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
