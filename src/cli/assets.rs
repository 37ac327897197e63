//! `ocpp-gateway generate-assets DIR`: the man pages and shell completions,
//! generated from the clap definition by the very binary the Debian package
//! ships, so they describe exactly its flags.
//!
//! A subcommand of the binary (undocumented, outside `Cli`) rather than a
//! build script or a second binary: a build script cannot see the binary's
//! own types, a second binary would need the definition moved into the
//! library (and clap with it), and `cargo deb --no-build` after `cargo test
//! --release` has the binary but nothing else. deploy/build-deb.sh runs it
//! into `target/release/deb-assets/`, where Cargo.toml's
//! `[package.metadata.deb]` assets take the files from.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use super::{Cli, GATEWAY_SECTIONS, HASH_PASSWORD_SECTIONS};

/// The completion files, named as each shell's completion directory
/// expects them (the package installs them under these names).
const COMPLETIONS: &[(Shell, &str)] = &[
    (Shell::Bash, "ocpp-gateway.bash"),
    (Shell::Zsh, "_ocpp-gateway"),
    (Shell::Fish, "ocpp-gateway.fish"),
];

/// Writes `ocpp-gateway.1`, `ocpp-gateway-hash-password.1` and the
/// completion files into `dir` (created if missing).
pub fn write(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut command = Cli::command();
    // Sets the subcommands' display names ("ocpp-gateway-hash-password").
    command.build();
    fs::write(
        dir.join("ocpp-gateway.1"),
        man_page(&command, GATEWAY_SECTIONS)?,
    )?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sections = match sub.get_name() {
            "hash-password" => HASH_PASSWORD_SECTIONS,
            _ => &[],
        };
        let page = man_page(sub, sections)?;
        fs::write(dir.join(Man::new(sub.clone()).get_filename()), page)?;
    }
    for (shell, file) in COMPLETIONS {
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut command, "ocpp-gateway", &mut script);
        fs::write(dir.join(file), script)?;
    }
    Ok(())
}

/// clap_mangen's page, with `sections` as real man page sections (it would
/// put `after_long_help` into one refilled EXTRA section, which wrecks the
/// column layout).
fn man_page(command: &clap::Command, sections: &[(&str, &str)]) -> io::Result<Vec<u8>> {
    let man = Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    for (heading, body) in sections {
        writeln!(page, ".SH \"{heading}\"\n.nf")?;
        for line in body.lines() {
            writeln!(page, "{}", roff_line(line))?;
        }
        writeln!(page, ".fi")?;
    }
    // clap_mangen panics on a command without a version (the subcommand).
    if command.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    Ok(page)
}

/// One line of no-fill text: backslashes and minus signs escaped, and a
/// leading `.` or `'` kept from being read as a request.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
