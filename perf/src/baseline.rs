//! The baseline: the least a mio + tungstenite OCPP-J server can do.
//!
//! One mio loop per thread, each with its own SO_REUSEPORT listener; the
//! handshake is resumed across readiness events; every text CALL
//! `[2,"<id>",…]` gets the same canned CALLRESULT with the id echoed back.
//! No JSON parsing, no logging, no cross-thread traffic: whatever the
//! gateway does beyond this costs something, and this server is the
//! ceiling the gateway is compared against.

use std::io;
use std::net::SocketAddr;
use std::thread;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

use crate::client::SUBPROTOCOL;
use crate::net;
use crate::ocpp;

/// Payload of every CALLRESULT (a valid BootNotification answer, and
/// acceptable for a Heartbeat client that only checks the envelope).
const RESULT_TAIL: &str =
    r#"",{"currentTime":"2026-01-01T00:00:00Z","interval":300,"status":"Accepted"}]"#;

const LISTENER: Token = Token(usize::MAX);

/// Chooses `ocpp1.6` when the client offers it. A named type (not a
/// closure) so that a `MidHandshake` holding it can live in the slab.
pub struct PickSubprotocol;

impl Callback for PickSubprotocol {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        if offered {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(SUBPROTOCOL),
            );
        }
        Ok(response)
    }
}

type Mid = MidHandshake<ServerHandshake<TcpStream, PickSubprotocol>>;

enum Conn {
    Handshaking(Mid),
    Open(WebSocket<TcpStream>),
}

/// Settings of the baseline server.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub threads: usize,
    pub backlog: i32,
    pub read_buffer: usize,
}

/// Binds every thread's listener (so errors surface before returning) and
/// runs the loops; returns only if a loop fails.
pub fn serve(cfg: &Config) -> io::Result<()> {
    let mut listeners = Vec::new();
    for _ in 0..cfg.threads.max(1) {
        listeners.push(net::reuseport_listener(cfg.listen, cfg.backlog)?);
    }
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    let handles: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            thread::Builder::new()
                .name(format!("baseline-{i}"))
                .spawn(move || EventLoop::new(l, ws_config).and_then(|mut e| e.run()))
        })
        .collect::<io::Result<_>>()?;
    for h in handles {
        h.join()
            .map_err(|_| io::Error::other("event loop panicked"))??;
    }
    Ok(())
}

struct EventLoop {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    config: WebSocketConfig,
}

impl EventLoop {
    fn new(mut listener: TcpListener, config: WebSocketConfig) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(EventLoop {
            poll,
            listener,
            conns: Vec::new(),
            free: Vec::new(),
            config,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept_all(),
                    Token(slot) => self.ready(slot),
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(slot), interest)
                        .is_err()
                    {
                        self.free.push(slot);
                        continue;
                    }
                    let step = tungstenite::accept_hdr_with_config(
                        stream,
                        PickSubprotocol,
                        Some(self.config),
                    );
                    self.after_handshake(slot, step);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // EMFILE and friends: stop for now; the next readiness retries.
                Err(_) => return,
            }
        }
    }

    fn after_handshake(
        &mut self,
        slot: usize,
        step: Result<
            WebSocket<TcpStream>,
            HandshakeError<ServerHandshake<TcpStream, PickSubprotocol>>,
        >,
    ) {
        match step {
            Ok(ws) => {
                self.conns[slot] = Some(Conn::Open(ws));
                // The client may have sent its first frame already.
                self.ready(slot);
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.conns[slot] = Some(Conn::Handshaking(mid))
            }
            Err(HandshakeError::Failure(_)) => self.free.push(slot),
        }
    }

    fn ready(&mut self, slot: usize) {
        match self.conns.get_mut(slot).and_then(Option::take) {
            Some(Conn::Handshaking(mid)) => self.after_handshake(slot, mid.handshake()),
            Some(Conn::Open(mut ws)) => {
                if serve_frames(&mut ws) {
                    self.conns[slot] = Some(Conn::Open(ws));
                } else {
                    self.free.push(slot); // dropping ws closes the socket
                }
            }
            None => {}
        }
    }
}

/// Answers every CALL available (edge-triggered: read until WouldBlock),
/// then flushes. Returns false when the connection is finished.
fn serve_frames(ws: &mut WebSocket<TcpStream>) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                if let Some((ocpp::CALL, id)) = ocpp::scan_head(&text) {
                    let mut answer = String::with_capacity(4 + id.len() + RESULT_TAIL.len());
                    answer.push_str("[3,\"");
                    answer.push_str(id);
                    answer.push_str(RESULT_TAIL);
                    match ws.write(Message::Text(answer.into())) {
                        Ok(()) => {}
                        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return false,
                    }
                }
            }
            Ok(_) => {} // pings are answered by tungstenite, the rest ignored
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    match ws.flush() {
        Ok(()) => true,
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => true,
        Err(_) => false,
    }
}
