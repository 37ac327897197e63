//! The honest workload beside every attack: loadgen's own workers
//! (`scenario::Run` with `Job::Honest`), charge points that connect, boot
//! and send heartbeats, and the figures that say whether they were served.

use std::time::Duration;

use serde_json::{Value, json};

use super::cli::Harness;
use crate::cli::Common;
use crate::client;
use crate::scenario::Run;
use crate::stats::{self, WorkerStats};
use crate::worker::Job;

/// Starts `h.honest` charge points with ids `<prefix><n>`.
pub fn start(h: &Harness, id_prefix: &str) -> Result<Run, String> {
    let common = Common {
        url: h.url.clone(),
        ca: None,
        client_cert: None,
        client_key: None,
        client_cert_dir: None,
        // The harness samples the server itself, more often than Run does.
        server_pid: None,
        threads: h.honest_threads,
        source_ips: h.source_ips,
        id_prefix: id_prefix.to_string(),
        id_start: 0,
        timeout: h.timeout,
        read_buffer: client::DEFAULT_READ_BUFFER,
        fail_on_error: false,
        quiet: h.quiet,
    };
    let job = Job::Honest {
        count: h.honest,
        rate: h.honest_rate,
        heartbeat: Duration::from_millis(h.heartbeat_ms.max(1)),
    };
    Run::start("honest", &common, job)
}

/// What the honest charge points saw.
pub fn figures(count: u32, s: &WorkerStats) -> Value {
    let closed: u64 = s.server_close_codes.values().sum();
    json!({
        "count": count,
        "booted": s.booted,
        "boot_success_pct": if count == 0 { 0.0 } else {
            crate::procfs::round3(s.booted as f64 * 100.0 / f64::from(count))
        },
        "latency_ms": {
            "handshake": stats::percentiles_ms(&s.handshake),
            "boot": stats::percentiles_ms(&s.boot),
            "heartbeat": stats::percentiles_ms(&s.call),
        },
        "closed_by_gateway": {
            "count": closed,
            "codes": s.server_close_codes_json(),
        },
        "failures": s.failures_json(),
        "errors": s.errors_json(),
    })
}
