//! Non-reading peers: charge points that upgrade, boot, and never read
//! again (small SO_RCVBUF), while the gateway has to write to them: answers
//! to the CALLs they keep sending (`--feed calls`) or commands sent through
//! the admin API (`--feed admin`). The gateway should drop each once it
//! holds `websocket.max_write_buffer_size` for it.
//!
//! Not reading, we cannot see a close frame; a drop shows as the socket
//! leaving ESTABLISHED (TCP_INFO: reset or FIN), a failed write, or the
//! admin API answering 404 for the id.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::cli::{CallKind, Feed, NonReadingArgs};
use super::wire::{self, Dial, DialStep, RawPeer};
use super::{Ctx, Endings, http};
use crate::net;

/// Frames queued ahead of the socket per peer, at most.
const QUEUE_AHEAD: usize = 64 * 1024;
const STATE_CHECK_EVERY: Duration = Duration::from_millis(100);

struct Deaf {
    id: String,
    dial: Option<Dial>,
    peer: Option<RawPeer>,
    upgraded: Option<Instant>,
    calls_queued: u64,
    end: Option<(Instant, String)>,
}

/// Per peer, for the admin feeders: upgraded (1) and dropped (2) flags.
type Flags = Arc<Vec<AtomicU64>>;
const UPGRADED: u64 = 1;
const GONE: u64 = 2;

pub fn run(a: &NonReadingArgs, ctx: &Ctx) -> Result<Value, String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut deaf: Vec<Deaf> = Vec::new();
    let mut dial_failures: BTreeMap<&'static str, u64> = BTreeMap::new();
    let flags: Flags = Arc::new((0..a.count).map(|_| AtomicU64::new(0)).collect());
    let admin_gone: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let feeders = match a.feed {
        Feed::Admin => start_feeders(a, ctx, &flags, &admin_gone)?,
        Feed::Calls => Vec::new(),
    };
    let frame = call_frame(a);
    let started = Instant::now();
    let mut next_check = started;
    while ctx.running() {
        let now = Instant::now();
        while (deaf.len() as u32) < a.count
            && started + Duration::from_secs_f64(deaf.len() as f64 / a.rate) <= now
        {
            let i = deaf.len();
            let id = format!("DEAF{i}");
            let mut d = Deaf {
                id,
                dial: None,
                peer: None,
                upgraded: None,
                calls_queued: 0,
                end: None,
            };
            match Dial::start(ctx, i, &d.id, Some(a.rcvbuf)) {
                Ok(mut dial) => {
                    let s = dial.socket().expect("a new dial is connecting");
                    poll.registry()
                        .register(s, Token(i), Interest::READABLE | Interest::WRITABLE)
                        .map_err(|e| format!("register: {e}"))?;
                    d.dial = Some(dial);
                }
                Err(e) => {
                    *dial_failures.entry("connect_error").or_default() += 1;
                    d.end = Some((now, format!("connect: {e}")));
                }
            }
            deaf.push(d);
        }
        if a.feed == Feed::Calls {
            for d in deaf.iter_mut().filter(|d| d.end.is_none()) {
                feed_calls(d, a.call_rate, &frame, now);
            }
        }
        if now >= next_check {
            next_check = now + STATE_CHECK_EVERY;
            for (i, d) in deaf.iter_mut().enumerate() {
                if d.end.is_none()
                    && let Some(p) = &d.peer
                {
                    match net::tcp_state(&p.stream) {
                        Ok(net::TCP_ESTABLISHED) => {}
                        Ok(net::TCP_CLOSE) => d.end = Some((now, "reset".into())),
                        Ok(net::TCP_CLOSE_WAIT) => d.end = Some((now, "fin".into())),
                        Ok(s) => d.end = Some((now, format!("tcp_state_{s}"))),
                        Err(e) => d.end = Some((now, format!("tcp_info: {e}"))),
                    }
                    if d.end.is_some() {
                        flags[i].fetch_or(GONE, Ordering::Relaxed);
                    }
                }
            }
        }
        let _ = poll.poll(&mut events, Some(Duration::from_millis(5)));
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(d) = deaf.get_mut(i) else { continue };
            if d.end.is_some() {
                continue;
            }
            if let Some(dial) = d.dial.as_mut() {
                match dial.advance() {
                    DialStep::Pending => continue,
                    DialStep::Failed(f) => {
                        *dial_failures.entry(f.kind.name()).or_default() += 1;
                        d.end = Some((Instant::now(), format!("dial: {}", f.detail)));
                        d.dial = None;
                        continue;
                    }
                    DialStep::Open(mut p) => {
                        d.dial = None;
                        d.upgraded = Some(Instant::now());
                        // From now on we never read: only writable wakeups.
                        let _ =
                            poll.registry()
                                .reregister(&mut p.stream, Token(i), Interest::WRITABLE);
                        let mut boot = String::new();
                        crate::ocpp::write_call(
                            &mut boot,
                            0,
                            crate::ocpp::Action::BootNotification,
                            i as u32,
                            &Default::default(),
                            "",
                        );
                        p.queue_frame(OpCode::Data(Data::Text), true, boot.as_bytes(), true);
                        d.peer = Some(p);
                        flags[i].fetch_or(UPGRADED, Ordering::Relaxed);
                    }
                }
            }
            if let Some(p) = d.peer.as_mut()
                && let Err(e) = p.flush()
            {
                d.end = Some((Instant::now(), format!("write_{}", e.name())));
                flags[i].fetch_or(GONE, Ordering::Relaxed);
            }
        }
    }
    let mut commands = FeedTally {
        status: BTreeMap::new(),
        errors: 0,
        first_error: None,
    };
    for t in feeders.into_iter().filter_map(|f| f.join().ok()) {
        for (k, v) in t.status {
            *commands.status.entry(k).or_default() += v;
        }
        commands.errors += t.errors;
        commands.first_error = commands.first_error.or(t.first_error);
    }
    let admin_gone = feeder_report(&admin_gone, &mut deaf);
    let mut r = report(a, ctx, &deaf, dial_failures, frame.len(), admin_gone);
    if a.feed == Feed::Admin {
        r["admin_commands"] = json!({
            "status": commands.status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "errors": commands.errors,
            "first_error": commands.first_error,
        });
    }
    Ok(r)
}

/// The CALL a peer repeats, as one masked frame.
fn call_frame(a: &NonReadingArgs) -> Vec<u8> {
    let text = match a.call {
        CallKind::Heartbeat => r#"[2,"1","Heartbeat",{}]"#.to_string(),
        CallKind::LongId => format!(r#"[2,"{}","Heartbeat",{{}}]"#, "L".repeat(a.id_len)),
    };
    let mut out = Vec::new();
    wire::encode(
        &mut out,
        OpCode::Data(Data::Text),
        true,
        text.as_bytes(),
        Some(wire::MASK),
    );
    out
}

/// Queues the CALLs due by now (all that fit ahead with `rate` 0), then
/// pushes what the socket takes.
fn feed_calls(d: &mut Deaf, rate: f64, frame: &[u8], now: Instant) {
    let (Some(p), Some(up)) = (d.peer.as_mut(), d.upgraded) else {
        return;
    };
    let due = if rate > 0.0 {
        ((now - up).as_secs_f64() * rate) as u64
    } else {
        u64::MAX
    };
    while d.calls_queued < due && p.pending() + frame.len() <= QUEUE_AHEAD {
        p.queue_raw(frame);
        d.calls_queued += 1;
    }
    if let Err(e) = p.flush() {
        d.end = Some((now, format!("write_{}", e.name())));
    }
}

struct FeedTally {
    status: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
}

fn start_feeders(
    a: &NonReadingArgs,
    ctx: &Ctx,
    flags: &Flags,
    gone: &Arc<Mutex<Vec<(usize, Instant)>>>,
) -> Result<Vec<thread::JoinHandle<FeedTally>>, String> {
    let addr = ctx.admin.ok_or("--feed admin needs --admin ADDR")?;
    let body = format!(
        r#"{{"action":"DataTransfer","payload":{{"vendorId":"perf","data":"{}"}},"timeout_ms":{}}}"#,
        "d".repeat(a.command_bytes),
        a.command_timeout_ms
    );
    let body = Arc::new(body.into_bytes());
    let timeout = Duration::from_millis(a.command_timeout_ms) + Duration::from_secs(5);
    let mut handles = Vec::new();
    // More feeders than peers would only post twice to the same peer.
    let workers = a.admin_workers.clamp(1, flags.len().max(1));
    for w in 0..workers {
        let (ctx, flags, gone, body) = (ctx.clone(), flags.clone(), gone.clone(), body.clone());
        let token = ctx.admin_token.clone();
        handles.push(
            thread::Builder::new()
                .name(format!("faults-feed-{w}"))
                .spawn(move || {
                    let mut t = FeedTally {
                        status: BTreeMap::new(),
                        errors: 0,
                        first_error: None,
                    };
                    let mut i = w;
                    while ctx.running() {
                        let f = flags[i].load(Ordering::Relaxed);
                        if f == UPGRADED {
                            let path = format!("/connections/DEAF{i}/calls");
                            match http::request(
                                addr,
                                "POST",
                                &path,
                                token.as_deref(),
                                &body,
                                timeout,
                            ) {
                                Ok(r) => {
                                    *t.status.entry(r.status).or_default() += 1;
                                    if r.status == 404
                                        && flags[i].fetch_or(GONE, Ordering::Relaxed) & GONE == 0
                                    {
                                        gone.lock()
                                            .expect("not poisoned")
                                            .push((i, Instant::now()));
                                    }
                                }
                                Err(e) => {
                                    t.errors += 1;
                                    t.first_error.get_or_insert_with(|| e.to_string());
                                }
                            }
                        } else {
                            thread::sleep(Duration::from_millis(5));
                        }
                        i = (i + workers) % flags.len();
                    }
                    t
                })
                .map_err(|e| format!("spawn feeder: {e}"))?,
        );
    }
    Ok(handles)
}

/// Marks peers the admin API no longer knew (404) as dropped, unless the
/// socket told us first.
fn feeder_report(gone: &Mutex<Vec<(usize, Instant)>>, deaf: &mut [Deaf]) -> Vec<(usize, Instant)> {
    let gone = gone.lock().expect("not poisoned").clone();
    for (i, at) in &gone {
        if let Some(d) = deaf.get_mut(*i)
            && d.end.is_none()
        {
            d.end = Some((*at, "admin_404".into()));
        }
    }
    gone
}

fn report(
    a: &NonReadingArgs,
    ctx: &Ctx,
    deaf: &[Deaf],
    dial_failures: BTreeMap<&'static str, u64>,
    frame_len: usize,
    admin_gone: Vec<(usize, Instant)>,
) -> Value {
    let mut drops = Endings::default();
    for d in deaf {
        let (Some(up), Some((at, kind))) = (d.upgraded, &d.end) else {
            continue;
        };
        drops.record(kind, Some(up), *at);
    }
    let upgraded = deaf.iter().filter(|d| d.upgraded.is_some()).count();
    let sent: u64 = deaf
        .iter()
        .filter_map(|d| d.peer.as_ref())
        .map(|p| p.sent_bytes)
        .sum();
    json!({
        "count": a.count,
        "rcvbuf": a.rcvbuf,
        "feed": format!("{:?}", a.feed).to_lowercase(),
        "call": format!("{:?}", a.call).to_lowercase(),
        "call_frame_bytes": frame_len,
        "call_rate_per_peer": a.call_rate,
        "command_bytes": (a.feed == Feed::Admin).then_some(a.command_bytes),
        "upgraded": upgraded,
        "dial_failures": dial_failures,
                "dropped": drops.timed(),
        "drop_how": drops.how,
        "dropped_after_upgrade_ms": drops.after_ms(),
        "first_drop_at_s": drops.first_at_s(ctx),
        "last_drop_at_s": drops.last_at_s(ctx),
        "still_connected_at_end": deaf.iter().filter(|d| d.upgraded.is_some() && d.end.is_none()).count(),
        "calls_queued": deaf.iter().map(|d| d.calls_queued).sum::<u64>(),
        "bytes_sent": sent,
        "admin_404_seen": admin_gone.len(),
    })
}
