//! Garbage frames at volume: K upgraded connections write one kind of bad
//! frame back to back, as fast as the socket takes them, and read whatever
//! the gateway answers. Figures: bytes and frames sent, the answers (count,
//! sizes: a long message id is echoed back), and how and when the gateway
//! closed each connection. A closed connection is replaced by a new one
//! unless `--no-reconnect`, so the volume keeps up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::cli::{Garbage, GarbageArgs};
use super::wire::{self, Dial, DialStep, RawPeer};
use super::{Ctx, Endings};

/// Frames queued ahead of the socket per connection.
const QUEUE_AHEAD: usize = 256 * 1024;

struct Jammer {
    dial: Option<Dial>,
    peer: Option<RawPeer>,
    first_sent: Option<Instant>,
    /// The socket took everything we queued last time: queue more now.
    hungry: bool,
}

#[derive(Default)]
struct Tally {
    opened: u64,
    dial_failures: BTreeMap<String, u64>,
    frames_queued: u64,
    bytes_sent: u64,
    answers: u64,
    answer_bytes: u64,
    answer_min: Option<usize>,
    answer_max: usize,
    answer_types: BTreeMap<String, u64>,
    answer_example: Option<String>,
    closes: Endings,
    frames_before_close: Vec<u64>,
}

/// The bad frame of `kind`, encoded once (masked unless `unmasked`).
pub fn frame_of(kind: Garbage, frame_bytes: usize, id_len: usize) -> Vec<u8> {
    let heartbeat = br#"[2,"1","Heartbeat",{}]"#.to_vec();
    let text = OpCode::Data(Data::Text);
    let (opcode, payload, masked) = match kind {
        Garbage::Brackets => (text, vec![b'['; frame_bytes], true),
        Garbage::NotJson => (text, b"this is not JSON {".to_vec(), true),
        Garbage::WrongArity => (text, br#"[2,"1","Heartbeat"]"#.to_vec(), true),
        Garbage::LongId => (
            text,
            format!(r#"[2,"{}","Heartbeat",{{}}]"#, "7".repeat(id_len)).into_bytes(),
            true,
        ),
        Garbage::InvalidUtf8 => (
            text,
            b"[2,\"1\",\"Heartbeat\",{\"x\":\"\xff\xfe\"}]".to_vec(),
            true,
        ),
        Garbage::OversizedControl => (OpCode::Control(Control::Ping), vec![b'p'; 126], true),
        Garbage::ReservedOpcode => (OpCode::Data(Data::Reserved(3)), heartbeat, true),
        Garbage::Unmasked => (text, heartbeat, false),
        Garbage::Binary => (OpCode::Data(Data::Binary), heartbeat, true),
    };
    let mut out = Vec::new();
    wire::encode(
        &mut out,
        opcode,
        true,
        &payload,
        masked.then_some(wire::MASK),
    );
    out
}

pub fn run(a: &GarbageArgs, ctx: &Ctx) -> Result<Value, String> {
    let frame = frame_of(a.kind, a.frame_bytes, a.id_len);
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut jammers: Vec<Jammer> = Vec::new();
    let mut t = Tally::default();
    let started = Instant::now();
    for _ in 0..a.connections {
        open(ctx, &poll, &mut jammers, &mut t);
    }
    while ctx.running() {
        let mut any_hungry = false;
        for j in jammers.iter_mut() {
            if let Some(p) = j.peer.as_mut()
                && j.hungry
            {
                j.first_sent.get_or_insert_with(Instant::now);
                while p.pending() < QUEUE_AHEAD {
                    p.queue_raw(&frame);
                    t.frames_queued += 1;
                }
                let before = p.sent_bytes;
                let r = p.flush();
                t.bytes_sent += p.sent_bytes - before;
                j.hungry = p.pending() < QUEUE_AHEAD;
                any_hungry |= j.hungry;
                if let Err(e) = r {
                    end(j, e.name().into(), frame.len(), &mut t);
                }
            }
        }
        let live = jammers
            .iter()
            .filter(|j| j.peer.is_some() || j.dial.is_some())
            .count() as u32;
        if !a.no_reconnect {
            for _ in live..a.connections {
                open(ctx, &poll, &mut jammers, &mut t);
            }
        } else if live == 0 {
            break;
        }
        let wait = if any_hungry {
            Duration::ZERO
        } else {
            Duration::from_millis(10)
        };
        let _ = poll.poll(&mut events, Some(wait));
        for ev in events.iter() {
            if let Some(j) = jammers.get_mut(ev.token().0) {
                on_ready(j, frame.len(), &mut t);
            }
        }
    }
    let sending_s = started.elapsed().as_secs_f64();
    Ok(report(a, ctx, &frame, t, sending_s))
}

fn open(ctx: &Ctx, poll: &Poll, jammers: &mut Vec<Jammer>, t: &mut Tally) {
    let i = jammers.len();
    t.opened += 1;
    let mut j = Jammer {
        dial: None,
        peer: None,
        first_sent: None,
        hungry: false,
    };
    match Dial::start(ctx, i, &format!("JUNK{i}"), None) {
        Ok(mut dial) => {
            let s = dial.socket().expect("a new dial is connecting");
            match poll
                .registry()
                .register(s, Token(i), Interest::READABLE | Interest::WRITABLE)
            {
                Ok(()) => j.dial = Some(dial),
                Err(_) => *t.dial_failures.entry("register".into()).or_default() += 1,
            }
        }
        Err(_) => *t.dial_failures.entry("connect_error".into()).or_default() += 1,
    }
    jammers.push(j);
}

fn on_ready(j: &mut Jammer, frame_len: usize, t: &mut Tally) {
    if let Some(dial) = j.dial.as_mut() {
        match dial.advance() {
            DialStep::Pending => return,
            DialStep::Failed(f) => {
                *t.dial_failures.entry(f.kind.name().into()).or_default() += 1;
                j.dial = None;
                return;
            }
            DialStep::Open(p) => {
                j.dial = None;
                j.peer = Some(p);
            }
        }
    }
    let Some(p) = j.peer.as_mut() else { return };
    let mut close = None;
    let r = p.read(|op, _fin, payload| match op {
        OpCode::Control(Control::Close) => close = Some(wire::close_code(payload)),
        OpCode::Data(_) => {
            t.answers += 1;
            t.answer_bytes += payload.len() as u64;
            t.answer_min = Some(t.answer_min.map_or(payload.len(), |m| m.min(payload.len())));
            t.answer_max = t.answer_max.max(payload.len());
            let text = String::from_utf8_lossy(payload);
            let ty = crate::ocpp::scan_head(&text)
                .map_or("not_ocpp".to_string(), |(ty, _)| format!("type_{ty}"));
            *t.answer_types.entry(ty).or_default() += 1;
            t.answer_example
                .get_or_insert_with(|| text.chars().take(300).collect());
        }
        _ => {}
    });
    if let Some(code) = close {
        let how = p.echo_close(code);
        return end(j, how, frame_len, t);
    }
    if let Err(e) = r {
        return end(j, e.name().into(), frame_len, t);
    }
    // Writable again (or just upgraded): queue more on the next turn.
    j.hungry = true;
}

fn end(j: &mut Jammer, how: String, frame_len: usize, t: &mut Tally) {
    let now = Instant::now();
    if let Some(p) = j.peer.take() {
        t.closes.record(&how, j.first_sent, now);
        t.frames_before_close.push(p.sent_bytes / frame_len as u64);
    }
    j.hungry = false;
}

fn report(a: &GarbageArgs, ctx: &Ctx, frame: &[u8], mut t: Tally, sending_s: f64) -> Value {
    t.frames_before_close.sort_unstable();
    let before_close = &t.frames_before_close;

    let frames_sent = t.bytes_sent / frame.len() as u64;
    json!({
        "kind": format!("{:?}", a.kind),
        "frame_bytes_on_wire": frame.len(),
        "id_len": (a.kind == Garbage::LongId).then_some(a.id_len),
        "connections": a.connections,
        "reconnect": !a.no_reconnect,
        "connections_opened": t.opened,
        "dial_failures": t.dial_failures,
        "sending_s": crate::procfs::round3(sending_s),
        "frames_queued": t.frames_queued,
        "bytes_sent": t.bytes_sent,
        "frames_sent": frames_sent,
        "frames_sent_per_s": crate::procfs::round3(frames_sent as f64 / sending_s.max(1e-3)),
        "answers": {
            "count": t.answers,
            "bytes": t.answer_bytes,
            "size_min": t.answer_min,
            "size_max": t.answer_max,
            "size_mean": t.answer_bytes.checked_div(t.answers),
            "by_type": t.answer_types,
            "example": t.answer_example,
        },
                "closed_by_gateway": t.closes.timed(),
        "closed_after_first_frame_ms": t.closes.after_ms(),
        "first_close_at_s": t.closes.first_at_s(ctx),
        "close_how": t.closes.how,
        "frames_sent_before_close": {
            "min": before_close.first(),
            "p50": before_close.get(before_close.len() / 2),
            "max": before_close.last(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tungstenite::protocol::frame::FrameHeader;

    #[test]
    fn every_kind_encodes_one_frame() {
        for kind in [
            Garbage::Brackets,
            Garbage::NotJson,
            Garbage::WrongArity,
            Garbage::LongId,
            Garbage::InvalidUtf8,
            Garbage::OversizedControl,
            Garbage::ReservedOpcode,
            Garbage::Unmasked,
            Garbage::Binary,
        ] {
            let f = frame_of(kind, 1000, 37);
            if kind == Garbage::ReservedOpcode {
                // tungstenite's parser refuses opcode 0x3, which is the point.
                assert_eq!(f[0], 0x83);
                continue;
            }
            let mut c = Cursor::new(&f[..]);
            let (h, len) = FrameHeader::parse(&mut c).unwrap().unwrap();
            assert_eq!(c.position() + len, f.len() as u64, "{kind:?}");
            assert_eq!(h.mask.is_none(), kind == Garbage::Unmasked, "{kind:?}");
        }
        assert_eq!(
            frame_of(Garbage::OversizedControl, 0, 0).len(),
            2 + 2 + 4 + 126
        );
    }
}
