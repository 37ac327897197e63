//! The event journal as its producers and tools see it: nothing lost or
//! split under load, rotation, crash repair, fsync policy, backpressure.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;
use ocpp_gateway::config::JournalConfig;
use ocpp_gateway::cross_thread::{Direction, JournalRecord, JournalSender, Kind, Payload};
use ocpp_gateway::journal::{Journal, JournalHandle, read_records};
use serde_json::Value;
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

/// A CALL from producer `p`, its `n`th, identifiable in the journal.
fn record(p: usize, n: usize) -> JournalRecord {
    JournalRecord::message(
        format!("CP-{p}").into(),
        (p % 4) as u16,
        Direction::In,
        Kind::Call,
        Some("Heartbeat"),
        &format!("{p}-{n}"),
        Payload::from_json(format!("{{\"p\":{p},\"n\":{n}}}")).unwrap(),
    )
}

fn journal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every record exactly once and, per producer, in the order sent.
fn assert_complete(records: &[Value], producers: usize, per_producer: usize) {
    assert_eq!(records.len(), producers * per_producer);
    let mut next: HashMap<u64, u64> = HashMap::new();
    for r in records {
        let (p, n) = (
            r["payload"]["p"].as_u64().unwrap(),
            r["payload"]["n"].as_u64().unwrap(),
        );
        let expected = next.entry(p).or_insert(0);
        assert_eq!(
            n, *expected,
            "producer {p}: record out of order or repeated"
        );
        *expected += 1;
        assert_eq!(r["id"], format!("{p}-{n}"));
        assert_eq!(r["cp"], format!("CP-{p}"));
        assert_eq!(r["kind"], "call");
    }
    assert_eq!(next.len(), producers);
    assert!(next.values().all(|&n| n == per_producer as u64));
}

#[test]
fn many_producers_through_a_small_queue_lose_nothing() {
    let dir = scratch_dir("producers");
    let (tx, handle) = start(&config(&dir), 8);
    let threads: Vec<_> = (0..200)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for n in 0..50 {
                    tx.send(record(p, n)).expect("journal open");
                }
            })
        })
        .collect();
    drop(tx);
    for t in threads {
        t.join().unwrap();
    }
    let stats = handle.shutdown();
    assert_eq!(stats.records_written, 10_000);
    assert_eq!(stats.records_synced, 10_000);
    assert_eq!((stats.queue_depth, stats.lag, stats.io_errors), (0, 0, 0));
    assert!(stats.fsyncs >= 1);
    let records = read_records(&dir).unwrap();
    assert_complete(&records, 200, 50);
    let bytes: u64 = journal_files(&dir)
        .iter()
        .map(|f| fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(bytes, stats.bytes_written);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotation_never_splits_a_line() {
    let dir = scratch_dir("rotation");
    let config = JournalConfig {
        rotate_size: 4096,
        ..config(&dir)
    };
    let (tx, handle) = start(&config, 16);
    for n in 0..1000 {
        tx.send(record(0, n)).unwrap();
        if n == 500 {
            // Bigger than a whole file: it gets a file of its own.
            let mut big = record(1, 0);
            big.payload = Some(
                Payload::from_json(format!(
                    "{{\"p\":1,\"n\":0,\"pad\":\"{}\"}}",
                    "x".repeat(5000)
                ))
                .unwrap(),
            );
            tx.send(big).unwrap();
        }
    }
    let stats = handle.shutdown();
    let files = journal_files(&dir);
    assert!(files.len() > 30, "{} files", files.len());
    assert_eq!(stats.rotations, files.len() as u64 - 1);
    let mut lines = 0;
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        assert!(text.ends_with('\n'), "{} ends mid-line", f.display());
        let count = text.lines().count();
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
        assert!(
            text.len() <= 4096 || count == 1,
            "{} has {} bytes in {count} lines",
            f.display(),
            text.len()
        );
        lines += count;
    }
    assert_eq!(lines, 1001);
    let records = read_records(&dir).unwrap();
    let zeros: Vec<Value> = records
        .iter()
        .filter(|r| r["payload"]["p"] == 0)
        .cloned()
        .collect();
    assert_complete(&zeros, 1, 1000);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_torn_last_line_is_skipped_then_cut_off_at_restart() {
    let dir = scratch_dir("torn");
    let (tx, handle) = start(&config(&dir), 8);
    for n in 0..10 {
        tx.send(record(0, n)).unwrap();
    }
    drop(tx);
    handle.shutdown();
    let files = journal_files(&dir);
    assert_eq!(files.len(), 1);
    let newest = files.last().unwrap().clone();
    let whole = fs::metadata(&newest).unwrap().len();

    // A crash in the middle of a write.
    let torn = b"{\"ts\":\"2026-11-24T20:20:38.541Z\",\"cp\":\"CP-0\",\"rea";
    fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap()
        .write_all(torn)
        .unwrap();
    assert_complete(&read_records(&dir).unwrap(), 1, 10);

    let (tx, handle) = start(&config(&dir), 8);
    assert_eq!(
        fs::metadata(&newest).unwrap().len(),
        whole,
        "torn tail cut off"
    );
    for n in 10..15 {
        tx.send(record(0, n)).unwrap();
    }
    handle.shutdown();
    let files = journal_files(&dir);
    assert_eq!(files.len(), 2, "the restart writes a new file");
    assert!(files[1] > newest, "new names sort after old ones");
    assert_complete(&read_records(&dir).unwrap(), 1, 15);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_writer_per_directory() {
    let dir = scratch_dir("lock");
    let (_tx, handle) = start(&config(&dir), 8);
    let e = Journal::start(&config(&dir), 8)
        .err()
        .expect("second journal refused");
    assert!(e.to_string().contains("in use"), "{e}");
    handle.shutdown();
    // Released with the writer.
    let (_tx, handle) = start(&config(&dir), 8);
    handle.shutdown();
    fs::remove_dir_all(&dir).unwrap();
}

/// Sends `count` records one at a time, each written before the next.
fn send_one_by_one(tx: &JournalSender, handle: &JournalHandle, count: usize) {
    for n in 0..count {
        let before = handle.stats().records_written;
        tx.send(record(0, n)).unwrap();
        wait_for("record written", Duration::from_secs(5), || {
            handle.stats().records_written > before
        });
    }
}

#[test]
fn fsync_count_follows_the_interval() {
    // 0: every batch is synced.
    let dir = scratch_dir("fsync0");
    let (tx, handle) = start(
        &JournalConfig {
            fsync_interval: Duration::ZERO,
            ..config(&dir)
        },
        8,
    );
    send_one_by_one(&tx, &handle, 20);
    let stats = handle.stats();
    assert!(stats.fsyncs >= 20, "{stats:?}");
    assert_eq!(stats.records_synced, 20);
    handle.shutdown();
    fs::remove_dir_all(&dir).unwrap();

    // Long: nothing synced until shutdown, which syncs once.
    let dir = scratch_dir("fsync1h");
    let (tx, handle) = start(
        &JournalConfig {
            fsync_interval: Duration::from_secs(3600),
            ..config(&dir)
        },
        8,
    );
    send_one_by_one(&tx, &handle, 20);
    std::thread::sleep(Duration::from_millis(50));
    let stats = handle.stats();
    assert_eq!((stats.fsyncs, stats.records_synced), (0, 0), "{stats:?}");
    let stats = handle.shutdown();
    assert_eq!((stats.fsyncs, stats.records_synced), (1, 20), "{stats:?}");
    fs::remove_dir_all(&dir).unwrap();

    // Short: a record is synced one interval after it is written, with no
    // further traffic to wake the writer.
    let dir = scratch_dir("fsync100ms");
    let (tx, handle) = start(
        &JournalConfig {
            fsync_interval: Duration::from_millis(100),
            ..config(&dir)
        },
        8,
    );
    let sent = Instant::now();
    tx.send(record(0, 0)).unwrap();
    wait_for("timed fsync", Duration::from_secs(5), || {
        handle.stats().fsyncs == 1
    });
    assert!(sent.elapsed() >= Duration::from_millis(100));
    assert_eq!(handle.stats().records_synced, 1);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(handle.stats().fsyncs, 1, "nothing new, no new fsync");
    handle.shutdown();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn try_send_on_a_full_queue_hands_the_record_back() {
    let dir = scratch_dir("full");
    let (tx, handle) = start(&config(&dir), 4);
    let mut sent = 0;
    let returned = {
        let _paused = handle.pause();
        // 4 fit in the queue; the writer may hold one more it was waiting for.
        let returned = loop {
            assert!(sent <= 5, "queue never filled");
            match tx.try_send(record(0, sent)) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(r)) => break r,
                Err(e) => panic!("{e:?}"),
            }
        };
        assert!(sent >= 4);
        let stats = handle.stats();
        assert_eq!(stats.queue_depth, 4);
        assert_eq!(stats.lag, sent as u64, "{stats:?}");
        assert_eq!(stats.records_written, 0);
        returned
    };
    assert_eq!(returned.id.as_ref().unwrap().as_str(), format!("0-{sent}"));
    // Resumed: the reactor's retry gets through.
    tx.send(returned).unwrap();
    let stats = handle.shutdown();
    assert_eq!(stats.records_written, sent as u64 + 1);
    assert_complete(&read_records(&dir).unwrap(), 1, sent + 1);

    // After shutdown a record comes back instead of vanishing.
    let back = tx.send(record(0, 99)).unwrap_err().0;
    assert_eq!(back.id.unwrap().as_str(), "0-99");
    assert!(matches!(
        tx.try_send(record(0, 100)),
        Err(TrySendError::Disconnected(_))
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn connect_and_disconnect_lines() {
    let dir = scratch_dir("lines");
    let (tx, handle) = start(&config(&dir), 8);
    let cp: Arc<str> = "CP/ä\"1".into();
    tx.send(JournalRecord::connect(
        cp.clone(),
        1,
        "10.0.0.7:50123".parse().unwrap(),
    ))
    .unwrap();
    let frame = Utf8Bytes::from(
        r#"[2,"m1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]"#,
    );
    let parts: Vec<&RawValue> = serde_json::from_str(frame.as_str()).unwrap();
    tx.send(JournalRecord::message(
        cp.clone(),
        1,
        Direction::In,
        Kind::Call,
        Some("BootNotification"),
        "m1",
        Payload::in_frame(&frame, parts[3]),
    ))
    .unwrap();
    tx.send(JournalRecord::disconnect(cp.clone(), 1, 1001, "going away"))
        .unwrap();
    handle.shutdown();
    let text = fs::read_to_string(&journal_files(&dir)[0]).unwrap();
    assert!(
        text.contains(r#","payload":{"chargePointVendor":"V","chargePointModel":"M"}}"#),
        "payload verbatim: {text}"
    );
    let r = read_records(&dir).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["kind"], "connect");
    assert_eq!(r[0]["remote"], "10.0.0.7:50123");
    assert_eq!(r[0]["cp"], &*cp);
    assert_eq!(r[1]["action"], "BootNotification");
    assert_eq!(r[1]["reactor"], 1);
    assert_eq!(r[2]["kind"], "disconnect");
    assert_eq!(r[2]["close_code"], 1001);
    assert_eq!(r[2]["close_reason"], "going away");
    fs::remove_dir_all(&dir).unwrap();
}
