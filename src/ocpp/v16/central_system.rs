//! OCPP 1.6 messages the central system initiates.
//! Generated from the OCA JSON schemas (`shared/ocpp-schemas`) and then kept by hand;
//! `tests/ocpp_schema_oracle.rs` checks every declaration against its schema.

use super::types::*;
#[allow(unused_imports)]
use crate::ocpp::schema::{BoundedString, DateTime, Uri, check, ocpp_object};

ocpp_object! {
    /// `CancelReservation` request (schema `v16/CancelReservation.json`, draft-04).
    pub struct CancelReservationRequest {
        req "reservationId" reservation_id: i64,
    }
}

ocpp_object! {
    /// `CancelReservation` response (schema `v16/CancelReservationResponse.json`, draft-04).
    pub struct CancelReservationResponse {
        req "status" status: CancelReservationStatus,
    }
}

ocpp_object! {
    /// `ChangeAvailability` request (schema `v16/ChangeAvailability.json`, draft-04).
    pub struct ChangeAvailabilityRequest {
        req "connectorId" connector_id: i64,
        req "type" kind: AvailabilityType,
    }
}

ocpp_object! {
    /// `ChangeAvailability` response (schema `v16/ChangeAvailabilityResponse.json`, draft-04).
    pub struct ChangeAvailabilityResponse {
        req "status" status: AvailabilityStatus,
    }
}

ocpp_object! {
    /// `ChangeConfiguration` request (schema `v16/ChangeConfiguration.json`, draft-04).
    pub struct ChangeConfigurationRequest {
        req "key" key: BoundedString<50>,
        req "value" value: BoundedString<500>,
    }
}

ocpp_object! {
    /// `ChangeConfiguration` response (schema `v16/ChangeConfigurationResponse.json`, draft-04).
    pub struct ChangeConfigurationResponse {
        req "status" status: ConfigurationStatus,
    }
}

ocpp_object! {
    /// `ClearCache` request (schema `v16/ClearCache.json`, draft-04).
    pub struct ClearCacheRequest {
    }
}

ocpp_object! {
    /// `ClearCache` response (schema `v16/ClearCacheResponse.json`, draft-04).
    pub struct ClearCacheResponse {
        req "status" status: ClearCacheStatus,
    }
}

ocpp_object! {
    /// `ClearChargingProfile` request (schema `v16/ClearChargingProfile.json`, draft-04).
    pub struct ClearChargingProfileRequest {
        opt "id" id: i64,
        opt "connectorId" connector_id: i64,
        opt "chargingProfilePurpose" charging_profile_purpose: ChargingProfilePurpose,
        opt "stackLevel" stack_level: i64,
    }
}

ocpp_object! {
    /// `ClearChargingProfile` response (schema `v16/ClearChargingProfileResponse.json`, draft-04).
    pub struct ClearChargingProfileResponse {
        req "status" status: ClearChargingProfileStatus,
    }
}

ocpp_object! {
    /// `GetCompositeSchedule` request (schema `v16/GetCompositeSchedule.json`, draft-04).
    pub struct GetCompositeScheduleRequest {
        req "connectorId" connector_id: i64,
        req "duration" duration: i64,
        opt "chargingRateUnit" charging_rate_unit: ChargingRateUnit,
    }
}

ocpp_object! {
    /// `GetCompositeSchedule` response (schema `v16/GetCompositeScheduleResponse.json`, draft-04).
    pub struct GetCompositeScheduleResponse {
        req "status" status: GetCompositeScheduleStatus,
        opt "connectorId" connector_id: i64,
        opt "scheduleStart" schedule_start: DateTime,
        opt "chargingSchedule" charging_schedule: ChargingSchedule,
    }
}

ocpp_object! {
    /// `GetConfiguration` request (schema `v16/GetConfiguration.json`, draft-04).
    pub struct GetConfigurationRequest {
        opt "key" key: Vec<BoundedString<50>>,
    }
}

ocpp_object! {
    /// `GetConfiguration` response (schema `v16/GetConfigurationResponse.json`, draft-04).
    pub struct GetConfigurationResponse {
        opt "configurationKey" configuration_key: Vec<KeyValue>,
        opt "unknownKey" unknown_key: Vec<BoundedString<50>>,
    }
}

ocpp_object! {
    /// `GetDiagnostics` request (schema `v16/GetDiagnostics.json`, draft-04).
    pub struct GetDiagnosticsRequest {
        req "location" location: Uri,
        opt "retries" retries: i64,
        opt "retryInterval" retry_interval: i64,
        opt "startTime" start_time: DateTime,
        opt "stopTime" stop_time: DateTime,
    }
}

ocpp_object! {
    /// `GetDiagnostics` response (schema `v16/GetDiagnosticsResponse.json`, draft-04).
    pub struct GetDiagnosticsResponse {
        opt "fileName" file_name: BoundedString<255>,
    }
}

ocpp_object! {
    /// `GetLocalListVersion` request (schema `v16/GetLocalListVersion.json`, draft-04).
    pub struct GetLocalListVersionRequest {
    }
}

ocpp_object! {
    /// `GetLocalListVersion` response (schema `v16/GetLocalListVersionResponse.json`, draft-04).
    pub struct GetLocalListVersionResponse {
        req "listVersion" list_version: i64,
    }
}

ocpp_object! {
    /// `RemoteStartTransaction` request (schema `v16/RemoteStartTransaction.json`, draft-04).
    pub struct RemoteStartTransactionRequest {
        opt "connectorId" connector_id: i64,
        req "idTag" id_tag: BoundedString<20>,
        opt "chargingProfile" charging_profile: ChargingProfile,
    }
}

ocpp_object! {
    /// `RemoteStartTransaction` response (schema `v16/RemoteStartTransactionResponse.json`, draft-04).
    pub struct RemoteStartTransactionResponse {
        req "status" status: RemoteStartStopStatus,
    }
}

ocpp_object! {
    /// `RemoteStopTransaction` request (schema `v16/RemoteStopTransaction.json`, draft-04).
    pub struct RemoteStopTransactionRequest {
        req "transactionId" transaction_id: i64,
    }
}

ocpp_object! {
    /// `RemoteStopTransaction` response (schema `v16/RemoteStopTransactionResponse.json`, draft-04).
    pub struct RemoteStopTransactionResponse {
        req "status" status: RemoteStartStopStatus,
    }
}

ocpp_object! {
    /// `ReserveNow` request (schema `v16/ReserveNow.json`, draft-04).
    pub struct ReserveNowRequest {
        req "connectorId" connector_id: i64,
        req "expiryDate" expiry_date: DateTime,
        req "idTag" id_tag: BoundedString<20>,
        opt "parentIdTag" parent_id_tag: BoundedString<20>,
        req "reservationId" reservation_id: i64,
    }
}

ocpp_object! {
    /// `ReserveNow` response (schema `v16/ReserveNowResponse.json`, draft-04).
    pub struct ReserveNowResponse {
        req "status" status: ReservationStatus,
    }
}

ocpp_object! {
    /// `Reset` request (schema `v16/Reset.json`, draft-04).
    pub struct ResetRequest {
        req "type" kind: ResetType,
    }
}

ocpp_object! {
    /// `Reset` response (schema `v16/ResetResponse.json`, draft-04).
    pub struct ResetResponse {
        req "status" status: ResetStatus,
    }
}

ocpp_object! {
    /// `SendLocalList` request (schema `v16/SendLocalList.json`, draft-04).
    pub struct SendLocalListRequest {
        req "listVersion" list_version: i64,
        opt "localAuthorizationList" local_authorization_list: Vec<AuthorizationData>,
        req "updateType" update_type: UpdateType,
    }
}

ocpp_object! {
    /// `SendLocalList` response (schema `v16/SendLocalListResponse.json`, draft-04).
    pub struct SendLocalListResponse {
        req "status" status: UpdateStatus,
    }
}

ocpp_object! {
    /// `SetChargingProfile` request (schema `v16/SetChargingProfile.json`, draft-04).
    pub struct SetChargingProfileRequest {
        req "connectorId" connector_id: i64,
        req "csChargingProfiles" cs_charging_profiles: ChargingProfile,
    }
}

ocpp_object! {
    /// `SetChargingProfile` response (schema `v16/SetChargingProfileResponse.json`, draft-04).
    pub struct SetChargingProfileResponse {
        req "status" status: ChargingProfileStatus,
    }
}

ocpp_object! {
    /// `TriggerMessage` request (schema `v16/TriggerMessage.json`, draft-04).
    pub struct TriggerMessageRequest {
        req "requestedMessage" requested_message: MessageTrigger,
        opt "connectorId" connector_id: i64,
    }
}

ocpp_object! {
    /// `TriggerMessage` response (schema `v16/TriggerMessageResponse.json`, draft-04).
    pub struct TriggerMessageResponse {
        req "status" status: TriggerMessageStatus,
    }
}

ocpp_object! {
    /// `UnlockConnector` request (schema `v16/UnlockConnector.json`, draft-04).
    pub struct UnlockConnectorRequest {
        req "connectorId" connector_id: i64,
    }
}

ocpp_object! {
    /// `UnlockConnector` response (schema `v16/UnlockConnectorResponse.json`, draft-04).
    pub struct UnlockConnectorResponse {
        req "status" status: UnlockStatus,
    }
}

ocpp_object! {
    /// `UpdateFirmware` request (schema `v16/UpdateFirmware.json`, draft-04).
    pub struct UpdateFirmwareRequest {
        req "location" location: Uri,
        opt "retries" retries: i64,
        req "retrieveDate" retrieve_date: DateTime,
        opt "retryInterval" retry_interval: i64,
    }
}

ocpp_object! {
    /// `UpdateFirmware` response (schema `v16/UpdateFirmwareResponse.json`, draft-04).
    pub struct UpdateFirmwareResponse {
    }
}
