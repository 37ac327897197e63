//! The keeper against a real nats-server (skipped when none is installed):
//! two keepers on one server stand for two gateways; a stand-in for the
//! reactors hands the test every call and lets it answer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::store::ACK_WAIT;
use super::{Keeper, StartCall};
use crate::config::{BusKind, Config};
use crate::cross_thread::{
    CancelOutcome, Deliver, QueueRefusal, QueueStats, QueuedCommand, ServerCallOutcome,
    ServerCallRequest, ToQueue, command_queue::new_command_id, unix_ms,
};
use crate::ocpp::OcppVersion;

const WAIT: Duration = Duration::from_secs(10);

fn nats_binary() -> Option<&'static str> {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

struct Server {
    child: std::process::Child,
    url: String,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Option<Server> {
        let binary = nats_binary()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!("ocpp-queue-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = std::process::Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("store"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server does not accept");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Server {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One keeper on its own thread and runtime, as in a gateway.
struct Gateway {
    inbox: tokio::sync::mpsc::Sender<ToQueue>,
    calls: std_mpsc::Receiver<ServerCallRequest>,
    connected: Arc<AtomicBool>,
    stats: Arc<QueueStats>,
    /// Dropping it ends the runtime at once, tasks and all (a crash, as
    /// far as NATS can tell: nothing more is written or acknowledged).
    crash: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn config(id: &str, url: &str) -> Config {
    let mut config = Config::default();
    config.bus.kind = BusKind::Nats;
    config.bus.servers = vec![url.into()];
    config.bus.gateway_id = id.into();
    config.queue.max_per_charge_point = 3;
    config.queue.max_total = 5;
    config.channels.capacity = 64;
    config
}

impl Gateway {
    fn start(id: &str, url: &str) -> Gateway {
        Gateway::start_with(id, url, |_| {})
    }

    fn start_with(id: &str, url: &str, edit: impl FnOnce(&mut Config)) -> Gateway {
        let mut config = config(id, url);
        edit(&mut config);
        let config = Arc::new(config);
        let (inbox, inbox_rx) = tokio::sync::mpsc::channel(config.channels.capacity);
        let (calls_tx, calls) = std_mpsc::channel();
        let connected = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(QueueStats::default());
        let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
        let (up_tx, up) = std_mpsc::channel();
        let (url, up2, stats2) = (url.to_owned(), connected.clone(), stats.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let client = async_nats::connect(url).await.expect("connect");
                let js = async_nats::jetstream::new(client.clone());
                let calls_tx = std::sync::Mutex::new(calls_tx);
                let start_call: StartCall = Arc::new(move |request: ServerCallRequest| {
                    if !up2.load(Ordering::Relaxed) {
                        return Err(ServerCallOutcome::NotConnected);
                    }
                    let _ = calls_tx.lock().unwrap().send(request);
                    Ok(())
                });
                let keeper = Keeper::new(client, js, config, start_call, stats2);
                let (_stop_tx, stop) = tokio::sync::watch::channel(None);
                let run = tokio::spawn(keeper.clone().run(inbox_rx, stop));
                while keeper.store.get().is_none() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let _ = up_tx.send(());
                let _ = crashed.await;
                run.abort();
            });
            rt.shutdown_background();
        });
        up.recv_timeout(WAIT).expect("keeper open");
        Gateway {
            inbox,
            calls,
            connected,
            stats,
            crash: Some(crash),
            thread: Some(thread),
        }
    }

    fn crash(mut self) {
        drop(self.crash.take());
        if let Some(thread) = self.thread.take() {
            thread.join().expect("keeper thread");
        }
    }

    fn ask<T: Send + 'static>(&self, make: impl FnOnce(Deliver<T>) -> ToQueue) -> T {
        let (tx, rx) = std_mpsc::channel();
        let message = make(Deliver::new(move |v| {
            let _ = tx.send(v);
        }));
        self.inbox.try_send(message).expect("inbox has room");
        rx.recv_timeout(WAIT).expect("the keeper answers")
    }

    fn enqueue(&self, command: QueuedCommand) -> Result<(), QueueRefusal> {
        self.ask(|reply| ToQueue::Enqueue {
            command: Box::new(command),
            reply,
        })
    }

    fn get(&self, id: &str) -> Value {
        let command_id = id.to_owned();
        self.ask(|reply| ToQueue::Get { command_id, reply })
            .expect("get")
            .unwrap_or(Value::Null)
    }

    fn list(&self, cp: &str) -> Vec<Value> {
        let charge_point = cp.to_owned();
        self.ask(|reply| ToQueue::List {
            charge_point,
            reply,
        })
        .expect("list")
    }

    fn ready(&self, cp: &str) {
        let message = ToQueue::Ready {
            charge_point: cp.into(),
            version: OcppVersion::V16,
        };
        self.inbox.try_send(message).expect("inbox has room");
    }

    fn gone(&self, cp: &str) {
        let message = ToQueue::Gone {
            charge_point: cp.into(),
        };
        self.inbox.try_send(message).expect("inbox has room");
    }

    fn next_call(&self, within: Duration) -> Option<ServerCallRequest> {
        self.calls.recv_timeout(within).ok()
    }

    fn count(&self, counter: impl Fn(&QueueStats) -> &std::sync::atomic::AtomicU64) -> u64 {
        counter(&self.stats).load(Ordering::Relaxed)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        drop(self.crash.take());
    }
}

fn command(cp: &str, action: &str, ttl: Duration, key: Option<&str>) -> QueuedCommand {
    let now = unix_ms();
    QueuedCommand {
        command_id: new_command_id().unwrap(),
        charge_point: cp.into(),
        action: action.into(),
        payload: r#"{"type":"Soft"}"#.into(),
        timeout: Duration::from_secs(5),
        queued_at_ms: now,
        expires_at_ms: now + ttl.as_millis() as u64,
        replace_key: key.map(Into::into),
    }
}

fn wait_state(gw: &Gateway, id: &str, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let view = gw.get(id);
        if view["state"] == state {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is not {state} in time: {view}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn queued_on_one_gateway_delivered_by_another_and_seen_from_both() {
    let Some(server) = Server::start("across") else {
        return;
    };
    let a = Gateway::start("gw-a", &server.url);
    let b = Gateway::start("gw-b", &server.url);
    let first = command("CP.1", "Reset", HOUR, None);
    let second = command("CP.1", "Reset", HOUR, None);
    let (id1, id2) = (first.command_id.clone(), second.command_id.clone());
    a.enqueue(first).unwrap();
    a.enqueue(second).unwrap();
    assert_eq!(a.get(&id1)["state"], "queued");
    assert_eq!(b.get(&id1)["state"], "queued");
    let listed: Vec<Value> = b
        .list("CP.1")
        .iter()
        .map(|v| v["command_id"].clone())
        .collect();
    assert_eq!(listed, [Value::from(id1.clone()), Value::from(id2.clone())]);

    b.ready("CP.1");
    let call = b.next_call(WAIT).expect("B delivers the first command");
    assert_eq!(call.command_id.as_deref(), Some(id1.as_str()));
    assert_eq!(&*call.charge_point, "CP.1");
    assert_eq!(&*call.payload, r#"{"type":"Soft"}"#);
    assert_eq!(a.get(&id1)["state"], "sent");
    // One outstanding at a time: the second waits for the first's outcome.
    assert!(b.next_call(Duration::from_millis(800)).is_none());
    call.reply
        .send(ServerCallOutcome::Result(r#"{"status":"Accepted"}"#.into()));
    let view = wait_state(&a, &id1, "answered", WAIT);
    assert_eq!(view["result"]["status"], "Accepted");
    let call = b.next_call(WAIT).expect("then the second");
    assert_eq!(call.command_id.as_deref(), Some(id2.as_str()));
    call.reply.send(ServerCallOutcome::Error {
        code: "NotSupported".into(),
        description: "no".into(),
        details: "{}".into(),
    });
    let view = wait_state(&a, &id2, "answered", WAIT);
    assert_eq!(view["callerror"]["code"], "NotSupported");
    assert!(a.list("CP.1").is_empty());
    assert_eq!(b.count(|s| &s.delivered), 2);
    assert_eq!(b.count(|s| &s.answered), 2);
    assert_eq!(a.count(|s| &s.queued), 2);

    // Queued while the charge point is ready on B: B delivers it promptly.
    let third = command("CP.1", "Reset", HOUR, None);
    let id3 = third.command_id.clone();
    a.enqueue(third).unwrap();
    let call = b.next_call(WAIT).expect("a command queued while ready");
    assert_eq!(call.command_id.as_deref(), Some(id3.as_str()));
    call.reply.send(ServerCallOutcome::Timeout);
    let view = wait_state(&a, &id3, "failed", WAIT);
    assert_eq!(view["reason"], "no answer within 5000 ms");
}

#[test]
fn a_command_left_sent_by_a_dead_gateway_fails_and_is_never_sent_again() {
    let Some(server) = Server::start("crash") else {
        return;
    };
    let a = Gateway::start("gw-a", &server.url);
    let b = Gateway::start("gw-b", &server.url);
    let held = command("CP-2", "Reset", HOUR, None);
    let after = command("CP-2", "Reset", HOUR, None);
    let (held_id, after_id) = (held.command_id.clone(), after.command_id.clone());
    a.enqueue(held).unwrap();
    a.enqueue(after).unwrap();
    b.ready("CP-2");
    let call = b.next_call(WAIT).expect("B sends it");
    assert_eq!(call.command_id.as_deref(), Some(held_id.as_str()));
    b.crash();
    drop(call);
    assert_eq!(a.get(&held_id)["state"], "sent");
    a.ready("CP-2");
    let view = wait_state(&a, &held_id, "failed", ACK_WAIT + WAIT);
    assert_eq!(view["reason"], super::record::RESTARTED);
    let call = a.next_call(WAIT).expect("the next command goes");
    assert_eq!(call.command_id.as_deref(), Some(after_id.as_str()));
    call.reply.send(ServerCallOutcome::Result("{}".into()));
    wait_state(&a, &after_id, "answered", WAIT);
    assert!(a.next_call(Duration::from_millis(500)).is_none());
    assert_eq!(a.count(|s| &s.failed), 1);
}

#[test]
fn replace_key_bounds_ttl_and_cancel() {
    let Some(server) = Server::start("bounds") else {
        return;
    };
    let a = Gateway::start("gw-a", &server.url);
    let b = Gateway::start("gw-b", &server.url);
    let key = Some("ChangeConfiguration:HeartbeatInterval");
    let old = command("CP-3", "ChangeConfiguration", HOUR, key);
    let new = command("CP-3", "ChangeConfiguration", HOUR, key);
    let (old_id, new_id) = (old.command_id.clone(), new.command_id.clone());
    a.enqueue(old).unwrap();
    b.enqueue(new).unwrap();
    let view = a.get(&old_id);
    assert_eq!(view["state"], "cancelled");
    assert_eq!(view["replaced_by"], new_id.as_str());
    assert_eq!(a.list("CP-3").len(), 1);

    // max_per_charge_point = 3: the fourth is refused (507).
    a.enqueue(command("CP-3", "Reset", HOUR, None)).unwrap();
    let last = command("CP-3", "Reset", HOUR, None);
    let last_id = last.command_id.clone();
    a.enqueue(last).unwrap();
    assert_eq!(
        a.enqueue(command("CP-3", "Reset", HOUR, None)),
        Err(QueueRefusal::ChargePointFull { max: 3 })
    );
    assert_eq!(a.count(|s| &s.refused_charge_point_full), 1);
    // Full, a replacement still takes the replaced one's place.
    let newer = command("CP-3", "ChangeConfiguration", HOUR, key);
    let newer_id = newer.command_id.clone();
    b.enqueue(newer).unwrap();
    assert_eq!(a.get(&new_id)["replaced_by"], newer_id.as_str());
    // max_total = 5: two more for another charge point, then refused.
    a.enqueue(command("CP-4", "Reset", HOUR, None)).unwrap();
    a.enqueue(command("CP-4", "Reset", HOUR, None)).unwrap();
    assert_eq!(
        a.enqueue(command("CP-4", "Reset", HOUR, None)),
        Err(QueueRefusal::TotalFull { max: 5 })
    );

    // Cancel: queued → cancelled (its place freed); twice → too late.
    let cancelled = a.ask(|reply| ToQueue::Cancel {
        command_id: last_id.clone(),
        reply,
    });
    assert!(matches!(cancelled, CancelOutcome::Cancelled(v) if v["state"] == "cancelled"));
    let again = b.ask(|reply| ToQueue::Cancel {
        command_id: last_id.clone(),
        reply,
    });
    assert!(matches!(again, CancelOutcome::TooLate(_)));
    let unknown = b.ask(|reply| ToQueue::Cancel {
        command_id: "c0".into(),
        reply,
    });
    assert_eq!(unknown, CancelOutcome::Unknown);
    assert_eq!(a.list("CP-3").len(), 2);

    // A 1 s ttl expires unsent, swept by a gateway (nobody holds CP-5).
    a.ask(|reply| ToQueue::Cancel {
        command_id: newer_id.clone(),
        reply,
    });
    let short = command("CP-5", "Reset", Duration::from_secs(1), None);
    let short_id = short.command_id.clone();
    b.enqueue(short).unwrap();
    wait_state(&a, &short_id, "expired", WAIT);
    assert_eq!(a.count(|s| &s.expired) + b.count(|s| &s.expired), 1);
}

#[test]
fn a_call_that_never_reached_the_wire_is_queued_again() {
    let Some(server) = Server::start("again") else {
        return;
    };
    let a = Gateway::start("gw-a", &server.url);
    let queued = command("CP-6", "Reset", HOUR, None);
    let id = queued.command_id.clone();
    a.enqueue(queued).unwrap();
    a.connected.store(false, Ordering::Relaxed);
    a.ready("CP-6");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(a.get(&id)["state"], "queued");
    a.gone("CP-6");
    a.connected.store(true, Ordering::Relaxed);
    a.ready("CP-6");
    let call = a.next_call(WAIT).expect("delivered at the next Ready");
    assert_eq!(call.command_id.as_deref(), Some(id.as_str()));
    call.reply.send(ServerCallOutcome::ClosedBeforeSending);
    wait_state(&a, &id, "queued", WAIT);
}

#[test]
fn changed_bounds_apply_to_an_existing_stream() {
    let Some(server) = Server::start("bounds-change") else {
        return;
    };
    let a = Gateway::start("gw-a", &server.url);
    a.crash();
    let a = Gateway::start_with("gw-a", &server.url, |c| c.queue.max_per_charge_point = 1);
    a.enqueue(command("CP-7", "Reset", HOUR, None)).unwrap();
    assert_eq!(
        a.enqueue(command("CP-7", "Reset", HOUR, None)),
        Err(QueueRefusal::ChargePointFull { max: 1 })
    );
}
