//! Polls the admin `/health` every 100 ms during a phase: the largest
//! `last_tick_age_ms` of any reactor says whether an attack stalled a
//! reactor; unanswered polls say whether it stalled the admin thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http;
use crate::procfs::round3;

const POLL_EVERY: Duration = Duration::from_millis(100);
/// A poll that takes longer counts as unanswered.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);

pub struct HealthPoller {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Value>,
}

#[derive(Default)]
struct Tally {
    polls: u64,
    ok_200: u64,
    other_status: std::collections::BTreeMap<u16, u64>,
    unanswered: u64,
    first_error: Option<String>,
    max_tick_age_ms: u64,
    /// When (seconds since the phase start) the largest tick age was seen.
    max_tick_age_at_s: f64,
    max_poll_ms: f64,
    /// Polls where a reactor had not ticked yet: the gateway then reports
    /// its age as the whole Unix time in ms, which is no stall.
    never_ticked: u64,
}

/// Tick ages above this are "never ticked" (see `Tally::never_ticked`).
const NEVER_TICKED_MS: u64 = 86_400_000;

impl HealthPoller {
    pub fn start(addr: SocketAddr, epoch: Instant) -> HealthPoller {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("faults-health".into())
            .spawn(move || poll_until(addr, epoch, &flag))
            .expect("spawn health poller");
        HealthPoller { stop, thread }
    }

    /// Stops polling and returns the figures.
    pub fn finish(self) -> Value {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(Value::Null)
    }
}

fn poll_until(addr: SocketAddr, epoch: Instant, stop: &AtomicBool) -> Value {
    let mut t = Tally::default();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        t.polls += 1;
        match http::request(addr, "GET", "/health", None, b"", POLL_TIMEOUT) {
            Ok(r) => {
                t.max_poll_ms = t.max_poll_ms.max(r.elapsed.as_secs_f64() * 1e3);
                if r.status == 200 {
                    t.ok_200 += 1;
                } else {
                    *t.other_status.entry(r.status).or_default() += 1;
                }
                // 503 bodies carry the same reactor list.
                let age = max_tick_age(&r.body);
                if age.is_some_and(|a| a > NEVER_TICKED_MS) {
                    t.never_ticked += 1;
                } else if let Some(age) = age
                    && age > t.max_tick_age_ms
                {
                    t.max_tick_age_ms = age;
                    t.max_tick_age_at_s = round3(epoch.elapsed().as_secs_f64());
                }
            }
            Err(e) => {
                t.unanswered += 1;
                t.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        next += POLL_EVERY;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    json!({
        "polls": t.polls,
        "status_200": t.ok_200,
        "other_status": t.other_status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "unanswered": t.unanswered,
        "first_error": t.first_error,
        "max_last_tick_age_ms": t.max_tick_age_ms,
        "max_last_tick_age_at_s": t.max_tick_age_at_s,
        "max_poll_ms": round3(t.max_poll_ms),
        "never_ticked_polls": t.never_ticked,
    })
}

/// The largest `reactors[].last_tick_age_ms` of a `/health` body.
pub fn max_tick_age(body: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["reactors"]
        .as_array()?
        .iter()
        .filter_map(|r| r["last_tick_age_ms"].as_u64())
        .max()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_oldest_tick() {
        let body = br#"{"status":"ok","reactors":[{"reactor":0,"last_tick_age_ms":12},{"reactor":1,"last_tick_age_ms":140}]}"#;
        assert_eq!(super::max_tick_age(body), Some(140));
        assert_eq!(super::max_tick_age(b"<html>"), None);
    }
}
