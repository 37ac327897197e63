//! Protocol hot path on one core: a text frame in, the envelope parsed, the
//! action looked up and the payload validated into its typed request — what a
//! processor does per CALL before deciding the answer. Plain `Instant` loop;
//! a counting global allocator gives allocations and bytes per frame.
//!
//! `cargo bench --bench protocol`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use ocpp_gateway::ocpp::frame::{self, Frame};
use ocpp_gateway::ocpp::schema::Lenience;
use ocpp_gateway::ocpp::{v16, v21, v201};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; the counters
// are plain atomics that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
enum Ver {
    V16,
    V201,
    V21,
}

/// Parses and validates one CALL frame under `lenience` (and writes the
/// corrected payload, as the processor does, if lenient mode corrected
/// anything); `true` if it was accepted.
fn handle(ver: Ver, lenience: Lenience, text: &str) -> bool {
    let Ok(Frame::Call {
        action, payload, ..
    }) = frame::parse(text)
    else {
        return false;
    };
    let payload = payload.get();
    let tolerated = match ver {
        Ver::V16 => v16::Action::from_name(&action)
            .and_then(|a| v16::parse_request_lenient(a, payload, lenience).ok())
            .map(|(request, t)| {
                black_box(request);
                t
            }),
        Ver::V201 => v201::Action::from_name(&action)
            .and_then(|a| v201::parse_request_lenient(a, payload, lenience).ok())
            .map(|(request, t)| {
                black_box(request);
                t
            }),
        Ver::V21 => v21::Action::from_name(&action)
            .and_then(|a| v21::parse_request_lenient(a, payload, lenience).ok())
            .map(|(request, t)| {
                black_box(request);
                t
            }),
    };
    let Some(tolerated) = tolerated else {
        return false;
    };
    if !tolerated.is_empty() {
        black_box(tolerated.corrected(payload));
        black_box(tolerated.notes_json());
    }
    true
}

fn sampled_value(i: usize) -> String {
    let measurands = [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    ];
    format!(
        r#"{{"value":"{}.{}","context":"Sample.Periodic","format":"Raw","measurand":"{}","phase":"L{}","location":"Outlet","unit":"{}"}}"#,
        1000 + i * 7,
        i,
        measurands[i % measurands.len()],
        i % 3 + 1,
        if i.is_multiple_of(2) { "Wh" } else { "A" },
    )
}

fn meter_values(samples: usize) -> String {
    let values: Vec<String> = (0..samples).map(sampled_value).collect();
    format!(
        r#"[2,"a3f1c2d4-0001","MeterValues",{{"connectorId":1,"transactionId":4711,"meterValue":[{{"timestamp":"2024-05-01T10:00:00Z","sampledValue":[{}]}}]}}]"#,
        values.join(",")
    )
}

/// A 2.1 NotifyReport of `entries` reportData (component, variable, one
/// attribute and its characteristics each), as a device-model report is.
fn notify_report(entries: usize) -> String {
    let data: Vec<String> = (0..entries)
        .map(|i| {
            format!(
                r#"{{"component":{{"name":"EVSE","evse":{{"id":{}}}}},"variable":{{"name":"Power{i}"}},"variableAttribute":[{{"type":"Actual","value":"{}","mutability":"ReadOnly","persistent":true,"constant":false}}],"variableCharacteristics":{{"unit":"W","dataType":"decimal","maxLimit":22000,"supportsMonitoring":true}}}}"#,
                i % 4 + 1,
                1000 + i
            )
        })
        .collect();
    format!(
        r#"[2,"r1","NotifyReport",{{"requestId":1,"generatedAt":"2026-12-01T10:00:00Z","tbc":false,"seqNo":0,"reportData":[{}]}}]"#,
        data.join(",")
    )
}

struct Row {
    name: &'static str,
    frames_per_sec: f64,
    ns_per_frame: f64,
    allocs: f64,
    bytes: f64,
}

fn measure(name: &'static str, ver: Ver, text: &str) -> Row {
    measure_with(name, ver, Lenience::STRICT, text)
}

fn measure_with(name: &'static str, ver: Ver, lenience: Lenience, text: &str) -> Row {
    assert!(
        handle(ver, lenience, text),
        "{name}: the benchmark frame must be valid"
    );
    // Allocations of one frame, measured apart from the timing loop.
    let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    const COUNTED: u64 = 1000;
    for _ in 0..COUNTED {
        black_box(handle(ver, lenience, black_box(text)));
    }
    let allocs = (ALLOCS.load(Relaxed) - a0) as f64 / COUNTED as f64;
    let bytes = (BYTES.load(Relaxed) - b0) as f64 / COUNTED as f64;
    // Warm up, then run batches for about a second.
    let budget = Duration::from_millis(1000);
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget / 5 {
        for _ in 0..1000 {
            black_box(handle(ver, lenience, black_box(text)));
        }
    }
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..1000 {
            black_box(handle(ver, lenience, black_box(text)));
        }
        n += 1000;
    }
    let secs = start.elapsed().as_secs_f64();
    Row {
        name,
        frames_per_sec: n as f64 / secs,
        ns_per_frame: secs * 1e9 / n as f64,
        allocs,
        bytes,
    }
}

fn main() {
    let heartbeat = r#"[2,"19223201","Heartbeat",{}]"#;
    let boot = r#"[2,"1","BootNotification",{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger","chargePointSerialNumber":"cp-0001","firmwareVersion":"1.0.4","meterType":"ABB"}]"#;
    let mv1 = meter_values(1);
    let mv10 = meter_values(10);
    let tx201 = r#"[2,"7","TransactionEvent",{"eventType":"Updated","timestamp":"2024-05-01T10:00:00Z","triggerReason":"MeterValuePeriodic","seqNo":3,"transactionInfo":{"transactionId":"tx-1","chargingState":"Charging"},"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"2024-05-01T10:00:00Z","sampledValue":[{"value":1234.5,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}]"#;

    let tx21 = r#"[2,"8","TransactionEvent",{"eventType":"Started","timestamp":"2026-12-01T10:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"tx-2","chargingState":"EVConnected"},"idToken":{"idToken":"04A2B3C4","type":"ISO14443"},"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"2026-12-01T10:00:00Z","sampledValue":[{"value":0.0,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}]"#;
    let report100 = notify_report(100);
    // What sloppy firmware sends: every unit in lower case (10 corrections).
    let mv10_sloppy = mv10.replace("\"Wh\"", "\"wh\"").replace("\"A\"", "\"a\"");
    let all = Lenience::ALL;

    let rows = [
        measure("1.6 Heartbeat", Ver::V16, heartbeat),
        measure("1.6 MeterValues, 1 sample", Ver::V16, &mv1),
        measure("1.6 MeterValues, 10 samples", Ver::V16, &mv10),
        measure_with("  lenient (all quirks), valid", Ver::V16, all, &mv10),
        measure_with("  lenient, 10 enum_case fixes", Ver::V16, all, &mv10_sloppy),
        measure("1.6 BootNotification", Ver::V16, boot),
        measure("2.0.1 TransactionEvent, 1 sample", Ver::V201, tx201),
        measure("2.1 Heartbeat", Ver::V21, heartbeat),
        measure("2.1 TransactionEvent Started", Ver::V21, tx21),
        measure("2.1 NotifyReport, 100 entries", Ver::V21, &report100),
    ];
    println!("frame parse + action lookup + payload validation, one core");
    println!(
        "{:<34} {:>12} {:>10} {:>12} {:>12}",
        "frame", "frames/s", "ns/frame", "allocs/frame", "bytes/frame"
    );
    for r in rows {
        println!(
            "{:<34} {:>12.0} {:>10.0} {:>12.1} {:>12.0}",
            r.name, r.frames_per_sec, r.ns_per_frame, r.allocs, r.bytes
        );
    }
}
