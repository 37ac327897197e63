//! TLS on the charge-point port (OCPP security profiles 2 and 3), with
//! certificates made here by rcgen and a blocking rustls client.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{GatewayProcess, process_config, scratch_dir, start, stop, test_config};
use ocpp_gateway::cross_thread::ReactorCounters;
use ocpp_gateway::{Config, GatewayHandle};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

type Ca = CertifiedIssuer<'static, KeyPair>;
type TlsWs = WebSocket<StreamOwned<ClientConnection, TcpStream>>;

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `cn` issued by `ca`: a server one (SAN localhost) or a
/// client one; `expired` puts its validity in 2020.
fn leaf(ca: &Ca, cn: &str, client: bool, expired: bool) -> (String, String) {
    let sans = if client {
        Vec::new()
    } else {
        vec!["localhost".to_owned()]
    };
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 12, 31);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A gateway config with TLS on a free loopback port, serving `server`.
fn tls_config(dir: &Path, server: &(String, String), client_ca: Option<&Ca>) -> Config {
    let mut config = test_config();
    config.tls.enabled = true;
    config.tls.address = "127.0.0.1:0".parse().unwrap();
    config.tls.certificate_chain = Some(write(dir, "server.pem", &server.0));
    config.tls.private_key = Some(write(dir, "server.key", &server.1));
    config.tls.client_ca = client_ca.map(|ca| write(dir, "client-ca.pem", &ca.pem()));
    config
}

fn client_config(trust: &Ca, identity: Option<&(String, String)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trust.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    Arc::new(config)
}

#[derive(Debug)]
enum Refused {
    Http(u16),
    /// TLS or socket failure before any HTTP answer.
    Handshake(String),
}

/// Opens wss://localhost/ocpp/{id} (offering ocpp1.6) to `addr`.
fn wss(addr: SocketAddr, id: &str, client: Arc<ClientConfig>) -> Result<TlsWs, Refused> {
    let mut request = format!("wss://localhost:{}/ocpp/{id}", addr.port())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("ocpp1.6"),
    );
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = ClientConnection::new(client, name).unwrap();
    let stream = StreamOwned::new(tls, tcp);
    match tungstenite::client::client(request, stream) {
        Ok((ws, response)) => {
            assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "ocpp1.6");
            Ok(ws)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(Refused::Http(response.status().as_u16()))
        }
        Err(e) => Err(Refused::Handshake(e.to_string())),
    }
}

fn boot(ws: &mut TlsWs) -> Value {
    let call = json!([2, "b1", "BootNotification",
        {"chargePointVendor": "Acme", "chargePointModel": "X1"}]);
    ws.send(Message::text(call.to_string())).unwrap();
    loop {
        if let Message::Text(text) = ws.read().unwrap() {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

fn assert_booted(ws: &mut TlsWs) {
    let answer = boot(ws);
    assert_eq!(answer[0], 3, "{answer}");
    assert_eq!(answer[1], "b1");
    assert_eq!(answer[2]["status"], "Accepted", "{answer}");
}

/// Waits (up to 3 s) for the published TLS counter `of` to reach `at_least`
/// summed over reactors.
fn wait_counter(gateway: &GatewayHandle, of: fn(&ReactorCounters) -> u64, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let n: u64 = gateway.reactor_counters().iter().map(of).sum();
        if n >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "counter stuck at {n}, wanted {at_least}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn wss_round_trip_and_plain_beside_it() {
    let dir = scratch_dir("tls-rt");
    let ca = ca("Test CA");
    let gateway = start(tls_config(
        &dir,
        &leaf(&ca, "localhost", false, false),
        None,
    ));
    let tls_addr = gateway.tls_addr.expect("TLS listener");
    let mut ws = wss(tls_addr, "CP-TLS-1", client_config(&ca, None)).expect("wss upgrade");
    assert_booted(&mut ws);
    // Several frames in a row, both directions, over one TLS session.
    for i in 0..20 {
        let call = json!([2, format!("h{i}"), "Heartbeat", {}]);
        ws.send(Message::text(call.to_string())).unwrap();
        let Message::Text(text) = ws.read().unwrap() else {
            panic!("not text")
        };
        let answer: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(answer[1], format!("h{i}"));
    }
    // A frame much larger than rustls's buffer limit, both ways through
    // several TLS records and partial reads.
    let data = "x".repeat(300_000);
    let call = json!([2, "big", "DataTransfer", {"vendorId": "Acme", "data": data}]);
    ws.send(Message::text(call.to_string())).unwrap();
    let Message::Text(text) = ws.read().unwrap() else {
        panic!("not text")
    };
    let answer: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(answer[1], "big", "{answer}");
    wait_counter(&gateway, |c| c.tls_ok_tls13, 1);
    // The plain port still serves ws://.
    let mut plain = common::ChargePoint::connect(gateway.local_addr, "CP-PLAIN-1");
    let answer = plain.call("Heartbeat", json!({}));
    assert_eq!(answer[0], 3);
    drop(ws);
    stop(gateway);
}

#[test]
fn client_trusting_another_ca_refuses_the_server() {
    let dir = scratch_dir("tls-ca");
    let ca1 = ca("Server CA");
    let other = ca("Other CA");
    let gateway = start(tls_config(
        &dir,
        &leaf(&ca1, "localhost", false, false),
        None,
    ));
    let tls_addr = gateway.tls_addr.unwrap();
    match wss(tls_addr, "CP-1", client_config(&other, None)) {
        Err(Refused::Handshake(e)) => assert!(e.contains("UnknownIssuer"), "{e}"),
        other => panic!("expected a TLS failure, got {:?}", other.map(|_| ())),
    }
    // The gateway is unaffected.
    let mut ws = wss(tls_addr, "CP-2", client_config(&ca1, None)).expect("wss");
    assert_booted(&mut ws);
    stop(gateway);
}

#[test]
fn expired_server_certificate_is_refused_by_the_client() {
    let dir = scratch_dir("tls-exp");
    let ca = ca("Test CA");
    let gateway = start(tls_config(&dir, &leaf(&ca, "localhost", false, true), None));
    match wss(gateway.tls_addr.unwrap(), "CP-1", client_config(&ca, None)) {
        Err(Refused::Handshake(e)) => assert!(e.contains("expired"), "{e}"),
        other => panic!("expected a TLS failure, got {:?}", other.map(|_| ())),
    }
    // The client's alert is what the gateway sees.
    wait_counter(&gateway, |c| c.tls_failed_peer_alert, 1);
    stop(gateway);
}

#[test]
fn profile_3_client_certificate_must_name_the_charge_point() {
    let dir = scratch_dir("tls-p3");
    let server_ca = ca("Server CA");
    let client_ca = ca("Charge point CA");
    let config = tls_config(
        &dir,
        &leaf(&server_ca, "localhost", false, false),
        Some(&client_ca),
    );
    let gateway = start(config);
    let addr = gateway.tls_addr.unwrap();
    let cp7 = leaf(&client_ca, "CP-7", true, false);

    // CN = id: accepted.
    let mut ws = wss(addr, "CP-7", client_config(&server_ca, Some(&cp7))).expect("wss");
    assert_booted(&mut ws);

    // CN != id: the TLS handshake succeeds, the upgrade is refused 401.
    match wss(addr, "CP-8", client_config(&server_ca, Some(&cp7))) {
        Err(Refused::Http(status)) => assert_eq!(status, 401),
        other => panic!("expected HTTP 401, got {:?}", other.map(|_| ())),
    }

    // No client certificate: the TLS handshake fails.
    match wss(addr, "CP-7", client_config(&server_ca, None)) {
        Err(Refused::Handshake(_)) => {}
        other => panic!("expected a TLS failure, got {:?}", other.map(|_| ())),
    }

    // A certificate from another CA, even with the right CN: TLS fails.
    let stranger = leaf(&ca("Stranger CA"), "CP-7", true, false);
    match wss(addr, "CP-7", client_config(&server_ca, Some(&stranger))) {
        Err(Refused::Handshake(_)) => {}
        other => panic!("expected a TLS failure, got {:?}", other.map(|_| ())),
    }

    // The accepted connection was never disturbed.
    assert_booted(&mut ws);
    wait_counter(&gateway, |c| c.tls_failed_client_certificate, 2);
    wait_counter(&gateway, |c| c.refused_401, 1);
    stop(gateway);
}

#[test]
fn plain_client_on_the_tls_port_is_refused_and_the_gateway_stays_up() {
    let dir = scratch_dir("tls-plain");
    let ca = ca("Test CA");
    let gateway = start(tls_config(
        &dir,
        &leaf(&ca, "localhost", false, false),
        None,
    ));
    let addr = gateway.tls_addr.unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(
        b"GET /ocpp/CP-1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    // Whatever comes back (a TLS alert at most), it is not an HTTP answer,
    // and the connection ends.
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP"), "{answer:?}");
    wait_counter(&gateway, |c| c.tls_failed_protocol, 1);
    let mut ws = wss(addr, "CP-2", client_config(&ca, None)).expect("wss still works");
    assert_booted(&mut ws);
    stop(gateway);
}

#[test]
fn unfinished_tls_handshake_is_closed_at_the_timeout() {
    let dir = scratch_dir("tls-slow");
    let ca = ca("Test CA");
    let mut config = tls_config(&dir, &leaf(&ca, "localhost", false, false), None);
    config.tls.handshake_timeout = Duration::from_millis(300);
    let gateway = start(config);
    let addr = gateway.tls_addr.unwrap();
    // The first bytes of a ClientHello record header, then silence.
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01]).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = matches!(tcp.read(&mut buf), Ok(0) | Err(_));
    let waited = started.elapsed();
    assert!(closed, "connection not closed");
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    wait_counter(&gateway, |c| c.tls_failed_timeout, 1);
    stop(gateway);
}

#[test]
fn reload_serves_the_new_certificate_to_new_connections_only() {
    let dir = scratch_dir("tls-reload");
    let ca1 = ca("CA one");
    let ca2 = ca("CA two");
    let config = tls_config(&dir, &leaf(&ca1, "localhost", false, false), None);
    let gateway = start(config.clone());
    let addr = gateway.tls_addr.unwrap();
    let mut old = wss(addr, "CP-OLD", client_config(&ca1, None)).expect("wss");
    assert_booted(&mut old);

    // New files in place, then the reload SIGHUP would do.
    let (cert, key) = leaf(&ca2, "localhost", false, false);
    write(&dir, "server.pem", &cert);
    write(&dir, "server.key", &key);
    assert_eq!(gateway.reload_tls(&config.tls), Ok(true));
    let mut new = wss(addr, "CP-NEW", client_config(&ca2, None)).expect("new cert served");
    assert_booted(&mut new);
    assert!(wss(addr, "CP-X", client_config(&ca1, None)).is_err());
    // The old connection stays up on its old session.
    assert_booted(&mut old);

    // An unreadable file: the reload fails and the current certificate stays.
    let mut broken = config.tls.clone();
    broken.private_key = Some(dir.join("missing.key"));
    let err = gateway.reload_tls(&broken).unwrap_err();
    assert!(err.contains("tls.private_key"), "{err}");
    let mut again = wss(addr, "CP-AGAIN", client_config(&ca2, None)).expect("still served");
    assert_booted(&mut again);
    stop(gateway);
}

#[test]
fn a_client_ca_added_or_removed_by_reload_decides_the_identity_check() {
    let dir = scratch_dir("tls-reload-ca");
    let server_ca = ca("Server CA");
    let client_ca = ca("Charge point CA");
    let config = tls_config(&dir, &leaf(&server_ca, "localhost", false, false), None);
    let gateway = start(config.clone());
    let addr = gateway.tls_addr.unwrap();
    let cp7 = leaf(&client_ca, "CP-7", true, false);

    // Profile 3 switched on by reload: a certificate of that CA names one
    // charge point only (before the fix any CN could pose as any id).
    let mut profile3 = config.tls.clone();
    profile3.client_ca = Some(write(&dir, "client-ca.pem", &client_ca.pem()));
    assert_eq!(gateway.reload_tls(&profile3), Ok(true));
    match wss(addr, "CP-8", client_config(&server_ca, Some(&cp7))) {
        Err(Refused::Http(status)) => assert_eq!(status, 401),
        other => panic!("expected HTTP 401, got {:?}", other.map(|_| ())),
    }
    match wss(addr, "CP-7", client_config(&server_ca, None)) {
        Err(Refused::Handshake(_)) => {}
        other => panic!("expected a TLS failure, got {:?}", other.map(|_| ())),
    }
    let mut ws = wss(addr, "CP-7", client_config(&server_ca, Some(&cp7))).expect("CN = id");
    assert_booted(&mut ws);

    // Switched off again: charge points without certificates get in
    // (before the fix every one of them got 401).
    assert_eq!(gateway.reload_tls(&config.tls), Ok(true));
    let mut plain = wss(addr, "CP-9", client_config(&server_ca, None)).expect("profile 2");
    assert_booted(&mut plain);
    stop(gateway);
}

#[test]
fn tls_only_gateway_and_bad_files_fail_the_start() {
    let dir = scratch_dir("tls-only");
    let ca = ca("Test CA");
    let mut config = tls_config(&dir, &leaf(&ca, "localhost", false, false), None);
    config.listen.plain = false;
    let gateway = start(config.clone());
    assert_eq!(gateway.tls_addr, Some(gateway.local_addr));
    let mut ws = wss(gateway.local_addr, "CP-1", client_config(&ca, None)).expect("wss");
    assert_booted(&mut ws);
    stop(gateway);

    config.tls.certificate_chain = Some(write(&dir, "empty.pem", ""));
    let err = match ocpp_gateway::start(config) {
        Err(e) => e.to_string(),
        Ok(g) => {
            stop(g);
            panic!("started without a certificate");
        }
    };
    assert!(err.contains("tls.certificate_chain"), "{err}");
}

#[test]
fn min_version_1_3_refuses_a_tls_1_2_client() {
    let dir = scratch_dir("tls-13");
    let ca = ca("Test CA");
    let mut config = tls_config(&dir, &leaf(&ca, "localhost", false, false), None);
    config.tls.min_version = ocpp_gateway::config::TlsVersion::V13;
    let gateway = start(config);
    let addr = gateway.tls_addr.unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let only_12 =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    assert!(wss(addr, "CP-12", Arc::new(only_12)).is_err());
    wait_counter(&gateway, |c| c.tls_failed_incompatible, 1);
    let mut ws = wss(addr, "CP-13", client_config(&ca, None)).expect("1.3 client");
    assert_booted(&mut ws);
    stop(gateway);
}

#[test]
fn tls_1_2_uses_only_the_whitepaper_suites() {
    let dir = scratch_dir("tls-12");
    let ca = ca("Test CA");
    let gateway = start(tls_config(
        &dir,
        &leaf(&ca, "localhost", false, false),
        None,
    ));
    let addr = gateway.tls_addr.unwrap();
    let provider = rustls::crypto::ring::default_provider();
    let suites = |names: &[rustls::CipherSuite]| {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let mut p = provider.clone();
        p.cipher_suites.retain(|s| names.contains(&s.suite()));
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(p))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    // ChaCha20 on TLS 1.2 is not among them: refused.
    let chacha = [rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256];
    assert!(wss(addr, "CP-1", suites(&chacha)).is_err());
    // ECDHE-ECDSA AES-GCM (the test certificate is ECDSA) is.
    let gcm = [rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    let mut ws = wss(addr, "CP-2", suites(&gcm)).expect("TLS 1.2 AES-GCM");
    assert_booted(&mut ws);
    wait_counter(&gateway, |c| c.tls_ok_tls12, 1);
    stop(gateway);
}

#[test]
fn sighup_reloads_the_certificate_and_a_missing_key_keeps_the_old_one() {
    let ca1 = ca("CA one");
    let ca2 = ca("CA two");
    let (cert, key) = leaf(&ca1, "localhost", false, false);
    let config = process_config(
        "[reactors]\ncount = 2\npin_cores = false\n\n[tls]\nenabled = true\n\
         address = \"127.0.0.1:0\"\ncertificate_chain = \"@DIR@/server.pem\"\n\
         private_key = \"@DIR@/server.key\"\n",
    )
    .replace("[listen]\n", "[listen]\nplain = false\n");
    // The certificate files must exist before the process starts: they
    // live in a directory of their own.
    let dir = scratch_dir("tls-hup-files");
    let config = config.replace("@DIR@/server", &format!("{}/server", dir.display()));
    write(&dir, "server.pem", &cert);
    write(&dir, "server.key", &key);
    let gw = GatewayProcess::start("tls-hup", &config);
    let addr = gw.addr;
    let mut old = wss(addr, "CP-OLD", client_config(&ca1, None)).expect("wss");
    assert_booted(&mut old);

    let (cert, key) = leaf(&ca2, "localhost", false, false);
    write(&dir, "server.pem", &cert);
    write(&dir, "server.key", &key);
    gw.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut new = loop {
        if let Ok(ws) = wss(addr, "CP-NEW", client_config(&ca2, None)) {
            break ws;
        }
        assert!(Instant::now() < deadline, "new certificate not served");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_booted(&mut new);
    assert_booted(&mut old);

    // The key file gone: SIGHUP keeps the current certificate and key.
    std::fs::remove_file(dir.join("server.key")).unwrap();
    gw.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    let mut again = wss(addr, "CP-AGAIN", client_config(&ca2, None)).expect("still served");
    assert_booted(&mut again);
    assert_booted(&mut old);
}

#[test]
fn a_large_server_call_reaches_a_slow_tls_reader_whole() {
    let dir = scratch_dir("tls-big");
    let ca = ca("Test CA");
    let gateway = start(tls_config(
        &dir,
        &leaf(&ca, "localhost", false, false),
        None,
    ));
    let mut ws = wss(
        gateway.tls_addr.unwrap(),
        "CP-BIG",
        client_config(&ca, None),
    )
    .unwrap();
    assert_booted(&mut ws);
    let data = "y".repeat(600_000);
    let payload = json!({"vendorId": "Acme", "data": data}).to_string();
    std::thread::scope(|s| {
        let caller =
            s.spawn(|| gateway.call("CP-BIG", "DataTransfer", &payload, Duration::from_secs(10)));
        // Not reading for a while: the socket fills, rustls and tungstenite
        // hold the rest, and writable events must finish the frame.
        std::thread::sleep(Duration::from_millis(300));
        let call: Value = loop {
            if let Message::Text(text) = ws.read().unwrap() {
                break serde_json::from_str(text.as_str()).unwrap();
            }
        };
        assert_eq!(call[2], "DataTransfer");
        assert_eq!(call[3]["data"].as_str().map(str::len), Some(600_000));
        let answer = json!([3, call[1], {"status": "Accepted"}]);
        ws.send(Message::text(answer.to_string())).unwrap();
        let outcome = caller.join().unwrap();
        assert!(
            matches!(
                outcome,
                ocpp_gateway::cross_thread::ServerCallOutcome::Result(_)
            ),
            "{outcome:?}"
        );
    });
    assert_booted(&mut ws);
    stop(gateway);
}
