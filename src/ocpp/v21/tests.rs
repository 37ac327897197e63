use super::*;
use crate::ocpp::ErrorCode;

#[test]
fn send_messages_have_a_request_and_no_response() {
    let a = Action::from_name("NotifyPeriodicEventStream").expect("a 2.1 action");
    assert!(a.is_send());
    assert_eq!(a.sender(), Sender::ChargingStation);
    let payload =
        r#"{"id":1,"pending":0,"basetime":"2025-01-01T00:00:00Z","data":[{"t":0.5,"v":"1"}]}"#;
    match parse_request(a, payload) {
        Ok(Request::NotifyPeriodicEventStream(r)) => assert_eq!(r.data.len(), 1),
        other => panic!("{other:?}"),
    }
    let err = parse_response(a, "{}").expect_err("never answered");
    assert_eq!(err.code, ErrorCode::NotSupported);
    assert_eq!(Action::ALL.iter().filter(|a| a.is_send()).count(), 1);
}

#[test]
fn every_action_has_a_sender() {
    assert_eq!(Action::ALL.len(), 91);
    assert_eq!(Action::DataTransfer.sender(), Sender::Both);
    assert_eq!(Action::AFRRSignal.sender(), Sender::Csms);
    assert_eq!(Action::BatterySwap.sender(), Sender::ChargingStation);
}

#[test]
fn boot_notification_reads_like_v201() {
    let payload = r#"{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V","serialNumber":"S","firmwareVersion":"1"}}"#;
    let Ok(Request::BootNotification(b)) = parse_request(Action::BootNotification, payload) else {
        panic!("valid BootNotification refused");
    };
    assert_eq!(b.charging_station.vendor_name.as_str(), "V");
    assert_eq!(b.charging_station.model.as_str(), "M");
    assert_eq!(b.charging_station.serial_number.as_deref(), Some("S"));
    assert_eq!(b.charging_station.firmware_version.as_deref(), Some("1"));
}
