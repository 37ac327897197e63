//! Lenient validation: schema violations a profile lets its charge points
//! get away with (`lenient = [...]` in `[[profiles]]`), and what a lenient
//! parse records about the ones it tolerated.
//!
//! A tolerated violation is accepted and noted as `quirk:path`
//! (`long_strings:chargePointSerialNumber`). Where a correction is defined
//! (enum case, a number sent as a string, a timestamp without its zone) it
//! is recorded as a splice into the payload's text, at the byte span of
//! the value the parser borrowed from it, so the corrected payload is the
//! original text with only those values rewritten: key order, number
//! spelling and unknown-but-tolerated fields stay as the charge point
//! wrote them. A value whose text holds JSON escapes is not borrowed, has
//! no span, and so cannot be corrected: it is refused as in strict mode.

use std::ops::Range;

/// One kind of tolerated violation. The names are the config's and the
/// metric label's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quirk {
    /// A property the schema does not define (`additionalProperties: false`):
    /// kept in the payload as sent.
    ExtraFields,
    /// A string over its `maxLength`: kept as sent.
    LongStrings,
    /// An enum value in the wrong case: forwarded in the schema's spelling.
    EnumCase,
    /// A string that is no value of its enum, in any case: kept as sent.
    UnknownEnumValues,
    /// A number or integer sent as a JSON string (`"12.5"`): forwarded as
    /// the number.
    NumbersAsStrings,
    /// A `date-time` without `Z` or an offset: read as UTC and forwarded
    /// with `Z`.
    DateTimeWithoutZone,
}

impl Quirk {
    pub const ALL: [Quirk; 6] = [
        Quirk::ExtraFields,
        Quirk::LongStrings,
        Quirk::EnumCase,
        Quirk::UnknownEnumValues,
        Quirk::NumbersAsStrings,
        Quirk::DateTimeWithoutZone,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quirk::ExtraFields => "extra_fields",
            Quirk::LongStrings => "long_strings",
            Quirk::EnumCase => "enum_case",
            Quirk::UnknownEnumValues => "unknown_enum_values",
            Quirk::NumbersAsStrings => "numbers_as_strings",
            Quirk::DateTimeWithoutZone => "date_time_without_zone",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of quirks a charge point's profile tolerates. Empty (the
/// default) is strict: the schema as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lenience(u8);

impl Lenience {
    pub const STRICT: Lenience = Lenience(0);
    /// Every quirk (to read a BootNotification's vendor whatever it breaks).
    pub const ALL: Lenience = Lenience((1 << Quirk::ALL.len()) - 1);

    pub fn of(quirks: &[Quirk]) -> Lenience {
        Lenience(quirks.iter().fold(0, |bits, q| bits | q.bit()))
    }

    pub fn allows(self, quirk: Quirk) -> bool {
        self.0 & quirk.bit() != 0
    }

    pub fn is_strict(self) -> bool {
        self.0 == 0
    }
}

/// At most this many notes are kept per payload (the count per quirk is
/// exact): a hostile payload with ten thousand extra fields must not make
/// a journal line of ten thousand notes.
pub const MAX_NOTES: usize = 16;

/// What a lenient parse tolerated in one payload. Empty, and without a
/// heap allocation, when the payload was valid as written.
#[derive(Debug, Default, PartialEq)]
pub struct Tolerated {
    /// `quirk:path`, in payload order, at most [`MAX_NOTES`].
    notes: Vec<String>,
    /// How many violations of each quirk (index: `Quirk as usize`).
    counts: [u32; Quirk::ALL.len()],
    /// Non-overlapping and in text order (values are visited in order).
    fixes: Vec<Fix>,
}

#[derive(Debug, PartialEq)]
struct Fix {
    /// Bytes of the payload text to replace (empty: an insertion).
    range: Range<usize>,
    /// Every correction writes a constant: the schema's spelling of an
    /// enum value, `Z`, or nothing (a number's quotes go).
    text: &'static str,
}

impl Tolerated {
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// How many violations of each quirk were tolerated (non-zero only).
    pub fn counts(&self) -> impl Iterator<Item = (Quirk, u32)> + '_ {
        Quirk::ALL
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(q, n)| (*q, n))
    }

    /// Counts a tolerated violation; `note` writes its `quirk:path` text,
    /// asked for only while fewer than [`MAX_NOTES`] are kept.
    pub(super) fn note(&mut self, quirk: Quirk, note: impl FnOnce() -> String) {
        self.counts[quirk as usize] = self.counts[quirk as usize].saturating_add(1);
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note());
        }
    }

    pub(super) fn fix(&mut self, range: Range<usize>, text: &'static str) {
        self.fixes.push(Fix { range, text });
    }

    /// `payload` (the text this was parsed from) with the corrections
    /// applied; `None` when nothing needed correcting.
    pub fn corrected(&self, payload: &str) -> Option<String> {
        if self.fixes.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(payload.len() + 16);
        let mut at = 0;
        for fix in &self.fixes {
            // The ranges came from slices of this very text, in order; a
            // range that does not fit means a caller passed another text.
            let before = payload.get(at..fix.range.start)?;
            out.push_str(before);
            out.push_str(fix.text);
            at = fix.range.end;
        }
        out.push_str(payload.get(at..)?);
        Some(out)
    }

    /// The notes as a JSON array of strings, for the journal line.
    pub fn notes_json(&self) -> String {
        let mut out = String::from("[");
        for (i, note) in self.notes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::json_text::push_json_str(&mut out, note);
        }
        out.push(']');
        out
    }
}

/// Whether `s` is a JSON number as RFC 8259 §6 writes it (what
/// `numbers_as_strings` accepts inside the quotes: `"12"`, `"-0.5e3"`, not
/// `"12 "`, `"+1"`, `"0x10"` or `"NaN"`).
pub(super) fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers() {
        for ok in ["0", "12", "-0.5", "1e3", "1.25E-2", "-12.0"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "1e", "12 ", " 12", "NaN", "0x10",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn corrections_splice_in_order() {
        let text = r#"{"a":"x","b":"12","c":"t"}"#;
        let mut t = Tolerated::default();
        t.fix(5..8, "\"X\"");
        t.fix(13..14, "");
        t.fix(16..17, "");
        t.fix(24..24, "Z");
        assert_eq!(
            t.corrected(text).as_deref(),
            Some(r#"{"a":"X","b":12,"c":"tZ"}"#)
        );
        assert_eq!(Tolerated::default().corrected(text), None);
    }

    #[test]
    fn notes_are_capped_but_counts_are_exact() {
        let mut t = Tolerated::default();
        for i in 0..100 {
            t.note(Quirk::ExtraFields, || format!("extra_fields:x{i}"));
        }
        assert_eq!(t.notes().len(), MAX_NOTES);
        assert_eq!(t.counts().collect::<Vec<_>>(), [(Quirk::ExtraFields, 100)]);
        assert!(
            t.notes_json()
                .starts_with(r#"["extra_fields:x0","extra_fields:x1""#)
        );
    }

    use crate::ocpp::ErrorCode;
    use crate::ocpp::v16::{self, Action};

    /// The payload as the backend would get it, and the notes; or the
    /// CALLERROR code.
    fn lenient(
        action: Action,
        payload: &str,
        quirks: &[Quirk],
    ) -> Result<(String, Vec<String>), ErrorCode> {
        v16::parse_request_lenient(action, payload, Lenience::of(quirks))
            .map(|(_, t)| {
                let text = t.corrected(payload).unwrap_or_else(|| payload.to_owned());
                (text, t.notes().to_vec())
            })
            .map_err(|v| v.code)
    }

    #[test]
    fn each_quirk_is_refused_strictly_and_tolerated_when_named() {
        use Quirk::*;
        let status = |s: &str, ts: &str| {
            format!(r#"{{"connectorId":1,"errorCode":"NoError","status":{s},"timestamp":{ts}}}"#)
        };
        let meter = |id: &str, extra: &str| {
            format!(
                r#"{{"connectorId":{id},"meterValue":[{{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{{"value":"1"{extra}}}]}}]}}"#
            )
        };
        let zulu = r#""2026-01-01T00:00:00Z""#;
        let cases: [(Action, String, Quirk, Option<String>, &str); 6] = [
            (
                Action::BootNotification,
                r#"{"chargePointVendor":"v","chargePointModel":"m","chargePointSerialNumber":"0123456789012345678901234567"}"#.into(),
                LongStrings,
                None,
                "long_strings:chargePointSerialNumber",
            ),
            (
                Action::StatusNotification,
                status(r#""charging""#, zulu),
                EnumCase,
                Some(status(r#""Charging""#, zulu)),
                "enum_case:status",
            ),
            (
                Action::StatusNotification,
                status(r#""Levitating""#, zulu),
                UnknownEnumValues,
                None,
                "unknown_enum_values:status",
            ),
            (
                Action::StatusNotification,
                status(r#""Available""#, r#""2026-01-01T00:00:00.5""#),
                DateTimeWithoutZone,
                Some(status(r#""Available""#, r#""2026-01-01T00:00:00.5Z""#)),
                "date_time_without_zone:timestamp",
            ),
            (
                Action::MeterValues,
                meter(r#""2""#, ""),
                NumbersAsStrings,
                Some(meter("2", "")),
                "numbers_as_strings:connectorId",
            ),
            (
                Action::MeterValues,
                meter("2", r#","vendorNote":{"a":[1]}"#),
                ExtraFields,
                None,
                "extra_fields:meterValue[0].sampledValue[0].vendorNote",
            ),
        ];
        for (action, payload, quirk, corrected, note) in cases {
            let strict = lenient(action, &payload, &[]);
            assert!(strict.is_err(), "{quirk:?}: strict took {payload}");
            // Another quirk does not help.
            let other = Quirk::ALL.into_iter().find(|q| *q != quirk).unwrap();
            assert_eq!(lenient(action, &payload, &[other]), strict, "{quirk:?}");
            let (text, notes) = lenient(action, &payload, &[quirk]).unwrap();
            assert_eq!(text, corrected.unwrap_or(payload.clone()), "{quirk:?}");
            assert_eq!(notes, [note]);
            // A corrected payload is valid as it stands.
            if text != payload {
                assert!(v16::parse_request(action, &text).is_ok(), "{text}");
            }
        }
    }

    #[test]
    fn a_value_with_escapes_cannot_be_corrected_so_is_refused() {
        let payload = r#"{"connectorId":1,"errorCode":"NoError","status":"ch\u0061rging"}"#;
        let enum_case = lenient(Action::StatusNotification, payload, &[Quirk::EnumCase]);
        assert_eq!(enum_case, Err(ErrorCode::PropertyConstraintViolation));
        // Kept as sent where no correction is due.
        let unknown = lenient(
            Action::StatusNotification,
            payload,
            &[Quirk::UnknownEnumValues],
        );
        assert!(unknown.is_ok());
    }

    #[test]
    fn numbers_as_strings_takes_only_json_numbers() {
        for bad in [r#"" 2""#, r#""two""#, r#""2.5""#, r#""""#, "true"] {
            let payload = format!(r#"{{"connectorId":{bad},"meterValue":[]}}"#);
            assert_eq!(
                lenient(Action::MeterValues, &payload, &[Quirk::NumbersAsStrings]),
                Err(ErrorCode::TypeConstraintViolation),
                "{bad}"
            );
        }
    }

    #[test]
    fn lenience_is_a_set() {
        let l = Lenience::of(&[Quirk::EnumCase, Quirk::LongStrings]);
        assert!(l.allows(Quirk::EnumCase) && l.allows(Quirk::LongStrings));
        assert!(!l.allows(Quirk::ExtraFields));
        assert!(Lenience::STRICT.is_strict() && !l.is_strict());
    }
}
