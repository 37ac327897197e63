//! What a trace file holds: its name for a charge point id, and its lines
//! (one JSON object per line, readable with `jq`).
//!
//! ```text
//! {"at":"2026-12-03T14:41:12.345Z","kind":"trace_start","id":"CP-1","cause":"operator","until":"2026-12-03T14:51:12.345Z"}
//! {"at":"2026-12-03T14:41:12.401Z","dir":"in","kind":"text","frame":"[2,\"1\",\"Heartbeat\",{}]"}
//! {"at":"2026-12-03T14:41:12.402Z","dir":"out","kind":"text","frame":"[3,\"1\",{\"currentTime\":\"...\"}]"}
//! {"at":"2026-12-03T14:41:40.000Z","dir":"out","kind":"ping","bytes":0}
//! {"at":"2026-12-03T14:41:50.000Z","dir":"in","kind":"close","code":1000,"reason":"bye"}
//! {"at":"2026-12-03T14:41:50.001Z","kind":"trace_stop","why":"disconnected"}
//! {"at":"2026-12-03T14:42:00.000Z","kind":"truncated","max_file_bytes":16777216}
//! ```
//! Pure functions on the writer thread; nothing here touches a file.

use std::time::SystemTime;

use crate::cross_thread::{TraceCause, TraceEnd, TracedFrame};
use crate::json_text::{push_json_str, push_u64};

pub use crate::cross_thread::trace_file_name as file_name;

fn start_line(out: &mut Vec<u8>, at: SystemTime) {
    out.extend_from_slice(b"{\"at\":\"");
    out.extend_from_slice(humantime::format_rfc3339_millis(at).to_string().as_bytes());
    out.push(b'"');
}

/// Appends one frame's line (with its newline) to `out`.
pub fn frame(out: &mut Vec<u8>, at: SystemTime, dir: &str, frame: &TracedFrame) {
    start_line(out, at);
    out.extend_from_slice(b",\"dir\":\"");
    out.extend_from_slice(dir.as_bytes());
    out.extend_from_slice(b"\",\"kind\":");
    let bytes = |out: &mut Vec<u8>, kind: &str, n: usize| {
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b",\"bytes\":");
        push_u64(out, n as u64);
    };
    match frame {
        TracedFrame::Text(text) => {
            out.extend_from_slice(b"\"text\",\"frame\":");
            push_json_str(out, text.as_str());
        }
        TracedFrame::Binary(n) => bytes(out, "\"binary\"", *n),
        TracedFrame::Ping(n) => bytes(out, "\"ping\"", *n),
        TracedFrame::Pong(n) => bytes(out, "\"pong\"", *n),
        TracedFrame::Close(None) => out.extend_from_slice(b"\"close\""),
        TracedFrame::Close(Some((code, reason))) => {
            out.extend_from_slice(b"\"close\",\"code\":");
            push_u64(out, u64::from(*code));
            out.extend_from_slice(b",\"reason\":");
            push_json_str(out, reason.as_str());
        }
    }
    out.extend_from_slice(b"}\n");
}

/// The line that opens a trace.
pub fn trace_start(
    out: &mut Vec<u8>,
    at: SystemTime,
    charge_point: &str,
    cause: TraceCause,
    until: Option<SystemTime>,
) {
    start_line(out, at);
    out.extend_from_slice(b",\"kind\":\"trace_start\",\"id\":");
    push_json_str(out, charge_point);
    out.extend_from_slice(b",\"cause\":\"");
    out.extend_from_slice(cause.as_str().as_bytes());
    out.push(b'"');
    if let Some(until) = until {
        out.extend_from_slice(b",\"until\":\"");
        out.extend_from_slice(
            humantime::format_rfc3339_millis(until)
                .to_string()
                .as_bytes(),
        );
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
}

/// The line that closes a trace.
pub fn trace_stop(out: &mut Vec<u8>, at: SystemTime, why: TraceEnd) {
    start_line(out, at);
    out.extend_from_slice(b",\"kind\":\"trace_stop\",\"why\":\"");
    out.extend_from_slice(why.as_str().as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// The one line written when a file reaches its cap; nothing follows it.
pub fn truncated(out: &mut Vec<u8>, at: SystemTime, max_file_bytes: u64) {
    start_line(out, at);
    out.extend_from_slice(b",\"kind\":\"truncated\",\"max_file_bytes\":");
    push_u64(out, max_file_bytes);
    out.extend_from_slice(b"}\n");
}

/// Whether `tail` (the end of a file) ends with the truncation line: such
/// a file is full and gets nothing more.
pub fn ends_truncated(tail: &[u8]) -> bool {
    let tail = tail.strip_suffix(b"\n").unwrap_or(tail);
    let last = tail.rsplit(|&b| b == b'\n').next().unwrap_or(tail);
    const MARK: &[u8] = b"\"kind\":\"truncated\",";
    last.windows(MARK.len()).any(|w| w == MARK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn lines_are_json() {
        let at = UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let mut out = Vec::new();
        let text = TracedFrame::Text("[2,\"1\",\"Heartbeat\",{\"a\":\"\\n\"}]".into());
        frame(&mut out, at, "in", &text);
        frame(&mut out, at, "out", &TracedFrame::Ping(0));
        frame(
            &mut out,
            at,
            "in",
            &TracedFrame::Close(Some((1000, "bye".into()))),
        );
        frame(&mut out, at, "in", &TracedFrame::Close(None));
        trace_start(&mut out, at, "CP\"1", TraceCause::Operator, Some(at));
        trace_stop(&mut out, at, TraceEnd::Expired);
        truncated(&mut out, at, 4096);
        let lines: Vec<serde_json::Value> = std::str::from_utf8(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect(l))
            .collect();
        assert_eq!(lines[0]["at"], "2027-01-15T08:00:00.123Z");
        assert_eq!(lines[0]["frame"], "[2,\"1\",\"Heartbeat\",{\"a\":\"\\n\"}]");
        assert_eq!(
            (&lines[1]["kind"], &lines[1]["bytes"]),
            (&"ping".into(), &0.into())
        );
        assert_eq!(lines[2]["code"], 1000);
        assert_eq!(lines[4]["id"], "CP\"1");
        assert_eq!(lines[5]["why"], "expired");
        assert!(ends_truncated(&out));
        assert!(!ends_truncated(&out[..out.len() - 70]));
    }
}
