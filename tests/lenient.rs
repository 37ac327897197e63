//! Lenient mode as charge points and the backend see it: each quirk is
//! refused with today's exact CALLERROR without a profile that names it
//! and answered with one; the journal line notes it and carries the
//! corrected payload; `ocpp_gateway_lenient_total` counts it; a vendor
//! profile covers the BootNotification that names the vendor. (The bus
//! side, corrected payloads on the event stream and to the backend, is in
//! tests/bus.rs.)

mod common;

use std::time::Duration;

use common::*;
use ocpp_gateway::config::Config;
use serde_json::{Value, json};

const SECOND: Duration = Duration::from_secs(1);

/// One profile per quirk: `LAX-<quirk>` tolerates that quirk alone.
const QUIRKS: [&str; 6] = [
    "extra_fields",
    "long_strings",
    "enum_case",
    "unknown_enum_values",
    "numbers_as_strings",
    "date_time_without_zone",
];

/// The gateway and its journal directory.
fn gateway(extra_profiles: &str) -> (ocpp_gateway::GatewayHandle, std::path::PathBuf) {
    let mut config = test_config();
    config.admin.enabled = true;
    let mut toml = String::new();
    for quirk in QUIRKS {
        toml.push_str(&format!(
            "[[profiles]]\nname = \"{quirk}\"\nids = [\"LAX-{quirk}\"]\nlenient = [\"{quirk}\"]\n\n"
        ));
    }
    toml.push_str(extra_profiles);
    config.profiles = Config::parse(&toml, std::path::Path::new("lenient.toml"))
        .expect("valid profiles")
        .profiles;
    let journal = config.journal.directory.clone();
    (start(config), journal)
}

/// A quirky CALL, what strict validation answers it today, and what the
/// backend gets once it is tolerated.
struct Case {
    quirk: &'static str,
    action: &'static str,
    payload: Value,
    /// CALLERROR code and description (1.6 spelling).
    refusal: (&'static str, &'static str),
    /// The payload after correction (None: forwarded as sent).
    corrected: Option<Value>,
    note: &'static str,
}

/// Today's descriptions of the two refused 1.6 statuses.
const NOT_A_STATUS: [&str; 2] = [
    "status: \"charging\" is not one of Available, Preparing, Charging, SuspendedEVSE, \
     SuspendedEV, Finishing, Reserved, Unavailable, Faulted",
    "status: \"Levitating\" is not one of Available, Preparing, Charging, SuspendedEVSE, \
     SuspendedEV, Finishing, Reserved, Unavailable, Faulted",
];

fn cases() -> Vec<Case> {
    let status = |s: &str, ts: &str| json!({"connectorId": 1, "errorCode": "NoError", "status": s, "timestamp": ts});
    let zulu = "2026-01-01T00:00:00Z";
    vec![
        Case {
            quirk: "extra_fields",
            action: "Heartbeat",
            payload: json!({"firmwareBuild": {"n": [1, 2]}}),
            refusal: (
                "FormationViolation",
                "firmwareBuild: property is not defined by the schema",
            ),
            corrected: None,
            note: "extra_fields:firmwareBuild",
        },
        Case {
            quirk: "long_strings",
            action: "BootNotification",
            payload: json!({
                "chargePointVendor": "Acme",
                "chargePointModel": "X1",
                "chargePointSerialNumber": "SN-0123456789-0123456789-0123",
            }),
            refusal: (
                "PropertyConstraintViolation",
                "chargePointSerialNumber: string is 29 characters long, at most 25 are allowed",
            ),
            corrected: None,
            note: "long_strings:chargePointSerialNumber",
        },
        Case {
            quirk: "enum_case",
            action: "StatusNotification",
            payload: status("charging", zulu),
            refusal: ("PropertyConstraintViolation", NOT_A_STATUS[0]),
            corrected: Some(status("Charging", zulu)),
            note: "enum_case:status",
        },
        Case {
            quirk: "unknown_enum_values",
            action: "StatusNotification",
            payload: status("Levitating", zulu),
            refusal: ("PropertyConstraintViolation", NOT_A_STATUS[1]),
            corrected: None,
            note: "unknown_enum_values:status",
        },
        Case {
            quirk: "numbers_as_strings",
            action: "MeterValues",
            payload: json!({"connectorId": "2", "meterValue": [
                {"timestamp": zulu, "sampledValue": [{"value": "17"}]}
            ]}),
            refusal: (
                "TypeConstraintViolation",
                "connectorId: expected an integer",
            ),
            corrected: Some(json!({"connectorId": 2, "meterValue": [
                {"timestamp": zulu, "sampledValue": [{"value": "17"}]}
            ]})),
            note: "numbers_as_strings:connectorId",
        },
        Case {
            quirk: "date_time_without_zone",
            action: "StatusNotification",
            payload: status("Available", "2026-01-01T08:30:00.250"),
            refusal: (
                "PropertyConstraintViolation",
                "timestamp: \"2026-01-01T08:30:00.250\" is not an RFC 3339 date-time",
            ),
            corrected: Some(status("Available", "2026-01-01T08:30:00.250Z")),
            note: "date_time_without_zone:timestamp",
        },
    ]
}

/// The journal line of the answered CALL `id` from `cp`, once it is
/// written (message ids restart with each connection: a refused CALL of
/// an earlier one may have the same).
fn journal_line(dir: &std::path::Path, cp: &str, id: &str) -> Value {
    let mut found = None;
    wait_for(
        &format!("{cp}'s CALL {id} in the journal"),
        10 * SECOND,
        || {
            found = ocpp_gateway::journal::read_records(dir)
                .unwrap_or_default()
                .into_iter()
                .find(|r| {
                    r["cp"] == cp
                        && r["kind"] == "call"
                        && r["id"] == id
                        && r["error_code"].is_null()
                });
            found.is_some()
        },
    );
    found.unwrap()
}

#[test]
fn each_quirk_is_refused_without_its_profile_and_answered_with_it() {
    let (gw, journal) = gateway("");
    let mut strict = ChargePoint::connect(gw.local_addr(), "STRICT-1");
    let admin = gw.admin_address().expect("admin on");
    for case in cases() {
        // Without the profile: today's CALLERROR, to the letter.
        let refused = strict.call(case.action, case.payload.clone());
        assert_eq!(refused[0], 4, "{}: {refused}", case.quirk);
        assert_eq!(
            (refused[2].as_str(), refused[3].as_str()),
            (Some(case.refusal.0), Some(case.refusal.1)),
            "{}: {refused}",
            case.quirk
        );
        // A profile tolerating another quirk does not help.
        let other = QUIRKS.iter().find(|q| **q != case.quirk).unwrap();
        let mut wrong = ChargePoint::connect(gw.local_addr(), &format!("LAX-{other}"));
        let also_refused = wrong.call(case.action, case.payload.clone());
        assert_eq!(
            also_refused.as_array().unwrap()[2..],
            refused.as_array().unwrap()[2..],
            "{}",
            case.quirk
        );
        wrong.close();

        let id = format!("LAX-{}", case.quirk);
        let mut lax = ChargePoint::connect(gw.local_addr(), &id);
        let answer = lax.call(case.action, case.payload.clone());
        assert_eq!(answer[0], 3, "{id}: {answer}");
        let line = journal_line(&journal, &id, answer[1].as_str().unwrap());
        assert_eq!(line["lenient"], json!([case.note]), "{line}");
        let forwarded = case.corrected.clone().unwrap_or(case.payload.clone());
        assert_eq!(line["payload"], forwarded, "{id}: the journal's payload");
        lax.close();
        let counter = format!(
            "ocpp_gateway_lenient_total{{kind=\"{}\",action=\"{}\"}} 1\n",
            case.quirk, case.action
        );
        wait_for(&counter, 5 * SECOND, || {
            http(admin, "GET", "/metrics", None, None)
                .1
                .contains(&counter)
        });
    }
    // The refusals were journaled without notes.
    let records = ocpp_gateway::journal::read_records(&journal).unwrap();
    let strict_calls: Vec<_> = records.iter().filter(|r| r["cp"] == "STRICT-1").collect();
    assert!(!strict_calls.is_empty());
    assert!(
        strict_calls.iter().all(|r| r.get("lenient").is_none()),
        "{strict_calls:?}"
    );
    strict.close();
    stop(gw);
}

#[test]
fn every_quirk_at_once_in_one_payload() {
    let (gw, journal) = gateway(
        "[[profiles]]\nname = \"all\"\nids = [\"ALL-*\"]\nlenient = [\"extra_fields\", \
         \"enum_case\", \"numbers_as_strings\", \"date_time_without_zone\"]\n",
    );
    let mut cp = ChargePoint::connect(gw.local_addr(), "ALL-1");
    let payload = json!({"connectorId": "3", "meterValue": [{
        "timestamp": "2026-01-01T00:00:00",
        "sampledValue": [
            {"value": "1", "unit": "wh", "vendorX": true},
            {"value": "2", "measurand": "energy.active.import.register"}
        ]
    }]});
    let answer = cp.call("MeterValues", payload);
    assert_eq!(answer[0], 3, "{answer}");
    let line = journal_line(&journal, "ALL-1", answer[1].as_str().unwrap());
    assert_eq!(
        line["lenient"],
        json!([
            // In the order of the text (json! sorts keys).
            "numbers_as_strings:connectorId",
            "enum_case:meterValue[0].sampledValue[0].unit",
            "extra_fields:meterValue[0].sampledValue[0].vendorX",
            "enum_case:meterValue[0].sampledValue[1].measurand",
            "date_time_without_zone:meterValue[0].timestamp"
        ]),
        "{line}"
    );
    assert_eq!(
        line["payload"],
        json!({"connectorId": 3, "meterValue": [{
            "timestamp": "2026-01-01T00:00:00Z",
            "sampledValue": [
                {"value": "1", "unit": "Wh", "vendorX": true},
                {"value": "2", "measurand": "Energy.Active.Import.Register"}
            ]
        }]}),
        "{line}"
    );
    cp.close();
    stop(gw);
}

/// A profile that matches on the vendor covers the BootNotification that
/// names it (it cannot have matched before): Keba-like firmware with an
/// over-long serial number boots; another vendor's does not.
#[test]
fn a_vendor_profile_covers_the_boot_that_names_the_vendor() {
    let (gw, journal) = gateway(
        "[[profiles]]\nname = \"vendor-x\"\nvendor = \"VendorX*\"\nheartbeat_interval = \"42s\"\n\
         lenient = [\"long_strings\"]\n",
    );
    let long_serial = "S".repeat(40);
    let mut x = ChargePoint::connect(gw.local_addr(), "X-1");
    let answer = x.call(
        "BootNotification",
        json!({"chargePointVendor": "VendorX GmbH", "chargePointModel": "M",
               "chargePointSerialNumber": long_serial}),
    );
    assert_eq!(answer[0], 3, "{answer}");
    assert_eq!(answer[2]["interval"], 42, "vendor-x's interval: {answer}");
    let line = journal_line(&journal, "X-1", answer[1].as_str().unwrap());
    assert_eq!(
        line["lenient"],
        json!(["long_strings:chargePointSerialNumber"])
    );
    // From the boot on the profile is in force for its other CALLs too.
    let hb = x.call("Heartbeat", json!({}));
    assert_eq!(hb[0], 3, "{hb}");
    let detail = http(
        gw.admin_address().unwrap(),
        "GET",
        "/connections/X-1",
        None,
        None,
    );
    assert!(detail.1.contains("\"profile\":\"vendor-x\""), "{detail:?}");

    let mut other = ChargePoint::connect(gw.local_addr(), "Y-1");
    let refused = other.call(
        "BootNotification",
        json!({"chargePointVendor": "Other", "chargePointModel": "M",
               "chargePointSerialNumber": "S".repeat(40)}),
    );
    assert_eq!(refused[2], "PropertyConstraintViolation", "{refused}");
    x.close();
    other.close();
    stop(gw);
}

/// SIGHUP's reload (here through the handle main calls) applies a new
/// lenient list to a charge point already connected, at its next CALL.
#[test]
fn a_reload_applies_lenience_to_connected_charge_points() {
    let (gw, _journal) = gateway("");
    let mut cp = ChargePoint::connect(gw.local_addr(), "LATE-1");
    let quirky = json!({"connectorId": 1, "errorCode": "NoError", "status": "faulted"});
    let refused = cp.call("StatusNotification", quirky.clone());
    assert_eq!(refused[2], "PropertyConstraintViolation", "{refused}");
    let profiles = Config::parse(
        "[[profiles]]\nname = \"late\"\nids = [\"LATE-*\"]\nlenient = [\"enum_case\"]\n",
        std::path::Path::new("reload.toml"),
    )
    .expect("valid")
    .profiles;
    gw.reload_profiles(&profiles);
    wait_for("the new profile in force", 5 * SECOND, || {
        gw.connections(Some("LATE-1"))
            .first()
            .is_some_and(|c| c.profile.as_deref() == Some("late"))
    });
    let answer = cp.call("StatusNotification", quirky);
    assert_eq!(answer[0], 3, "{answer}");
    cp.close();
    stop(gw);
}
