//! The OCPP-J RPC envelope: `[2,id,action,payload]`, `[3,id,payload]`,
//! `[4,id,code,description,details]` (OCPP-J 1.6 §4, OCPP 2.0.1 Part 4 §4),
//! and OCPP 2.1's `[5,id,code,description,details]` (CALLRESULTERROR: "the
//! CALLRESULT you sent me could not be processed") and `[6,id,action,payload]`
//! (SEND: a message that is never answered), OCPP 2.1 Part 4 §4.2.4–4.2.5.
//!
//! Parsing borrows from the frame text: elements are `&RawValue` slices and
//! strings are borrowed unless they contain escapes, so a Heartbeat frame is
//! parsed without allocating. Serialising writes into a caller-owned buffer.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{ErrorCode, OcppVersion, Violation};
use crate::json_text::push_json_str;

/// OCPP-J §4.1.4: a message id is at most 36 characters.
pub const MAX_MESSAGE_ID_LEN: usize = 36;

/// One well-formed RPC frame, borrowing from the text it was parsed from.
#[derive(Debug)]
pub enum Frame<'a> {
    Call {
        id: Cow<'a, str>,
        action: Cow<'a, str>,
        payload: &'a RawValue,
    },
    CallResult {
        id: Cow<'a, str>,
        payload: &'a RawValue,
    },
    CallError {
        id: Cow<'a, str>,
        code: Cow<'a, str>,
        description: Cow<'a, str>,
        details: &'a RawValue,
    },
    /// OCPP 2.1 only (type 5): the answer to a CALLRESULT that could not be
    /// processed. Never answered itself.
    CallResultError {
        id: Cow<'a, str>,
        code: Cow<'a, str>,
        description: Cow<'a, str>,
        details: &'a RawValue,
    },
    /// OCPP 2.1 only (type 6): like a CALL, but never answered.
    Send {
        id: Cow<'a, str>,
        action: Cow<'a, str>,
        payload: &'a RawValue,
    },
}

/// Where a CALL's parts lie in its frame text, as byte ranges. Lets the
/// processor take a CALL the reactor already parsed without parsing the
/// envelope again. Only made when id and action are slices of the text
/// (no JSON escapes), so slicing gives exactly the parsed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRanges {
    id: std::ops::Range<u32>,
    action: std::ops::Range<u32>,
    payload: std::ops::Range<u32>,
    /// A SEND (type 6), not a CALL: never answered.
    send: bool,
}

impl CallRanges {
    /// The message is a SEND (OCPP 2.1 type 6), which gets no answer.
    pub fn is_send(&self) -> bool {
        self.send
    }

    /// The ranges of the same CALL once its payload (the frame's last
    /// element) is rewritten to `len` bytes: id and action come before it
    /// and do not move.
    pub fn with_payload_len(&self, len: usize) -> Option<CallRanges> {
        let end = self.payload.start.checked_add(u32::try_from(len).ok()?)?;
        Some(CallRanges {
            payload: self.payload.start..end,
            ..self.clone()
        })
    }

    /// (id, action, payload) of the CALL in `text`, the frame these ranges
    /// were taken from; `None` if they do not fit it.
    pub fn slice<'a>(&self, text: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
        let part = |r: &std::ops::Range<u32>| text.get(r.start as usize..r.end as usize);
        Some((part(&self.id)?, part(&self.action)?, part(&self.payload)?))
    }
}

/// The byte range of `part` within `text` when `part` is a slice of it
/// (borrowed, not a copy).
pub fn subslice_range(text: &str, part: &str) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= text.len()).then_some(start..end)
}

impl Frame<'_> {
    /// For a CALL or SEND parsed from `text` whose id and action have no escapes:
    /// where its parts are.
    pub fn call_ranges(&self, text: &str) -> Option<CallRanges> {
        let (Frame::Call {
            id: Cow::Borrowed(id),
            action: Cow::Borrowed(action),
            payload,
        }
        | Frame::Send {
            id: Cow::Borrowed(id),
            action: Cow::Borrowed(action),
            payload,
        }) = self
        else {
            return None;
        };
        let range = |part: &str| {
            let r = subslice_range(text, part)?;
            Some(u32::try_from(r.start).ok()?..u32::try_from(r.end).ok()?)
        };
        Some(CallRanges {
            id: range(id)?,
            action: range(action)?,
            payload: range(payload.get())?,
            send: matches!(self, Frame::Send { .. }),
        })
    }
}

/// What is wrong with a frame that is not a well-formed RPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameErrorKind {
    NotJson,
    NotArray,
    /// The array has the wrong number of elements for its message type.
    WrongArity {
        type_id: i64,
        len: usize,
    },
    /// An element has the wrong JSON type (`messageTypeId` not an integer, …).
    BadElement(&'static str),
    MessageIdTooLong(usize),
    /// Message type id other than 2 to 6, or 5 or 6 on a version without
    /// them (1.6, 2.0.1).
    UnknownMessageType(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// The message id, when it could be read (and is short enough to echo,
    /// [`MAX_ECHOED_ID_LEN`]): then the error can be answered.
    pub message_id: Option<String>,
    /// The message type id, when the frame had a readable one.
    pub message_type: Option<i64>,
    pub kind: FrameErrorKind,
}

impl FrameError {
    /// The frame claims to be a CALLRESULT or CALLERROR: an answer to a
    /// server call, which OCPP-J never answers with a CALLERROR.
    pub fn is_answer(&self) -> bool {
        matches!(self.message_type, Some(3 | 4))
    }

    /// The frame claims to be one that is never answered: a CALLRESULTERROR
    /// or a SEND (OCPP 2.1). Its error can only be logged and counted.
    pub fn is_unanswerable(&self) -> bool {
        matches!(self.message_type, Some(5 | 6))
            && !matches!(self.kind, FrameErrorKind::UnknownMessageType(_))
    }
}

/// Longest message id a CALLERROR echoes. A longer one (already a
/// violation past 36 characters) is treated as unreadable, so an answer is
/// never much larger than the frame that caused it is small.
pub const MAX_ECHOED_ID_LEN: usize = 64;

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FrameErrorKind::NotJson => f.write_str("frame is not valid JSON"),
            FrameErrorKind::NotArray => f.write_str("frame is not a JSON array"),
            FrameErrorKind::WrongArity { type_id, len } => write!(
                f,
                "message type {type_id} needs {} elements, frame has {len}",
                arity(*type_id).unwrap_or(0)
            ),
            FrameErrorKind::BadElement(what) => write!(f, "{what} has the wrong JSON type"),
            FrameErrorKind::MessageIdTooLong(len) => write!(
                f,
                "message id is {len} characters, at most {MAX_MESSAGE_ID_LEN} are allowed"
            ),
            FrameErrorKind::UnknownMessageType(t @ (5 | 6)) => {
                write!(f, "message type id {t} is OCPP 2.1's, not this version's")
            }
            FrameErrorKind::UnknownMessageType(t) => {
                write!(f, "message type id {t} is not one of 2 to 6")
            }
        }
    }
}

fn arity(type_id: i64) -> Option<usize> {
    match type_id {
        2 | 6 => Some(4),
        3 => Some(3),
        4 | 5 => Some(5),
        _ => None,
    }
}

/// At most five top-level elements, collected without a heap allocation.
struct Elements<'a> {
    items: [Option<&'a RawValue>; 5],
    len: usize,
}

impl<'de> serde::Deserialize<'de> for Elements<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementsVisitor;
        impl<'de> Visitor<'de> for ElementsVisitor {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OCPP-J message array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elements<'de>, A::Error> {
                let mut out = Elements {
                    items: [None; 5],
                    len: 0,
                };
                while out.len < out.items.len() {
                    match seq.next_element::<&'de RawValue>()? {
                        Some(raw) => {
                            out.items[out.len] = Some(raw);
                            out.len += 1;
                        }
                        None => return Ok(out),
                    }
                }
                // Count the excess so the arity error reports the true length.
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.len += 1;
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(ElementsVisitor)
    }
}

/// A JSON string element, borrowed unless it holds escapes.
fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// Parses one text frame received on a connection speaking `version`:
/// [`parse`], except that types 5 and 6 are unknown message types on the
/// versions without them, whatever else is wrong with the frame.
pub fn parse_for(text: &str, version: OcppVersion) -> Result<Frame<'_>, FrameError> {
    match parse(text) {
        Ok(Frame::CallResultError { id, .. }) if !version.has_send_and_result_error() => {
            Err(unknown_type(5, Some(&id)))
        }
        Ok(Frame::Send { id, .. }) if !version.has_send_and_result_error() => {
            Err(unknown_type(6, Some(&id)))
        }
        Err(mut e) if !version.has_send_and_result_error() => {
            if let Some(t @ (5 | 6)) = e.message_type {
                e.kind = FrameErrorKind::UnknownMessageType(t);
            }
            Err(e)
        }
        other => other,
    }
}

fn unknown_type(type_id: i64, id: Option<&str>) -> FrameError {
    FrameError {
        message_id: id
            .filter(|id| id.chars().count() <= MAX_ECHOED_ID_LEN)
            .map(str::to_owned),
        message_type: Some(type_id),
        kind: FrameErrorKind::UnknownMessageType(type_id),
    }
}

/// Parses one text frame into an RPC message of any OCPP-J version (types
/// 2 to 6); [`parse_for`] applies a connection's version.
pub fn parse(text: &str) -> Result<Frame<'_>, FrameError> {
    let elements: Elements<'_> = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(_) => {
            let kind = if serde_json::from_str::<IgnoredAny>(text).is_ok() {
                FrameErrorKind::NotArray
            } else {
                FrameErrorKind::NotJson
            };
            return Err(FrameError {
                message_id: None,
                message_type: None,
                kind,
            });
        }
    };
    let item = |i: usize| elements.items.get(i).copied().flatten();
    let id = item(1).and_then(json_str);
    let type_id = item(0).and_then(|raw| raw.get().parse::<i64>().ok());
    let echoed = id
        .as_deref()
        .filter(|id| id.chars().count() <= MAX_ECHOED_ID_LEN);
    let fail = |kind| {
        Err(FrameError {
            message_id: echoed.map(str::to_owned),
            message_type: type_id,
            kind,
        })
    };
    let Some(type_id) = type_id else {
        return fail(FrameErrorKind::BadElement("messageTypeId"));
    };
    let Some(expected) = arity(type_id) else {
        return fail(FrameErrorKind::UnknownMessageType(type_id));
    };
    if elements.len != expected {
        return fail(FrameErrorKind::WrongArity {
            type_id,
            len: elements.len,
        });
    }
    let Some(id) = id.clone() else {
        return fail(FrameErrorKind::BadElement("messageId"));
    };
    let id_len = id.chars().count();
    if id_len > MAX_MESSAGE_ID_LEN {
        return fail(FrameErrorKind::MessageIdTooLong(id_len));
    }
    // Arity was checked above, so every index below holds an element.
    let (Some(e2), last) = (item(2), item(expected - 1)) else {
        return fail(FrameErrorKind::WrongArity {
            type_id,
            len: elements.len,
        });
    };
    match type_id {
        2 | 6 => {
            let Some(action) = json_str(e2) else {
                return fail(FrameErrorKind::BadElement("action"));
            };
            match last {
                Some(payload) if is_object(payload) && type_id == 2 => Ok(Frame::Call {
                    id,
                    action,
                    payload,
                }),
                Some(payload) if is_object(payload) => Ok(Frame::Send {
                    id,
                    action,
                    payload,
                }),
                _ => fail(FrameErrorKind::BadElement("payload")),
            }
        }
        3 => match last {
            Some(payload) if is_object(payload) => Ok(Frame::CallResult { id, payload }),
            _ => fail(FrameErrorKind::BadElement("payload")),
        },
        _ => {
            let Some(code) = json_str(e2) else {
                return fail(FrameErrorKind::BadElement("errorCode"));
            };
            let Some(description) = item(3).and_then(json_str) else {
                return fail(FrameErrorKind::BadElement("errorDescription"));
            };
            match last {
                Some(details) if is_object(details) && type_id == 4 => Ok(Frame::CallError {
                    id,
                    code,
                    description,
                    details,
                }),
                Some(details) if is_object(details) => Ok(Frame::CallResultError {
                    id,
                    code,
                    description,
                    details,
                }),
                _ => fail(FrameErrorKind::BadElement("errorDetails")),
            }
        }
    }
}

/// `[3,"id",payload]`; `payload` is JSON text of an object.
pub fn write_call_result(out: &mut String, id: &str, payload: &str) {
    out.push_str("[3,");
    push_json_str(out, id);
    out.push(',');
    out.push_str(payload);
    out.push(']');
}

/// `[2,"id","action",payload]`; `payload` is JSON text of an object.
pub fn write_call(out: &mut String, id: &str, action: &str, payload: &str) {
    out.push_str("[2,");
    push_json_str(out, id);
    out.push(',');
    push_json_str(out, action);
    out.push(',');
    out.push_str(payload);
    out.push(']');
}

/// `[4,"id","code","description",details]`; details name the offending
/// field when there is one (`{"field":"idTagInfo.status"}`), else `{}`.
pub fn write_call_error(
    out: &mut String,
    version: OcppVersion,
    id: &str,
    code: ErrorCode,
    description: &str,
    field: Option<&str>,
) {
    write_error_frame(out, 4, version, id, code, description, field);
}

/// `[5,"id","code","description",details]` (OCPP 2.1): the CALLRESULT with
/// this id could not be processed; details as for [`write_call_error`].
pub fn write_call_result_error(
    out: &mut String,
    version: OcppVersion,
    violation: &Violation,
    id: &str,
) {
    write_error_frame(
        out,
        5,
        version,
        id,
        violation.code,
        &violation.description,
        violation.field.as_deref(),
    );
}

fn write_error_frame(
    out: &mut String,
    type_id: u8,
    version: OcppVersion,
    id: &str,
    code: ErrorCode,
    description: &str,
    field: Option<&str>,
) {
    out.push('[');
    out.push(char::from(b'0' + type_id));
    out.push(',');
    push_json_str(out, id);
    out.push(',');
    push_json_str(out, code.as_str(version));
    out.push(',');
    push_json_str(out, description);
    match field {
        Some(field) => {
            out.push_str(",{\"field\":");
            push_json_str(out, field);
            out.push_str("}]");
        }
        None => out.push_str(",{}]"),
    }
}

/// The CALLERROR answering a refused CALL.
pub fn write_violation(out: &mut String, version: OcppVersion, id: &str, violation: &Violation) {
    if let Some(details) = &violation.details {
        out.push_str("[4,");
        push_json_str(out, id);
        out.push(',');
        push_json_str(out, violation.code.as_str(version));
        out.push(',');
        push_json_str(out, &violation.description);
        out.push(',');
        out.push_str(details);
        out.push(']');
        return;
    }
    write_call_error(
        out,
        version,
        id,
        violation.code,
        &violation.description,
        violation.field.as_deref(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_call_without_copying() {
        let f = parse(r#"[2, "19223201", "Heartbeat", {}]"#).unwrap();
        match f {
            Frame::Call {
                id,
                action,
                payload,
            } => {
                assert!(matches!(id, Cow::Borrowed("19223201")));
                assert!(matches!(action, Cow::Borrowed("Heartbeat")));
                assert_eq!(payload.get(), "{}");
            }
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn call_ranges_slice_back_to_the_parsed_parts() {
        let text = r#"[2, "id-1", "Heartbeat", {"a":1}]"#;
        let frame = parse(text).unwrap();
        let ranges = frame.call_ranges(text).unwrap();
        assert_eq!(
            ranges.slice(text),
            Some(("id-1", "Heartbeat", r#"{"a":1}"#))
        );
        // An escaped id is not a slice of the text: no ranges, parse instead.
        let escaped = r#"[2, "id\u002d1", "Heartbeat", {}]"#;
        assert_eq!(parse(escaped).unwrap().call_ranges(escaped), None);
    }

    #[test]
    fn parses_result_and_error() {
        assert!(matches!(
            parse(r#"[3,"a",{"x":1}]"#),
            Ok(Frame::CallResult { .. })
        ));
        match parse(r#"[4,"a","NotSupported","no",{}]"#).unwrap() {
            Frame::CallError {
                code, description, ..
            } => {
                assert_eq!(code, "NotSupported");
                assert_eq!(description, "no");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn framing_errors() {
        let kind = |t: &str| parse(t).unwrap_err().kind;
        assert_eq!(kind("nope"), FrameErrorKind::NotJson);
        assert_eq!(kind(r#"{"a":1}"#), FrameErrorKind::NotArray);
        assert_eq!(
            kind(r#"[2,"a","Heartbeat"]"#),
            FrameErrorKind::WrongArity { type_id: 2, len: 3 }
        );
        assert_eq!(
            kind(r#"[2,"a","B",{},1,2,3]"#),
            FrameErrorKind::WrongArity { type_id: 2, len: 7 }
        );
        assert_eq!(
            kind(r#"["2","a","B",{}]"#),
            FrameErrorKind::BadElement("messageTypeId")
        );
        assert_eq!(
            kind(r#"[2,1,"B",{}]"#),
            FrameErrorKind::BadElement("messageId")
        );
        assert_eq!(
            kind(r#"[2,"a",7,{}]"#),
            FrameErrorKind::BadElement("action")
        );
        assert_eq!(
            kind(r#"[2,"a","B",[]]"#),
            FrameErrorKind::BadElement("payload")
        );
        assert_eq!(kind(r#"[7,"a",{}]"#), FrameErrorKind::UnknownMessageType(7));
        assert_eq!(
            kind(r#"[6,"a","NotifyPeriodicEventStream"]"#),
            FrameErrorKind::WrongArity { type_id: 6, len: 3 }
        );
        assert_eq!(
            kind(r#"[5,"a","FormatViolation","x",7]"#),
            FrameErrorKind::BadElement("errorDetails")
        );
        let long = format!(r#"[2,"{}","Heartbeat",{{}}]"#, "x".repeat(37));
        let err = parse(&long).unwrap_err();
        assert_eq!(err.kind, FrameErrorKind::MessageIdTooLong(37));
        assert_eq!(err.message_id.as_deref(), Some("x".repeat(37).as_str()));
    }

    #[test]
    fn send_and_callresulterror_are_2_1_only() {
        let send = r#"[6,"s1","NotifyPeriodicEventStream",{"id":1,"pending":0,"basetime":"2026-01-01T00:00:00Z","data":[]}]"#;
        let result_error = r#"[5,"r1","FormatViolation","bad",{"field":"x"}]"#;
        assert!(matches!(
            parse_for(send, OcppVersion::V21),
            Ok(Frame::Send { .. })
        ));
        match parse_for(result_error, OcppVersion::V21).unwrap() {
            Frame::CallResultError { id, code, .. } => {
                assert_eq!((id.as_ref(), code.as_ref()), ("r1", "FormatViolation"));
            }
            other => panic!("{other:?}"),
        }
        for version in [OcppVersion::V16, OcppVersion::V201] {
            for (text, t) in [(send, 6), (result_error, 5), (r#"[6,"s2","X"]"#, 6)] {
                let e = parse_for(text, version).unwrap_err();
                assert_eq!(e.kind, FrameErrorKind::UnknownMessageType(t), "{text}");
                assert!(e.message_id.is_some());
            }
        }
        // A broken SEND or CALLRESULTERROR on 2.1 cannot be answered.
        assert!(
            parse_for(r#"[6,"s2","X"]"#, OcppVersion::V21)
                .unwrap_err()
                .is_unanswerable()
        );
    }

    #[test]
    fn serialised_frames_parse_back() {
        let mut out = String::new();
        write_call_error(
            &mut out,
            OcppVersion::V16,
            "q\"\n\u{1}",
            ErrorCode::NotImplemented,
            "unknown action \"Foo\"",
            Some("a.b"),
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[1], "q\"\n\u{1}");
        assert_eq!(v[2], "NotImplemented");
        assert_eq!(v[4]["field"], "a.b");
        out.clear();
        let violation =
            Violation::new(ErrorCode::OccurrenceConstraintViolation, "missing").at("status");
        write_call_result_error(&mut out, OcppVersion::V21, &violation, "gw0-1");
        assert_eq!(
            out,
            r#"[5,"gw0-1","OccurrenceConstraintViolation","missing",{"field":"status"}]"#
        );
        out.clear();
        write_call(&mut out, "id", "Reset", r#"{"type":"Soft"}"#);
        assert!(matches!(parse(&out), Ok(Frame::Call { .. })));
    }
}
