//! Shared test harness: a gateway (in-process or as a child process) and a
//! charge point speaking OCPP-J over a real WebSocket on loopback.
#![allow(dead_code)]

pub mod nats;

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ocpp_gateway::{Config, Extensions, GatewayHandle};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ocpp-gw-test-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A configuration for tests: loopback, a free port, two reactors, no pinning.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.listen.address = "127.0.0.1:0".parse().unwrap();
    config.reactors.count = 2;
    config.reactors.pin_cores = false;
    config.reactors.timer_tick = Duration::from_millis(20);
    let dir = scratch_dir("gw");
    config.ocpp.transaction_id_file = dir.join("txid");
    config.journal.directory = dir.join("journal");
    // Test clients often do not answer the gateway's close: keep stops short.
    config.websocket.close_timeout = Duration::from_millis(500);
    config.shutdown.grace = Duration::from_secs(3);
    // Tests that use the admin API turn it on (on a free port).
    config.admin.enabled = false;
    config.admin.address = "127.0.0.1:0".parse().unwrap();
    config
}

pub fn start(config: Config) -> GatewayHandle {
    ocpp_gateway::start(config).expect("gateway starts")
}

pub fn start_with(config: Config, extensions: Extensions) -> GatewayHandle {
    ocpp_gateway::start_with(config, extensions).expect("gateway starts")
}

pub fn stop(gateway: GatewayHandle) {
    gateway.shutdown();
    assert!(
        gateway.join(Duration::from_secs(15)),
        "gateway threads did not stop"
    );
}

pub type Ws = WebSocket<TcpStream>;

/// Opens a WebSocket to `path` offering `protocols` (none if empty).
/// Returns the socket and the upgrade response, or the HTTP error status.
pub fn connect(
    addr: SocketAddr,
    path: &str,
    protocols: &[&str],
) -> Result<(Ws, tungstenite::handshake::client::Response), u16> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("valid request");
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(&protocols.join(", ")).unwrap(),
        );
    }
    let stream = TcpStream::connect(addr).expect("tcp connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    match tungstenite::client::client(request, stream) {
        Ok((ws, response)) => Ok((ws, response)),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("handshake to {path} failed unexpectedly: {e}"),
    }
}

/// Upgrades by hand, for answers a strict client library would refuse (a
/// 101 without any of the offered subprotocols). Returns the socket as a
/// client WebSocket and the response head.
pub fn raw_upgrade(addr: SocketAddr, path: &str, protocols: &[&str]) -> (Ws, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).expect("tcp connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !protocols.is_empty() {
        request.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            protocols.join(", ")
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    // Read byte by byte so no WebSocket data is consumed with the head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response head");
        assert_eq!(n, 1, "connection closed during the upgrade");
        head.push(byte[0]);
    }
    let ws = WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    (ws, String::from_utf8_lossy(&head).into_owned())
}

/// A charge point with an OCPP 1.6 connection.
pub struct ChargePoint {
    pub ws: Ws,
    pub id: String,
    next_message: u64,
}

impl ChargePoint {
    pub fn connect(addr: SocketAddr, id: &str) -> ChargePoint {
        let (ws, response) = connect(addr, &format!("/ocpp/{id}"), &["ocpp1.6"])
            .unwrap_or_else(|status| panic!("{id}: HTTP {status}"));
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").unwrap(),
            "ocpp1.6"
        );
        ChargePoint {
            ws,
            id: id.to_owned(),
            next_message: 0,
        }
    }

    /// Wraps an already upgraded socket (e.g. one opened without a subprotocol).
    /// Connects offering only `subprotocol`, and checks the gateway chose it.
    pub fn connect_with(addr: SocketAddr, subprotocol: &str, id: &str) -> ChargePoint {
        let (ws, response) = connect(addr, &format!("/ocpp/{id}"), &[subprotocol])
            .unwrap_or_else(|status| panic!("{id}: HTTP {status}"));
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|h| h.to_str().ok()),
            Some(subprotocol)
        );
        ChargePoint::from_ws(ws, id)
    }

    pub fn from_ws(ws: Ws, id: &str) -> ChargePoint {
        ChargePoint {
            ws,
            id: id.to_owned(),
            next_message: 0,
        }
    }

    pub fn new_message_id(&mut self) -> String {
        self.next_message += 1;
        format!("{}-{}", self.id, self.next_message)
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send frame");
    }

    /// Sends a CALL; returns its message id.
    pub fn send_call(&mut self, action: &str, payload: Value) -> String {
        let id = self.new_message_id();
        self.send_text(&json!([2, id, action, payload]).to_string());
        id
    }

    /// The next text frame, as JSON (pings are answered by tungstenite).
    pub fn recv(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read frame") {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("frame is JSON");
                }
                Message::Close(frame) => panic!("{}: closed by gateway: {frame:?}", self.id),
                _ => continue,
            }
        }
    }

    /// Sends a CALL and returns the answer frame, checking the message id.
    pub fn call(&mut self, action: &str, payload: Value) -> Value {
        let id = self.send_call(action, payload);
        let answer = self.recv();
        assert_eq!(answer[1], id, "answer to the wrong message: {answer}");
        answer
    }

    /// Sends a CALL expecting a CALLRESULT; returns its payload.
    pub fn call_ok(&mut self, action: &str, payload: Value) -> Value {
        let answer = self.call(action, payload);
        assert_eq!(answer[0], 3, "{action} was not accepted: {answer}");
        answer[2].clone()
    }

    pub fn boot(&mut self) -> Value {
        self.call_ok(
            "BootNotification",
            json!({"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"}),
        )
    }

    /// Reads until the gateway's close frame and returns its code.
    pub fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(e) => panic!("{}: no close frame: {e}", self.id),
            }
        }
    }

    pub fn close(mut self) {
        let _ = self.ws.close(Some(CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }));
        let _ = self.ws.flush();
        // Read until the gateway answers the close (or drops us).
        while self.ws.read().is_ok() {}
    }
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The gateway binary as a child process, with its own config file.
pub struct GatewayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ocpp-gateway")
}

impl GatewayProcess {
    /// Starts the binary with `config_toml` (`@DIR@` is replaced by a scratch
    /// directory) and waits for its "listening on" log line (level info or
    /// finer) to learn the port.
    pub fn start(name: &str, config_toml: &str) -> GatewayProcess {
        let dir = scratch_dir(name);
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config_toml.replace("@DIR@", dir.to_str().unwrap())).unwrap();
        GatewayProcess::spawn_in(&dir)
    }

    /// Starts the binary with `dir/gateway.toml` (written by an earlier
    /// `start`: a restart keeps the journal and everything else in `dir`).
    pub fn spawn_in(dir: &Path) -> GatewayProcess {
        let path = dir.join("gateway.toml");
        assert!(path.exists(), "no config at {}", path.display());
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gateway");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("gateway exited before listening")
                .expect("read gateway output");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split('/').next().unwrap();
                break addr.parse().expect("listen address");
            }
        };
        // Keep draining the log so the gateway never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        GatewayProcess {
            child,
            addr,
            dir: dir.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The start of a child gateway's config: loopback, a free port, a scratch
/// transactionId file. Tests append their own tables (not these two).
pub fn process_config(rest: &str) -> String {
    format!(
        "[listen]\naddress = \"127.0.0.1:0\"\n\n[ocpp]\ntransaction_id_file = \"@DIR@/txid\"\n\n\
         [admin]\naddress = \"127.0.0.1:0\"\n\n[journal]\ndirectory = \"@DIR@/journal\"\n\n{rest}\n"
    )
}

/// A python interpreter with the packages pinned in
/// `tests/python/{requirements}`: the one `env_override` names, or a venv
/// `{name}` in the test target directory, made (or remade, when the file
/// changed) on first use. Needs python3 with venv and pip.
pub fn python_venv(env_override: &str, name: &str, requirements: &str) -> PathBuf {
    if let Some(given) = std::env::var_os(env_override) {
        return PathBuf::from(given);
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let requirements = manifest_dir().join("tests/python").join(requirements);
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements file");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let run = |cmd: &mut Command, what: &str| {
        let status = cmd.status().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            status.success(),
            "{what} failed ({status}); python3 with venv and pip is needed \
             (Debian: apt-get install python3-venv)"
        );
    };
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements),
        "pip install -r",
    );
    std::fs::write(&stamp, wanted).expect("venv stamp");
    python
}

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A minimal HTTP/1.1 client: one request per connection.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Reads the next CALL the gateway sends: (message id, action, payload).
pub fn expect_call(cp: &mut ChargePoint) -> (String, String, Value) {
    let frame = cp.recv();
    assert_eq!(frame[0], 2, "expected a CALL, got {frame}");
    (
        frame[1].as_str().unwrap().to_owned(),
        frame[2].as_str().unwrap().to_owned(),
        frame[3].clone(),
    )
}

/// Nothing but pings arrives for `for_`; the socket's read timeout is
/// restored after.
pub fn expect_silence(cp: &mut ChargePoint, for_: Duration) {
    let before = cp.ws.get_ref().read_timeout().unwrap();
    cp.ws.get_ref().set_read_timeout(Some(for_)).unwrap();
    match cp.ws.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Ok(tungstenite::Message::Ping(_)) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
    cp.ws.get_ref().set_read_timeout(before).unwrap();
}

/// Answers the gateway's CALL `message_id` with a CALLRESULT.
pub fn answer(cp: &mut ChargePoint, message_id: &str, payload: Value) {
    cp.send_text(&json!([3, message_id, payload]).to_string());
}

/// Runs the gateway binary with `config_toml` as its file until it exits
/// (a gateway that should refuse to start): its output.
pub fn run_until_exit(name: &str, config_toml: &str) -> std::process::Output {
    let path = scratch_dir(name).join("gateway.toml");
    std::fs::write(&path, config_toml).unwrap();
    Command::new(binary())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap()
}
