//! OCPP 1.6 (JSON): every action of the core profiles and of the security
//! extension, as Rust types validated exactly against the official schemas
//! (`tests/ocpp-schemas/v16`). The types are generated (`generated.rs`, by
//! `src/bin/ocpp-codegen`); 1.6's schemas write most types inline, and
//! `src/bin/ocpp-codegen/tables.rs` names them as OCPP 1.6 does
//! (`IdTagInfo`, `ChargePointErrorCode`).
//!
//! `parse_request(Action::Heartbeat, "{}")` gives a [`Request`] or the
//! [`Violation`](crate::ocpp::Violation) to answer in a CALLERROR; response
//! structs serialise to schema-valid JSON (absent optional fields are left
//! out). The core schemas are JSON Schema draft-04, the security extension's
//! draft-06 — the drafts differ on whether `1.0` is an integer, and each
//! action is parsed by its own schema's rule.

#[rustfmt::skip]
mod generated;
mod sender;

pub use generated::*;
pub use sender::Sender;

pub use crate::ocpp::schema::{BoundedString, DateTime, Uri};

#[cfg(test)]
mod tests;
