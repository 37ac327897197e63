//! The `[listen]` table: the plain ws:// listener, its path, and the
//! limits on connections, handshakes and accepts.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// Serve plain ws:// on `address`. `false` with `tls.enabled` = TLS only.
    pub plain: bool,
    /// Address charge points connect to.
    pub address: SocketAddr,
    /// URL path before the charge point id: `/ocpp` serves `/ocpp/{id}`.
    pub path_prefix: String,
    /// Listen backlog per reactor (the kernel caps it at net.core.somaxconn).
    pub backlog: u32,
    /// Open WebSocket connections, all reactors together; beyond it HTTP 503.
    pub max_connections: usize,
    /// Connections accepted but not yet upgraded, all reactors together.
    /// At the cap a reactor drops its oldest unfinished handshake to make
    /// room for a newcomer (when it has none, it stops accepting for now).
    pub max_handshakes: usize,
    /// Upgrades each reactor lets through per second (a token bucket with
    /// a burst of one second's worth); beyond it HTTP 503 with
    /// `Retry-After`. 0 = unlimited.
    pub max_handshakes_per_second: u32,
    /// New sockets one reactor accepts per poll turn before it serves its
    /// open connections again.
    pub accepts_per_turn: usize,
    /// Kernel send and receive buffer of each connection (SO_SNDBUF,
    /// SO_RCVBUF; the kernel doubles them for bookkeeping). 0 = the kernel's
    /// autotuning, which lets one connection hold megabytes.
    pub socket_send_buffer: usize,
    pub socket_receive_buffer: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            plain: true,
            address: SocketAddr::from(([0, 0, 0, 0], 8180)),
            path_prefix: "/ocpp".into(),
            backlog: 4096,
            max_connections: 20_000,
            max_handshakes: 4096,
            max_handshakes_per_second: 10_000,
            accepts_per_turn: 128,
            socket_send_buffer: 64 << 10,
            socket_receive_buffer: 64 << 10,
        }
    }
}

impl ListenConfig {
    /// The listener's path and size, keyed like the file (`listen.backlog`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.path_prefix.starts_with('/') && !self.path_prefix.ends_with('/')
                || self.path_prefix.is_empty(),
            "listen.path_prefix",
            "must start with `/` and not end with `/` (e.g. \"/ocpp\"), or be \"\" to serve /{id}",
        );
        out.check(
            (1..=1 << 20).contains(&self.backlog),
            "listen.backlog",
            "must be between 1 and 1048576",
        );
        out.check(
            (1..=10_000_000).contains(&self.max_connections),
            "listen.max_connections",
            "must be between 1 and 10000000",
        );
        out.into_vec()
    }

    /// The limits on handshakes, socket buffers and accepts per turn.
    pub(super) fn limit_problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            (1..=10_000_000).contains(&self.max_handshakes),
            "listen.max_handshakes",
            "must be between 1 and 10000000",
        );
        out.check(
            self.max_handshakes_per_second <= 10_000_000,
            "listen.max_handshakes_per_second",
            "must be at most 10000000 (0 = unlimited)",
        );
        for (key, size) in [
            ("listen.socket_send_buffer", self.socket_send_buffer),
            ("listen.socket_receive_buffer", self.socket_receive_buffer),
        ] {
            out.check(
                size == 0 || (4096..=64 << 20).contains(&size),
                key,
                "must be 0 (the kernel's autotuning) or between 4096 bytes and 64 MiB",
            );
        }
        out.check(
            (1..=65_536).contains(&self.accepts_per_turn),
            "listen.accepts_per_turn",
            "must be between 1 and 65536",
        );
        out.into_vec()
    }
}
