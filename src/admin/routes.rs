//! What each route answers. A request that needs the reactors or a charge
//! point comes back as a [`Route`] for the server to start; the server
//! waits (without blocking) and turns the replies into a response with
//! the functions below.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | 200 or 503 (a reactor has not ticked for `stall_after`), JSON |
//! | `GET /metrics` | OpenMetrics text |
//! | `GET /` and `GET /ui/{file}` | the status page's files (no token: they hold no data) |
//! | `GET /status?history=N` | the status page's document: totals, rates, reactors, pipeline, the last `N` samples |
//! | `GET /connections?search=&offset=&limit=` | JSON page of open connections, sorted by id (ids from the registry; only their holders are asked) |
//! | `GET /connections/{id}` | one connection, or 404 |
//! | `POST /connections/{id}/calls` | `{"action","payload","timeout_ms","queue"}` → 200 result, 400 invalid, 404, 502 CALLERROR/bad answer, 504 timeout; not connected with `queue`: 202 `{"command_id"}`, 507 queue full, 503 |
//! | `GET /connections/{id}/commands` | the charge point's kept commands not yet ended, in queue order |
//! | `GET /commands/{command_id}` | a kept command and its state, or 404 |
//! | `DELETE /commands/{command_id}` | cancel a queued one → 200, 409 past queued, 404 |
//! | `DELETE /connections/{id}?code=N` | close it (default 1000), 200 or 404 |
//! | `POST /connections/{id}/trace` | `{"minutes":N}` (1 to 1440) → 200 until when, 400, 404, 503 without `[trace] directory` |
//! | `DELETE /connections/{id}/trace` | stop tracing it → 200, 404, 503 without `[trace] directory` |
//! | `GET /connections/{id}/trace?lines=N` | the last lines of its trace file → 200, 404, 503 without `[trace] directory` |
//! | `GET /schemas/{subprotocol}[/{action}]` | the actions the gateway may send, or one request's schema |

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::http::Response;
pub use super::http::{error, json_response};
use super::page;
use super::status::{HISTORY_SAMPLES, reactor_healths};
use crate::command_json::{self, Command};
use crate::config::MAX_TRACE_MINUTES;
use crate::cross_thread::AdminHandle;
use crate::cross_thread::{ConnectionInfo, ServerCallOutcome, TraceReply};
use crate::ocpp::handshake::percent_decode;

/// Default and largest page of `GET /connections`.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 10_000;

/// Longest `search` of `GET /connections` (charge point ids are at most 48
/// characters in OCPP; a longer search cannot match and is refused).
const MAX_SEARCH_BYTES: usize = 256;

/// `GET /connections?search=&offset=&limit=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Part of the id, matched ignoring ASCII case; empty: all.
    pub search: String,
    pub offset: usize,
    pub limit: usize,
}

/// What a request asks for.
#[derive(Debug)]
pub enum Route {
    /// Answered from the request alone (an error, mostly).
    Answer(Response),
    Health,
    Metrics,
    /// The status page's document, with this many history samples.
    Status {
        history: usize,
    },
    /// The last lines of a charge point's trace file.
    TraceTail {
        charge_point: String,
        lines: usize,
    },
    /// A page of the connections held here, in id order.
    List(ListQuery),
    /// One charge point's connection, from the reactor holding it.
    Detail {
        charge_point: String,
    },
    Close {
        charge_point: String,
        code: u16,
    },
    Call {
        charge_point: String,
        command: Command,
    },
    /// Start (`Some(minutes)`) or stop tracing a charge point's frames.
    Trace {
        charge_point: String,
        minutes: Option<u64>,
    },
    /// A charge point's kept commands.
    Commands {
        charge_point: String,
    },
    /// One kept command (`cancel`: DELETE it).
    Command {
        command_id: String,
        cancel: bool,
    },
}

/// Routes a whole request. `body` is read only by the routes that take one.
pub fn route(method: &str, target: &str, body: &[u8], call_timeout: Duration) -> Route {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let decoded =
        |id: &str| percent_decode(id).ok_or_else(|| error(400, "bad percent-encoding in the id"));
    let answer = |result: Result<Route, Response>| result.unwrap_or_else(Route::Answer);
    match (method, segments.as_slice()) {
        ("GET", ["health"]) => Route::Health,
        ("GET", ["metrics"]) => Route::Metrics,
        ("GET", [""]) => Route::Answer(page::asset("index.html")),
        ("GET", ["ui", name]) => Route::Answer(page::asset(name)),
        ("GET", ["status"]) => answer(
            bounded_number(query, "history", 0, HISTORY_SAMPLES)
                .map(|history| Route::Status { history }),
        ),
        ("GET", ["schemas", version]) => Route::Answer(page::actions(version)),
        ("GET", ["schemas", version, action]) => Route::Answer(page::schema(version, action)),
        ("GET", ["connections", id, "trace"]) => answer(decoded(id).and_then(|charge_point| {
            let lines = bounded_number(query, "lines", 50, page::MAX_TRACE_LINES)?;
            Ok(Route::TraceTail {
                charge_point,
                lines,
            })
        })),
        ("GET", ["connections"]) => answer(page_of(query)),
        ("GET", ["connections", id]) => {
            answer(decoded(id).map(|charge_point| Route::Detail { charge_point }))
        }
        ("DELETE", ["connections", id]) => answer(decoded(id).and_then(|charge_point| {
            let code = close_code(query)?;
            Ok(Route::Close { charge_point, code })
        })),
        ("POST", ["connections", id, "calls"]) => answer(decoded(id).and_then(|charge_point| {
            let command =
                command_json::parse(body, call_timeout).map_err(|reason| error(400, reason))?;
            Ok(Route::Call {
                charge_point,
                command,
            })
        })),
        ("POST", ["connections", id, "trace"]) => answer(decoded(id).and_then(|charge_point| {
            let minutes = trace_minutes(body)?;
            Ok(Route::Trace {
                charge_point,
                minutes: Some(minutes),
            })
        })),
        ("DELETE", ["connections", id, "trace"]) => {
            answer(decoded(id).map(|charge_point| Route::Trace {
                charge_point,
                minutes: None,
            }))
        }
        ("GET", ["connections", id, "commands"]) => {
            answer(decoded(id).map(|charge_point| Route::Commands { charge_point }))
        }
        ("GET" | "DELETE", ["commands", id]) => Route::Command {
            command_id: (*id).to_owned(),
            cancel: method == "DELETE",
        },
        (_, ["health"] | ["metrics"] | ["status"] | ["connections"])
        | (_, ["connections", _] | ["commands", _])
        | (_, ["connections", _, "calls" | "trace" | "commands"]) => {
            Route::Answer(error(405, "method not allowed"))
        }
        _ => Route::Answer(error(404, "no such route")),
    }
}

/// Every route but `/health` and the status page's files (which hold no
/// data) needs the bearer token, when one is set.
pub fn needs_token(target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    !(path == "/health" || path == "/" || path.starts_with("/ui/"))
}

/// Query parameter `name`: `default` when absent, else at most `max`.
fn bounded_number(query: &str, name: &str, default: usize, max: usize) -> Result<usize, Response> {
    match query_param(query, name).map(str::parse::<usize>) {
        None => Ok(default),
        Some(Ok(n)) if n <= max => Ok(n),
        Some(_) => Err(error(
            400,
            format!("{name} must be an integer from 0 to {max}"),
        )),
    }
}

pub fn unauthorized() -> Response {
    let mut response = error(401, "missing or wrong bearer token");
    response.extra_header = Some(("WWW-Authenticate", "Bearer"));
    response
}

pub fn metrics(text: String) -> Response {
    Response::new(200, super::prometheus::CONTENT_TYPE, text.into_bytes())
}

/// The admin bearer token, kept as its SHA-256 digest. Comparing digests
/// of equal length in constant time tells a guesser neither which byte
/// differs nor how long the token is.
pub struct BearerToken([u8; 32]);

impl BearerToken {
    pub fn new(token: &str) -> BearerToken {
        BearerToken(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn admits(&self, authorization: &str) -> bool {
        let Some(given) = authorization.strip_prefix("Bearer ") else {
            return false;
        };
        let given = Sha256::digest(given.trim().as_bytes());
        given[..].ct_eq(&self.0[..]).into()
    }
}

/// `started`: when the admin API started.
pub fn health(gateway: &AdminHandle, started: Instant) -> Response {
    let (healthy, reactors) = reactor_healths(gateway, started.elapsed());
    let reactors: Vec<Value> = reactors
        .iter()
        .enumerate()
        .map(|(i, (h, c))| {
            json!({"reactor": i, "state": h.state, "last_tick_age_ms": h.last_tick_age_ms,
                   "ok": h.ok, "connections": c.connections_open})
        })
        .collect();
    let body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "reactors": reactors,
        "processor_queue_depth": gateway.processor_queue_depth(),
        "open_connections": gateway.open_connections(),
        "journal_lag": gateway.journal_stats().map_or(0, |j| j.lag),
        // A bus outage is not unhealthy: events wait in the journal.
        "bus": gateway.bus_stats().map(|b| {
            use std::sync::atomic::Ordering::Relaxed;
            json!({"connected": b.connected.load(Relaxed),
                   "backlog_bytes": b.backlog_bytes.load(Relaxed)})
        }),
    });
    json_response(if healthy { 200 } else { 503 }, &body)
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn page_of(query: &str) -> Result<Route, Response> {
    let number = |name, default: usize| match query_param(query, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| error(400, format!("{name} must be a non-negative integer"))),
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", DEFAULT_PAGE)?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(error(400, format!("limit must be 1 to {MAX_PAGE}")));
    }
    let search = query_param(query, "search").unwrap_or("").replace('+', " ");
    let search =
        percent_decode(&search).ok_or_else(|| error(400, "bad percent-encoding in search"))?;
    if search.len() > MAX_SEARCH_BYTES {
        return Err(error(
            400,
            format!("search is longer than {MAX_SEARCH_BYTES} bytes"),
        ));
    }
    Ok(Route::List(ListQuery {
        search,
        offset,
        limit,
    }))
}

/// A page of connections: `total` ids matched the query, `found` is what
/// their reactors said of this page's (in any order; one that closed
/// meanwhile is missing).
pub fn page(mut found: Vec<ConnectionInfo>, total: usize, query: &ListQuery) -> Response {
    found.sort_by(|a, b| a.id.cmp(&b.id));
    json_response(
        200,
        &json!({
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
            "search": query.search,
            "connections": found,
        }),
    )
}

/// `list`: what the holder's reactor said of `charge_point` (empty: gone).
pub fn detail(list: Vec<ConnectionInfo>, charge_point: &str) -> Response {
    match list.into_iter().find(|c| c.id == charge_point) {
        Some(info) => json_response(200, &json!(info)),
        None => not_connected(charge_point),
    }
}

pub fn not_connected(charge_point: &str) -> Response {
    error(404, format!("{charge_point} is not connected"))
}

/// Close codes an operator may send (RFC 6455 §7.4: not 1004–1006, 1015).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

fn close_code(query: &str) -> Result<u16, Response> {
    match query_param(query, "code").map(str::parse::<u16>) {
        None => Ok(1000),
        Some(Ok(code)) if sendable_close_code(code) => Ok(code),
        Some(_) => Err(error(400, "code must be 1000-1003, 1007-1011 or 3000-4999")),
    }
}

pub fn closed(found: bool, charge_point: &str, code: u16) -> Response {
    if found {
        json_response(200, &json!({"closed": charge_point, "code": code}))
    } else {
        not_connected(charge_point)
    }
}

/// The body of `POST /connections/{id}/trace`: `{"minutes": N}`, N a
/// whole number from 1 to [`MAX_TRACE_MINUTES`], and nothing else.
fn trace_minutes(body: &[u8]) -> Result<u64, Response> {
    let refuse = || {
        error(
            400,
            format!(
                "the body must be {{\"minutes\": N}}, N a whole number from 1 to {MAX_TRACE_MINUTES}"
            ),
        )
    };
    let value: Value = serde_json::from_slice(body).map_err(|_| refuse())?;
    let fields = value.as_object().ok_or_else(refuse)?;
    if fields.keys().any(|k| k != "minutes") {
        return Err(refuse());
    }
    fields
        .get("minutes")
        .and_then(Value::as_u64)
        .filter(|m| (1..=MAX_TRACE_MINUTES).contains(m))
        .ok_or_else(refuse)
}

pub fn tracing_off() -> Response {
    error(
        503,
        "tracing is not configured: set [trace] directory in the configuration and restart",
    )
}

/// `reply`: the holder reactor's account of the charge point's trace
/// (`None`: it had gone meanwhile). A start that left it untraced was
/// refused: the trace writer is a whole queue behind.
pub fn traced(reply: Option<TraceReply>, charge_point: &str, start: bool) -> Response {
    match reply {
        Some(t) if start && !t.traced => error(
            503,
            "the trace writer is far behind: no new trace starts until it catches up",
        ),
        Some(t) => json_response(
            200,
            &json!({"id": charge_point, "traced": t.traced, "until": t.until,
                    "by_profile": t.by_profile}),
        ),
        None => not_connected(charge_point),
    }
}

/// A queue request (or a command asking to be kept) while no queue runs.
pub fn queue_off() -> Response {
    error(
        404,
        "commands are not kept here: the queue runs only with the journal or the bus \
         (and queue.enabled not false)",
    )
}

pub fn call_outcome(charge_point: &str, timeout: Duration, outcome: ServerCallOutcome) -> Response {
    let (status, body) = command_json::outcome_body(charge_point, timeout, outcome);
    json_response(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::status::reactor_health;

    fn status(route: Route) -> u16 {
        match route {
            Route::Answer(response) => response.status,
            other => panic!("not answered at once: {other:?}"),
        }
    }

    #[test]
    fn routes_and_their_refusals() {
        let t = Duration::from_secs(30);
        assert!(matches!(route("GET", "/health", b"", t), Route::Health));
        assert!(matches!(
            route("GET", "/connections?offset=2&limit=5", b"", t),
            Route::List(ListQuery { search, offset: 2, limit: 5 }) if search.is_empty()
        ));
        assert!(matches!(
            route("GET", "/connections?search=cp%2D1+a", b"", t),
            Route::List(ListQuery { search, offset: 0, limit: DEFAULT_PAGE }) if search == "cp-1 a"
        ));
        let long = format!("/connections?search={}", "x".repeat(MAX_SEARCH_BYTES + 1));
        assert_eq!(status(route("GET", &long, b"", t)), 400);
        assert!(matches!(
            route("GET", "/connections/CP%2D1", b"", t),
            Route::Detail { charge_point } if charge_point == "CP-1"
        ));
        assert!(matches!(
            route("DELETE", "/connections/CP-1?code=4001", b"", t),
            Route::Close { code: 4001, .. }
        ));
        let body = br#"{"action":"Reset","payload":{"type":"Soft"}}"#;
        assert!(matches!(
            route("POST", "/connections/CP-1/calls", body, t),
            Route::Call { command, .. } if command.action == "Reset" && command.timeout == t
        ));
        assert_eq!(status(route("GET", "/connections?limit=0", b"", t)), 400);
        assert_eq!(status(route("GET", "/connections?offset=x", b"", t)), 400);
        assert_eq!(
            status(route("DELETE", "/connections/CP?code=1005", b"", t)),
            400
        );
        assert_eq!(
            status(route("POST", "/connections/CP/calls", b"{}", t)),
            400
        );
        assert_eq!(status(route("GET", "/connections/%zz", b"", t)), 400);
        assert!(matches!(
            route("POST", "/connections/CP-1/trace", br#"{"minutes":1440}"#, t),
            Route::Trace {
                minutes: Some(1440),
                ..
            }
        ));
        assert!(matches!(
            route("DELETE", "/connections/CP-1/trace", b"", t),
            Route::Trace { minutes: None, .. }
        ));
        for bad in [
            &b""[..],
            b"{}",
            b"[]",
            b"{\"minutes\":0}",
            b"{\"minutes\":1441}",
            b"{\"minutes\":1.5}",
            b"{\"minutes\":-1}",
            b"{\"minutes\":\"10\"}",
            b"{\"minutes\":10,\"hours\":1}",
        ] {
            let route = route("POST", "/connections/CP/trace", bad, t);
            assert_eq!(status(route), 400, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(status(route("PUT", "/connections/CP/trace", b"", t)), 405);
        assert!(matches!(
            route("GET", "/connections/CP/trace?lines=7", b"", t),
            Route::TraceTail { charge_point, lines: 7 } if charge_point == "CP"
        ));
        assert_eq!(
            status(route("GET", "/connections/CP/trace?lines=201", b"", t)),
            400
        );
        assert!(matches!(
            route("GET", "/status?history=600", b"", t),
            Route::Status { history: 600 }
        ));
        assert_eq!(status(route("GET", "/status?history=601", b"", t)), 400);
        assert_eq!(status(route("GET", "/", b"", t)), 200);
        assert_eq!(status(route("GET", "/ui/app.js", b"", t)), 200);
        assert_eq!(status(route("GET", "/ui/nope.js", b"", t)), 404);
        assert!(!needs_token("/") && !needs_token("/ui/app.js") && !needs_token("/health?x"));
        assert!(needs_token("/status") && needs_token("/schemas/ocpp1.6") && needs_token("/uix"));
        assert_eq!(status(route("PUT", "/health", b"", t)), 405);
        assert_eq!(status(route("GET", "/connections/CP/calls", b"", t)), 405);
        assert_eq!(status(route("GET", "/nowhere", b"", t)), 404);
        assert!(matches!(
            route("GET", "/connections/CP%201/commands", b"", t),
            Route::Commands { charge_point } if charge_point == "CP 1"
        ));
        assert!(matches!(
            route("DELETE", "/commands/c01", b"", t),
            Route::Command { cancel: true, command_id } if command_id == "c01"
        ));
        assert!(matches!(
            route("GET", "/commands/c01", b"", t),
            Route::Command { cancel: false, .. }
        ));
        assert_eq!(status(route("POST", "/commands/c01", b"", t)), 405);
        assert_eq!(
            status(route("DELETE", "/connections/CP/commands", b"", t)),
            405
        );
        assert!(!needs_token("/health"));
        assert!(!needs_token("/health?verbose=1"));
        assert!(needs_token("/metrics"));
        assert!(needs_token("/health/"));
    }

    #[test]
    fn a_reactor_that_has_not_published_is_starting_then_stalled() {
        let starting = reactor_health(0, 1_800_000_000_000, 5_000, 100);
        assert_eq!(starting.state, "starting");
        assert_eq!(starting.last_tick_age_ms, None);
        assert!(starting.ok);
        let never = reactor_health(0, 1_800_000_000_000, 5_000, 5_000);
        assert_eq!((never.state, never.ok), ("stalled", false));
        let running = reactor_health(1_000, 1_250, 5_000, 60_000);
        assert_eq!(running.last_tick_age_ms, Some(250));
        assert_eq!((running.state, running.ok), ("running", true));
        let stalled = reactor_health(1_000, 7_000, 5_000, 60_000);
        assert_eq!((stalled.state, stalled.ok), ("stalled", false));
    }

    #[test]
    fn the_bearer_token_must_match_whole() {
        let token = BearerToken::new("s3cret-token-0123456789");
        assert!(token.admits("Bearer s3cret-token-0123456789"));
        assert!(token.admits("Bearer s3cret-token-0123456789 "));
        for wrong in [
            "Bearer s3cret-token-012345678",
            "Bearer s3cret-token-01234567890",
            "Bearer S3cret-token-0123456789",
            "Basic s3cret-token-0123456789",
            "s3cret-token-0123456789",
            "Bearer ",
            "",
        ] {
            assert!(!token.admits(wrong), "{wrong:?}");
        }
    }
}
