//! OCPP-J, as pure protocol code: no sockets, no threads, no clocks.
//!
//! The reactor feeds text frames in and gets frames to send back out; the
//! processor asks which answer a CALL deserves. Everything here is a function
//! of its arguments, so it is tested without a network.
//!
//! [`handshake`] judges an upgrade request (in rule order); [`session`] is
//! a connection's server-call state machine and says which answer a broken
//! frame gets. Nothing here imports from outside `crate::ocpp`: limits come
//! in as plain numbers, time as durations, reply handles as type parameters.

pub mod error;
pub mod frame;
pub mod handshake;
pub mod schema;
pub mod schema_text;
pub mod server_call;
pub mod session;
pub mod v16;
pub mod v201;
pub mod v21;
pub mod version;

pub use error::{ErrorCode, Violation};
pub use frame::{Frame, FrameError};
pub use version::OcppVersion;

/// Whether `name` is an action of some OCPP version this gateway speaks.
pub fn is_action_name(name: &str) -> bool {
    v16::Action::from_name(name).is_some()
        || v201::Action::from_name(name).is_some()
        || v21::Action::from_name(name).is_some()
}
