//! What each worker thread counts, how the counts are merged, and how they
//! are printed.
//!
//! Two kinds of state: `Progress` atomics the main thread reads every second
//! (one cache line per worker, written with Relaxed adds), and `WorkerStats`
//! owned by its thread and handed back when the thread ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// Why a connection (or a call on it) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailKind {
    ConnectRefused,
    ConnectError,
    ConnectTimeout,
    HandshakeError,
    HttpStatus,
    HandshakeTimeout,
    BootTimeout,
    BootRejected,
    /// The server closed (or reset) a connection we had not chosen to close.
    ClosedEarly,
    CloseTimeout,
    CallTimeout,
    Protocol,
    Io,
}

impl FailKind {
    pub const COUNT: usize = 13;

    pub fn name(self) -> &'static str {
        match self {
            FailKind::ConnectRefused => "connect_refused",
            FailKind::ConnectError => "connect_error",
            FailKind::ConnectTimeout => "connect_timeout",
            FailKind::HandshakeError => "handshake_error",
            FailKind::HttpStatus => "http_status",
            FailKind::HandshakeTimeout => "handshake_timeout",
            FailKind::BootTimeout => "boot_timeout",
            FailKind::BootRejected => "boot_rejected",
            FailKind::ClosedEarly => "closed_early",
            FailKind::CloseTimeout => "close_timeout",
            FailKind::CallTimeout => "call_timeout",
            FailKind::Protocol => "ws_protocol_error",
            FailKind::Io => "io_error",
        }
    }

    const ALL: [FailKind; FailKind::COUNT] = [
        FailKind::ConnectRefused,
        FailKind::ConnectError,
        FailKind::ConnectTimeout,
        FailKind::HandshakeError,
        FailKind::HttpStatus,
        FailKind::HandshakeTimeout,
        FailKind::BootTimeout,
        FailKind::BootRejected,
        FailKind::ClosedEarly,
        FailKind::CloseTimeout,
        FailKind::CallTimeout,
        FailKind::Protocol,
        FailKind::Io,
    ];
}

/// Live counters of one worker, read by the main thread for progress lines,
/// phase decisions and calls-per-second. Aligned so two workers never share
/// a cache line.
#[repr(align(128))]
#[derive(Default)]
pub struct Progress {
    pub opened: AtomicU64,
    pub booted: AtomicU64,
    pub failed: AtomicU64,
    pub live: AtomicU64,
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub cycles: AtomicU64,
    /// Set when the worker thread has left its loop.
    pub done: AtomicU64,
}

impl Progress {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn sub(c: &AtomicU64, n: u64) {
        c.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Totals over all workers' `Progress`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub opened: u64,
    pub booted: u64,
    pub failed: u64,
    pub live: u64,
    pub calls: u64,
    pub errors: u64,
    pub cycles: u64,
    pub done: u64,
}

pub fn totals(progress: &[Progress]) -> Totals {
    let mut t = Totals::default();
    for p in progress {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        t.opened += r(&p.opened);
        t.booted += r(&p.booted);
        t.failed += r(&p.failed);
        t.live += r(&p.live);
        t.calls += r(&p.calls);
        t.errors += r(&p.errors);
        t.cycles += r(&p.cycles);
        t.done += r(&p.done);
    }
    t
}

/// Microsecond latency histogram, 1 µs … 10 min, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    // saturating_record clamps outliers instead of failing.
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// Everything a worker counted; merged at the end.
pub struct WorkerStats {
    pub handshake: Histogram<u64>,
    pub boot: Histogram<u64>,
    pub call: Histogram<u64>,
    pub failures: [u64; FailKind::COUNT],
    pub http_status: BTreeMap<u16, u64>,
    /// A few failure messages, to say what went wrong without a debugger.
    pub examples: BTreeMap<&'static str, String>,
    /// CALLERROR answers to our CALLs.
    pub call_errors: u64,
    /// Answers whose id is not the one we wait for.
    pub mismatched_ids: u64,
    /// Frames that are not OCPP-J or not expected now.
    pub unexpected: u64,
    /// Booted connections lost without us closing them.
    pub disconnects: u64,
    /// Connections the server ended while we had not asked to close, by the
    /// code of its close frame (1006: no close frame).
    pub server_close_codes: BTreeMap<u16, u64>,
    /// CALLs the server sent us (answered with an empty CALLRESULT).
    pub server_calls: u64,
    pub last_boot: Option<Instant>,
    pub booted: u64,
    /// Churn: cycles completed per disconnect mode.
    pub cycles_by_mode: [u64; 6],
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            handshake: new_histogram(),
            boot: new_histogram(),
            call: new_histogram(),
            failures: [0; FailKind::COUNT],
            http_status: BTreeMap::new(),
            examples: BTreeMap::new(),
            call_errors: 0,
            mismatched_ids: 0,
            unexpected: 0,
            disconnects: 0,
            server_close_codes: BTreeMap::new(),
            server_calls: 0,
            last_boot: None,
            booted: 0,
            cycles_by_mode: [0; 6],
        }
    }
}

impl WorkerStats {
    pub fn fail(&mut self, kind: FailKind, detail: impl FnOnce() -> String) {
        self.failures[kind as usize] += 1;
        self.examples.entry(kind.name()).or_insert_with(detail);
    }

    pub fn merge(&mut self, o: WorkerStats) {
        let _ = self.handshake.add(&o.handshake);
        let _ = self.boot.add(&o.boot);
        let _ = self.call.add(&o.call);
        for (a, b) in self.failures.iter_mut().zip(o.failures) {
            *a += b;
        }
        for (k, v) in o.http_status {
            *self.http_status.entry(k).or_default() += v;
        }
        for (k, v) in o.examples {
            self.examples.entry(k).or_insert(v);
        }
        self.call_errors += o.call_errors;
        self.mismatched_ids += o.mismatched_ids;
        self.unexpected += o.unexpected;
        self.disconnects += o.disconnects;
        self.server_calls += o.server_calls;
        for (k, v) in o.server_close_codes {
            *self.server_close_codes.entry(k).or_default() += v;
        }
        self.booted += o.booted;
        self.last_boot = self.last_boot.max(o.last_boot);
        for (a, b) in self.cycles_by_mode.iter_mut().zip(o.cycles_by_mode) {
            *a += b;
        }
    }

    pub fn failures_total(&self) -> u64 {
        self.failures.iter().sum()
    }

    /// Failures + protocol-level errors + disconnects: what `--fail-on-error`
    /// looks at.
    pub fn problems(&self) -> u64 {
        self.failures_total()
            + self.call_errors
            + self.mismatched_ids
            + self.unexpected
            + self.disconnects
    }

    pub fn failures_json(&self) -> Value {
        let mut by_kind = Map::new();
        for k in FailKind::ALL {
            let n = self.failures[k as usize];
            if n > 0 {
                by_kind.insert(k.name().into(), n.into());
            }
        }
        let status: Map<String, Value> = self
            .http_status
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        json!({
            "total": self.failures_total(),
            "by_kind": by_kind,
            "http_status": status,
            "examples": self.examples,
        })
    }

    pub fn server_close_codes_json(&self) -> Value {
        let codes: Map<String, Value> = self
            .server_close_codes
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        Value::Object(codes)
    }

    pub fn errors_json(&self) -> Value {
        json!({
            "call_errors": self.call_errors,
            "mismatched_ids": self.mismatched_ids,
            "unexpected_frames": self.unexpected,
            "disconnects": self.disconnects,
            "server_close_codes": self.server_close_codes_json(),
            "server_calls_answered": self.server_calls,
        })
    }
}

/// p50 … max of a microsecond histogram, in milliseconds.
pub fn percentiles_ms(h: &Histogram<u64>) -> Value {
    let q = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(q))
        }
    };
    json!({
        "count": h.len(),
        "mean": if h.is_empty() { 0.0 } else { (h.mean() / 10.0).round() / 100.0 },
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "p99_9": q(0.999),
        "max": if h.is_empty() { 0.0 } else { ms(h.max()) },
    })
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}
