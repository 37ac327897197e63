//! Slow fragmented messages: N upgraded connections each send one text
//! message of just under `max_message_size` as continuation frames, one
//! fragment every `--fragment-ms`, answering pings meanwhile. Each
//! connection makes the gateway hold a message being assembled; the
//! figures are the gateway's RSS (before, peak, per connection, after the
//! connections closed, per round) and how the gateway ended each one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::cli::FragmentsArgs;
use super::wire::{self, Dial, DialStep, PeerEnd, RawPeer};
use super::{Ctx, Endings};
use crate::procfs;
use crate::stats::new_histogram;

/// After our close frame, the gateway's close may take this long.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
const RSS_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Dialing,
    Sending,
    /// Last fragment sent; waiting for the answer.
    Answering,
    /// Answered; our close frame is out.
    Closing,
    Done,
}

struct Sender {
    dial: Option<Dial>,
    peer: Option<RawPeer>,
    stage: Stage,
    /// Bytes of the message queued so far.
    offset: usize,
    first_fragment: Option<Instant>,
    closing_since: Option<Instant>,
    /// When and how it ended; `by_gateway` unless we finished it.
    end: Option<(Instant, String, bool)>,
    answer_type: Option<u8>,
}

pub fn run(a: &FragmentsArgs, ctx: &Ctx) -> Result<Value, String> {
    if a.fragment_bytes == 0 || a.message_bytes < 64 {
        return Err("--fragment-bytes must be > 0 and --message-bytes ≥ 64".into());
    }
    let message = data_transfer_of(a.message_bytes);
    let mut rounds = Vec::new();
    for round in 0..a.rounds {
        if !ctx.running() {
            break;
        }
        rounds.push(run_round(a, ctx, round, &message)?);
    }
    Ok(json!({
        "count": a.count,
        "message_bytes": message.len(),
        "fragment_bytes": a.fragment_bytes,
        "fragments_per_message": message.len().div_ceil(a.fragment_bytes),
        "fragment_ms": a.fragment_ms,
        "rounds": rounds,
    }))
}

/// `[2,"1","DataTransfer",{"vendorId":"perf","data":"aaa…"}]` of exactly
/// `total` bytes: a valid CALL once complete.
fn data_transfer_of(total: usize) -> Vec<u8> {
    let (head, tail) = (
        r#"[2,"1","DataTransfer",{"vendorId":"perf","data":""#,
        r#""}]"#,
    );
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(head.as_bytes());
    m.resize(total - tail.len(), b'a');
    m.extend_from_slice(tail.as_bytes());
    m
}

fn run_round(a: &FragmentsArgs, ctx: &Ctx, round: u32, message: &[u8]) -> Result<Value, String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let interval = Duration::from_millis(a.fragment_ms);
    let mut senders: Vec<Sender> = Vec::new();
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut dial_failures: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut late = 0u64;
    let rss = |t: f64| ctx.server_pid.map(|p| procfs::sample_pid(p, t));
    let before = rss(ctx.t(Instant::now()));
    let (mut peak, mut peak_at) = (
        before.as_ref().and_then(|s| s.rss_kib),
        ctx.t(Instant::now()),
    );
    let mut next_rss = Instant::now() + RSS_EVERY;
    let started = Instant::now();
    loop {
        let now = Instant::now();
        while (senders.len() as u32) < a.count
            && ctx.running()
            && started + Duration::from_secs_f64(senders.len() as f64 / a.rate) <= now
        {
            let i = senders.len();
            senders.push(open(ctx, &poll, round, i, &mut dial_failures));
        }
        while let Some(Reverse((at, i))) = due.peek().copied() {
            if at > now {
                break;
            }
            due.pop();
            let s = &mut senders[i];
            if s.stage != Stage::Sending || !ctx.running() {
                continue;
            }
            let p = s.peer.as_mut().expect("sending peers are open");
            if p.pending() > 0 {
                late += 1; // the gateway has not taken the previous one yet
            } else {
                let end = (s.offset + a.fragment_bytes).min(message.len());
                let opcode = if s.offset == 0 {
                    OpCode::Data(Data::Text)
                } else {
                    OpCode::Data(Data::Continue)
                };
                p.queue_frame(opcode, end == message.len(), &message[s.offset..end], true);
                s.offset = end;
                s.first_fragment.get_or_insert(now);
                if end == message.len() {
                    s.stage = Stage::Answering;
                }
                if let Err(e) = p.flush() {
                    finish(s, now, e.name().into(), true);
                }
            }
            if s.stage == Stage::Sending {
                due.push(Reverse((now + interval, i)));
            }
        }
        for s in senders.iter_mut().filter(|s| s.stage == Stage::Closing) {
            if s.closing_since.is_some_and(|t| now - t > CLOSE_WAIT) {
                finish(s, now, "close_timeout".into(), false);
            }
        }
        if now >= next_rss {
            next_rss = now + RSS_EVERY;
            if let Some(r) = rss(ctx.t(now)).and_then(|s| s.rss_kib)
                && Some(r) > peak
            {
                (peak, peak_at) = (Some(r), ctx.t(now));
            }
        }
        let all_open = senders.len() as u32 == a.count || !ctx.running();
        if all_open && senders.iter().all(|s| s.stage == Stage::Done) {
            break;
        }
        if !ctx.running() && now > ctx.deadline + CLOSE_WAIT {
            break; // out of time: what is not done stays unfinished
        }
        let _ = poll.poll(&mut events, Some(Duration::from_millis(10)));
        for ev in events.iter() {
            let i = ev.token().0;
            if let Some(s) = senders.get_mut(i) {
                on_ready(s, i, &mut due, &mut dial_failures);
            }
        }
    }
    let round_s = started.elapsed().as_secs_f64();
    let upgraded = senders
        .iter()
        .filter(|s| s.first_fragment.is_some() || s.peer.is_some())
        .count();
    let unfinished = senders.iter().filter(|s| s.stage != Stage::Done).count();
    close_all(&mut senders);
    // Every connection of this round is closed now (ours or the gateway's doing).
    let settle_until = Instant::now() + Duration::from_secs_f64(a.round_settle);
    while Instant::now() < settle_until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = rss(ctx.t(Instant::now()));
    let r0 = before.as_ref().and_then(|s| s.rss_kib);
    Ok(json!({
        "round": round + 1,
        "round_s": procfs::round3(round_s),
        "opened": senders.len(),
        "upgraded": upgraded,
        "dial_failures": dial_failures,
        "fragments_late": late,
        "unfinished_at_deadline": unfinished,
        "outcome": outcome(ctx, &senders),
        "rss_before_kib": r0,
        "rss_peak_kib": peak,
        "rss_peak_at_s": peak_at,
        "rss_peak_per_conn_kib": match (r0, peak) {
            (Some(a0), Some(p)) if upgraded > 0 => Some(procfs::round3((p as f64 - a0 as f64) / upgraded as f64)),
            _ => None,
        },
        "rss_after_close_kib": after.as_ref().and_then(|s| s.rss_kib),
        "fds_after_close": after.as_ref().and_then(|s| s.fds),
    }))
}

/// Closes every socket of the round still open, keeping the records.
fn close_all(senders: &mut [Sender]) {
    let now = Instant::now();
    for s in senders.iter_mut() {
        if s.end.is_none() {
            s.end = Some((now, "unfinished".into(), false));
        }
        s.dial = None;
        s.peer = None;
    }
}

fn open(
    ctx: &Ctx,
    poll: &Poll,
    round: u32,
    i: usize,
    failures: &mut BTreeMap<&'static str, u64>,
) -> Sender {
    let mut s = Sender {
        dial: None,
        peer: None,
        stage: Stage::Dialing,
        offset: 0,
        first_fragment: None,
        closing_since: None,
        end: None,
        answer_type: None,
    };
    let id = format!("FRAG{}x{i}", round + 1);
    match Dial::start(ctx, i, &id, None) {
        Ok(mut dial) => {
            let sock = dial.socket().expect("a new dial is connecting");
            if poll
                .registry()
                .register(sock, Token(i), Interest::READABLE | Interest::WRITABLE)
                .is_ok()
            {
                s.dial = Some(dial);
                return s;
            }
            *failures.entry("register").or_default() += 1;
        }
        Err(_) => *failures.entry("connect_error").or_default() += 1,
    }
    s.stage = Stage::Done;
    s
}

fn finish(s: &mut Sender, at: Instant, how: String, by_gateway: bool) {
    s.end = Some((at, how, by_gateway));
    s.stage = Stage::Done;
    s.peer = None;
}

fn on_ready(
    s: &mut Sender,
    i: usize,
    due: &mut BinaryHeap<Reverse<(Instant, usize)>>,
    failures: &mut BTreeMap<&'static str, u64>,
) {
    let now = Instant::now();
    if let Some(dial) = s.dial.as_mut() {
        match dial.advance() {
            DialStep::Pending => return,
            DialStep::Failed(f) => {
                *failures.entry(f.kind.name()).or_default() += 1;
                s.dial = None;
                s.stage = Stage::Done;
                s.end = Some((now, format!("dial_{}", f.kind.name()), false));
                return;
            }
            DialStep::Open(p) => {
                s.dial = None;
                s.peer = Some(p);
                s.stage = Stage::Sending;
                due.push(Reverse((now, i)));
            }
        }
    }
    let Some(p) = s.peer.as_mut() else { return };
    let (mut close, mut text) = (None, None);
    let r = p.read(|op, _fin, payload| match op {
        OpCode::Control(Control::Close) => close = Some(wire::close_code(payload)),
        OpCode::Data(Data::Text) => {
            text = crate::ocpp::scan_head(&String::from_utf8_lossy(payload)).map(|(t, _)| t)
        }
        _ => {}
    });
    if let Some(t) = text {
        s.answer_type = Some(t);
    }
    if let Some(code) = close {
        if s.stage == Stage::Closing {
            return finish(s, now, "completed".into(), false);
        }
        let how = p.echo_close(code);
        return finish(s, now, how, true);
    }
    match r {
        Err(PeerEnd::Eof) if s.stage == Stage::Closing => {
            return finish(s, now, "completed".into(), false);
        }
        Err(e) => return finish(s, now, e.name().into(), true),
        Ok(()) => {}
    }
    if s.stage == Stage::Answering && s.answer_type.is_some() {
        p.queue_frame(
            OpCode::Control(Control::Close),
            true,
            &1000u16.to_be_bytes(),
            true,
        );
        s.stage = Stage::Closing;
        s.closing_since = Some(now);
    }
    if let Err(e) = p.flush() {
        finish(s, now, e.name().into(), true);
    }
}

/// How the round's connections ended: by the gateway (close code, fin,
/// reset) and when, or completed by us after the answer.
fn outcome(ctx: &Ctx, senders: &[Sender]) -> Value {
    let mut how: BTreeMap<String, u64> = BTreeMap::new();
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_gateway = Endings::default();
    let mut offsets = new_histogram();
    for s in senders {
        if let Some(t) = s.answer_type {
            *answers.entry(format!("type_{t}")).or_default() += 1;
        }
        let Some((at, kind, gateway_ended)) = &s.end else {
            continue;
        };
        *how.entry(kind.clone()).or_default() += 1;
        if *gateway_ended {
            by_gateway.record(kind, s.first_fragment, *at);
            // The message bytes we had queued when it was cut.
            offsets.saturating_record(s.offset.max(1) as u64);
        }
    }
    json!({
        "how": how,
        "answers": answers,
                "ended_by_gateway": by_gateway.timed(),
        "gateway_ended_after_first_fragment_ms": by_gateway.after_ms(),
        "gateway_ended_at_message_bytes": {
            "p50": if offsets.is_empty() { 0 } else { offsets.value_at_quantile(0.5) },
            "max": offsets.max(),
        },
                "last_gateway_end_at_s": by_gateway.last_at_s(ctx),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_message_is_a_data_transfer_of_the_asked_size() {
        let m = super::data_transfer_of(1000);
        assert_eq!(m.len(), 1000);
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v[2], "DataTransfer");
    }
}
