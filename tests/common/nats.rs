//! NATS side of the bus tests: a real `nats-server` child process, a client
//! that reads the event stream and the presence bucket, and background
//! subscribers that play a backend (or just record what is published).
#![allow(dead_code)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use async_nats::jetstream;
use async_nats::{RequestErrorKind, Subject};
use futures_util::StreamExt;
use serde_json::Value;

use super::scratch_dir;

/// How long any single NATS operation of the harness may take.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

pub fn nats_server_binary() -> &'static str {
    for candidate in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if Path::new(candidate).exists() {
            return candidate;
        }
    }
    "nats-server"
}

/// A current-thread Tokio runtime for the NATS client side of a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `nats-server -js` on a free loopback port with its own store directory.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = scratch_dir("nats");
        let mut server = NatsServer {
            child: None,
            port,
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "nats-server already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats-server.log"))
            .expect("nats-server log file");
        let child = Command::new(nats_server_binary())
            .arg("-js")
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.dir.join("store"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(self.addr()).is_ok() {
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "nats-server exited ({status}) before accepting: {}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nats-server on port {} does not accept: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store, so
    /// JetStream streams and buckets survive.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `[bus]` table for a gateway on `url`: small presence TTL, short
/// backend timeout. `extra` is appended verbatim (more `[bus]` keys, then
/// possibly a `[bus.answers]` table).
pub fn bus_table(url: &str, gateway_id: &str, extra: &str) -> String {
    format!(
        "[bus]\nkind = \"nats\"\nservers = [\"{url}\"]\ngateway_id = \"{gateway_id}\"\n\
         presence_ttl = \"2s\"\nbackend_timeout = \"500ms\"\n{extra}\n"
    )
}

/// The token of a charge point id in subjects and KV keys.
pub fn token(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

/// One message of the event stream.
#[derive(Clone, Debug)]
pub struct Event {
    pub seq: u64,
    pub subject: String,
    pub msg_id: Option<String>,
    pub gateway: Option<String>,
    /// The raw body, to check it is one JSON line.
    pub raw: String,
    pub body: Value,
}

impl Event {
    pub fn kind(&self) -> &str {
        self.body["kind"].as_str().unwrap_or("")
    }
    pub fn cp(&self) -> &str {
        self.body["cp"].as_str().unwrap_or("")
    }
}

/// Reads a stream incrementally by sequence number.
pub struct EventReader {
    pub stream: String,
    next_seq: u64,
    pub events: Vec<Event>,
}

impl EventReader {
    pub fn new(stream: &str) -> EventReader {
        EventReader {
            stream: stream.to_owned(),
            next_seq: 1,
            events: Vec::new(),
        }
    }
}

/// A NATS client for the test thread (current-thread runtime: the
/// connection only makes progress inside the calls below).
pub struct Bus {
    pub rt: tokio::runtime::Runtime,
    pub client: async_nats::Client,
    pub js: jetstream::Context,
}

impl Bus {
    pub fn connect(url: &str) -> Bus {
        let rt = runtime();
        let client = rt
            .block_on(async {
                tokio::time::timeout(
                    OP_TIMEOUT,
                    async_nats::ConnectOptions::new()
                        .connection_timeout(Duration::from_secs(2))
                        .connect(url),
                )
                .await
            })
            .expect("NATS connect timed out")
            .expect("NATS connect");
        // The context spawns a task: it needs the runtime.
        let js = rt.block_on(async { jetstream::new(client.clone()) });
        Bus { rt, client, js }
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// One request; the reply parsed as JSON.
    pub fn request(
        &self,
        subject: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, RequestErrorKind> {
        let request = async_nats::Request::new()
            .payload(body.to_string().into())
            .timeout(Some(timeout));
        let reply = self
            .rt
            .block_on(async {
                tokio::time::timeout(
                    timeout + Duration::from_secs(1),
                    self.client.send_request(subject.to_owned(), request),
                )
                .await
            })
            .expect("request hung past its own timeout")
            .map_err(|e| e.kind())?;
        Ok(serde_json::from_slice(&reply.payload).unwrap_or_else(|e| {
            panic!(
                "reply on {subject} is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&reply.payload)
            )
        }))
    }

    /// A request to a subject whose responder may not be subscribed yet:
    /// retries on "no responders" until `within` has passed.
    pub fn request_retrying(
        &self,
        subject: &str,
        body: &Value,
        timeout: Duration,
        within: Duration,
    ) -> Result<Value, RequestErrorKind> {
        let deadline = Instant::now() + within;
        loop {
            match self.request(subject, body, timeout) {
                Err(RequestErrorKind::NoResponders) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Reads the messages appended to the stream since the last call.
    /// A stream that does not exist yet reads as empty.
    pub fn read_new(&self, reader: &mut EventReader) {
        self.rt.block_on(async {
            let Ok(Ok(stream)) =
                tokio::time::timeout(OP_TIMEOUT, self.js.get_stream(&reader.stream)).await
            else {
                return;
            };
            let info = tokio::time::timeout(OP_TIMEOUT, stream.get_info())
                .await
                .expect("stream info timed out")
                .expect("stream info");
            let first = info.state.first_sequence.max(reader.next_seq);
            let last = info.state.last_sequence;
            for seq in first..=last {
                let got = tokio::time::timeout(OP_TIMEOUT, stream.get_raw_message(seq))
                    .await
                    .expect("stream get timed out");
                reader.next_seq = seq + 1;
                let Ok(message) = got else {
                    continue; // deleted / expired
                };
                let header = |name: &str| {
                    message
                        .headers
                        .get(name)
                        .map(|value| value.as_str().to_owned())
                };
                let raw = String::from_utf8_lossy(&message.payload).into_owned();
                let body = serde_json::from_str(&raw)
                    .unwrap_or_else(|e| panic!("stream message {seq} is not JSON ({e}): {raw:?}"));
                reader.events.push(Event {
                    seq,
                    subject: message.subject.to_string(),
                    msg_id: header("Nats-Msg-Id"),
                    gateway: header("Ocpp-Gateway"),
                    raw,
                    body,
                });
            }
        })
    }

    /// Polls the stream until `done(events)` holds; panics after `timeout`.
    pub fn read_until(
        &self,
        reader: &mut EventReader,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Event]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            self.read_new(reader);
            if done(&reader.events) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the stream holds {} events",
                reader.events.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The latest entry of `key` in `bucket`; None if the bucket or the key
    /// does not exist (never written, or expired).
    pub fn kv_entry(&self, bucket: &str, key: &str) -> Option<KvEntry> {
        self.rt.block_on(async {
            let store = tokio::time::timeout(OP_TIMEOUT, self.js.get_key_value(bucket))
                .await
                .expect("get bucket timed out")
                .ok()?;
            let entry = tokio::time::timeout(OP_TIMEOUT, store.entry(key))
                .await
                .expect("KV entry timed out")
                .expect("KV entry")?;
            let nanos = u64::try_from(entry.created.unix_timestamp_nanos()).unwrap_or(0);
            Some(KvEntry {
                operation: entry.operation,
                value: serde_json::from_slice(&entry.value).ok(),
                revision: entry.revision,
                created: SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
            })
        })
    }

    /// The live value of a presence key: None when missing, deleted or purged.
    pub fn presence(&self, key: &str) -> Option<Value> {
        let entry = self.kv_entry("ocpp_presence", key)?;
        match entry.operation {
            jetstream::kv::Operation::Put => Some(
                entry
                    .value
                    .unwrap_or_else(|| panic!("presence entry {key} is not JSON")),
            ),
            _ => None,
        }
    }

    /// Waits until the presence of `key` satisfies `check`.
    pub fn wait_presence(
        &self,
        key: &str,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Option<Value>) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.presence(key);
            if check(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: presence of {key} is {value:?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// One KV entry as read back.
#[derive(Clone, Debug)]
pub struct KvEntry {
    pub operation: jetstream::kv::Operation,
    pub value: Option<Value>,
    pub revision: u64,
    /// When the server stored it.
    pub created: SystemTime,
}

/// Returns once the server has processed everything `client` sent before
/// (`flush` only empties the socket buffer): a request nobody answers comes
/// back "no responders" after the server read the earlier operations.
pub async fn round_trip(client: &async_nats::Client) {
    let probe = format!("_probe.{}", client.new_inbox().replace('.', "_"));
    let answer = tokio::time::timeout(OP_TIMEOUT, client.request(probe, "".into()))
        .await
        .expect("round trip to nats-server timed out");
    match answer {
        Err(e) if e.kind() == RequestErrorKind::NoResponders => {}
        other => panic!("round trip to nats-server: {other:?}"),
    }
}

/// A message seen by a `Listener`.
#[derive(Clone, Debug)]
pub struct Seen {
    pub subject: String,
    pub msg_id: Option<String>,
    pub body: Value,
    pub at: Instant,
}

/// A subscriber on its own thread and runtime: records every message and,
/// when `reply` returns Some, answers requests with that JSON.
pub struct Listener {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Listener {
    pub fn start(
        url: &str,
        subject: &str,
        queue: Option<&str>,
        mut reply: impl FnMut(&Value) -> Option<Value> + Send + 'static,
    ) -> Listener {
        let url = url.to_owned();
        let subject = subject.to_owned();
        let queue = queue.map(str::to_owned);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async move {
                let client = tokio::time::timeout(OP_TIMEOUT, async_nats::connect(url))
                    .await
                    .expect("listener connect timed out")
                    .expect("listener connect");
                let mut sub = match queue {
                    Some(q) => client.queue_subscribe(subject, q).await,
                    None => client.subscribe(subject).await,
                }
                .expect("subscribe");
                round_trip(&client).await;
                let _ = ready_tx.send(());
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        message = sub.next() => {
                            let Some(message) = message else { break };
                            let body = serde_json::from_slice(&message.payload)
                                .unwrap_or(Value::Null);
                            let msg_id = message
                                .headers
                                .as_ref()
                                .and_then(|h| h.get("Nats-Msg-Id"))
                                .map(|v| v.as_str().to_owned());
                            let answer = reply(&body);
                            seen2.lock().unwrap().push(Seen {
                                subject: message.subject.to_string(),
                                msg_id,
                                body,
                                at: Instant::now(),
                            });
                            if let (Some(answer), Some(to)) = (answer, message.reply) {
                                let to: Subject = to;
                                let _ = client.publish(to, answer.to_string().into()).await;
                                let _ = client.flush().await;
                            }
                        }
                    }
                }
                // Make sure the server forgot us before stop() returns.
                let _ = sub.unsubscribe().await;
                round_trip(&client).await;
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listener subscribed");
        Listener {
            stop: Some(stop_tx),
            thread: Some(thread),
            seen,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Unsubscribes (confirmed by a flush) and joins the thread.
    pub fn stop(mut self) -> Vec<Seen> {
        self.shutdown();
        self.seen()
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("listener thread panicked");
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Do not join here: a panicking test must not hang on it.
    }
}

/// Plays the charge point for one server CALL on another thread: reads it,
/// answers with `answer(call)` (None: stays silent), hands back the CALL.
pub fn answer_one_call(
    mut cp: super::ChargePoint,
    answer: impl FnOnce(&Value) -> Option<Value> + Send + 'static,
) -> JoinHandle<(super::ChargePoint, Value)> {
    std::thread::spawn(move || {
        let call = cp.recv();
        if let Some(reply) = answer(&call) {
            cp.send_text(&reply.to_string());
        }
        (cp, call)
    })
}

/// The gateway is on the bus once `cp`'s connect event is in the stream.
pub fn wait_connect_event(bus: &Bus, cp: &str) {
    let mut reader = EventReader::new("OCPP_EVENTS");
    bus.read_until(
        &mut reader,
        &format!("{cp}'s connect event"),
        Duration::from_secs(10),
        |events| events.iter().any(|e| e.cp() == cp && e.kind() == "connect"),
    );
}
