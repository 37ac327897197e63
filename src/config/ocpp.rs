//! The `[ocpp]` table: subprotocols, duplicate ids, BootNotification and
//! DataTransfer answers, and the limits on what one charge point may send.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::problems::Problems;
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

impl OcppConfig {
    /// Protocol settings, keyed like the file (`ocpp.subprotocols`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            !self.subprotocols.is_empty(),
            "ocpp.subprotocols",
            "must name at least one of \"ocpp1.6\", \"ocpp2.0.1\"",
        );
        out.check(
            self.missing_subprotocol == MissingSubprotocol::Close
                || self.subprotocols.contains(&OcppVersion::V16),
            "ocpp.missing_subprotocol",
            "\"assume-ocpp1.6\" needs \"ocpp1.6\" in ocpp.subprotocols",
        );
        let hb = self.heartbeat_interval.as_secs();
        out.check(
            (1..=i32::MAX as u64).contains(&hb) && self.heartbeat_interval.subsec_nanos() == 0,
            "ocpp.heartbeat_interval",
            "must be a whole number of seconds, at least 1s",
        );
        out.check(
            (1..=255).contains(&self.max_id_length),
            "ocpp.max_id_length",
            "must be between 1 and 255",
        );
        out.check(
            self.data_transfer_vendors
                .iter()
                .all(|v| !v.is_empty() && v.len() <= 255),
            "ocpp.data_transfer_vendors",
            "vendor ids must be 1 to 255 characters",
        );
        out.check(
            !self.transaction_id_file.as_os_str().is_empty(),
            "ocpp.transaction_id_file",
            "must be a file path",
        );
        out.into_vec()
    }

    /// The limits on one charge point's calls, bad messages and queued
    /// server calls; a window cannot be shorter than `timer_tick`
    /// (`reactors.timer_tick`).
    pub(super) fn limit_problems(&self, timer_tick: Duration) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.max_calls_per_second.is_finite()
                && (0.0..=1e6).contains(&self.max_calls_per_second),
            "ocpp.max_calls_per_second",
            "must be between 0 (unlimited) and 1000000",
        );
        out.check(
            (1..=1_000_000).contains(&self.call_burst),
            "ocpp.call_burst",
            "must be between 1 and 1000000",
        );
        out.check(
            self.bad_message_window >= timer_tick
                && self.bad_message_window <= Duration::from_secs(86_400),
            "ocpp.bad_message_window",
            "must be at least reactors.timer_tick and at most 24h",
        );
        out.check(
            self.max_queued_server_calls <= 1024,
            "ocpp.max_queued_server_calls",
            "must be at most 1024",
        );
        out.into_vec()
    }
}
