//! The one configuration file: schema, defaults, validation, error messages.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`): a misspelt or
//! unsupported key is an error naming the key and its line, never a setting
//! that is silently ignored. Values are range-checked after parsing, and
//! those errors name the key and line as well.

mod auth;
mod bus;
mod duration;
mod journal;
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

pub use auth::{AuthConfig, AuthMode};
pub use bus::{AnswerSource, BackendFallback, BusConfig, BusKind};
pub use journal::JournalConfig;
pub use tls::{TlsConfig, TlsVersion};

use crate::ocpp::OcppVersion;
use duration::{duration_text, ms};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: ListenConfig,
    pub reactors: ReactorsConfig,
    pub websocket: WebSocketConfig,
    pub channels: ChannelsConfig,
    pub processors: ProcessorsConfig,
    pub ocpp: OcppConfig,
    pub log: LogConfig,
    pub shutdown: ShutdownConfig,
    pub auth: AuthConfig,
    pub journal: JournalConfig,
    pub admin: AdminConfig,
    pub tls: TlsConfig,
    pub bus: BusConfig,
}

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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReactorsConfig {
    /// Event loops; 0 = one per core.
    pub count: usize,
    /// Pin reactor N to core N (mod cores).
    pub pin_cores: bool,
    /// Timer wheel resolution: timeouts fire at most this late.
    #[serde(with = "duration_text")]
    pub timer_tick: Duration,
}

impl Default for ReactorsConfig {
    fn default() -> Self {
        ReactorsConfig {
            count: 0,
            pin_cores: true,
            timer_tick: Duration::from_millis(100),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Largest message (and frame) accepted; beyond it the connection is closed 1009.
    pub max_message_size: usize,
    /// Initial read buffer per connection. It is resident memory for every
    /// connection, so it is small; it grows only to hold a larger frame.
    pub read_buffer_size: usize,
    /// Outgoing bytes held for a charge point that does not read, before the
    /// connection is closed.
    pub max_write_buffer_size: usize,
    #[serde(with = "duration_text")]
    pub handshake_timeout: Duration,
    #[serde(with = "duration_text")]
    pub ping_interval: Duration,
    /// Dead peer: nothing received for `ping_interval + pong_timeout`.
    #[serde(with = "duration_text")]
    pub pong_timeout: Duration,
    /// How long to wait for the peer's close frame after sending ours.
    #[serde(with = "duration_text")]
    pub close_timeout: Duration,
    /// A message (all its fragments) must arrive within this time from its
    /// first byte, or the connection is closed 1008. Pings and pongs do
    /// not extend it.
    #[serde(with = "duration_text")]
    pub message_timeout: Duration,
    /// Bytes held in partly received messages, all connections together.
    /// Past it a reactor stops reading the connections that hold part of
    /// a message until the total falls again.
    pub max_buffered_bytes: usize,
    /// Bytes one connection may deliver per poll turn; the rest is read
    /// on the next turn, so a fast sender cannot monopolise its reactor.
    pub bytes_per_turn: usize,
    /// Messages (data or control) one connection may deliver per poll turn.
    pub frames_per_turn: usize,
    /// A peer that takes none of what the gateway has to send for this long
    /// is dropped (checked with the dead-peer check, so up to
    /// `ping_interval + pong_timeout` later).
    #[serde(with = "duration_text")]
    pub write_timeout: Duration,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_size: 1 << 20,
            read_buffer_size: 1024,
            max_write_buffer_size: 4 << 20,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            message_timeout: Duration::from_secs(30),
            max_buffered_bytes: 128 << 20,
            bytes_per_turn: 64 << 10,
            frames_per_turn: 32,
            write_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Capacity of every bounded channel in the program.
    pub capacity: usize,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig { capacity: 8192 }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorsConfig {
    /// Threads answering charge-point CALLs.
    pub threads: usize,
}

impl Default for ProcessorsConfig {
    fn default() -> Self {
        ProcessorsConfig { threads: 2 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingSubprotocol {
    /// OCPP-J: accept the upgrade without a subprotocol, then close 1002.
    Close,
    /// Let old firmware that offers no subprotocol in as OCPP 1.6.
    #[serde(rename = "assume-ocpp1.6")]
    AssumeOcpp16,
}

/// What to do when a charge point connects while its id is already connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicateId {
    /// Close the old connection (1008), keep the new one.
    Replace,
    /// Refuse the new one with HTTP 409.
    Reject,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcppConfig {
    /// Subprotocols the gateway accepts; the client's order picks among them.
    pub subprotocols: Vec<OcppVersion>,
    pub missing_subprotocol: MissingSubprotocol,
    pub duplicate_id: DuplicateId,
    /// `interval` returned in BootNotification.conf.
    #[serde(with = "duration_text")]
    pub heartbeat_interval: Duration,
    /// Longest charge point id accepted in the URL.
    pub max_id_length: usize,
    /// DataTransfer vendorIds answered `Accepted`; others get `UnknownVendorId`.
    pub data_transfer_vendors: Vec<String>,
    /// Holds the high-water mark of issued transactionIds, so ids stay unique
    /// across restarts.
    pub transaction_id_file: PathBuf,
    /// CALLs per second one charge point may send (token bucket); over it
    /// the reactor stops reading that connection until a token is due.
    /// 0 = unlimited.
    pub max_calls_per_second: f64,
    /// Calls a charge point may send at once above the rate.
    pub call_burst: u32,
    /// Malformed or schema-breaking messages tolerated within
    /// `bad_message_window`; one more closes the connection 1008. 0 = never.
    pub max_bad_messages: u32,
    #[serde(with = "duration_text")]
    pub bad_message_window: Duration,
    /// Server calls (commands) waiting behind the outstanding one, per
    /// connection; beyond it a command is refused at once (503).
    pub max_queued_server_calls: usize,
}

impl Default for OcppConfig {
    fn default() -> Self {
        OcppConfig {
            subprotocols: vec![OcppVersion::V16],
            missing_subprotocol: MissingSubprotocol::Close,
            duplicate_id: DuplicateId::Replace,
            heartbeat_interval: Duration::from_secs(300),
            max_id_length: 48,
            data_transfer_vendors: Vec::new(),
            transaction_id_file: PathBuf::from("ocpp-gateway.txid"),
            max_calls_per_second: 0.0,
            call_burst: 10,
            max_bad_messages: 100,
            bad_message_window: Duration::from_secs(60),
            max_queued_server_calls: 16,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    /// `stdout`, `stderr`, or a file path (reopened on SIGHUP).
    pub output: String,
    pub format: LogFormat,
    /// The writer thread flushes its buffer at least this often.
    #[serde(with = "duration_text")]
    pub flush_interval: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Info,
            output: "stdout".into(),
            format: LogFormat::Text,
            flush_interval: Duration::from_millis(100),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// On SIGTERM: time for charge points to finish the close handshake and
    /// for queues to drain before connections are cut.
    #[serde(with = "duration_text")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace: Duration::from_secs(10),
        }
    }
}

/// A configuration error, located: file, line (when the key is in the
/// file), key path, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let bytes = std::fs::read(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_owned(),
                line: None,
                key: None,
                message: format!("cannot read the configuration file: {e}"),
            }]
        })?;
        Config::parse_bytes(&bytes, path)
    }

    /// Parses and validates the bytes of a configuration file; `path` only
    /// labels errors. TOML is UTF-8: a file that is not gets one error, at
    /// the line (and key) of its first invalid byte.
    pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Config, Vec<ConfigError>> {
        let invalid = match std::str::from_utf8(bytes) {
            Ok(text) => return Config::parse(text, path),
            Err(e) => e.valid_up_to(),
        };
        // Up to `invalid` the lossy text has the same bytes, so offsets
        // before it (the line start, the key) are the file's.
        let text = String::from_utf8_lossy(bytes);
        let line_start = text[..invalid].rfind('\n').map_or(0, |n| n + 1);
        Err(vec![ConfigError {
            file: path.to_owned(),
            line: Some(line_of(&text, invalid)),
            key: key_on_line(&text, invalid),
            message: format!(
                "byte 0x{:02X} (column {}) is not UTF-8; a TOML file must be UTF-8 \
                 (re-save it as UTF-8, or write the character as \\uXXXX)",
                bytes[invalid],
                invalid - line_start + 1
            ),
        }])
    }

    /// Parses and validates configuration text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            vec![ConfigError {
                file: path.to_owned(),
                line: offset.map(|o| line_of(text, o)),
                // Some errors leave the key out of the recovered document
                // (a duplicate key, an unterminated string): then the key is
                // read off the error's line.
                key: offset.and_then(|o| key_at(text, o).or_else(|| key_on_line(text, o))),
                message: e.message().trim().to_owned(),
            }]
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            return Ok(config);
        }
        Err(problems
            .into_iter()
            .map(|(key, message)| ConfigError {
                file: path.to_owned(),
                line: key_offset(text, key).map(|o| line_of(text, o)),
                key: Some(key.to_owned()),
                message,
            })
            .collect())
    }

    /// Range and consistency checks that the types alone cannot express.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut check = |ok: bool, key: &'static str, message: &str| {
            if !ok {
                out.push((key, message.to_owned()));
            }
        };
        let l = &self.listen;
        check(
            l.path_prefix.starts_with('/') && !l.path_prefix.ends_with('/')
                || l.path_prefix.is_empty(),
            "listen.path_prefix",
            "must start with `/` and not end with `/` (e.g. \"/ocpp\"), or be \"\" to serve /{id}",
        );
        check(
            (1..=1 << 20).contains(&l.backlog),
            "listen.backlog",
            "must be between 1 and 1048576",
        );
        check(
            (1..=10_000_000).contains(&l.max_connections),
            "listen.max_connections",
            "must be between 1 and 10000000",
        );
        check(
            self.reactors.count <= 1024,
            "reactors.count",
            "must be 0 (one per core) to 1024",
        );
        check(
            ms(self.reactors.timer_tick) >= 1 && ms(self.reactors.timer_tick) <= 1000,
            "reactors.timer_tick",
            "must be between 1ms and 1s",
        );
        let w = &self.websocket;
        check(
            (64..=64 << 20).contains(&w.max_message_size),
            "websocket.max_message_size",
            "must be between 64 bytes and 64 MiB",
        );
        check(
            (256..=1 << 20).contains(&w.read_buffer_size),
            "websocket.read_buffer_size",
            "must be between 256 bytes and 1 MiB",
        );
        check(
            // Saturating: max_message_size is range-checked above, but every
            // check runs, so this one sees it unchecked.
            w.max_write_buffer_size >= w.max_message_size.saturating_add(16)
                && w.max_write_buffer_size <= 1 << 30,
            "websocket.max_write_buffer_size",
            "must exceed websocket.max_message_size (or the largest answer could never be sent) \
             and be at most 1 GiB",
        );
        for (key, value) in [
            ("websocket.handshake_timeout", w.handshake_timeout),
            ("websocket.ping_interval", w.ping_interval),
            ("websocket.pong_timeout", w.pong_timeout),
            ("websocket.close_timeout", w.close_timeout),
            ("websocket.write_timeout", w.write_timeout),
        ] {
            check(
                value >= self.reactors.timer_tick && value <= Duration::from_secs(86_400),
                key,
                "must be at least reactors.timer_tick and at most 24h",
            );
        }
        check(
            (1..=1 << 24).contains(&self.channels.capacity),
            "channels.capacity",
            "must be between 1 and 16777216",
        );
        check(
            (1..=1024).contains(&self.processors.threads),
            "processors.threads",
            "must be between 1 and 1024",
        );
        let o = &self.ocpp;
        check(
            !o.subprotocols.is_empty(),
            "ocpp.subprotocols",
            "must name at least one of \"ocpp1.6\", \"ocpp2.0.1\"",
        );
        check(
            o.missing_subprotocol == MissingSubprotocol::Close
                || o.subprotocols.contains(&OcppVersion::V16),
            "ocpp.missing_subprotocol",
            "\"assume-ocpp1.6\" needs \"ocpp1.6\" in ocpp.subprotocols",
        );
        let hb = o.heartbeat_interval.as_secs();
        check(
            (1..=i32::MAX as u64).contains(&hb) && o.heartbeat_interval.subsec_nanos() == 0,
            "ocpp.heartbeat_interval",
            "must be a whole number of seconds, at least 1s",
        );
        check(
            (1..=255).contains(&o.max_id_length),
            "ocpp.max_id_length",
            "must be between 1 and 255",
        );
        check(
            o.data_transfer_vendors
                .iter()
                .all(|v| !v.is_empty() && v.len() <= 255),
            "ocpp.data_transfer_vendors",
            "vendor ids must be 1 to 255 characters",
        );
        check(
            !o.transaction_id_file.as_os_str().is_empty(),
            "ocpp.transaction_id_file",
            "must be a file path",
        );
        let log = &self.log;
        check(
            !log.output.is_empty(),
            "log.output",
            "must be stdout, stderr or a file path",
        );
        check(
            ms(log.flush_interval) >= 1 && log.flush_interval <= Duration::from_secs(60),
            "log.flush_interval",
            "must be between 1ms and 60s",
        );
        check(
            self.shutdown.grace <= Duration::from_secs(3600),
            "shutdown.grace",
            "must be at most 1h",
        );
        let admin = &self.admin;
        check(
            admin.bearer_token.as_ref().is_none_or(|t| t.len() >= 16),
            "admin.bearer_token",
            "must be at least 16 characters (or left out)",
        );
        check(
            // Saturating: timer_tick is range-checked above, but every check
            // runs, so this one sees it unchecked. The upper bound keeps its
            // milliseconds within a u64 for /health.
            admin.stall_after >= self.reactors.timer_tick.saturating_mul(2)
                && admin.stall_after <= Duration::from_secs(3600),
            "admin.stall_after",
            "must be at least two reactors.timer_tick and at most 1h",
        );
        check(
            admin.call_timeout >= Duration::from_millis(1)
                && admin.call_timeout <= Duration::from_secs(3600),
            "admin.call_timeout",
            "must be between 1ms and 1h",
        );
        check(
            (1..=65_536).contains(&admin.max_connections),
            "admin.max_connections",
            "must be between 1 and 65536",
        );
        check(
            (256..=1 << 20).contains(&admin.max_header_bytes),
            "admin.max_header_bytes",
            "must be between 256 bytes and 1 MiB",
        );
        check(
            (4..=1024).contains(&admin.max_headers),
            "admin.max_headers",
            "must be between 4 and 1024",
        );
        check(
            (1 << 10..=64 << 20).contains(&admin.max_body_bytes),
            "admin.max_body_bytes",
            "must be between 1 KiB and 64 MiB",
        );
        check(
            admin.read_timeout >= self.reactors.timer_tick
                && admin.read_timeout <= Duration::from_secs(3600),
            "admin.read_timeout",
            "must be at least reactors.timer_tick and at most 1h",
        );
        check(
            // Each command's outcome needs a place in the admin thread's
            // reply channel, whose capacity is channels.capacity (when that
            // is 0, its own error says so).
            admin.max_commands_in_flight >= 1
                && (self.channels.capacity == 0
                    || admin.max_commands_in_flight <= self.channels.capacity),
            "admin.max_commands_in_flight",
            "must be between 1 and channels.capacity",
        );
        check(
            l.plain || self.tls.enabled,
            "listen.plain",
            "false needs tls.enabled = true, or the gateway would listen nowhere",
        );
        check(
            // Port 0 (any free port) is two different ports.
            !(l.plain
                && self.tls.enabled
                && l.address == self.tls.address
                && l.address.port() != 0),
            "tls.address",
            "must differ from listen.address when both listeners are on",
        );
        check(
            (1..=10_000_000).contains(&l.max_handshakes),
            "listen.max_handshakes",
            "must be between 1 and 10000000",
        );
        check(
            l.max_handshakes_per_second <= 10_000_000,
            "listen.max_handshakes_per_second",
            "must be at most 10000000 (0 = unlimited)",
        );
        for (key, size) in [
            ("listen.socket_send_buffer", l.socket_send_buffer),
            ("listen.socket_receive_buffer", l.socket_receive_buffer),
        ] {
            check(
                size == 0 || (4096..=64 << 20).contains(&size),
                key,
                "must be 0 (the kernel's autotuning) or between 4096 bytes and 64 MiB",
            );
        }
        check(
            (1..=65_536).contains(&l.accepts_per_turn),
            "listen.accepts_per_turn",
            "must be between 1 and 65536",
        );
        check(
            w.message_timeout >= self.reactors.timer_tick
                && w.message_timeout <= Duration::from_secs(86_400),
            "websocket.message_timeout",
            "must be at least reactors.timer_tick and at most 24h",
        );
        check(
            w.max_buffered_bytes >= w.max_message_size && w.max_buffered_bytes <= 1 << 40,
            "websocket.max_buffered_bytes",
            "must be at least websocket.max_message_size (or no large message could complete) and at most 1 TiB",
        );
        check(
            (1024..=64 << 20).contains(&w.bytes_per_turn),
            "websocket.bytes_per_turn",
            "must be between 1024 bytes and 64 MiB",
        );
        check(
            (1..=65_536).contains(&w.frames_per_turn),
            "websocket.frames_per_turn",
            "must be between 1 and 65536",
        );
        check(
            o.max_calls_per_second.is_finite() && (0.0..=1e6).contains(&o.max_calls_per_second),
            "ocpp.max_calls_per_second",
            "must be between 0 (unlimited) and 1000000",
        );
        check(
            (1..=1_000_000).contains(&o.call_burst),
            "ocpp.call_burst",
            "must be between 1 and 1000000",
        );
        check(
            o.bad_message_window >= self.reactors.timer_tick
                && o.bad_message_window <= Duration::from_secs(86_400),
            "ocpp.bad_message_window",
            "must be at least reactors.timer_tick and at most 24h",
        );
        check(
            o.max_queued_server_calls <= 1024,
            "ocpp.max_queued_server_calls",
            "must be at most 1024",
        );
        let keepalive = w.ping_interval.saturating_add(w.pong_timeout);
        check(
            !self.bus.enabled() || self.bus.backend_timeout <= keepalive,
            "bus.backend_timeout",
            "must not exceed websocket.ping_interval + websocket.pong_timeout: a charge point \
             waiting that long for its answer would outlast the gateway's own keepalive",
        );
        out.extend(self.tls.problems(self.reactors.timer_tick));
        out.extend(self.auth.problems());
        out.extend(self.journal.problems());
        if self.bus.enabled() && !self.journal.enabled {
            // Events reach the bus from the journal (store and forward).
            out.push((
                "journal.enabled",
                "must be true when bus.kind = \"nats\": events reach the bus through the journal"
                    .into(),
            ));
        }
        out.extend(self.bus.problems());
        out
    }

    /// Reactors to run: the configured count, or one per core.
    pub fn reactor_count(&self) -> usize {
        match self.reactors.count {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The effective configuration as TOML, defaults filled in, and every
    /// key of [`SECRET_KEYS`] that is set shown as [`REDACTED`]: the text
    /// is for people, terminals and logs.
    pub fn to_toml(&self) -> String {
        match toml::to_string(self) {
            Ok(text) => redact_secrets(text),
            Err(e) => format!("# cannot print configuration: {e}\n"),
        }
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key path whose key or value covers `offset`, deepest first.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            if let DeValue::Table(inner) = value.get_ref()
                && let Some(found) = walk(inner, offset, &path)
            {
                return Some(found);
            }
            if key.span().contains(&offset) || value.span().contains(&offset) {
                return Some(path);
            }
        }
        None
    }
    let (doc, _) = DeTable::parse_recoverable(text);
    walk(doc.get_ref(), offset, "")
}

/// Byte offset of a dotted key path in the file, if it is written there.
fn key_offset(text: &str, path: &str) -> Option<usize> {
    entry_spans(text, path).map(|(key, _)| key.start)
}

/// The byte ranges of a dotted key path's key and value in the text, if it
/// is written there.
fn entry_spans(text: &str, path: &str) -> Option<(Range<usize>, Range<usize>)> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut table = doc.get_ref();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        if parts.peek().is_none() {
            return Some((key.span(), value.span()));
        }
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    None
}

/// Keys whose values are secrets (dotted paths, as in the file). Whatever
/// prints the configuration shows them as [`REDACTED`]; a new secret key is
/// added here, and nowhere else.
pub const SECRET_KEYS: &[&str] = &["admin.bearer_token", "bus.password", "bus.token"];

/// What a secret's value is printed as.
pub const REDACTED: &str = "<redacted>";

/// `text` (TOML) with the value of each [`SECRET_KEYS`] key that it holds
/// replaced by `"<redacted>"`; everything else as it was, in its order.
fn redact_secrets(mut text: String) -> String {
    let mut values: Vec<Range<usize>> = SECRET_KEYS
        .iter()
        .filter_map(|key| entry_spans(&text, key).map(|(_, value)| value))
        .collect();
    // From the end, so that each replacement leaves the earlier ranges valid.
    values.sort_by_key(|value| std::cmp::Reverse(value.start));
    for value in values {
        text.replace_range(value, &format!("\"{REDACTED}\""));
    }
    text
}

/// The dotted key path at `offset`, read from the text alone, for errors
/// that the parsed document cannot place (a duplicate key, an unterminated
/// string, invalid UTF-8): the key of the statement the offset is in — the
/// `key =` on its line, or the key whose multi-line value (array, inline
/// table, `"""` string) spans that line —, below the table header above it;
/// or that header when the line is one. `None` on a line that is neither.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let mut table: Option<String> = None;
    // The key whose value is still open at the start of the next line.
    let mut open_key: Option<String> = None;
    let mut value = ValueScan::default();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let at_offset = offset < line_start + line.len() || line_start + line.len() == text.len();
        let key = if value.is_open() {
            value.scan(line);
            open_key.clone()
        } else if let Some(header) = table_header(line) {
            table = Some(header.clone());
            value = ValueScan::default();
            Some(header)
        } else if let Some(before) = until_unquoted(line, b'=')
            && let Some(key) = dotted_key(before)
        {
            value = ValueScan::default();
            value.scan(&line[before.len() + 1..]);
            Some(match &table {
                Some(table) => format!("{table}.{key}"),
                None => key,
            })
        } else {
            None
        };
        if at_offset {
            return key;
        }
        open_key = if value.is_open() { key } else { None };
        line_start += line.len();
    }
    None
}

/// How much of a value is still open after the lines scanned so far: a
/// multi-line string, or unclosed `[` / `{`. Single-line strings and
/// comments end with their line.
#[derive(Default)]
struct ValueScan {
    /// `"""` or `'''` when inside a multi-line string.
    multi_line: Option<&'static str>,
    /// Unclosed `[` and `{`.
    depth: usize,
}

impl ValueScan {
    fn is_open(&self) -> bool {
        self.multi_line.is_some() || self.depth > 0
    }

    fn scan(&mut self, line: &str) {
        let mut rest = line;
        while !rest.is_empty() {
            if let Some(close) = self.multi_line {
                let Some(end) = find_closing(rest, close) else {
                    return;
                };
                self.multi_line = None;
                rest = &rest[end + close.len()..];
                continue;
            }
            if let Some(open) = ["\"\"\"", "'''"].into_iter().find(|q| rest.starts_with(q)) {
                self.multi_line = Some(open);
                rest = &rest[open.len()..];
                continue;
            }
            let mut chars = rest.char_indices();
            let Some((_, c)) = chars.next() else { return };
            match c {
                '#' => return,
                '"' | '\'' => match find_closing(&rest[1..], if c == '"' { "\"" } else { "'" }) {
                    Some(end) => rest = &rest[end + 2..],
                    // Unterminated: it ends with the line (an error the
                    // parser reports on this line).
                    None => return,
                },
                '[' | '{' => self.depth += 1,
                ']' | '}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            if !matches!(c, '"' | '\'') {
                rest = chars.as_str();
            }
        }
    }
}

/// Where `close` first appears in `s`; in basic strings (`"`, `"""`) a
/// backslash escapes the next character.
fn find_closing(s: &str, close: &str) -> Option<usize> {
    let escapes = close.starts_with('"');
    let mut i = 0;
    while i < s.len() {
        // Bytes, not `&s[i..]`: `i` may be inside a multi-byte character.
        // A match is ASCII, so the index returned is a character boundary.
        if escapes && s.as_bytes()[i] == b'\\' {
            i += 2;
            continue;
        }
        if s.as_bytes()[i..].starts_with(close.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The dotted path of a `[table]` or `[[array]]` header line.
fn table_header(line: &str) -> Option<String> {
    let inner = line.trim_start().strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    dotted_key(until_unquoted(inner, b']')?)
}

/// The part of `s` before the first `stop` byte outside quotes, if any.
fn until_unquoted(s: &str, stop: u8) -> Option<&str> {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'#' => return None,
            None if b == stop => return Some(&s[..i]),
            None => {}
        }
    }
    None
}

/// `a . "b c"` as `a.b c`: the parts of a dotted key, trimmed and unquoted.
/// `None` unless every part is a bare key or a quoted one.
fn dotted_key(s: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut rest = s.trim();
    loop {
        let (part, after) = match rest.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => {
                let end = rest[1..].find(q as char)? + 1;
                (&rest[1..end], &rest[end + 1..])
            }
            _ => {
                let end = rest.find('.').unwrap_or(rest.len());
                let part = rest[..end].trim_end();
                let bare = part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if part.is_empty() || !bare {
                    return None;
                }
                (part, &rest[end..])
            }
        };
        parts.push(part);
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(after_dot) => rest = after_dot.trim_start(),
            None if rest.is_empty() => return Some(parts.join(".")),
            None => return None,
        }
    }
}

/// What range checks find, `(key, message)`, the key a dotted path as in
/// the file (`listen.backlog`): [`Config::parse`] turns each into a
/// [`ConfigError`] at the key's line.
#[derive(Default)]
struct Problems(Vec<(&'static str, String)>);

impl Problems {
    /// Records `message` against `key` unless `ok`.
    fn check(&mut self, ok: bool, key: &'static str, message: impl Into<String>) {
        if !ok {
            self.0.push((key, message.into()));
        }
    }

    fn into_vec(self) -> Vec<(&'static str, String)> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<ConfigError> {
        Config::parse(text, Path::new("g.toml")).unwrap_err()
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let c = Config::parse("", Path::new("g.toml")).unwrap();
        assert_eq!(c.websocket.read_buffer_size, 1024);
        assert_eq!(c.ocpp.subprotocols, vec![OcppVersion::V16]);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = errors("[log]\nlevel = \"info\"\nasync = true\n");
        assert_eq!(e[0].line, Some(3), "{e:?}");
        assert_eq!(e[0].key.as_deref(), Some("log.async"));
        assert!(e[0].message.contains("unknown field"), "{}", e[0]);
    }

    #[test]
    fn out_of_range_names_key_and_line() {
        let e = errors("[channels]\n\ncapacity = 0\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(3));
        assert_eq!(e[0].key.as_deref(), Some("channels.capacity"));
        assert_eq!(e[0].to_string().split(':').nth(1), Some("3"));
    }

    #[test]
    fn bad_duration_is_explained() {
        let e = errors("[websocket]\nping_interval = \"soon\"\n");
        assert_eq!(e[0].line, Some(2));
        assert!(e[0].message.contains("not a duration"), "{}", e[0]);
    }

    #[test]
    fn tls_needs_certificate_and_key() {
        let e = errors("[tls]\nenabled = true\n");
        let keys: Vec<_> = e.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(keys, ["tls.certificate_chain", "tls.private_key"], "{e:?}");
        let e = errors("[listen]\nplain = false\n");
        assert_eq!(e[0].key.as_deref(), Some("listen.plain"));
        assert_eq!(e[0].line, Some(2));
        let e = errors("[tls]\nmin_version = \"1.1\"\n");
        assert_eq!(e[0].key.as_deref(), Some("tls.min_version"), "{e:?}");
        let c = Config::parse(
            "[tls]\nenabled = true\ncertificate_chain = \"c.pem\"\nprivate_key = \"k.pem\"\nmin_version = \"1.3\"\n",
            Path::new("g.toml"),
        )
        .unwrap();
        assert_eq!(c.tls.min_version, TlsVersion::V13);
    }

    #[test]
    fn limits_are_range_checked() {
        let keys = |text: &str| -> Vec<String> {
            errors(text).into_iter().filter_map(|e| e.key).collect()
        };
        assert_eq!(
            keys(
                "[websocket]\nmax_buffered_bytes = 1000\nbytes_per_turn = 10\nframes_per_turn = 0\n"
            ),
            [
                "websocket.max_buffered_bytes",
                "websocket.bytes_per_turn",
                "websocket.frames_per_turn"
            ]
        );
        assert_eq!(
            keys("[ocpp]\nmax_calls_per_second = -1.0\ncall_burst = 0\n"),
            ["ocpp.max_calls_per_second", "ocpp.call_burst"]
        );
        assert_eq!(
            keys("[listen]\nmax_handshakes = 0\naccepts_per_turn = 0\n"),
            ["listen.max_handshakes", "listen.accepts_per_turn"]
        );
        // A charge point waiting for the backend longer than the gateway's
        // own keepalive allows.
        let e = errors(
            "[websocket]\nping_interval = \"5s\"\npong_timeout = \"5s\"\n\
             [bus]\nkind = \"nats\"\nbackend_timeout = \"30s\"\n",
        );
        assert_eq!(e[0].key.as_deref(), Some("bus.backend_timeout"), "{e:?}");
        assert_eq!(e[0].line, Some(6));
    }

    #[test]
    fn admin_limits_are_range_checked() {
        let e = errors("[admin]\nmax_header_bytes = 10\nmax_headers = 0\n");
        let keys: Vec<_> = e.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(
            keys,
            ["admin.max_header_bytes", "admin.max_headers"],
            "{e:?}"
        );
        assert_eq!(e[0].line, Some(2));
        let e = errors("[channels]\ncapacity = 100\n[admin]\nmax_commands_in_flight = 101\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key.as_deref(), Some("admin.max_commands_in_flight"));
        assert_eq!(e[0].line, Some(4));
        let e = errors("[admin]\nread_timeout = \"1ms\"\nmax_body_bytes = 0\n");
        let keys: Vec<_> = e.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(
            keys,
            ["admin.max_body_bytes", "admin.read_timeout"],
            "{e:?}"
        );
        let c = Config::parse("[admin]\nmax_connections = 2\n", Path::new("g.toml")).unwrap();
        assert_eq!(c.admin.max_connections, 2);
        assert_eq!(c.admin.max_commands_in_flight, 256);
    }

    #[test]
    fn effective_config_round_trips() {
        let c = Config::default();
        let again = Config::parse(&c.to_toml(), Path::new("x")).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
    }
}
