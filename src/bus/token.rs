//! A charge point id as one NATS subject token and KV key.
//!
//! Ids may hold `.` and `*` (OCPP-J allows them), which are a separator and
//! a wildcard in subjects, and `:+|@`, which KV keys refuse. Every byte
//! outside `[A-Za-z0-9_-]` is written `=XX` (uppercase hex), `=` itself
//! included, so the encoding is reversible and ids of letters, digits, `-`
//! and `_` (nearly all of them) read as they are.

use std::fmt::Write;

pub fn encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "={b:02X}");
        }
    }
    out
}

/// The id back from its token; `None` if `token` is not an encoding.
pub fn decode(token: &str) -> Option<String> {
    crate::ocpp::handshake::hex_unescape(token, b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_allowed_character() {
        for (id, token) in [
            ("CP-1", "CP-1"),
            ("cp.7", "cp=2E7"),
            ("a*b", "a=2Ab"),
            ("x=y", "x=3Dy"),
            ("A:b+c|d@e", "A=3Ab=2Bc=7Cd=40e"),
        ] {
            assert_eq!(encode(id), token);
            assert_eq!(decode(token).as_deref(), Some(id));
        }
        assert_eq!(decode("bad=Z"), None);
        assert_eq!(decode("bad=ZZ"), None);
    }
}
