//! OCPP 2.1 (Edition 1): every action, each with types validated exactly
//! against the official schemas (`tests/ocpp-schemas/v21`, draft-06). The
//! types are generated (`generated.rs`, by `src/bin/ocpp-codegen`) and named
//! as in [`crate::ocpp::v201`]: a definition `XType` is the Rust type `X`,
//! `XEnumType` is `XEnum`. `NotifyPeriodicEventStream` is a SEND message
//! ([`Action::is_send`]): it has a request and no response.

#[rustfmt::skip]
mod generated;
mod sender;

pub use generated::*;
pub use sender::Sender;

pub use crate::ocpp::schema::{BoundedString, CustomData, DateTime, RangedInt};

#[cfg(test)]
mod tests;
