//! `"format":"date-time"`, as an allocation-free value.

use std::fmt;

use serde::{Deserializer, Serialize, Serializer};

use super::{Ctx, FromJson, Quirk, excerpt, with_str};
use crate::ocpp::ErrorCode;
use crate::time_text::{civil_from_days, days_from_civil};

/// `"format":"date-time"`: an RFC 3339 §5.6 timestamp, held as its parts so
/// a parsed timestamp costs no allocation. Accepts exactly what the JSON
/// Schema `date-time` format accepts: `T`/`Z` in either case, any number of
/// fraction digits (kept to nanoseconds), a leap second only where it is
/// 23:59:60 UTC, and a day that exists in its month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    /// Minutes east of UTC; `Z` is 0.
    offset_minutes: i16,
}

impl DateTime {
    /// Parses RFC 3339 `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    pub fn parse(s: &str) -> Option<DateTime> {
        let b = s.as_bytes();
        // The first `T` splits date and time, as in the JSON Schema checkers.
        let t = b.iter().position(|&c| c == b'T' || c == b't')?;
        let (date, time) = (&b[..t], &b[t + 1..]);
        if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
            return None;
        }
        let year = digits(&date[0..4])? as u16;
        let month = digits(&date[5..7])? as u8;
        let day = digits(&date[8..10])? as u8;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if time.len() < 9 || time[2] != b':' || time[5] != b':' {
            return None;
        }
        let hour = digits(&time[0..2])? as u8;
        let minute = digits(&time[3..5])? as u8;
        let second = digits(&time[6..8])? as u8;
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut i = 8;
        let mut nanos = 0u32;
        if time.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while time.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(time[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..9 {
                nanos *= 10;
            }
        }
        let offset_minutes: i16 = match time.get(i)? {
            b'Z' | b'z' if i + 1 == time.len() => 0,
            sign @ (b'+' | b'-') if time.len() - i == 6 && time[i + 3] == b':' => {
                let oh = digits(&time[i + 1..i + 3])? as i16;
                let om = digits(&time[i + 4..i + 6])? as i16;
                if oh > 23 || om > 59 {
                    return None;
                }
                if *sign == b'-' {
                    -(oh * 60 + om)
                } else {
                    oh * 60 + om
                }
            }
            _ => return None,
        };
        if second == 60 {
            // A leap second is inserted at 23:59:60 UTC only.
            let utc = (i32::from(hour) * 60 + i32::from(minute) - i32::from(offset_minutes))
                .rem_euclid(24 * 60);
            if utc != 23 * 60 + 59 {
                return None;
            }
        }
        Some(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset_minutes,
        })
    }

    /// The UTC time `secs` (+ `nanos`) after the Unix epoch; `None` outside
    /// years 0000–9999, which RFC 3339 cannot write.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<DateTime> {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return None;
        }
        Some(DateTime {
            year: year as u16,
            month,
            day,
            hour: (sod / 3600) as u8,
            minute: (sod % 3600 / 60) as u8,
            second: (sod % 60) as u8,
            nanos,
            offset_minutes: 0,
        })
    }

    /// `t` in UTC (for answers such as BootNotification `currentTime`).
    pub fn from_system_time(t: std::time::SystemTime) -> Option<DateTime> {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => DateTime::from_unix(i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).ok()?;
                match d.subsec_nanos() {
                    0 => DateTime::from_unix(secs, 0),
                    n => DateTime::from_unix(secs - 1, 1_000_000_000 - n),
                }
            }
        }
    }

    /// Seconds since the Unix epoch (a leap second counts as the next second's
    /// start, as POSIX time does).
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60
    }

    pub fn nanos(&self) -> u32 {
        self.nanos
    }

    /// Minutes east of UTC of the written time.
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.nanos != 0 {
            let mut frac = self.nanos;
            let mut width = 9;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width -= 1;
            }
            write!(f, ".{frac:0width$}")?;
        }
        match self.offset_minutes {
            0 => f.write_str("Z"),
            o => {
                let sign = if o < 0 { '-' } else { '+' };
                write!(f, "{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60)
            }
        }
    }
}

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromJson for DateTime {
    const EXPECTED: &'static str = "a string";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        with_str(de, cx, |cx, s| {
            if let Some(t) = DateTime::parse(&s) {
                return Ok(t);
            }
            if let Some(t) = without_zone(cx, &s) {
                return Ok(t);
            }
            Err((
                ErrorCode::PropertyConstraintViolation,
                format!("{} is not an RFC 3339 date-time", excerpt(&s)),
            ))
        })
    }
}

/// `date_time_without_zone`: a timestamp that would be valid with `Z`
/// and has no zone of its own (it ends in a digit of the seconds or of
/// their fraction) is read as UTC, and `Z` is written after it.
fn without_zone(cx: &mut Ctx, s: &str) -> Option<DateTime> {
    if !cx.tolerates(Quirk::DateTimeWithoutZone) || !s.ends_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let span = cx.span_of(s)?;
    let t = DateTime::parse(&format!("{s}Z"))?;
    cx.note(Quirk::DateTimeWithoutZone, None);
    cx.fix(span.end..span.end, "Z");
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_follow_rfc3339() {
        for ok in [
            "2024-02-29T23:59:59Z",
            "2024-01-02t03:04:05.123456789012+02:30",
            "2016-12-31T23:59:60Z",
            "2017-01-01T01:29:60+01:30",
            "0000-01-01T00:00:00-23:59",
        ] {
            assert!(DateTime::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04Z",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+0200",
            "2024-01-02T24:00:00Z",
            "2024-01-02T12:00:60Z",
            "2024-1-02T03:04:05Z",
            "2024-01-02T03:04:05+24:00",
            "",
            "T",
        ] {
            assert!(DateTime::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn date_times_print_and_convert() {
        let t = DateTime::parse("2024-01-02T03:04:05.120+02:00").unwrap();
        assert_eq!(t.to_string(), "2024-01-02T03:04:05.12+02:00");
        assert_eq!(t.unix_seconds(), 1_704_157_445);
        let u = DateTime::from_unix(1_704_157_445, 5_000_000).unwrap();
        assert_eq!(u.to_string(), "2024-01-02T01:04:05.005Z");
        assert_eq!(
            DateTime::from_unix(-1, 0).unwrap().to_string(),
            "1969-12-31T23:59:59Z"
        );
    }
}
