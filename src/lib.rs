//! ocpp-gateway: a thread-per-core OCPP-J gateway.
//!
//! Who runs what (see README.md, "Architecture"):
//! - [`reactor`]: one thread per core; owns its listener, connections,
//!   timer wheel and inbox. Network I/O with charge points happens only here.
//! - [`processor`]: a pool answering charge-point CALLs.
//! - [`journal`]: the journal writer thread.
//! - [`bus`]: the NATS bridge thread (scale-out).
//! - [`admin`]: the admin API thread.
//! - [`logging`]: the log writer thread.
//! - [`trace`]: the trace writer thread (frame traces of single charge points).
//! - [`memory`]: the memory trimmer thread.
//! - [`cross_thread`]: everything those threads pass to each other or share;
//!   thread folders meet only there.
//! - [`ocpp`]: pure protocol code, no I/O.
//! - [`config`]: the TOML file.
//! - pure helpers with no thread state: [`auth`] (Basic Auth credentials),
//!   [`tls`] (certificates and rustls configuration), [`command_json`] (the
//!   JSON of a command and its outcome), [`slab`], [`json_text`], [`net`],
//!   [`time_text`], [`tls_stream`] (the perf crate, `perf/`, uses some of them).
//! - [`start`]: wires it all together; what `main` and the tests start.

pub mod admin;
pub mod affinity;
pub mod auth;
pub mod bus;
pub mod command_json;
pub mod config;
pub mod cross_thread;
pub mod journal;
pub mod json_text;
pub mod logging;
pub mod memory;
pub mod net;
pub mod ocpp;
pub mod processor;
pub mod queue;
pub mod reactor;
pub mod slab;
pub mod start;
pub mod time_text;
pub mod tls;
pub mod tls_stream;
pub mod trace;

pub use config::Config;
pub use start::{Extensions, GatewayHandle, confine_other_threads, start, start_with};
