//! ocpp-gateway: a thread-per-core OCPP-J gateway.
//!
//! Who runs what (see README.md, "Architecture"):
//! - [`reactor`]: one thread per core; owns its listener, connections,
//!   timer wheel and inbox. Network I/O happens only here.
//! - [`processor`]: a pool answering charge-point CALLs.
//! - [`pipeline`]: the messages and channels that cross between them.
//! - [`logging`]: the log writer thread.
//! - [`ocpp`]: pure protocol code, no I/O.
//! - [`config`]: the TOML file.
//! - [`gateway`]: wires it all together; what `main` and the tests start.
//! - [`json_text`], [`net`], [`time_text`], [`tls_stream`]: pure helpers
//!   with no thread state (the perf crate, `perf/`, uses some of them).

pub mod admin;
pub mod auth;
pub mod bus;
pub mod command;
pub mod config;
pub mod gateway;
pub mod journal;
pub mod json_text;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod ocpp;
pub mod pipeline;
pub mod processor;
pub mod reactor;
pub mod registry;
pub mod time_text;
pub mod tls;
pub mod tls_stream;

pub use config::Config;
pub use gateway::{Extensions, GatewayHandle, start, start_with};
