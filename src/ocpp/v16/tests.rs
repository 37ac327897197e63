//! Hand-picked cases; `tests/ocpp_schema_oracle.rs` covers every message
//! systematically against the schemas.

use super::*;
use crate::ocpp::ErrorCode;

fn refusal(action: Action, payload: &str) -> (ErrorCode, Option<String>) {
    let v = parse_request(action, payload).expect_err(payload);
    (v.code, v.field)
}

#[test]
fn action_names_and_senders() {
    assert_eq!(Action::ALL.len(), 39);
    for a in Action::ALL {
        assert_eq!(Action::from_name(a.name()), Some(*a));
    }
    assert_eq!(Action::from_name("Heartbeat"), Some(Action::Heartbeat));
    assert_eq!(Action::from_name("heartbeat"), None);
    assert_eq!(Action::from_name("TransactionEvent"), None);
    assert_eq!(Action::Heartbeat.sender(), Sender::ChargePoint);
    assert_eq!(Action::Reset.sender(), Sender::CentralSystem);
    assert_eq!(Action::DataTransfer.sender(), Sender::Both);
    assert_eq!(Action::SignCertificate.sender(), Sender::ChargePoint);
    assert_eq!(Action::SignedUpdateFirmware.sender(), Sender::CentralSystem);
}

#[test]
fn heartbeat_and_boot() {
    assert_eq!(
        parse_request(Action::Heartbeat, "{}"),
        Ok(Request::Heartbeat(HeartbeatRequest {}))
    );
    let boot = parse_request(
        Action::BootNotification,
        r#"{"chargePointVendor":"VendorX","chargePointModel":"M1","firmwareVersion":"1.2"}"#,
    );
    let Ok(Request::BootNotification(boot)) = boot else {
        panic!("{boot:?}")
    };
    assert_eq!(boot.charge_point_vendor.as_str(), "VendorX");
    assert_eq!(boot.firmware_version.as_deref(), Some("1.2"));
    assert_eq!(boot.imsi, None);
}

#[test]
fn responses_serialise_without_absent_fields() {
    let answer = BootNotificationResponse {
        status: RegistrationStatus::Accepted,
        current_time: DateTime::from_unix(1_700_000_000, 0).unwrap(),
        interval: 300,
    };
    assert_eq!(
        serde_json::to_string(&answer).unwrap(),
        r#"{"status":"Accepted","currentTime":"2023-11-14T22:13:20Z","interval":300}"#
    );
    let auth = AuthorizeResponse {
        id_tag_info: IdTagInfo {
            expiry_date: None,
            parent_id_tag: None,
            status: AuthorizationStatus::Accepted,
        },
    };
    assert_eq!(
        serde_json::to_string(&Response::Authorize(auth)).unwrap(),
        r#"{"idTagInfo":{"status":"Accepted"}}"#
    );
    assert_eq!(serde_json::to_string(&HeartbeatRequest {}).unwrap(), "{}");
}

#[test]
fn violations_name_the_field() {
    let v = parse_response(Action::Authorize, r#"{"idTagInfo":{"status":"Maybe"}}"#).unwrap_err();
    assert_eq!(v.code, ErrorCode::PropertyConstraintViolation);
    assert_eq!(v.field.as_deref(), Some("idTagInfo.status"));
    assert!(v.description.contains("ConcurrentTx"), "{}", v.description);

    let meter = r#"{"connectorId":1,"meterValue":[{"timestamp":"2024-01-01T00:00:00Z",
        "sampledValue":[{"value":"1"},{"value":"2","measurand":"Energy"}]}]}"#;
    assert_eq!(
        refusal(Action::MeterValues, meter),
        (
            ErrorCode::PropertyConstraintViolation,
            Some("meterValue[0].sampledValue[1].measurand".into())
        )
    );
    assert_eq!(
        refusal(Action::Authorize, "{}"),
        (
            ErrorCode::OccurrenceConstraintViolation,
            Some("idTag".into())
        )
    );
    assert_eq!(
        refusal(Action::Authorize, r#"{"idTag":"abc","extra":1}"#),
        (ErrorCode::FormatViolation, Some("extra".into()))
    );
    assert_eq!(
        refusal(Action::Authorize, r#"{"idTag":"123456789012345678901"}"#),
        (ErrorCode::PropertyConstraintViolation, Some("idTag".into()))
    );
    // maxLength counts characters: 20 two-byte characters fit.
    assert!(
        parse_request(
            Action::Authorize,
            &format!(r#"{{"idTag":"{}"}}"#, "é".repeat(20))
        )
        .is_ok()
    );
    assert_eq!(
        refusal(Action::Authorize, "[]"),
        (ErrorCode::FormatViolation, None)
    );
    // The 1.6 spelling of the codes is the caller's business (error.rs).
    assert_eq!(
        ErrorCode::OccurrenceConstraintViolation.as_str(crate::ocpp::OcppVersion::V16),
        "OccurenceConstraintViolation"
    );
}

#[test]
fn schema_quirks() {
    // MeterValues `sampledValue.value` is a string, even though it holds a number.
    let numeric_value = r#"{"connectorId":1,"meterValue":[{"timestamp":"2024-01-01T00:00:00Z","sampledValue":[{"value":12.5}]}]}"#;
    assert_eq!(
        refusal(Action::MeterValues, numeric_value),
        (
            ErrorCode::TypeConstraintViolation,
            Some("meterValue[0].sampledValue[0].value".into())
        )
    );
    // StopTransaction's copy of the unit enum lacks "Hertz"; MeterValues has it.
    let hz = r#"{"value":"50","unit":"Hertz"}"#;
    let mv = format!(
        r#"{{"connectorId":1,"meterValue":[{{"timestamp":"2024-01-01T00:00:00Z","sampledValue":[{hz}]}}]}}"#
    );
    assert!(parse_request(Action::MeterValues, &mv).is_ok());
    let stop = format!(
        r#"{{"meterStop":1,"timestamp":"2024-01-01T00:00:00Z","transactionId":7,
            "transactionData":[{{"timestamp":"2024-01-01T00:00:00Z","sampledValue":[{hz}]}}]}}"#
    );
    assert_eq!(
        refusal(Action::StopTransaction, &stop),
        (
            ErrorCode::PropertyConstraintViolation,
            Some("transactionData[0].sampledValue[0].unit".into())
        )
    );
}

#[test]
fn integers_follow_the_schema_draft() {
    assert_eq!(
        refusal(Action::CancelReservation, r#"{"reservationId":1.0}"#),
        (
            ErrorCode::TypeConstraintViolation,
            Some("reservationId".into())
        )
    );
    assert_eq!(
        refusal(Action::CancelReservation, r#"{"reservationId":1.5}"#),
        (
            ErrorCode::TypeConstraintViolation,
            Some("reservationId".into())
        )
    );
    assert!(parse_request(Action::CancelReservation, r#"{"reservationId":-3}"#).is_ok());
    // GetLog is a security extension message (draft-06).
    let get_log =
        r#"{"logType":"SecurityLog","requestId":1.0,"log":{"remoteLocation":"ftp://x/y"}}"#;
    let Ok(Request::GetLog(get_log)) = parse_request(Action::GetLog, get_log) else {
        panic!("draft-06 integer 1.0 refused")
    };
    assert_eq!(get_log.request_id, 1);
    assert_eq!(
        refusal(
            Action::GetLog,
            r#"{"logType":"SecurityLog","requestId":1.5,"log":{"remoteLocation":"x"}}"#
        ),
        (ErrorCode::TypeConstraintViolation, Some("requestId".into()))
    );
}

#[test]
fn charging_limits_are_multiples_of_a_tenth() {
    let profile = |limit: &str| {
        format!(
            r#"{{"connectorId":1,"csChargingProfiles":{{"chargingProfileId":1,"stackLevel":0,
            "chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute",
            "chargingSchedule":{{"chargingRateUnit":"A","chargingSchedulePeriod":[{{"startPeriod":0,"limit":{limit}}}]}}}}}}"#
        )
    };
    assert!(parse_request(Action::SetChargingProfile, &profile("16.3")).is_ok());
    assert!(parse_request(Action::SetChargingProfile, &profile("32")).is_ok());
    assert_eq!(
        refusal(Action::SetChargingProfile, &profile("16.25")),
        (
            ErrorCode::PropertyConstraintViolation,
            Some("csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit".into())
        )
    );
}

#[test]
fn requests_serialise_for_the_admin_api() {
    let reset = Request::Reset(ResetRequest {
        kind: ResetType::Soft,
    });
    let text = serde_json::to_string(&reset).unwrap();
    assert_eq!(text, r#"{"type":"Soft"}"#);
    assert_eq!(parse_request(Action::Reset, &text), Ok(reset));
}
