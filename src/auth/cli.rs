//! `ocpp-gateway hash-password --id CP-1 [--hex] [--allow-short]`: reads a
//! charge point's password from standard input and prints the credentials
//! file line for it. The binary parses the arguments (its `cli` module) and
//! hands them over as [`HashPasswordOptions`]; a bad argument never gets
//! here, clap exits 2 for it.
//!
//! The password comes from stdin, never argv, so `ps` and shell history do
//! not show it: `ocpp-gateway hash-password --id CP-1 < key.txt`, or type it
//! at the prompt.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

use data_encoding::HEXLOWER_PERMISSIVE;

/// Longest input line read; OCPP keys are at most 40 bytes (80 hex digits).
const MAX_LINE: usize = 1024;
/// OCPP 1.6 security profile 1: AuthorizationKey "minimal length: 16 bytes".
const MIN_KEY_LEN: usize = 16;

/// The arguments of `hash-password`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashPasswordOptions {
    /// The charge point id (the Basic Auth user name); checked here, so a
    /// bad one exits 2 like any bad argument.
    pub id: String,
    /// The input is hexadecimal and the password the bytes it stands for.
    pub hex: bool,
    /// Accept a password shorter than 16 bytes.
    pub allow_short: bool,
}

/// Runs the subcommand. Exit codes: 0 printed, 1 bad input, 2 bad `--id`.
pub fn hash_password_command(options: &HashPasswordOptions) -> ExitCode {
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    let code = run(
        options,
        &mut stdin.lock(),
        prompt,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

/// Exit codes: 0 printed, 1 bad input or failure, 2 a bad id.
fn run(
    options: &HashPasswordOptions,
    input: &mut dyn BufRead,
    prompt: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let text = match toml_line(options, input, prompt, err) {
        Ok(text) => text,
        Err((code, message)) => {
            // A failed write to stderr has nowhere to be reported.
            let _ = writeln!(err, "ocpp-gateway hash-password: {message}");
            return code;
        }
    };
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "ocpp-gateway hash-password: cannot write: {e}");
            1
        }
    }
}

/// The text for stdout (the TOML line), or an exit code and message. `err`
/// gets only the prompt and notes.
fn toml_line(
    options: &HashPasswordOptions,
    input: &mut dyn BufRead,
    prompt: bool,
    err: &mut dyn Write,
) -> Result<String, (u8, String)> {
    super::check_id(&options.id).map_err(|e| (2, format!("--id {:?}: {e}", options.id)))?;
    if prompt {
        let _ = write!(
            err,
            "password for {} (shown as typed; end with Enter): ",
            options.id
        );
        let _ = err.flush();
    }
    let mut line = Vec::new();
    input
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| (1, format!("cannot read standard input: {e}")))?;
    if line.len() > MAX_LINE {
        return Err((1, format!("the input line is over {MAX_LINE} bytes")));
    }
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err((1, "no password on standard input".into()));
    }
    let password = if options.hex {
        HEXLOWER_PERMISSIVE.decode(line.trim_ascii()).map_err(|_| {
            (
                1,
                "--hex: the input is not an even number of hex digits".to_owned(),
            )
        })?
    } else {
        // The OCPP 1.6 hex/bytes confusion is a common interop failure:
        // point at it, without refusing (some firmware does send the hex).
        if (2 * MIN_KEY_LEN..=80).contains(&line.len()) && HEXLOWER_PERMISSIVE.decode(line).is_ok()
        {
            let _ = writeln!(
                err,
                "note: this looks like a hex AuthorizationKey; if the charge point sends the \
                 bytes it stands for, run again with --hex"
            );
        }
        line.to_vec()
    };
    if password.len() < MIN_KEY_LEN && !options.allow_short {
        return Err((
            1,
            format!(
                "the password is {} bytes; OCPP keys are at least {MIN_KEY_LEN} random bytes, \
                 and the fast salted hash relies on that (--allow-short overrides)",
                password.len()
            ),
        ));
    }
    let hash = super::hash::try_hash_password(&password).map_err(|e| (1, e))?;
    // check_id admits no `"` or `\`, so the id needs no TOML escaping.
    Ok(format!("\"{}\" = \"{hash}\"\n", options.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the subcommand for `id` with the `flags` given ("hex",
    /// "allow_short") on `stdin`: exit code, stdout, stderr.
    fn cmd(id: &str, flags: &[&str], stdin: &str) -> (u8, String, String) {
        let options = HashPasswordOptions {
            id: id.to_owned(),
            hex: flags.contains(&"hex"),
            allow_short: flags.contains(&"allow_short"),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&options, &mut stdin.as_bytes(), false, &mut out, &mut err);
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    fn stored(line: &str) -> &str {
        line.trim_end()
            .rsplit(" = ")
            .next()
            .unwrap_or("")
            .trim_matches('"')
    }

    #[test]
    fn prints_a_verifiable_toml_line() {
        let (code, out, err) = cmd("CP-1", &[], "correct horse battery\n");
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("\"CP-1\" = \"sha256$"), "{out}");
        assert_eq!(
            super::super::hash::matches(stored(&out), b"correct horse battery"),
            Ok(true)
        );
        // The line parses as a credentials file entry.
        let file = format!("[charge_points]\n{out}");
        let c = crate::auth::Credentials::parse(&file, std::path::Path::new("c.toml"));
        assert_eq!(c.map(|c| c.len()), Ok(1));
    }

    #[test]
    fn hex_input_is_decoded_and_crlf_stripped() {
        let key = "00112233445566778899aabbccddeeff0011";
        let (code, out, err) = cmd("CP-2", &["hex"], &format!("{key}\r\n"));
        assert_eq!(code, 0, "{err}");
        let bytes = HEXLOWER_PERMISSIVE
            .decode(key.as_bytes())
            .unwrap_or_default();
        assert_eq!(super::super::hash::matches(stored(&out), &bytes), Ok(true));
        // Without --hex the same input is taken as text, with a note.
        let (code, out, err) = cmd("CP-2", &[], key);
        assert_eq!(code, 0);
        assert!(err.contains("--hex"), "{err}");
        assert_eq!(
            super::super::hash::matches(stored(&out), key.as_bytes()),
            Ok(true)
        );
    }

    #[test]
    fn refusals() {
        // Argument errors (no --id, a password on the command line) are
        // clap's, tested against the binary in tests/cli.rs.
        let (code, _, err) = cmd("CP 1", &[], "0123456789abcdefg");
        assert_eq!(code, 2);
        assert!(err.contains("--id \"CP 1\""), "{err}");
        assert_eq!(cmd("CP-1", &[], "").0, 1);
        assert_eq!(cmd("CP-1", &[], "\n").0, 1);
        assert_eq!(cmd("CP-1", &[], "short").0, 1);
        assert_eq!(cmd("CP-1", &["allow_short"], "short").0, 0);
        assert_eq!(cmd("CP-1", &["hex"], "abc").0, 1);
        assert_eq!(cmd("CP-1", &[], &"x".repeat(2000)).0, 1);
    }
}
