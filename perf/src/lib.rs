//! Load generator and baseline server for the OCPP-J 1.6 gateway.
//!
//! Which thread runs what:
//! - `scenario` runs on the main thread of `loadgen`: it sets phases,
//!   samples the server once a second and writes the report.
//! - `worker` (with `client`, `ocpp`, `net`) runs on each load-generator
//!   thread: one mio loop owning its connections.
//! - `baseline` is the reference server: one mio loop per thread.
//! - `stats` and `procfs` are shared helpers.
//! - `attack` is the fault harness of `faults` (hostile peers beside an
//!   honest workload); it reuses all of the above.

pub mod attack;
pub mod baseline;
pub mod cli;
pub mod client;
pub mod net;
pub mod ocpp;
pub mod procfs;
pub mod scenario;
pub mod stats;
pub mod tls;
pub mod worker;

/// Prints a tool's one JSON report on stdout (exit 0), or its error on
/// stderr (exit 2).
pub fn print_report(
    tool: &str,
    result: Result<serde_json::Value, String>,
) -> std::process::ExitCode {
    match result {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serializable report")
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{tool}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
