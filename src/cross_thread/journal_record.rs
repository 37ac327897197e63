//! What a journal line holds, and how it is written.
//!
//! Producers (reactors, processors) build a [`JournalRecord`] on their hot
//! path, so building one avoids allocation where it can: the charge point id
//! is a shared `Arc<str>`, action and message id are copied inline (OCPP-J
//! caps ids at 36 characters), and a payload received in a frame is a
//! refcounted slice of that frame. The writer thread turns records into JSON
//! lines by hand into a reused buffer: no per-record allocation there either,
//! and the payload is copied verbatim, never parsed again.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use tungstenite::Utf8Bytes;

use super::calls::CallAnswer;
use crate::json_text::{push_json_str, push_u64};
use crate::time_text::civil_from_days;

/// Who sent the message: `in` = from the charge point, `out` = to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// What happened. Also the last segment of the NATS subject
/// (`{prefix}.up.{id}.{kind}`), so the names are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A WebSocket connection was established (dir `in`).
    Connect,
    /// The connection ended, whoever closed it.
    Disconnect,
    /// A CALL from the charge point (dir `in`).
    Call,
    /// A CALLRESULT: our answer (`out`) or the charge point's (`in`).
    Result,
    /// A CALLERROR, either way.
    Error,
    /// A CALL from the gateway or backend to the charge point (dir `out`).
    ServerCall,
    /// A server call got no answer within its timeout (dir `out`).
    Timeout,
    /// The charge point answered a server call with a frame that is not a
    /// well-formed CALLRESULT or CALLERROR (`error_description` says why).
    InvalidAnswer,
    /// OCPP 2.1: a SEND from the charge point (dir `in`), valid against its
    /// schema; it has no answer.
    Send,
    /// OCPP 2.1: a CALLRESULTERROR, either way: the charge point could not
    /// process our CALLRESULT (`in`), or we could not process its (`out`).
    ResultError,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Disconnect => "disconnect",
            Kind::Call => "call",
            Kind::Result => "result",
            Kind::Error => "error",
            Kind::ServerCall => "server_call",
            Kind::Timeout => "timeout",
            Kind::InvalidAnswer => "invalid_answer",
            Kind::Send => "send",
            Kind::ResultError => "result_error",
        }
    }
}

/// Inline capacity of [`SmallText`]: OCPP-J message ids (≤ 36), every 1.6
/// and 2.0.1 action name and CALLERROR code fit.
const INLINE: usize = 38;

/// Short text (action, message id, error code) stored without allocating
/// when it fits in [`INLINE`] bytes; longer text is boxed.
#[derive(Clone)]
pub struct SmallText(Small);

#[derive(Clone)]
enum Small {
    /// Invariant: `buf[..len]` is a whole `&str` copied in, so valid UTF-8.
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    Boxed(Box<str>),
}

impl SmallText {
    pub fn new(s: &str) -> SmallText {
        if s.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            SmallText(Small::Inline {
                len: s.len() as u8,
                buf,
            })
        } else {
            SmallText(Small::Boxed(s.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Cannot fail (see the invariant); checking keeps this module free of `unsafe`.
            Small::Inline { len, buf } => std::str::from_utf8(&buf[..*len as usize]).unwrap_or(""),
            Small::Boxed(s) => s,
        }
    }
}

impl From<&str> for SmallText {
    fn from(s: &str) -> SmallText {
        SmallText::new(s)
    }
}

impl fmt::Debug for SmallText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for SmallText {
    fn eq(&self, other: &SmallText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SmallText {}

/// A message payload: JSON text, written into the line verbatim.
///
/// Invariant: the text is valid JSON. Both variants can only be made from a
/// [`RawValue`], which serde_json has already checked while parsing the
/// frame, so the writer never parses it again and a line is always valid.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Owned copy; from a `&RawValue` this is one allocation and a copy, no parse.
    Owned(Box<RawValue>),
    /// A slice of a frame the caller already holds: a refcount, no copy.
    /// Made by [`Payload::in_frame`].
    InFrame(FrameSlice),
}

#[derive(Clone, Debug)]
pub struct FrameSlice {
    frame: Utf8Bytes,
    // u32: frames are capped far below 4 GiB (`websocket.max_message_size`);
    // keeps the record, which the channel copies, small.
    start: u32,
    end: u32,
}

impl Payload {
    /// The payload `raw`, parsed out of `frame`, without copying it: the
    /// record keeps a reference to the frame. If `raw` does not lie inside
    /// `frame` it is copied instead.
    pub fn in_frame(frame: &Utf8Bytes, raw: &RawValue) -> Payload {
        match crate::ocpp::frame::subslice_range(frame.as_str(), raw.get()) {
            Some(range) => Payload::written(frame, range),
            None => Payload::Owned(raw.to_owned()),
        }
    }

    /// A JSON value the gateway wrote itself into `frame` at `range` (the
    /// payload of an answer frame it is about to send): a refcount, no copy,
    /// no parse. The caller guarantees `range` holds exactly that value.
    pub fn written(frame: &Utf8Bytes, range: std::ops::Range<usize>) -> Payload {
        debug_assert!(
            frame
                .as_str()
                .get(range.clone())
                .is_some_and(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()),
            "not a JSON value at {range:?}"
        );
        match (u32::try_from(range.start), u32::try_from(range.end)) {
            (Ok(start), Ok(end)) if start <= end && range.end <= frame.len() => {
                Payload::InFrame(FrameSlice {
                    frame: frame.clone(),
                    start,
                    end,
                })
            }
            _ => Payload::Owned(
                RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!()),
            ),
        }
    }

    /// Copies `raw` (one allocation, no parse).
    pub fn copied(raw: &RawValue) -> Payload {
        Payload::Owned(raw.to_owned())
    }

    /// Checks and takes JSON text the caller built or received unparsed
    /// (server-call payloads). This parses once, to keep the invariant.
    pub fn from_json(text: String) -> Result<Payload, serde_json::Error> {
        RawValue::from_string(text).map(Payload::Owned)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Payload::Owned(raw) => raw.get(),
            // In range and on char boundaries: the range was taken from a
            // `&str` inside this very frame (`in_frame`).
            Payload::InFrame(s) => s
                .frame
                .as_str()
                .get(s.start as usize..s.end as usize)
                .unwrap_or("null"),
        }
    }
}

/// Fields only some kinds carry.
#[derive(Clone, Debug, Default)]
pub enum KindFields {
    #[default]
    None,
    /// `remote`: the peer address of a new connection.
    Connect { remote: SocketAddr },
    /// `close_code`, `close_reason`. Without a close frame the code is 1006.
    Disconnect {
        code: u16,
        reason: Cow<'static, str>,
    },
    /// `error_code`, `error_description` of a CALLERROR; its details are the payload.
    Error {
        code: SmallText,
        description: Cow<'static, str>,
    },
    /// `answer`: the CALLRESULT payload the gateway sent for this CALL (a
    /// charge-point CALL and its answer are one line).
    Answer(Payload),
    /// The gateway answered this CALL with a CALLERROR: `error_code`,
    /// `error_description`, and its details as `answer`. Boxed: rare, and
    /// it keeps the record (which the channel copies) small.
    AnswerError {
        code: SmallText,
        description: Cow<'static, str>,
        details: Box<Payload>,
    },
}

/// One journal line: `{"ts":…,"cp":…,"reactor":…,"dir":…,"kind":…,`
/// then `action`, `id`, `payload` and the [`KindFields`] fields when present.
///
/// Not `Clone`: a record may carry an answer ([`JournalRecord::release`]),
/// which must reach its charge point exactly once.
#[derive(Debug)]
pub struct JournalRecord {
    /// When it happened (taken by the producer, not the writer).
    pub ts: SystemTime,
    pub cp: Arc<str>,
    pub reactor: u16,
    pub dir: Direction,
    pub kind: Kind,
    pub action: Option<SmallText>,
    pub id: Option<SmallText>,
    pub payload: Option<Payload>,
    pub extra: KindFields,
    /// An answer that came after its server call had timed out (`"late":true`).
    pub late: bool,
    /// What lenient mode let through in this CALL (`"lenient":[...]`, a
    /// JSON array of `quirk:path` strings).
    pub lenient: Option<Box<RawValue>>,
    /// The kept command a server call delivers (`"command_id":…`; see
    /// `command_queue`). A thin pointer (rare, so boxed twice): the record
    /// stays within 320 bytes.
    pub command_id: Option<Box<String>>,
    /// The answer this line records, held until the line is written
    /// (write-ahead); the writer then sends it to its reactor. Not written.
    pub release: Option<CallAnswer>,
}

impl JournalRecord {
    pub fn connect(cp: Arc<str>, reactor: u16, remote: SocketAddr) -> JournalRecord {
        JournalRecord {
            extra: KindFields::Connect { remote },
            ..JournalRecord::bare(cp, reactor, Direction::In, Kind::Connect)
        }
    }

    pub fn disconnect(
        cp: Arc<str>,
        reactor: u16,
        code: u16,
        reason: impl Into<Cow<'static, str>>,
    ) -> JournalRecord {
        JournalRecord {
            extra: KindFields::Disconnect {
                code,
                reason: reason.into(),
            },
            ..JournalRecord::bare(cp, reactor, Direction::In, Kind::Disconnect)
        }
    }

    /// A CALL, CALLRESULT or CALLERROR (for CALLERROR add [`KindFields::Error`]).
    pub fn message(
        cp: Arc<str>,
        reactor: u16,
        dir: Direction,
        kind: Kind,
        action: Option<&str>,
        id: &str,
        payload: Payload,
    ) -> JournalRecord {
        JournalRecord {
            action: action.map(SmallText::new),
            id: Some(SmallText::new(id)),
            payload: Some(payload),
            ..JournalRecord::bare(cp, reactor, dir, kind)
        }
    }

    /// Timestamped now, no optional fields.
    pub fn bare(cp: Arc<str>, reactor: u16, dir: Direction, kind: Kind) -> JournalRecord {
        JournalRecord {
            ts: SystemTime::now(),
            cp,
            reactor,
            dir,
            kind,
            action: None,
            id: None,
            payload: None,
            extra: KindFields::None,
            late: false,
            lenient: None,
            command_id: None,
            release: None,
        }
    }

    /// Appends this record as one JSON line, `\n` included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"ts\":\"");
        push_ts(out, self.ts);
        out.extend_from_slice(b"\",\"cp\":");
        push_json_str(out, &self.cp);
        out.extend_from_slice(b",\"reactor\":");
        push_u64(out, self.reactor.into());
        out.extend_from_slice(b",\"dir\":\"");
        out.extend_from_slice(self.dir.as_str().as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.push(b'"');
        if let Some(action) = &self.action {
            out.extend_from_slice(b",\"action\":");
            push_json_str(out, action.as_str());
        }
        if let Some(id) = &self.id {
            out.extend_from_slice(b",\"id\":");
            push_json_str(out, id.as_str());
        }
        if let Some(payload) = &self.payload {
            out.extend_from_slice(b",\"payload\":");
            push_payload(out, payload.as_str());
        }
        match &self.extra {
            KindFields::None => {}
            KindFields::Connect { remote } => {
                // SocketAddr's Display has nothing to escape; a Vec cannot fail to take it.
                let _ = write!(out, ",\"remote\":\"{remote}\"");
            }
            KindFields::Disconnect { code, reason } => {
                out.extend_from_slice(b",\"close_code\":");
                push_u64(out, (*code).into());
                out.extend_from_slice(b",\"close_reason\":");
                push_json_str(out, reason);
            }
            KindFields::Error { code, description } => {
                out.extend_from_slice(b",\"error_code\":");
                push_json_str(out, code.as_str());
                out.extend_from_slice(b",\"error_description\":");
                push_json_str(out, description);
            }
            KindFields::Answer(answer) => {
                out.extend_from_slice(b",\"answer\":");
                push_payload(out, answer.as_str());
            }
            KindFields::AnswerError {
                code,
                description,
                details,
            } => {
                out.extend_from_slice(b",\"error_code\":");
                push_json_str(out, code.as_str());
                out.extend_from_slice(b",\"error_description\":");
                push_json_str(out, description);
                out.extend_from_slice(b",\"answer\":");
                push_payload(out, details.as_str());
            }
        }
        if self.late {
            out.extend_from_slice(b",\"late\":true");
        }
        if let Some(notes) = &self.lenient {
            out.extend_from_slice(b",\"lenient\":");
            push_payload(out, notes.get());
        }
        if let Some(command_id) = &self.command_id {
            out.extend_from_slice(b",\"command_id\":");
            push_json_str(out, command_id);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Copies JSON text verbatim except that `\n` and `\r` become spaces, so
/// a pretty-printed payload cannot break the one-line-per-record format.
/// This does not change the JSON: in valid JSON those bytes only occur as
/// whitespace between tokens (inside strings they must be escaped).
fn push_payload(out: &mut Vec<u8>, json: &str) {
    let start = out.len();
    out.extend_from_slice(json.as_bytes());
    for b in &mut out[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
}

fn push_digits(out: &mut Vec<u8>, n: u64, width: usize) {
    for p in (0..width).rev() {
        out.push(b'0' + (n / 10u64.pow(p as u32) % 10) as u8);
    }
}

/// `2026-11-24T20:20:38.541Z` (RFC 3339, UTC, milliseconds). Times before
/// 1970 (a broken clock) are written as the epoch.
pub(crate) fn push_ts(out: &mut Vec<u8>, ts: SystemTime) {
    let since = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let day_secs = secs % 86_400;
    push_digits(out, y as u64, 4);
    out.push(b'-');
    push_digits(out, m.into(), 2);
    out.push(b'-');
    push_digits(out, d.into(), 2);
    out.push(b'T');
    push_digits(out, day_secs / 3600, 2);
    out.push(b':');
    push_digits(out, day_secs / 60 % 60, 2);
    out.push(b':');
    push_digits(out, day_secs % 60, 2);
    out.push(b'.');
    push_digits(out, since.subsec_millis().into(), 3);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(r: &JournalRecord) -> String {
        let mut out = Vec::new();
        r.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_match_humantime() {
        for secs in [
            0u64,
            59,
            951_782_400,
            1_795_551_638,
            4_107_542_399,
            253_402_300_799,
        ] {
            for ms in [0u64, 7, 541, 999] {
                let t = UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms);
                let mut out = Vec::new();
                push_ts(&mut out, t);
                let want = humantime::format_rfc3339_millis(t).to_string();
                assert_eq!(String::from_utf8(out).unwrap(), want);
            }
        }
    }

    #[test]
    fn call_line_has_every_field_and_the_payload_verbatim() {
        let frame = Utf8Bytes::from(r#"[2,"42","Heartbeat",{ "a" : [1, 2] }]"#);
        let parsed: Vec<&RawValue> = serde_json::from_str(frame.as_str()).unwrap();
        let payload = Payload::in_frame(&frame, parsed[3]);
        assert!(matches!(payload, Payload::InFrame(_)));
        let mut r = JournalRecord::message(
            "CP-1".into(),
            3,
            Direction::In,
            Kind::Call,
            Some("Heartbeat"),
            "42",
            payload,
        );
        r.ts = UNIX_EPOCH + Duration::from_millis(1_795_551_638_541);
        assert_eq!(
            line(&r),
            "{\"ts\":\"2026-11-24T20:20:38.541Z\",\"cp\":\"CP-1\",\"reactor\":3,\"dir\":\"in\",\
             \"kind\":\"call\",\"action\":\"Heartbeat\",\"id\":\"42\",\"payload\":{ \"a\" : [1, 2] }}\n"
        );
    }

    #[test]
    fn pretty_printed_payload_stays_on_one_line() {
        let raw = RawValue::from_string("{\r\n  \"a\": \"x\\ny\"\n}".into()).unwrap();
        let r = JournalRecord::message(
            "CP".into(),
            0,
            Direction::Out,
            Kind::Result,
            None,
            "1",
            Payload::copied(&raw),
        );
        let l = line(&r);
        assert_eq!(l.matches('\n').count(), 1);
        assert!(l.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["payload"]["a"], "x\ny");
    }

    #[test]
    fn payload_outside_the_frame_is_copied() {
        let frame = Utf8Bytes::from("[2,\"1\",\"A\",{}]");
        let other: Box<RawValue> = RawValue::from_string("{\"x\":1}".into()).unwrap();
        let p = Payload::in_frame(&frame, &other);
        assert!(matches!(p, Payload::Owned(_)));
        assert_eq!(p.as_str(), "{\"x\":1}");
        assert!(Payload::from_json("{".into()).is_err());
    }

    #[test]
    fn extras_and_escapes() {
        let cp: Arc<str> = "C\"P\\\n\u{1}é".into();
        let c = JournalRecord::connect(cp.clone(), 0, "[::1]:4242".parse().unwrap());
        let v: serde_json::Value = serde_json::from_str(&line(&c)).unwrap();
        assert_eq!(v["cp"], &*cp);
        assert_eq!(v["remote"], "[::1]:4242");
        assert_eq!(v["kind"], "connect");
        assert!(v.get("payload").is_none());

        let d = JournalRecord::disconnect(cp.clone(), 65535, 1001, "going away");
        let v: serde_json::Value = serde_json::from_str(&line(&d)).unwrap();
        assert_eq!(v["close_code"], 1001);
        assert_eq!(v["close_reason"], "going away");
        assert_eq!(v["reactor"], 65535);

        let mut e = JournalRecord::message(
            cp,
            1,
            Direction::Out,
            Kind::Error,
            None,
            "x",
            Payload::from_json("{}".into()).unwrap(),
        );
        e.extra = KindFields::Error {
            code: "OccurrenceConstraintViolation".into(),
            description: "missing \"interval\"".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&line(&e)).unwrap();
        assert_eq!(v["error_code"], "OccurrenceConstraintViolation");
        assert_eq!(v["error_description"], "missing \"interval\"");
        assert_eq!(v["dir"], "out");
    }

    #[test]
    fn a_call_line_carries_its_answer_or_its_callerror() {
        let cp: Arc<str> = Arc::from("CP-1");
        let call = |extra| {
            let mut r = JournalRecord::message(
                cp.clone(),
                0,
                Direction::In,
                Kind::Call,
                Some("Authorize"),
                "7",
                Payload::from_json(r#"{"idTag":"T"}"#.into()).unwrap(),
            );
            r.extra = extra;
            serde_json::from_str::<serde_json::Value>(&line(&r)).unwrap()
        };
        let ok = call(KindFields::Answer(
            Payload::from_json(r#"{"idTagInfo":{"status":"Accepted"}}"#.into()).unwrap(),
        ));
        assert_eq!(ok["payload"]["idTag"], "T");
        assert_eq!(ok["answer"]["idTagInfo"]["status"], "Accepted");
        assert!(ok.get("error_code").is_none());
        let refused = call(KindFields::AnswerError {
            code: "FormationViolation".into(),
            description: "bad".into(),
            details: Box::new(Payload::from_json(r#"{"field":"idTag"}"#.into()).unwrap()),
        });
        assert_eq!(refused["error_code"], "FormationViolation");
        assert_eq!(refused["error_description"], "bad");
        assert_eq!(refused["answer"]["field"], "idTag");
    }

    #[test]
    fn a_record_stays_small() {
        // Every channel slot holds one; the channel copies it in and out.
        // (A CALL's record carries its answer until written: write-ahead.)
        assert!(
            std::mem::size_of::<JournalRecord>() <= 320,
            "{}",
            std::mem::size_of::<JournalRecord>()
        );
        assert_eq!(std::mem::size_of::<SmallText>(), 40);
    }

    #[test]
    fn small_text_inline_and_boxed() {
        let short = SmallText::new("0123456789abcdef0123456789abcdef0123");
        assert!(matches!(short.0, Small::Inline { .. }));
        assert_eq!(short.as_str(), "0123456789abcdef0123456789abcdef0123");
        let long = "é".repeat(30);
        let t = SmallText::new(&long);
        assert!(matches!(t.0, Small::Boxed(_)));
        assert_eq!(t.as_str(), long);
    }
}
