//! OCPP security profile 1: HTTP Basic Auth on the upgrade.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use data_encoding::BASE64;
use ocpp_gateway::auth::hash_password;
use serde_json::json;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

/// Upgrades with `Authorization: Basic base64(user:password)`; Ok(cp) or the HTTP status
/// and the WWW-Authenticate header.
fn connect_basic(
    addr: SocketAddr,
    id: &str,
    user: &str,
    password: &str,
) -> Result<ChargePoint, (u16, Option<String>)> {
    let mut request = format!("ws://{addr}/ocpp/{id}")
        .into_client_request()
        .unwrap();
    let token = BASE64.encode(format!("{user}:{password}").as_bytes());
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("ocpp1.6"),
    );
    headers.insert(
        "Authorization",
        HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
    );
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tungstenite::client::client(request, stream) {
        Ok((ws, _)) => Ok(ChargePoint::from_ws(ws, id)),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => Err((
            r.status().as_u16(),
            r.headers()
                .get("WWW-Authenticate")
                .map(|v| v.to_str().unwrap().to_owned()),
        )),
        Err(e) => panic!("{e}"),
    }
}

const PASSWORD: &str = "0123456789abcdef0123";

fn credentials_file(dir: &std::path::Path, ids: &[&str]) -> std::path::PathBuf {
    let path = dir.join("credentials.toml");
    let mut text = String::from("[charge_points]\n");
    for id in ids {
        text.push_str(&format!(
            "\"{id}\" = \"{}\"\n",
            hash_password(PASSWORD.as_bytes())
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn basic_auth_decides_the_upgrade() {
    let dir = scratch_dir("auth");
    let mut config = test_config();
    config.auth.mode = ocpp_gateway::config::AuthMode::Basic;
    config.auth.credentials_file = Some(credentials_file(&dir, &["CP-A", "CP-B"]));
    let gw = start(config);
    let addr = gw.local_addr();

    let mut cp = connect_basic(addr, "CP-A", "CP-A", PASSWORD).expect("right password: 101");
    assert_eq!(cp.boot()["status"], "Accepted");

    let (status, challenge) = connect_basic(addr, "CP-B", "CP-B", "wrong-password-0000")
        .err()
        .unwrap();
    assert_eq!(status, 401);
    assert!(
        challenge.unwrap().starts_with("Basic"),
        "401 without WWW-Authenticate"
    );

    // Right password, but the user name is another charge point.
    assert_eq!(
        connect_basic(addr, "CP-B", "CP-A", PASSWORD)
            .err()
            .unwrap()
            .0,
        401
    );
    // No credentials at all.
    assert_eq!(connect(addr, "/ocpp/CP-B", &["ocpp1.6"]).err(), Some(401));
    // An id the gateway does not know: 404 (OCPP-J 1.6 §3.2).
    assert_eq!(
        connect_basic(addr, "CP-Z", "CP-Z", PASSWORD)
            .err()
            .unwrap()
            .0,
        404
    );

    // A failed attempt never disturbs the connected charge point.
    assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
    cp.close();
    stop(gw);
}

#[test]
fn sighup_reloads_credentials_without_dropping_anyone() {
    let dir = scratch_dir("auth-reload");
    let ids: Vec<String> = (0..10).map(|i| format!("CP-{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let credentials = credentials_file(&dir, &id_refs);
    let gw = GatewayProcess::start(
        "auth-reload-gw",
        &process_config(&format!(
            "[reactors]\ncount = 2\npin_cores = false\n\n\
             [auth]\nmode = \"basic\"\ncredentials_file = \"{}\"\n",
            credentials.display()
        )),
    );
    let mut cps: Vec<ChargePoint> = ids
        .iter()
        .map(|id| connect_basic(gw.addr, id, id, PASSWORD).expect("known charge point"))
        .collect();
    assert_eq!(
        connect_basic(gw.addr, "CP-NEW", "CP-NEW", PASSWORD)
            .err()
            .unwrap()
            .0,
        404
    );

    let mut with_new = id_refs.clone();
    with_new.push("CP-NEW");
    credentials_file(&dir, &with_new);
    gw.signal("HUP");
    wait_for("reload", Duration::from_secs(5), || {
        connect_basic(gw.addr, "CP-NEW", "CP-NEW", PASSWORD).is_ok()
    });
    // The ten are still connected and answered.
    for cp in &mut cps {
        assert_eq!(
            cp.call("Heartbeat", json!({}))[0],
            3,
            "{} was dropped",
            cp.id
        );
    }

    // A malformed file on reload keeps the old set.
    std::fs::write(&credentials, "[charge_points]\n\"CP-0\" = \"plaintext!\"\n").unwrap();
    gw.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(connect_basic(gw.addr, "CP-NEW", "CP-NEW", PASSWORD).is_ok());
}
