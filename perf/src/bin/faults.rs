//! `faults`: hostile and broken peers against the gateway, beside an honest
//! workload. Progress goes to stderr, exactly one JSON report to stdout.

use std::process::ExitCode;

use clap::Parser;
use ocpp_perf::attack::{cli::FaultsCli, harness};

fn main() -> ExitCode {
    let cli = FaultsCli::parse();
    ocpp_perf::print_report("faults", harness::run(&cli.attack))
}
