//! The main thread of `faults`: runs the phases (honest workload without
//! the attack, with it, without it again), samples the gateway every
//! 200 ms, and puts the one JSON report together.
//!
//! The box is shared and noisy, so what a run says is a ratio inside the
//! run: the honest figures with the attack over those without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::cli::AttackCmd;
use super::health::HealthPoller;
use super::{
    Ctx, admin, fragments, garbage, honest, loopback_addr, non_reading, silent, slowloris,
};
use crate::cli::Target;
use crate::net;
use crate::procfs::{self, ProcSample, ProcSampler, round3};

const SAMPLE_EVERY: Duration = Duration::from_millis(200);
const IDLE_TICK: Duration = Duration::from_millis(50);

pub fn run(cmd: &AttackCmd) -> Result<Value, String> {
    let h = cmd.harness();
    let target = Target::parse(&h.url)?;
    if target.tls {
        return Err("--url: faults speaks ws:// only".into());
    }
    let admin = h
        .admin
        .as_deref()
        .map(|a| loopback_addr("--admin", a))
        .transpose()?;
    if let Some(pid) = h.server_pid
        && procfs::sample_pid(pid, 0.0).rss_kib.is_none()
    {
        return Err(format!(
            "--server-pid {pid}: cannot read /proc/{pid}/status"
        ));
    }
    let nofile =
        procfs::raise_nofile_limit().map_err(|e| format!("cannot raise RLIMIT_NOFILE: {e}"))?;
    let duration = Duration::from_secs_f64(h.duration.unwrap_or(cmd.default_duration()));
    let attack_phase = !h.no_attack && !matches!(cmd, AttackCmd::Honest(_));
    let plan: Vec<bool> = match (attack_phase, h.compare) {
        (false, _) => vec![false],
        (true, false) => vec![true],
        (true, true) => vec![false, true, false],
    };
    let mut phases = Vec::new();
    for (index, with_attack) in plan.iter().enumerate() {
        let setup = Setup {
            cmd,
            target: target.clone(),
            admin,
            duration,
        };
        phases.push(run_phase(&setup, index, *with_attack)?);
        if !h.quiet {
            eprintln!("[faults] phase {index} done");
        }
    }
    let comparison = if h.compare && attack_phase {
        compare(&phases[0], &phases[1], &phases[2])
    } else {
        Value::Null
    };
    Ok(json!({
        "mode": "faults",
        "attack": cmd.name(),
        "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "argv": std::env::args().collect::<Vec<_>>(),
        "url": h.url,
        "admin": h.admin,
        "phase_s": duration.as_secs_f64(),
        "honest": {"count": h.honest, "rate": h.honest_rate, "start_s": h.honest_start,
                   "heartbeat_ms": h.heartbeat_ms},
        "nofile_limit": nofile,
        "with_vs_without": comparison,
        "phases": phases,
    }))
}

struct Setup<'a> {
    cmd: &'a AttackCmd,
    target: Target,
    admin: Option<std::net::SocketAddr>,
    duration: Duration,
}

fn run_phase(s: &Setup, index: usize, with_attack: bool) -> Result<Value, String> {
    let h = s.cmd.harness();
    let epoch = Instant::now();
    let ctx = Ctx {
        target: s.target.clone(),
        sources: net::source_addresses(s.target.addr, h.source_ips),
        admin: s.admin,
        admin_token: h.admin_token.clone(),
        server_pid: h.server_pid,
        epoch,
        deadline: epoch + s.duration,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let mut watch = ServerWatch::new(h.server_pid, epoch);
    let health = s.admin.map(|a| HealthPoller::start(a, epoch));
    let attack = with_attack.then(|| {
        let (cmd, ctx) = (s.cmd.clone(), ctx.clone());
        thread::Builder::new()
            .name("faults-attack".into())
            .spawn(move || run_attack(&cmd, &ctx))
            .expect("spawn attack thread")
    });
    while epoch.elapsed().as_secs_f64() < h.honest_start && Instant::now() < ctx.deadline {
        thread::sleep(IDLE_TICK);
        watch.tick();
    }
    let mut honest_run = if h.honest > 0 {
        Some(honest::start(h, &format!("H{index}x"))?)
    } else {
        None
    };
    while Instant::now() < ctx.deadline {
        match honest_run.as_mut() {
            Some(r) => r.tick(),
            None => thread::sleep(IDLE_TICK),
        }
        watch.tick();
    }
    ctx.stop.store(true, Ordering::Relaxed);
    let honest_fig = honest_run.map(|r| honest::figures(h.honest, &r.finish().0));
    let attack_fig = attack.map(|t| {
        t.join()
            .unwrap_or_else(|_| json!({"error": "attack thread panicked"}))
    });
    let health_fig = health.map(HealthPoller::finish);
    let settle_until = Instant::now() + Duration::from_secs_f64(h.settle);
    while Instant::now() < settle_until {
        thread::sleep(IDLE_TICK);
        watch.tick();
    }
    watch.sample();
    Ok(json!({
        "phase": index,
        "with_attack": with_attack,
        "elapsed_s": round3(epoch.elapsed().as_secs_f64()),
        "attack": attack_fig,
        "honest": honest_fig,
        "health": health_fig,
        "server": watch.to_json(),
    }))
}

fn run_attack(cmd: &AttackCmd, ctx: &Ctx) -> Value {
    let r = match cmd {
        AttackCmd::Slowloris(a) => slowloris::run(a, ctx),
        AttackCmd::Silent(a) => silent::run(a, ctx),
        AttackCmd::NonReading(a) => non_reading::run(a, ctx),
        AttackCmd::Fragments(a) => fragments::run(a, ctx),
        AttackCmd::Garbage(a) => garbage::run(a, ctx),
        AttackCmd::Admin(a) => admin::run(a, ctx),
        AttackCmd::Honest(_) => Ok(Value::Null),
    };
    r.unwrap_or_else(|e| json!({ "error": e }))
}

/// The gateway's RSS, HWM, threads and fds every 200 ms: before, peak, after.
struct ServerWatch {
    sampler: Option<ProcSampler>,
    next: Instant,
}

impl ServerWatch {
    fn new(pid: Option<u32>, epoch: Instant) -> ServerWatch {
        let mut sampler = pid.map(|p| ProcSampler::new(p, epoch));
        if let Some(s) = sampler.as_mut() {
            s.sample();
        }
        ServerWatch {
            sampler,
            next: Instant::now() + SAMPLE_EVERY,
        }
    }

    fn tick(&mut self) {
        if Instant::now() >= self.next {
            self.next += SAMPLE_EVERY;
            self.sample();
        }
    }

    fn sample(&mut self) {
        if let Some(s) = self.sampler.as_mut() {
            s.sample();
        }
    }

    fn to_json(&self) -> Value {
        let Some(s) = &self.sampler else {
            return Value::Null;
        };
        let samples = &s.samples;
        let peak = |f: fn(&ProcSample) -> Option<u64>| -> Value {
            samples
                .iter()
                .filter_map(|x| Some((f(x)?, x.t)))
                .max_by_key(|(v, _)| *v)
                .map_or(Value::Null, |(v, t)| json!({"value": v, "at_s": round3(t)}))
        };
        let (first, last) = (samples.first(), samples.last());
        // One sample a second is enough to see the shape.
        let timeline: Vec<Value> = samples
            .iter()
            .step_by(5)
            .map(|x| json!([round3(x.t), x.rss_kib, x.threads, x.fds]))
            .collect();
        json!({
            "before": first.map(ProcSample::to_json),
            "peak": {
                "rss_kib": peak(|x| x.rss_kib),
                "hwm_kib": peak(|x| x.hwm_kib),
                "threads": peak(|x| x.threads),
                "fds": peak(|x| x.fds),
            },
            "after": last.map(ProcSample::to_json),
            "cpu_s": match (first.and_then(|x| x.cpu_s), last.and_then(|x| x.cpu_s)) {
                (Some(a), Some(b)) => json!(round3(b - a)),
                _ => Value::Null,
            },
            "timeline_t_rss_threads_fds": timeline,
        })
    }
}

/// Honest figures with the attack over the mean of the two runs without.
fn compare(without_a: &Value, with: &Value, without_b: &Value) -> Value {
    let pick = |v: &Value, path: &[&str]| -> Option<f64> {
        let mut x = v;
        for p in path {
            x = &x[*p];
        }
        x.as_f64()
    };
    let mut out = serde_json::Map::new();
    let figures: [(&str, &[&str]); 7] = [
        ("boot_success_pct", &["honest", "boot_success_pct"]),
        ("boot_p50_ms", &["honest", "latency_ms", "boot", "p50"]),
        ("boot_p99_ms", &["honest", "latency_ms", "boot", "p99"]),
        (
            "handshake_p99_ms",
            &["honest", "latency_ms", "handshake", "p99"],
        ),
        (
            "heartbeat_p99_ms",
            &["honest", "latency_ms", "heartbeat", "p99"],
        ),
        (
            "closed_by_gateway",
            &["honest", "closed_by_gateway", "count"],
        ),
        ("max_last_tick_age_ms", &["health", "max_last_tick_age_ms"]),
    ];
    for (name, path) in figures {
        let (a, w, b) = (
            pick(without_a, path),
            pick(with, path),
            pick(without_b, path),
        );
        let ratio = match (a, w, b) {
            (Some(a), Some(w), Some(b)) if a + b > 0.0 => Some(round3(w / ((a + b) / 2.0))),
            _ => None,
        };
        out.insert(
            name.into(),
            json!({"without": [a, b], "with": w, "ratio": ratio}),
        );
    }
    Value::Object(out)
}
