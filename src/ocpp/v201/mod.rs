//! OCPP 2.0.1: every action name, and types validated exactly against the
//! official schemas (`shared/ocpp-schemas/v201`, draft-06) for the messages a
//! charging station sends first and for the server-sent requests the gateway
//! will issue. An action with [`Action::is_typed`] false is known to 2.0.1
//! but not handled: `parse_request` answers it `NotSupported`, whereas a name
//! [`Action::from_name`] does not know is `NotImplemented`.

mod messages;
mod types;

pub use messages::*;
pub use types::*;

use crate::ocpp::schema::ocpp_actions;
pub use crate::ocpp::schema::{BoundedString, CustomData, DateTime};

/// Who may send an action's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    ChargingStation,
    Csms,
    /// DataTransfer only.
    Both,
}

ocpp_actions! {
    typed {
        // Sent by the charging station.
        Authorize => AuthorizeRequest, AuthorizeResponse, ChargingStation, Draft06;
        BootNotification => BootNotificationRequest, BootNotificationResponse, ChargingStation, Draft06;
        DataTransfer => DataTransferRequest, DataTransferResponse, Both, Draft06;
        FirmwareStatusNotification => FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse, ChargingStation, Draft06;
        Heartbeat => HeartbeatRequest, HeartbeatResponse, ChargingStation, Draft06;
        LogStatusNotification => LogStatusNotificationRequest, LogStatusNotificationResponse, ChargingStation, Draft06;
        MeterValues => MeterValuesRequest, MeterValuesResponse, ChargingStation, Draft06;
        NotifyEvent => NotifyEventRequest, NotifyEventResponse, ChargingStation, Draft06;
        NotifyReport => NotifyReportRequest, NotifyReportResponse, ChargingStation, Draft06;
        SecurityEventNotification => SecurityEventNotificationRequest, SecurityEventNotificationResponse, ChargingStation, Draft06;
        StatusNotification => StatusNotificationRequest, StatusNotificationResponse, ChargingStation, Draft06;
        TransactionEvent => TransactionEventRequest, TransactionEventResponse, ChargingStation, Draft06;
        // Sent by the CSMS (issued through the gateway's admin API).
        ChangeAvailability => ChangeAvailabilityRequest, ChangeAvailabilityResponse, Csms, Draft06;
        GetVariables => GetVariablesRequest, GetVariablesResponse, Csms, Draft06;
        RequestStartTransaction => RequestStartTransactionRequest, RequestStartTransactionResponse, Csms, Draft06;
        RequestStopTransaction => RequestStopTransactionRequest, RequestStopTransactionResponse, Csms, Draft06;
        Reset => ResetRequest, ResetResponse, Csms, Draft06;
        SetVariables => SetVariablesRequest, SetVariablesResponse, Csms, Draft06;
        TriggerMessage => TriggerMessageRequest, TriggerMessageResponse, Csms, Draft06;
    }
    untyped {
        ClearedChargingLimit => ChargingStation;
        Get15118EVCertificate => ChargingStation;
        GetCertificateStatus => ChargingStation;
        NotifyChargingLimit => ChargingStation;
        NotifyCustomerInformation => ChargingStation;
        NotifyDisplayMessages => ChargingStation;
        NotifyEVChargingNeeds => ChargingStation;
        NotifyEVChargingSchedule => ChargingStation;
        NotifyMonitoringReport => ChargingStation;
        PublishFirmwareStatusNotification => ChargingStation;
        ReportChargingProfiles => ChargingStation;
        ReservationStatusUpdate => ChargingStation;
        SignCertificate => ChargingStation;
        CancelReservation => Csms;
        CertificateSigned => Csms;
        ClearCache => Csms;
        ClearChargingProfile => Csms;
        ClearDisplayMessage => Csms;
        ClearVariableMonitoring => Csms;
        CostUpdated => Csms;
        CustomerInformation => Csms;
        DeleteCertificate => Csms;
        GetBaseReport => Csms;
        GetChargingProfiles => Csms;
        GetCompositeSchedule => Csms;
        GetDisplayMessages => Csms;
        GetInstalledCertificateIds => Csms;
        GetLocalListVersion => Csms;
        GetLog => Csms;
        GetMonitoringReport => Csms;
        GetReport => Csms;
        GetTransactionStatus => Csms;
        InstallCertificate => Csms;
        PublishFirmware => Csms;
        ReserveNow => Csms;
        SendLocalList => Csms;
        SetChargingProfile => Csms;
        SetDisplayMessage => Csms;
        SetMonitoringBase => Csms;
        SetMonitoringLevel => Csms;
        SetNetworkProfile => Csms;
        SetVariableMonitoring => Csms;
        UnlockConnector => Csms;
        UnpublishFirmware => Csms;
        UpdateFirmware => Csms;
    }
    sends {}
}

#[cfg(test)]
mod tests;
