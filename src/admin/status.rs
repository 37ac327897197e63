//! `GET /status`: what the status page shows, in one JSON document — totals,
//! rates, each reactor's load and tick age, the processor queue, the
//! journal, the bus and the command queue, and the last minutes' history.
//!
//! Built from the published counters only (atomics and the processors'
//! published answer tallies), like `/metrics`: a page open on it costs the
//! reactors nothing. The admin thread owns the [`History`] and samples it
//! once a second from its own loop, so the chart is full as soon as a page
//! opens, whoever watched before.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cross_thread::{AdminHandle, ReactorCounters, unix_ms};

/// Samples kept: ten minutes at one a second.
pub const HISTORY_SAMPLES: usize = 600;
/// How often the history is sampled (the page polls at this rate).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The counters the page shows, summed over reactors, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Totals {
    connections: u64,
    handshakes: u64,
    handshakes_refused: u64,
    calls: u64,
    /// CALLERRORs the gateway answered charge-point CALLs with.
    callerrors: u64,
    dead_peers: u64,
    backpressure_stalls: u64,
}

impl Totals {
    fn read(gateway: &AdminHandle, reactors: &[ReactorCounters]) -> Totals {
        let sum = |f: fn(&ReactorCounters) -> u64| reactors.iter().map(f).sum::<u64>();
        let callerrors = gateway
            .answer_counts()
            .iter()
            .filter(|((_, outcome), _)| *outcome != "result")
            .map(|(_, n)| n)
            .sum::<u64>();
        Totals {
            connections: gateway.open_connections() as u64,
            handshakes: sum(|c| c.handshakes_accepted),
            handshakes_refused: sum(|c| c.handshakes_refused),
            calls: sum(ReactorCounters::calls),
            callerrors: callerrors + sum(|c| c.frame_errors),
            dead_peers: sum(|c| c.dead_peer_closes),
            backpressure_stalls: sum(|c| c.backpressure_stalls),
        }
    }
}

/// Per-second rates between two samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Rates {
    handshakes: f64,
    calls: f64,
    callerrors: f64,
    dead_peers: f64,
    backpressure_stalls: f64,
}

impl Rates {
    fn between(old: &Totals, new: &Totals, seconds: f64) -> Rates {
        let rate = |f: fn(&Totals) -> u64| {
            if seconds > 0.0 {
                f(new).saturating_sub(f(old)) as f64 / seconds
            } else {
                0.0
            }
        };
        Rates {
            handshakes: rate(|t| t.handshakes),
            calls: rate(|t| t.calls),
            callerrors: rate(|t| t.callerrors),
            dead_peers: rate(|t| t.dead_peers),
            backpressure_stalls: rate(|t| t.backpressure_stalls),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    unix_ms: u64,
    connections: u64,
    calls_per_second: f64,
    callerrors_per_second: f64,
}

/// What the last sample read, kept to turn the next one into rates.
struct Last {
    at: Instant,
    totals: Totals,
    reactors: Vec<ReactorCounters>,
}

/// The admin thread's record of the last [`HISTORY_SAMPLES`] seconds.
pub struct History {
    samples: VecDeque<Sample>,
    last: Option<Last>,
    rates: Rates,
    /// Per reactor: share of a core busy, calls/s, frames in/s.
    reactor_rates: Vec<(f64, f64, f64)>,
    next_sample: Instant,
}

impl History {
    pub fn new(now: Instant) -> History {
        History {
            samples: VecDeque::with_capacity(HISTORY_SAMPLES),
            last: None,
            rates: Rates::default(),
            reactor_rates: Vec::new(),
            next_sample: now,
        }
    }

    /// Takes a sample if one is due (the admin loop wakes at least every
    /// `reactors.timer_tick`, so samples are at most that late).
    pub fn sample_if_due(&mut self, gateway: &AdminHandle, now: Instant) {
        if now < self.next_sample {
            return;
        }
        self.next_sample = now + SAMPLE_EVERY;
        let reactors = gateway.reactor_counters();
        let totals = Totals::read(gateway, &reactors);
        if let Some(last) = &self.last {
            let seconds = now.duration_since(last.at).as_secs_f64();
            self.rates = Rates::between(&last.totals, &totals, seconds);
            self.reactor_rates = reactors
                .iter()
                .zip(
                    last.reactors
                        .iter()
                        .chain(std::iter::repeat(&ReactorCounters::default())),
                )
                .map(|(new, old)| {
                    let per_second = |f: fn(&ReactorCounters) -> u64| {
                        f(new).saturating_sub(f(old)) as f64 / seconds.max(1e-3)
                    };
                    let busy = per_second(|c| c.busy_nanos) / 1e9;
                    (
                        busy.min(1.0),
                        per_second(ReactorCounters::calls),
                        per_second(|c| c.frames_in),
                    )
                })
                .collect();
        }
        if self.samples.len() == HISTORY_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            unix_ms: unix_ms(),
            connections: totals.connections,
            calls_per_second: self.rates.calls,
            callerrors_per_second: self.rates.callerrors,
        });
        self.last = Some(Last {
            at: now,
            totals,
            reactors,
        });
    }
}

/// What /health says of one reactor.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ReactorHealth {
    /// "running", "starting" (has not published yet, shortly after start)
    /// or "stalled".
    pub state: &'static str,
    /// None until the reactor has published once.
    pub last_tick_age_ms: Option<u64>,
    pub ok: bool,
}

/// `tick_unix_ms` is 0 until the reactor's first publish. A reactor that
/// has not published is starting, which is healthy, for `stall_ms` after
/// the admin API started (the gateway waits for first publishes before
/// starting it); after that it is stalled.
pub(super) fn reactor_health(
    tick_unix_ms: u64,
    now_unix_ms: u64,
    stall_ms: u64,
    up_ms: u64,
) -> ReactorHealth {
    if tick_unix_ms == 0 {
        let starting = up_ms < stall_ms;
        return ReactorHealth {
            state: if starting { "starting" } else { "stalled" },
            last_tick_age_ms: None,
            ok: starting,
        };
    }
    let age = now_unix_ms.saturating_sub(tick_unix_ms);
    let ok = age < stall_ms;
    ReactorHealth {
        state: if ok { "running" } else { "stalled" },
        last_tick_age_ms: Some(age),
        ok,
    }
}

/// Each reactor's health and counters, and whether the gateway is healthy
/// (not stopping, every reactor ok): what `/health` and `/status` both say.
/// `up`: how long the admin API has run.
pub(super) fn reactor_healths(
    gateway: &AdminHandle,
    up: Duration,
) -> (bool, Vec<(ReactorHealth, ReactorCounters)>) {
    let now = unix_ms();
    let stall = gateway.config.admin.stall_after.as_millis() as u64;
    let up_ms = up.as_millis() as u64;
    let reactors: Vec<(ReactorHealth, ReactorCounters)> = gateway
        .reactor_last_ticks()
        .into_iter()
        .zip(gateway.reactor_counters())
        .map(|(tick, c)| (reactor_health(tick, now, stall, up_ms), c))
        .collect();
    let healthy = !gateway.is_stopping() && reactors.iter().all(|(h, _)| h.ok);
    (healthy, reactors)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The `/status` document; `history`: how many of the latest samples to
/// include (the page asks for all once, then for the newest).
pub fn status(gateway: &AdminHandle, history: &History, samples: usize, up: Duration) -> Value {
    let (healthy, reactors) = reactor_healths(gateway, up);
    let counters: Vec<ReactorCounters> = reactors.iter().map(|(_, c)| *c).collect();
    let totals = Totals::read(gateway, &counters);
    let reactor_rows: Vec<Value> = reactors
        .iter()
        .enumerate()
        .map(|(i, (h, c))| {
            let (busy, calls, frames) = history.reactor_rates.get(i).copied().unwrap_or_default();
            json!({
                "reactor": i,
                "state": h.state,
                "ok": h.ok,
                "last_tick_age_ms": h.last_tick_age_ms,
                "connections": c.connections_open,
                "busy": (busy * 1000.0).round() / 1000.0,
                "calls_per_second": round(calls),
                "frames_in_per_second": round(frames),
            })
        })
        .collect();
    let r = &history.rates;
    let config = gateway.config();
    let history_rows: Vec<Value> = history
        .samples
        .iter()
        .skip(history.samples.len().saturating_sub(samples))
        .map(|s| {
            json!([
                s.unix_ms,
                s.connections,
                round(s.calls_per_second),
                round(s.callerrors_per_second)
            ])
        })
        .collect();
    json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "version": env!("CARGO_PKG_VERSION"),
        "at": unix_ms(),
        "uptime_seconds": up.as_secs(),
        "totals": {
            "connections": totals.connections,
            "max_connections": config.listen.max_connections,
            "handshakes": totals.handshakes,
            "handshakes_refused": totals.handshakes_refused,
            "calls": totals.calls,
            "callerrors": totals.callerrors,
            "dead_peers": totals.dead_peers,
            "backpressure_stalls": totals.backpressure_stalls,
        },
        "rates": {
            "handshakes": round(r.handshakes),
            "calls": round(r.calls),
            "callerrors": round(r.callerrors),
            "dead_peers": round(r.dead_peers),
            "backpressure_stalls": round(r.backpressure_stalls),
        },
        "reactors": reactor_rows,
        "processors": {
            "threads": config.processors.threads,
            "queue_depth": gateway.processor_queue_depth(),
            "queue_capacity": config.channels.capacity,
        },
        "journal": gateway.journal_stats().map(|j| json!({
            "lag": j.lag,
            "records_written": j.records_written,
            "io_errors": j.io_errors,
        })),
        "bus": gateway.bus_stats().map(|b| json!({
            "connected": b.connected.load(Relaxed),
            "backlog_bytes": b.backlog_bytes.load(Relaxed),
            "events_published": b.events_published.load(Relaxed),
            "publish_errors": b.publish_errors.load(Relaxed),
        })),
        "queue": gateway.counters.queue.as_ref().map(|q| json!({
            "depth": q.depth.load(Relaxed),
        })),
        "history": {
            "interval_ms": SAMPLE_EVERY.as_millis() as u64,
            "columns": ["unix_ms", "connections", "calls_per_second", "callerrors_per_second"],
            "samples": history_rows,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_and_never_negative() {
        let old = Totals {
            calls: 100,
            dead_peers: 5,
            ..Totals::default()
        };
        let new = Totals {
            calls: 300,
            dead_peers: 4, // a counter never goes back; if it did, 0
            ..Totals::default()
        };
        let r = Rates::between(&old, &new, 2.0);
        assert_eq!(r.calls, 100.0);
        assert_eq!(r.dead_peers, 0.0);
        assert_eq!(Rates::between(&old, &new, 0.0).calls, 0.0);
    }
}
