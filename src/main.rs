//! The `ocpp-gateway` binary: parse arguments, load the configuration,
//! start the gateway, then wait for signals on the main thread.

use std::path::PathBuf;
use std::process::ExitCode;

use log::{error, info, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use ocpp_gateway::{Config, logging};

const USAGE: &str = "\
ocpp-gateway — thread-per-core OCPP-J WebSocket gateway

USAGE:
    ocpp-gateway [--config PATH]            run the gateway
    ocpp-gateway [--config PATH] --check-config
                                            validate the file, print the effective
                                            configuration (defaults filled in, secrets
                                            redacted); exit 0 if valid, 2 if not
    ocpp-gateway hash-password --id ID [--hex] [--allow-short]
                                            read a charge point's password on stdin and
                                            print its credentials-file line (salted hash)
    ocpp-gateway --help | --version

OPTIONS:
    -c, --config PATH   configuration file [default: gateway.toml]

SIGNALS:
    SIGTERM, SIGINT     close every connection (1001), drain, exit 0
    SIGHUP              reopen the log file, apply log.level from the file,
                        reload the credentials file and allow list, the
                        TLS certificate, key and client CA, and [[profiles]]
                        (applied to connected charge points at once)

EXIT STATUS:
    0   the configuration is valid (--check-config), or the gateway stopped
        after SIGTERM/SIGINT
    1   the gateway could not start, or threads were still busy when
        shutdown.grace ran out
    2   a bad argument, or an error in the configuration (or in the
        credentials file it names): nothing was started
    hash-password: 0 printed, 1 bad input, 2 bad arguments
";

struct Args {
    config: PathBuf,
    check_only: bool,
}

/// What `parse_args` returns instead of arguments to run the gateway with.
enum Subcommand {
    HashPassword(Vec<String>),
    Error(String),
}

impl From<String> for Subcommand {
    fn from(e: String) -> Subcommand {
        Subcommand::Error(e)
    }
}

impl From<&str> for Subcommand {
    fn from(e: &str) -> Subcommand {
        Subcommand::Error(e.to_owned())
    }
}

fn parse_args() -> Result<Option<Args>, Subcommand> {
    let mut args = Args {
        config: PathBuf::from("gateway.toml"),
        check_only: false,
    };
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("hash-password") {
        argv.next();
        return Err(Subcommand::HashPassword(argv.collect()));
    }
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("ocpp-gateway {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "-c" | "--config" => {
                let path = argv.next().ok_or("--config needs a file path")?;
                args.config = PathBuf::from(path);
            }
            "--check-config" => args.check_only = true,
            other => match other.strip_prefix("--config=") {
                Some(path) => args.config = PathBuf::from(path),
                None => return Err(format!("unknown argument {other:?}; see --help").into()),
            },
        }
    }
    Ok(Some(args))
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!(
            "{} configuration error(s); nothing was started",
            errors.len()
        );
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(Subcommand::HashPassword(args)) => {
            return ocpp_gateway::auth::hash_password_command(args);
        }
        Err(Subcommand::Error(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match load(&args.config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // The credentials file is part of the configuration: check it now.
    if let Err(e) = ocpp_gateway::auth::CredentialStore::from_config(&config.auth) {
        eprintln!("error: auth: {e}");
        return ExitCode::from(2);
    }
    if args.check_only {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    // Block the signals before any thread starts, so none is lost in between.
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before the first thread starts, so that all inherit the set.
    if let Err(e) = ocpp_gateway::confine_other_threads(&config) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let log = match logging::init(&config.log, config.channels.capacity) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let grace = config.shutdown.grace;
    let gateway = match ocpp_gateway::start(config) {
        Ok(g) => g,
        Err(e) => {
            error!("cannot start: {e}");
            log.shutdown();
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    for signal in signals.forever() {
        match signal {
            SIGHUP => match Config::load(&args.config) {
                Ok(new) => {
                    log.set_level(new.log.level.filter());
                    log.reopen();
                    info!("SIGHUP: reopened log, level {:?}", new.log.level);
                    match gateway.reload_credentials(&new.auth) {
                        Ok(n) => info!("SIGHUP: credentials reloaded ({n} charge points)"),
                        Err(e) => warn!("SIGHUP: credentials not reloaded, old set kept: {e}"),
                    }
                    // New TLS connections get the new certificate; open
                    // ones keep theirs. A bad file keeps the old one.
                    match gateway.reload_tls(&new.tls) {
                        Ok(true) => info!("SIGHUP: TLS certificate and key reloaded"),
                        Ok(false) => {}
                        Err(e) => warn!("SIGHUP: TLS not reloaded, old certificate kept: {e}"),
                    }
                    // [trace] is read at start only: globs without a
                    // running trace writer would trace nothing.
                    if new.profiles.iter().any(|p| !p.trace.is_empty())
                        && !gateway.config().trace.enabled()
                    {
                        warn!(
                            "SIGHUP: profile trace globs ignored: the gateway started without \
                             [trace] directory (restart to trace)"
                        );
                    }
                    let reactors = gateway.reload_profiles(&new.profiles);
                    info!(
                        "SIGHUP: {} profiles in force, applied on {reactors} reactors",
                        new.profiles.len()
                    );
                }
                Err(errors) => {
                    for e in errors {
                        warn!("SIGHUP: configuration not reloaded: {e}");
                    }
                    log.reopen();
                }
            },
            _ => {
                info!("signal {signal}: shutting down (grace {grace:?})");
                break;
            }
        }
    }
    gateway.shutdown();
    // Everything ends within the grace, whatever the peers and the bus do.
    let finished = gateway.join(grace);
    if finished {
        info!("stopped");
    } else {
        warn!("threads still busy after the grace period; exiting anyway");
    }
    log.shutdown();
    if finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
