//! Hand-picked cases; `tests/ocpp_schema_oracle.rs` covers every typed
//! message systematically against the schemas.

use super::*;
use crate::ocpp::ErrorCode;

#[test]
fn every_action_is_known_and_typed() {
    assert_eq!(Action::ALL.len(), 64);
    for a in Action::ALL {
        assert_eq!(Action::from_name(a.name()), Some(*a));
    }
    // Every action has types now, SetNetworkProfile among them (it was
    // answered NotSupported while types were kept by hand).
    let v = parse_request(Action::SetNetworkProfile, "{}").unwrap_err();
    assert_eq!(v.code, ErrorCode::OccurrenceConstraintViolation);
    // Unknown: no Action (NotImplemented).
    assert_eq!(Action::from_name("DiagnosticsStatusNotification"), None);
    assert_eq!(Action::TransactionEvent.sender(), Sender::ChargingStation);
    assert_eq!(Action::RequestStartTransaction.sender(), Sender::Csms);
    assert_eq!(Action::DataTransfer.sender(), Sender::Both);
}

#[test]
fn transaction_event() {
    let text = r#"{"eventType":"Started","timestamp":"2024-05-01T10:00:00.000Z",
        "triggerReason":"Authorized","seqNo":0,
        "transactionInfo":{"transactionId":"tx-1","chargingState":"Charging"},
        "idToken":{"idToken":"04A2B3","type":"ISO14443"},
        "evse":{"id":1,"connectorId":1},
        "meterValue":[{"timestamp":"2024-05-01T10:00:00Z","sampledValue":[{"value":0.0}]}]}"#;
    let Ok(Request::TransactionEvent(tx)) = parse_request(Action::TransactionEvent, text) else {
        panic!("refused")
    };
    assert_eq!(tx.event_type, TransactionEventEnum::Started);
    assert_eq!(tx.transaction_info.transaction_id.as_str(), "tx-1");
    assert_eq!(tx.id_token.map(|t| t.kind), Some(IdTokenEnum::Iso14443));

    let bad = text.replace(r#""connectorId":1}"#, r#""connectorId":"1"}"#);
    let v = parse_request(Action::TransactionEvent, &bad).unwrap_err();
    assert_eq!(v.code, ErrorCode::TypeConstraintViolation);
    assert_eq!(v.field.as_deref(), Some("evse.connectorId"));
    // The 2.0.1 spelling of the codes is the caller's business (error.rs).
    let missing = parse_request(Action::TransactionEvent, "{}").unwrap_err();
    assert_eq!(
        missing.code.as_str(crate::ocpp::OcppVersion::V201),
        "OccurrenceConstraintViolation"
    );
}

#[test]
fn custom_data_is_open_to_vendor_properties() {
    let text = r#"{"customData":{"vendorId":"com.example","anything":[1,{"x":null}]}}"#;
    let Ok(Request::Heartbeat(hb)) = parse_request(Action::Heartbeat, text) else {
        panic!("refused")
    };
    let custom = hb.custom_data.as_ref().expect("kept");
    assert_eq!(custom.vendor_id.as_str(), "com.example");
    assert_eq!(serde_json::to_string(&hb).unwrap(), text);
    let v = parse_request(Action::Heartbeat, r#"{"customData":{"anything":1}}"#).unwrap_err();
    assert_eq!(v.code, ErrorCode::OccurrenceConstraintViolation);
    assert_eq!(v.field.as_deref(), Some("customData.vendorId"));
    // Everywhere else, unknown properties are refused.
    let v = parse_request(Action::Heartbeat, r#"{"anything":1}"#).unwrap_err();
    assert_eq!(v.code, ErrorCode::FormatViolation);
}

#[test]
fn integers_accept_integer_valued_numbers() {
    // Draft-06: 1.0 is an integer, 1.5 is not.
    assert!(parse_request(Action::Reset, r#"{"type":"Immediate","evseId":1.0}"#).is_ok());
    let v = parse_request(Action::Reset, r#"{"type":"Immediate","evseId":1.5}"#).unwrap_err();
    assert_eq!(
        (v.code, v.field.as_deref()),
        (ErrorCode::TypeConstraintViolation, Some("evseId"))
    );
}

#[test]
fn boot_answer_serialises() {
    let answer = BootNotificationResponse {
        custom_data: None,
        current_time: DateTime::from_unix(0, 250_000_000).unwrap(),
        interval: 60,
        status: RegistrationStatusEnum::Accepted,
        status_info: None,
    };
    assert_eq!(
        serde_json::to_string(&Response::BootNotification(answer)).unwrap(),
        r#"{"currentTime":"1970-01-01T00:00:00.25Z","interval":60,"status":"Accepted"}"#
    );
}
