//! `loadgen`: simulated OCPP-J 1.6 charge points against a loopback server.
//! Progress goes to stderr, exactly one JSON report to stdout.

use std::process::ExitCode;

use clap::Parser;
use ocpp_perf::{cli::Cli, scenario};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let fail_on_error = cli.scenario.common().fail_on_error;
    match scenario::run(&cli.scenario) {
        Ok(outcome) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&outcome.report).expect("serializable report")
            );
            if fail_on_error && outcome.problems > 0 {
                eprintln!(
                    "loadgen: {} failures + errors + disconnects counted (--fail-on-error); \
                     see \"failures\" and \"errors\" in the report",
                    outcome.problems
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
