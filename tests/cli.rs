//! The command line (src/cli.rs): every flag as documented, exit code 2 for
//! a bad argument, and the man pages and completions generated from the
//! same definition.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;

/// The binary with `args` and `stdin`: exit code, stdout, stderr.
fn run(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refusal may exit before reading: a broken pipe is no failure here.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_argument_exits_2_naming_it() {
    for arg in ["--bogus", "-x", "surplus"] {
        let (code, stdout, stderr) = run(&[arg], "");
        assert_eq!(code, Some(2), "{arg}: {stderr}");
        assert!(stderr.contains(arg), "{arg} not named in: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    // A flag that needs a value, without one.
    let (code, _, stderr) = run(&["--config"], "");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--config"), "{stderr}");
    // --quiet belongs to --check-config.
    let (code, _, stderr) = run(&["--quiet"], "");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--check-config"), "{stderr}");
    // The subcommand reads no configuration: combining them is a mistake.
    let (code, _, _) = run(&["--check-config", "hash-password", "--id", "CP-1"], "");
    assert_eq!(code, Some(2));
}

#[test]
fn every_spelling_of_the_config_flag_is_read() {
    let dir = scratch_dir("cli-config");
    let path = dir.join("other.toml");
    // Valid, and recognisable in the effective configuration.
    std::fs::write(&path, "[processors]\nthreads = 7\n").unwrap();
    let path = path.to_str().unwrap();
    let long_eq = format!("--config={path}");
    for args in [
        vec!["--check-config", "-c", path],
        vec!["--check-config", "--config", path],
        vec![long_eq.as_str(), "--check-config"],
    ] {
        let (code, stdout, stderr) = run(&args, "");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stdout.contains("threads = 7"), "{args:?}: {stdout}");
    }
    // Given twice, the last one counts (as it did before clap).
    let (code, stdout, stderr) = run(
        &["-c", "/nonexistent.toml", "--check-config", "-c", path],
        "",
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("threads = 7"), "{stdout}");
    // --quiet: the exit code alone on success, errors still on stderr.
    let (code, stdout, _) = run(&["--check-config", "--quiet", "-c", path], "");
    assert_eq!((code, stdout.as_str()), (Some(0), ""));
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[processors]\nthreads = 0\n").unwrap();
    let (code, stdout, stderr) = run(&["--check-config", "-q", "-c", bad.to_str().unwrap()], "");
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert!(stderr.contains("processors.threads"), "{stderr}");
    // The default is gateway.toml in the working directory.
    let out = Command::new(binary())
        .arg("--check-config")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gateway.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_and_both_helps() {
    for flag in ["-V", "--version"] {
        let (code, stdout, _) = run(&[flag], "");
        assert_eq!(code, Some(0));
        assert_eq!(
            stdout.trim(),
            format!("ocpp-gateway {}", env!("CARGO_PKG_VERSION"))
        );
    }
    let (code, short, _) = run(&["-h"], "");
    assert_eq!(code, Some(0));
    assert!(short.contains("--check-config") && short.contains("hash-password"));
    assert!(short.contains("[default: gateway.toml]"), "{short}");
    let (_, long, _) = run(&["--help"], "");
    assert!(long.contains("SIGNALS:") && long.contains("EXIT STATUS:"));
    assert!(!short.contains("EXIT STATUS:"), "{short}");
    // The hidden subcommand is for packaging, not for users.
    assert!(!long.contains("generate-assets"), "{long}");
}

#[test]
fn hash_password_takes_typed_arguments_and_refuses_bad_ones() {
    let key = "correct horse battery staple";
    let (code, stdout, stderr) = run(&["hash-password", "--id", "CP-1"], key);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("\"CP-1\" = \"sha256$"), "{stdout}");
    let (code, stdout, _) = run(
        &["hash-password", "--id=CP-2", "--hex"],
        "00112233445566778899aabbccddeeff",
    );
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("\"CP-2\" = "), "{stdout}");
    let (code, _, _) = run(&["hash-password", "--id", "CP-3", "--allow-short"], "short");
    assert_eq!(code, Some(0));
    // 1: bad input.
    let (code, _, _) = run(&["hash-password", "--id", "CP-3"], "short");
    assert_eq!(code, Some(1));
    // 2: bad arguments.
    let (code, _, stderr) = run(&["hash-password"], key);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--id"), "{stderr}");
    let (code, _, stderr) = run(&["hash-password", "--id", "CP 1"], key);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, stderr) = run(&["hash-password", "--id", "CP-1", "--sha1"], key);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--sha1"), "{stderr}");
    // A password on the command line is refused without being echoed.
    let (code, stdout, stderr) = run(
        &["hash-password", "--id", "CP-1", "hunter2hunter2hunter2"],
        "",
    );
    assert_eq!(code, Some(2));
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "{stderr}"
    );
    assert!(stderr.contains("standard input"), "{stderr}");
    let (code, stdout, _) = run(&["hash-password", "--help"], "");
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("--hex") && stdout.contains("--allow-short"),
        "{stdout}"
    );
}

#[test]
fn generated_man_pages_and_completions_name_the_flags() {
    let dir = scratch_dir("cli-assets");
    let (code, _, stderr) = run(&["generate-assets", dir.to_str().unwrap()], "");
    assert_eq!(code, Some(0), "{stderr}");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    // roff writes a minus as `\-`.
    let page = read("ocpp-gateway.1").replace("\\-", "-");
    for text in [
        "--check-config",
        "--config",
        "hash-password",
        "EXIT STATUS",
        "SIGHUP",
    ] {
        assert!(
            page.contains(text),
            "{text} missing from the man page:\n{page}"
        );
    }
    assert!(!page.contains("generate-assets"), "{page}");
    let page = read("ocpp-gateway-hash-password.1").replace("\\-", "-");
    assert!(page.contains("--allow-short"), "{page}");
    for file in ["ocpp-gateway.bash", "_ocpp-gateway", "ocpp-gateway.fish"] {
        let script = read(file);
        for flag in ["check-config", "config", "hash-password", "allow-short"] {
            assert!(
                script.contains(flag),
                "{flag} missing from {file}:\n{script}"
            );
        }
    }
}
