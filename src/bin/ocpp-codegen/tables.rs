//! What the schemas do not say: who sends each action's request, and which
//! actions are SEND messages (OCPP-J type 6, never answered).

/// 2.0.1 actions whose request the charging station sends (DataTransfer is
/// sent by both sides).
const V201_FROM_STATION: &[&str] = &[
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
];

/// Actions new in 2.1 whose request the charging station sends.
const V21_NEW_FROM_STATION: &[&str] = &[
    "BatterySwap",
    "ClosePeriodicEventStream",
    "GetCertificateChainStatus",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyPeriodicEventStream",
    "NotifyPriorityCharging",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PullDynamicScheduleUpdate",
    "ReportDERControl",
    "VatNumberValidation",
];

/// Actions new in 2.1 whose request the CSMS sends.
const V21_NEW_FROM_CSMS: &[&str] = &[
    "AFRRSignal",
    "AdjustPeriodicEventStream",
    "ChangeTransactionTariff",
    "ClearDERControl",
    "ClearTariffs",
    "GetDERControl",
    "GetPeriodicEventStream",
    "GetTariffs",
    "NotifyAllowedEnergyTransfer",
    "NotifyWebPaymentStarted",
    "RequestBatterySwap",
    "SetDERControl",
    "SetDefaultTariff",
    "UpdateDynamicSchedule",
    "UsePriorityCharging",
];

/// 2.1 SEND messages: a request without a response schema.
pub const V21_SENDS: &[&str] = &["NotifyPeriodicEventStream"];

/// 2.0.1 actions whose request the CSMS sends.
const V201_FROM_CSMS: &[&str] = &[
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DeleteCertificate",
    "GetBaseReport",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "InstallCertificate",
    "PublishFirmware",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
];

/// The `Sender` variant of `action` in version `ver`.
pub fn sender(ver: &str, action: &str) -> &'static str {
    if action == "DataTransfer" {
        return "Both";
    }
    let station = V201_FROM_STATION.contains(&action)
        || (ver == "v21" && V21_NEW_FROM_STATION.contains(&action));
    let csms =
        V201_FROM_CSMS.contains(&action) || (ver == "v21" && V21_NEW_FROM_CSMS.contains(&action));
    match (station, csms) {
        (true, false) => "ChargingStation",
        (false, true) => "Csms",
        _ => panic!("{ver}: no sender known for action {action} (add it to tables.rs)"),
    }
}

/// Whether `action` is a SEND message in `ver`.
pub fn is_send(ver: &str, action: &str) -> bool {
    ver == "v21" && V21_SENDS.contains(&action)
}
