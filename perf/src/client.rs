//! The client side of one charge point connection: TCP connect →
//! WebSocket upgrade → open WebSocket, each step resumable after a readiness
//! event (nothing here blocks or waits).
//!
//! The OCPP conversation on top (boot, calls, closing) is the worker's
//! business; this module only moves bytes and classifies what went wrong.

use std::io;

use mio::net::TcpStream;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

use crate::net;
use crate::stats::FailKind;
use crate::tls::{TlsClient, Transport};

pub type Ws = WebSocket<Transport>;

/// The OCPP-J 1.6 WebSocket subprotocol.
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// Where a connection is in its set-up.
pub enum Stage {
    /// Non-blocking connect issued; waiting for writable.
    Connecting(TcpStream),
    /// Upgrade request (partly) sent or response (partly) read.
    Handshaking(MidHandshake<ClientHandshake<Transport>>),
    /// Upgraded.
    Open(Ws),
    /// Placeholder while a stage is being replaced.
    Empty,
}

/// What went wrong, for the failure counters.
pub struct Failure {
    pub kind: FailKind,
    pub http_status: Option<u16>,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: FailKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            http_status: None,
            detail: detail.into(),
        }
    }
}

/// Outcome of driving a connect or a handshake one step.
pub enum Step {
    /// Still waiting for readiness.
    Pending,
    /// Upgraded; the stage is now `Open`.
    Upgraded,
    Failed(Failure),
}

/// `--read-buffer` default: tungstenite's read buffer per connection.
pub const DEFAULT_READ_BUFFER: usize = 4096;

/// tungstenite configuration of every client connection.
///
/// `read_buffer_size` dominates memory per connection (it is zero-filled to
/// capacity on first read); `write_buffer_size` 0 makes `write` go straight
/// to the socket. Messages are capped far above anything OCPP 1.6 sends us.
pub fn ws_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

impl Stage {
    /// Advances a connecting or handshaking stage after a readiness event.
    /// `url` is the full endpoint URL of this charge point, `id` its id
    /// (for a per-id client certificate); `tls` for wss://. With TLS the
    /// "handshake" stage covers the TLS handshake and the HTTP upgrade.
    pub fn advance(
        &mut self,
        url: &str,
        id: &str,
        config: WebSocketConfig,
        tls: Option<&TlsClient>,
    ) -> Step {
        match std::mem::replace(self, Stage::Empty) {
            Stage::Connecting(stream) => match net::connect_result(&stream) {
                Ok(()) => {
                    let transport = match tls {
                        None => Transport::Plain(stream),
                        Some(t) => match t.connection(id) {
                            Ok(conn) => Transport::tls(conn, stream),
                            Err(e) => {
                                return Step::Failed(Failure::new(
                                    FailKind::HandshakeError,
                                    format!("TLS set-up: {e}"),
                                ));
                            }
                        },
                    };
                    self.start_handshake(transport, url, config)
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                    *self = Stage::Connecting(stream);
                    Step::Pending
                }
                Err(e) => Step::Failed(connect_failure(&e)),
            },
            Stage::Handshaking(mid) => self.finish_handshake(mid.handshake()),
            other => {
                *self = other;
                Step::Pending
            }
        }
    }

    fn start_handshake(&mut self, stream: Transport, url: &str, config: WebSocketConfig) -> Step {
        let mut request = match url.into_client_request() {
            Ok(r) => r,
            Err(e) => {
                return Step::Failed(Failure::new(
                    FailKind::HandshakeError,
                    format!("bad url {url}: {e}"),
                ));
            }
        };
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tungstenite::http::HeaderValue::from_static(SUBPROTOCOL),
        );
        match ClientHandshake::start(stream, request, Some(config)) {
            Ok(mid) => self.finish_handshake(mid.handshake()),
            Err(e) => Step::Failed(Failure::new(FailKind::HandshakeError, e.to_string())),
        }
    }

    fn finish_handshake(
        &mut self,
        r: Result<
            (Ws, tungstenite::handshake::client::Response),
            HandshakeError<ClientHandshake<Transport>>,
        >,
    ) -> Step {
        match r {
            Ok((ws, _response)) => {
                *self = Stage::Open(ws);
                Step::Upgraded
            }
            Err(HandshakeError::Interrupted(mid)) => {
                *self = Stage::Handshaking(mid);
                Step::Pending
            }
            Err(HandshakeError::Failure(e)) => Step::Failed(handshake_failure(e)),
        }
    }
}

fn connect_failure(e: &io::Error) -> Failure {
    let kind = if e.kind() == io::ErrorKind::ConnectionRefused {
        FailKind::ConnectRefused
    } else {
        FailKind::ConnectError
    };
    Failure::new(kind, e.to_string())
}

/// Classifies a failed upgrade. The server closing or resetting the socket
/// before answering is "closed early", not a protocol problem.
fn handshake_failure(e: Error) -> Failure {
    match e {
        Error::Http(resp) => Failure {
            kind: FailKind::HttpStatus,
            http_status: Some(resp.status().as_u16()),
            detail: format!("HTTP {}", resp.status()),
        },
        Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => connect_failure(&io),
        // rustls errors (untrusted certificate, alerts…) come as InvalidData.
        Error::Io(io) if io.kind() == io::ErrorKind::InvalidData => {
            Failure::new(FailKind::HandshakeError, format!("TLS: {io}"))
        }
        Error::Io(io) => Failure::new(FailKind::ClosedEarly, format!("during handshake: {io}")),
        Error::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete) => {
            Failure::new(FailKind::ClosedEarly, "server closed during the handshake")
        }
        other => Failure::new(FailKind::HandshakeError, other.to_string()),
    }
}

/// How a read or write on an open WebSocket ended.
pub enum IoEnd {
    /// Nothing more to do until the next readiness event.
    WouldBlock,
    /// The connection is finished: the server closed it after a close
    /// handshake or dropped it (`Some` with the reason if that was not clean).
    Closed(Option<Failure>),
}

/// Maps a tungstenite error on an open connection.
pub fn io_end(e: Error) -> IoEnd {
    match e {
        Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock => IoEnd::WouldBlock,
        Error::ConnectionClosed | Error::AlreadyClosed => IoEnd::Closed(None),
        Error::Io(io) => IoEnd::Closed(Some(Failure::new(FailKind::ClosedEarly, io.to_string()))),
        Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            IoEnd::Closed(Some(Failure::new(
                FailKind::ClosedEarly,
                "server closed TCP without a close frame",
            )))
        }
        other => IoEnd::Closed(Some(Failure::new(FailKind::Protocol, other.to_string()))),
    }
}

/// Queues a text frame and pushes it to the socket. A frame that did not fit
/// stays queued inside tungstenite and goes out on the next `flush`.
pub fn send_text(ws: &mut Ws, text: String) -> Result<(), IoEnd> {
    match ws.write(Message::Text(text.into())) {
        Ok(()) => {}
        Err(e) => match io_end(e) {
            IoEnd::WouldBlock => return Ok(()),
            end => return Err(end),
        },
    }
    flush(ws)
}

/// Flushes queued frames (ours, and pongs / close replies tungstenite queued
/// while reading). WouldBlock is fine: writable readiness flushes again.
pub fn flush(ws: &mut Ws) -> Result<(), IoEnd> {
    match ws.flush() {
        Ok(()) => Ok(()),
        Err(e) => match io_end(e) {
            IoEnd::WouldBlock => Ok(()),
            end => Err(end),
        },
    }
}

/// Header and mask of a masked text frame announcing 64 bytes of payload,
/// then only 3 of those bytes: a frame the server can never complete.
pub const PARTIAL_FRAME: [u8; 9] = [
    0x81,
    0x80 | 64,
    0x11,
    0x22,
    0x33,
    0x44,
    b'[' ^ 0x11,
    b'2' ^ 0x22,
    b',' ^ 0x33,
];
