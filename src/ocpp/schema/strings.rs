//! String values with schema constraints: `maxLength` and `"format":"uri"`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserializer, Serialize, Serializer};

use super::{Ctx, FromJson, Quirk, excerpt, with_str};
use crate::ocpp::ErrorCode;

/// A string of at most `N` characters (`"maxLength": N`; JSON Schema counts
/// Unicode code points, not bytes). OCPP 1.6 calls these `CiString{N}Type`.
/// The one exception: a charge point whose profile tolerates
/// `long_strings` may send a longer one, kept whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundedString<const N: usize>(String);

impl<const N: usize> BoundedString<N> {
    pub const MAX_CHARS: usize = N;

    /// `None` if `s` is longer than `N` characters.
    pub fn new(s: impl Into<String>) -> Option<Self> {
        let s = s.into();
        (char_len_within(&s, N)).then_some(BoundedString(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `s` has at most `max` characters, without counting when the byte
/// length already settles it.
fn char_len_within(s: &str, max: usize) -> bool {
    s.len() <= max || s.chars().count() <= max
}

impl<const N: usize> Deref for BoundedString<N> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Display for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> Serialize for BoundedString<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<const N: usize> FromJson for BoundedString<N> {
    const EXPECTED: &'static str = "a string";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        with_str(de, cx, |cx, s| {
            if char_len_within(&s, N) {
                Ok(BoundedString(s.into_owned()))
            } else if cx.tolerates(Quirk::LongStrings) {
                // Kept whole: the backend sees what the charge point sent.
                cx.note(Quirk::LongStrings, None);
                Ok(BoundedString(s.into_owned()))
            } else {
                Err((
                    ErrorCode::PropertyConstraintViolation,
                    format!(
                        "string is {} characters long, at most {N} are allowed",
                        s.chars().count()
                    ),
                ))
            }
        })
    }
}

/// `"format":"uri"` (OCPP 1.6 GetDiagnostics and UpdateFirmware `location`):
/// an absolute URI, RFC 3986 §4.3: a scheme, `:`, then only URI characters
/// and well-formed `%XX` escapes. Deliberately no deeper parse: a stricter
/// check than the schema's would refuse what the schema accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uri(String);

impl Uri {
    pub fn new(s: impl Into<String>) -> Option<Uri> {
        let s = s.into();
        is_uri(&s).then_some(Uri(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_uri(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    let scheme = &b[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return false;
    }
    let rest = &b[colon + 1..];
    let mut i = 0;
    while i < rest.len() {
        let c = rest[i];
        if c == b'%' {
            if !(rest.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && rest.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#[]".contains(&c);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Uri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl FromJson for Uri {
    const EXPECTED: &'static str = "a string";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        with_str(de, cx, |_, s| {
            if is_uri(&s) {
                Ok(Uri(s.into_owned()))
            } else {
                Err((
                    ErrorCode::PropertyConstraintViolation,
                    format!("{} is not an absolute URI", excerpt(&s)),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert!(is_uri("ftp://user:pw@host:21/path?q=1#f"));
        assert!(is_uri("urn:isbn:123"));
        assert!(!is_uri("no scheme"));
        assert!(!is_uri("/relative"));
        assert!(!is_uri("http://a b"));
        assert!(!is_uri("http://a%zz"));
    }
}
