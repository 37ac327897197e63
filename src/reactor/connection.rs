//! One charge point's connection, as its reactor holds it.
//!
//! Owned by exactly one reactor thread for its whole life; every field is
//! touched only there. Other threads refer to it by `ConnRef`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tungstenite::handshake::MidHandshake;
use tungstenite::handshake::server::ServerHandshake;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error as WsError, Message, Utf8Bytes, WebSocket};

use super::handshake::GateCallback;
use super::server_calls::ServerCalls;
use super::transport::Transport;
use crate::ocpp::OcppVersion;
use crate::pipeline::BootInfo;

pub type PendingHandshake = MidHandshake<ServerHandshake<Transport, GateCallback>>;

pub enum Link {
    Handshaking(PendingHandshake),
    Open(WebSocket<Transport>),
    /// Transient, while a handshake step owns the stream.
    Detached,
}

pub struct Connection {
    pub link: Link,
    pub peer: SocketAddr,
    /// Empty until the handshake has named the charge point.
    pub charge_point: Arc<str>,
    /// Close code for the journal: the one we sent or received; 1006 if
    /// the connection ended without a close frame.
    pub close_code: u16,
    /// Why the gateway closed it, when it did (for the journal).
    pub close_reason: Option<&'static str>,
    pub version: OcppVersion,
    /// Counts in the gateway-wide `open_connections` (released on removal).
    pub counted: bool,
    /// Last frame of any kind (data, ping, pong, close) from the peer.
    pub last_rx: Instant,
    /// A CALL of this connection is with the processors. Until its answer
    /// comes back the connection is not read: answers leave in order and one
    /// charge point cannot fill the shared queue.
    pub in_flight: bool,
    /// A CALL the processor queue refused (full): retried, never dropped.
    pub held: Option<Utf8Bytes>,
    /// We sent a close frame; waiting for the peer's, or the close deadline.
    pub closing: bool,
    /// The WebSocket failed (oversized or malformed frame): our close frame
    /// is sent and our side shut down; incoming bytes are read raw and
    /// discarded until EOF. The codec's state is not trusted any more.
    pub discarding: bool,
    /// Close once the in-flight answer has been sent (graceful shutdown).
    pub close_after_answer: Option<(CloseCode, &'static str)>,
    /// Server-initiated CALLs; allocated only while there are some.
    pub server_calls: Option<Box<ServerCalls>>,
    pub connected_at: Instant,
    /// From the last accepted BootNotification (allocated once booted).
    pub boot: Option<Box<BootInfo>>,
}

/// What an I/O step means for the connection's life.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    Keep,
    /// The socket is finished (closed cleanly, reset, or broken): remove it.
    Drop(&'static str),
}

impl Connection {
    pub fn new(peer: SocketAddr, now: Instant) -> Connection {
        Connection {
            link: Link::Detached,
            peer,
            charge_point: Arc::from(""),
            close_code: 1006,
            close_reason: None,
            version: OcppVersion::V16,
            counted: false,
            last_rx: now,
            in_flight: false,
            held: None,
            closing: false,
            discarding: false,
            close_after_answer: None,
            server_calls: None,
            connected_at: now,
            boot: None,
        }
    }

    /// May the reactor read the next frame of this connection?
    pub fn wants_read(&self) -> bool {
        self.closing || (!self.in_flight && self.held.is_none())
    }

    /// Queues a text frame and tries to send it; what the socket does not
    /// take now leaves on the next writable event.
    pub fn send_text(&mut self, text: Utf8Bytes) -> Fate {
        let Link::Open(ws) = &mut self.link else {
            return Fate::Keep;
        };
        if !ws.can_write() {
            return Fate::Keep;
        }
        match ws.write(Message::Text(text)) {
            Ok(()) => self.flush(),
            Err(e) => fate_of(e),
        }
    }

    pub fn send_ping(&mut self) -> Fate {
        let Link::Open(ws) = &mut self.link else {
            return Fate::Keep;
        };
        if !ws.can_write() {
            return Fate::Keep;
        }
        match ws.write(Message::Ping(Default::default())) {
            Ok(()) => self.flush(),
            Err(e) => fate_of(e),
        }
    }

    pub fn flush(&mut self) -> Fate {
        let Link::Open(ws) = &mut self.link else {
            return Fate::Keep;
        };
        match ws.flush() {
            Ok(()) => Fate::Keep,
            Err(e) => fate_of(e),
        }
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2).
    pub fn start_close(&mut self, code: CloseCode, reason: &'static str) -> Fate {
        let Link::Open(ws) = &mut self.link else {
            return Fate::Drop("closed during handshake");
        };
        self.closing = true;
        self.close_code = code.into();
        self.close_reason = Some(reason);
        match ws.close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })) {
            Ok(()) => Fate::Keep,
            Err(e) => fate_of(e),
        }
    }
}

impl Connection {
    /// Fails the WebSocket connection (RFC 6455 §7.1.7): sends the close
    /// frame, shuts down our side (FIN), and from then on only discards
    /// what arrives. Closing the socket with unread data would send an RST,
    /// which can destroy the close frame before the peer reads it.
    pub fn fail(&mut self, code: CloseCode, reason: &'static str) -> Fate {
        let Link::Open(ws) = &mut self.link else {
            return Fate::Drop("failed during handshake");
        };
        self.closing = true;
        self.discarding = true;
        self.close_code = code.into();
        self.close_reason = Some(reason);
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if let Err(e) = ws.close(Some(frame)).and_then(|()| ws.flush())
            && let Fate::Drop(why) = fate_of(e)
        {
            return Fate::Drop(why);
        }
        let _ = ws.get_mut().shutdown_write();
        self.discard_input()
    }

    /// Reads and drops raw bytes until the socket would block (Keep) or
    /// reaches EOF (Drop).
    pub fn discard_input(&mut self) -> Fate {
        let Link::Open(ws) = &mut self.link else {
            return Fate::Drop("closed");
        };
        let mut sink = [0u8; 4096];
        loop {
            match std::io::Read::read(ws.get_mut(), &mut sink) {
                Ok(0) => return Fate::Drop("closed after a failed frame"),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Fate::Keep,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Fate::Drop("socket error"),
            }
        }
    }
}

/// Maps a tungstenite error to the connection's fate. WouldBlock means the
/// frame is buffered inside tungstenite and goes out on the next writable event.
pub fn fate_of(error: WsError) -> Fate {
    match error {
        WsError::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => Fate::Keep,
        WsError::ConnectionClosed | WsError::AlreadyClosed => Fate::Drop("closed"),
        WsError::WriteBufferFull(_) => Fate::Drop("peer does not read: write buffer full"),
        WsError::Io(_) => Fate::Drop("socket error"),
        _ => Fate::Drop("protocol error"),
    }
}
