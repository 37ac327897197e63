//! `[[profiles]]`: settings for the charge points a profile matches, by id
//! glob and/or by what their BootNotification says (vendor, model,
//! firmware version), overriding the global ones. The first matching
//! profile wins; a charge point that matches none uses the globals.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state. Matching is a pure
//! function of the profile list, the id and the boot facts, so a reactor
//! (ping, call rate, bad-message budget) and a processor (the boot
//! interval) that match the same charge point against the same list agree.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::opt_duration_text;
use super::ocpp::{MissingSubprotocol, OcppConfig};
use super::websocket::WebSocketConfig;
use crate::ocpp::schema::{Lenience, Quirk};

/// At most this many profiles: a lookup walks the list at connect and at
/// boot (never per frame), and the list stays readable.
pub const MAX_PROFILES: usize = 256;
/// Longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 128;

/// A glob: `*` matches any run of characters (also none), `?` exactly one;
/// every other character matches itself (case-sensitive, as ids are).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Glob(String);

impl TryFrom<String> for Glob {
    type Error = String;

    fn try_from(text: String) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("an empty pattern matches nothing; write \"*\" for anything".into());
        }
        if text.chars().count() > MAX_PATTERN_LEN {
            return Err(format!("pattern longer than {MAX_PATTERN_LEN} characters"));
        }
        if let Some(c) = text
            .chars()
            .find(|c| "[]{}\\".contains(*c) || c.is_control())
        {
            return Err(format!(
                "pattern `{text}` has `{}`: only `*` (any run) and `?` (one character) \
                 are wildcards, and classes, alternatives and escapes are not supported",
                c.escape_default()
            ));
        }
        Ok(Glob(text))
    }
}

impl From<Glob> for String {
    fn from(g: Glob) -> String {
        g.0
    }
}

impl Glob {
    /// Whether `text` matches. Backtracking on the last `*` only: at most
    /// `pattern × text` steps, both bounded (the id by `ocpp.max_id_length`,
    /// boot fields by their schemas). Positions are byte offsets at char
    /// boundaries, so nothing is allocated.
    pub fn matches(&self, text: &str) -> bool {
        let (p, t) = (self.0.as_str(), text);
        let at = |s: &str, i: usize| s[i..].chars().next();
        let (mut pi, mut ti) = (0, 0);
        // Where the last `*` is in the pattern, and where in the text its
        // run would end if it took one character more.
        let mut star: Option<(usize, usize)> = None;
        while let Some(tc) = at(t, ti) {
            match at(p, pi) {
                Some(pc) if pc == '?' || pc == tc => {
                    pi += pc.len_utf8();
                    ti += tc.len_utf8();
                }
                Some('*') => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                _ => {
                    let Some((sp, st)) = star else {
                        return false;
                    };
                    let st = st + at(t, st).map_or(0, char::len_utf8);
                    (pi, ti) = (sp + 1, st);
                    star = Some((sp, st));
                }
            }
        }
        p[pi..].chars().all(|c| c == '*')
    }
}

/// One `[[profiles]]` table. Settings left out keep the global value.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Shown in `/connections/{id}` and in the log.
    pub name: String,
    /// Globs on the charge point id; empty: any id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<Glob>,
    /// BootNotification `chargePointVendor` (1.6) / `chargingStation.vendorName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Glob>,
    /// `chargePointModel` / `chargingStation.model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Glob>,
    /// `firmwareVersion` / `chargingStation.firmwareVersion`; a charge point
    /// that reports none does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<Glob>,
    /// `"0s"`: never ping; the dead-peer rule then waits for the charge
    /// point's own traffic: `heartbeat_interval + pong_timeout` of silence.
    #[serde(
        default,
        with = "opt_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub ping_interval: Option<Duration>,
    #[serde(
        default,
        with = "opt_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub pong_timeout: Option<Duration>,
    /// `interval` of the gateway's own BootNotification answer.
    #[serde(
        default,
        with = "opt_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub heartbeat_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_burst: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bad_messages: Option<u32>,
    /// Decided at the upgrade, so only an id-only profile may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_subprotocol: Option<MissingSubprotocol>,
    /// Schema violations tolerated in this profile's CALLs (lenient mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lenient: Vec<Quirk>,
    /// Globs on the id: the profile's charge points that match are traced
    /// (every frame, both ways, to `[trace] directory`) for as long as
    /// they are connected under this profile; SIGHUP re-applies the list.
    /// Needs `trace.directory`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<Glob>,
}

/// What a BootNotification said, for matching.
#[derive(Clone, Copy, Debug)]
pub struct BootFacts<'a> {
    pub vendor: &'a str,
    pub model: &'a str,
    pub firmware_version: Option<&'a str>,
}

impl ProfileConfig {
    /// Whether it names boot fields, so that it can match only from the
    /// boot on.
    pub fn needs_boot(&self) -> bool {
        self.vendor.is_some() || self.model.is_some() || self.firmware_version.is_some()
    }

    fn matches(&self, id: &str, boot: Option<BootFacts<'_>>) -> bool {
        if !self.ids.is_empty() && !self.ids.iter().any(|g| g.matches(id)) {
            return false;
        }
        if !self.needs_boot() {
            return true;
        }
        let Some(boot) = boot else {
            return false;
        };
        self.vendor.as_ref().is_none_or(|g| g.matches(boot.vendor))
            && self.model.as_ref().is_none_or(|g| g.matches(boot.model))
            && self
                .firmware_version
                .as_ref()
                .is_none_or(|g| boot.firmware_version.is_some_and(|f| g.matches(f)))
    }
}

/// The profile list in force, each profile's settings resolved against
/// the globals once (at start and at SIGHUP), so that what a CALL or a
/// timer reads is an index into a table, never a merge.
#[derive(Debug)]
pub struct ProfileTable {
    profiles: Vec<ProfileConfig>,
    /// `settings[i]` is profile `i`'s.
    settings: Vec<Settings>,
    globals: Settings,
}

impl ProfileTable {
    /// `profiles` over the globals of `ws` and `ocpp` (those of the running
    /// gateway: SIGHUP replaces the profiles, not the globals).
    pub fn new(
        ws: &WebSocketConfig,
        ocpp: &OcppConfig,
        profiles: Vec<ProfileConfig>,
    ) -> ProfileTable {
        let settings = profiles
            .iter()
            .map(|p| Settings::new(ws, ocpp, Some(p)))
            .collect();
        ProfileTable {
            profiles,
            settings,
            globals: Settings::new(ws, ocpp, None),
        }
    }

    pub fn profiles(&self) -> &[ProfileConfig] {
        &self.profiles
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The index of the first profile matching `id` (and, once booted,
    /// what its BootNotification said).
    pub fn matching(&self, id: &str, boot: Option<BootFacts<'_>>) -> Option<u16> {
        self.profiles
            .iter()
            .position(|p| p.matches(id, boot))
            .and_then(|i| u16::try_from(i).ok())
    }

    pub fn get(&self, profile: Option<u16>) -> Option<&ProfileConfig> {
        profile.and_then(|i| self.profiles.get(usize::from(i)))
    }

    /// Whether `profile` traces the charge point `id` (its `trace` globs;
    /// no profile, or an index from an older list: no).
    pub fn traces(&self, profile: Option<u16>, id: &str) -> bool {
        self.get(profile)
            .is_some_and(|p| p.trace.iter().any(|g| g.matches(id)))
    }

    /// The settings under `profile` (`None`, or an index from an older
    /// list: the globals).
    pub fn settings(&self, profile: Option<u16>) -> &Settings {
        profile
            .and_then(|i| self.settings.get(usize::from(i)))
            .unwrap_or(&self.globals)
    }
}

/// The settings in force for one charge point: its profile's, else the
/// globals. Built into a [`ProfileTable`]; connections keep only the
/// profile index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Zero: never ping.
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub max_calls_per_second: f64,
    pub call_burst: u32,
    pub max_bad_messages: u32,
    /// What the charge point's CALLs may get away with; strict without a
    /// profile (there is no global lenient mode).
    pub lenience: Lenience,
}

impl Settings {
    fn new(ws: &WebSocketConfig, ocpp: &OcppConfig, profile: Option<&ProfileConfig>) -> Settings {
        let pick = |f: fn(&ProfileConfig) -> Option<Duration>, global: Duration| {
            profile.and_then(f).unwrap_or(global)
        };
        Settings {
            ping_interval: pick(|p| p.ping_interval, ws.ping_interval),
            pong_timeout: pick(|p| p.pong_timeout, ws.pong_timeout),
            heartbeat_interval: pick(|p| p.heartbeat_interval, ocpp.heartbeat_interval),
            max_calls_per_second: profile
                .and_then(|p| p.max_calls_per_second)
                .unwrap_or(ocpp.max_calls_per_second),
            call_burst: profile
                .and_then(|p| p.call_burst)
                .unwrap_or(ocpp.call_burst),
            max_bad_messages: profile
                .and_then(|p| p.max_bad_messages)
                .unwrap_or(ocpp.max_bad_messages),
            lenience: profile.map_or(Lenience::STRICT, |p| Lenience::of(&p.lenient)),
        }
    }

    /// Silence after which a peer is dead: a ping period and its pong
    /// timeout, or, when it is never pinged, a heartbeat period and the
    /// pong timeout (the charge point's own traffic must keep it alive).
    pub fn dead_after(&self) -> Duration {
        let period = if self.ping_interval.is_zero() {
            self.heartbeat_interval
        } else {
            self.ping_interval
        };
        period.saturating_add(self.pong_timeout)
    }
}

/// Range and consistency checks, keyed `profiles[N].key` (0-based, in
/// file order) so that the error names the line.
pub(super) fn problems(profiles: &[ProfileConfig], tick: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if profiles.len() > MAX_PROFILES {
        out.push((
            format!("profiles[{MAX_PROFILES}].name"),
            format!("at most {MAX_PROFILES} profiles"),
        ));
    }
    let day = Duration::from_secs(86_400);
    for (i, p) in profiles.iter().enumerate() {
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                out.push((format!("profiles[{i}].{key}"), message.to_owned()));
            }
        };
        check(
            !p.name.trim().is_empty() && p.name.len() <= 64,
            "name",
            "must be 1 to 64 characters",
        );
        check(
            !profiles[..i].iter().any(|q| q.name == p.name),
            "name",
            "names another profile too: each profile's name must be unique",
        );
        check(
            !p.ids.is_empty() || p.needs_boot(),
            "name",
            "matches nothing: give ids, vendor, model or firmware_version",
        );
        if let Some(d) = p.ping_interval {
            check(
                d.is_zero() || (d >= tick && d <= day),
                "ping_interval",
                "must be \"0s\" (never ping) or between reactors.timer_tick and 24h",
            );
        }
        if let Some(d) = p.pong_timeout {
            check(
                d >= tick && d <= day,
                "pong_timeout",
                "must be between reactors.timer_tick and 24h",
            );
        }
        if let Some(d) = p.heartbeat_interval {
            check(
                d >= Duration::from_secs(1) && d <= day,
                "heartbeat_interval",
                "must be between 1s and 24h",
            );
        }
        if let Some(r) = p.max_calls_per_second {
            check(
                r.is_finite() && (0.0..=10_000.0).contains(&r),
                "max_calls_per_second",
                "must be between 0 (no limit) and 10000",
            );
        }
        if let Some(b) = p.call_burst {
            check(
                (1..=10_000).contains(&b),
                "call_burst",
                "must be between 1 and 10000",
            );
        }
        check(
            p.missing_subprotocol.is_none() || !p.needs_boot(),
            "missing_subprotocol",
            "is decided at the upgrade, before any BootNotification: only a profile \
             that matches by ids alone may set it",
        );
    }
    out
}

/// A profile's `trace` globs need somewhere to write: without
/// `trace.directory` they would trace nothing, silently.
pub(super) fn trace_problems(profiles: &[ProfileConfig], tracing: bool) -> Vec<(String, String)> {
    profiles
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.trace.is_empty() && !tracing)
        .map(|(i, _)| {
            (
                format!("profiles[{i}].trace"),
                "needs trace.directory (where trace files go)".to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(s: &str) -> Glob {
        Glob::try_from(s.to_owned()).expect("valid glob")
    }

    #[test]
    fn globs() {
        assert!(glob("QUIET-*").matches("QUIET-1"));
        assert!(glob("QUIET-*").matches("QUIET-"));
        assert!(!glob("QUIET-*").matches("quiet-1"));
        assert!(glob("*").matches(""));
        assert!(glob("a?c").matches("abc"));
        assert!(!glob("a?c").matches("ac"));
        assert!(glob("*x*y").matches("axbxcy"));
        assert!(!glob("*x*y").matches("axbxc"));
        assert!(glob("Vendor*X").matches("VendorX"));
        assert!(glob("é*").matches("é1"));
        for bad in ["", "[ab]", "a{b,c}", "a\\*"] {
            assert!(Glob::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_match_wins_and_boot_profiles_wait_for_the_boot() {
        let by_vendor = ProfileConfig {
            name: "vendor-x".into(),
            vendor: Some(glob("VendorX*")),
            ..Default::default()
        };
        let by_id = ProfileConfig {
            name: "quiet".into(),
            ids: vec![glob("QUIET-*")],
            ..Default::default()
        };
        let (ws, ocpp) = (WebSocketConfig::default(), OcppConfig::default());
        let table = |list: Vec<ProfileConfig>| ProfileTable::new(&ws, &ocpp, list);
        let list = table(vec![by_vendor, by_id]);
        let boot = BootFacts {
            vendor: "VendorX Ltd",
            model: "M",
            firmware_version: None,
        };
        assert_eq!(list.matching("QUIET-1", None), Some(1));
        assert_eq!(list.matching("QUIET-1", Some(boot)), Some(0));
        assert_eq!(list.matching("CP-1", None), None);
        assert_eq!(list.matching("CP-1", Some(boot)), Some(0));
        let firmware = ProfileConfig {
            name: "fw".into(),
            firmware_version: Some(glob("1.*")),
            ..Default::default()
        };
        assert_eq!(table(vec![firmware]).matching("CP-1", Some(boot)), None);
    }

    #[test]
    fn never_pinged_peers_are_judged_by_their_heartbeats() {
        let ws = WebSocketConfig::default();
        let ocpp = OcppConfig::default();
        let quiet = ProfileConfig {
            name: "quiet".into(),
            ids: vec![glob("*")],
            ping_interval: Some(Duration::ZERO),
            heartbeat_interval: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let table = ProfileTable::new(&ws, &ocpp, vec![quiet]);
        let s = table.settings(Some(0));
        assert_eq!(s.dead_after(), Duration::from_secs(60) + ws.pong_timeout);
        let g = table.settings(None);
        assert_eq!(g.dead_after(), ws.ping_interval + ws.pong_timeout);
    }
}
