//! The local answer policy: what the gateway itself answers to a
//! charge-point CALL when no backend decides. Pure functions of the message
//! and the configuration (plus the transactionId counter).

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::transaction_ids::TransactionIds;
use crate::config::Config;
use crate::ocpp::{ErrorCode, OcppVersion, Violation};

pub struct Policy {
    heartbeat_interval_secs: u64,
    data_transfer_vendors: Vec<String>,
    transaction_ids: TransactionIds,
}

/// OCPP 1.6 actions a charge point may send (OCPP 1.6 §4 plus the security
/// extension); everything else known to 1.6 is a central-system action.
const V16_FROM_CHARGE_POINT: &[&str] = &[
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
];

const V16_FROM_CENTRAL_SYSTEM: &[&str] = &[
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
];

/// RFC 3339 UTC with milliseconds, as OCPP's `dateTime`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[derive(Deserialize)]
struct DataTransferRequest<'a> {
    #[serde(rename = "vendorId", borrow)]
    vendor_id: std::borrow::Cow<'a, str>,
}

impl Policy {
    pub fn new(config: &Config) -> std::io::Result<Policy> {
        Ok(Policy {
            heartbeat_interval_secs: config.ocpp.heartbeat_interval.as_secs(),
            data_transfer_vendors: config.ocpp.data_transfer_vendors.clone(),
            transaction_ids: TransactionIds::open(&config.ocpp.transaction_id_file)?,
        })
    }

    /// The CALLRESULT payload (JSON object text) for a CALL, or why not.
    pub fn answer(
        &self,
        version: OcppVersion,
        action: &str,
        payload: &RawValue,
    ) -> Result<String, Violation> {
        match version {
            OcppVersion::V16 => self.answer_v16(action, payload),
            OcppVersion::V201 => Err(unknown_action(action)),
        }
    }

    fn answer_v16(&self, action: &str, payload: &RawValue) -> Result<String, Violation> {
        let accepted = r#"{"idTagInfo":{"status":"Accepted"}}"#;
        Ok(match action {
            "BootNotification" => format!(
                r#"{{"status":"Accepted","currentTime":"{}","interval":{}}}"#,
                now_rfc3339(),
                self.heartbeat_interval_secs
            ),
            "Heartbeat" => format!(r#"{{"currentTime":"{}"}}"#, now_rfc3339()),
            "StatusNotification"
            | "MeterValues"
            | "DiagnosticsStatusNotification"
            | "FirmwareStatusNotification" => "{}".to_owned(),
            "Authorize" | "StopTransaction" => accepted.to_owned(),
            "StartTransaction" => {
                let id = self.transaction_ids.next().map_err(|e| {
                    Violation::new(ErrorCode::InternalError, format!("no transactionId: {e}"))
                })?;
                format!(r#"{{"idTagInfo":{{"status":"Accepted"}},"transactionId":{id}}}"#)
            }
            "DataTransfer" => {
                let request: DataTransferRequest =
                    serde_json::from_str(payload.get()).map_err(|e| {
                        Violation::new(ErrorCode::FormatViolation, e.to_string()).at("vendorId")
                    })?;
                let known = self
                    .data_transfer_vendors
                    .iter()
                    .any(|v| *v == request.vendor_id);
                let status = if known { "Accepted" } else { "UnknownVendorId" };
                format!(r#"{{"status":"{status}"}}"#)
            }
            _ if V16_FROM_CHARGE_POINT.contains(&action)
                || V16_FROM_CENTRAL_SYSTEM.contains(&action) =>
            {
                return Err(Violation::new(
                    ErrorCode::NotSupported,
                    format!("action {action} is not handled by this gateway"),
                ));
            }
            _ => return Err(unknown_action(action)),
        })
    }
}

fn unknown_action(action: &str) -> Violation {
    Violation::new(
        ErrorCode::NotImplemented,
        format!("action {action:?} is not known to this protocol version"),
    )
}
