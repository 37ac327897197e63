//! `baseline`: a minimal mio + tungstenite OCPP-J responder, the ceiling of
//! this stack. Runs until killed.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use ocpp_perf::baseline::{Config, serve};

#[derive(Parser, Debug)]
#[command(
    name = "baseline",
    version,
    about = "Minimal mio + tungstenite OCPP-J server (canned answers)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8190")]
    listen: SocketAddr,
    /// Event loops, each with its own SO_REUSEPORT listener.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Listen backlog (the kernel caps it at net.core.somaxconn).
    #[arg(long, default_value_t = 4096)]
    backlog: i32,
    /// tungstenite read buffer per connection, bytes.
    #[arg(long, default_value_t = 4096)]
    read_buffer: usize,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if let Err(e) = ocpp_perf::procfs::raise_nofile_limit() {
        eprintln!("baseline: cannot raise RLIMIT_NOFILE: {e}");
    }
    let cfg = Config {
        listen: a.listen,
        threads: a.threads,
        backlog: a.backlog,
        read_buffer: a.read_buffer,
    };
    match serve(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline: cannot serve on {}: {e}", a.listen);
            ExitCode::from(1)
        }
    }
}
