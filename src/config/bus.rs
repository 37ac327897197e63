//! The `[bus]` table: scale-out over NATS (DESIGN.md, "Northbound"): the
//! servers and credentials, subjects and JetStream names, and which
//! charge-point CALLs the backend answers. The bridge itself is `bus`.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::problems::Problems;
use crate::ocpp::{v16, v21, v201};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// The journal alone carries events northbound.
    #[default]
    None,
    Nats,
}

/// Who answers a charge-point CALL of a given action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerSource {
    #[default]
    Local,
    /// A NATS request on `{prefix}.req.{action}`.
    Backend,
}

/// What a charge point gets when the backend does not answer in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendFallback {
    /// The gateway's own answer.
    #[default]
    Local,
    /// CALLERROR InternalError.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    pub kind: BusKind,
    /// `nats://host:port` or `tls://host:port`; the client tries each.
    pub servers: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// PEM CA certificates for `tls://` servers signed by a private CA
    /// (otherwise the system's roots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Names this gateway in events, presence and message ids; "" = host name.
    pub gateway_id: String,
    pub subject_prefix: String,
    /// JetStream stream for `{prefix}.up.>`; created when missing.
    pub stream: String,
    /// "0s": unlimited.
    #[serde(with = "duration_text")]
    pub stream_max_age: Duration,
    /// 0: unlimited.
    pub stream_max_bytes: u64,
    /// JetStream drops a re-published event (same `Nats-Msg-Id`) within this window.
    #[serde(with = "duration_text")]
    pub duplicate_window: Duration,
    pub presence_bucket: String,
    /// JetStream stream of commands kept for charge points (`{prefix}.queue.*`,
    /// `[queue]`); created when missing.
    pub queue_stream: String,
    /// KV bucket of those commands' records (key: command id).
    pub commands_bucket: String,
    /// A presence entry lives this long unless refreshed (every third of it).
    #[serde(with = "duration_text")]
    pub presence_ttl: Duration,
    #[serde(with = "duration_text")]
    pub backend_timeout: Duration,
    pub backend_fallback: BackendFallback,
    /// Commands from `{prefix}.cmd.{id}` waiting for their charge point at
    /// once; beyond it a request is answered 503 at once.
    pub max_commands_in_flight: usize,
    /// Per action name; actions not listed are answered locally.
    pub answers: BTreeMap<String, AnswerSource>,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            kind: BusKind::None,
            servers: vec!["nats://127.0.0.1:4222".into()],
            user: String::new(),
            password: String::new(),
            token: String::new(),
            tls_ca: None,
            gateway_id: String::new(),
            subject_prefix: "ocpp".into(),
            stream: "OCPP_EVENTS".into(),
            stream_max_age: Duration::from_secs(7 * 24 * 3600),
            stream_max_bytes: 0,
            duplicate_window: Duration::from_secs(600),
            presence_bucket: "ocpp_presence".into(),
            queue_stream: "OCPP_QUEUE".into(),
            commands_bucket: "ocpp_commands".into(),
            presence_ttl: Duration::from_secs(30),
            backend_timeout: Duration::from_secs(5),
            backend_fallback: BackendFallback::Local,
            max_commands_in_flight: 256,
            answers: BTreeMap::new(),
        }
    }
}

/// The longest duration handed to JetStream: 100 years of 365.25 days, as
/// humantime reads "100y"; well inside i64 nanoseconds.
const MAX_NATS_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// A NATS subject token or stream/bucket name: no separators, wildcards or spaces.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl BusConfig {
    pub fn enabled(&self) -> bool {
        self.kind == BusKind::Nats
    }

    /// Fills in `gateway_id` with the host name when it is "" (once, at start).
    pub fn resolve_gateway_id(&mut self) {
        if self.gateway_id.is_empty() {
            self.gateway_id = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "gateway".into());
        }
    }

    /// Whether CALLs of `action` go to the backend.
    pub fn answers_from_backend(&self, action: &str) -> bool {
        self.answers.get(action) == Some(&AnswerSource::Backend)
    }

    /// Whether any action is answered by the backend.
    pub fn uses_backend(&self) -> bool {
        self.answers.values().any(|a| *a == AnswerSource::Backend)
    }

    /// Range checks, keyed like the file (`bus.presence_ttl`).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        if !self.enabled() {
            return out.into_vec();
        }
        out.check(
            !self.servers.is_empty()
                && self.servers.iter().all(|s| {
                    s.starts_with("nats://") || s.starts_with("tls://") || !s.contains("://")
                }),
            "bus.servers",
            "must list at least one nats://host:port or tls://host:port",
        );
        out.check(
            self.token.is_empty() || self.user.is_empty(),
            "bus.token",
            "use either token or user/password, not both",
        );
        out.check(
            self.user.is_empty() == self.password.is_empty(),
            "bus.password",
            "user and password go together",
        );
        out.check(
            self.tls_ca.as_ref().is_none_or(|p| p.is_file()),
            "bus.tls_ca",
            "is not a readable file",
        );
        // The id goes into message ids and presence values; the names into subjects.
        out.check(
            self.gateway_id.is_empty() || is_name(&self.gateway_id),
            "bus.gateway_id",
            "may hold only letters, digits, `_` and `-`",
        );
        out.check(
            !self.subject_prefix.is_empty() && self.subject_prefix.split('.').all(is_name),
            "bus.subject_prefix",
            "must be subject tokens (letters, digits, `_`, `-`) joined by `.`",
        );
        out.check(
            is_name(&self.stream),
            "bus.stream",
            "may hold only letters, digits, `_` and `-`",
        );
        out.check(
            is_name(&self.presence_bucket),
            "bus.presence_bucket",
            "may hold only letters, digits, `_` and `-`",
        );
        out.check(
            is_name(&self.queue_stream) && self.queue_stream != self.stream,
            "bus.queue_stream",
            "may hold only letters, digits, `_` and `-`, and must differ from bus.stream",
        );
        out.check(
            is_name(&self.commands_bucket) && self.commands_bucket != self.presence_bucket,
            "bus.commands_bucket",
            "may hold only letters, digits, `_` and `-`, and must differ from bus.presence_bucket",
        );
        // JetStream takes durations as i64 nanoseconds (about 292 years);
        // async-nats converts with `as`, so a longer one would wrap.
        out.check(
            self.stream_max_age <= MAX_NATS_DURATION,
            "bus.stream_max_age",
            "must be at most 100y (\"0s\": unlimited)",
        );
        out.check(
            self.stream_max_bytes <= i64::MAX as u64,
            "bus.stream_max_bytes",
            "must be at most 9223372036854775807 (0: unlimited)",
        );
        out.check(
            self.duplicate_window >= Duration::from_secs(1)
                && self.duplicate_window <= MAX_NATS_DURATION
                && (self.stream_max_age.is_zero() || self.duplicate_window <= self.stream_max_age),
            "bus.duplicate_window",
            "must be at least 1s and at most bus.stream_max_age (and 100y)",
        );
        out.check(
            (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.presence_ttl),
            "bus.presence_ttl",
            "must be between 1s and 1h",
        );
        out.check(
            (Duration::from_millis(1)..=Duration::from_secs(300)).contains(&self.backend_timeout),
            "bus.backend_timeout",
            "must be between 1ms and 5m",
        );
        out.check(
            (1..=1_000_000).contains(&self.max_commands_in_flight),
            "bus.max_commands_in_flight",
            "must be between 1 and 1000000",
        );
        let unknown: Vec<&str> = self
            .answers
            .keys()
            .map(String::as_str)
            .filter(|a| {
                v16::Action::from_name(a).is_none()
                    && v201::Action::from_name(a).is_none()
                    && v21::Action::from_name(a).is_none()
            })
            .collect();
        out.check(
            unknown.is_empty(),
            "bus.answers",
            format!(
                "not an OCPP 1.6, 2.0.1 or 2.1 action: {}",
                unknown.join(", ")
            ),
        );
        out.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nats(text: &str) -> BusConfig {
        toml::from_str(&format!("kind = \"nats\"\n{text}")).unwrap()
    }

    #[test]
    fn defaults_are_valid_and_off() {
        let c: BusConfig = toml::from_str("").unwrap();
        assert!(!c.enabled());
        assert!(nats("").problems().is_empty());
        assert!(!nats("").answers_from_backend("BootNotification"));
        let c = nats("[answers]\nBootNotification = \"backend\"\nHeartbeat = \"local\"");
        assert!(c.answers_from_backend("BootNotification"));
        assert!(!c.answers_from_backend("Heartbeat"));
        let again: BusConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = toml::from_str::<BusConfig>("kind = \"kafka\"").unwrap_err();
        assert!(e.message().contains("unknown variant"), "{e}");
        let e = toml::from_str::<BusConfig>("async = true").unwrap_err();
        assert!(e.message().contains("unknown field"), "{e}");
        let c = nats(
            "servers = []\ntoken = \"t\"\nuser = \"u\"\ngateway_id = \"a.b\"\nsubject_prefix = \"a.*\"\n\
             stream = \"\"\npresence_bucket = \"x y\"\nqueue_stream = \"a.b\"\ncommands_bucket = \"x y\"\nduplicate_window = \"0s\"\npresence_ttl = \"10ms\"\n\
             backend_timeout = \"1h\"\ntls_ca = \"/nonexistent/ca.pem\"\n[answers]\nBootNotifcation = \"backend\"",
        );
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "bus.servers",
                "bus.token",
                "bus.password",
                "bus.tls_ca",
                "bus.gateway_id",
                "bus.subject_prefix",
                "bus.stream",
                "bus.presence_bucket",
                "bus.queue_stream",
                "bus.commands_bucket",
                "bus.duplicate_window",
                "bus.presence_ttl",
                "bus.backend_timeout",
                "bus.answers",
            ]
        );
    }
}
