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

use std::fmt;

use serde::Serialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap as _, Serializer};

use crate::ocpp::schema::{self as s, Ctx, FromJson, ocpp_actions};
pub use crate::ocpp::schema::{BoundedString, DateTime};

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
}

/// `CustomDataType`, the optional `customData` of every 2.0.1 object: the
/// one object the schemas leave open (no `additionalProperties: false`), so
/// vendors can add properties. `vendorId` is required; every other property
/// is kept as it came, in `extra`.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomData {
    pub vendor_id: BoundedString<255>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Serialize for CustomData {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(None)?;
        map.serialize_entry("vendorId", &self.vendor_id)?;
        for (k, v) in &self.extra {
            // `extra` never holds `vendorId` when parsed; one set by hand
            // would duplicate the key, so it is skipped.
            if k != "vendorId" {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl FromJson for CustomData {
    const EXPECTED: &'static str = "an object";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        struct V<'c>(&'c mut Ctx);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = CustomData;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomData, A::Error> {
                let cx = self.0;
                let mut vendor_id = None;
                let mut extra = serde_json::Map::new();
                while let Some(key) = map.next_key::<s::Key<'de>>()? {
                    if key.as_str() == "vendorId" {
                        vendor_id = Some(s::next_field(&mut map, cx, "vendorId")?);
                    } else {
                        // Any JSON is allowed here, so this cannot fail on a
                        // payload the frame parser accepted.
                        let value = map.next_value::<serde_json::Value>()?;
                        extra.insert(key.as_str().to_owned(), value);
                    }
                }
                match vendor_id {
                    Some(vendor_id) => Ok(CustomData { vendor_id, extra }),
                    None => Err(s::missing(cx, "vendorId")),
                }
            }
        }
        de.deserialize_map(V(cx))
    }
}

#[cfg(test)]
mod tests;
