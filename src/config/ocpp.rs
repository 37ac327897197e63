//! The `[ocpp]` table: subprotocols, duplicate ids, BootNotification and
//! DataTransfer answers, and the limits on what one charge point may send.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use crate::ocpp::OcppVersion;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingSubprotocol {
    /// OCPP-J: accept the upgrade without a subprotocol, then close 1002.
    Close,
    /// Let old firmware that offers no subprotocol in as OCPP 1.6.
    #[serde(rename = "assume-ocpp1.6")]
    AssumeOcpp16,
}

/// What to do when a charge point connects while its id is already connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicateId {
    /// Close the old connection (1008), keep the new one.
    Replace,
    /// Refuse the new one with HTTP 409.
    Reject,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcppConfig {
    /// Subprotocols the gateway accepts; the client's order picks among them.
    pub subprotocols: Vec<OcppVersion>,
    pub missing_subprotocol: MissingSubprotocol,
    pub duplicate_id: DuplicateId,
    /// `interval` returned in BootNotification.conf.
    #[serde(with = "duration_text")]
    pub heartbeat_interval: Duration,
    /// Longest charge point id accepted in the URL.
    pub max_id_length: usize,
    /// DataTransfer vendorIds answered `Accepted`; others get `UnknownVendorId`.
    pub data_transfer_vendors: Vec<String>,
    /// Holds the high-water mark of issued transactionIds, so ids stay unique
    /// across restarts.
    pub transaction_id_file: PathBuf,
    /// CALLs per second one charge point may send (token bucket); over it
    /// the reactor stops reading that connection until a token is due.
    /// 0 = unlimited.
    pub max_calls_per_second: f64,
    /// Calls a charge point may send at once above the rate.
    pub call_burst: u32,
    /// Malformed or schema-breaking messages tolerated within
    /// `bad_message_window`; one more closes the connection 1008. 0 = never.
    pub max_bad_messages: u32,
    #[serde(with = "duration_text")]
    pub bad_message_window: Duration,
    /// Server calls (commands) waiting behind the outstanding one, per
    /// connection; beyond it a command is refused at once (503).
    pub max_queued_server_calls: usize,
}

impl Default for OcppConfig {
    fn default() -> Self {
        OcppConfig {
            subprotocols: vec![OcppVersion::V16],
            missing_subprotocol: MissingSubprotocol::Close,
            duplicate_id: DuplicateId::Replace,
            heartbeat_interval: Duration::from_secs(300),
            max_id_length: 48,
            data_transfer_vendors: Vec::new(),
            transaction_id_file: PathBuf::from("ocpp-gateway.txid"),
            max_calls_per_second: 0.0,
            call_burst: 10,
            max_bad_messages: 100,
            bad_message_window: Duration::from_secs(60),
            max_queued_server_calls: 16,
        }
    }
}
