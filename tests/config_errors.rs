//! Configuration errors stop the gateway before it opens a socket, and say
//! which key on which line is wrong.

mod common;

use std::process::Command;

use common::*;

fn check(config: &str) -> (bool, String, String) {
    let (code, stdout, stderr) = check_bytes(config.as_bytes());
    (code == Some(0), stdout, stderr)
}

/// `--check-config` on a file of these bytes: exit code, stdout, stderr.
fn check_bytes(config: &[u8]) -> (Option<i32>, String, String) {
    let dir = scratch_dir("config");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(binary())
        .args(["--check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `config` is refused with exit code 2 and an error naming
/// `gateway.toml:{line}` and the key, and that nothing panicked.
fn assert_refused_at(config: &[u8], line: usize, key: &str) -> String {
    let (code, _, stderr) = check_bytes(config);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let located = format!("gateway.toml:{line}: key `{key}`:");
    assert!(stderr.contains(&located), "no {located:?} in:\n{stderr}");
    stderr
}

#[test]
fn the_shipped_gateway_toml_passes_check_config() {
    let out = Command::new(binary())
        .arg("--check-config")
        .arg("--config")
        .arg(manifest_dir().join("gateway.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let effective = String::from_utf8_lossy(&out.stdout);
    // The effective configuration is printed, every table present.
    for table in [
        "[listen]",
        "[reactors]",
        "[websocket]",
        "[channels]",
        "[processors]",
        "[ocpp]",
        "[log]",
        "[shutdown]",
    ] {
        assert!(
            effective.contains(table),
            "{table} missing from:\n{effective}"
        );
    }
}

/// deploy/debian/gateway.toml, /etc/ocpp-gateway/gateway.toml in the
/// Debian package: valid, and the shipped file but for its header and the
/// values of path keys, which point into the package's directories.
#[test]
fn the_debian_gateway_toml_passes_check_config_and_differs_only_in_paths() {
    let debian = manifest_dir().join("deploy/debian/gateway.toml");
    let out = Command::new(binary())
        .args(["--check-config", "--config"])
        .arg(&debian)
        .output()
        .unwrap();
    let effective = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for setting in [
        "directory = \"/var/lib/ocpp-gateway/journal\"",
        "transaction_id_file = \"/var/lib/ocpp-gateway/ocpp-gateway.txid\"",
        "output = \"/var/log/ocpp-gateway/gateway.log\"",
        "address = \"127.0.0.1:8181\"",
    ] {
        assert!(effective.contains(setting), "no {setting} in:\n{effective}");
    }
    let shipped = std::fs::read_to_string(manifest_dir().join("gateway.toml")).unwrap();
    let debian = std::fs::read_to_string(&debian).unwrap();
    let first = shipped.lines().next().unwrap();
    let body: Vec<&str> = debian.lines().skip_while(|l| *l != first).collect();
    let shipped: Vec<&str> = shipped.lines().collect();
    assert_eq!(body.len(), shipped.len(), "lines added or removed");
    let setting = |line: &str| {
        let (key, value) = line.trim_start_matches("# ").split_once(" = ")?;
        Some((key.to_owned(), value.to_owned()))
    };
    for (number, (ours, theirs)) in shipped.iter().zip(&body).enumerate() {
        if ours == theirs {
            continue;
        }
        let (Some((key, _)), Some((their_key, value))) = (setting(ours), setting(theirs)) else {
            panic!(
                "gateway.toml:{}: {ours:?} changed to {theirs:?}",
                number + 1
            );
        };
        assert_eq!(key, their_key, "gateway.toml:{}", number + 1);
        assert!(
            ["/etc/", "/var/lib/", "/var/log/"]
                .iter()
                .any(|dir| value.starts_with(&format!("\"{dir}ocpp-gateway/"))),
            "gateway.toml:{}: {key} = {value}: not a path of the package",
            number + 1
        );
    }
}

#[test]
fn an_unknown_key_is_an_error_naming_key_and_line() {
    // The Go gateway's failure: `async` was silently ignored.
    let (ok, _, stderr) = check("[log]\nlevel = \"info\"\nasync = true\n");
    assert!(!ok);
    assert!(stderr.contains("gateway.toml:3"), "{stderr}");
    assert!(stderr.contains("log.async"), "{stderr}");
}

#[test]
fn an_out_of_range_value_is_an_error_naming_key_and_line() {
    let (ok, _, stderr) =
        check("[listen]\naddress = \"127.0.0.1:0\"\n\n[channels]\ncapacity = 0\n");
    assert!(!ok);
    assert!(stderr.contains("gateway.toml:5"), "{stderr}");
    assert!(stderr.contains("channels.capacity"), "{stderr}");
}

#[test]
fn a_bad_value_type_and_an_unknown_table_are_errors() {
    let (ok, _, stderr) = check("[websocket]\nping_interval = 30\n");
    assert!(!ok);
    assert!(stderr.contains(":2"), "{stderr}");
    let (ok, _, stderr) = check("[bogus]\nx = 1\n");
    assert!(!ok);
    assert!(stderr.contains("bogus"), "{stderr}");
}

#[test]
fn running_with_a_bad_config_exits_nonzero_without_listening() {
    // A port that a started gateway would occupy: it must stay free.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let out = run_until_exit(
        "badrun",
        &format!("[listen]\naddress = \"127.0.0.1:{port}\"\n\n[reactors]\ncount = 99999\n"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reactors.count"), "{stderr}");
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[test]
fn help_describes_the_flags() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--config") && text.contains("--check-config"),
        "{text}"
    );
}

#[test]
fn bus_errors_name_key_and_line() {
    // The bus publishes from the journal: turning the journal off is refused.
    let (ok, _, stderr) = check("[journal]\nenabled = false\n\n[bus]\nkind = \"nats\"\n");
    assert!(!ok);
    assert!(stderr.contains("gateway.toml:2"), "{stderr}");
    assert!(stderr.contains("journal.enabled"), "{stderr}");
    // An action name that is not OCPP (a typo) is caught, not ignored.
    let (ok, _, stderr) =
        check("[bus]\nkind = \"nats\"\n\n[bus.answers]\nBootNotifcation = \"backend\"\n");
    assert!(!ok);
    assert!(stderr.contains("bus.answers"), "{stderr}");
    assert!(stderr.contains("BootNotifcation"), "{stderr}");
    let (ok, _, stderr) = check("[bus]\nkind = \"nats\"\npresence_ttl = \"10ms\"\n");
    assert!(!ok);
    assert!(stderr.contains("gateway.toml:3"), "{stderr}");
    assert!(stderr.contains("bus.presence_ttl"), "{stderr}");
    let (ok, _, stderr) = check("[bus]\nkind = \"kafka\"\n");
    assert!(!ok);
    assert!(stderr.contains(":2"), "{stderr}");
    // The effective configuration shows the bus table with its defaults.
    let (ok, stdout, stderr) = check("[bus]\nkind = \"nats\"\ngateway_id = \"gw-a\"\n");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("subject_prefix = \"ocpp\""), "{stdout}");
}

#[test]
fn values_too_large_for_arithmetic_are_errors_not_panics() {
    // humantime reads "18446744073709551615s" (u64::MAX seconds) without
    // complaint; the checks and the code after them must not overflow.
    let huge = "\"18446744073709551615s\"";
    for (config, line, key) in [
        (
            format!("[reactors]\ntimer_tick = {huge}\n"),
            2,
            "reactors.timer_tick",
        ),
        (
            format!("[admin]\nstall_after = {huge}\n"),
            2,
            "admin.stall_after",
        ),
        (
            "[websocket]\nmax_message_size = 18446744073709551615\n".to_owned(),
            2,
            "websocket.max_message_size",
        ),
        (
            "[websocket]\nmax_write_buffer_size = 18446744073709551615\n".to_owned(),
            2,
            "websocket.max_write_buffer_size",
        ),
        (
            format!("[bus]\nkind = \"nats\"\nstream_max_age = {huge}\n"),
            3,
            "bus.stream_max_age",
        ),
        (
            format!("[bus]\nkind = \"nats\"\nstream_max_age = \"0s\"\nduplicate_window = {huge}\n"),
            4,
            "bus.duplicate_window",
        ),
        (
            "[bus]\nkind = \"nats\"\nstream_max_bytes = 18446744073709551615\n".to_owned(),
            3,
            "bus.stream_max_bytes",
        ),
    ] {
        assert_refused_at(config.as_bytes(), line, key);
    }
}

#[test]
fn a_sighup_with_a_value_too_large_for_arithmetic_keeps_the_gateway_running() {
    let mut gw = GatewayProcess::start("hup-overflow", &process_config(""));
    let config = gw.dir.join("gateway.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{good}\n[reactors]\ntimer_tick = \"18446744073709551615s\"\n"),
    )
    .unwrap();
    gw.signal("HUP");
    // A panic on the main thread ends the process within milliseconds.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "the gateway exited on SIGHUP"
    );
    // It still serves, with the configuration it started with.
    let mut cp = ChargePoint::connect(gw.addr, "CP-HUP");
    assert_eq!(cp.boot()["status"], "Accepted");
}

#[test]
fn check_config_prints_secrets_redacted() {
    let token = "admin-token-0123456789";
    let password = "bus-password-0123";
    let (ok, stdout, stderr) = check(&format!(
        "[admin]\nbearer_token = \"{token}\"\n\n[bus]\nkind = \"nats\"\nuser = \"gw\"\npassword = \"{password}\"\n"
    ));
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains(token) && !stdout.contains(password),
        "{stdout}"
    );
    assert!(stdout.contains("bearer_token = \"<redacted>\""), "{stdout}");
    assert!(stdout.contains("password = \"<redacted>\""), "{stdout}");
    // Not a secret: the user name stays.
    assert!(stdout.contains("user = \"gw\""), "{stdout}");
    let bus_token = "nats-token-0123456789";
    let (ok, stdout, stderr) = check(&format!(
        "[bus]\nkind = \"nats\"\ntoken = \"{bus_token}\"\n"
    ));
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(bus_token), "{stdout}");
    assert!(stdout.contains("token = \"<redacted>\""), "{stdout}");
}

#[test]
fn a_duplicate_key_names_the_key_and_line() {
    let stderr = assert_refused_at(
        b"[listen]\nbacklog = 10\nbacklog = 10\n",
        3,
        "listen.backlog",
    );
    assert!(stderr.contains("duplicate"), "{stderr}");
    // A table given twice names the table.
    assert_refused_at(b"[listen]\nbacklog = 10\n\n[listen]\n", 4, "listen");
}

#[test]
fn invalid_utf8_names_the_line_and_key_of_the_first_bad_byte() {
    let stderr = assert_refused_at(
        b"[listen]\nbacklog = 10\n\n[log]\n# fine: \xc3\xa9\noutput = \"/var/log/gw-\xe9.log\"\n",
        6,
        "log.output",
    );
    assert!(stderr.contains("UTF-8"), "{stderr}");
    assert!(stderr.contains("0xE9"), "{stderr}");
    // Inside a multi-line array, the key the array belongs to.
    assert_refused_at(
        b"[ocpp]\nsubprotocols = [\n  \"ocpp1.6\",\n  \"ocpp\xff\",\n]\n",
        4,
        "ocpp.subprotocols",
    );
}

#[test]
fn an_unterminated_string_names_the_key_and_line() {
    assert_refused_at(
        b"[listen]\npath_prefix = \"/ocpp\nbacklog = 10\n",
        2,
        "listen.path_prefix",
    );
    // A multi-line string runs to the end of the file; the key is where it began.
    let (code, _, stderr) = check_bytes(b"[log]\noutput = \"\"\"stdout\n\n[admin]\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("key `log.output`"), "{stderr}");
}

#[test]
fn help_states_the_exit_codes_the_binary_uses() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let exit_status = help
        .split("EXIT STATUS:")
        .nth(1)
        .unwrap_or_else(|| panic!("no EXIT STATUS section in:\n{help}"));
    // The description of exit code `code`: its line and the indented ones after.
    let described = |code: i32| -> String {
        let mut lines = exit_status
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&format!("{code} ")));
        let first = lines.next().unwrap_or_default().to_owned();
        lines
            .take_while(|l| l.starts_with("        "))
            .fold(first, |text, l| text + " " + l.trim())
    };
    // --check-config: 0 for a valid file, 2 for a bad one.
    let (code, _, _) = check_bytes(b"");
    assert_eq!(code, Some(0));
    assert!(described(0).contains("valid"), "{help}");
    let (code, _, _) = check_bytes(b"[listen]\nbacklog = 0\n");
    assert_eq!(code, Some(2));
    assert!(described(2).contains("configuration"), "{help}");
    // The --check-config line itself promises the same codes.
    assert!(help.contains("exit 0 if valid, 2 if not"), "{help}");
    // A bad argument: 2.
    let out = Command::new(binary()).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(described(2).contains("bad argument"), "{help}");
    // A gateway that cannot start (its port is taken): 1.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = scratch_dir("exit-1");
    let path = dir.join("gateway.toml");
    let config = process_config("")
        .replace(
            "127.0.0.1:0\"\n\n[ocpp]",
            &format!("{}\"\n\n[ocpp]", taken.local_addr().unwrap()),
        )
        .replace("@DIR@", dir.to_str().unwrap());
    std::fs::write(&path, config).unwrap();
    let out = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(described(1).contains("could not start"), "{help}");
}

#[test]
fn every_secret_key_is_a_real_key_and_is_printed_redacted() {
    use ocpp_gateway::config::{REDACTED, SECRET_KEYS};
    for key in SECRET_KEYS {
        let (table, name) = key.rsplit_once('.').expect("secrets live in tables");
        let marker = format!("secret-value-of-{key}");
        // Deserialised without the range checks: the point is that the key
        // exists (unknown keys are refused) and how it prints.
        let config: ocpp_gateway::Config =
            toml::from_str(&format!("[{table}]\n{name} = \"{marker}\"\n"))
                .unwrap_or_else(|e| panic!("{key} is not a configuration key: {e}"));
        let printed = config.to_toml();
        assert!(
            !printed.contains(&marker),
            "{key} printed in clear:\n{printed}"
        );
        assert!(
            printed.contains(&format!("{name} = \"{REDACTED}\"")),
            "{key} not shown redacted:\n{printed}"
        );
    }
}
