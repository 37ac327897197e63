//! The fault harness behind `faults`: hostile and broken peers against the
//! gateway, each beside an honest workload, each printing one JSON report.
//!
//! Who runs where:
//! - `harness` runs on the main thread: phases (without / with attack),
//!   server sampling, the honest workload's ticks, the report.
//! - one attack (`slowloris`, `silent`, `non_reading`, `fragments`,
//!   `garbage`, `admin`) runs on a thread of its own, on its own mio loop,
//!   until `Ctx::deadline`; it returns its figures as JSON.
//! - `honest` drives `scenario::Run` (the loadgen workers) with
//!   `Job::Honest`; `health` polls the admin `/health` on a thread.
//! - `wire` (raw WebSocket frames), `http` (tiny blocking HTTP client) are
//!   shared by the attacks.

pub mod admin;
pub mod cli;
pub mod fragments;
pub mod garbage;
pub mod harness;
pub mod health;
pub mod honest;
pub mod http;
pub mod non_reading;
pub mod silent;
pub mod slowloris;
pub mod wire;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::cli::Target;
use crate::stats;

/// What an attack thread gets: where to send, and until when.
#[derive(Clone)]
pub struct Ctx {
    /// The gateway's WebSocket endpoint (ws:// only).
    pub target: Target,
    /// Source addresses to spread sockets over (`net::source_addresses`).
    pub sources: Vec<Option<IpAddr>>,
    pub admin: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub server_pid: Option<u32>,
    /// Start of the phase; report times are seconds since then.
    pub epoch: Instant,
    /// The attack stops sending by then (the honest workload stops too).
    pub deadline: Instant,
    /// Set by the harness to end the attack early (Ctrl-C is not handled).
    pub stop: Arc<AtomicBool>,
}

impl Ctx {
    /// True while the attack should go on.
    pub fn running(&self) -> bool {
        Instant::now() < self.deadline && !self.stop.load(Ordering::Relaxed)
    }

    /// Seconds since the phase started.
    pub fn t(&self, at: Instant) -> f64 {
        crate::procfs::round3(at.saturating_duration_since(self.epoch).as_secs_f64())
    }

    /// The source address for the i-th socket of an attack.
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        self.sources[i % self.sources.len()]
    }

    /// `ws://host:port/prefix/<id>`: the URL a charge point `id` upgrades to.
    pub fn url(&self, id: &str) -> String {
        format!("{}{id}", self.target.url_prefix)
    }
}

/// How and when the gateway ended an attack's connections: counts by how
/// (`fin`, `reset`, `close_1009`, ...), the time from each one's start, the
/// first and the last end.
pub struct Endings {
    pub how: BTreeMap<String, u64>,
    after: Histogram<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Default for Endings {
    fn default() -> Self {
        Endings {
            how: BTreeMap::new(),
            after: stats::new_histogram(),
            first: None,
            last: None,
        }
    }
}

impl Endings {
    /// One connection that started at `since` (if it got that far) ended at `at`.
    pub fn record(&mut self, how: &str, since: Option<Instant>, at: Instant) {
        *self.how.entry(how.to_string()).or_default() += 1;
        if let Some(since) = since {
            stats::record(&mut self.after, at.saturating_duration_since(since));
        }
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// Ends with a start time.
    pub fn timed(&self) -> u64 {
        self.after.len()
    }

    /// p50 … max of the time from start to end, ms.
    pub fn after_ms(&self) -> Value {
        stats::percentiles_ms(&self.after)
    }

    pub fn first_at_s(&self, ctx: &Ctx) -> Option<f64> {
        self.first.map(|t| ctx.t(t))
    }

    pub fn last_at_s(&self, ctx: &Ctx) -> Option<f64> {
        self.last.map(|t| ctx.t(t))
    }
}

/// `HOST:PORT` on loopback, or an error that says why not.
pub fn loopback_addr(flag: &str, s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("{flag} {s:?}: expected IP:PORT, e.g. 127.0.0.1:8181"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{flag} {s:?}: refusing non-loopback address; faults only sends to 127.0.0.0/8 or ::1"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_address_must_be_loopback() {
        assert!(loopback_addr("--admin", "127.0.0.1:8181").is_ok());
        assert!(loopback_addr("--admin", "127.9.0.1:1").is_ok());
        assert!(loopback_addr("--admin", "10.0.0.1:8181").is_err());
        assert!(loopback_addr("--admin", "localhost:8181").is_err());
    }
}
