//! The one configuration file: schema, defaults, validation, error messages.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`): a misspelt or
//! unsupported key is an error naming the key and its line, never a setting
//! that is silently ignored. Values are range-checked after parsing, and
//! those errors name the key and line as well.
//!
//! This module holds [`Config`], loading and validating the whole file,
//! and [`ConfigError`], and the range checks (`Config::problems`). Each
//! table is a file of its own, its type with its defaults (`listen.rs` for
//! `[listen]`, …), and all are re-exported here. `duration.rs` parses and
//! prints durations, `toml_text.rs` reads the text (a key's line, the
//! secrets to redact).
//!
//! The configuration is plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state. It depends on
//! nothing else in the crate but [`crate::ocpp`]; the modules that act on
//! a table (`auth`, `journal`, `tls`, `bus`, …) take their types from here.

mod admin;
mod auth;
mod bus;
mod channels;
mod duration;
mod journal;
mod listen;
mod log;
mod ocpp;
mod processors;
mod reactors;
mod shutdown;
mod tls;
mod toml_text;
mod websocket;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::log::{LogConfig, LogFormat, LogLevel};
pub use admin::AdminConfig;
pub use auth::{AuthConfig, AuthMode};
pub use bus::{AnswerSource, BackendFallback, BusConfig, BusKind};
pub use channels::ChannelsConfig;
pub use journal::JournalConfig;
pub use listen::ListenConfig;
pub use ocpp::{DuplicateId, MissingSubprotocol, OcppConfig};
pub use processors::ProcessorsConfig;
pub use reactors::ReactorsConfig;
pub use shutdown::ShutdownConfig;
pub use tls::{TlsConfig, TlsVersion};
pub use toml_text::{REDACTED, SECRET_KEYS};
pub use websocket::WebSocketConfig;

use crate::ocpp::OcppVersion;
use duration::ms;
use toml_text::{key_at, key_offset, key_on_line, line_of, redact_secrets};

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
