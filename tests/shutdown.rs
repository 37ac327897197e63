//! SIGTERM: every charge point sees 1001 Going Away, the process exits 0
//! within the grace period.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_closes_a_hundred_charge_points_with_1001_and_exits_0() {
    let mut gw = GatewayProcess::start(
        "shutdown",
        &process_config("[reactors]\ncount = 2\npin_cores = false\n\n[shutdown]\ngrace = \"5s\"\n"),
    );
    let addr = gw.addr;
    let mut cps: Vec<ChargePoint> = (0..100)
        .map(|i| {
            let mut cp = ChargePoint::connect(addr, &format!("CP-TERM-{i}"));
            assert_eq!(cp.boot()["status"], "Accepted");
            cp
        })
        .collect();
    let signalled = Instant::now();
    gw.signal("TERM");
    let readers: Vec<_> = cps
        .drain(..)
        .map(|mut cp| {
            std::thread::spawn(move || {
                let code = cp.expect_close();
                // Complete the close handshake like a well-behaved charge point.
                let _ = cp.ws.flush();
                code
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), Some(1001));
    }
    let status = loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(6),
            "still running after the 5 s grace period"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_client_that_ignores_the_close_is_cut_at_the_grace_period() {
    let mut gw = GatewayProcess::start(
        "shutdown-stubborn",
        &process_config(
            "[reactors]\ncount = 1\npin_cores = false\n\n[websocket]\nclose_timeout = \"30s\"\n\n\
             [shutdown]\ngrace = \"1s\"\n",
        ),
    );
    let mut cp = ChargePoint::connect(gw.addr, "CP-STUBBORN");
    cp.boot();
    let signalled = Instant::now();
    gw.signal("TERM");
    // Never answer the close frame: only the grace period ends this.
    let status = gw.child.wait().unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took >= Duration::from_millis(900), "exited after {took:?}");
    assert!(took < Duration::from_secs(4), "exited after {took:?}");
    drop(cp);
}

#[test]
fn sigterm_ends_within_the_grace_with_the_bus_away_and_peers_that_never_answer() {
    // A NATS server that is not there, and charge points that never answer
    // the close: the stop still ends within shutdown.grace (it took 5 s,
    // once 14.9 s, for a 2 s grace before).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut gw = GatewayProcess::start(
        "shutdown-bus-away",
        &process_config(&format!(
            "[reactors]\ncount = 2\npin_cores = false\n\n[websocket]\nclose_timeout = \"30s\"\n\n\
             [shutdown]\ngrace = \"2s\"\n\n[bus]\nkind = \"nats\"\nservers = [\"nats://127.0.0.1:{port}\"]\n"
        )),
    );
    let cps: Vec<ChargePoint> = (0..50)
        .map(|i| {
            let mut cp = ChargePoint::connect(gw.addr, &format!("CP-DEAF-{i}"));
            cp.boot();
            cp
        })
        .collect();
    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw.child.wait().unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    // The grace, plus a little for a shared machine to schedule the exit.
    assert!(
        took <= Duration::from_millis(2_200),
        "exited after {took:?}"
    );
    drop(cps);
}
