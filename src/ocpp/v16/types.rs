//! OCPP 1.6 enumerations and nested objects shared by the messages.
//! Generated from the OCA JSON schemas (`shared/ocpp-schemas`) and then kept by hand;
//! `tests/ocpp_schema_oracle.rs` checks every declaration against its schema.

#[allow(unused_imports)]
use crate::ocpp::schema::{BoundedString, DateTime, check, ocpp_enum, ocpp_object};

ocpp_enum! {
    /// Used by AuthorizeResponse, SendLocalList, StartTransactionResponse, StopTransactionResponse.
    pub enum AuthorizationStatus {
        Accepted = "Accepted",
        Blocked = "Blocked",
        Expired = "Expired",
        Invalid = "Invalid",
        ConcurrentTx = "ConcurrentTx",
    }
}

ocpp_enum! {
    /// Used by BootNotificationResponse.
    pub enum RegistrationStatus {
        Accepted = "Accepted",
        Pending = "Pending",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by CancelReservationResponse.
    pub enum CancelReservationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by CertificateSignedResponse.
    pub enum CertificateSignedStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by ChangeAvailability.
    pub enum AvailabilityType {
        Inoperative = "Inoperative",
        Operative = "Operative",
    }
}

ocpp_enum! {
    /// Used by ChangeAvailabilityResponse.
    pub enum AvailabilityStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

ocpp_enum! {
    /// Used by ChangeConfigurationResponse.
    pub enum ConfigurationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        RebootRequired = "RebootRequired",
        NotSupported = "NotSupported",
    }
}

ocpp_enum! {
    /// Used by ClearCacheResponse.
    pub enum ClearCacheStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by ClearChargingProfile, RemoteStartTransaction, SetChargingProfile.
    pub enum ChargingProfilePurpose {
        ChargePointMaxProfile = "ChargePointMaxProfile",
        TxDefaultProfile = "TxDefaultProfile",
        TxProfile = "TxProfile",
    }
}

ocpp_enum! {
    /// Used by ClearChargingProfileResponse.
    pub enum ClearChargingProfileStatus {
        Accepted = "Accepted",
        Unknown = "Unknown",
    }
}

ocpp_enum! {
    /// Used by DataTransferResponse.
    pub enum DataTransferStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownMessageId = "UnknownMessageId",
        UnknownVendorId = "UnknownVendorId",
    }
}

ocpp_enum! {
    /// Used by DeleteCertificate, GetInstalledCertificateIdsResponse.
    pub enum HashAlgorithm {
        Sha256 = "SHA256",
        Sha384 = "SHA384",
        Sha512 = "SHA512",
    }
}

ocpp_enum! {
    /// Used by DeleteCertificateResponse.
    pub enum DeleteCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotFound = "NotFound",
    }
}

ocpp_enum! {
    /// Used by DiagnosticsStatusNotification.
    pub enum DiagnosticsStatus {
        Idle = "Idle",
        Uploaded = "Uploaded",
        UploadFailed = "UploadFailed",
        Uploading = "Uploading",
    }
}

ocpp_enum! {
    /// Used by ExtendedTriggerMessage.
    pub enum ExtendedMessageTrigger {
        BootNotification = "BootNotification",
        LogStatusNotification = "LogStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        SignChargePointCertificate = "SignChargePointCertificate",
        StatusNotification = "StatusNotification",
    }
}

ocpp_enum! {
    /// Used by ExtendedTriggerMessageResponse, TriggerMessageResponse.
    pub enum TriggerMessageStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
}

ocpp_enum! {
    /// Used by FirmwareStatusNotification.
    pub enum FirmwareStatus {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
    }
}

ocpp_enum! {
    /// Used by GetCompositeSchedule, GetCompositeScheduleResponse, RemoteStartTransaction, SetChargingProfile.
    pub enum ChargingRateUnit {
        A = "A",
        W = "W",
    }
}

ocpp_enum! {
    /// Used by GetCompositeScheduleResponse.
    pub enum GetCompositeScheduleStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by GetInstalledCertificateIds, InstallCertificate.
    pub enum CertificateUse {
        CentralSystemRootCertificate = "CentralSystemRootCertificate",
        ManufacturerRootCertificate = "ManufacturerRootCertificate",
    }
}

ocpp_enum! {
    /// Used by GetInstalledCertificateIdsResponse.
    pub enum GetInstalledCertificateStatus {
        Accepted = "Accepted",
        NotFound = "NotFound",
    }
}

ocpp_enum! {
    /// Used by GetLog.
    pub enum LogType {
        DiagnosticsLog = "DiagnosticsLog",
        SecurityLog = "SecurityLog",
    }
}

ocpp_enum! {
    /// Used by GetLogResponse.
    pub enum LogStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        AcceptedCanceled = "AcceptedCanceled",
    }
}

ocpp_enum! {
    /// Used by InstallCertificateResponse.
    pub enum InstallCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by LogStatusNotification.
    pub enum UploadLogStatus {
        BadMessage = "BadMessage",
        Idle = "Idle",
        NotSupportedOperation = "NotSupportedOperation",
        PermissionDenied = "PermissionDenied",
        Uploaded = "Uploaded",
        UploadFailure = "UploadFailure",
        Uploading = "Uploading",
    }
}

ocpp_enum! {
    /// Used by MeterValues, StopTransaction.
    pub enum ReadingContext {
        InterruptionBegin = "Interruption.Begin",
        InterruptionEnd = "Interruption.End",
        SampleClock = "Sample.Clock",
        SamplePeriodic = "Sample.Periodic",
        TransactionBegin = "Transaction.Begin",
        TransactionEnd = "Transaction.End",
        Trigger = "Trigger",
        Other = "Other",
    }
}

ocpp_enum! {
    /// Used by MeterValues, StopTransaction.
    pub enum ValueFormat {
        Raw = "Raw",
        SignedData = "SignedData",
    }
}

ocpp_enum! {
    /// Used by MeterValues, StopTransaction.
    pub enum Measurand {
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        PowerActiveExport = "Power.Active.Export",
        PowerActiveImport = "Power.Active.Import",
        PowerOffered = "Power.Offered",
        PowerReactiveExport = "Power.Reactive.Export",
        PowerReactiveImport = "Power.Reactive.Import",
        PowerFactor = "Power.Factor",
        CurrentImport = "Current.Import",
        CurrentExport = "Current.Export",
        CurrentOffered = "Current.Offered",
        Voltage = "Voltage",
        Frequency = "Frequency",
        Temperature = "Temperature",
        SoC = "SoC",
        Rpm = "RPM",
    }
}

ocpp_enum! {
    /// Used by MeterValues, StopTransaction.
    pub enum Phase {
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
    /// Used by MeterValues, StopTransaction.
    pub enum Location {
        Cable = "Cable",
        Ev = "EV",
        Inlet = "Inlet",
        Outlet = "Outlet",
        Body = "Body",
    }
}

ocpp_enum! {
    /// Used by MeterValues.
    pub enum UnitOfMeasure {
        Wh = "Wh",
        KWh = "kWh",
        Varh = "varh",
        Kvarh = "kvarh",
        W = "W",
        Kw = "kW",
        Va = "VA",
        Kva = "kVA",
        Var = "var",
        Kvar = "kvar",
        A = "A",
        V = "V",
        K = "K",
        Celcius = "Celcius",
        Celsius = "Celsius",
        Fahrenheit = "Fahrenheit",
        Percent = "Percent",
        Hertz = "Hertz",
    }
}

ocpp_enum! {
    /// Used by RemoteStartTransaction, SetChargingProfile.
    pub enum ChargingProfileKind {
        Absolute = "Absolute",
        Recurring = "Recurring",
        Relative = "Relative",
    }
}

ocpp_enum! {
    /// Used by RemoteStartTransaction, SetChargingProfile.
    pub enum RecurrencyKind {
        Daily = "Daily",
        Weekly = "Weekly",
    }
}

ocpp_enum! {
    /// Used by RemoteStartTransactionResponse, RemoteStopTransactionResponse.
    pub enum RemoteStartStopStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by ReserveNowResponse.
    pub enum ReservationStatus {
        Accepted = "Accepted",
        Faulted = "Faulted",
        Occupied = "Occupied",
        Rejected = "Rejected",
        Unavailable = "Unavailable",
    }
}

ocpp_enum! {
    /// Used by Reset.
    pub enum ResetType {
        Hard = "Hard",
        Soft = "Soft",
    }
}

ocpp_enum! {
    /// Used by ResetResponse.
    pub enum ResetStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by SendLocalList.
    pub enum UpdateType {
        Differential = "Differential",
        Full = "Full",
    }
}

ocpp_enum! {
    /// Used by SendLocalListResponse.
    pub enum UpdateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotSupported = "NotSupported",
        VersionMismatch = "VersionMismatch",
    }
}

ocpp_enum! {
    /// Used by SetChargingProfileResponse.
    pub enum ChargingProfileStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotSupported = "NotSupported",
    }
}

ocpp_enum! {
    /// Used by SignCertificateResponse.
    pub enum GenericStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Used by SignedFirmwareStatusNotification.
    pub enum SignedFirmwareStatus {
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
    /// Used by SignedUpdateFirmwareResponse.
    pub enum UpdateFirmwareStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        AcceptedCanceled = "AcceptedCanceled",
        InvalidCertificate = "InvalidCertificate",
        RevokedCertificate = "RevokedCertificate",
    }
}

ocpp_enum! {
    /// Used by StatusNotification.
    pub enum ChargePointErrorCode {
        ConnectorLockFailure = "ConnectorLockFailure",
        EVCommunicationError = "EVCommunicationError",
        GroundFailure = "GroundFailure",
        HighTemperature = "HighTemperature",
        InternalError = "InternalError",
        LocalListConflict = "LocalListConflict",
        NoError = "NoError",
        OtherError = "OtherError",
        OverCurrentFailure = "OverCurrentFailure",
        PowerMeterFailure = "PowerMeterFailure",
        PowerSwitchFailure = "PowerSwitchFailure",
        ReaderFailure = "ReaderFailure",
        ResetFailure = "ResetFailure",
        UnderVoltage = "UnderVoltage",
        OverVoltage = "OverVoltage",
        WeakSignal = "WeakSignal",
    }
}

ocpp_enum! {
    /// Used by StatusNotification.
    pub enum ChargePointStatus {
        Available = "Available",
        Preparing = "Preparing",
        Charging = "Charging",
        SuspendedEVSE = "SuspendedEVSE",
        SuspendedEV = "SuspendedEV",
        Finishing = "Finishing",
        Reserved = "Reserved",
        Unavailable = "Unavailable",
        Faulted = "Faulted",
    }
}

ocpp_enum! {
    /// Used by StopTransaction.
    pub enum Reason {
        EmergencyStop = "EmergencyStop",
        EVDisconnected = "EVDisconnected",
        HardReset = "HardReset",
        Local = "Local",
        Other = "Other",
        PowerLoss = "PowerLoss",
        Reboot = "Reboot",
        Remote = "Remote",
        SoftReset = "SoftReset",
        UnlockCommand = "UnlockCommand",
        DeAuthorized = "DeAuthorized",
    }
}

ocpp_enum! {
    /// Used by StopTransaction.
    pub enum TransactionDataUnitOfMeasure {
        Wh = "Wh",
        KWh = "kWh",
        Varh = "varh",
        Kvarh = "kvarh",
        W = "W",
        Kw = "kW",
        Va = "VA",
        Kva = "kVA",
        Var = "var",
        Kvar = "kvar",
        A = "A",
        V = "V",
        K = "K",
        Celcius = "Celcius",
        Celsius = "Celsius",
        Fahrenheit = "Fahrenheit",
        Percent = "Percent",
    }
}

ocpp_enum! {
    /// Used by TriggerMessage.
    pub enum MessageTrigger {
        BootNotification = "BootNotification",
        DiagnosticsStatusNotification = "DiagnosticsStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        StatusNotification = "StatusNotification",
    }
}

ocpp_enum! {
    /// Used by UnlockConnectorResponse.
    pub enum UnlockStatus {
        Unlocked = "Unlocked",
        UnlockFailed = "UnlockFailed",
        NotSupported = "NotSupported",
    }
}

ocpp_object! {
    /// Used by AuthorizeResponse, SendLocalList, StartTransactionResponse, StopTransactionResponse.
    pub struct IdTagInfo {
        opt "expiryDate" expiry_date: DateTime,
        opt "parentIdTag" parent_id_tag: BoundedString<20>,
        req "status" status: AuthorizationStatus,
    }
}

ocpp_object! {
    /// Used by DeleteCertificate, GetInstalledCertificateIdsResponse.
    pub struct CertificateHashData {
        req "hashAlgorithm" hash_algorithm: HashAlgorithm,
        req "issuerNameHash" issuer_name_hash: BoundedString<128>,
        req "issuerKeyHash" issuer_key_hash: BoundedString<128>,
        req "serialNumber" serial_number: BoundedString<40>,
    }
}

ocpp_object! {
    /// Used by GetCompositeScheduleResponse, RemoteStartTransaction, SetChargingProfile.
    pub struct ChargingSchedulePeriod {
        req "startPeriod" start_period: i64,
        req "limit" limit: f64 [check::multiple_of_tenth],
        opt "numberPhases" number_phases: i64,
    }
}

ocpp_object! {
    /// Used by GetCompositeScheduleResponse, RemoteStartTransaction, SetChargingProfile.
    pub struct ChargingSchedule {
        opt "duration" duration: i64,
        opt "startSchedule" start_schedule: DateTime,
        req "chargingRateUnit" charging_rate_unit: ChargingRateUnit,
        req "chargingSchedulePeriod" charging_schedule_period: Vec<ChargingSchedulePeriod>,
        opt "minChargingRate" min_charging_rate: f64 [check::multiple_of_tenth],
    }
}

ocpp_object! {
    /// Used by GetConfigurationResponse.
    pub struct KeyValue {
        req "key" key: BoundedString<50>,
        req "readonly" readonly: bool,
        opt "value" value: BoundedString<500>,
    }
}

ocpp_object! {
    /// Used by GetLog.
    pub struct LogParameters {
        req "remoteLocation" remote_location: BoundedString<512>,
        opt "oldestTimestamp" oldest_timestamp: DateTime,
        opt "latestTimestamp" latest_timestamp: DateTime,
    }
}

ocpp_object! {
    /// Used by MeterValues.
    pub struct SampledValue {
        req "value" value: String,
        opt "context" context: ReadingContext,
        opt "format" format: ValueFormat,
        opt "measurand" measurand: Measurand,
        opt "phase" phase: Phase,
        opt "location" location: Location,
        opt "unit" unit: UnitOfMeasure,
    }
}

ocpp_object! {
    /// Used by MeterValues.
    pub struct MeterValue {
        req "timestamp" timestamp: DateTime,
        req "sampledValue" sampled_value: Vec<SampledValue> [check::items(1, None)],
    }
}

ocpp_object! {
    /// Used by RemoteStartTransaction, SetChargingProfile.
    pub struct ChargingProfile {
        req "chargingProfileId" charging_profile_id: i64,
        opt "transactionId" transaction_id: i64,
        req "stackLevel" stack_level: i64,
        req "chargingProfilePurpose" charging_profile_purpose: ChargingProfilePurpose,
        req "chargingProfileKind" charging_profile_kind: ChargingProfileKind,
        opt "recurrencyKind" recurrency_kind: RecurrencyKind,
        opt "validFrom" valid_from: DateTime,
        opt "validTo" valid_to: DateTime,
        req "chargingSchedule" charging_schedule: ChargingSchedule,
    }
}

ocpp_object! {
    /// Used by SendLocalList.
    pub struct AuthorizationData {
        req "idTag" id_tag: BoundedString<20>,
        opt "idTagInfo" id_tag_info: IdTagInfo,
    }
}

ocpp_object! {
    /// Used by SignedUpdateFirmware.
    pub struct Firmware {
        req "location" location: BoundedString<512>,
        req "retrieveDateTime" retrieve_date_time: DateTime,
        opt "installDateTime" install_date_time: DateTime,
        req "signingCertificate" signing_certificate: BoundedString<5500>,
        req "signature" signature: BoundedString<800>,
    }
}

ocpp_object! {
    /// Used by StopTransaction.
    pub struct TransactionDataSampledValue {
        req "value" value: String,
        opt "context" context: ReadingContext,
        opt "format" format: ValueFormat,
        opt "measurand" measurand: Measurand,
        opt "phase" phase: Phase,
        opt "location" location: Location,
        opt "unit" unit: TransactionDataUnitOfMeasure,
    }
}

ocpp_object! {
    /// Used by StopTransaction.
    pub struct TransactionData {
        req "timestamp" timestamp: DateTime,
        req "sampledValue" sampled_value: Vec<TransactionDataSampledValue>,
    }
}
