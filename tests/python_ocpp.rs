//! A real OCPP 2.1 (and 2.0.1) client that nobody here wrote: python
//! `ocpp` 2.1.0's `ocpp.v21.ChargePoint` / `ocpp.v201.ChargePoint` runs a
//! whole session against the gateway (tests/python/ocpp_session.py): boot,
//! heartbeat, status, authorize, a transaction started/updated/ended, and a
//! server call sent through the admin API and answered by the client. The
//! library validates every message against its own copy of the schemas.
//!
//! The packages are pinned in tests/python/requirements.txt and installed
//! once into a virtual environment under the test's target directory
//! (`OCPP_TEST_PYTHON` names an interpreter that already has them).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use common::*;
use ocpp_gateway::ocpp::OcppVersion;
use serde_json::{Value, json};

/// An interpreter with the pinned packages: `OCPP_TEST_PYTHON`, or a venv
/// made (once per test binary) in the target directory.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| python_venv("OCPP_TEST_PYTHON", "python-ocpp", "requirements.txt"))
}

/// The python charging station, and its output lines as they come.
struct Station {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
}

impl Station {
    fn start(url: &str, id: &str, version: &str) -> Station {
        let mut child = Command::new(python())
            .arg(manifest_dir().join("tests/python/ocpp_session.py"))
            .args([url, id, version])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("python printed {line:?}: {e}"));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Station {
            child,
            stdin,
            lines,
        }
    }

    /// The next step the client reports (a dead client fails the test).
    fn next(&mut self, expected: &str) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let status = self.child.try_wait();
                panic!(
                    "python client: no {expected:?} step (exit: {status:?}); see its stderr above"
                )
            });
        assert_eq!(line["step"], expected, "{line}");
        line
    }

    /// Closes its stdin (it then disconnects) and checks it exited 0.
    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait python");
        assert!(status.success(), "python client failed: {status}");
    }
}

fn session_against_the_gateway(version: &str, id: &str) {
    let mut config = test_config();
    config.ocpp.subprotocols = OcppVersion::ALL.to_vec();
    config.admin.enabled = true;
    let gw = start(config);
    let admin = gw.admin_address().expect("admin enabled");
    let url = format!("ws://{}/ocpp", gw.local_addr());
    let mut station = Station::start(&url, id, version);

    let boot = station.next("boot")["response"].clone();
    assert_eq!(boot["status"], "Accepted", "{boot}");
    assert!(boot["interval"].as_u64().is_some_and(|i| i > 0), "{boot}");
    assert!(boot["current_time"].as_str().is_some(), "{boot}");
    let heartbeat = station.next("heartbeat")["response"].clone();
    assert!(heartbeat["current_time"].as_str().is_some(), "{heartbeat}");
    station.next("status");
    let authorize = station.next("authorize")["response"].clone();
    assert_eq!(authorize["id_token_info"]["status"], "Accepted");
    let started = station.next("transaction_started")["response"].clone();
    assert_eq!(started["id_token_info"]["status"], "Accepted", "{started}");
    station.next("transaction_updated");
    station.next("transaction_ended");
    station.next("ready");

    // The gateway knows what the client said about itself, and its version.
    let connections = gw.connections(Some(id));
    let info = connections.first().expect("connected");
    assert_eq!(info.subprotocol, format!("ocpp{version}"));
    let boot_info = info.boot.as_ref().expect("boot info");
    assert_eq!(
        (boot_info.vendor.as_str(), boot_info.model.as_str()),
        ("PyVendor", "PyModel")
    );

    // A server call through the admin API, answered by the client.
    let (status, body) = http(
        admin,
        "POST",
        &format!("/connections/{id}/calls"),
        Some(&json!({"action": "Reset", "payload": {"type": "Immediate"}, "timeout_ms": 10000})),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(answer["payload"], json!({"status": "Accepted"}), "{body}");
    let served = station.next("server_call");
    assert_eq!(served["type"], "Immediate");
    // A request that breaks the request schema is refused before sending.
    let (status, body) = http(
        admin,
        "POST",
        &format!("/connections/{id}/calls"),
        Some(&json!({"action": "Reset", "payload": {"type": "Sideways"}})),
        None,
    );
    assert_eq!(status, 400, "{body}");

    station.finish();
    stop(gw);
}

#[test]
fn python_ocpp_v21_charge_point_runs_a_session() {
    session_against_the_gateway("2.1", "PY-21");
}

#[test]
fn python_ocpp_v201_charge_point_runs_a_session() {
    session_against_the_gateway("2.0.1", "PY-201");
}
