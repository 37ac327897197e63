//! OCPP 1.6 messages a charge point initiates (plus DataTransfer, which either side sends).
//! Generated from the OCA JSON schemas (`shared/ocpp-schemas`) and then kept by hand;
//! `tests/ocpp_schema_oracle.rs` checks every declaration against its schema.

use super::types::*;
#[allow(unused_imports)]
use crate::ocpp::schema::{BoundedString, DateTime, Uri, check, ocpp_object};

ocpp_object! {
    /// `Authorize` request (schema `v16/Authorize.json`, draft-04).
    pub struct AuthorizeRequest {
        req "idTag" id_tag: BoundedString<20>,
    }
}

ocpp_object! {
    /// `Authorize` response (schema `v16/AuthorizeResponse.json`, draft-04).
    pub struct AuthorizeResponse {
        req "idTagInfo" id_tag_info: IdTagInfo,
    }
}

ocpp_object! {
    /// `BootNotification` request (schema `v16/BootNotification.json`, draft-04).
    pub struct BootNotificationRequest {
        req "chargePointVendor" charge_point_vendor: BoundedString<20>,
        req "chargePointModel" charge_point_model: BoundedString<20>,
        opt "chargePointSerialNumber" charge_point_serial_number: BoundedString<25>,
        opt "chargeBoxSerialNumber" charge_box_serial_number: BoundedString<25>,
        opt "firmwareVersion" firmware_version: BoundedString<50>,
        opt "iccid" iccid: BoundedString<20>,
        opt "imsi" imsi: BoundedString<20>,
        opt "meterType" meter_type: BoundedString<25>,
        opt "meterSerialNumber" meter_serial_number: BoundedString<25>,
    }
}

ocpp_object! {
    /// `BootNotification` response (schema `v16/BootNotificationResponse.json`, draft-04).
    pub struct BootNotificationResponse {
        req "status" status: RegistrationStatus,
        req "currentTime" current_time: DateTime,
        req "interval" interval: i64,
    }
}

ocpp_object! {
    /// `DataTransfer` request (schema `v16/DataTransfer.json`, draft-04).
    pub struct DataTransferRequest {
        req "vendorId" vendor_id: BoundedString<255>,
        opt "messageId" message_id: BoundedString<50>,
        opt "data" data: String,
    }
}

ocpp_object! {
    /// `DataTransfer` response (schema `v16/DataTransferResponse.json`, draft-04).
    pub struct DataTransferResponse {
        req "status" status: DataTransferStatus,
        opt "data" data: String,
    }
}

ocpp_object! {
    /// `DiagnosticsStatusNotification` request (schema `v16/DiagnosticsStatusNotification.json`, draft-04).
    pub struct DiagnosticsStatusNotificationRequest {
        req "status" status: DiagnosticsStatus,
    }
}

ocpp_object! {
    /// `DiagnosticsStatusNotification` response (schema `v16/DiagnosticsStatusNotificationResponse.json`, draft-04).
    pub struct DiagnosticsStatusNotificationResponse {
    }
}

ocpp_object! {
    /// `FirmwareStatusNotification` request (schema `v16/FirmwareStatusNotification.json`, draft-04).
    pub struct FirmwareStatusNotificationRequest {
        req "status" status: FirmwareStatus,
    }
}

ocpp_object! {
    /// `FirmwareStatusNotification` response (schema `v16/FirmwareStatusNotificationResponse.json`, draft-04).
    pub struct FirmwareStatusNotificationResponse {
    }
}

ocpp_object! {
    /// `Heartbeat` request (schema `v16/Heartbeat.json`, draft-04).
    pub struct HeartbeatRequest {
    }
}

ocpp_object! {
    /// `Heartbeat` response (schema `v16/HeartbeatResponse.json`, draft-04).
    pub struct HeartbeatResponse {
        req "currentTime" current_time: DateTime,
    }
}

ocpp_object! {
    /// `MeterValues` request (schema `v16/MeterValues.json`, draft-04).
    pub struct MeterValuesRequest {
        req "connectorId" connector_id: i64,
        opt "transactionId" transaction_id: i64,
        req "meterValue" meter_value: Vec<MeterValue> [check::items(1, None)],
    }
}

ocpp_object! {
    /// `MeterValues` response (schema `v16/MeterValuesResponse.json`, draft-04).
    pub struct MeterValuesResponse {
    }
}

ocpp_object! {
    /// `StartTransaction` request (schema `v16/StartTransaction.json`, draft-04).
    pub struct StartTransactionRequest {
        req "connectorId" connector_id: i64,
        req "idTag" id_tag: BoundedString<20>,
        req "meterStart" meter_start: i64,
        opt "reservationId" reservation_id: i64,
        req "timestamp" timestamp: DateTime,
    }
}

ocpp_object! {
    /// `StartTransaction` response (schema `v16/StartTransactionResponse.json`, draft-04).
    pub struct StartTransactionResponse {
        req "idTagInfo" id_tag_info: IdTagInfo,
        req "transactionId" transaction_id: i64,
    }
}

ocpp_object! {
    /// `StatusNotification` request (schema `v16/StatusNotification.json`, draft-04).
    pub struct StatusNotificationRequest {
        req "connectorId" connector_id: i64,
        req "errorCode" error_code: ChargePointErrorCode,
        opt "info" info: BoundedString<50>,
        req "status" status: ChargePointStatus,
        opt "timestamp" timestamp: DateTime,
        opt "vendorId" vendor_id: BoundedString<255>,
        opt "vendorErrorCode" vendor_error_code: BoundedString<50>,
    }
}

ocpp_object! {
    /// `StatusNotification` response (schema `v16/StatusNotificationResponse.json`, draft-04).
    pub struct StatusNotificationResponse {
    }
}

ocpp_object! {
    /// `StopTransaction` request (schema `v16/StopTransaction.json`, draft-04).
    pub struct StopTransactionRequest {
        opt "idTag" id_tag: BoundedString<20>,
        req "meterStop" meter_stop: i64,
        req "timestamp" timestamp: DateTime,
        req "transactionId" transaction_id: i64,
        opt "reason" reason: Reason,
        opt "transactionData" transaction_data: Vec<TransactionData>,
    }
}

ocpp_object! {
    /// `StopTransaction` response (schema `v16/StopTransactionResponse.json`, draft-04).
    pub struct StopTransactionResponse {
        opt "idTagInfo" id_tag_info: IdTagInfo,
    }
}
