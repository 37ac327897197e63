//! A charge point id as one NATS subject token and KV key.
//!
//! Ids may hold `.` and `*` (OCPP-J allows them), which are a separator and
//! a wildcard in subjects, and `:+|@`, which KV keys refuse. Every byte
//! outside `[A-Za-z0-9_-]` is written `=XX` (uppercase hex), `=` itself
//! included, so the encoding is reversible and ids of letters, digits, `-`
//! and `_` (nearly all of them) read as they are.

use bytes::BufMut;

pub fn encode(id: &str) -> String {
    let mut out = Vec::with_capacity(id.len());
    encode_into(id.as_bytes(), &mut out);
    // Only ASCII is pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the token of the id whose bytes are `id` (no allocation of its
/// own: the publisher writes subjects into one shared buffer).
pub fn encode_into(id: &[u8], out: &mut impl BufMut) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in id {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.put_u8(b);
        } else {
            out.put_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
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
