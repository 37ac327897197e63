//! The official JSON schema text of every request the gateway may send a
//! charge point (the CSMS's actions, and DataTransfer), per version, for
//! the status page's command form: it shows an operator the schema the
//! reactor will check the payload against. Embedded from the vendored
//! schemas (`tests/ocpp-schemas/`, the files the generated types come
//! from); a test keeps this table and the generated action lists equal.

use super::OcppVersion;

/// `(action, schema text)` pairs, one `include_str!` per file.
macro_rules! schema_table {
    ($dir:literal, $suffix:literal: $($action:ident)*) => {
        &[$((
            stringify!($action),
            include_str!(concat!(
                "../../tests/ocpp-schemas/", $dir, "/", stringify!($action), $suffix, ".json"
            )),
        ),)*]
    };
}

const V16: &[(&str, &str)] = schema_table!("v16", "":
    CancelReservation CertificateSigned ChangeAvailability ChangeConfiguration ClearCache
    ClearChargingProfile DataTransfer DeleteCertificate ExtendedTriggerMessage
    GetCompositeSchedule GetConfiguration GetDiagnostics GetInstalledCertificateIds
    GetLocalListVersion GetLog InstallCertificate RemoteStartTransaction RemoteStopTransaction
    ReserveNow Reset SendLocalList SetChargingProfile SignedUpdateFirmware TriggerMessage
    UnlockConnector UpdateFirmware
);

const V201: &[(&str, &str)] = schema_table!("v201", "Request":
    CancelReservation CertificateSigned ChangeAvailability ClearCache ClearChargingProfile
    ClearDisplayMessage ClearVariableMonitoring CostUpdated CustomerInformation DataTransfer
    DeleteCertificate GetBaseReport GetChargingProfiles GetCompositeSchedule GetDisplayMessages
    GetInstalledCertificateIds GetLocalListVersion GetLog GetMonitoringReport GetReport
    GetTransactionStatus GetVariables InstallCertificate PublishFirmware RequestStartTransaction
    RequestStopTransaction ReserveNow Reset SendLocalList SetChargingProfile SetDisplayMessage
    SetMonitoringBase SetMonitoringLevel SetNetworkProfile SetVariableMonitoring SetVariables
    TriggerMessage UnlockConnector UnpublishFirmware UpdateFirmware
);

const V21: &[(&str, &str)] = schema_table!("v21", "Request":
    AFRRSignal AdjustPeriodicEventStream CancelReservation CertificateSigned ChangeAvailability
    ChangeTransactionTariff ClearCache ClearChargingProfile ClearDERControl ClearDisplayMessage
    ClearTariffs ClearVariableMonitoring CostUpdated CustomerInformation DataTransfer
    DeleteCertificate GetBaseReport GetChargingProfiles GetCompositeSchedule GetDERControl
    GetDisplayMessages GetInstalledCertificateIds GetLocalListVersion GetLog GetMonitoringReport
    GetPeriodicEventStream GetReport GetTariffs GetTransactionStatus GetVariables
    InstallCertificate NotifyAllowedEnergyTransfer NotifyWebPaymentStarted PublishFirmware
    RequestBatterySwap RequestStartTransaction RequestStopTransaction ReserveNow Reset
    SendLocalList SetChargingProfile SetDERControl SetDefaultTariff SetDisplayMessage
    SetMonitoringBase SetMonitoringLevel SetNetworkProfile SetVariableMonitoring SetVariables
    TriggerMessage UnlockConnector UnpublishFirmware UpdateDynamicSchedule UpdateFirmware
    UsePriorityCharging
);

fn table(version: OcppVersion) -> &'static [(&'static str, &'static str)] {
    match version {
        OcppVersion::V16 => V16,
        OcppVersion::V201 => V201,
        OcppVersion::V21 => V21,
    }
}

/// The actions of `version` whose requests the gateway may send, by name.
pub fn sendable_actions(version: OcppVersion) -> impl Iterator<Item = &'static str> {
    table(version).iter().map(|(action, _)| *action)
}

/// The request schema of `action` in `version`, if the gateway may send it.
pub fn request_schema(version: OcppVersion, action: &str) -> Option<&'static str> {
    table(version)
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::{v16, v21, v201};

    /// The table names exactly the generated actions a charge point does
    /// not send (a schema update that adds one must add it here).
    #[test]
    fn the_table_matches_the_generated_actions() {
        let generated = |version| -> Vec<&'static str> {
            match version {
                OcppVersion::V16 => v16::Action::ALL
                    .iter()
                    .filter(|a| !a.is_send() && a.sender() != v16::Sender::ChargePoint)
                    .map(|a| a.name())
                    .collect(),
                OcppVersion::V201 => v201::Action::ALL
                    .iter()
                    .filter(|a| a.sender() != v201::Sender::ChargingStation)
                    .map(|a| a.name())
                    .collect(),
                OcppVersion::V21 => v21::Action::ALL
                    .iter()
                    .filter(|a| !a.is_send() && a.sender() != v21::Sender::ChargingStation)
                    .map(|a| a.name())
                    .collect(),
            }
        };
        for version in OcppVersion::ALL {
            let mut expected = generated(version);
            expected.sort_unstable();
            let mut listed: Vec<&str> = sendable_actions(version).collect();
            listed.sort_unstable();
            assert_eq!(listed, expected, "{version:?}");
            for action in listed {
                let text = request_schema(version, action).unwrap_or_default();
                let schema: serde_json::Value = serde_json::from_str(text).expect("schema JSON");
                assert!(
                    schema["properties"].is_object() || schema["type"] == "object",
                    "{action}"
                );
            }
        }
        assert!(request_schema(OcppVersion::V16, "BootNotification").is_none());
    }
}
