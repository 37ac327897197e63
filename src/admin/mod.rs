//! The admin HTTP API, on its own thread: health, metrics, connections, and
//! commands to charge points.
//!
//! It only reads published counters and sends messages to reactor inboxes
//! (through [`Control`]); it never touches a connection. HTTP parsing is
//! tiny_http's. A command blocks until the charge point answers, so each
//! runs on a short-lived thread of its own.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | 200 or 503 (a reactor has not ticked for `stall_after`), JSON |
//! | `GET /metrics` | OpenMetrics text |
//! | `GET /connections?offset=&limit=` | JSON page of open connections, sorted by id |
//! | `GET /connections/{id}` | one connection, or 404 |
//! | `POST /connections/{id}/calls` | `{"action","payload","timeout_ms"}` → 200 result, 400 invalid, 404, 502 CALLERROR/bad answer, 504 timeout |
//! | `DELETE /connections/{id}?code=N` | close it (default 1000), 200 or 404 |

mod prometheus;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use log::{info, warn};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::gateway::Control;
use crate::metrics::unix_ms;
use crate::ocpp::handshake::percent_decode;

/// Largest request body accepted (a command's JSON).
const MAX_BODY: u64 = 1 << 20;
/// Commands waiting for charge points at once; beyond it 503. Each holds
/// a thread until its charge point answers or it times out.
const MAX_COMMANDS_IN_FLIGHT: usize = 256;
static COMMANDS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Releases a command's place when its thread ends, however it ends.
struct CommandSlot;

impl CommandSlot {
    fn take() -> Option<CommandSlot> {
        let before = COMMANDS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        if before >= MAX_COMMANDS_IN_FLIGHT {
            COMMANDS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(CommandSlot)
    }
}

impl Drop for CommandSlot {
    fn drop(&mut self) {
        COMMANDS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Default and largest page of `GET /connections`.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 10_000;

pub struct Admin {
    pub address: SocketAddr,
    thread: JoinHandle<()>,
}

impl Admin {
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Binds the admin address and serves it until the gateway stops.
pub fn start(control: Arc<Control>) -> io::Result<Admin> {
    let config = &control.config.admin;
    let server = Server::http(config.address)
        .map_err(|e| io::Error::other(format!("admin.address {}: {e}", config.address)))?;
    let address = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("admin listener has no IP address"))?;
    info!("admin API on http://{address}");
    let thread = std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || serve(&server, &control))?;
    Ok(Admin { address, thread })
}

fn serve(server: &Server, control: &Arc<Control>) {
    let tick = control.config.reactors.timer_tick;
    let started = Instant::now();
    let token = control
        .config
        .admin
        .bearer_token
        .as_deref()
        .map(BearerToken::new);
    while !control.is_stopping() {
        match server.recv_timeout(tick) {
            Ok(Some(request)) => handle(request, control, token.as_ref(), started),
            Ok(None) => {}
            Err(e) => warn!("admin: {e}"),
        }
    }
}

fn json_response(status: u16, body: &Value) -> Response<io::Cursor<Vec<u8>>> {
    let mut response = Response::from_string(body.to_string()).with_status_code(status);
    if let Ok(h) = Header::from_bytes("Content-Type", "application/json") {
        response.add_header(h);
    }
    response
}

fn error(status: u16, message: impl Into<String>) -> Response<io::Cursor<Vec<u8>>> {
    json_response(status, &json!({ "error": message.into() }))
}

fn respond(request: Request, response: Response<io::Cursor<Vec<u8>>>) {
    if let Err(e) = request.respond(response) {
        warn!("admin: cannot send response: {e}");
    }
}

/// The admin bearer token, kept as its SHA-256 digest. Comparing digests
/// of equal length in constant time tells a guesser neither which byte
/// differs nor how long the token is.
struct BearerToken([u8; 32]);

impl BearerToken {
    fn new(token: &str) -> BearerToken {
        BearerToken(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether an `Authorization` header value carries this token.
    fn admits(&self, authorization: &str) -> bool {
        let Some(given) = authorization.strip_prefix("Bearer ") else {
            return false;
        };
        let given = Sha256::digest(given.trim().as_bytes());
        given[..].ct_eq(&self.0[..]).into()
    }
}

fn authorized(request: &Request, token: &BearerToken) -> bool {
    request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && token.admits(h.value.as_str()))
}

fn handle(request: Request, control: &Arc<Control>, token: Option<&BearerToken>, started: Instant) {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method().clone();
    if let Some(token) = token
        && path != "/health"
        && !authorized(&request, token)
    {
        let mut response = error(401, "missing or wrong bearer token");
        if let Ok(h) = Header::from_bytes("WWW-Authenticate", "Bearer") {
            response.add_header(h);
        }
        return respond(request, response);
    }
    let response = match (&method, segments.as_slice()) {
        (Method::Get, ["health"]) => health(control, started),
        (Method::Get, ["metrics"]) => {
            let mut response = Response::from_string(prometheus::render(control));
            if let Ok(h) = Header::from_bytes("Content-Type", prometheus::CONTENT_TYPE) {
                response.add_header(h);
            }
            response
        }
        (Method::Get, ["connections"]) => list_connections(control, query),
        (Method::Get, ["connections", id]) => match percent_decode(id) {
            Some(id) => match control.connections(Some(&id)).pop() {
                Some(info) => json_response(200, &json!(info)),
                None => error(404, format!("{id} is not connected")),
            },
            None => error(400, "bad percent-encoding in the id"),
        },
        (Method::Delete, ["connections", id]) => close_connection(control, id, query),
        (Method::Post, ["connections", id, "calls"]) => {
            let Some(slot) = CommandSlot::take() else {
                let busy = format!("{MAX_COMMANDS_IN_FLIGHT} commands are already waiting");
                return respond(request, error(503, busy));
            };
            // Blocks until the charge point answers: off the admin thread.
            let control = control.clone();
            let id = id.to_string();
            let spawned = std::thread::Builder::new()
                .name("admin-call".into())
                .spawn(move || {
                    let _slot = slot;
                    let mut request = request;
                    let response = call(&control, &id, &mut request);
                    respond(request, response);
                });
            if let Err(e) = spawned {
                warn!("admin: cannot start a command thread: {e}");
            }
            return;
        }
        (_, ["health"] | ["metrics"] | ["connections"] | ["connections", _])
        | (_, ["connections", _, "calls"]) => error(405, "method not allowed"),
        _ => error(404, "no such route"),
    };
    respond(request, response);
}

/// What /health says of one reactor.
#[derive(Debug, PartialEq, Eq)]
struct ReactorHealth {
    /// "running", "starting" (has not published yet, shortly after start)
    /// or "stalled".
    state: &'static str,
    /// None until the reactor has published once.
    last_tick_age_ms: Option<u64>,
    ok: bool,
}

/// `tick_unix_ms` is 0 until the reactor's first publish. A reactor that
/// has not published is starting, which is healthy, for `stall_ms` after
/// the admin API started (the gateway waits for first publishes before
/// starting it); after that it is stalled.
fn reactor_health(tick_unix_ms: u64, now_unix_ms: u64, stall_ms: u64, up_ms: u64) -> ReactorHealth {
    if tick_unix_ms == 0 {
        let starting = up_ms < stall_ms;
        return ReactorHealth {
            state: if starting { "starting" } else { "stalled" },
            last_tick_age_ms: None,
            ok: starting,
        };
    }
    let age = now_unix_ms.saturating_sub(tick_unix_ms);
    let ok = age < stall_ms;
    ReactorHealth {
        state: if ok { "running" } else { "stalled" },
        last_tick_age_ms: Some(age),
        ok,
    }
}

fn health(control: &Control, started: Instant) -> Response<io::Cursor<Vec<u8>>> {
    let now = unix_ms();
    let stall = control.config.admin.stall_after.as_millis() as u64;
    let up = started.elapsed().as_millis() as u64;
    let counters = control.reactor_counters();
    let mut healthy = !control.is_stopping();
    let reactors: Vec<Value> = control
        .reactor_last_ticks()
        .into_iter()
        .zip(&counters)
        .enumerate()
        .map(|(i, (tick, c))| {
            let h = reactor_health(tick, now, stall, up);
            healthy &= h.ok;
            json!({"reactor": i, "state": h.state, "last_tick_age_ms": h.last_tick_age_ms,
                   "ok": h.ok, "connections": c.connections_open})
        })
        .collect();
    let body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "reactors": reactors,
        "processor_queue_depth": control.processor_queue_depth(),
        "open_connections": control.open_connections(),
        "journal_lag": control.journal_stats().map_or(0, |j| j.lag),
        // A bus outage is not unhealthy: events wait in the journal.
        "bus": control.bus_stats().map(|b| {
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

fn list_connections(control: &Control, query: &str) -> Response<io::Cursor<Vec<u8>>> {
    let number = |name, default: usize| match query_param(query, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("{name} must be a non-negative integer")),
    };
    let (offset, limit) = match (number("offset", 0), number("limit", DEFAULT_PAGE)) {
        (Ok(o), Ok(l)) if (1..=MAX_PAGE).contains(&l) => (o, l),
        (Ok(_), Ok(_)) => return error(400, format!("limit must be 1 to {MAX_PAGE}")),
        (Err(e), _) | (_, Err(e)) => return error(400, e),
    };
    let all = control.connections(None);
    let total = all.len();
    let page: Vec<_> = all.into_iter().skip(offset).take(limit).collect();
    json_response(
        200,
        &json!({"total": total, "offset": offset, "limit": limit, "connections": page}),
    )
}

/// Close codes an operator may send (RFC 6455 §7.4: not 1004–1006, 1015).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

fn close_connection(control: &Control, id: &str, query: &str) -> Response<io::Cursor<Vec<u8>>> {
    let Some(id) = percent_decode(id) else {
        return error(400, "bad percent-encoding in the id");
    };
    let code = match query_param(query, "code").map(str::parse::<u16>) {
        None => 1000,
        Some(Ok(code)) if sendable_close_code(code) => code,
        Some(_) => return error(400, "code must be 1000-1003, 1007-1011 or 3000-4999"),
    };
    if control.close(&id, code) {
        json_response(200, &json!({"closed": id, "code": code}))
    } else {
        error(404, format!("{id} is not connected"))
    }
}

fn call(control: &Control, id: &str, request: &mut Request) -> Response<io::Cursor<Vec<u8>>> {
    let Some(id) = percent_decode(id) else {
        return error(400, "bad percent-encoding in the id");
    };
    let mut body = String::new();
    if let Err(e) = request.as_reader().take(MAX_BODY).read_to_string(&mut body) {
        return error(400, format!("cannot read the body: {e}"));
    }
    let command = match crate::command::parse(body.as_bytes(), control.config.admin.call_timeout) {
        Ok(command) => command,
        Err(reason) => return error(400, reason),
    };
    let outcome = control.call(&id, &command.action, &command.payload, command.timeout);
    let (status, body) = crate::command::outcome_body(&id, command.timeout, outcome);
    json_response(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

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
