//! OCPP 1.6 security extension messages (OCPP 1.6 Security Whitepaper, edition 3).
//! Generated from the OCA JSON schemas (`shared/ocpp-schemas`) and then kept by hand;
//! `tests/ocpp_schema_oracle.rs` checks every declaration against its schema.

use super::types::*;
#[allow(unused_imports)]
use crate::ocpp::schema::{BoundedString, DateTime, Uri, check, ocpp_object};

ocpp_object! {
    /// `CertificateSigned` request (schema `v16/CertificateSigned.json`, draft-06).
    pub struct CertificateSignedRequest {
        req "certificateChain" certificate_chain: BoundedString<10000>,
    }
}

ocpp_object! {
    /// `CertificateSigned` response (schema `v16/CertificateSignedResponse.json`, draft-06).
    pub struct CertificateSignedResponse {
        req "status" status: CertificateSignedStatus,
    }
}

ocpp_object! {
    /// `DeleteCertificate` request (schema `v16/DeleteCertificate.json`, draft-06).
    pub struct DeleteCertificateRequest {
        req "certificateHashData" certificate_hash_data: CertificateHashData,
    }
}

ocpp_object! {
    /// `DeleteCertificate` response (schema `v16/DeleteCertificateResponse.json`, draft-06).
    pub struct DeleteCertificateResponse {
        req "status" status: DeleteCertificateStatus,
    }
}

ocpp_object! {
    /// `ExtendedTriggerMessage` request (schema `v16/ExtendedTriggerMessage.json`, draft-06).
    pub struct ExtendedTriggerMessageRequest {
        req "requestedMessage" requested_message: ExtendedMessageTrigger,
        opt "connectorId" connector_id: i64,
    }
}

ocpp_object! {
    /// `ExtendedTriggerMessage` response (schema `v16/ExtendedTriggerMessageResponse.json`, draft-06).
    pub struct ExtendedTriggerMessageResponse {
        req "status" status: TriggerMessageStatus,
    }
}

ocpp_object! {
    /// `GetInstalledCertificateIds` request (schema `v16/GetInstalledCertificateIds.json`, draft-06).
    pub struct GetInstalledCertificateIdsRequest {
        req "certificateType" certificate_type: CertificateUse,
    }
}

ocpp_object! {
    /// `GetInstalledCertificateIds` response (schema `v16/GetInstalledCertificateIdsResponse.json`, draft-06).
    pub struct GetInstalledCertificateIdsResponse {
        opt "certificateHashData" certificate_hash_data: Vec<CertificateHashData> [check::items(1, None)],
        req "status" status: GetInstalledCertificateStatus,
    }
}

ocpp_object! {
    /// `GetLog` request (schema `v16/GetLog.json`, draft-06).
    pub struct GetLogRequest {
        req "log" log: LogParameters,
        req "logType" log_type: LogType,
        req "requestId" request_id: i64,
        opt "retries" retries: i64,
        opt "retryInterval" retry_interval: i64,
    }
}

ocpp_object! {
    /// `GetLog` response (schema `v16/GetLogResponse.json`, draft-06).
    pub struct GetLogResponse {
        req "status" status: LogStatus,
        opt "filename" filename: BoundedString<255>,
    }
}

ocpp_object! {
    /// `InstallCertificate` request (schema `v16/InstallCertificate.json`, draft-06).
    pub struct InstallCertificateRequest {
        req "certificateType" certificate_type: CertificateUse,
        req "certificate" certificate: BoundedString<5500>,
    }
}

ocpp_object! {
    /// `InstallCertificate` response (schema `v16/InstallCertificateResponse.json`, draft-06).
    pub struct InstallCertificateResponse {
        req "status" status: InstallCertificateStatus,
    }
}

ocpp_object! {
    /// `LogStatusNotification` request (schema `v16/LogStatusNotification.json`, draft-06).
    pub struct LogStatusNotificationRequest {
        req "status" status: UploadLogStatus,
        opt "requestId" request_id: i64,
    }
}

ocpp_object! {
    /// `LogStatusNotification` response (schema `v16/LogStatusNotificationResponse.json`, draft-06).
    pub struct LogStatusNotificationResponse {
    }
}

ocpp_object! {
    /// `SecurityEventNotification` request (schema `v16/SecurityEventNotification.json`, draft-06).
    pub struct SecurityEventNotificationRequest {
        req "type" kind: BoundedString<50>,
        req "timestamp" timestamp: DateTime,
        opt "techInfo" tech_info: BoundedString<255>,
    }
}

ocpp_object! {
    /// `SecurityEventNotification` response (schema `v16/SecurityEventNotificationResponse.json`, draft-06).
    pub struct SecurityEventNotificationResponse {
    }
}

ocpp_object! {
    /// `SignCertificate` request (schema `v16/SignCertificate.json`, draft-06).
    pub struct SignCertificateRequest {
        req "csr" csr: BoundedString<5500>,
    }
}

ocpp_object! {
    /// `SignCertificate` response (schema `v16/SignCertificateResponse.json`, draft-06).
    pub struct SignCertificateResponse {
        req "status" status: GenericStatus,
    }
}

ocpp_object! {
    /// `SignedFirmwareStatusNotification` request (schema `v16/SignedFirmwareStatusNotification.json`, draft-06).
    pub struct SignedFirmwareStatusNotificationRequest {
        req "status" status: SignedFirmwareStatus,
        opt "requestId" request_id: i64,
    }
}

ocpp_object! {
    /// `SignedFirmwareStatusNotification` response (schema `v16/SignedFirmwareStatusNotificationResponse.json`, draft-06).
    pub struct SignedFirmwareStatusNotificationResponse {
    }
}

ocpp_object! {
    /// `SignedUpdateFirmware` request (schema `v16/SignedUpdateFirmware.json`, draft-06).
    pub struct SignedUpdateFirmwareRequest {
        opt "retries" retries: i64,
        opt "retryInterval" retry_interval: i64,
        req "requestId" request_id: i64,
        req "firmware" firmware: Firmware,
    }
}

ocpp_object! {
    /// `SignedUpdateFirmware` response (schema `v16/SignedUpdateFirmwareResponse.json`, draft-06).
    pub struct SignedUpdateFirmwareResponse {
        req "status" status: UpdateFirmwareStatus,
    }
}
