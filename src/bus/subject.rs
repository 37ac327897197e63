//! The subject of a journal line, `{prefix}.up.{token(cp)}.{kind}`, read
//! from the line's first fields without parsing the rest of it.
//!
//! The journal writer puts `cp` and `kind` in the line's head (`{"ts":…,
//! "cp":…,"reactor":…,"dir":…,"kind":…,` then the payload), so a scan that
//! stops at `kind` never reads the payload. The scan accepts only what it
//! fully understands (no whitespace, strings without escapes, plain
//! numbers); any other line goes through serde_json as before, so both
//! paths give the same subject for every line.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use super::token;

/// Appends the subject of `line` to `out`; false (and `out` as it was) when
/// the line is not a record with a string `cp` and `kind`.
pub fn append(prefix: &str, line: &[u8], out: &mut BytesMut) -> bool {
    let (cp, kind) = match scan_head(line) {
        Some((cp, kind)) => (Cow::Borrowed(cp), Cow::Borrowed(kind)),
        None => match serde_json::from_slice::<Head>(line) {
            Ok(head) => (
                Cow::Owned(head.cp.as_bytes().to_vec()),
                Cow::Owned(head.kind.into_owned().into_bytes()),
            ),
            Err(_) => return false,
        },
    };
    out.reserve(prefix.len() + ".up.".len() + cp.len() * 3 + 1 + kind.len());
    out.put_slice(prefix.as_bytes());
    out.put_slice(b".up.");
    token::encode_into(&cp, out);
    out.put_u8(b'.');
    out.put_slice(&kind);
    true
}

/// The two fields of a journal line that make its subject (the slow path).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    cp: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// `cp` and `kind` of a line the writer wrote, or `None` for anything the
/// scan does not read (serde_json then decides). It reads the object's
/// members in order until it has seen both; the values before them must be
/// escape-free strings or numbers. It does not look past `kind`: the rest
/// of a line is JSON because the journal writer only writes JSON (payloads
/// are validated raw values), and a line cut short never reaches here (the
/// tail returns whole lines only); it checks the closing brace all the same.
fn scan_head(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.last() != Some(&b'}') {
        return None;
    }
    let mut rest = line.strip_prefix(b"{")?;
    let (mut cp, mut kind) = (None, None);
    loop {
        let (key, after_key) = plain_string(rest)?;
        let after_colon = after_key.strip_prefix(b":")?;
        let (value, after_value) = match after_colon.first()? {
            b'"' => {
                let (value, after) = plain_string(after_colon)?;
                (Some(value), after)
            }
            b'-' | b'0'..=b'9' => {
                let end = after_colon
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(after_colon.len());
                (None, &after_colon[end..])
            }
            _ => return None,
        };
        match key {
            // Not a string, or a second one: serde_json's to judge.
            b"cp" if cp.is_none() => cp = Some(value?),
            b"kind" if kind.is_none() => kind = Some(value?),
            b"cp" | b"kind" => return None,
            _ => {}
        }
        if let (Some(cp), Some(kind)) = (cp, kind) {
            // Our kinds are lower-case words; anything else goes the slow way.
            let word =
                |k: &[u8]| !k.is_empty() && k.iter().all(|b| b.is_ascii_lowercase() || *b == b'_');
            return word(kind).then_some((cp, kind));
        }
        rest = after_value.strip_prefix(b",")?;
    }
}

/// A string at the start of `s` with no escape in it: its bytes and what
/// follows its closing quote.
fn plain_string(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = s.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', body)?;
    (body[end] == b'"').then(|| (&body[..end], &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(line: &str) -> Option<String> {
        let mut out = BytesMut::new();
        append("ocpp", line.as_bytes(), &mut out).then(|| String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn reads_the_head_of_a_journal_line() {
        let line = "{\"ts\":\"2026-11-24T20:20:38.541Z\",\"cp\":\"CP-1\",\"reactor\":3,\
                    \"dir\":\"in\",\"kind\":\"call\",\"action\":\"Heartbeat\",\"id\":\"42\",\
                    \"payload\":{}}";
        assert!(scan_head(line.as_bytes()).is_some(), "the fast path");
        assert_eq!(subject(line).as_deref(), Some("ocpp.up.CP-1.call"));
    }

    #[test]
    fn ids_are_tokens_on_both_paths() {
        // Fast path: no escape in the id.
        assert_eq!(
            subject("{\"cp\":\"cp.7*\",\"kind\":\"connect\"}").as_deref(),
            Some("ocpp.up.cp=2E7=2A.connect")
        );
        // Slow path: an escaped character, whitespace, a payload first.
        for (line, expected) in [
            (
                "{\"kind\":\"call\", \"cp\":\"a\\u002eb\"}",
                "ocpp.up.a=2Eb.call",
            ),
            (
                "{\"payload\":{\"x\":1},\"cp\":\"A\",\"kind\":\"call\"}",
                "ocpp.up.A.call",
            ),
        ] {
            assert!(scan_head(line.as_bytes()).is_none(), "{line}");
            assert_eq!(subject(line).as_deref(), Some(expected), "{line}");
        }
    }

    #[test]
    fn what_is_not_a_record_has_no_subject() {
        for line in [
            "not json",
            "{\"cp\":1,\"kind\":\"call\"}",
            "{\"cp\":\"A\"}",
            "{\"cp\":\"A\",\"cp\":\"B\",\"kind\":\"call\"}",
            "[1,2]",
            "{\"cp\":\"A\",\"kind\":\"call\"",
        ] {
            assert_eq!(subject(line), None, "{line}");
        }
    }
}
