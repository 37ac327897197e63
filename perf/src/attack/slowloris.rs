//! Slowloris: sockets that send the HTTP upgrade one byte at a time, so the
//! request never completes; the gateway should cut each at its handshake
//! timeout (10 s). The loop here (`hold`) also serves the silent flood (no
//! bytes at all) and the admin API's slow requests.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};

use super::cli::SlowlorisArgs;
use super::{Ctx, Endings, http, wire};
use crate::net;

pub fn run(a: &SlowlorisArgs, ctx: &Ctx) -> Result<Value, String> {
    let request = |i: u32| wire::upgrade_request(&ctx.target, &format!("SLOW{i}"));
    hold(
        &Hold {
            target: ctx.target.addr,
            count: a.count,
            rate: a.rate,
            request: &request,
            interval: Duration::from_millis(a.byte_interval_ms.max(1)),
        },
        ctx,
    )
}

/// Sockets to hold before (or instead of) a complete request.
pub struct Hold<'a> {
    pub target: SocketAddr,
    pub count: u32,
    /// Sockets opened per second.
    pub rate: f64,
    /// The request socket i dribbles; empty: it sends nothing.
    pub request: &'a dyn Fn(u32) -> Vec<u8>,
    /// One byte of the request every `interval`.
    pub interval: Duration,
}

struct Held {
    stream: TcpStream,
    request: Vec<u8>,
    sent: usize,
    opened: Instant,
    connected: Option<Instant>,
    next_byte: Instant,
    /// The start of whatever the server answered (an HTTP status line).
    reply: Vec<u8>,
    /// When and how the server ended it.
    end: Option<(Instant, &'static str)>,
}

/// Opens `count` sockets at `rate`, dribbles each one's request, and
/// records when and how the server cut them, until `ctx.deadline`.
pub fn hold(plan: &Hold, ctx: &Ctx) -> Result<Value, String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut held: Vec<Held> = Vec::with_capacity(plan.count as usize);
    let mut connect_failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_connect_error = None;
    let started = Instant::now();
    let mut live_by_second = Vec::new();
    let mut next_second = started + Duration::from_secs(1);
    let mut ended = 0usize;
    // Sockets tried (held.len() plus connects that failed at once).
    let mut attempts = 0u32;
    while ctx.running() {
        let now = Instant::now();
        while attempts < plan.count
            && started + Duration::from_secs_f64(f64::from(attempts) / plan.rate) <= now
        {
            let i = attempts as usize;
            attempts += 1;
            match net::start_connect(plan.target, ctx.source(i)) {
                Ok(mut stream) => {
                    let token = Token(held.len());
                    if let Err(e) = poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        return Err(format!("register: {e}"));
                    }
                    held.push(Held {
                        stream,
                        request: (plan.request)(i as u32),
                        sent: 0,
                        opened: now,
                        connected: None,
                        next_byte: now,
                        reply: Vec::new(),
                        end: None,
                    });
                }
                Err(e) => {
                    *connect_failures.entry(kind_of(&e).into()).or_default() += 1;
                    first_connect_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        for h in held
            .iter_mut()
            .filter(|h| h.end.is_none() && h.connected.is_some())
        {
            if h.sent < h.request.len() && h.next_byte <= now {
                dribble(h, now, plan.interval);
                if h.end.is_some() {
                    ended += 1;
                }
            }
        }
        if now >= next_second {
            live_by_second.push(held.iter().filter(|h| h.end.is_none()).count());
            next_second += Duration::from_secs(1);
        }
        if attempts == plan.count && ended == held.len() {
            break; // every socket was cut: nothing left to watch
        }
        let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
        for ev in events.iter() {
            let Some(h) = held.get_mut(ev.token().0) else {
                continue;
            };
            if h.end.is_some() {
                continue;
            }
            if h.connected.is_none() {
                match net::connect_result(&h.stream) {
                    Ok(()) => h.connected = Some(Instant::now()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => continue,
                    Err(e) => {
                        *connect_failures.entry(kind_of(&e).into()).or_default() += 1;
                        first_connect_error.get_or_insert_with(|| e.to_string());
                        h.end = Some((Instant::now(), "connect_failed"));
                        ended += 1;
                        continue;
                    }
                }
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                read_reply(h);
                if h.end.is_some() {
                    ended += 1;
                }
            }
        }
    }
    Ok(report(
        plan,
        ctx,
        &held,
        connect_failures,
        first_connect_error,
        live_by_second,
    ))
}

fn dribble(h: &mut Held, now: Instant, interval: Duration) {
    match h.stream.write(&h.request[h.sent..h.sent + 1]) {
        Ok(n) => {
            h.sent += n;
            h.next_byte = now + interval;
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(_) => h.end = Some((now, "reset")),
    }
}

fn read_reply(h: &mut Held) {
    let mut buf = [0u8; 4096];
    loop {
        match h.stream.read(&mut buf) {
            Ok(0) => {
                h.end = Some((Instant::now(), "fin"));
                return;
            }
            Ok(n) => {
                let room = 128usize.saturating_sub(h.reply.len());
                h.reply.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                h.end = Some((Instant::now(), "reset"));
                return;
            }
        }
    }
}

fn kind_of(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::TimedOut => "timed_out",
        _ => "other",
    }
}

fn report(
    plan: &Hold,
    ctx: &Ctx,
    held: &[Held],
    connect_failures: BTreeMap<String, u64>,
    first_connect_error: Option<String>,
    live_by_second: Vec<usize>,
) -> Value {
    let mut cuts = Endings::default();
    let mut replies: BTreeMap<String, u64> = BTreeMap::new();
    for h in held {
        if let Some(status) = http::status_of(&h.reply) {
            *replies.entry(status.to_string()).or_default() += 1;
        }
        let Some((at, kind)) = h.end else { continue };
        if kind == "connect_failed" {
            continue;
        }
        let label = match http::status_of(&h.reply) {
            Some(s) => format!("http_{s}_then_{kind}"),
            None => kind.to_string(),
        };
        cuts.record(&label, Some(h.connected.unwrap_or(h.opened)), at);
    }
    let connected = held.iter().filter(|h| h.connected.is_some()).count();
    json!({
        "target": plan.target.to_string(),
        "count": plan.count,
        "rate": plan.rate,
        "byte_interval_ms": plan.interval.as_millis() as u64,
        "opened": held.len(),
        "connected": connected,
        "connect_failures": connect_failures,
        "connect_error_example": first_connect_error,
        "cut_by_server": cuts.timed(),
        "cut_how": cuts.how,
        "cut_after_connect_ms": cuts.after_ms(),
        "first_cut_at_s": cuts.first_at_s(ctx),
        "last_cut_at_s": cuts.last_at_s(ctx),
        "open_at_end": held.iter().filter(|h| h.end.is_none() && h.connected.is_some()).count(),
        "request_bytes_sent": held.iter().map(|h| h.sent as u64).sum::<u64>(),
        "request_bytes_each": held.first().map(|h| h.request.len()),
        "reply_status": replies,
        "open_by_second": live_by_second,
    })
}
