//! A charge point's day: every OCPP 1.6 call it makes, answered field by field.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::json;

/// Parses an OCPP dateTime and checks it is close to now.
fn assert_recent(value: &serde_json::Value) {
    let text = value.as_str().expect("dateTime is a string");
    let at = humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let skew = SystemTime::now()
        .duration_since(at)
        .unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(5), "{text} is not now");
}

#[test]
fn boot_heartbeat_status_authorize_start_meter_stop() {
    let mut config = test_config();
    config.ocpp.heartbeat_interval = Duration::from_secs(120);
    let gw = start(config);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-DAY");

    let boot = cp.boot();
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"], 120);
    assert_recent(&boot["currentTime"]);
    assert_eq!(boot.as_object().unwrap().len(), 3, "{boot}");

    let hb = cp.call_ok("Heartbeat", json!({}));
    assert_recent(&hb["currentTime"]);
    assert_eq!(hb.as_object().unwrap().len(), 1);

    let status = cp.call_ok(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    );
    assert_eq!(status, json!({}));

    let auth = cp.call_ok("Authorize", json!({"idTag": "TAG-1"}));
    assert_eq!(auth, json!({"idTagInfo": {"status": "Accepted"}}));

    let start_tx = cp.call_ok(
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "TAG-1", "meterStart": 100,
               "timestamp": "2026-11-24T10:00:00Z"}),
    );
    assert_eq!(start_tx["idTagInfo"], json!({"status": "Accepted"}));
    let tx = start_tx["transactionId"]
        .as_i64()
        .expect("integer transactionId");

    let again = cp.call_ok(
        "StartTransaction",
        json!({"connectorId": 2, "idTag": "TAG-2", "meterStart": 0,
               "timestamp": "2026-11-24T10:00:01Z"}),
    );
    assert_ne!(
        again["transactionId"].as_i64(),
        Some(tx),
        "transactionIds repeat"
    );

    let meter = cp.call_ok(
        "MeterValues",
        json!({"connectorId": 1, "transactionId": tx, "meterValue": [{
            "timestamp": "2026-11-24T10:05:00Z",
            "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
        }]}),
    );
    assert_eq!(meter, json!({}));

    let stop_tx = cp.call_ok(
        "StopTransaction",
        json!({"transactionId": tx, "idTag": "TAG-1", "meterStop": 1334,
               "timestamp": "2026-11-24T10:10:00Z", "reason": "Local"}),
    );
    assert_eq!(stop_tx["idTagInfo"], json!({"status": "Accepted"}));

    for (action, payload) in [
        ("DiagnosticsStatusNotification", json!({"status": "Idle"})),
        ("FirmwareStatusNotification", json!({"status": "Installed"})),
    ] {
        assert_eq!(cp.call_ok(action, payload), json!({}), "{action}");
    }
    cp.close();
    stop(gw);
}

#[test]
fn data_transfer_knows_only_configured_vendors() {
    let mut config = test_config();
    config.ocpp.data_transfer_vendors = vec!["com.example".into()];
    let gw = start(config);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-DT");
    let known = cp.call_ok(
        "DataTransfer",
        json!({"vendorId": "com.example", "data": "x"}),
    );
    assert_eq!(known, json!({"status": "Accepted"}));
    let unknown = cp.call_ok("DataTransfer", json!({"vendorId": "org.other"}));
    assert_eq!(unknown, json!({"status": "UnknownVendorId"}));
    cp.close();
    stop(gw);
}

#[test]
fn unknown_and_unhandled_actions_get_their_own_errors() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-ERR");
    let answer = cp.call("FlyToTheMoon", json!({}));
    assert_eq!(answer[0], 4);
    assert_eq!(answer[2], "NotImplemented");
    assert!(answer[3].as_str().unwrap().contains("FlyToTheMoon"));
    assert!(answer[4].is_object());

    // Reset is a real OCPP 1.6 action, but one a central system sends.
    let answer = cp.call("Reset", json!({"type": "Soft"}));
    assert_eq!(answer[2], "NotSupported");

    // The connection is still usable afterwards.
    assert_eq!(cp.boot()["status"], "Accepted");
    cp.close();
    stop(gw);
}

#[test]
fn broken_frames_are_answered_and_the_connection_stays() {
    let gw = start(test_config());
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-BAD");
    cp.send_text(r#"[2,"m-1","Heartbeat"]"#);
    let answer = cp.recv();
    assert_eq!(answer[0], 4);
    assert_eq!(answer[1], "m-1");
    assert_eq!(answer[2], "FormationViolation");

    let long_id = "x".repeat(37);
    cp.send_text(&format!(r#"[2,"{long_id}","Heartbeat",{{}}]"#));
    let answer = cp.recv();
    assert_eq!(answer[1], long_id.as_str());
    assert_eq!(answer[2], "FormationViolation");

    // Unreadable frames and unknown message types are ignored on 1.6 (§4.1.3):
    // the next answer the charge point sees is the Heartbeat's.
    cp.send_text("this is not json");
    cp.send_text(r#"[9,"m-2",{}]"#);
    let hb = cp.call("Heartbeat", json!({}));
    assert_eq!(hb[0], 3);
    cp.close();
    stop(gw);
}

#[test]
fn a_panicking_handler_is_answered_internal_error_and_the_pool_lives_on() {
    let extensions = ocpp_gateway::Extensions {
        before_answer: Some(Arc::new(|action: &str| {
            if action == "Authorize" {
                panic!("handler bug (deliberate, in a test)");
            }
        })),
    };
    let mut config = test_config();
    config.processors.threads = 1;
    let gw = start_with(config, extensions);
    let mut cp = ChargePoint::connect(gw.local_addr(), "CP-PANIC");
    for _ in 0..3 {
        let answer = cp.call("Authorize", json!({"idTag": "T"}));
        assert_eq!(answer[0], 4);
        assert_eq!(answer[2], "InternalError");
    }
    // The single processor thread survived three panics.
    assert_eq!(cp.boot()["status"], "Accepted");
    cp.close();
    stop(gw);
}
