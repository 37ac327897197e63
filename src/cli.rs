//! The command line, defined once with clap's derive: parsing, usage and
//! error messages, `--help`, and (through `assets`) the man pages and shell
//! completions the Debian package installs all come from these types, so
//! they cannot disagree with each other.

mod assets;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueHint};

use ocpp_gateway::auth::{HashPasswordOptions, hash_password_command};

/// The long help's closing sections: heading and body, printed verbatim
/// after the options. The man page has them as its own sections.
const GATEWAY_SECTIONS: &[(&str, &str)] = &[
    (
        "SIGNALS",
        "    SIGTERM, SIGINT     close every connection (1001), drain, exit 0
    SIGHUP              reopen the log file, apply log.level from the file,
                        reload the credentials file and allow list, the
                        TLS certificate, key and client CA, and [[profiles]]
                        (applied to connected charge points at once)
",
    ),
    (
        "EXIT STATUS",
        "    0   the configuration is valid (--check-config), or the gateway stopped
        after SIGTERM/SIGINT
    1   the gateway could not start, or threads were still busy when
        shutdown.grace ran out
    2   a bad argument, or an error in the configuration (or in the
        credentials file it names): nothing was started
    hash-password: 0 printed, 1 bad input, 2 bad arguments
",
    ),
];

const HASH_PASSWORD_SECTIONS: &[(&str, &str)] = &[(
    "EXIT STATUS",
    "    0   the line was printed
    1   bad input: no password, too short, not hex with --hex
    2   a bad argument: no --id, an id a charge point URL cannot have, or a
        password given on the command line (where `ps` would show it)
",
)];

/// `SECTIONS` as clap's `after_long_help` text.
fn after_long_help(sections: &[(&str, &str)]) -> String {
    sections
        .iter()
        .map(|(heading, body)| format!("{heading}:\n{body}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Parser, Debug)]
#[command(
    name = "ocpp-gateway",
    version,
    about = "Thread-per-core OCPP-J WebSocket gateway for EV charge points",
    after_help = "Signals and exit status: see --help.",
    after_long_help = after_long_help(GATEWAY_SECTIONS),
    // `ocpp-gateway --check-config hash-password …` is a mistake, not a
    // combination: the subcommand reads no configuration.
    args_conflicts_with_subcommands = true,
    // As before clap: a flag given twice is no error, the last one counts.
    args_override_self = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Configuration file
    #[arg(
        short,
        long,
        value_name = "PATH",
        default_value = "gateway.toml",
        value_hint = ValueHint::FilePath
    )]
    config: PathBuf,
    /// Validate the file, print the effective configuration (defaults filled
    /// in, secrets redacted); exit 0 if valid, 2 if not
    #[arg(long)]
    check_config: bool,
    /// With --check-config: print nothing when the file is valid (errors
    /// still go to stderr), for a check before start or reload
    #[arg(short, long, requires = "check_config")]
    quiet: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read a charge point's password on stdin and print its credentials-file
    /// line (salted hash)
    #[command(
        long_about = "Reads the charge point's password (its AuthorizationKey) from the first \
                      line of standard input and prints the line to put under \
                      [charge_points] in the credentials file."
    )]
    HashPassword(HashPasswordArgs),
}

/// `ocpp-gateway generate-assets DIR`: the packaging hook. Its own parser,
/// outside `Cli`, so that the man pages and completions generated from
/// `Cli` do not offer it (clap_complete lists hidden subcommands too).
#[derive(Parser, Debug)]
#[command(
    name = "ocpp-gateway generate-assets",
    bin_name = "ocpp-gateway generate-assets",
    about = "Write the man pages and bash, zsh and fish completions into DIR \
             (for the Debian package; see deploy/build-deb.sh)"
)]
struct GenerateAssets {
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    dir: PathBuf,
}

/// `hash-password`. The password comes from stdin, never argv, so `ps` and
/// shell history do not show it.
#[derive(Args, Debug)]
#[command(
    after_long_help = after_long_help(HASH_PASSWORD_SECTIONS),
    args_override_self = true
)]
struct HashPasswordArgs {
    /// The charge point id (the Basic Auth user name)
    #[arg(long, value_name = "ID")]
    id: String,
    /// The input is hexadecimal and the password is the bytes it represents
    /// (OCPP 1.6 sends AuthorizationKey as hex in ChangeConfiguration;
    /// charge points send the bytes)
    #[arg(long)]
    hex: bool,
    /// Accept a password shorter than 16 bytes (the fast hash is only safe
    /// for high-entropy keys)
    #[arg(long)]
    allow_short: bool,
    // Not accepted: taken here only so that the refusal does not echo it,
    // as clap's "unexpected argument" would. Hidden from help and man
    // page; zsh's completion shows this help, which then tells the truth.
    /// Not here: the password is read from standard input (`ps` would show it)
    #[arg(hide = true, value_name = "PASSWORD", value_hint = ValueHint::Other)]
    password: Vec<OsString>,
}

/// What the gateway itself is to do.
#[derive(Debug)]
pub struct GatewayArgs {
    pub config: PathBuf,
    pub check_only: bool,
    /// `--check-config` prints nothing on success.
    pub quiet: bool,
}

/// What the command line asks for.
pub enum Action {
    Gateway(GatewayArgs),
    /// A subcommand, `--help` or `--version` ran, or the arguments were
    /// refused (2, with clap's message on stderr): exit with this.
    Exit(ExitCode),
}

/// Parses `std::env::args_os()` and runs a subcommand if one is given.
pub fn parse() -> Action {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "generate-assets")
    {
        return Action::Exit(generate_assets());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return Action::Exit(print_clap_error(&e)),
    };
    match cli.command {
        None => Action::Gateway(GatewayArgs {
            config: cli.config,
            check_only: cli.check_config,
            quiet: cli.quiet,
        }),
        Some(Command::HashPassword(args)) => Action::Exit(hash_password(args)),
    }
}

fn generate_assets() -> ExitCode {
    let args = match GenerateAssets::try_parse_from(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => return print_clap_error(&e),
    };
    match assets::write(&args.dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: generate-assets {}: {e}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

fn hash_password(args: HashPasswordArgs) -> ExitCode {
    if !args.password.is_empty() {
        let mut command = Cli::command();
        // Sets the usage line's name, "ocpp-gateway hash-password".
        command.build();
        let e = command.find_subcommand_mut("hash-password").map(|c| {
            c.error(
                ErrorKind::UnknownArgument,
                "unexpected argument; the password is read from standard input, not the \
                 command line (where `ps` would show it)",
            )
        });
        return e.map_or(ExitCode::from(2), |e| print_clap_error(&e));
    }
    hash_password_command(&HashPasswordOptions {
        id: args.id,
        hex: args.hex,
        allow_short: args.allow_short,
    })
}

/// Prints a clap error, help or version text: its exit code (2 for a bad
/// argument, 0 for help and version).
fn print_clap_error(e: &clap::Error) -> ExitCode {
    // A failed write to stdout/stderr has nowhere to be reported.
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
