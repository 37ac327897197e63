//! What the schemas do not say: who sends each action's request, which
//! actions are SEND messages (OCPP-J type 6, never answered), and the names
//! of 1.6's types, which its schemas write inline without a name.

/// 1.6 actions whose request the charge point sends (DataTransfer is sent
/// by both sides; every other action by the central system).
const V16_FROM_CHARGE_POINT: &[&str] = &[
    "Authorize",
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
];

/// The Rust names of 1.6's inline enums and objects, as OCPP 1.6 §6-7
/// names the types (`IdTagInfo`, `ChargePointErrorCode`). The key is
/// `Parent.property`, where `Parent` is the Rust type that holds the
/// property (for an array, the type of its items is named by the array's
/// property); a bare `property` key serves every parent. The names are the
/// ones the hand-kept 1.6 types had, so code written against them still
/// reads the same.
const V16_INLINE: &[(&str, &str)] = &[
    // Shared by several parents (checked equal wherever they occur).
    ("idTagInfo", "IdTagInfo"),
    ("chargingProfilePurpose", "ChargingProfilePurpose"),
    ("chargingProfileKind", "ChargingProfileKind"),
    ("recurrencyKind", "RecurrencyKind"),
    ("chargingRateUnit", "ChargingRateUnit"),
    ("chargingSchedule", "ChargingSchedule"),
    ("chargingSchedulePeriod", "ChargingSchedulePeriod"),
    ("chargingProfile", "ChargingProfile"),
    ("csChargingProfiles", "ChargingProfile"),
    ("context", "ReadingContext"),
    ("format", "ValueFormat"),
    ("measurand", "Measurand"),
    ("phase", "Phase"),
    ("location", "Location"),
    // One parent each.
    ("IdTagInfo.status", "AuthorizationStatus"),
    ("BootNotificationResponse.status", "RegistrationStatus"),
    (
        "CancelReservationResponse.status",
        "CancelReservationStatus",
    ),
    ("ChangeAvailabilityRequest.type", "AvailabilityType"),
    ("ChangeAvailabilityResponse.status", "AvailabilityStatus"),
    ("ChangeConfigurationResponse.status", "ConfigurationStatus"),
    ("ClearCacheResponse.status", "ClearCacheStatus"),
    (
        "ClearChargingProfileResponse.status",
        "ClearChargingProfileStatus",
    ),
    ("DataTransferResponse.status", "DataTransferStatus"),
    (
        "DiagnosticsStatusNotificationRequest.status",
        "DiagnosticsStatus",
    ),
    ("FirmwareStatusNotificationRequest.status", "FirmwareStatus"),
    (
        "GetCompositeScheduleResponse.status",
        "GetCompositeScheduleStatus",
    ),
    ("GetConfigurationResponse.configurationKey", "KeyValue"),
    ("MeterValuesRequest.meterValue", "MeterValue"),
    ("MeterValue.sampledValue", "SampledValue"),
    ("SampledValue.unit", "UnitOfMeasure"),
    (
        "RemoteStartTransactionResponse.status",
        "RemoteStartStopStatus",
    ),
    (
        "RemoteStopTransactionResponse.status",
        "RemoteStartStopStatus",
    ),
    ("ReserveNowResponse.status", "ReservationStatus"),
    ("ResetRequest.type", "ResetType"),
    ("ResetResponse.status", "ResetStatus"),
    (
        "SendLocalListRequest.localAuthorizationList",
        "AuthorizationData",
    ),
    ("SendLocalListRequest.updateType", "UpdateType"),
    ("SendLocalListResponse.status", "UpdateStatus"),
    ("SetChargingProfileResponse.status", "ChargingProfileStatus"),
    (
        "StatusNotificationRequest.errorCode",
        "ChargePointErrorCode",
    ),
    ("StatusNotificationRequest.status", "ChargePointStatus"),
    ("StopTransactionRequest.reason", "Reason"),
    // StopTransaction's meter values allow other units than MeterValues'.
    ("StopTransactionRequest.transactionData", "TransactionData"),
    (
        "TransactionData.sampledValue",
        "TransactionDataSampledValue",
    ),
    (
        "TransactionDataSampledValue.unit",
        "TransactionDataUnitOfMeasure",
    ),
    ("TriggerMessageRequest.requestedMessage", "MessageTrigger"),
    ("TriggerMessageResponse.status", "TriggerMessageStatus"),
    ("UnlockConnectorResponse.status", "UnlockStatus"),
];

/// 1.6 security-extension definitions whose name, with `EnumType` cut,
/// would clash with a core type or read wrongly.
const V16_DEFINITIONS: &[(&str, &str)] = &[
    ("MessageTriggerEnumType", "ExtendedMessageTrigger"),
    ("LogEnumType", "LogType"),
    ("FirmwareStatusEnumType", "SignedFirmwareStatus"),
];

/// The Rust name of an inline enum or object of `ver` at `parent.property`.
pub fn inline_name(ver: &str, parent: &str, property: &str) -> Option<&'static str> {
    if ver != "v16" {
        return None;
    }
    let key = format!("{parent}.{property}");
    let exact = V16_INLINE.iter().find(|(k, _)| *k == key);
    let any_parent = V16_INLINE.iter().find(|(k, _)| *k == property);
    exact.or(any_parent).map(|(_, name)| *name)
}

/// The Rust name of the definition `name` where a version's rule differs
/// from [`crate::names::type_name`]: 1.6 writes `XEnumType` for what its
/// core part calls `X`.
pub fn definition_name(ver: &str, name: &str) -> Option<String> {
    if ver != "v16" {
        return None;
    }
    if let Some((_, rust)) = V16_DEFINITIONS.iter().find(|(k, _)| *k == name) {
        return Some((*rust).to_owned());
    }
    name.strip_suffix("EnumType").map(str::to_owned)
}

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
    if ver == "v16" {
        return if V16_FROM_CHARGE_POINT.contains(&action) {
            "ChargePoint"
        } else {
            "CentralSystem"
        };
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
