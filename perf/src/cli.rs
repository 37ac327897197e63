//! Command line of `loadgen` and the validated target it describes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "OCPP-J 1.6 charge point load generator (loopback only)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Open N charge points at R per second, boot them, hold, close.
    Ramp(RampArgs),
    /// C booted charge points send back-to-back CALLs for S seconds.
    Load(LoadArgs),
    /// K connect → boot → linger → disconnect cycles with mixed disconnect modes.
    Churn(ChurnArgs),
}

impl Scenario {
    pub fn common(&self) -> &Common {
        match self {
            Scenario::Ramp(a) => &a.common,
            Scenario::Load(a) => &a.common,
            Scenario::Churn(a) => &a.common,
        }
    }
}

/// Options every scenario takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Endpoint prefix, ws:// or wss://; the charge point id is appended as
    /// the last path segment.
    #[arg(long, default_value = "ws://127.0.0.1:8180/ocpp")]
    pub url: String,
    /// wss:// only (required there): PEM file of the CA(s) to trust for the
    /// server certificate, which must name the URL's host (IP SAN for an IP).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// wss:// only: PEM client certificate (chain) presented by every
    /// connection (with --client-key).
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// wss:// only: PEM private key of --client-cert.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// wss:// only (security profile 3): directory with `<id>.pem` and
    /// `<id>.key` per charge point id, e.g. CP0.pem / CP0.key.
    #[arg(long, conflicts_with_all = ["client_cert", "client_key"])]
    pub client_cert_dir: Option<PathBuf>,
    /// Sample /proc/PID of the server (RSS, HWM, threads, fds, CPU) each second.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Event-loop threads of the load generator.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Spread client sockets over source addresses 127.0.0.1 … 127.0.0.K.
    #[arg(long, default_value_t = 16)]
    pub source_ips: u32,
    /// Charge point ids are this prefix followed by an index.
    #[arg(long, default_value = "CP")]
    pub id_prefix: String,
    /// First charge point index (to run several generators with disjoint ids).
    #[arg(long, default_value_t = 0)]
    pub id_start: u32,
    /// Seconds allowed for each step: TCP connect, WebSocket handshake, boot,
    /// a CALL, a close handshake.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// tungstenite read buffer per connection (bytes); sets most of our memory.
    #[arg(long, default_value_t = crate::client::DEFAULT_READ_BUFFER)]
    pub read_buffer: usize,
    /// Exit with status 1 if any failure, error or disconnect was reported.
    #[arg(long)]
    pub fail_on_error: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RampArgs {
    #[command(flatten)]
    pub common: Common,
    /// Charge points to open.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub count: u32,
    /// Connections opened per second (offered rate).
    #[arg(long, short = 'r', default_value_t = 5000.0)]
    pub rate: f64,
    /// Seconds to hold all booted charge points before closing them.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
}

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: Common,
    /// Charge points calling back to back.
    #[arg(long, short = 'c', default_value_t = 100)]
    pub count: u32,
    /// Connections opened per second while setting up.
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,
    /// Measured seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring (excluded from all figures).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Which CALLs to send.
    #[arg(long, value_enum, default_value_t = Mix::Heartbeat)]
    pub mix: Mix,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// `Heartbeat` only.
    Heartbeat,
    /// A charging session: StatusNotification, Authorize, StartTransaction,
    /// MeterValues, StopTransaction.
    Realistic,
}

#[derive(Args, Debug, Clone)]
pub struct ChurnArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connect → boot → linger → disconnect cycles in total.
    #[arg(long, short = 'k', default_value_t = 2000)]
    pub cycles: u64,
    /// Concurrent cycles.
    #[arg(long, short = 'w', default_value_t = 50)]
    pub workers: u32,
    /// Linger after boot: uniformly random in 0..L milliseconds.
    #[arg(long, default_value_t = 200)]
    pub linger_ms: u64,
    /// Distinct charge point ids reused by the cycles (at least --workers).
    /// A worker reuses its own ids only, so one id is never connected twice
    /// at once by us.
    #[arg(long)]
    pub id_pool: Option<u32>,
    /// Disconnect modes, used in turn.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "close,fin,rst,pre-boot,partial-frame,in-flight"
    )]
    pub modes: Vec<DropMode>,
    /// Seconds to wait after the last cycle before the "after" server sample.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Cycles run first (same workers, modes and linger), then `--settle`
    /// seconds, before the "before" sample: the measured cycles then start
    /// from a server that has already run every code path once (its cold
    /// start figures are reported too, as `warmup`).
    #[arg(long, default_value_t = 0)]
    pub warmup_cycles: u64,
}

/// How a churn cycle ends its connection.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropMode {
    /// WebSocket close frame, wait for the server's close.
    Close,
    /// TCP FIN without a close frame (shutdown, then drop).
    Fin,
    /// TCP RST (SO_LINGER 0, then drop).
    Rst,
    /// Close frame right after the upgrade, before any BootNotification.
    PreBoot,
    /// Write half of a WebSocket frame, then drop.
    PartialFrame,
    /// Send a Heartbeat CALL and drop without waiting for the answer.
    InFlight,
}

impl DropMode {
    pub const ALL: [DropMode; 6] = [
        DropMode::Close,
        DropMode::Fin,
        DropMode::Rst,
        DropMode::PreBoot,
        DropMode::PartialFrame,
        DropMode::InFlight,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropMode::Close => "close",
            DropMode::Fin => "fin",
            DropMode::Rst => "rst",
            DropMode::PreBoot => "pre_boot",
            DropMode::PartialFrame => "partial_frame",
            DropMode::InFlight => "in_flight",
        }
    }

    pub fn index(self) -> usize {
        DropMode::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

/// A validated `ws://` or `wss://` target on loopback.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// `ws://host:port/prefix/` — the charge point id is appended.
    pub url_prefix: String,
    /// `wss://`.
    pub tls: bool,
    /// The URL's host without brackets (TLS server name).
    pub host: String,
}

impl Target {
    /// Parses `ws[s]://HOST:PORT/PREFIX` and refuses anything that is not
    /// loopback: this tool must never load someone else's server.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (scheme, tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
            ("ws", false, r)
        } else if let Some(r) = url.strip_prefix("wss://") {
            ("wss", true, r)
        } else {
            return Err(format!(
                "--url {url:?}: only ws:// and wss:// URLs are supported, e.g. ws://127.0.0.1:8180/ocpp"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })
            .ok_or_else(|| format!("--url {url:?}: expected {scheme}://HOST:PORT/PREFIX"))?;
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().map_err(|_| {
                format!("--url {url:?}: host {host:?} must be an IP address or localhost (no DNS lookups)")
            })?
        };
        if !ip.is_loopback() {
            return Err(format!(
                "--url {url:?}: refusing non-loopback target {ip}; loadgen only sends traffic to \
                 127.0.0.0/8, ::1 or localhost"
            ));
        }
        let path = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            url_prefix: format!("{scheme}://{authority}{path}"),
            tls,
            host: host.to_string(),
        })
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        (&rest[..end], rest[end + 1..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_only() {
        let t = Target::parse("ws://127.0.0.1:8180/ocpp").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8180".parse().unwrap());
        assert_eq!(t.url_prefix, "ws://127.0.0.1:8180/ocpp/");
        assert!(Target::parse("ws://127.3.2.1:1/").is_ok());
        assert!(Target::parse("ws://[::1]:9000/x/").unwrap().addr.is_ipv6());
        assert_eq!(
            Target::parse("ws://localhost:81").unwrap().url_prefix,
            "ws://localhost:81/"
        );
        assert!(
            Target::parse("ws://10.0.0.1:8180/ocpp")
                .unwrap_err()
                .contains("non-loopback")
        );
        assert!(Target::parse("ws://example.com:80/").is_err());
        let t = Target::parse("wss://127.0.0.1:8443/ocpp").unwrap();
        assert!(t.tls);
        assert_eq!(t.url_prefix, "wss://127.0.0.1:8443/ocpp/");
        assert_eq!(Target::parse("wss://[::1]/").unwrap().addr.port(), 443);
        assert!(Target::parse("wss://10.0.0.1:8443/").is_err());
        assert!(Target::parse("http://127.0.0.1:80/").is_err());
    }
}
