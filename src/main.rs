//! The `ocpp-gateway` binary: parse arguments (`cli`), load the
//! configuration, start the gateway, then wait for signals on the main
//! thread.

mod cli;

use std::process::ExitCode;

use log::{error, info, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use ocpp_gateway::{Config, logging};

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
    let args = match cli::parse() {
        cli::Action::Gateway(args) => args,
        cli::Action::Exit(code) => return code,
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
        if !args.quiet {
            print!("{}", config.to_toml());
        }
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
