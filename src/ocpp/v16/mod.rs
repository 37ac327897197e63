//! OCPP 1.6 (JSON): every action of the core profiles and of the security
//! extension, as Rust types validated exactly against the official schemas
//! (`shared/ocpp-schemas/v16`).
//!
//! `parse_request(Action::Heartbeat, "{}")` gives a [`Request`] or the
//! [`Violation`](crate::ocpp::Violation) to answer in a CALLERROR; response
//! structs serialise to schema-valid JSON (absent optional fields are left
//! out). The core schemas are JSON Schema draft-04, the security extension's
//! draft-06 — the drafts differ on whether `1.0` is an integer, and each
//! action is parsed by its own schema's rule.

mod central_system;
mod charge_point;
mod security;
mod types;

pub use central_system::*;
pub use charge_point::*;
pub use security::*;
pub use types::*;

pub use crate::ocpp::schema::{BoundedString, DateTime, Uri};

use crate::ocpp::schema::ocpp_actions;

/// Who may send an action's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    ChargePoint,
    CentralSystem,
    /// DataTransfer only.
    Both,
}

ocpp_actions! {
    typed {
        // Initiated by the charge point (OCPP 1.6 §4).
        Authorize => AuthorizeRequest, AuthorizeResponse, ChargePoint, Draft04;
        BootNotification => BootNotificationRequest, BootNotificationResponse, ChargePoint, Draft04;
        DataTransfer => DataTransferRequest, DataTransferResponse, Both, Draft04;
        DiagnosticsStatusNotification => DiagnosticsStatusNotificationRequest, DiagnosticsStatusNotificationResponse, ChargePoint, Draft04;
        FirmwareStatusNotification => FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse, ChargePoint, Draft04;
        Heartbeat => HeartbeatRequest, HeartbeatResponse, ChargePoint, Draft04;
        MeterValues => MeterValuesRequest, MeterValuesResponse, ChargePoint, Draft04;
        StartTransaction => StartTransactionRequest, StartTransactionResponse, ChargePoint, Draft04;
        StatusNotification => StatusNotificationRequest, StatusNotificationResponse, ChargePoint, Draft04;
        StopTransaction => StopTransactionRequest, StopTransactionResponse, ChargePoint, Draft04;
        // Initiated by the central system (OCPP 1.6 §5).
        CancelReservation => CancelReservationRequest, CancelReservationResponse, CentralSystem, Draft04;
        ChangeAvailability => ChangeAvailabilityRequest, ChangeAvailabilityResponse, CentralSystem, Draft04;
        ChangeConfiguration => ChangeConfigurationRequest, ChangeConfigurationResponse, CentralSystem, Draft04;
        ClearCache => ClearCacheRequest, ClearCacheResponse, CentralSystem, Draft04;
        ClearChargingProfile => ClearChargingProfileRequest, ClearChargingProfileResponse, CentralSystem, Draft04;
        GetCompositeSchedule => GetCompositeScheduleRequest, GetCompositeScheduleResponse, CentralSystem, Draft04;
        GetConfiguration => GetConfigurationRequest, GetConfigurationResponse, CentralSystem, Draft04;
        GetDiagnostics => GetDiagnosticsRequest, GetDiagnosticsResponse, CentralSystem, Draft04;
        GetLocalListVersion => GetLocalListVersionRequest, GetLocalListVersionResponse, CentralSystem, Draft04;
        RemoteStartTransaction => RemoteStartTransactionRequest, RemoteStartTransactionResponse, CentralSystem, Draft04;
        RemoteStopTransaction => RemoteStopTransactionRequest, RemoteStopTransactionResponse, CentralSystem, Draft04;
        ReserveNow => ReserveNowRequest, ReserveNowResponse, CentralSystem, Draft04;
        Reset => ResetRequest, ResetResponse, CentralSystem, Draft04;
        SendLocalList => SendLocalListRequest, SendLocalListResponse, CentralSystem, Draft04;
        SetChargingProfile => SetChargingProfileRequest, SetChargingProfileResponse, CentralSystem, Draft04;
        TriggerMessage => TriggerMessageRequest, TriggerMessageResponse, CentralSystem, Draft04;
        UnlockConnector => UnlockConnectorRequest, UnlockConnectorResponse, CentralSystem, Draft04;
        UpdateFirmware => UpdateFirmwareRequest, UpdateFirmwareResponse, CentralSystem, Draft04;
        // Security extension (draft-06 schemas).
        CertificateSigned => CertificateSignedRequest, CertificateSignedResponse, CentralSystem, Draft06;
        DeleteCertificate => DeleteCertificateRequest, DeleteCertificateResponse, CentralSystem, Draft06;
        ExtendedTriggerMessage => ExtendedTriggerMessageRequest, ExtendedTriggerMessageResponse, CentralSystem, Draft06;
        GetInstalledCertificateIds => GetInstalledCertificateIdsRequest, GetInstalledCertificateIdsResponse, CentralSystem, Draft06;
        GetLog => GetLogRequest, GetLogResponse, CentralSystem, Draft06;
        InstallCertificate => InstallCertificateRequest, InstallCertificateResponse, CentralSystem, Draft06;
        LogStatusNotification => LogStatusNotificationRequest, LogStatusNotificationResponse, ChargePoint, Draft06;
        SecurityEventNotification => SecurityEventNotificationRequest, SecurityEventNotificationResponse, ChargePoint, Draft06;
        SignCertificate => SignCertificateRequest, SignCertificateResponse, ChargePoint, Draft06;
        SignedFirmwareStatusNotification => SignedFirmwareStatusNotificationRequest, SignedFirmwareStatusNotificationResponse, ChargePoint, Draft06;
        SignedUpdateFirmware => SignedUpdateFirmwareRequest, SignedUpdateFirmwareResponse, CentralSystem, Draft06;
    }
    sends {}
}

#[cfg(test)]
mod tests;
