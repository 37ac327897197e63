//! Journal throughput: records/s to disk for ~300-byte Heartbeat lines,
//! fsync every 1 s vs every batch, saturated and trickling.
//! Run: `cargo bench --bench journal`. A measurement, not a test: the
//! figures are written down in perf/README.md, never asserted.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ocpp_gateway::config::JournalConfig;
use ocpp_gateway::cross_thread::{Direction, JournalRecord, JournalSender, Kind, Payload};
use ocpp_gateway::journal::{Journal, JournalHandle};
use serde_json::value::RawValue;
use tungstenite::Utf8Bytes;

fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ocpp-gw-journal-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn config(dir: &Path) -> JournalConfig {
    JournalConfig {
        directory: dir.to_owned(),
        ..JournalConfig::default()
    }
}

fn start(config: &JournalConfig, capacity: usize) -> (JournalSender, JournalHandle) {
    Journal::start(config, capacity).expect("start journal")
}

/// Records/s to disk for ~300-byte Heartbeat lines, fsync every 1s vs every
/// batch.
fn throughput() {
    const PRODUCERS: usize = 2;
    const PER_PRODUCER: usize = 250_000;
    let frame = Utf8Bytes::from(format!(
        r#"[2,"0f0e0d0c-0b0a-0908-0706-050403020100","Heartbeat",{{"note":"{}"}}]"#,
        "x".repeat(135)
    ));
    let payload_raw: Vec<&RawValue> = serde_json::from_str(frame.as_str()).unwrap();
    let payload = Payload::in_frame(&frame, payload_raw[3]);
    let cp: Arc<str> = "CP-000123".into();
    let make = || {
        JournalRecord::message(
            cp.clone(),
            1,
            Direction::In,
            Kind::Call,
            Some("Heartbeat"),
            "0f0e0d0c-0b0a-0908-0706-050403020100",
            payload.clone(),
        )
    };
    let mut line = Vec::new();
    make().encode(&mut line);
    println!("record line: {} bytes", line.len());
    // Saturated (2 producers, full-size queue: batches of up to 8192) and
    // trickling (capacity 1: batches of one or two, so fsync 0 pays an fsync
    // for nearly every record).
    let runs = [
        (
            "fsync 1s, capacity 8192",
            Duration::from_secs(1),
            8192,
            PRODUCERS,
            PER_PRODUCER,
        ),
        (
            "fsync 0,  capacity 8192",
            Duration::ZERO,
            8192,
            PRODUCERS,
            PER_PRODUCER,
        ),
        (
            "fsync 1s, capacity 1   ",
            Duration::from_secs(1),
            1,
            1,
            100_000,
        ),
        ("fsync 0,  capacity 1   ", Duration::ZERO, 1, 1, 5_000),
    ];
    for (label, interval, capacity, producers, per_producer) in runs {
        let dir = scratch_dir("throughput");
        let config = JournalConfig {
            fsync_interval: interval,
            ..config(&dir)
        };
        let (tx, handle) = start(&config, capacity);
        let t0 = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..producers {
                let tx = tx.clone();
                s.spawn(move || {
                    for _ in 0..per_producer {
                        tx.send(make()).unwrap();
                    }
                });
            }
        });
        drop(tx);
        let stats = handle.shutdown();
        let secs = t0.elapsed().as_secs_f64();
        let total = (producers * per_producer) as f64;
        println!(
            "{label}: {total} records in {secs:.3}s = {:.0} records/s, {:.1} MB/s, {} fsyncs ({:.1} records/fsync), {} rotations",
            total / secs,
            stats.bytes_written as f64 / secs / 1e6,
            stats.fsyncs,
            total / stats.fsyncs.max(1) as f64,
            stats.rotations
        );
        assert_eq!(stats.records_written, total as u64);
        fs::remove_dir_all(&dir).unwrap();
    }
}

fn main() {
    throughput();
}
