//! OCPP 2.0.1 requests and responses the gateway has types for.
//! Generated from the OCA JSON schemas (`shared/ocpp-schemas`) and then kept by hand;
//! `tests/ocpp_schema_oracle.rs` checks every declaration against its schema.

#[allow(unused_imports)]
use super::CustomData;
use super::types::*;
#[allow(unused_imports)]
use crate::ocpp::schema::{BoundedString, DateTime, Uri, check, ocpp_object};

ocpp_object! {
    /// `Authorize` request (schema `v201/AuthorizeRequest.json`, draft-06).
    pub struct AuthorizeRequest {
        opt "customData" custom_data: CustomData,
        req "idToken" id_token: IdToken,
        opt "certificate" certificate: BoundedString<5500>,
        opt "iso15118CertificateHashData" iso15118_certificate_hash_data: Vec<OcspRequestData> [check::items(1, Some(4))],
    }
}

ocpp_object! {
    /// `Authorize` response (schema `v201/AuthorizeResponse.json`, draft-06).
    pub struct AuthorizeResponse {
        opt "customData" custom_data: CustomData,
        req "idTokenInfo" id_token_info: IdTokenInfo,
        opt "certificateStatus" certificate_status: AuthorizeCertificateStatusEnum,
    }
}

ocpp_object! {
    /// `BootNotification` request (schema `v201/BootNotificationRequest.json`, draft-06).
    pub struct BootNotificationRequest {
        opt "customData" custom_data: CustomData,
        req "chargingStation" charging_station: ChargingStation,
        req "reason" reason: BootReasonEnum,
    }
}

ocpp_object! {
    /// `BootNotification` response (schema `v201/BootNotificationResponse.json`, draft-06).
    pub struct BootNotificationResponse {
        opt "customData" custom_data: CustomData,
        req "currentTime" current_time: DateTime,
        req "interval" interval: i64,
        req "status" status: RegistrationStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
    }
}

ocpp_object! {
    /// `DataTransfer` request (schema `v201/DataTransferRequest.json`, draft-06).
    pub struct DataTransferRequest {
        opt "customData" custom_data: CustomData,
        opt "messageId" message_id: BoundedString<50>,
        opt "data" data: serde_json::Value,
        req "vendorId" vendor_id: BoundedString<255>,
    }
}

ocpp_object! {
    /// `DataTransfer` response (schema `v201/DataTransferResponse.json`, draft-06).
    pub struct DataTransferResponse {
        opt "customData" custom_data: CustomData,
        req "status" status: DataTransferStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
        opt "data" data: serde_json::Value,
    }
}

ocpp_object! {
    /// `FirmwareStatusNotification` request (schema `v201/FirmwareStatusNotificationRequest.json`, draft-06).
    pub struct FirmwareStatusNotificationRequest {
        opt "customData" custom_data: CustomData,
        req "status" status: FirmwareStatusEnum,
        opt "requestId" request_id: i64,
    }
}

ocpp_object! {
    /// `FirmwareStatusNotification` response (schema `v201/FirmwareStatusNotificationResponse.json`, draft-06).
    pub struct FirmwareStatusNotificationResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `Heartbeat` request (schema `v201/HeartbeatRequest.json`, draft-06).
    pub struct HeartbeatRequest {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `Heartbeat` response (schema `v201/HeartbeatResponse.json`, draft-06).
    pub struct HeartbeatResponse {
        opt "customData" custom_data: CustomData,
        req "currentTime" current_time: DateTime,
    }
}

ocpp_object! {
    /// `LogStatusNotification` request (schema `v201/LogStatusNotificationRequest.json`, draft-06).
    pub struct LogStatusNotificationRequest {
        opt "customData" custom_data: CustomData,
        req "status" status: UploadLogStatusEnum,
        opt "requestId" request_id: i64,
    }
}

ocpp_object! {
    /// `LogStatusNotification` response (schema `v201/LogStatusNotificationResponse.json`, draft-06).
    pub struct LogStatusNotificationResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `MeterValues` request (schema `v201/MeterValuesRequest.json`, draft-06).
    pub struct MeterValuesRequest {
        opt "customData" custom_data: CustomData,
        req "evseId" evse_id: i64,
        req "meterValue" meter_value: Vec<MeterValue> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `MeterValues` response (schema `v201/MeterValuesResponse.json`, draft-06).
    pub struct MeterValuesResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `NotifyEvent` request (schema `v201/NotifyEventRequest.json`, draft-06).
    pub struct NotifyEventRequest {
        opt "customData" custom_data: CustomData,
        req "generatedAt" generated_at: DateTime,
        opt "tbc" tbc: bool,
        req "seqNo" seq_no: i64,
        req "eventData" event_data: Vec<EventData> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `NotifyEvent` response (schema `v201/NotifyEventResponse.json`, draft-06).
    pub struct NotifyEventResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `NotifyReport` request (schema `v201/NotifyReportRequest.json`, draft-06).
    pub struct NotifyReportRequest {
        opt "customData" custom_data: CustomData,
        req "requestId" request_id: i64,
        req "generatedAt" generated_at: DateTime,
        opt "reportData" report_data: Vec<ReportData> [check::items(1, None)],
        opt "tbc" tbc: bool,
        req "seqNo" seq_no: i64,
    }
}

ocpp_object! {
    /// `NotifyReport` response (schema `v201/NotifyReportResponse.json`, draft-06).
    pub struct NotifyReportResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `SecurityEventNotification` request (schema `v201/SecurityEventNotificationRequest.json`, draft-06).
    pub struct SecurityEventNotificationRequest {
        opt "customData" custom_data: CustomData,
        req "type" kind: BoundedString<50>,
        req "timestamp" timestamp: DateTime,
        opt "techInfo" tech_info: BoundedString<255>,
    }
}

ocpp_object! {
    /// `SecurityEventNotification` response (schema `v201/SecurityEventNotificationResponse.json`, draft-06).
    pub struct SecurityEventNotificationResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `StatusNotification` request (schema `v201/StatusNotificationRequest.json`, draft-06).
    pub struct StatusNotificationRequest {
        opt "customData" custom_data: CustomData,
        req "timestamp" timestamp: DateTime,
        req "connectorStatus" connector_status: ConnectorStatusEnum,
        req "evseId" evse_id: i64,
        req "connectorId" connector_id: i64,
    }
}

ocpp_object! {
    /// `StatusNotification` response (schema `v201/StatusNotificationResponse.json`, draft-06).
    pub struct StatusNotificationResponse {
        opt "customData" custom_data: CustomData,
    }
}

ocpp_object! {
    /// `TransactionEvent` request (schema `v201/TransactionEventRequest.json`, draft-06).
    pub struct TransactionEventRequest {
        opt "customData" custom_data: CustomData,
        req "eventType" event_type: TransactionEventEnum,
        opt "meterValue" meter_value: Vec<MeterValue> [check::items(1, None)],
        req "timestamp" timestamp: DateTime,
        req "triggerReason" trigger_reason: TriggerReasonEnum,
        req "seqNo" seq_no: i64,
        opt "offline" offline: bool,
        opt "numberOfPhasesUsed" number_of_phases_used: i64,
        opt "cableMaxCurrent" cable_max_current: i64,
        opt "reservationId" reservation_id: i64,
        req "transactionInfo" transaction_info: Transaction,
        opt "evse" evse: Evse,
        opt "idToken" id_token: IdToken,
    }
}

ocpp_object! {
    /// `TransactionEvent` response (schema `v201/TransactionEventResponse.json`, draft-06).
    pub struct TransactionEventResponse {
        opt "customData" custom_data: CustomData,
        opt "totalCost" total_cost: f64,
        opt "chargingPriority" charging_priority: i64,
        opt "idTokenInfo" id_token_info: IdTokenInfo,
        opt "updatedPersonalMessage" updated_personal_message: MessageContent,
    }
}

ocpp_object! {
    /// `ChangeAvailability` request (schema `v201/ChangeAvailabilityRequest.json`, draft-06).
    pub struct ChangeAvailabilityRequest {
        opt "customData" custom_data: CustomData,
        opt "evse" evse: Evse,
        req "operationalStatus" operational_status: OperationalStatusEnum,
    }
}

ocpp_object! {
    /// `ChangeAvailability` response (schema `v201/ChangeAvailabilityResponse.json`, draft-06).
    pub struct ChangeAvailabilityResponse {
        opt "customData" custom_data: CustomData,
        req "status" status: ChangeAvailabilityStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
    }
}

ocpp_object! {
    /// `GetVariables` request (schema `v201/GetVariablesRequest.json`, draft-06).
    pub struct GetVariablesRequest {
        opt "customData" custom_data: CustomData,
        req "getVariableData" get_variable_data: Vec<GetVariableData> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `GetVariables` response (schema `v201/GetVariablesResponse.json`, draft-06).
    pub struct GetVariablesResponse {
        opt "customData" custom_data: CustomData,
        req "getVariableResult" get_variable_result: Vec<GetVariableResult> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `RequestStartTransaction` request (schema `v201/RequestStartTransactionRequest.json`, draft-06).
    pub struct RequestStartTransactionRequest {
        opt "customData" custom_data: CustomData,
        opt "evseId" evse_id: i64,
        opt "groupIdToken" group_id_token: IdToken,
        req "idToken" id_token: IdToken,
        req "remoteStartId" remote_start_id: i64,
        opt "chargingProfile" charging_profile: ChargingProfile,
    }
}

ocpp_object! {
    /// `RequestStartTransaction` response (schema `v201/RequestStartTransactionResponse.json`, draft-06).
    pub struct RequestStartTransactionResponse {
        opt "customData" custom_data: CustomData,
        req "status" status: RequestStartStopStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
        opt "transactionId" transaction_id: BoundedString<36>,
    }
}

ocpp_object! {
    /// `RequestStopTransaction` request (schema `v201/RequestStopTransactionRequest.json`, draft-06).
    pub struct RequestStopTransactionRequest {
        opt "customData" custom_data: CustomData,
        req "transactionId" transaction_id: BoundedString<36>,
    }
}

ocpp_object! {
    /// `RequestStopTransaction` response (schema `v201/RequestStopTransactionResponse.json`, draft-06).
    pub struct RequestStopTransactionResponse {
        opt "customData" custom_data: CustomData,
        req "status" status: RequestStartStopStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
    }
}

ocpp_object! {
    /// `Reset` request (schema `v201/ResetRequest.json`, draft-06).
    pub struct ResetRequest {
        opt "customData" custom_data: CustomData,
        req "type" kind: ResetEnum,
        opt "evseId" evse_id: i64,
    }
}

ocpp_object! {
    /// `Reset` response (schema `v201/ResetResponse.json`, draft-06).
    pub struct ResetResponse {
        opt "customData" custom_data: CustomData,
        req "status" status: ResetStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
    }
}

ocpp_object! {
    /// `SetVariables` request (schema `v201/SetVariablesRequest.json`, draft-06).
    pub struct SetVariablesRequest {
        opt "customData" custom_data: CustomData,
        req "setVariableData" set_variable_data: Vec<SetVariableData> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `SetVariables` response (schema `v201/SetVariablesResponse.json`, draft-06).
    pub struct SetVariablesResponse {
        opt "customData" custom_data: CustomData,
        req "setVariableResult" set_variable_result: Vec<SetVariableResult> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `TriggerMessage` request (schema `v201/TriggerMessageRequest.json`, draft-06).
    pub struct TriggerMessageRequest {
        opt "customData" custom_data: CustomData,
        opt "evse" evse: Evse,
        req "requestedMessage" requested_message: MessageTriggerEnum,
    }
}

ocpp_object! {
    /// `TriggerMessage` response (schema `v201/TriggerMessageResponse.json`, draft-06).
    pub struct TriggerMessageResponse {
        opt "customData" custom_data: CustomData,
        req "status" status: TriggerMessageStatusEnum,
        opt "statusInfo" status_info: StatusInfo,
    }
}
