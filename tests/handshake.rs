//! The upgrade: paths, ids and subprotocols, as a charge point sees them.

mod common;

use common::*;
use tungstenite::Message;

#[test]
fn subprotocol_is_chosen_in_the_clients_order() {
    let gw = start(test_config());
    let addr = gw.local_addr();

    let (_ws, response) = connect(addr, "/ocpp/CP-1", &["ocpp1.6"]).unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "ocpp1.6");

    // 2.0.1 is not enabled in this config, so the client's second choice wins.
    let (_ws, response) = connect(addr, "/ocpp/CP-2", &["ocpp2.0.1", "ocpp1.6"]).unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "ocpp1.6");

    let mut config = test_config();
    config.ocpp.subprotocols = vec![
        ocpp_gateway::ocpp::OcppVersion::V16,
        ocpp_gateway::ocpp::OcppVersion::V201,
    ];
    let both = start(config);
    let (_ws, response) =
        connect(both.local_addr(), "/ocpp/CP-3", &["ocpp2.0.1", "ocpp1.6"]).unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "ocpp2.0.1");
    stop(both);
    stop(gw);
}

#[test]
fn no_acceptable_subprotocol_is_upgraded_then_closed_1002() {
    let gw = start(test_config());
    for offered in [&[][..], &["ocpp1.5", "mqtt"][..]] {
        let (mut ws, head) = raw_upgrade(gw.local_addr(), "/ocpp/CP-9", offered);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
            "{head}"
        );
        match ws.read().expect("close frame") {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1002),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    stop(gw);
}

#[test]
fn assume_ocpp16_lets_old_firmware_in() {
    let mut config = test_config();
    config.ocpp.missing_subprotocol = ocpp_gateway::config::MissingSubprotocol::AssumeOcpp16;
    let gw = start(config);
    let (ws, response) = connect(gw.local_addr(), "/ocpp/OLD-1", &[]).unwrap();
    assert_eq!(response.status(), 101);
    assert!(response.headers().get("Sec-WebSocket-Protocol").is_none());
    let mut cp = ChargePoint::from_ws(ws, "OLD-1");
    assert_eq!(cp.boot()["status"], "Accepted");
    stop(gw);
}

#[test]
fn bad_paths_and_ids_get_http_errors() {
    let gw = start(test_config());
    let addr = gw.local_addr();
    let status = |path: &str| connect(addr, path, &["ocpp1.6"]).err();
    assert_eq!(status("/wrong/CP-1"), Some(404));
    assert_eq!(status("/ocppx/CP-1"), Some(404));
    assert_eq!(status("/ocpp/"), Some(400));
    assert_eq!(status(&format!("/ocpp/{}", "A".repeat(49))), Some(400));
    assert_eq!(status("/ocpp/bad%2Fid"), Some(400));
    assert_eq!(status("/ocpp/bad%20id"), Some(400));
    // The longest allowed id, percent-encoded characters and a nested path work.
    assert_eq!(status(&format!("/ocpp/{}", "A".repeat(48))), None);
    assert_eq!(status("/ocpp/CP%2D7"), None);
    assert_eq!(status("/ocpp/site-3/CP-8"), None);
    stop(gw);
}

#[test]
fn a_client_that_stalls_mid_handshake_is_cut_at_the_deadline() {
    use std::io::{Read, Write};
    let mut config = test_config();
    config.websocket.handshake_timeout = std::time::Duration::from_millis(300);
    let gw = start(config);
    let mut stream = std::net::TcpStream::connect(gw.local_addr()).unwrap();
    stream.write_all(b"GET /ocpp/CP-1 HT").unwrap();
    let started = std::time::Instant::now();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the gateway to close the socket");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250)
            && waited < std::time::Duration::from_secs(3),
        "closed after {waited:?}"
    );
    stop(gw);
}

/// HTTP's list rule (RFC 7230 §7): empty elements and the whitespace around
/// elements are ignored, so firmware that sends `,ocpp2.0.1` (a leading
/// comma) is offered 2.0.1, and an empty header is no offer at all.
#[test]
fn empty_subprotocol_list_elements_are_ignored() {
    use ocpp_gateway::ocpp::OcppVersion;
    let mut config = test_config();
    config.ocpp.subprotocols = vec![OcppVersion::V16, OcppVersion::V201];
    let gw = start(config);
    for (header, chosen) in [
        (",ocpp2.0.1", "ocpp2.0.1"),
        (" , ocpp1.6 ,", "ocpp1.6"),
        ("ocpp1.5,,ocpp2.0.1", "ocpp2.0.1"),
    ] {
        let (ws, head) = raw_upgrade(gw.local_addr(), "/ocpp/COMMA-1", &[header]);
        assert!(head.starts_with("HTTP/1.1 101"), "{header:?}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("sec-websocket-protocol: {chosen}\r\n")),
            "{header:?} should select {chosen}: {head}"
        );
        let mut cp = ChargePoint::from_ws(ws, "COMMA-1");
        let hb = cp.call("Heartbeat", serde_json::json!({}));
        assert_eq!(hb[0], 3, "{header:?}: {hb}");
        cp.close();
    }
    // An empty header offers nothing: closed 1002 unless 1.6 is assumed.
    let (mut ws, head) = raw_upgrade(gw.local_addr(), "/ocpp/EMPTY-1", &[""]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
    match ws.read().expect("close frame") {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1002),
        other => panic!("expected a close frame, got {other:?}"),
    }
    stop(gw);

    let mut config = test_config();
    config.ocpp.missing_subprotocol = ocpp_gateway::config::MissingSubprotocol::AssumeOcpp16;
    let gw = start(config);
    let (ws, head) = raw_upgrade(gw.local_addr(), "/ocpp/EMPTY-2", &[" , "]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut cp = ChargePoint::from_ws(ws, "EMPTY-2");
    assert_eq!(cp.boot()["status"], "Accepted");
    stop(gw);
}
