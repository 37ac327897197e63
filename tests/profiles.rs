//! `[[profiles]]` as charge points see them: each charge point pinged at
//! its own profile's interval (or never, and then kept alive by its own
//! heartbeats), the boot interval of its profile, profiles that match on
//! BootNotification fields applying from the boot on, and SIGHUP changing
//! the ping interval of a charge point that is already connected.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ocpp_gateway::config::{Config, ProfileConfig};
use serde_json::json;
use tungstenite::Message;

const MS: Duration = Duration::from_millis(1);

/// Pings received within `window`, answering them (tungstenite does) and
/// ignoring nothing else: a text frame or a close here is a failure.
fn pings_within(cp: &mut ChargePoint, window: Duration) -> usize {
    cp.ws
        .get_ref()
        .set_read_timeout(Some(20 * MS))
        .expect("timeout");
    let until = Instant::now() + window;
    let mut pings = 0;
    while Instant::now() < until {
        match cp.ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(Message::Pong(_)) => {}
            Ok(other) => panic!("{}: unexpected {other:?}", cp.id),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{}: connection lost: {e}", cp.id),
        }
    }
    cp.ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    pings
}

fn profiles_from(toml: &str) -> Vec<ProfileConfig> {
    Config::parse(toml, std::path::Path::new("profiles.toml"))
        .expect("valid profiles")
        .profiles
}

fn gateway() -> ocpp_gateway::GatewayHandle {
    let mut config = test_config();
    config.admin.enabled = true;
    // Globals no test window reaches: a ping seen comes from a profile.
    config.websocket.ping_interval = Duration::from_secs(20);
    config.websocket.pong_timeout = Duration::from_secs(20);
    config.profiles = profiles_from(
        r#"
        [[profiles]]
        name = "fast"
        ids = ["FAST-*"]
        ping_interval = "200ms"

        [[profiles]]
        name = "quiet"
        ids = ["QUIET-*"]
        ping_interval = "0s"
        heartbeat_interval = "1s"
        pong_timeout = "500ms"

        [[profiles]]
        name = "vendor-x"
        vendor = "VendorX*"
        model = "*"
        ping_interval = "200ms"
        heartbeat_interval = "42s"
        "#,
    );
    start(config)
}

fn profile_of(gw: &ocpp_gateway::GatewayHandle, id: &str) -> Option<String> {
    let list = gw.connections(Some(id));
    assert_eq!(list.len(), 1, "{id}: {list:?}");
    list[0].profile.clone()
}

#[test]
fn each_charge_point_is_pinged_at_its_profiles_interval() {
    let gw = gateway();
    let mut fast = ChargePoint::connect(gw.local_addr(), "FAST-1");
    let mut plain = ChargePoint::connect(gw.local_addr(), "PLAIN-1");
    let fast_pings = pings_within(&mut fast, 1200 * MS);
    assert!(
        (4..=7).contains(&fast_pings),
        "FAST-1: {fast_pings} pings in 1.2 s at 200 ms"
    );
    assert_eq!(
        pings_within(&mut plain, 300 * MS),
        0,
        "PLAIN-1 uses the 20 s global"
    );
    assert_eq!(profile_of(&gw, "FAST-1").as_deref(), Some("fast"));
    assert_eq!(profile_of(&gw, "PLAIN-1"), None);
    // The boot interval is the global one without a profile.
    assert_eq!(plain.boot()["interval"], 300);
    // /metrics counts the open connections under each profile by name.
    let admin = gw.admin_address().expect("admin on");
    wait_for("profile gauges", Duration::from_secs(5), || {
        let (status, text) = http(admin, "GET", "/metrics", None, None);
        status == 200
            && text.contains("ocpp_gateway_profile_connections{profile=\"fast\"} 1\n")
            && text.contains("ocpp_gateway_profile_connections{profile=\"quiet\"} 0\n")
            && text.contains("ocpp_gateway_profile_connections{profile=\"vendor-x\"} 0\n")
    });
    fast.close();
    wait_for(
        "FAST-1 gone from its profile",
        Duration::from_secs(5),
        || gw.profile_connections().contains(&("fast".to_owned(), 0)),
    );
    stop(gw);
}

#[test]
fn a_never_pinged_charge_point_lives_by_its_heartbeats() {
    let gw = gateway();
    // A quiet charge point that stops talking is dropped after
    // heartbeat_interval + pong_timeout, never pinged (watched on its own
    // thread while QUIET-1 keeps talking).
    let mut silent = ChargePoint::connect(gw.local_addr(), "QUIET-2");
    silent.boot();
    let watcher = std::thread::spawn(move || {
        let since = Instant::now();
        silent
            .ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(6)))
            .expect("timeout");
        loop {
            match silent.ws.read() {
                Ok(Message::Ping(_)) => panic!("QUIET-2 was pinged"),
                Ok(Message::Close(_)) | Err(_) => return since.elapsed(),
                Ok(_) => continue,
            }
        }
    });
    let mut quiet = ChargePoint::connect(gw.local_addr(), "QUIET-1");
    let boot = quiet.boot();
    assert_eq!(
        boot["interval"], 1,
        "the profile's heartbeat_interval: {boot}"
    );
    // 3 s of heartbeats every 400 ms: no ping, and kept although the
    // dead-peer period is 1 s + 500 ms.
    for _ in 0..8 {
        assert_eq!(pings_within(&mut quiet, 400 * MS), 0, "QUIET-1 was pinged");
        assert_eq!(quiet.call("Heartbeat", json!({}))[0], 3);
    }
    let ended = watcher.join().expect("watcher");
    assert!(
        ended >= 1400 * MS && ended <= 4000 * MS,
        "QUIET-2 dropped after {ended:?}, expected about 1.5 s"
    );
    stop(gw);
}

#[test]
fn a_boot_profile_applies_from_the_boot_on() {
    let gw = gateway();
    let mut cp = ChargePoint::connect(gw.local_addr(), "V-1");
    assert_eq!(
        pings_within(&mut cp, 500 * MS),
        0,
        "no profile before the boot"
    );
    assert_eq!(profile_of(&gw, "V-1"), None);
    let boot = cp.call_ok(
        "BootNotification",
        json!({"chargePointVendor": "VendorX Ltd", "chargePointModel": "M1"}),
    );
    assert_eq!(
        boot["interval"], 42,
        "the vendor profile's interval: {boot}"
    );
    let pings = pings_within(&mut cp, 1200 * MS);
    assert!(
        (4..=7).contains(&pings),
        "V-1: {pings} pings after its boot"
    );
    assert_eq!(profile_of(&gw, "V-1").as_deref(), Some("vendor-x"));
    // Another vendor: no profile, the global interval.
    let mut other = ChargePoint::connect(gw.local_addr(), "V-2");
    assert_eq!(other.boot()["interval"], 300);
    assert_eq!(profile_of(&gw, "V-2"), None);
    stop(gw);
}

fn hup_config(ping: &str) -> String {
    process_config(&format!(
        "[reactors]\ncount = 1\npin_cores = false\ntimer_tick = \"20ms\"\n\n\
         [websocket]\nping_interval = \"20s\"\npong_timeout = \"20s\"\nclose_timeout = \"500ms\"\n\n\
         [shutdown]\ngrace = \"2s\"\n\n\
         [[profiles]]\nname = \"hup\"\nids = [\"HUP-*\"]\nping_interval = \"{ping}\"\n"
    ))
}

#[test]
fn sighup_changes_the_ping_interval_of_a_connected_charge_point() {
    let gw = GatewayProcess::start("profiles-hup", &hup_config("20s"));
    let mut cp = ChargePoint::connect(gw.addr, "HUP-1");
    cp.boot();
    assert_eq!(pings_within(&mut cp, 600 * MS), 0, "20 s before the reload");

    let rewrite = |ping: &str| {
        let text = hup_config(ping).replace("@DIR@", gw.dir.to_str().expect("utf-8 dir"));
        std::fs::write(gw.dir.join("gateway.toml"), text).expect("rewrite config");
        gw.signal("HUP");
    };
    rewrite("200ms");
    // The first ping is due 200 ms after the reload reached the reactor.
    let pings = pings_within(&mut cp, 1500 * MS);
    assert!(
        (4..=8).contains(&pings),
        "{pings} pings in 1.5 s after SIGHUP set 200 ms"
    );
    rewrite("0s");
    // Pings already on the wire may still arrive; then none.
    pings_within(&mut cp, 300 * MS);
    assert_eq!(
        pings_within(&mut cp, 1000 * MS),
        0,
        "pings after SIGHUP set 0s"
    );
    assert_eq!(cp.call("Heartbeat", json!({}))[0], 3);
}

#[test]
fn a_profile_sets_the_bad_message_budget_and_the_missing_subprotocol_rule() {
    let mut config = test_config();
    config.profiles = profiles_from(
        r#"
        [[profiles]]
        name = "strict"
        ids = ["STRICT-*"]
        max_bad_messages = 2

        [[profiles]]
        name = "old-firmware"
        ids = ["OLD-*"]
        missing_subprotocol = "assume-ocpp1.6"
        "#,
    );
    let gw = start(config);
    // Three schema-breaking CALLs: past the profile's budget of 2 the
    // connection is closed 1008; the global budget (100) keeps the other.
    let mut strict = ChargePoint::connect(gw.local_addr(), "STRICT-1");
    let mut plain = ChargePoint::connect(gw.local_addr(), "PLAIN-2");
    for cp in [&mut strict, &mut plain] {
        for _ in 0..2 {
            let refused = cp.call("Authorize", json!({"idTag": 5}));
            assert_eq!(refused[2], "TypeConstraintViolation", "{refused}");
        }
    }
    strict.send_call("Authorize", json!({"idTag": 5}));
    assert_eq!(strict.recv()[2], "TypeConstraintViolation");
    assert_eq!(strict.expect_close(), Some(1008));
    let refused = plain.call("Authorize", json!({"idTag": 5}));
    assert_eq!(refused[2], "TypeConstraintViolation", "{refused}");
    assert_eq!(plain.call("Heartbeat", json!({}))[0], 3);

    // No subprotocol offered: the old-firmware profile lets OLD-1 in as
    // 1.6; anyone else is upgraded and closed 1002 (the global rule).
    let (ws, response) = connect(gw.local_addr(), "/ocpp/OLD-1", &[]).expect("upgrade");
    assert!(response.headers().get("Sec-WebSocket-Protocol").is_none());
    let mut old = ChargePoint::from_ws(ws, "OLD-1");
    assert_eq!(old.boot()["status"], "Accepted");
    let (ws, _) = connect(gw.local_addr(), "/ocpp/NEW-1", &[]).expect("upgrade");
    let mut new = ChargePoint::from_ws(ws, "NEW-1");
    assert_eq!(new.expect_close(), Some(1002));
    stop(gw);
}

/// Sends `n` Heartbeats without waiting, then reads their answers in order.
fn heartbeats_back_to_back(cp: &mut ChargePoint, n: usize) {
    let ids: Vec<String> = (0..n)
        .map(|_| cp.send_call("Heartbeat", json!({})))
        .collect();
    for id in &ids {
        assert_eq!(cp.recv()[1], *id);
    }
}

#[test]
fn a_profile_sets_the_call_rate() {
    let mut config = test_config();
    config.profiles = profiles_from(
        r#"
        [[profiles]]
        name = "throttled"
        ids = ["SLOW-*"]
        max_calls_per_second = 5.0
        call_burst = 1
        "#,
    );
    let gw = start(config);
    let waits = |gw: &ocpp_gateway::GatewayHandle| -> u64 {
        gw.reactor_counters()
            .iter()
            .map(|c| c.call_rate_waits)
            .sum()
    };
    // The global rate is unlimited: six CALLs back to back, never held.
    let mut plain = ChargePoint::connect(gw.local_addr(), "FREE-1");
    heartbeats_back_to_back(&mut plain, 6);
    std::thread::sleep(100 * MS); // a tick: counters are published per tick
    assert_eq!(waits(&gw), 0, "a charge point without the profile was held");
    // Five per second with a burst of one: the sixth answer comes a second
    // after the first, at the earliest.
    let mut slow = ChargePoint::connect(gw.local_addr(), "SLOW-1");
    let started = Instant::now();
    heartbeats_back_to_back(&mut slow, 6);
    let took = started.elapsed();
    assert!(
        took >= 900 * MS,
        "six CALLs at 5/s answered within {took:?}"
    );
    wait_for("call_rate_waits", Duration::from_secs(5), || waits(&gw) > 0);
    stop(gw);
}
