//! The local answer policy: what the gateway itself answers to a
//! charge-point CALL when no backend decides.
//!
//! Order of checks, per DESIGN.md: an action unknown to the connection's
//! version is `NotImplemented`; a known action that a charge point may not
//! send, or that the gateway does not handle, is `NotSupported`; a payload
//! that breaks the action's schema gets the violation's code and field.
//! Only then is an answer decided. Answers are written as JSON text
//! directly (no intermediate tree); a unit test checks every one against
//! the action's response schema.

use std::sync::Arc;
use std::time::SystemTime;

use super::transaction_ids::TransactionIds;
use crate::config::{BootFacts, Config, ProfileTable};
use crate::cross_thread::{BootInfo, Reloadable};
use crate::ocpp::schema::{Lenience, Tolerated};
use crate::ocpp::{ErrorCode, OcppVersion, Violation, v16, v21, v201};

/// A charge point's CALL (or SEND) as the policy judges it.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    pub version: OcppVersion,
    pub charge_point: &'a str,
    pub action: &'a str,
    pub payload: &'a str,
    /// What its profile tolerates.
    pub lenience: Lenience,
}

/// A decided CALLRESULT.
#[derive(Debug)]
pub struct Answer {
    /// JSON object text.
    pub payload: String,
    /// Set for an accepted BootNotification.
    pub boot: Option<Box<BootInfo>>,
    /// What lenient mode let through in the CALL.
    pub tolerated: Tolerated,
}

/// A valid CALL the backend answers.
#[derive(Debug)]
pub struct Checked {
    /// What a BootNotification says.
    pub boot: Option<Box<BootInfo>>,
    pub tolerated: Tolerated,
}

impl Answer {
    fn new(payload: String, tolerated: Tolerated) -> Answer {
        Answer {
            payload,
            boot: None,
            tolerated,
        }
    }
}

pub struct Policy {
    /// `[[profiles]]` in force over the global settings: the boot answer's
    /// `interval` is the charge point's `heartbeat_interval`. Read (an
    /// `Arc` clone) at BootNotification only, never for other CALLs.
    profiles: Arc<Reloadable<ProfileTable>>,
    data_transfer_vendors: Vec<String>,
    transaction_ids: TransactionIds,
}

/// Now as OCPP's `dateTime` (RFC 3339 UTC, milliseconds), formatted
/// straight into an answer (no intermediate String).
fn now_rfc3339_display() -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_millis(SystemTime::now())
}

const ACCEPTED_ID_TAG: &str = r#"{"idTagInfo":{"status":"Accepted"}}"#;
const ACCEPTED_ID_TOKEN: &str = r#"{"idTokenInfo":{"status":"Accepted"}}"#;

fn unknown_action(version: OcppVersion, action: &str) -> Violation {
    Violation::new(
        ErrorCode::NotImplemented,
        format!("action {action:?} is not part of {version}"),
    )
}

fn not_handled(action: &str, why: &str) -> Violation {
    Violation::new(ErrorCode::NotSupported, format!("action {action} {why}"))
}

/// What a parse of a BootNotification says about the charge point.
fn facts(boot: &BootInfo) -> BootFacts<'_> {
    BootFacts {
        vendor: &boot.vendor,
        model: &boot.model,
        firmware_version: boot.firmware_version.as_deref(),
    }
}

fn boot_info_v16(boot: &v16::BootNotificationRequest) -> Box<BootInfo> {
    Box::new(BootInfo {
        vendor: boot.charge_point_vendor.to_string(),
        model: boot.charge_point_model.to_string(),
        serial_number: boot
            .charge_point_serial_number
            .as_ref()
            .map(|s| s.to_string()),
        firmware_version: boot.firmware_version.as_ref().map(|s| s.to_string()),
    })
}

/// The policy of a 2.x version, one expansion per module: the two
/// versions' types are distinct (generated per schema set) while the rules
/// are the same, so they are written once.
macro_rules! v2_answers {
    ($( $(#[$doc:meta])* $module:ident: $parse:ident, $answer:ident, $check:ident, $boot:ident, $version:expr; )*) => {
        $(
            $(#[$doc])*
            fn $boot(boot: $module::BootNotificationRequest) -> Box<BootInfo> {
                let station = boot.charging_station;
                Box::new(BootInfo {
                    vendor: station.vendor_name.to_string(),
                    model: station.model.to_string(),
                    serial_number: station.serial_number.map(|s| s.to_string()),
                    firmware_version: station.firmware_version.map(|s| s.to_string()),
                })
            }

            impl Policy {
                /// The payload of a CALL of `action`, schema-checked under
                /// the charge point's lenience.
                fn $parse(
                    &self,
                    call: &Incoming<'_>,
                    action: $module::Action,
                ) -> Result<($module::Request, Tolerated), Violation> {
                    use $module::{Action, Request};
                    self.parse_with(
                        call,
                        action == Action::BootNotification,
                        |lenience| $module::parse_request_lenient(action, call.payload, lenience),
                        |request| match request {
                            Request::BootNotification(boot) => Some($boot(boot.clone())),
                            _ => None,
                        },
                    )
                }

                /// A CALL the gateway may not answer itself for the version's
                /// reasons: unknown, sent by a CSMS (or a SEND), or not handled.
                fn $check(&self, call: &Incoming<'_>) -> Result<Checked, Violation> {
                    let name = call.action;
                    let action = $module::Action::from_name(name)
                        .ok_or_else(|| unknown_action($version, name))?;
                    if action.sender() == $module::Sender::Csms {
                        return Err(not_handled(name, "is sent by a CSMS, not a charging station"));
                    }
                    if action.is_send() {
                        return Err(not_handled(name, "is a SEND (type 6), not a CALL"));
                    }
                    let (request, tolerated) = self.$parse(call, action)?;
                    let boot = match request {
                        $module::Request::BootNotification(boot) => Some($boot(boot)),
                        _ => None,
                    };
                    Ok(Checked { boot, tolerated })
                }

                fn $answer(&self, call: &Incoming<'_>) -> Result<Answer, Violation> {
                    use $module::{Action, Request};
                    let name = call.action;
                    let action = Action::from_name(name)
                        .ok_or_else(|| unknown_action($version, name))?;
                    if action.sender() == $module::Sender::Csms {
                        return Err(not_handled(name, "is sent by a CSMS, not a charging station"));
                    }
                    if action.is_send() {
                        return Err(not_handled(name, "is a SEND (type 6), not a CALL"));
                    }
                    // The CALLs answered here: the ones a charging station
                    // sends first. The others are checked against their
                    // schema when the backend answers them (`check`).
                    let answered_here = matches!(
                        action,
                        Action::Authorize
                            | Action::BootNotification
                            | Action::DataTransfer
                            | Action::FirmwareStatusNotification
                            | Action::Heartbeat
                            | Action::LogStatusNotification
                            | Action::MeterValues
                            | Action::NotifyEvent
                            | Action::NotifyReport
                            | Action::SecurityEventNotification
                            | Action::StatusNotification
                            | Action::TransactionEvent
                    );
                    if !answered_here {
                        return Err(not_handled(name, "is not handled by this gateway"));
                    }
                    let (request, tolerated) = self.$parse(call, action)?;
                    Ok(Answer::new(match request {
                        Request::BootNotification(boot) => {
                            return Ok(self.boot_accepted(call, $boot(boot), tolerated));
                        }
                        Request::Heartbeat(_) => {
                            format!(r#"{{"currentTime":"{}"}}"#, now_rfc3339_display())
                        }
                        Request::Authorize(_) => ACCEPTED_ID_TOKEN.to_owned(),
                        // idTokenInfo answers an idToken; without one there is nothing to authorise.
                        Request::TransactionEvent(request) if request.id_token.is_some() => {
                            ACCEPTED_ID_TOKEN.to_owned()
                        }
                        Request::DataTransfer(request) => self.data_transfer_status(&request.vendor_id),
                        // The rest of `answered_here`: notifications, answered empty.
                        _ => "{}".to_owned(),
                    }, tolerated))
                }
            }
        )*
    };
}

impl Policy {
    pub fn new(
        config: &Config,
        profiles: Arc<Reloadable<ProfileTable>>,
    ) -> std::io::Result<Policy> {
        Ok(Policy {
            profiles,
            data_transfer_vendors: config.ocpp.data_transfer_vendors.clone(),
            transaction_ids: TransactionIds::open(&config.ocpp.transaction_id_file)?,
        })
    }

    /// The CALLRESULT for a charge point's CALL, or why not.
    pub fn answer(&self, call: &Incoming<'_>) -> Result<Answer, Violation> {
        match call.version {
            OcppVersion::V16 => self.answer_v16(call),
            OcppVersion::V201 => self.answer_v201(call),
            OcppVersion::V21 => self.answer_v21(call),
        }
    }

    /// Checks an OCPP 2.1 SEND (type 6): the action must be one defined as
    /// a SEND, sent by a charging station, and the payload valid. A SEND is
    /// never answered, so `Err` only tells the caller what to log.
    pub fn check_send(&self, call: &Incoming<'_>) -> Result<Tolerated, Violation> {
        let (version, action) = (call.version, call.action);
        if version != OcppVersion::V21 {
            // The reactor refuses type 6 on the other versions (parse_for).
            return Err(Violation::new(
                ErrorCode::MessageTypeNotSupported,
                format!("{version} has no SEND messages"),
            ));
        }
        let parsed =
            v21::Action::from_name(action).ok_or_else(|| unknown_action(version, action))?;
        if !parsed.is_send() || parsed.sender() == v21::Sender::Csms {
            return Err(not_handled(
                action,
                "is not a SEND a charging station sends",
            ));
        }
        v21::parse_request_lenient(parsed, call.payload, call.lenience).map(|(_, t)| t)
    }

    /// Parses a CALL's payload under the charge point's lenience. A
    /// BootNotification it refuses gets a second chance under the
    /// lenience of the profile its own vendor, model and firmware select:
    /// a profile matching on them applies from the boot on, and the boot
    /// that names the vendor is the first CALL it must cover. (On the
    /// error path only: a valid payload is parsed once.)
    fn parse_with<R>(
        &self,
        call: &Incoming<'_>,
        is_boot: bool,
        parse: impl Fn(Lenience) -> Result<(R, Tolerated), Violation>,
        boot_of: impl Fn(&R) -> Option<Box<BootInfo>>,
    ) -> Result<(R, Tolerated), Violation> {
        let violation = match parse(call.lenience) {
            Ok(parsed) => return Ok(parsed),
            Err(violation) => violation,
        };
        if !is_boot {
            return Err(violation);
        }
        let Some(boot) = parse(Lenience::ALL).ok().and_then(|(r, _)| boot_of(&r)) else {
            return Err(violation);
        };
        let profiles = self.profiles.current();
        let chosen = profiles
            .settings(profiles.matching(call.charge_point, Some(facts(&boot))))
            .lenience;
        if chosen == call.lenience {
            return Err(violation);
        }
        parse(chosen)
    }

    fn data_transfer_status(&self, vendor_id: &str) -> String {
        let known = self.data_transfer_vendors.iter().any(|v| v == vendor_id);
        let status = if known { "Accepted" } else { "UnknownVendorId" };
        format!(r#"{{"status":"{status}"}}"#)
    }

    /// The answer to an accepted BootNotification, with what it said.
    fn boot_accepted(
        &self,
        call: &Incoming<'_>,
        boot: Box<BootInfo>,
        tolerated: Tolerated,
    ) -> Answer {
        Answer {
            payload: self.boot_answer(call.charge_point, &boot),
            boot: Some(boot),
            tolerated,
        }
    }

    /// The gateway's own BootNotification answer: `interval` from the
    /// first profile matching the charge point and what it just said, else
    /// `ocpp.heartbeat_interval`.
    fn boot_answer(&self, charge_point: &str, boot: &BootInfo) -> String {
        let profiles = self.profiles.current();
        let interval = profiles
            .settings(profiles.matching(charge_point, Some(facts(boot))))
            .heartbeat_interval
            .as_secs();
        format!(
            r#"{{"status":"Accepted","currentTime":"{}","interval":{interval}}}"#,
            now_rfc3339_display(),
        )
    }

    /// Checks a CALL the way [`answer`](Self::answer) does (unknown
    /// action, wrong direction, schema) without deciding an answer: for
    /// CALLs the backend answers.
    pub fn check(&self, call: &Incoming<'_>) -> Result<Checked, Violation> {
        match call.version {
            OcppVersion::V16 => {
                let (request, tolerated) = self.parse_v16(call)?;
                let boot = match request {
                    v16::Request::BootNotification(boot) => Some(boot_info_v16(&boot)),
                    _ => None,
                };
                Ok(Checked { boot, tolerated })
            }
            OcppVersion::V201 => self.check_v201(call),
            OcppVersion::V21 => self.check_v21(call),
        }
    }

    /// A 1.6 CALL from a charge point, read and schema-checked.
    fn parse_v16(&self, call: &Incoming<'_>) -> Result<(v16::Request, Tolerated), Violation> {
        let name = call.action;
        let action =
            v16::Action::from_name(name).ok_or_else(|| unknown_action(OcppVersion::V16, name))?;
        if action.sender() == v16::Sender::CentralSystem {
            return Err(not_handled(
                name,
                "is sent by a central system, not a charge point",
            ));
        }
        self.parse_with(
            call,
            action == v16::Action::BootNotification,
            |lenience| v16::parse_request_lenient(action, call.payload, lenience),
            |request| match request {
                v16::Request::BootNotification(boot) => Some(boot_info_v16(boot)),
                _ => None,
            },
        )
    }

    fn answer_v16(&self, call: &Incoming<'_>) -> Result<Answer, Violation> {
        use v16::Request;
        let (request, tolerated) = self.parse_v16(call)?;
        Ok(Answer::new(
            match request {
                Request::BootNotification(boot) => {
                    return Ok(self.boot_accepted(call, boot_info_v16(&boot), tolerated));
                }
                Request::Heartbeat(_) => {
                    format!(r#"{{"currentTime":"{}"}}"#, now_rfc3339_display())
                }
                Request::StatusNotification(_)
                | Request::MeterValues(_)
                | Request::DiagnosticsStatusNotification(_)
                | Request::FirmwareStatusNotification(_)
                | Request::LogStatusNotification(_)
                | Request::SecurityEventNotification(_)
                | Request::SignedFirmwareStatusNotification(_) => "{}".to_owned(),
                Request::Authorize(_) | Request::StopTransaction(_) => ACCEPTED_ID_TAG.to_owned(),
                Request::StartTransaction(_) => {
                    let id = self.transaction_ids.next().map_err(|e| {
                        Violation::new(ErrorCode::InternalError, format!("no transactionId: {e}"))
                    })?;
                    format!(r#"{{"idTagInfo":{{"status":"Accepted"}},"transactionId":{id}}}"#)
                }
                Request::DataTransfer(request) => self.data_transfer_status(&request.vendor_id),
                _ => return Err(not_handled(call.action, "is not handled by this gateway")),
            },
            tolerated,
        ))
    }
}

v2_answers! {
    /// OCPP 2.0.1.
    v201: parse_v201, answer_v201, check_v201, boot_info_v201, OcppVersion::V201;
    /// OCPP 2.1: the messages a charging station sends first have the same
    /// shape as in 2.0.1 (2.1 adds optional fields) and get the same answers.
    v21: parse_v21, answer_v21, check_v21, boot_info_v21, OcppVersion::V21;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(version: OcppVersion, action: &'a str, payload: &'a str) -> Incoming<'a> {
        Incoming {
            version,
            charge_point: "CP-1",
            action,
            payload,
            lenience: Lenience::STRICT,
        }
    }

    fn policy() -> Policy {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("policy-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config::default();
        config.ocpp.transaction_id_file = dir.join("txid");
        config.ocpp.data_transfer_vendors = vec!["acme".into()];
        let profiles = Arc::new(Reloadable::new(config.profile_table(Vec::new())));
        Policy::new(&config, profiles).unwrap()
    }

    /// Every local answer is valid against the action's response schema.
    #[test]
    fn every_answer_is_schema_valid() {
        let p = policy();
        let v16_calls = [
            (
                "BootNotification",
                r#"{"chargePointVendor":"v","chargePointModel":"m"}"#,
            ),
            ("Heartbeat", "{}"),
            (
                "StatusNotification",
                r#"{"connectorId":0,"errorCode":"NoError","status":"Available"}"#,
            ),
            (
                "MeterValues",
                r#"{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1"}]}]}"#,
            ),
            ("DiagnosticsStatusNotification", r#"{"status":"Idle"}"#),
            ("FirmwareStatusNotification", r#"{"status":"Idle"}"#),
            ("Authorize", r#"{"idTag":"T"}"#),
            (
                "StartTransaction",
                r#"{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#,
            ),
            (
                "StopTransaction",
                r#"{"transactionId":1,"meterStop":5,"timestamp":"2026-01-01T00:00:00Z"}"#,
            ),
            ("DataTransfer", r#"{"vendorId":"acme"}"#),
            (
                "SecurityEventNotification",
                r#"{"type":"x","timestamp":"2026-01-01T00:00:00Z"}"#,
            ),
        ];
        for (name, payload) in v16_calls {
            let answer = p
                .answer(&call(OcppVersion::V16, name, payload))
                .unwrap_or_else(|v| panic!("{name}: {v:?}"));
            let action = v16::Action::from_name(name).unwrap();
            v16::parse_response(action, &answer.payload)
                .unwrap_or_else(|v| panic!("{name} answer {} is invalid: {v:?}", answer.payload));
        }
        let v201_calls = [
            (
                "BootNotification",
                r#"{"chargingStation":{"model":"m","vendorName":"v"},"reason":"PowerUp"}"#,
            ),
            ("Heartbeat", "{}"),
            (
                "Authorize",
                r#"{"idToken":{"idToken":"T","type":"ISO14443"}}"#,
            ),
            ("DataTransfer", r#"{"vendorId":"other"}"#),
        ];
        for (name, payload) in v201_calls {
            let answer = p
                .answer(&call(OcppVersion::V201, name, payload))
                .unwrap_or_else(|v| panic!("{name}: {v:?}"));
            let action = v201::Action::from_name(name).unwrap();
            v201::parse_response(action, &answer.payload).unwrap_or_else(|v| {
                panic!("2.0.1 {name} answer {} is invalid: {v:?}", answer.payload)
            });
        }
        let v21_calls = v201_calls.into_iter().chain([
            (
                "StatusNotification",
                r#"{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":1,"connectorId":1}"#,
            ),
            (
                "TransactionEvent",
                r#"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"t"},"idToken":{"idToken":"T","type":"ISO14443"}}"#,
            ),
            (
                "TransactionEvent",
                r#"{"eventType":"Ended","timestamp":"2026-01-01T00:00:00Z","triggerReason":"EVDeparted","seqNo":2,"transactionInfo":{"transactionId":"t"}}"#,
            ),
            (
                "SecurityEventNotification",
                r#"{"type":"x","timestamp":"2026-01-01T00:00:00Z"}"#,
            ),
        ]);
        for (name, payload) in v21_calls {
            let answer = p
                .answer(&call(OcppVersion::V21, name, payload))
                .unwrap_or_else(|v| panic!("2.1 {name}: {v:?}"));
            let action = v21::Action::from_name(name).unwrap();
            v21::parse_response(action, &answer.payload).unwrap_or_else(|v| {
                panic!("2.1 {name} answer {} is invalid: {v:?}", answer.payload)
            });
        }
    }

    #[test]
    fn refusals_in_the_order_of_the_design() {
        let p = policy();
        let code = |v, name, payload| p.answer(&call(v, name, payload)).unwrap_err().code;
        use OcppVersion::*;
        assert_eq!(code(V16, "Teleport", "{}"), ErrorCode::NotImplemented);
        assert_eq!(
            code(V16, "Reset", r#"{"type":"Soft"}"#),
            ErrorCode::NotSupported
        );
        assert_eq!(
            code(V16, "Authorize", "{}"),
            ErrorCode::OccurrenceConstraintViolation
        );
        assert_eq!(
            code(V16, "Authorize", r#"{"idTag":5}"#),
            ErrorCode::TypeConstraintViolation
        );
        assert_eq!(code(V201, "Teleport", "{}"), ErrorCode::NotImplemented);
        assert_eq!(
            code(V201, "NotifyChargingLimit", "{}"),
            ErrorCode::NotSupported
        );
        assert_eq!(code(V21, "Teleport", "{}"), ErrorCode::NotImplemented);
        assert_eq!(code(V21, "SetDERControl", "{}"), ErrorCode::NotSupported);
        assert_eq!(code(V21, "NotifySettlement", "{}"), ErrorCode::NotSupported);
        // A SEND's action sent as a CALL.
        assert_eq!(
            code(V21, "NotifyPeriodicEventStream", "{}"),
            ErrorCode::NotSupported
        );
        assert_eq!(
            code(V21, "Heartbeat", r#"{"x":1}"#),
            ErrorCode::FormatViolation
        );
    }

    #[test]
    fn sends_are_checked_not_answered() {
        let p = policy();
        let stream =
            r#"{"id":1,"pending":0,"basetime":"2026-01-01T00:00:00Z","data":[{"t":0,"v":"1"}]}"#;
        assert_eq!(
            p.check_send(&call(OcppVersion::V21, "NotifyPeriodicEventStream", stream)),
            Ok(Tolerated::default())
        );
        let code = |action, payload| {
            p.check_send(&call(OcppVersion::V21, action, payload))
                .unwrap_err()
                .code
        };
        assert_eq!(
            code("NotifyPeriodicEventStream", "{}"),
            ErrorCode::OccurrenceConstraintViolation
        );
        assert_eq!(code("Heartbeat", "{}"), ErrorCode::NotSupported);
        assert_eq!(code("Teleport", "{}"), ErrorCode::NotImplemented);
        assert!(
            p.check_send(&call(
                OcppVersion::V201,
                "NotifyPeriodicEventStream",
                stream
            ))
            .is_err()
        );
    }
}
