//! OCPP 2.0.1 enumerations and data types (the schemas' `definitions`) used by the typed messages.
//! Generated from the OCA JSON schemas (`shared/ocpp-schemas`) and then kept by hand;
//! `tests/ocpp_schema_oracle.rs` checks every declaration against its schema.

#[allow(unused_imports)]
use super::CustomData;
#[allow(unused_imports)]
use crate::ocpp::schema::{BoundedString, DateTime, check, ocpp_enum, ocpp_object};

ocpp_enum! {
    /// Used by AuthorizeRequest, AuthorizeResponse, RequestStartTransactionRequest, TransactionEventRequest, TransactionEventResponse.
    pub enum IdTokenEnum {
        Central = "Central",
        Emaid = "eMAID",
        Iso14443 = "ISO14443",
        Iso15693 = "ISO15693",
        KeyCode = "KeyCode",
        Local = "Local",
        MacAddress = "MacAddress",
        NoAuthorization = "NoAuthorization",
    }
}

ocpp_enum! {
    /// Used by AuthorizeRequest.
    pub enum HashAlgorithmEnum {
        Sha256 = "SHA256",
        Sha384 = "SHA384",
        Sha512 = "SHA512",
    }
}

ocpp_enum! {
    /// Used by AuthorizeResponse, TransactionEventResponse.
    pub enum AuthorizationStatusEnum {
        Accepted = "Accepted",
        Blocked = "Blocked",
        ConcurrentTx = "ConcurrentTx",
        Expired = "Expired",
        Invalid = "Invalid",
        NoCredit = "NoCredit",
        NotAllowedTypeEVSE = "NotAllowedTypeEVSE",
        NotAtThisLocation = "NotAtThisLocation",
        NotAtThisTime = "NotAtThisTime",
        Unknown = "Unknown",
    }
}

ocpp_enum! {
    /// Used by AuthorizeResponse, TransactionEventResponse.
    pub enum MessageFormatEnum {
        Ascii = "ASCII",
        Html = "HTML",
        Uri = "URI",
        Utf8 = "UTF8",
    }
}

ocpp_enum! {
    /// Used by AuthorizeResponse.
    pub enum AuthorizeCertificateStatusEnum {
        Accepted = "Accepted",
        SignatureError = "SignatureError",
        CertificateExpired = "CertificateExpired",
        CertificateRevoked = "CertificateRevoked",
        NoCertificateAvailable = "NoCertificateAvailable",
        CertChainError = "CertChainError",
        ContractCancelled = "ContractCancelled",
    }
}

ocpp_enum! {
    /// Used by BootNotificationRequest.
    pub enum BootReasonEnum {
        ApplicationReset = "ApplicationReset",
        FirmwareUpdate = "FirmwareUpdate",
        LocalReset = "LocalReset",
        PowerUp = "PowerUp",
        RemoteReset = "RemoteReset",
        ScheduledReset = "ScheduledReset",
        Triggered = "Triggered",
        Unknown = "Unknown",
        Watchdog = "Watchdog",
    }
}

ocpp_enum! {
    /// Used by BootNotificationResponse.
    pub enum RegistrationStatusEnum {
        Accepted = "Accepted",
        Pending = "Pending",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by DataTransferResponse.
    pub enum DataTransferStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownMessageId = "UnknownMessageId",
        UnknownVendorId = "UnknownVendorId",
    }
}

ocpp_enum! {
    /// Used by FirmwareStatusNotificationRequest.
    pub enum FirmwareStatusEnum {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        DownloadScheduled = "DownloadScheduled",
        DownloadPaused = "DownloadPaused",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
        InstallRebooting = "InstallRebooting",
        InstallScheduled = "InstallScheduled",
        InstallVerificationFailed = "InstallVerificationFailed",
        InvalidSignature = "InvalidSignature",
        SignatureVerified = "SignatureVerified",
    }
}

ocpp_enum! {
    /// Used by LogStatusNotificationRequest.
    pub enum UploadLogStatusEnum {
        BadMessage = "BadMessage",
        Idle = "Idle",
        NotSupportedOperation = "NotSupportedOperation",
        PermissionDenied = "PermissionDenied",
        Uploaded = "Uploaded",
        UploadFailure = "UploadFailure",
        Uploading = "Uploading",
        AcceptedCanceled = "AcceptedCanceled",
    }
}

ocpp_enum! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub enum ReadingContextEnum {
        InterruptionBegin = "Interruption.Begin",
        InterruptionEnd = "Interruption.End",
        Other = "Other",
        SampleClock = "Sample.Clock",
        SamplePeriodic = "Sample.Periodic",
        TransactionBegin = "Transaction.Begin",
        TransactionEnd = "Transaction.End",
        Trigger = "Trigger",
    }
}

ocpp_enum! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub enum MeasurandEnum {
        CurrentExport = "Current.Export",
        CurrentImport = "Current.Import",
        CurrentOffered = "Current.Offered",
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        EnergyActiveNet = "Energy.Active.Net",
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        EnergyReactiveNet = "Energy.Reactive.Net",
        EnergyApparentNet = "Energy.Apparent.Net",
        EnergyApparentImport = "Energy.Apparent.Import",
        EnergyApparentExport = "Energy.Apparent.Export",
        Frequency = "Frequency",
        PowerActiveExport = "Power.Active.Export",
        PowerActiveImport = "Power.Active.Import",
        PowerFactor = "Power.Factor",
        PowerOffered = "Power.Offered",
        PowerReactiveExport = "Power.Reactive.Export",
        PowerReactiveImport = "Power.Reactive.Import",
        SoC = "SoC",
        Voltage = "Voltage",
    }
}

ocpp_enum! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub enum PhaseEnum {
        L1 = "L1",
        L2 = "L2",
        L3 = "L3",
        N = "N",
        L1N = "L1-N",
        L2N = "L2-N",
        L3N = "L3-N",
        L1L2 = "L1-L2",
        L2L3 = "L2-L3",
        L3L1 = "L3-L1",
    }
}

ocpp_enum! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub enum LocationEnum {
        Body = "Body",
        Cable = "Cable",
        Ev = "EV",
        Inlet = "Inlet",
        Outlet = "Outlet",
    }
}

ocpp_enum! {
    /// Used by NotifyEventRequest.
    pub enum EventTriggerEnum {
        Alerting = "Alerting",
        Delta = "Delta",
        Periodic = "Periodic",
    }
}

ocpp_enum! {
    /// Used by NotifyEventRequest.
    pub enum EventNotificationEnum {
        HardWiredNotification = "HardWiredNotification",
        HardWiredMonitor = "HardWiredMonitor",
        PreconfiguredMonitor = "PreconfiguredMonitor",
        CustomMonitor = "CustomMonitor",
    }
}

ocpp_enum! {
    /// Used by GetVariablesRequest, GetVariablesResponse, NotifyReportRequest, SetVariablesRequest, SetVariablesResponse.
    pub enum AttributeEnum {
        Actual = "Actual",
        Target = "Target",
        MinSet = "MinSet",
        MaxSet = "MaxSet",
    }
}

ocpp_enum! {
    /// Used by NotifyReportRequest.
    pub enum MutabilityEnum {
        ReadOnly = "ReadOnly",
        WriteOnly = "WriteOnly",
        ReadWrite = "ReadWrite",
    }
}

ocpp_enum! {
    /// Used by NotifyReportRequest.
    pub enum DataEnum {
        String = "string",
        Decimal = "decimal",
        Integer = "integer",
        DateTime = "dateTime",
        Boolean = "boolean",
        OptionList = "OptionList",
        SequenceList = "SequenceList",
        MemberList = "MemberList",
    }
}

ocpp_enum! {
    /// Used by StatusNotificationRequest.
    pub enum ConnectorStatusEnum {
        Available = "Available",
        Occupied = "Occupied",
        Reserved = "Reserved",
        Unavailable = "Unavailable",
        Faulted = "Faulted",
    }
}

ocpp_enum! {
    /// Used by TransactionEventRequest.
    pub enum TransactionEventEnum {
        Ended = "Ended",
        Started = "Started",
        Updated = "Updated",
    }
}

ocpp_enum! {
    /// Used by TransactionEventRequest.
    pub enum TriggerReasonEnum {
        Authorized = "Authorized",
        CablePluggedIn = "CablePluggedIn",
        ChargingRateChanged = "ChargingRateChanged",
        ChargingStateChanged = "ChargingStateChanged",
        Deauthorized = "Deauthorized",
        EnergyLimitReached = "EnergyLimitReached",
        EVCommunicationLost = "EVCommunicationLost",
        EVConnectTimeout = "EVConnectTimeout",
        MeterValueClock = "MeterValueClock",
        MeterValuePeriodic = "MeterValuePeriodic",
        TimeLimitReached = "TimeLimitReached",
        Trigger = "Trigger",
        UnlockCommand = "UnlockCommand",
        StopAuthorized = "StopAuthorized",
        EVDeparted = "EVDeparted",
        EVDetected = "EVDetected",
        RemoteStop = "RemoteStop",
        RemoteStart = "RemoteStart",
        AbnormalCondition = "AbnormalCondition",
        SignedDataReceived = "SignedDataReceived",
        ResetCommand = "ResetCommand",
    }
}

ocpp_enum! {
    /// Used by TransactionEventRequest.
    pub enum ChargingStateEnum {
        Charging = "Charging",
        EVConnected = "EVConnected",
        SuspendedEV = "SuspendedEV",
        SuspendedEVSE = "SuspendedEVSE",
        Idle = "Idle",
    }
}

ocpp_enum! {
    /// Used by TransactionEventRequest.
    pub enum ReasonEnum {
        DeAuthorized = "DeAuthorized",
        EmergencyStop = "EmergencyStop",
        EnergyLimitReached = "EnergyLimitReached",
        EVDisconnected = "EVDisconnected",
        GroundFault = "GroundFault",
        ImmediateReset = "ImmediateReset",
        Local = "Local",
        LocalOutOfCredit = "LocalOutOfCredit",
        MasterPass = "MasterPass",
        Other = "Other",
        OvercurrentFault = "OvercurrentFault",
        PowerLoss = "PowerLoss",
        PowerQuality = "PowerQuality",
        Reboot = "Reboot",
        Remote = "Remote",
        SOCLimitReached = "SOCLimitReached",
        StoppedByEV = "StoppedByEV",
        TimeLimitReached = "TimeLimitReached",
        Timeout = "Timeout",
    }
}

ocpp_enum! {
    /// Used by ChangeAvailabilityRequest.
    pub enum OperationalStatusEnum {
        Inoperative = "Inoperative",
        Operative = "Operative",
    }
}

ocpp_enum! {
    /// Used by ChangeAvailabilityResponse.
    pub enum ChangeAvailabilityStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

ocpp_enum! {
    /// Used by GetVariablesResponse.
    pub enum GetVariableStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownComponent = "UnknownComponent",
        UnknownVariable = "UnknownVariable",
        NotSupportedAttributeType = "NotSupportedAttributeType",
    }
}

ocpp_enum! {
    /// Used by RequestStartTransactionRequest.
    pub enum ChargingProfilePurposeEnum {
        ChargingStationExternalConstraints = "ChargingStationExternalConstraints",
        ChargingStationMaxProfile = "ChargingStationMaxProfile",
        TxDefaultProfile = "TxDefaultProfile",
        TxProfile = "TxProfile",
    }
}

ocpp_enum! {
    /// Used by RequestStartTransactionRequest.
    pub enum ChargingProfileKindEnum {
        Absolute = "Absolute",
        Recurring = "Recurring",
        Relative = "Relative",
    }
}

ocpp_enum! {
    /// Used by RequestStartTransactionRequest.
    pub enum RecurrencyKindEnum {
        Daily = "Daily",
        Weekly = "Weekly",
    }
}

ocpp_enum! {
    /// Used by RequestStartTransactionRequest.
    pub enum ChargingRateUnitEnum {
        W = "W",
        A = "A",
    }
}

ocpp_enum! {
    /// Used by RequestStartTransactionRequest.
    pub enum CostKindEnum {
        CarbonDioxideEmission = "CarbonDioxideEmission",
        RelativePricePercentage = "RelativePricePercentage",
        RenewableGenerationPercentage = "RenewableGenerationPercentage",
    }
}

ocpp_enum! {
    /// Used by RequestStartTransactionResponse, RequestStopTransactionResponse.
    pub enum RequestStartStopStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by ResetRequest.
    pub enum ResetEnum {
        Immediate = "Immediate",
        OnIdle = "OnIdle",
    }
}

ocpp_enum! {
    /// Used by ResetResponse.
    pub enum ResetStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

ocpp_enum! {
    /// Used by SetVariablesResponse.
    pub enum SetVariableStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownComponent = "UnknownComponent",
        UnknownVariable = "UnknownVariable",
        NotSupportedAttributeType = "NotSupportedAttributeType",
        RebootRequired = "RebootRequired",
    }
}

ocpp_enum! {
    /// Used by TriggerMessageRequest.
    pub enum MessageTriggerEnum {
        BootNotification = "BootNotification",
        LogStatusNotification = "LogStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        SignChargingStationCertificate = "SignChargingStationCertificate",
        SignV2GCertificate = "SignV2GCertificate",
        StatusNotification = "StatusNotification",
        TransactionEvent = "TransactionEvent",
        SignCombinedCertificate = "SignCombinedCertificate",
        PublishFirmwareStatusNotification = "PublishFirmwareStatusNotification",
    }
}

ocpp_enum! {
    /// Used by TriggerMessageResponse.
    pub enum TriggerMessageStatusEnum {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
}

ocpp_object! {
    /// Used by AuthorizeRequest, AuthorizeResponse, RequestStartTransactionRequest, TransactionEventRequest, TransactionEventResponse.
    pub struct AdditionalInfo {
        opt "customData" custom_data: CustomData,
        req "additionalIdToken" additional_id_token: BoundedString<36>,
        req "type" kind: BoundedString<50>,
    }
}

ocpp_object! {
    /// Used by AuthorizeRequest, AuthorizeResponse, RequestStartTransactionRequest, TransactionEventRequest, TransactionEventResponse.
    pub struct IdToken {
        opt "customData" custom_data: CustomData,
        opt "additionalInfo" additional_info: Vec<AdditionalInfo> [check::items(1, None)],
        req "idToken" id_token: BoundedString<36>,
        req "type" kind: IdTokenEnum,
    }
}

ocpp_object! {
    /// Used by AuthorizeRequest.
    pub struct OcspRequestData {
        opt "customData" custom_data: CustomData,
        req "hashAlgorithm" hash_algorithm: HashAlgorithmEnum,
        req "issuerNameHash" issuer_name_hash: BoundedString<128>,
        req "issuerKeyHash" issuer_key_hash: BoundedString<128>,
        req "serialNumber" serial_number: BoundedString<40>,
        req "responderURL" responder_url: BoundedString<512>,
    }
}

ocpp_object! {
    /// Used by AuthorizeResponse, TransactionEventResponse.
    pub struct MessageContent {
        opt "customData" custom_data: CustomData,
        req "format" format: MessageFormatEnum,
        opt "language" language: BoundedString<8>,
        req "content" content: BoundedString<512>,
    }
}

ocpp_object! {
    /// Used by AuthorizeResponse, TransactionEventResponse.
    pub struct IdTokenInfo {
        opt "customData" custom_data: CustomData,
        req "status" status: AuthorizationStatusEnum,
        opt "cacheExpiryDateTime" cache_expiry_date_time: DateTime,
        opt "chargingPriority" charging_priority: i64,
        opt "language1" language1: BoundedString<8>,
        opt "evseId" evse_id: Vec<i64> [check::items(1, None)],
        opt "groupIdToken" group_id_token: IdToken,
        opt "language2" language2: BoundedString<8>,
        opt "personalMessage" personal_message: MessageContent,
    }
}

ocpp_object! {
    /// Used by BootNotificationRequest.
    pub struct Modem {
        opt "customData" custom_data: CustomData,
        opt "iccid" iccid: BoundedString<20>,
        opt "imsi" imsi: BoundedString<20>,
    }
}

ocpp_object! {
    /// Used by BootNotificationRequest.
    pub struct ChargingStation {
        opt "customData" custom_data: CustomData,
        opt "serialNumber" serial_number: BoundedString<25>,
        req "model" model: BoundedString<20>,
        opt "modem" modem: Modem,
        req "vendorName" vendor_name: BoundedString<50>,
        opt "firmwareVersion" firmware_version: BoundedString<50>,
    }
}

ocpp_object! {
    /// Used by BootNotificationResponse, ChangeAvailabilityResponse, DataTransferResponse, GetVariablesResponse, RequestStartTransactionResponse, RequestStopTransactionResponse, ResetResponse, SetVariablesResponse, TriggerMessageResponse.
    pub struct StatusInfo {
        opt "customData" custom_data: CustomData,
        req "reasonCode" reason_code: BoundedString<20>,
        opt "additionalInfo" additional_info: BoundedString<512>,
    }
}

ocpp_object! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub struct SignedMeterValue {
        opt "customData" custom_data: CustomData,
        req "signedMeterData" signed_meter_data: BoundedString<2500>,
        req "signingMethod" signing_method: BoundedString<50>,
        req "encodingMethod" encoding_method: BoundedString<50>,
        req "publicKey" public_key: BoundedString<2500>,
    }
}

ocpp_object! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub struct UnitOfMeasure {
        opt "customData" custom_data: CustomData,
        opt "unit" unit: BoundedString<20>,
        opt "multiplier" multiplier: i64,
    }
}

ocpp_object! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub struct SampledValue {
        opt "customData" custom_data: CustomData,
        req "value" value: f64,
        opt "context" context: ReadingContextEnum,
        opt "measurand" measurand: MeasurandEnum,
        opt "phase" phase: PhaseEnum,
        opt "location" location: LocationEnum,
        opt "signedMeterValue" signed_meter_value: SignedMeterValue,
        opt "unitOfMeasure" unit_of_measure: UnitOfMeasure,
    }
}

ocpp_object! {
    /// Used by MeterValuesRequest, TransactionEventRequest.
    pub struct MeterValue {
        opt "customData" custom_data: CustomData,
        req "sampledValue" sampled_value: Vec<SampledValue> [check::items(1, None)],
        req "timestamp" timestamp: DateTime,
    }
}

ocpp_object! {
    /// Used by ChangeAvailabilityRequest, GetVariablesRequest, GetVariablesResponse, NotifyEventRequest, NotifyReportRequest, SetVariablesRequest, SetVariablesResponse, TransactionEventRequest, TriggerMessageRequest.
    pub struct Evse {
        opt "customData" custom_data: CustomData,
        req "id" id: i64,
        opt "connectorId" connector_id: i64,
    }
}

ocpp_object! {
    /// Used by GetVariablesRequest, GetVariablesResponse, NotifyEventRequest, NotifyReportRequest, SetVariablesRequest, SetVariablesResponse.
    pub struct Component {
        opt "customData" custom_data: CustomData,
        opt "evse" evse: Evse,
        req "name" name: BoundedString<50>,
        opt "instance" instance: BoundedString<50>,
    }
}

ocpp_object! {
    /// Used by GetVariablesRequest, GetVariablesResponse, NotifyEventRequest, NotifyReportRequest, SetVariablesRequest, SetVariablesResponse.
    pub struct Variable {
        opt "customData" custom_data: CustomData,
        req "name" name: BoundedString<50>,
        opt "instance" instance: BoundedString<50>,
    }
}

ocpp_object! {
    /// Used by NotifyEventRequest.
    pub struct EventData {
        opt "customData" custom_data: CustomData,
        req "eventId" event_id: i64,
        req "timestamp" timestamp: DateTime,
        req "trigger" trigger: EventTriggerEnum,
        opt "cause" cause: i64,
        req "actualValue" actual_value: BoundedString<2500>,
        opt "techCode" tech_code: BoundedString<50>,
        opt "techInfo" tech_info: BoundedString<500>,
        opt "cleared" cleared: bool,
        opt "transactionId" transaction_id: BoundedString<36>,
        req "component" component: Component,
        opt "variableMonitoringId" variable_monitoring_id: i64,
        req "eventNotificationType" event_notification_type: EventNotificationEnum,
        req "variable" variable: Variable,
    }
}

ocpp_object! {
    /// Used by NotifyReportRequest.
    pub struct VariableAttribute {
        opt "customData" custom_data: CustomData,
        opt "type" kind: AttributeEnum,
        opt "value" value: BoundedString<2500>,
        opt "mutability" mutability: MutabilityEnum,
        opt "persistent" persistent: bool,
        opt "constant" constant: bool,
    }
}

ocpp_object! {
    /// Used by NotifyReportRequest.
    pub struct VariableCharacteristics {
        opt "customData" custom_data: CustomData,
        opt "unit" unit: BoundedString<16>,
        req "dataType" data_type: DataEnum,
        opt "minLimit" min_limit: f64,
        opt "maxLimit" max_limit: f64,
        opt "valuesList" values_list: BoundedString<1000>,
        req "supportsMonitoring" supports_monitoring: bool,
    }
}

ocpp_object! {
    /// Used by NotifyReportRequest.
    pub struct ReportData {
        opt "customData" custom_data: CustomData,
        req "component" component: Component,
        req "variable" variable: Variable,
        req "variableAttribute" variable_attribute: Vec<VariableAttribute> [check::items(1, Some(4))],
        opt "variableCharacteristics" variable_characteristics: VariableCharacteristics,
    }
}

ocpp_object! {
    /// Used by TransactionEventRequest.
    pub struct Transaction {
        opt "customData" custom_data: CustomData,
        req "transactionId" transaction_id: BoundedString<36>,
        opt "chargingState" charging_state: ChargingStateEnum,
        opt "timeSpentCharging" time_spent_charging: i64,
        opt "stoppedReason" stopped_reason: ReasonEnum,
        opt "remoteStartId" remote_start_id: i64,
    }
}

ocpp_object! {
    /// Used by GetVariablesRequest.
    pub struct GetVariableData {
        opt "customData" custom_data: CustomData,
        opt "attributeType" attribute_type: AttributeEnum,
        req "component" component: Component,
        req "variable" variable: Variable,
    }
}

ocpp_object! {
    /// Used by GetVariablesResponse.
    pub struct GetVariableResult {
        opt "customData" custom_data: CustomData,
        opt "attributeStatusInfo" attribute_status_info: StatusInfo,
        req "attributeStatus" attribute_status: GetVariableStatusEnum,
        opt "attributeType" attribute_type: AttributeEnum,
        opt "attributeValue" attribute_value: BoundedString<2500>,
        req "component" component: Component,
        req "variable" variable: Variable,
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct ChargingSchedulePeriod {
        opt "customData" custom_data: CustomData,
        req "startPeriod" start_period: i64,
        req "limit" limit: f64,
        opt "numberPhases" number_phases: i64,
        opt "phaseToUse" phase_to_use: i64,
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct RelativeTimeInterval {
        opt "customData" custom_data: CustomData,
        req "start" start: i64,
        opt "duration" duration: i64,
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct Cost {
        opt "customData" custom_data: CustomData,
        req "costKind" cost_kind: CostKindEnum,
        req "amount" amount: i64,
        opt "amountMultiplier" amount_multiplier: i64,
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct ConsumptionCost {
        opt "customData" custom_data: CustomData,
        req "startValue" start_value: f64,
        req "cost" cost: Vec<Cost> [check::items(1, Some(3))],
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct SalesTariffEntry {
        opt "customData" custom_data: CustomData,
        req "relativeTimeInterval" relative_time_interval: RelativeTimeInterval,
        opt "ePriceLevel" e_price_level: i64 [check::int_range(Some(0), None)],
        opt "consumptionCost" consumption_cost: Vec<ConsumptionCost> [check::items(1, Some(3))],
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct SalesTariff {
        opt "customData" custom_data: CustomData,
        req "id" id: i64,
        opt "salesTariffDescription" sales_tariff_description: BoundedString<32>,
        opt "numEPriceLevels" num_e_price_levels: i64,
        req "salesTariffEntry" sales_tariff_entry: Vec<SalesTariffEntry> [check::items(1, Some(1024))],
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct ChargingSchedule {
        opt "customData" custom_data: CustomData,
        req "id" id: i64,
        opt "startSchedule" start_schedule: DateTime,
        opt "duration" duration: i64,
        req "chargingRateUnit" charging_rate_unit: ChargingRateUnitEnum,
        req "chargingSchedulePeriod" charging_schedule_period: Vec<ChargingSchedulePeriod> [check::items(1, Some(1024))],
        opt "minChargingRate" min_charging_rate: f64,
        opt "salesTariff" sales_tariff: SalesTariff,
    }
}

ocpp_object! {
    /// Used by RequestStartTransactionRequest.
    pub struct ChargingProfile {
        opt "customData" custom_data: CustomData,
        req "id" id: i64,
        req "stackLevel" stack_level: i64,
        req "chargingProfilePurpose" charging_profile_purpose: ChargingProfilePurposeEnum,
        req "chargingProfileKind" charging_profile_kind: ChargingProfileKindEnum,
        opt "recurrencyKind" recurrency_kind: RecurrencyKindEnum,
        opt "validFrom" valid_from: DateTime,
        opt "validTo" valid_to: DateTime,
        req "chargingSchedule" charging_schedule: Vec<ChargingSchedule> [check::items(1, Some(3))],
        opt "transactionId" transaction_id: BoundedString<36>,
    }
}

ocpp_object! {
    /// Used by SetVariablesRequest.
    pub struct SetVariableData {
        opt "customData" custom_data: CustomData,
        opt "attributeType" attribute_type: AttributeEnum,
        req "attributeValue" attribute_value: BoundedString<1000>,
        req "component" component: Component,
        req "variable" variable: Variable,
    }
}

ocpp_object! {
    /// Used by SetVariablesResponse.
    pub struct SetVariableResult {
        opt "customData" custom_data: CustomData,
        opt "attributeType" attribute_type: AttributeEnum,
        req "attributeStatus" attribute_status: SetVariableStatusEnum,
        opt "attributeStatusInfo" attribute_status_info: StatusInfo,
        req "component" component: Component,
        req "variable" variable: Variable,
    }
}
