//! The status page: its files, embedded in the binary (no CDN, no build
//! step: plain HTML, CSS and JavaScript in `page/`), and the two kinds of
//! answer only it needs — request schemas for its command form, and the
//! tail of a charge point's trace file.
//!
//! The page itself holds no data, so its files are served without the
//! bearer token (its login field asks for one); everything it shows comes
//! from the token-guarded API (`/status`, `/connections…`), which reads
//! published counters or asks one reactor about the rows on screen.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Value, json};

use super::http::{Response, error, json_response};
use crate::ocpp::OcppVersion;
use crate::ocpp::schema_text;

/// The page's files: path under `/`, content type, text.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("page/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("page/style.css"),
    ),
];

/// Only the page's own files run or load: nothing inline, nothing from
/// elsewhere (an id or a frame shown on the page can never become code).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/// A trace tail reads at most this much of the file's end.
const TRACE_TAIL_BYTES: u64 = 64 << 10;
/// Largest `lines` of `GET /connections/{id}/trace`.
pub const MAX_TRACE_LINES: usize = 200;

/// `GET /` (`index.html`) and `GET /ui/{name}`.
pub fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(path, _, _)| *path == name) {
        Some((_, content_type, text)) => {
            let mut response = Response::new(200, content_type, text.as_bytes().to_vec());
            response.extra_header = Some(("Content-Security-Policy", CONTENT_SECURITY_POLICY));
            response
        }
        None => error(404, "no such file"),
    }
}

fn version_of(subprotocol: &str) -> Result<OcppVersion, Response> {
    OcppVersion::from_subprotocol(subprotocol)
        .ok_or_else(|| error(404, format!("no OCPP version {subprotocol:?}")))
}

/// `GET /schemas/{subprotocol}`: the actions the gateway may send.
pub fn actions(subprotocol: &str) -> Response {
    match version_of(subprotocol) {
        Ok(version) => {
            let actions: Vec<&str> = schema_text::sendable_actions(version).collect();
            json_response(200, &json!({"version": subprotocol, "actions": actions}))
        }
        Err(response) => response,
    }
}

/// `GET /schemas/{subprotocol}/{action}`: that request's JSON schema.
pub fn schema(subprotocol: &str, action: &str) -> Response {
    let version = match version_of(subprotocol) {
        Ok(version) => version,
        Err(response) => return response,
    };
    match schema_text::request_schema(version, action) {
        Some(text) => Response::new(200, "application/json", text.as_bytes().to_vec()),
        None => error(
            404,
            format!("{action} is not a request the gateway sends in {subprotocol}"),
        ),
    }
}

/// `GET /connections/{id}/trace?lines=N`: the last `lines` lines of the
/// charge point's trace file, as JSON values. A small read of a local file
/// on the admin thread (at most [`TRACE_TAIL_BYTES`]); reactors are not
/// involved. The writer flushes every `trace.flush_interval`, so the
/// newest frames appear within it.
pub fn trace_tail(directory: Option<&Path>, charge_point: &str, lines: usize) -> Response {
    let Some(directory) = directory else {
        return error(503, "tracing is not configured ([trace] directory)");
    };
    let path = directory.join(crate::cross_thread::trace_file_name(charge_point));
    let text = match read_tail(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return error(404, format!("{charge_point} has no trace file"));
        }
        Err(e) => return error(500, format!("cannot read the trace file: {e}")),
    };
    let frames: Vec<Value> = last_lines(&text, lines)
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.into())))
        .collect();
    json_response(200, &json!({"id": charge_point, "lines": frames}))
}

fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(TRACE_TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((length - start) as usize);
    file.take(TRACE_TAIL_BYTES).read_to_end(&mut bytes)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // The read began inside a line: drop that part.
        let first_end = text.find('\n').map_or(text.len(), |i| i + 1);
        text.drain(..first_end);
    }
    Ok(text)
}

/// The last `n` non-empty lines of `text`, oldest first.
fn last_lines(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let skip = lines.len().saturating_sub(n);
    lines.into_iter().skip(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_and_their_policy() {
        let page = asset("index.html");
        assert_eq!(page.status, 200);
        assert!(String::from_utf8_lossy(&page.body).contains("app.js"));
        assert_eq!(
            page.extra_header.map(|h| h.0),
            Some("Content-Security-Policy")
        );
        assert_eq!(asset("../Cargo.toml").status, 404);
    }

    #[test]
    fn schemas_by_subprotocol() {
        assert_eq!(actions("ocpp1.6").status, 200);
        assert_eq!(actions("ocpp9").status, 404);
        let reset = schema("ocpp2.0.1", "Reset");
        assert_eq!(reset.status, 200);
        assert!(String::from_utf8_lossy(&reset.body).contains("ResetEnumType"));
        assert_eq!(schema("ocpp1.6", "BootNotification").status, 404);
    }

    #[test]
    fn trace_tails_keep_whole_lines() {
        let text = "a\nb\n\nc\n";
        assert_eq!(last_lines(text, 2).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(last_lines(text, 10).count(), 3);
        let dir = std::env::temp_dir().join(format!("tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let long = "x".repeat(TRACE_TAIL_BYTES as usize);
        std::fs::write(
            dir.join(crate::cross_thread::trace_file_name("CP")),
            format!("{long}\n{{\"n\":1}}\n"),
        )
        .unwrap();
        let tail = trace_tail(Some(&dir), "CP", 5);
        let body: Value = serde_json::from_slice(&tail.body).unwrap();
        assert_eq!(body["lines"], json!([{"n": 1}]), "the cut line is dropped");
        assert_eq!(trace_tail(Some(&dir), "other", 5).status, 404);
        assert_eq!(trace_tail(None, "CP", 5).status, 503);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
