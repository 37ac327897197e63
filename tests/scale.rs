//! Many charge points at once, spread over the reactors.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn a_thousand_charge_points_boot_and_heartbeat_on_two_reactors() {
    let gw = start(test_config());
    let addr = gw.local_addr();
    let workers: Vec<_> = (0..20)
        .map(|w| {
            std::thread::spawn(move || {
                let mut cps: Vec<ChargePoint> = (0..50)
                    .map(|i| ChargePoint::connect(addr, &format!("CP-{w}-{i}")))
                    .collect();
                for cp in &mut cps {
                    assert_eq!(cp.boot()["status"], "Accepted");
                }
                for cp in &mut cps {
                    assert!(cp.call_ok("Heartbeat", json!({}))["currentTime"].is_string());
                }
                cps
            })
        })
        .collect();
    let all: Vec<ChargePoint> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    assert_eq!(all.len(), 1000);
    assert_eq!(gw.open_connections(), 1000);
    wait_for("counters published", Duration::from_secs(2), || {
        gw.reactor_counters()
            .iter()
            .map(|c| c.calls_dispatched)
            .sum::<u64>()
            == 2000
    });
    let counters = gw.reactor_counters();
    assert_eq!(counters.len(), 2);
    for (i, c) in counters.iter().enumerate() {
        // SO_REUSEPORT hashes connections over both listeners.
        assert!(c.handshakes_accepted > 100, "reactor {i} served only {c:?}");
        assert_eq!(c.calls_dispatched, 2 * c.handshakes_accepted, "reactor {i}");
    }
    for cp in all {
        cp.close();
    }
    wait_for("all disconnected", Duration::from_secs(5), || {
        gw.open_connections() == 0
    });
    stop(gw);
}
