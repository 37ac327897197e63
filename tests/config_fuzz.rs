//! No configuration file may panic the gateway: not at start, not at SIGHUP.
//!
//! Random edits of the shipped `gateway.toml` (a value replaced by a hostile
//! one, a line duplicated or deleted, random bytes inserted, the file cut
//! short) go through what start and SIGHUP run: `Config::load` (its parsing,
//! `Config::parse_bytes`, which runs `Config::parse`), and for a
//! file that loads, the credentials store and, with TLS on, the rustls
//! server configuration. Each must return, with a value or an error; a
//! panic is a defect. Every panicking case is collected (not only the
//! first), so the failure lists each distinct panic with its smallest input.
//!
//! `CONFIG_FUZZ_CASES` sets the number of cases, `CONFIG_FUZZ_SEED` (64 hex
//! digits) replays a run; both are printed.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ocpp_gateway::Config;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

use common::{manifest_dir, scratch_dir};

/// About 2 s in a release build (0.4 ms a case). A debug build is some ten
/// times slower per case, but it is the one with overflow checks (a release
/// build wraps silently): it runs fewer by default, and more on request.
const DEFAULT_CASES: usize = if cfg!(debug_assertions) { 1_000 } else { 5_000 };

/// One edit of the file's text.
#[derive(Clone, Debug)]
enum Edit {
    /// The value of a `key = value` line (commented-out ones too, which the
    /// edit uncomments) becomes a hostile TOML fragment.
    ReplaceValue(Index, Replacement),
    DuplicateLine(Index),
    DeleteLine(Index),
    InsertBytes(Index, Vec<u8>),
    Truncate(Index),
}

/// Every unit `humantime` accepts.
const UNITS: &[&str] = &[
    "nsec", "ns", "usec", "us", "µs", "msec", "ms", "seconds", "second", "sec", "s", "minutes",
    "minute", "min", "m", "hours", "hour", "hr", "hrs", "h", "days", "day", "d", "weeks", "week",
    "wk", "wks", "w", "months", "month", "M", "years", "year", "yr", "yrs", "y",
];

fn duration_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        0u64..10,
        0u64..100_000,
        any::<u64>(),
        prop::sample::select(vec![
            u64::MAX,
            u64::MAX / 1000,
            i64::MAX as u64,
            u32::MAX as u64 + 1,
            584_942_417_355,
            292 * 365 * 86_400,
        ]),
    ];
    (number, prop::sample::select(UNITS), any::<bool>()).prop_map(|(n, unit, fraction)| {
        if fraction {
            format!("\"{n}.5{unit}\"")
        } else {
            format!("\"{n}{unit}\"")
        }
    })
}

/// TOML value fragments chosen to break range checks and arithmetic.
fn hostile_value() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "\"18446744073709551615s\"",
        "\"584942417355y\"",
        "\"0s\"",
        "\"1ns\"",
        "\"1h 30m\"",
        "-1",
        "0",
        "1",
        "18446744073709551615",
        "9223372036854775807",
        "-9223372036854775808",
        "4294967295",
        "4294967296",
        "1e308",
        "-0.0",
        "inf",
        "nan",
        "\"\"",
        "\"\\u0000\"",
        "\"/\"",
        "\"nats\"",
        "\"basic\"",
        "\"1.3\"",
        "\"127.0.0.1:0\"",
        "\"[::]:65535\"",
        "[]",
        "[1, \"a\"]",
        "[[[[[]]]]]",
        "[\"ocpp1.6\", \"ocpp2.0.1\"]",
        "{}",
        "{ a = 1 }",
        "true",
        "false",
        "1979-05-27T07:32:00Z",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        4 => fixed,
        3 => duration_text(),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            i64::MAX,
            i64::MAX - 15,
            i64::MIN,
            u32::MAX as i64 + 1,
            (1 << 40) + 1,
            (1 << 24) + 1,
        ])
        .prop_map(|n| n.to_string()),
        1 => "[ -~]{0,40}".prop_map(|s| format!("{s:?}")),
        1 => (1usize..70_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
    ]
}

/// A replacement value of each kind; which one is used depends on the value
/// replaced (most range checks are only reached by a value of the right
/// type), and half of the time it is `any`, whatever the type.
#[derive(Clone, Debug)]
struct Replacement {
    typed: bool,
    any: String,
    duration: String,
    integer: String,
    string: String,
}

impl Replacement {
    fn for_value(&self, old: &str) -> &str {
        if !self.typed {
            return &self.any;
        }
        let unquoted = old.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
        match unquoted {
            Some(text) if humantime::parse_duration(text).is_ok() => &self.duration,
            Some(_) => &self.string,
            None if old.parse::<i64>().is_ok() => &self.integer,
            None => &self.any,
        }
    }
}

fn replacement() -> impl Strategy<Value = Replacement> {
    let integer = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "-1",
            "0",
            "1",
            "18446744073709551615",
            "18446744073709551600",
            "9223372036854775807",
            "4294967296",
            "1099511627777",
            "16777217",
        ])
        .prop_map(str::to_owned),
    ];
    let string = prop_oneof![
        "[ -~]{0,40}".prop_map(|s| format!("{s:?}")),
        prop::sample::select(vec!["\"\"", "\"\\u0000\"", "\"/\"", "\"é\"", "\"a b\""])
            .prop_map(str::to_owned),
    ];
    (
        any::<bool>(),
        hostile_value(),
        duration_text(),
        integer,
        string,
    )
        .prop_map(|(typed, any, duration, integer, string)| Replacement {
            typed,
            any,
            duration,
            integer,
            string,
        })
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<Index>(), replacement()).prop_map(|(i, v)| Edit::ReplaceValue(i, v)),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        1 => any::<Index>().prop_map(Edit::DeleteLine),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::InsertBytes(i, b)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// The line's key when it is `key = value`, or `# key = value` where the
/// part after `# ` is itself TOML (a commented-out key, not prose).
fn assignment(line: &str) -> Option<&str> {
    let line = line.strip_prefix("# ").unwrap_or(line);
    let (key, _) = line.split_once(" = ")?;
    let is_key = key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (is_key && line.parse::<toml::Table>().is_ok()).then_some(key)
}

fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for edit in edits {
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let edited_lines = match edit {
            Edit::ReplaceValue(i, value) => {
                // Only lines that are UTF-8 can be assignments worth editing.
                let assignments: Vec<(usize, &str, &str)> = lines
                    .iter()
                    .enumerate()
                    .filter_map(|(n, line)| {
                        let text = std::str::from_utf8(line).ok()?;
                        let old = text.split_once(" = ")?.1;
                        Some((n, assignment(text)?, old))
                    })
                    .collect();
                if assignments.is_empty() {
                    continue;
                }
                let (n, key, old) = assignments[i.index(assignments.len())];
                let replaced = format!("{key} = {}", value.for_value(old));
                let mut lines: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                lines[n] = replaced.into_bytes();
                lines.join(&b'\n')
            }
            Edit::DuplicateLine(i) => {
                let n = i.index(lines.len());
                lines.insert(n, lines[n]);
                lines.join(&b'\n')
            }
            Edit::DeleteLine(i) => {
                lines.remove(i.index(lines.len()));
                lines.join(&b'\n')
            }
            Edit::InsertBytes(i, inserted) => {
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
                continue;
            }
            Edit::Truncate(i) => {
                bytes.truncate(i.index(bytes.len() + 1));
                continue;
            }
        };
        bytes = edited_lines;
    }
    bytes
}

/// Files the "everything on" variant points at: a real certificate and key,
/// CA, credentials file and allow list, so that a file that loads gets as
/// far into the TLS and credentials code as it can.
fn support_files(dir: &Path) -> BTreeMap<&'static str, PathBuf> {
    let key = rcgen::KeyPair::generate().expect("key pair");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("certificate params");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    let hash = ocpp_gateway::auth::hash_password(b"0123456789abcdef");
    let files = [
        ("server.pem", cert.pem()),
        ("server.key", key.serialize_pem()),
        (
            "credentials.toml",
            format!("[charge_points]\nCP-1 = \"{hash}\"\n"),
        ),
        ("allow-list.txt", "CP-2\n".to_owned()),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write support file");
            (name, path)
        })
        .collect()
}

/// The shipped file with every commented-out key (and array-of-tables
/// header) uncommented, TLS, basic auth and the bus on, and paths pointing
/// at `files`.
fn everything_on(shipped: &str, files: &BTreeMap<&str, PathBuf>, dir: &Path) -> String {
    let path = |name: &str| format!("{:?}", files[name].display().to_string());
    let mut table = String::new();
    let mut out = String::new();
    for line in shipped.lines() {
        if line.starts_with('[') {
            table = line.to_owned();
        }
        let replaced = match (table.as_str(), assignment(line)) {
            // user/password and token exclude each other; keep user/password.
            ("[bus]", Some("token")) => line.to_owned(),
            ("[bus]", Some("kind")) => "kind = \"nats\"".to_owned(),
            ("[bus]", Some("tls_ca")) => format!("tls_ca = {}", path("server.pem")),
            ("[tls]", Some("enabled")) => "enabled = true".to_owned(),
            ("[tls]", Some("certificate_chain")) => {
                format!("certificate_chain = {}", path("server.pem"))
            }
            ("[tls]", Some("private_key")) => format!("private_key = {}", path("server.key")),
            ("[tls]", Some("client_ca")) => format!("client_ca = {}", path("server.pem")),
            ("[auth]", Some("mode")) => "mode = \"basic\"".to_owned(),
            ("[auth]", Some("credentials_file")) => {
                format!("credentials_file = {}", path("credentials.toml"))
            }
            ("[auth]", Some("allow_list_file")) => {
                format!("allow_list_file = {}", path("allow-list.txt"))
            }
            ("[journal]", Some("directory")) => {
                format!(
                    "directory = {:?}",
                    dir.join("journal").display().to_string()
                )
            }
            (_, Some(_)) => line.strip_prefix("# ").unwrap_or(line).to_owned(),
            // A commented-out array of tables (the `[[profiles]]` examples):
            // its header too, or its keys would land in the table above.
            (_, None) if line.starts_with("# [[") => line[2..].to_owned(),
            (_, None) => line.to_owned(),
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    out
}

/// The lines of `edited` that `base` does not have (each cut at 200
/// characters): what a failure report needs to show.
fn changed_lines(base: &[u8], edited: &[u8]) -> String {
    let base = String::from_utf8_lossy(base);
    let known: std::collections::BTreeSet<&str> = base.lines().collect();
    String::from_utf8_lossy(edited)
        .lines()
        .filter(|line| !known.contains(line))
        .map(|line| format!("{}\n", line.chars().take(200).collect::<String>()))
        .collect()
}

thread_local! {
    /// The last panic on this thread: message and location.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What one case got as far as.
#[derive(Default)]
struct Tally {
    cases: usize,
    loaded: usize,
    credentials_ok: usize,
    tls_built: usize,
    tls_refused: usize,
}

/// Runs what start and SIGHUP run on `bytes`; `Err` is the panic, if any.
fn load_and_reload(path: &Path, bytes: &[u8], tally: &mut Tally) -> Result<(), String> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        // What Config::load runs on the bytes it read (writing each case to
        // a file would cost more than parsing it).
        let Ok(config) = Config::parse_bytes(bytes, path) else {
            return;
        };
        tally.loaded += 1;
        // What main.rs checks at start and reloads at SIGHUP.
        if ocpp_gateway::auth::CredentialStore::from_config(&config.auth).is_ok() {
            tally.credentials_ok += 1;
        }
        if config.tls.enabled {
            match ocpp_gateway::tls::server_config(&config.tls) {
                Ok(_) => tally.tls_built += 1,
                Err(_) => tally.tls_refused += 1,
            }
        }
        // --check-config prints it.
        let _ = config.to_toml();
    }));
    outcome.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic without a message".into())
    })
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    match std::env::var("CONFIG_FUZZ_SEED") {
        Ok(hex) => {
            assert_eq!(hex.len(), 64, "CONFIG_FUZZ_SEED is 64 hex digits");
            for (i, byte) in seed.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digits");
            }
        }
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            seed[..16].copy_from_slice(&nanos.to_le_bytes());
            seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
        }
    }
    seed
}

#[test]
fn no_edit_of_the_shipped_config_panics_load_or_reload() {
    let cases: usize = std::env::var("CONFIG_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = seed();
    let seed_hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let dir = scratch_dir("config-fuzz");
    let shipped = std::fs::read_to_string(manifest_dir().join("gateway.toml")).unwrap();
    let files = support_files(&dir);
    let on = everything_on(&shipped, &files, &dir);
    // Both starting points load, and the second one reaches the TLS and
    // credentials code: otherwise the edits below would test nothing there.
    Config::parse(&shipped, Path::new("gateway.toml")).expect("shipped file loads");
    let config = Config::parse(&on, Path::new("on.toml"))
        .unwrap_or_else(|e| panic!("everything-on variant loads: {e:?}\n{on}"));
    assert!(config.tls.enabled && config.bus.enabled());
    assert_eq!(
        config.profiles.len(),
        2,
        "the commented profile examples load"
    );
    ocpp_gateway::auth::CredentialStore::from_config(&config.auth).expect("credentials load");
    ocpp_gateway::tls::server_config(&config.tls).expect("TLS configuration builds");
    let bases = [shipped.into_bytes(), on.into_bytes()];

    let strategy = (any::<bool>(), prop::collection::vec(edit(), 1..4));
    let mut runner = TestRunner::new_with_rng(
        proptest::test_runner::Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{location}: {message}")));
    }));

    let path = Path::new("gateway.toml");
    let mut tally = Tally::default();
    // Distinct panic -> (how many cases, the smallest input that hit it).
    let mut panics: BTreeMap<String, (usize, Vec<u8>, usize)> = BTreeMap::new();
    let started = Instant::now();
    for _ in 0..cases {
        let (on, edits) = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        let bytes = apply(&bases[usize::from(on)], &edits);
        tally.cases += 1;
        if let Err(panic) = load_and_reload(path, &bytes, &mut tally) {
            let base = usize::from(on);
            let entry = panics.entry(panic).or_insert((0, bytes.clone(), base));
            entry.0 += 1;
            if bytes.len() < entry.1.len() {
                (entry.1, entry.2) = (bytes, base);
            }
        }
    }
    panic::set_hook(previous_hook);

    let panicking: usize = panics.values().map(|(n, _, _)| n).sum();
    println!(
        "config fuzz: {} cases in {:.1?} (seed {seed_hex}): {} loaded, {} with credentials, \
         TLS {} built / {} refused; {panicking} panicked ({} distinct)",
        tally.cases,
        started.elapsed(),
        tally.loaded,
        tally.credentials_ok,
        tally.tls_built,
        tally.tls_refused,
        panics.len(),
    );
    // Most edits break one key, so a good share of cases must still load
    // and reach the reload path, or the run proves little.
    assert!(
        tally.loaded * 20 >= tally.cases && tally.tls_built > 0,
        "too few cases got past Config::load"
    );
    if !panics.is_empty() {
        let mut report = String::new();
        for (panic, (count, bytes, base)) in &panics {
            report.push_str(&format!(
                "\n=== {count} case(s): {panic}\n--- smallest input ({} bytes), lines not in {}:\n{}\n",
                bytes.len(),
                ["gateway.toml", "the everything-on variant"][*base],
                changed_lines(&bases[*base], bytes)
            ));
        }
        panic!(
            "{panicking} of {cases} cases panicked (replay with CONFIG_FUZZ_SEED={seed_hex}):{report}"
        );
    }
}
