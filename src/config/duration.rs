//! Durations in the configuration, the one place they are parsed and
//! printed: text like "100ms", "30s", "5m" ([`duration_text`], for
//! `#[serde(with = "duration_text")]`), and the arithmetic the range checks
//! do on them.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::time::Duration;

/// Durations are written as text: "100ms", "30s", "5m".
pub(super) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            D::Error::custom(format!(
                "`{text}` is not a duration ({e}); write it like \"100ms\", \"30s\" or \"5m\""
            ))
        })
    }
}

/// An optional duration (a profile's override) as duration text; with
/// `#[serde(default)]`, absent is `None`.
pub(super) mod opt_duration_text {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration_text::deserialize(d).map(Some)
    }
}

/// Whole milliseconds of `d` (a u128: it cannot overflow).
pub(super) fn ms(d: Duration) -> u128 {
    d.as_millis()
}
