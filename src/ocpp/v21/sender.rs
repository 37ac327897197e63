//! Who sends an action's request: the same two roles (and DataTransfer
//! both ways) as in 2.0.1, so the same type. Its own file so that
//! `generated.rs` can name it without importing `mod.rs`.

pub use crate::ocpp::v201::Sender;
