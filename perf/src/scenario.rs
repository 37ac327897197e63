//! The main thread of `loadgen`: starts the workers, moves them through the
//! scenario's phases, samples the server once a second, prints progress and
//! assembles the one JSON report.

use std::io::Write as _;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::Waker;
use serde_json::{Value, json};

use crate::cli::{ChurnArgs, Common, DropMode, LoadArgs, Mix, RampArgs, Scenario, Target};
use crate::client;
use crate::net;
use crate::procfs::{self, ProcSampler, round3};
use crate::stats::{self, Totals, WorkerStats};
use crate::worker::{Job, Phase, Plan, Shared, Worker};

/// The report and whether it contains any failure, error or disconnect.
pub struct Outcome {
    pub report: Value,
    pub problems: u64,
}

pub fn run(scenario: &Scenario) -> Result<Outcome, String> {
    match scenario {
        Scenario::Ramp(a) => ramp(a),
        Scenario::Load(a) => load(a),
        Scenario::Churn(a) => churn(a),
    }
}

/// Poll interval of the main thread: phase changes are noticed within it.
const TICK: Duration = Duration::from_millis(50);

/// Running workers plus the once-a-second bookkeeping. The fault harness
/// (`attack::honest`) drives one of these for its honest charge points.
pub struct Run {
    name: &'static str,
    common: Common,
    shared: Arc<Shared>,
    wakers: Vec<Waker>,
    handles: Vec<JoinHandle<WorkerStats>>,
    server: Option<ProcSampler>,
    next_second: Instant,
    last: Totals,
    timeline: Vec<Value>,
    quiet: bool,
    /// What the run is doing now, for progress lines and the timeline.
    stage: &'static str,
    self_cpu_start: f64,
    nofile: u64,
}

impl Run {
    pub fn start(name: &'static str, common: &Common, job: Job) -> Result<Run, String> {
        if common.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        let target = Target::parse(&common.url)?;
        let tls = if target.tls {
            let ca = common
                .ca
                .as_deref()
                .ok_or("wss:// needs --ca PATH (PEM CA that signed the server certificate)")?;
            Some(crate::tls::TlsClient::new(
                &target.host,
                ca,
                common.client_cert.as_deref(),
                common.client_key.as_deref(),
                common.client_cert_dir.as_deref(),
            )?)
        } else {
            if common.ca.is_some()
                || common.client_cert.is_some()
                || common.client_key.is_some()
                || common.client_cert_dir.is_some()
            {
                return Err(
                    "--ca / --client-cert / --client-key / --client-cert-dir need a wss:// --url"
                        .into(),
                );
            }
            None
        };
        let nofile =
            procfs::raise_nofile_limit().map_err(|e| format!("cannot raise RLIMIT_NOFILE: {e}"))?;
        let wanted = match &job {
            Job::Ramp { count, .. } | Job::Load { count, .. } | Job::Honest { count, .. } => {
                u64::from(*count)
            }
            Job::Churn { lanes, .. } => u64::from(*lanes),
        };
        if wanted + 64 > nofile {
            return Err(format!(
                "{wanted} connections need more file descriptors than RLIMIT_NOFILE allows ({nofile}); \
                 use fewer, or run several loadgen processes with disjoint --id-start"
            ));
        }
        let plan = Arc::new(Plan {
            job,
            sources: net::source_addresses(target.addr, common.source_ips),
            target,
            id_prefix: common.id_prefix.clone(),
            id_start: common.id_start,
            timeout: Duration::from_secs_f64(common.timeout),
            ws_config: client::ws_config(common.read_buffer),
            tls,
            threads: common.threads,
        });
        let mut server = common
            .server_pid
            .map(|pid| ProcSampler::new(pid, Instant::now()));
        if let Some(s) = server.as_mut() {
            let first = s.sample();
            if first.rss_kib.is_none() {
                return Err(format!(
                    "--server-pid {}: cannot read /proc/{}/status",
                    s_pid(common),
                    s_pid(common)
                ));
            }
        }
        let self_cpu_start = procfs::self_usage().0;
        let shared = Arc::new(Shared::new(common.threads, Instant::now()));
        let mut wakers = Vec::new();
        let mut handles = Vec::new();
        for i in 0..common.threads {
            let (w, waker) = Worker::new(i, plan.clone(), shared.clone())
                .map_err(|e| format!("cannot create poll: {e}"))?;
            wakers.push(waker);
            let h = thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn(move || w.run())
                .map_err(|e| format!("cannot spawn worker: {e}"))?;
            handles.push(h);
        }
        Ok(Run {
            name,
            common: common.clone(),
            next_second: shared.epoch + Duration::from_secs(1),
            shared,
            wakers,
            handles,
            server,
            last: Totals::default(),
            timeline: Vec::new(),
            quiet: common.quiet,
            stage: "open",
            self_cpu_start,
            nofile,
        })
    }

    pub fn elapsed(&self) -> f64 {
        self.shared.epoch.elapsed().as_secs_f64()
    }

    pub fn totals(&self) -> Totals {
        stats::totals(&self.shared.progress)
    }

    fn set_phase(&mut self, p: Phase) {
        self.shared.set_phase(p, &self.wakers);
        self.stage = match p {
            Phase::Open => "open",
            Phase::Warmup => "warmup",
            Phase::Measure => "measure",
            Phase::Close => "close",
        };
    }

    /// Sleeps one tick; on each full second samples the server, appends to
    /// the timeline and prints a progress line.
    pub fn tick(&mut self) {
        thread::sleep(TICK);
        let now = Instant::now();
        if now < self.next_second {
            return;
        }
        self.next_second += Duration::from_secs(1);
        let t = self.totals();
        let server = self.server.as_mut().map(|s| s.sample());
        let calls = t.calls - self.last.calls;
        let line = json!({
            "t": round3(self.elapsed()),
            "phase": self.stage,
            "opened": t.opened,
            "booted": t.booted,
            "failed": t.failed,
            "live": t.live,
            "calls": calls,
            "errors": t.errors,
            "cycles": t.cycles,
        });
        self.timeline.push(line);
        if !self.quiet {
            let mut msg = format!(
                "[{} {:6.1}s {:7}] opened {} booted {} failed {} live {}",
                self.name,
                self.elapsed(),
                self.stage,
                t.opened,
                t.booted,
                t.failed,
                t.live
            );
            if calls > 0 || t.calls > 0 {
                msg += &format!(" calls/s {calls} errors {}", t.errors);
            }
            if t.cycles > 0 {
                msg += &format!(" cycles {}", t.cycles);
            }
            if let Some(s) = server {
                msg += &format!(
                    " | server rss {:.1} MiB fds {} cpu {:.2}s",
                    s.rss_kib.unwrap_or(0) as f64 / 1024.0,
                    s.fds.unwrap_or(0),
                    s.cpu_s.unwrap_or(0.0)
                );
            }
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
        self.last = t;
    }

    fn tick_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.tick();
        }
    }

    /// Waits until every connection has booted or failed to.
    fn wait_resolved(&mut self, count: u32) {
        while self
            .shared
            .resolved
            .load(std::sync::atomic::Ordering::Relaxed)
            < u64::from(count)
        {
            self.tick();
        }
    }

    fn server_cpu(&self) -> Option<f64> {
        self.common.server_pid.and_then(procfs::cpu_seconds)
    }

    fn server_sample(&mut self) -> Option<procfs::ProcSample> {
        self.server.as_mut().map(|s| s.sample())
    }

    /// Closes everything, joins the workers and merges their stats.
    pub fn finish(mut self) -> (WorkerStats, Finished) {
        self.set_phase(Phase::Close);
        while self.totals().done < self.handles.len() as u64 {
            self.tick();
        }
        let mut all = WorkerStats::default();
        for h in self.handles.drain(..) {
            all.merge(h.join().expect("worker thread panicked"));
        }
        let end = self.server_sample();
        let (cpu, max_rss) = procfs::self_usage();
        let fin = Finished {
            elapsed: self.elapsed(),
            loadgen: json!({
                "cpu_s": round3(cpu - self.self_cpu_start),
                "max_rss_kib": max_rss,
                "nofile_limit": self.nofile,
            }),
            server: self.server.as_ref().map(|s| s.to_json()),
            server_end: end,
            timeline: std::mem::take(&mut self.timeline),
            common: self.common.clone(),
        };
        (all, fin)
    }
}

fn s_pid(c: &Common) -> u32 {
    c.server_pid.unwrap_or(0)
}

pub struct Finished {
    pub elapsed: f64,
    pub loadgen: Value,
    pub server: Option<Value>,
    pub server_end: Option<procfs::ProcSample>,
    pub timeline: Vec<Value>,
    pub common: Common,
}

/// Fields every report has.
fn report(mode: &str, args: Value, stats: &WorkerStats, fin: Finished, result: Value) -> Outcome {
    let problems = stats.problems();
    let report = json!({
        "mode": mode,
        "ok": problems == 0,
        "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "url": fin.common.url,
        "args": args,
        "config": {
            "threads": fin.common.threads,
            "source_ips": fin.common.source_ips,
            "read_buffer": fin.common.read_buffer,
            "timeout_s": fin.common.timeout,
            "id_prefix": fin.common.id_prefix,
            "id_start": fin.common.id_start,
        },
        "elapsed_s": round3(fin.elapsed),
        "result": result,
        "failures": stats.failures_json(),
        "errors": stats.errors_json(),
        "latency_ms": {
            "handshake": stats::percentiles_ms(&stats.handshake),
            "boot": stats::percentiles_ms(&stats.boot),
            "call": stats::percentiles_ms(&stats.call),
        },
        "server": fin.server,
        "loadgen": fin.loadgen,
        "per_second": fin.timeline,
    });
    Outcome { report, problems }
}

fn cpu_delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(round3(b? - a?))
}

// ----- ramp -----------------------------------------------------------------

fn ramp(a: &RampArgs) -> Result<Outcome, String> {
    if a.rate <= 0.0 {
        return Err("--rate must be positive".into());
    }
    let mut run = Run::start(
        "ramp",
        &a.common,
        Job::Ramp {
            count: a.count,
            rate: a.rate,
        },
    )?;
    let cpu0 = run.server_cpu();
    let start_sample = run.server.as_ref().and_then(|s| s.samples.first().cloned());
    run.wait_resolved(a.count);
    let resolved_at = run.elapsed();
    let cpu_booted = run.server_cpu();
    run.stage = "hold";
    run.tick_for(Duration::from_secs_f64(a.hold));
    // Memory per connection is read at the end of the hold, when every
    // booted connection has been through a read and a write.
    let held = run.server_sample();
    let booted_live = run.totals().live;
    let epoch = run.shared.epoch;
    let (stats, fin) = run.finish();
    let cpu_end = fin.server_end.as_ref().and_then(|s| s.cpu_s);
    let all_booted = stats.booted == u64::from(a.count);
    let rss_per_conn = match (&start_sample, &held) {
        (Some(s0), Some(s1)) if booted_live > 0 => match (s0.rss_kib, s1.rss_kib) {
            (Some(r0), Some(r1)) => Some(round3((r1 as f64 - r0 as f64) / booted_live as f64)),
            _ => None,
        },
        _ => None,
    };
    let result = json!({
        "count": a.count,
        "rate": a.rate,
        "hold_s": a.hold,
        "booted": stats.booted,
        "all_booted": all_booted,
        "time_to_all_booted_s": if all_booted { stats.last_boot.map(|t| round3((t - epoch).as_secs_f64())) } else { None },
        "time_to_all_resolved_s": round3(resolved_at),
        "offered_duration_s": round3(f64::from(a.count) / a.rate),
        "server_rss_per_conn_kib": rss_per_conn,
        "server_at_hold_end": held.map(|s| s.to_json()),
        "server_cpu": {
            "ramp_s": cpu_delta(cpu0, cpu_booted),
            "total_s": cpu_delta(cpu0, cpu_end),
        },
    });
    let args = json!({"count": a.count, "rate": a.rate, "hold": a.hold});
    Ok(report("ramp", args, &stats, fin, result))
}

// ----- load -----------------------------------------------------------------

fn load(a: &LoadArgs) -> Result<Outcome, String> {
    if a.rate <= 0.0 || a.duration <= 0.0 {
        return Err("--rate and --duration must be positive".into());
    }
    let job = Job::Load {
        count: a.count,
        rate: a.rate,
        mix: a.mix,
    };
    let mut run = Run::start("load", &a.common, job)?;
    run.wait_resolved(a.count);
    let booted = run.totals().booted;
    if a.warmup > 0.0 {
        run.set_phase(Phase::Warmup);
        run.tick_for(Duration::from_secs_f64(a.warmup));
    }
    let before = run.totals();
    let t0 = Instant::now();
    let cpu0 = run.server_cpu();
    let self0 = procfs::self_usage().0;
    run.set_phase(Phase::Measure);
    run.tick_for(Duration::from_secs_f64(a.duration));
    // Read the counters before changing phase so the interval is exact.
    let after = run.totals();
    let measured = t0.elapsed().as_secs_f64();
    let cpu1 = run.server_cpu();
    let self1 = procfs::self_usage().0;
    let measure_start = round3(run.elapsed() - measured);
    let (stats, fin) = run.finish();
    let calls = after.calls - before.calls;
    let server_cpu = cpu_delta(cpu0, cpu1);
    let per_call = server_cpu
        .filter(|_| calls > 0)
        .map(|c| round3(c * 1e6 / calls as f64));
    // Calls per second over the measured seconds only.
    let per_second: Vec<u64> = fin
        .timeline
        .iter()
        .filter(|l| l["phase"] == "measure")
        .filter_map(|l| l["calls"].as_u64())
        .collect();
    let result = json!({
        "count": a.count,
        "booted": booted,
        "mix": format!("{:?}", a.mix).to_lowercase(),
        "warmup_s": a.warmup,
        "measured_s": round3(measured),
        "measure_started_at_s": measure_start,
        "calls": calls,
        "calls_per_s": round3(calls as f64 / measured),
        "calls_per_s_by_second": per_second,
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_call": per_call,
        "loadgen_cpu_s": round3(self1 - self0),
    });
    let mix = if a.mix == Mix::Heartbeat {
        "heartbeat"
    } else {
        "realistic"
    };
    let args = json!({"count": a.count, "rate": a.rate, "duration": a.duration, "warmup": a.warmup, "mix": mix});
    Ok(report("load", args, &stats, fin, result))
}

// ----- churn ----------------------------------------------------------------

fn churn(a: &ChurnArgs) -> Result<Outcome, String> {
    if a.workers == 0 || a.modes.is_empty() {
        return Err("--workers must be at least 1 and --modes not empty".into());
    }
    let id_pool = a.id_pool.unwrap_or(a.workers);
    if id_pool < a.workers {
        return Err(format!(
            "--id-pool {id_pool} must be at least --workers {}",
            a.workers
        ));
    }
    let job = |cycles| Job::Churn {
        cycles,
        lanes: a.workers,
        linger_ms: a.linger_ms,
        id_pool,
        modes: a.modes.clone(),
    };
    let warmup = if a.warmup_cycles > 0 {
        let mut run = Run::start("churn warm-up", &a.common, job(a.warmup_cycles))?;
        run.stage = "warm-up";
        let before = run.server.as_ref().and_then(|s| s.samples.first().cloned());
        while run.totals().done < run.handles.len() as u64 {
            run.tick();
        }
        run.stage = "settle";
        run.tick_for(Duration::from_secs_f64(a.settle));
        let after = run.server_sample();
        let (stats, _) = run.finish();
        json!({
            "cycles": a.warmup_cycles,
            "failures": stats.failures.iter().sum::<u64>(),
            "server_before": before.as_ref().map(|s| s.to_json()),
            "server_after": after.as_ref().map(|s| s.to_json()),
        })
    } else {
        Value::Null
    };
    let mut run = Run::start("churn", &a.common, job(a.cycles))?;
    run.stage = "cycles";
    let before = run.server.as_ref().and_then(|s| s.samples.first().cloned());
    let cpu0 = run.server_cpu();
    while run.totals().done < run.handles.len() as u64 {
        run.tick();
    }
    let cycles_s = run.elapsed();
    let cpu1 = run.server_cpu();
    // Let the server notice the last disconnects before counting its fds.
    run.stage = "settle";
    run.tick_for(Duration::from_secs_f64(a.settle));
    let after = run.server_sample();
    let (stats, fin) = run.finish();
    let by_mode: serde_json::Map<String, Value> = DropMode::ALL
        .iter()
        .filter(|m| a.modes.contains(m))
        .map(|m| (m.name().to_string(), stats.cycles_by_mode[m.index()].into()))
        .collect();
    let delta = |f: fn(&procfs::ProcSample) -> Option<u64>| -> Option<i64> {
        Some(f(after.as_ref()?)? as i64 - f(before.as_ref()?)? as i64)
    };
    let result = json!({
        "cycles": a.cycles,
        "completed": stats.cycles_by_mode.iter().sum::<u64>(),
        "completed_by_mode": by_mode,
        "workers": a.workers,
        "id_pool": id_pool,
        "linger_ms": a.linger_ms,
        "cycles_duration_s": round3(cycles_s),
        "cycles_per_s": round3(a.cycles as f64 / cycles_s),
        "settle_s": a.settle,
        "server_before": before.as_ref().map(|s| s.to_json()),
        "server_after": after.as_ref().map(|s| s.to_json()),
        "server_fd_growth": delta(|s| s.fds),
        "server_rss_growth_kib": delta(|s| s.rss_kib),
        "server_cpu_s": cpu_delta(cpu0, cpu1),
        "warmup": warmup,
    });
    let modes: Vec<&str> = a.modes.iter().map(|m| m.name()).collect();
    let args = json!({"cycles": a.cycles, "workers": a.workers, "linger_ms": a.linger_ms,
                      "id_pool": id_pool, "modes": modes, "settle": a.settle,
                      "warmup_cycles": a.warmup_cycles});
    Ok(report("churn", args, &stats, fin, result))
}
