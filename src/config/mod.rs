//! The one configuration file: schema, defaults, validation, error messages.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`): a misspelt or
//! unsupported key is an error naming the key and its line, never a setting
//! that is silently ignored. Values are range-checked after parsing, and
//! those errors name the key and line as well.
//!
//! This module holds [`Config`], loading and validating the whole file,
//! and [`ConfigError`]. Each table is a file of its own, its type with its
//! defaults and its own range checks (`listen.rs` for `[listen]`, …), and
//! all are re-exported here; the checks across tables are in
//! `Config::problems`. `duration.rs` parses and prints durations,
//! `toml_text.rs` reads the text (a key's line, the secrets to redact).
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
mod problems;
mod processors;
mod profiles;
mod queue;
mod reactors;
mod shutdown;
mod threads;
mod tls;
mod toml_text;
mod trace;
mod websocket;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::log::{LogConfig, LogFormat, LogLevel};
use self::problems::Problems;
pub use admin::AdminConfig;
pub use auth::{AuthConfig, AuthMode};
pub use bus::{AnswerSource, BackendFallback, BusConfig, BusKind};
pub use channels::ChannelsConfig;
pub use journal::JournalConfig;
pub use listen::ListenConfig;
pub use ocpp::{DuplicateId, MissingSubprotocol, OcppConfig};
pub use processors::ProcessorsConfig;
pub use profiles::{BootFacts, Glob, MAX_PROFILES, ProfileConfig, ProfileTable, Settings};
pub use queue::QueueConfig;
pub use reactors::ReactorsConfig;
pub use shutdown::ShutdownConfig;
pub use threads::ThreadsConfig;
pub use tls::{TlsConfig, TlsVersion};
pub use toml_text::{REDACTED, SECRET_KEYS};
pub use trace::{MAX_TRACE_MINUTES, TraceConfig};
pub use websocket::WebSocketConfig;

use toml_text::{key_at, key_offset, key_on_line, line_of, redact_secrets};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: ListenConfig,
    pub reactors: ReactorsConfig,
    pub websocket: WebSocketConfig,
    pub channels: ChannelsConfig,
    pub processors: ProcessorsConfig,
    pub threads: ThreadsConfig,
    pub ocpp: OcppConfig,
    pub log: LogConfig,
    pub shutdown: ShutdownConfig,
    pub auth: AuthConfig,
    pub journal: JournalConfig,
    pub admin: AdminConfig,
    pub tls: TlsConfig,
    pub bus: BusConfig,
    /// `[trace]`: frame traces of single charge points (off without a directory).
    pub trace: TraceConfig,
    /// `[queue]`: commands kept for charge points that are not connected.
    pub queue: QueueConfig,
    /// `[[profiles]]`, in file order (the first match wins).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileConfig>,
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
        let mut problems: Vec<(String, String)> = config
            .problems()
            .into_iter()
            .map(|(key, message)| (key.to_owned(), message))
            .collect();
        problems.extend(profiles::problems(
            &config.profiles,
            config.reactors.timer_tick,
        ));
        problems.extend(profiles::trace_problems(
            &config.profiles,
            config.trace.enabled(),
        ));
        if problems.is_empty() {
            return Ok(config);
        }
        Err(problems
            .into_iter()
            .map(|(key, message)| ConfigError {
                file: path.to_owned(),
                line: key_offset(text, &key).map(|o| line_of(text, o)),
                key: Some(key),
                message,
            })
            .collect())
    }

    /// Range and consistency checks that the types alone cannot express:
    /// each table's own, then those across tables. The order is the order
    /// the errors are reported in.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let tick = self.reactors.timer_tick;
        let mut out = Problems::default();
        out.extend(self.listen.problems());
        out.extend(self.reactors.problems());
        out.extend(self.websocket.problems(tick));
        out.extend(self.channels.problems());
        out.extend(self.processors.problems());
        out.extend(self.threads.problems());
        out.extend(self.ocpp.problems());
        out.extend(self.log.problems());
        out.extend(self.shutdown.problems());
        out.extend(self.admin.problems(tick));
        let (l, admin) = (&self.listen, &self.admin);
        out.check(
            // Each command's outcome needs a place in the admin thread's
            // reply channel, whose capacity is channels.capacity (when that
            // is 0, its own error says so).
            admin.max_commands_in_flight >= 1
                && (self.channels.capacity == 0
                    || admin.max_commands_in_flight <= self.channels.capacity),
            "admin.max_commands_in_flight",
            "must be between 1 and channels.capacity",
        );
        out.check(
            l.plain || self.tls.enabled,
            "listen.plain",
            "false needs tls.enabled = true, or the gateway would listen nowhere",
        );
        out.check(
            // Port 0 (any free port) is two different ports.
            !(l.plain
                && self.tls.enabled
                && l.address == self.tls.address
                && l.address.port() != 0),
            "tls.address",
            "must differ from listen.address when both listeners are on",
        );
        // The tables' limits on what peers may do (handshakes, what one
        // connection delivers per turn, call rates) are reported after the
        // checks above.
        out.extend(self.listen.limit_problems());
        out.extend(self.websocket.limit_problems(tick));
        out.extend(self.ocpp.limit_problems(tick));
        let w = &self.websocket;
        let keepalive = w.ping_interval.saturating_add(w.pong_timeout);
        out.check(
            !self.bus.enabled() || self.bus.backend_timeout <= keepalive,
            "bus.backend_timeout",
            "must not exceed websocket.ping_interval + websocket.pong_timeout: a charge point \
             waiting that long for its answer would outlast the gateway's own keepalive",
        );
        out.extend(self.tls.problems(tick));
        out.extend(self.auth.problems());
        out.extend(self.journal.problems());
        out.check(
            // Events reach the bus from the journal (store and forward).
            !self.bus.enabled() || self.journal.enabled,
            "journal.enabled",
            "must be true when bus.kind = \"nats\": events reach the bus through the journal",
        );
        out.extend(self.bus.problems());
        out.extend(self.trace.problems());
        out.extend(self.queue.problems());
        out.check(
            self.queue.enabled != Some(true) || self.journal.enabled || self.bus.enabled(),
            "queue.enabled",
            "needs a keeper: journal.enabled = true (commands are kept in the journal \
             directory) or bus.kind = \"nats\" (kept in JetStream)",
        );
        out.into_vec()
    }

    /// `profiles` resolved over this configuration's global settings (at
    /// SIGHUP: the running gateway's globals with the file's new profiles).
    pub fn profile_table(&self, profiles: Vec<ProfileConfig>) -> ProfileTable {
        ProfileTable::new(&self.websocket, &self.ocpp, profiles)
    }

    /// Reactors to run: the configured count, or one per core.
    pub fn reactor_count(&self) -> usize {
        match self.reactors.count {
            0 if !self.reactors.cores.is_empty() => self.reactors.cores.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::OcppVersion;

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
    fn profiles_parse_and_their_errors_name_the_line() {
        let ok = "[[profiles]]\nname = \"quiet\"\nids = [\"QUIET-*\"]\nping_interval = \"0s\"\n\n\
                  [[profiles]]\nname = \"vendor-x\"\nvendor = \"VendorX*\"\nmodel = \"*\"\n";
        let c = Config::parse(ok, Path::new("g.toml")).unwrap();
        assert_eq!(c.profiles.len(), 2);
        assert_eq!(c.profiles[0].ping_interval, Some(std::time::Duration::ZERO));
        assert!(c.profiles[1].needs_boot());
        // The effective config prints them and reads back the same.
        let again = Config::parse(&c.to_toml(), Path::new("g.toml")).unwrap();
        assert_eq!(again.profiles, c.profiles);

        let e = errors("[[profiles]]\nname = \"a\"\nids = [\"x\"]\nping = \"5s\"\n");
        assert_eq!(e[0].line, Some(4), "{e:?}");
        assert!(e[0].message.contains("unknown field"), "{}", e[0]);
        let e = errors("[[profiles]]\nname = \"a\"\nids = [\"[x]\"]\n");
        assert_eq!(e[0].line, Some(3), "{e:?}");
        assert!(e[0].message.contains("wildcards"), "{}", e[0]);
        let e = errors(
            "[[profiles]]\nname = \"a\"\nids = [\"x\"]\n\n[[profiles]]\nname = \"b\"\n\
             vendor = \"V\"\nping_interval = \"1ms\"\nmissing_subprotocol = \"assume-ocpp1.6\"\n",
        );
        let found: Vec<(Option<&str>, Option<usize>)> =
            e.iter().map(|e| (e.key.as_deref(), e.line)).collect();
        assert_eq!(
            found,
            [
                (Some("profiles[1].ping_interval"), Some(8)),
                (Some("profiles[1].missing_subprotocol"), Some(9)),
            ],
            "{e:?}"
        );
        let e = errors("[[profiles]]\nname = \"a\"\n\n[[profiles]]\nname = \"a\"\nids = [\"x\"]\n");
        let keys: Vec<_> = e.iter().map(|e| (e.key.as_deref(), e.line)).collect();
        assert_eq!(
            keys,
            [
                (Some("profiles[0].name"), Some(2)),
                (Some("profiles[1].name"), Some(5)),
            ],
            "matches nothing; a duplicate name: {e:?}"
        );
        // Lenient quirks are a closed set, named in the error.
        let e = errors("[[profiles]]\nname = \"a\"\nids = [\"x\"]\nlenient = [\"sloppy\"]\n");
        assert_eq!(e[0].line, Some(4), "{e:?}");
        assert!(
            e[0].message.contains("sloppy") && e[0].message.contains("numbers_as_strings"),
            "{}",
            e[0]
        );
        let c = Config::parse(
            "[[profiles]]\nname = \"a\"\nids = [\"x\"]\nlenient = [\"enum_case\", \"long_strings\"]\n",
            Path::new("g.toml"),
        )
        .unwrap();
        let table = c.profile_table(c.profiles.clone());
        let lenience = table.settings(table.matching("x", None)).lenience;
        assert!(lenience.allows(crate::ocpp::schema::Quirk::EnumCase));
        assert!(!lenience.allows(crate::ocpp::schema::Quirk::ExtraFields));
        assert!(table.settings(None).lenience.is_strict());
    }

    #[test]
    fn profile_trace_globs_need_a_trace_directory() {
        let profile =
            "[[profiles]]\nname = \"debug\"\nids = [\"CP-*\"]\ntrace = [\"CP-DEBUG-*\"]\n";
        let e = errors(profile);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key.as_deref(), Some("profiles[0].trace"));
        assert_eq!(e[0].line, Some(4));
        assert!(e[0].message.contains("trace.directory"), "{}", e[0]);
        let e = errors("[[profiles]]\nname = \"a\"\nids = [\"x\"]\ntrace = [\"[x]\"]\n");
        assert_eq!(e[0].line, Some(4), "{e:?}");
        assert!(e[0].message.contains("wildcards"), "{}", e[0]);
        let e = errors("[trace]\ndirectory = \"t\"\nmax_file_bytes = 10\n");
        assert_eq!(e[0].key.as_deref(), Some("trace.max_file_bytes"), "{e:?}");
        assert_eq!(e[0].line, Some(3));

        let text = format!("[trace]\ndirectory = \"/tmp/t\"\n{profile}");
        let c = Config::parse(&text, Path::new("g.toml")).unwrap();
        let table = c.profile_table(c.profiles.clone());
        let p = table.matching("CP-DEBUG-1", None);
        assert_eq!(p, Some(0));
        assert!(table.traces(p, "CP-DEBUG-1"));
        assert!(
            !table.traces(p, "CP-1"),
            "under the profile, not in its trace globs"
        );
        assert!(!table.traces(None, "CP-DEBUG-1"));
        let again = Config::parse(&c.to_toml(), Path::new("g.toml")).unwrap();
        assert_eq!(
            (again.trace, again.profiles),
            (c.trace.clone(), c.profiles.clone())
        );
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
