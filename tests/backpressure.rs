//! A full processor queue slows charge points down; it never loses a frame.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn capacity_one_and_a_slow_processor_lose_nothing_and_keep_order() {
    let mut config = test_config();
    config.channels.capacity = 1;
    config.processors.threads = 1;
    let extensions = ocpp_gateway::Extensions {
        before_answer: Some(Arc::new(|_action: &str| {
            std::thread::sleep(Duration::from_millis(1));
        })),
    };
    let gw = start_with(config, extensions);
    let addr = gw.local_addr();
    const CALLS: usize = 10;
    let clients: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let mut cp = ChargePoint::connect(addr, &format!("CP-BP-{i}"));
                // Pipelined: every CALL goes out before any answer is read.
                let ids: Vec<String> = (0..CALLS)
                    .map(|n| {
                        if n % 2 == 0 {
                            cp.send_call("Heartbeat", json!({}))
                        } else {
                            cp.send_call("Authorize", json!({"idTag": format!("T{n}")}))
                        }
                    })
                    .collect();
                for id in ids {
                    let answer = cp.recv();
                    assert_eq!(answer[0], 3, "{answer}");
                    assert_eq!(answer[1], id.as_str(), "answers out of order");
                }
                cp.close();
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client got every answer in order");
    }
    wait_for("counters published", Duration::from_secs(2), || {
        gw.reactor_counters()
            .iter()
            .map(|c| c.calls_dispatched)
            .sum::<u64>()
            == 50 * CALLS as u64
    });
    let stalls: u64 = gw
        .reactor_counters()
        .iter()
        .map(|c| c.backpressure_stalls)
        .sum();
    assert!(
        stalls > 0,
        "the queue never filled: the test did not test backpressure"
    );
    stop(gw);
}
