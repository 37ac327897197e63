//! Command line of `faults`: one subcommand per attack, each with the
//! harness options (honest workload, sampling, phases) flattened in.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "faults",
    version,
    about = "Hostile and broken peers against the OCPP-J gateway, beside an honest workload (loopback only)"
)]
pub struct FaultsCli {
    #[command(subcommand)]
    pub attack: AttackCmd,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AttackCmd {
    /// N sockets sending the HTTP upgrade one byte at a time.
    Slowloris(SlowlorisArgs),
    /// N connections that connect and never send a byte.
    Silent(SilentArgs),
    /// N upgraded charge points that never read (small SO_RCVBUF) while the
    /// gateway has to write to them.
    NonReading(NonReadingArgs),
    /// N upgraded connections each sending one large fragmented message slowly.
    Fragments(FragmentsArgs),
    /// K connections sending malformed frames back to back.
    Garbage(GarbageArgs),
    /// Abuse of the admin HTTP API: wrong tokens, huge bodies and headers,
    /// slow requests.
    Admin(AdminArgs),
    /// The honest workload alone (what every attack's "without" phase runs).
    Honest(HonestArgs),
}

impl AttackCmd {
    pub fn harness(&self) -> &Harness {
        match self {
            AttackCmd::Slowloris(a) => &a.harness,
            AttackCmd::Silent(a) => &a.harness,
            AttackCmd::NonReading(a) => &a.harness,
            AttackCmd::Fragments(a) => &a.harness,
            AttackCmd::Garbage(a) => &a.harness,
            AttackCmd::Admin(a) => &a.harness,
            AttackCmd::Honest(a) => &a.harness,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            AttackCmd::Slowloris(_) => "slowloris",
            AttackCmd::Silent(_) => "silent",
            AttackCmd::NonReading(_) => "non-reading",
            AttackCmd::Fragments(_) => "fragments",
            AttackCmd::Garbage(_) => "garbage",
            AttackCmd::Admin(_) => "admin",
            AttackCmd::Honest(_) => "honest",
        }
    }

    /// Seconds a phase lasts unless `--duration` says otherwise: long
    /// enough for the gateway's 10 s handshake timeout to show.
    pub fn default_duration(&self) -> f64 {
        match self {
            AttackCmd::Slowloris(_) | AttackCmd::Silent(_) => 16.0,
            AttackCmd::NonReading(_) => 20.0,
            AttackCmd::Fragments(_) => 40.0,
            AttackCmd::Garbage(_) => 10.0,
            AttackCmd::Admin(_) => 20.0,
            AttackCmd::Honest(_) => 10.0,
        }
    }
}

/// Options of every attack: the gateway, the honest workload, the phases.
#[derive(Args, Debug, Clone)]
pub struct Harness {
    /// The gateway's charge point endpoint prefix (ws:// on loopback); the
    /// id is appended.
    #[arg(long, default_value = "ws://127.0.0.1:8180/ocpp")]
    pub url: String,
    /// Admin API address (IP:PORT): `/health` is polled every 100 ms for the
    /// reactors' `last_tick_age_ms`; `admin` and `non-reading --feed admin`
    /// send to it.
    #[arg(long)]
    pub admin: Option<String>,
    /// Bearer token of the admin API, for the routes that need one.
    #[arg(long)]
    pub admin_token: Option<String>,
    /// The gateway process: RSS, HWM, threads, fds sampled every 200 ms.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Honest charge points: connect and boot during the attack, then send
    /// heartbeats.
    #[arg(long, default_value_t = 1000)]
    pub honest: u32,
    /// Honest connections opened per second.
    #[arg(long, default_value_t = 250.0)]
    pub honest_rate: f64,
    /// Seconds after the phase start (the attack's start) at which the
    /// honest charge points start connecting.
    #[arg(long, default_value_t = 1.0)]
    pub honest_start: f64,
    /// Heartbeat interval of each honest charge point, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// Event-loop threads of the honest workload.
    #[arg(long, default_value_t = 1)]
    pub honest_threads: usize,
    /// Seconds allowed for each honest step (connect, upgrade, boot, a call).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Seconds of each phase (attack and honest workload); default per attack.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds after a phase before the "after" server sample.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Run the honest workload without the attack, with it, and without it
    /// again, and report the ratios with / without.
    #[arg(long, conflicts_with = "no_attack")]
    pub compare: bool,
    /// The honest workload alone.
    #[arg(long)]
    pub no_attack: bool,
    /// Spread sockets over source addresses 127.0.0.1 … 127.0.0.K.
    #[arg(long, default_value_t = 16)]
    pub source_ips: u32,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct HonestArgs {
    #[command(flatten)]
    pub harness: Harness,
}

#[derive(Args, Debug, Clone)]
pub struct SlowlorisArgs {
    #[command(flatten)]
    pub harness: Harness,
    /// Sockets dribbling the upgrade request.
    #[arg(long, short = 'n', default_value_t = 2000)]
    pub count: u32,
    /// Sockets opened per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// One byte of the request every this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub byte_interval_ms: u64,
}

#[derive(Args, Debug, Clone)]
pub struct SilentArgs {
    #[command(flatten)]
    pub harness: Harness,
    /// Connections that never send a byte.
    #[arg(long, short = 'n', default_value_t = 15_000)]
    pub count: u32,
    /// Connections opened per second.
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,
}

/// What makes the gateway write to a peer that does not read.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The peers send CALLs; the gateway's answers pile up.
    Calls,
    /// Commands through the admin API (`POST /connections/{id}/calls`).
    Admin,
}

/// Which CALL a non-reading peer sends.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// `[2,"<n>","Heartbeat",{}]`: ~50-byte answers.
    Heartbeat,
    /// A Heartbeat whose message id is `--id-len` characters: the
    /// CALLERROR echoes the id, so every answer is as big as the CALL.
    LongId,
}

#[derive(Args, Debug, Clone)]
pub struct NonReadingArgs {
    #[command(flatten)]
    pub harness: Harness,
    /// Charge points that upgrade, boot, then never read.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub count: u32,
    /// Connections opened per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// SO_RCVBUF of each peer's socket, bytes (set before connect).
    #[arg(long, default_value_t = 4096)]
    pub rcvbuf: usize,
    #[arg(long, value_enum, default_value_t = Feed::Calls)]
    pub feed: Feed,
    /// `--feed calls`: the CALL each peer sends.
    #[arg(long, value_enum, default_value_t = CallKind::Heartbeat)]
    pub call: CallKind,
    /// `--call long-id`: message id length.
    #[arg(long, default_value_t = 10_000)]
    pub id_len: usize,
    /// `--feed calls`: CALLs per second per peer (0: as fast as the socket
    /// takes them).
    #[arg(long, default_value_t = 200.0)]
    pub call_rate: f64,
    /// `--feed admin`: bytes of the DataTransfer `data` of each command.
    #[arg(long, default_value_t = 262_144)]
    pub command_bytes: usize,
    /// `--feed admin`: `timeout_ms` of each command (the next one to the
    /// same peer goes out when it expires).
    #[arg(long, default_value_t = 500)]
    pub command_timeout_ms: u64,
    /// `--feed admin`: threads posting commands.
    #[arg(long, default_value_t = 64)]
    pub admin_workers: usize,
}

#[derive(Args, Debug, Clone)]
pub struct FragmentsArgs {
    #[command(flatten)]
    pub harness: Harness,
    /// Connections, each sending one fragmented message per round.
    #[arg(long, short = 'n', default_value_t = 2000)]
    pub count: u32,
    /// Connections opened per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Total payload of the message: just under the gateway's
    /// `max_message_size` (1 MiB by default).
    #[arg(long, default_value_t = (1 << 20) - 1024)]
    pub message_bytes: usize,
    /// Payload bytes per fragment.
    #[arg(long, default_value_t = 16_384)]
    pub fragment_bytes: usize,
    /// One fragment every this many milliseconds per connection.
    #[arg(long, default_value_t = 100)]
    pub fragment_ms: u64,
    /// Rounds of N fresh connections (RSS after each round shows what the
    /// gateway keeps).
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Seconds after a round's last connection ended before its "after" sample.
    #[arg(long, default_value_t = 3.0)]
    pub round_settle: f64,
}

/// Malformed input of the garbage attack.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// `--frame-bytes` of `[[[[…` as one text frame.
    Brackets,
    /// A text frame that is not JSON.
    NotJson,
    /// `[2,"<n>","Heartbeat"]`: a CALL with three elements.
    WrongArity,
    /// A Heartbeat whose message id is `--id-len` characters (37: one over
    /// OCPP-J's 36).
    LongId,
    /// A text frame with bytes that are not UTF-8.
    InvalidUtf8,
    /// A ping with 126 bytes of payload (RFC 6455 allows 125).
    OversizedControl,
    /// A data frame with reserved opcode 0x3.
    ReservedOpcode,
    /// A valid Heartbeat CALL, unmasked (clients must mask).
    Unmasked,
    /// A binary frame holding a Heartbeat CALL.
    Binary,
}

#[derive(Args, Debug, Clone)]
pub struct GarbageArgs {
    #[command(flatten)]
    pub harness: Harness,
    #[arg(long, value_enum)]
    pub kind: Garbage,
    /// Connections sending at once.
    #[arg(long, short = 'k', default_value_t = 1)]
    pub connections: u32,
    /// `brackets`: frame size in bytes.
    #[arg(long, default_value_t = 102_400)]
    pub frame_bytes: usize,
    /// `long-id`: message id length (37, or e.g. 10000).
    #[arg(long, default_value_t = 37)]
    pub id_len: usize,
    /// Do not open a new connection when the gateway closes one.
    #[arg(long)]
    pub no_reconnect: bool,
}

#[derive(Args, Debug, Clone)]
pub struct AdminArgs {
    #[command(flatten)]
    pub harness: Harness,
    /// Requests with a wrong bearer token.
    #[arg(long, default_value_t = 1000)]
    pub wrong_tokens: u32,
    /// Size of the oversized body, MiB.
    #[arg(long, default_value_t = 100)]
    pub body_mib: usize,
    /// Headers in the many-headers request.
    #[arg(long, default_value_t = 10_000)]
    pub headers: usize,
    /// Length of the one huge header line, MiB.
    #[arg(long, default_value_t = 64)]
    pub header_mib: usize,
    /// Requests sent one byte per second, held at once.
    #[arg(long, default_value_t = 1000)]
    pub slow: u32,
    /// Slow requests opened per second.
    #[arg(long, default_value_t = 500.0)]
    pub slow_rate: f64,
    /// Seconds each single big request may take before we give up on it.
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,
}
