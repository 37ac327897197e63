//! The status page in a real browser: Debian's chromium, driven through
//! chromedriver by selenium (pinned in tests/python/browser-requirements.txt,
//! installed into a venv under the target directory on first run;
//! `OCPP_TEST_BROWSER_PYTHON` names an interpreter that has it). `.ci/run`
//! installs chromium and chromium-driver. There is no skip: without a
//! browser this test fails.
//!
//! The gateway runs with a bearer token, 30 charge points and one more,
//! RESET-ME, which answers the Reset that the page's form sends.
//! tests/python/status_page.py signs in, checks the totals, the list, its
//! paging and search against the API, opens RESET-ME's page, starts a
//! trace, sends the Reset and waits for the answer and the traced frame,
//! and saves screenshots under this test's output directory
//! (`target/tmp/status-page/`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TOKEN: &str = "status-page-token-0123456789";

#[test]
fn the_status_page_shows_what_the_api_says_and_sends_a_reset() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: apt-get install chromium chromium-driver"
        );
    }
    let python = python_venv(
        "OCPP_TEST_BROWSER_PYTHON",
        "python-browser",
        "browser-requirements.txt",
    );
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();

    let mut config = test_config();
    config.admin.enabled = true;
    config.admin.bearer_token = Some(TOKEN.into());
    config.trace.directory = Some(scratch_dir("status-page-trace"));
    config.trace.flush_interval = Duration::from_millis(100);
    let gw = start(config);
    let addr = gw.local_addr();
    let admin = gw.admin_address().expect("admin on");

    let mut fleet: Vec<ChargePoint> = (0..30)
        .map(|i| {
            let mut cp = ChargePoint::connect(addr, &format!("PAGE-{i:03}"));
            cp.call_ok(
                "BootNotification",
                json!({"chargePointVendor": "PageVendor", "chargePointModel": format!("M-{i}")}),
            );
            cp
        })
        .collect();
    let mut target = ChargePoint::connect(addr, "RESET-ME");
    target.call_ok(
        "BootNotification",
        json!({"chargePointVendor": "ResetVendor", "chargePointModel": "R1"}),
    );
    // RESET-ME answers the one CALL it gets; pings are answered while it reads.
    let (got, reset) = channel();
    let answerer = std::thread::spawn(move || {
        let (id, action, payload) = expect_call(&mut target);
        answer(&mut target, &id, json!({"status": "Accepted"}));
        let _ = got.send((action, payload));
        target
    });

    let mut browser = Command::new(python)
        .arg(manifest_dir().join("tests/python/status_page.py"))
        .arg(format!("http://{admin}"))
        .arg(TOKEN)
        .arg(&out)
        .env("SE_OFFLINE", "true")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let stdout = browser.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = browser.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            panic!("the browser script did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines = lines.join().unwrap();
    assert!(
        status.success(),
        "status_page.py failed ({status}): {lines:?}"
    );
    let report: Value = serde_json::from_str(lines.last().expect("a report line")).unwrap();
    assert_eq!(report["ok"], true, "{report}");

    // What the charge point got is what the form sent.
    let (action, payload) = reset
        .recv_timeout(Duration::from_secs(5))
        .expect("RESET-ME got a CALL");
    assert_eq!(action, "Reset");
    assert_eq!(payload, json!({"type": "Hard"}));
    for name in ["overview.png", "charge-point.png"] {
        let png = std::fs::read(out.join(name)).expect("screenshot saved");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: {} bytes",
            png.len()
        );
    }
    eprintln!("status page: {report}");
    let target = answerer.join().unwrap();
    target.close();
    for cp in fleet.drain(..) {
        cp.close();
    }
    stop(gw);
}
