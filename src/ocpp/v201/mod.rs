//! OCPP 2.0.1: every action, each with types validated exactly against the
//! official schemas (`tests/ocpp-schemas/v201`, draft-06). The types are
//! generated (`generated.rs`, by `src/bin/ocpp-codegen`): a definition
//! `XType` is the Rust type `X`, `XEnumType` is `XEnum`, an acronym is one
//! word (`EVSEType` is `Evse`).

#[rustfmt::skip]
mod generated;
mod sender;

pub use generated::*;
pub use sender::Sender;

pub use crate::ocpp::schema::{BoundedString, CustomData, DateTime};

#[cfg(test)]
mod tests;
