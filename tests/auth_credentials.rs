//! Security profile 1 credentials: files, Basic Auth decisions, reload.
//!
//! `cargo test --release --test auth_credentials -- --nocapture` prints the
//! cost of one `check()` per outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ocpp_gateway::auth::{AuthDecision, CredentialStore, Credentials, Rejection, hash_password};
use ocpp_gateway::config::{AuthConfig, AuthMode};

const KEY: &[u8] = b"0123456789abcdef0123";

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("auth-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn basic(user_password: &[u8]) -> Vec<u8> {
    format!("Basic {}", data_encoding::BASE64.encode(user_password)).into_bytes()
}

fn with_user(id: &str, password: &[u8]) -> Vec<u8> {
    let mut v = format!("{id}:").into_bytes();
    v.extend_from_slice(password);
    basic(&v)
}

fn file_for(entries: &[(&str, &[u8])]) -> String {
    let mut text = String::from("# charge point keys\n[charge_points]\n");
    for (id, password) in entries {
        text.push_str(&format!("\"{id}\" = \"{}\"\n", hash_password(password)));
    }
    text
}

fn creds(entries: &[(&str, &[u8])]) -> Credentials {
    Credentials::parse(&file_for(entries), Path::new("c.toml")).expect("valid file")
}

fn bad(r: Rejection) -> AuthDecision {
    AuthDecision::BadCredentials(r)
}

#[test]
fn right_password_is_allowed_and_wrong_one_refused() {
    let c = creds(&[("CP-1", KEY), ("CP-2", b"another-key-of-16")]);
    assert_eq!(c.len(), 2);
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-1", KEY))),
        AuthDecision::Allowed
    );
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-1", b"0123456789abcdef0124"))),
        bad(Rejection::WrongPassword)
    );
    // CP-2's password does not open CP-1.
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-1", b"another-key-of-16"))),
        bad(Rejection::WrongPassword)
    );
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-1", b""))),
        bad(Rejection::WrongPassword)
    );
    assert_eq!(AuthDecision::Allowed.http_status(), None);
    assert_eq!(bad(Rejection::WrongPassword).http_status(), Some(401));
    assert_eq!(AuthDecision::UnknownId.http_status(), Some(404));
}

#[test]
fn passwords_are_bytes_and_may_contain_colons() {
    let binary: &[u8] = &[0, 0xff, b':', 0x80, b':', 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let c = creds(&[("CP-1", binary), ("a:b", KEY)]);
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-1", binary))),
        AuthDecision::Allowed
    );
    // An id containing ':' (OCPP allows it) still authenticates.
    assert_eq!(
        c.check("a:b", Some(&with_user("a:b", KEY))),
        AuthDecision::Allowed
    );
}

#[test]
fn user_name_must_be_the_url_id() {
    let c = creds(&[("CP-1", KEY), ("CP-2", KEY)]);
    // Right password, but presented as another (known) charge point.
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-2", KEY))),
        bad(Rejection::UserMismatch)
    );
    assert_eq!(
        c.check("CP-1", Some(&with_user("cp-1", KEY))),
        bad(Rejection::UserMismatch)
    );
    // A user name that merely starts with the id is not the id.
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-10", KEY))),
        bad(Rejection::UserMismatch)
    );
}

#[test]
fn malformed_headers_are_bad_credentials() {
    let c = creds(&[("CP-1", KEY)]);
    let token = data_encoding::BASE64.encode(b"CP-1:0123456789abcdef0123");
    assert_eq!(c.check("CP-1", None), bad(Rejection::MissingHeader));
    for (header, why) in [
        (token.clone(), Rejection::NotBasic),
        (format!("Bearer {token}"), Rejection::NotBasic),
        (format!("Basic{token}"), Rejection::NotBasic),
        (String::new(), Rejection::NotBasic),
        ("Basic".into(), Rejection::Malformed),
        ("Basic    ".into(), Rejection::Malformed),
        ("Basic not*base64!".into(), Rejection::Malformed),
        (
            format!("Basic {}", &token[..token.len() - 1]),
            Rejection::Malformed,
        ),
        (format!("Basic {token} extra"), Rejection::Malformed),
        (
            format!("Basic {}", data_encoding::BASE64.encode(b"CP-1")),
            Rejection::Malformed,
        ),
    ] {
        assert_eq!(
            c.check("CP-1", Some(header.as_bytes())),
            bad(why),
            "{header:?}"
        );
    }
    // The scheme is case-insensitive and surrounding blanks are tolerated.
    let relaxed = format!(" BASIC \t{token} ");
    assert_eq!(
        c.check("CP-1", Some(relaxed.as_bytes())),
        AuthDecision::Allowed
    );
    // Not valid UTF-8 at all.
    assert_eq!(
        c.check("CP-1", Some(&[0xff, 0xfe])),
        bad(Rejection::NotBasic)
    );
}

#[test]
fn unknown_ids_and_the_allow_list() {
    let dir = scratch("allow");
    let credentials = dir.join("credentials.toml");
    let allow = dir.join("allow.txt");
    std::fs::write(&credentials, file_for(&[("CP-1", KEY)])).expect("write");
    std::fs::write(
        &allow,
        "# legacy chargers\nOLD-1\n  OLD-2   # depot\n\nOLD-1\n",
    )
    .expect("write");
    let config = AuthConfig {
        mode: AuthMode::Basic,
        credentials_file: Some(credentials),
        allow_list_file: Some(allow.clone()),
    };
    let c = Credentials::from_config(&config).expect("valid files");
    assert_eq!(c.len(), 3);
    assert_eq!(c.check("OLD-1", None), AuthDecision::Allowed);
    assert_eq!(
        c.check("OLD-2", Some(b"Basic garbage")),
        AuthDecision::Allowed
    );
    assert_eq!(c.check("NEW-1", None), AuthDecision::UnknownId);
    assert_eq!(
        c.check("NEW-1", Some(&with_user("NEW-1", KEY))),
        AuthDecision::UnknownId
    );
    assert_eq!(c.check("CP-1", None), bad(Rejection::MissingHeader));

    // mode "none" + allow list: ids restricted, no password.
    let ids_only = AuthConfig {
        allow_list_file: Some(allow),
        ..AuthConfig::default()
    };
    let c = Credentials::from_config(&ids_only).expect("valid list");
    assert_eq!(c.check("OLD-1", None), AuthDecision::Allowed);
    assert_eq!(
        c.check("CP-1", Some(&with_user("CP-1", KEY))),
        AuthDecision::UnknownId
    );

    // mode "none" alone: everyone in.
    let c = Credentials::from_config(&AuthConfig::default()).expect("nothing to read");
    assert!(!c.is_restricted());
    assert_eq!(c.check("ANY", None), AuthDecision::Allowed);
}

#[test]
fn an_id_in_both_files_or_a_bad_allow_list_id_is_an_error() {
    let mut c = creds(&[("CP-1", KEY)]);
    let e = c
        .add_allow_list(
            "OK-1\nCP-1\n",
            Path::new("allow.txt"),
            Some(Path::new("c.toml")),
        )
        .expect_err("CP-1 is in both");
    assert!(
        e.starts_with("allow.txt:2:") && e.contains("\"CP-1\"") && e.contains("c.toml"),
        "{e}"
    );
    let e = creds(&[])
        .add_allow_list("OK-1\nbad id\n", Path::new("allow.txt"), None)
        .expect_err("space in id");
    assert!(e.starts_with("allow.txt:2:") && e.contains("' '"), "{e}");
}

#[test]
fn plaintext_and_malformed_entries_name_file_line_and_id() {
    let good = hash_password(KEY);
    let text = format!(
        "[charge_points]\n\"CP-1\" = \"{good}\"\n\"CP-2\" = \"Sup3rSecretPassw0rd\"\n\
         \"CP-3\" = \"sha256$abc\"\n\"CP 4\" = \"{good}\"\n"
    );
    let e = Credentials::parse(&text, Path::new("creds.toml")).expect_err("plaintext");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with("creds.toml:3: charge point \"CP-2\": not a recognised"),
        "{e}"
    );
    assert!(lines[0].contains("hash-password --id CP-2"), "{e}");
    assert!(
        lines[1].starts_with("creds.toml:4: charge point \"CP-3\""),
        "{e}"
    );
    assert!(
        lines[2].starts_with("creds.toml:5: charge point \"CP 4\": id contains"),
        "{e}"
    );
    // The plaintext never reaches the message (it would reach the log).
    assert!(!e.contains("Sup3rSecret"), "{e}");
}

#[test]
fn file_structure_errors_name_the_line() {
    let path = Path::new("creds.toml");
    let e = Credentials::parse("[charge_point]\n\"CP-1\" = \"x\"\n", path).expect_err("typo");
    assert!(
        e.starts_with("creds.toml:1:") && e.contains("unknown field"),
        "{e}"
    );
    let e = Credentials::parse("", path).expect_err("truncated");
    assert!(e.contains("charge_points"), "{e}");
    let e = Credentials::parse("[charge_points]\n\n\"CP-1\" = 42\n", path).expect_err("number");
    assert!(e.starts_with("creds.toml:3:"), "{e}");
    let e = Credentials::parse(
        "[charge_points]\n\"CP-1\" = \"a\"\n\"CP-1\" = \"a\"\n",
        path,
    )
    .expect_err("duplicate");
    assert!(e.starts_with("creds.toml:3:"), "{e}");
    // An empty table is valid: nobody may connect yet.
    let empty = Credentials::parse("[charge_points]\n", path).expect("empty table");
    assert_eq!(empty.check("CP-1", None), AuthDecision::UnknownId);
    let e = Credentials::load(Path::new("/nonexistent/creds.toml")).expect_err("missing");
    assert!(e.starts_with("/nonexistent/creds.toml: cannot read"), "{e}");
}

#[test]
fn auth_config_keys_and_problems() {
    let parse = |text: &str| toml::from_str::<AuthConfig>(text);
    let c = parse("").expect("defaults");
    assert_eq!(c.mode, AuthMode::None);
    assert!(c.problems().is_empty());
    assert!(parse("mode = \"digest\"").is_err());
    assert!(parse("mode = \"basic\"\ncredential_file = \"c.toml\"").is_err());

    let keys = |text: &str| -> Vec<&'static str> {
        parse(text)
            .expect("parses")
            .problems()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys("mode = \"basic\""), ["auth.credentials_file"]);
    assert_eq!(
        keys("mode = \"basic\"\ncredentials_file = \"c.toml\""),
        [] as [&str; 0]
    );
    assert_eq!(keys("credentials_file = \"c.toml\""), ["auth.mode"]);
    assert_eq!(
        keys("mode = \"basic\"\ncredentials_file = \"\"\nallow_list_file = \"\""),
        ["auth.credentials_file", "auth.allow_list_file"]
    );
    // Serialises for `--check-config` and reads back the same.
    let full = parse("mode = \"basic\"\ncredentials_file = \"c.toml\"").expect("parses");
    let text = toml::to_string(&full).expect("serialises");
    let again = parse(&text).expect("round trip");
    assert_eq!(again.mode, AuthMode::Basic);
    assert_eq!(again.credentials_file, full.credentials_file);
    assert_eq!(
        parse(&toml::to_string(&c).expect("ser")).expect("rt").mode,
        AuthMode::None
    );
}

#[test]
fn reload_swaps_on_success_and_keeps_the_old_set_on_error() {
    let dir = scratch("reload");
    let path = dir.join("credentials.toml");
    std::fs::write(&path, file_for(&[("CP-1", KEY)])).expect("write");
    let config = AuthConfig {
        mode: AuthMode::Basic,
        credentials_file: Some(path.clone()),
        allow_list_file: None,
    };
    let store = CredentialStore::from_config(&config).expect("loads");
    let before = store.current();
    assert_eq!(
        before.check("CP-1", Some(&with_user("CP-1", KEY))),
        AuthDecision::Allowed
    );

    // A malformed file (a plaintext entry): the error names it, CP-1 still works.
    let mut broken = file_for(&[("CP-1", KEY)]);
    broken.push_str("\"CP-2\" = \"plaintext-password\"\n");
    std::fs::write(&path, broken).expect("write");
    let e = store.reload(&config).expect_err("malformed");
    assert!(
        e.contains("credentials.toml:4: charge point \"CP-2\""),
        "{e}"
    );
    assert!(Arc::ptr_eq(&before, &store.current()));
    // Truncated to nothing, and deleted: same.
    std::fs::write(&path, "").expect("write");
    assert!(store.reload(&config).is_err());
    std::fs::remove_file(&path).expect("remove");
    assert!(store.reload(&config).is_err());
    assert!(Arc::ptr_eq(&before, &store.current()));

    // A good file replaces the set; a handshake holding the old Arc is unaffected.
    std::fs::write(&path, file_for(&[("CP-2", KEY), ("CP-3", KEY)])).expect("write");
    assert_eq!(store.reload(&config), Ok(2));
    let after = store.current();
    assert_eq!(
        after.check("CP-1", Some(&with_user("CP-1", KEY))),
        AuthDecision::UnknownId
    );
    assert_eq!(
        after.check("CP-2", Some(&with_user("CP-2", KEY))),
        AuthDecision::Allowed
    );
    assert_eq!(
        before.check("CP-1", Some(&with_user("CP-1", KEY))),
        AuthDecision::Allowed
    );
}

#[test]
fn readers_see_a_whole_set_while_reloading() {
    let dir = scratch("concurrent");
    let path = dir.join("credentials.toml");
    std::fs::write(&path, file_for(&[("CP-1", KEY)])).expect("write");
    let config = AuthConfig {
        mode: AuthMode::Basic,
        credentials_file: Some(path),
        allow_list_file: None,
    };
    let store = Arc::new(CredentialStore::from_config(&config).expect("loads"));
    let header = with_user("CP-1", KEY);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (store, header) = (&store, &header);
            s.spawn(move || {
                for _ in 0..2_000 {
                    let d = store.current().check("CP-1", Some(header));
                    assert_eq!(d, AuthDecision::Allowed);
                }
            });
        }
        for _ in 0..50 {
            assert_eq!(store.reload(&config), Ok(1));
        }
    });
}

/// Not an assertion on speed (that would be flaky): prints ns per call.
#[test]
fn check_cost_per_call() {
    // Unoptimised SHA-256 is ~50x slower: keep `cargo test` quick, and
    // measure with --release.
    let (n, ids) = if cfg!(debug_assertions) {
        (2_000u32, 1_000)
    } else {
        (100_000, 20_000)
    };
    let mut entries: Vec<(String, Vec<u8>)> = (0..ids)
        .map(|i| {
            (
                format!("CP-{i:05}"),
                format!("key-{i:05}-0123456789abcdef").into_bytes(),
            )
        })
        .collect();
    entries.push(("CP-X".into(), KEY.to_vec()));
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(i, k)| (i.as_str(), k.as_slice()))
        .collect();
    let text = file_for(&refs);
    let start = Instant::now();
    let mut c = Credentials::parse(&text, Path::new("c.toml")).expect("valid file");
    println!(
        "Credentials::parse: {} ids, {} KiB in {:?}",
        c.len(),
        text.len() / 1024,
        start.elapsed()
    );
    c.add_allow_list("OPEN-1\n", Path::new("allow.txt"), None)
        .expect("list");
    let right = with_user("CP-X", KEY);
    let wrong = with_user("CP-X", b"0123456789abcdef0124");
    let unknown = with_user("CP-Y", KEY);
    for (name, id, header, expect) in [
        (
            "allowed (right password)",
            "CP-X",
            &right,
            AuthDecision::Allowed,
        ),
        (
            "wrong password",
            "CP-X",
            &wrong,
            bad(Rejection::WrongPassword),
        ),
        ("unknown id", "CP-Y", &unknown, AuthDecision::UnknownId),
        ("allow-listed id", "OPEN-1", &right, AuthDecision::Allowed),
    ] {
        let start = Instant::now();
        for _ in 0..n {
            let d = c.check(std::hint::black_box(id), Some(std::hint::black_box(header)));
            assert_eq!(d, expect);
        }
        let ns = start.elapsed().as_nanos() / u128::from(n);
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        println!(
            "check(): {name}: {ns} ns/op ({n} calls, {} ids, {build})",
            ids + 2
        );
    }
}
