//! `faults`: hostile and broken peers against the gateway, beside an honest
//! workload. Progress goes to stderr, exactly one JSON report to stdout.

use std::process::ExitCode;

use clap::Parser;
use ocpp_perf::attack::{cli::FaultsCli, harness};

fn main() -> ExitCode {
    let cli = FaultsCli::parse();
    match harness::run(&cli.attack) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serializable report")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("faults: {e}");
            ExitCode::from(2)
        }
    }
}
