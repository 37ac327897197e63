//! The `[admin]` table: the admin HTTP API, its address and token, and the
//! limits on its connections, requests and commands.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin HTTP API (health, metrics, connections, commands).
    pub enabled: bool,
    /// Keep it on loopback or a management network: it can command charge points.
    pub address: SocketAddr,
    /// When set, every route but /health requires `Authorization: Bearer <token>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// /health answers 503 when a reactor has not ticked for this long.
    #[serde(with = "duration_text")]
    pub stall_after: Duration,
    /// Timeout of a command to a charge point when the request names none.
    #[serde(with = "duration_text")]
    pub call_timeout: Duration,
    /// Admin connections open at once; a connection beyond it is answered
    /// 503 at once (its request unread) and closed.
    pub max_connections: usize,
    /// Request line and headers of one request; beyond it 431, and the
    /// connection is closed.
    pub max_header_bytes: usize,
    /// Headers of one request; beyond it 431.
    pub max_headers: usize,
    /// `Content-Length` of one request body; beyond it 413 before the body
    /// is read. Chunked bodies are refused (411).
    pub max_body_bytes: usize,
    /// A request must arrive whole within this of its first byte (else
    /// 408), a keep-alive connection may idle this long (then closed), and
    /// a response must be taken by the client within it.
    #[serde(with = "duration_text")]
    pub read_timeout: Duration,
    /// Commands waiting for charge points at once, all connections
    /// together; beyond it 503. At most `channels.capacity`.
    pub max_commands_in_flight: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            address: SocketAddr::from(([127, 0, 0, 1], 8181)),
            bearer_token: None,
            stall_after: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            max_connections: 64,
            max_header_bytes: 16 << 10,
            max_headers: 64,
            max_body_bytes: 64 << 10,
            read_timeout: Duration::from_secs(10),
            max_commands_in_flight: 256,
        }
    }
}

impl AdminConfig {
    /// Range checks, keyed like the file (`admin.max_headers`); a timeout
    /// cannot be shorter than `timer_tick` (`reactors.timer_tick`).
    /// `admin.max_commands_in_flight` depends on `[channels]` and is
    /// checked with the whole configuration.
    pub(super) fn problems(&self, timer_tick: Duration) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.bearer_token.as_ref().is_none_or(|t| t.len() >= 16),
            "admin.bearer_token",
            "must be at least 16 characters (or left out)",
        );
        out.check(
            // Saturating: timer_tick is range-checked with [reactors], but
            // every check runs, so this one sees it unchecked. The upper
            // bound keeps its milliseconds within a u64 for /health.
            self.stall_after >= timer_tick.saturating_mul(2)
                && self.stall_after <= Duration::from_secs(3600),
            "admin.stall_after",
            "must be at least two reactors.timer_tick and at most 1h",
        );
        out.check(
            self.call_timeout >= Duration::from_millis(1)
                && self.call_timeout <= Duration::from_secs(3600),
            "admin.call_timeout",
            "must be between 1ms and 1h",
        );
        out.check(
            (1..=65_536).contains(&self.max_connections),
            "admin.max_connections",
            "must be between 1 and 65536",
        );
        out.check(
            (256..=1 << 20).contains(&self.max_header_bytes),
            "admin.max_header_bytes",
            "must be between 256 bytes and 1 MiB",
        );
        out.check(
            (4..=1024).contains(&self.max_headers),
            "admin.max_headers",
            "must be between 4 and 1024",
        );
        out.check(
            (1 << 10..=64 << 20).contains(&self.max_body_bytes),
            "admin.max_body_bytes",
            "must be between 1 KiB and 64 MiB",
        );
        out.check(
            self.read_timeout >= timer_tick && self.read_timeout <= Duration::from_secs(3600),
            "admin.read_timeout",
            "must be at least reactors.timer_tick and at most 1h",
        );
        out.into_vec()
    }
}
