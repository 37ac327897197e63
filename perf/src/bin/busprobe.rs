//! `busprobe`: drives and inspects the gateway's NATS bus (issue #7).
//!
//! - `command`: K NATS requests on `{prefix}.cmd.{token(id)}` (the gateway's
//!   "commands down"), C in flight at a time, spread round-robin over the
//!   charge points loadgen opens (`{id-prefix}{id-start + i}`, i < N, plain
//!   decimal like loadgen's ids). One JSON report on stdout: replies by
//!   `status`, no responders, timeouts, latency percentiles in µs, rate.
//! - `stream`: the message count of a JetStream stream (JSON on stdout).
//!
//! Only the stream API is used (`get_stream` + `info`): nats-server 2.9
//! answers `$JS.API.INFO` (account info, used by `create_key_value` and
//! `query_account`) in a shape async-nats 0.51 cannot parse.
//!
//! Runs on one tokio thread (current-thread runtime): the probe shares the
//! two cores with the gateway and loadgen, so it should take one at most.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_nats::RequestErrorKind;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(name = "busprobe", about = "NATS probe for the ocpp-gateway bus")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send commands to charge points through `{prefix}.cmd.{id}` and time the replies.
    Command(CommandArgs),
    /// Print the message count of a JetStream stream.
    Stream(StreamArgs),
}

#[derive(clap::Args, Debug)]
struct CommandArgs {
    /// NATS server URL (loopback only).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The gateway's `bus.subject_prefix`.
    #[arg(long, default_value = "ocpp")]
    prefix: String,
    /// Charge point ids are `{id-prefix}{id-start + i}`, as loadgen names them.
    #[arg(long, default_value = "CP")]
    id_prefix: String,
    /// First index (loadgen's `--id-start`).
    #[arg(long, default_value_t = 0)]
    id_start: u64,
    /// Number of charge points the requests are spread over (round-robin).
    #[arg(long, default_value_t = 1)]
    ids: u64,
    /// Requests to send (after the warm-up).
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Requests in flight at a time.
    #[arg(long, default_value_t = 1)]
    concurrency: u64,
    /// Requests sent first and left out of every figure.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// OCPP action of the command.
    #[arg(long, default_value = "Reset")]
    action: String,
    /// Its payload (JSON object).
    #[arg(long, default_value = r#"{"type":"Soft"}"#)]
    payload: String,
    /// `timeout_ms` put in the request body (the gateway's wait for the charge
    /// point); omitted by default, so the gateway uses `admin.call_timeout`.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// How long the probe waits for a NATS reply, seconds.
    #[arg(long, default_value_t = 10.0)]
    request_timeout: f64,
}

#[derive(clap::Args, Debug)]
struct StreamArgs {
    /// NATS server URL (loopback only).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// JetStream stream name (`bus.stream`).
    #[arg(long, default_value = "OCPP_EVENTS")]
    stream: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("busprobe: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.cmd {
        Cmd::Command(a) => rt.block_on(command(a)),
        Cmd::Stream(a) => rt.block_on(stream(a)),
    };
    ocpp_perf::print_report("busprobe", result)
}

/// Loopback only, like loadgen: `nats://127.x.y.z`, `nats://localhost`, `nats://[::1]`.
fn check_loopback(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let hostport = rest.rsplit('@').next().unwrap_or(rest);
    let host = if let Some(h) = hostport.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    let ok = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!("{url}: only loopback NATS servers are allowed"))
    }
}

async fn connect(
    url: &str,
    request_timeout: Option<Duration>,
) -> Result<async_nats::Client, String> {
    check_loopback(url)?;
    async_nats::ConnectOptions::new()
        .request_timeout(request_timeout)
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| format!("connect {url}: {e}"))
}

/// The bus spec's token encoding of a charge point id: every byte outside
/// `[A-Za-z0-9_-]` becomes `=XX` (uppercase hex), `=` included.
fn token(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for &b in id.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<String, u64>,
    /// First reply body seen per non-200 status (for the report).
    examples: BTreeMap<String, Value>,
    no_responders: u64,
    timeouts: u64,
    errors: u64,
    error_example: Option<String>,
}

async fn command(a: CommandArgs) -> Result<Value, String> {
    if a.ids == 0 || a.concurrency == 0 {
        return Err("--ids and --concurrency must be at least 1".into());
    }
    let payload: Value =
        serde_json::from_str(&a.payload).map_err(|e| format!("--payload is not JSON: {e}"))?;
    let mut body = json!({ "action": a.action, "payload": payload });
    if let Some(t) = a.timeout_ms {
        body["timeout_ms"] = json!(t);
    }
    let body = serde_json::to_vec(&body).expect("serializable body");
    let client = connect(&a.nats, Some(Duration::from_secs_f64(a.request_timeout))).await?;

    // Subjects for every id, built once.
    let subjects: Rc<Vec<String>> = Rc::new(
        (0..a.ids)
            .map(|i| {
                format!(
                    "{}.cmd.{}",
                    a.prefix,
                    token(&format!("{}{}", a.id_prefix, a.id_start + i))
                )
            })
            .collect(),
    );
    let total = a.warmup + a.count;
    let next = Rc::new(RefCell::new(0u64));
    let tally = Rc::new(RefCell::new(Tally::default()));
    // µs, 1 µs .. 1 h, 3 significant digits; replies of any status.
    let new_hist =
        || Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds");
    let hist_all = Rc::new(RefCell::new(new_hist()));
    let hist_ok = Rc::new(RefCell::new(new_hist()));
    let started = Rc::new(RefCell::new(None::<Instant>));

    let local = tokio::task::LocalSet::new();
    for _ in 0..a.concurrency.min(total.max(1)) {
        let (client, subjects, next, tally, hist_all, hist_ok, started, body) = (
            client.clone(),
            subjects.clone(),
            next.clone(),
            tally.clone(),
            hist_all.clone(),
            hist_ok.clone(),
            started.clone(),
            body.clone(),
        );
        let warmup = a.warmup;
        local.spawn_local(async move {
            loop {
                let i = {
                    let mut n = next.borrow_mut();
                    if *n >= total {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                if i == warmup {
                    // The measured interval starts with the first measured request.
                    started.borrow_mut().get_or_insert_with(Instant::now);
                }
                let measured = i >= warmup;
                let subject = subjects[(i % subjects.len() as u64) as usize].clone();
                let t0 = Instant::now();
                let res = client.request(subject, body.clone().into()).await;
                let us = (t0.elapsed().as_micros() as u64).max(1);
                if !measured {
                    continue;
                }
                let mut t = tally.borrow_mut();
                match res {
                    Ok(msg) => {
                        let v: Value = serde_json::from_slice(&msg.payload).unwrap_or(Value::Null);
                        let status = match &v["status"] {
                            Value::Number(n) => n.to_string(),
                            _ => "unparsable".to_string(),
                        };
                        hist_all.borrow_mut().saturating_record(us);
                        if status == "200" {
                            hist_ok.borrow_mut().saturating_record(us);
                        } else if !t.examples.contains_key(&status) {
                            let ex = if v.is_null() {
                                json!(String::from_utf8_lossy(&msg.payload))
                            } else {
                                v
                            };
                            t.examples.insert(status.clone(), ex);
                        }
                        *t.by_status.entry(status).or_default() += 1;
                    }
                    Err(e) => match e.kind() {
                        RequestErrorKind::NoResponders => t.no_responders += 1,
                        RequestErrorKind::TimedOut => t.timeouts += 1,
                        _ => {
                            t.errors += 1;
                            if t.error_example.is_none() {
                                t.error_example = Some(e.to_string());
                            }
                        }
                    },
                }
            }
        });
    }
    local.await;
    let elapsed = started
        .borrow()
        .map(|s| s.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    client.flush().await.ok();

    let t = tally.borrow();
    let ok = t.by_status.get("200").copied().unwrap_or(0);
    let replies: u64 = t.by_status.values().sum();
    let pct = |h: &Histogram<u64>| {
        if h.is_empty() {
            return Value::Null;
        }
        json!({
            "p50": h.value_at_quantile(0.50),
            "p90": h.value_at_quantile(0.90),
            "p99": h.value_at_quantile(0.99),
            "p99_9": h.value_at_quantile(0.999),
            "max": h.max(),
            "mean": (h.mean() * 10.0).round() / 10.0,
        })
    };
    Ok(json!({
        "probe": "busprobe command",
        "nats": a.nats,
        "subject_example": subjects[0],
        "ids": a.ids,
        "id_first": format!("{}{}", a.id_prefix, a.id_start),
        "action": a.action,
        "payload": payload,
        "timeout_ms": a.timeout_ms,
        "concurrency": a.concurrency,
        "warmup": a.warmup,
        "count": a.count,
        "ok": ok,
        "replies": replies,
        "status": t.by_status,
        "non_200_examples": t.examples,
        "no_responders": t.no_responders,
        "timeouts": t.timeouts,
        "errors": t.errors,
        "error_example": t.error_example,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "rate_per_s": if elapsed > 0.0 { (a.count as f64 / elapsed).round() } else { 0.0 },
        "latency_us": pct(&hist_all.borrow()),
        "latency_ok_us": pct(&hist_ok.borrow()),
    }))
}

async fn stream(a: StreamArgs) -> Result<Value, String> {
    let client = connect(&a.nats, Some(Duration::from_secs(5))).await?;
    let js = async_nats::jetstream::new(client);
    let mut s = js
        .get_stream(&a.stream)
        .await
        .map_err(|e| format!("get_stream {}: {e}", a.stream))?;
    let info = s
        .info()
        .await
        .map_err(|e| format!("stream info {}: {e}", a.stream))?;
    let st = &info.state;
    Ok(json!({
        "stream": a.stream,
        "messages": st.messages,
        "bytes": st.bytes,
        "first_seq": st.first_sequence,
        "last_seq": st.last_sequence,
        "consumers": st.consumer_count,
        "subjects": info.config.subjects,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_bus_spec() {
        assert_eq!(token("CP-1"), "CP-1");
        assert_eq!(token("cp.7"), "cp=2E7");
        assert_eq!(token("a*b"), "a=2Ab");
        assert_eq!(token("x=y"), "x=3Dy");
        assert_eq!(token("CP0"), "CP0");
    }

    #[test]
    fn loopback_only() {
        assert!(check_loopback("nats://127.0.0.1:4222").is_ok());
        assert!(check_loopback("nats://localhost:4222").is_ok());
        assert!(check_loopback("nats://[::1]:4222").is_ok());
        assert!(check_loopback("nats://u:p@127.0.0.2:4222").is_ok());
        assert!(check_loopback("nats://10.0.0.1:4222").is_err());
        assert!(check_loopback("demo.nats.io").is_err());
    }
}
