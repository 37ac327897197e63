//! One charge point's connection, as its reactor holds it.
//!
//! Owned by exactly one reactor thread for its whole life; every field is
//! touched only there. Other threads refer to it by `ConnRef`. The methods
//! here touch only the connection's own socket (through tungstenite) and
//! say, as a [`KeepOrDrop`], whether the reactor keeps it or drops it;
//! nothing here is shared, counted or journaled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tungstenite::handshake::MidHandshake;
use tungstenite::handshake::server::ServerHandshake;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error as WsError, Message, Utf8Bytes, WebSocket};

use super::handshake::HandshakeCallback;
use super::token_bucket::TokenBucket;
use super::transport::Transport;
use crate::cross_thread::{BootInfo, ReplyTo};
use crate::ocpp::OcppVersion;
use crate::ocpp::session::Session;

/// A connection's server calls; the reply handle is the requester's.
pub type ServerCalls = Session<CallReply>;

/// Where a server call's outcome goes, and the kept command it delivers
/// (named in its journal lines).
#[derive(Debug)]
pub struct CallReply {
    pub reply: ReplyTo,
    pub command_id: Option<Box<str>>,
}

impl CallReply {
    pub fn send(self, outcome: crate::cross_thread::ServerCallOutcome) {
        self.reply.send(outcome);
    }
}

pub type PendingHandshake = MidHandshake<ServerHandshake<Transport, HandshakeCallback>>;

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
    /// Counts in the gateway-wide handshakes in progress
    /// (`listen.max_handshakes`); released when the upgrade ends either way.
    pub handshaking: bool,
    /// Last frame of any kind (data, ping, pong, close) from the peer.
    pub last_rx: Instant,
    /// When the reactor last began listening to this connection again after
    /// a pause of its own making (a held frame, the buffer budget). The
    /// dead-peer clock runs from the later of this and `last_rx`: a charge
    /// point is never judged dead for time the gateway was not listening.
    pub listening_since: Instant,
    /// A CALL of this connection is with the processors. Until its answer
    /// comes back the next CALL waits (`held`): answers leave in order and
    /// one charge point cannot fill the shared queue. Control frames and
    /// answers to server calls are still read meanwhile.
    pub in_flight: bool,
    /// A text frame read but not handled yet: it waits for the CALL in
    /// flight, for room in the processor queue, or for the call rate. While
    /// one is held the connection is not read (TCP slows the peer); it is
    /// never dropped.
    pub held: Option<Utf8Bytes>,
    /// Not read until the gateway-wide buffer budget has room again.
    pub buffer_wait: bool,
    /// In the reactor's read queue: to be read again on a later turn.
    pub read_queued: bool,
    /// Bytes of a partly received message this connection adds to the
    /// gateway-wide total (`websocket.max_buffered_bytes`).
    pub buffered: usize,
    /// The open message whose completion deadline is scheduled.
    pub deadline_for: Option<u32>,
    /// tungstenite's buffers grew for a large frame; they are rebuilt at
    /// their configured size once the connection is idle.
    pub oversized: bool,
    /// Since when a flush has stopped at WouldBlock each time: tungstenite
    /// holds bytes the peer has not taken (`websocket.write_timeout`).
    pub write_blocked_since: Option<Instant>,
    /// Malformed or schema-breaking messages in the window that began at
    /// `bad_since` (`ocpp.max_bad_messages`).
    pub bad_messages: u32,
    pub bad_since: Instant,
    /// The charge point's CALL allowance (`ocpp.max_calls_per_second`).
    pub call_tokens: TokenBucket,
    /// We sent a close frame; waiting for the peer's, or the close deadline.
    pub closing: bool,
    /// The WebSocket failed (oversized or malformed frame): our close frame
    /// is sent and our side shut down; incoming bytes are read raw and
    /// discarded until EOF. The codec's state is not trusted any more.
    pub discarding: bool,
    /// Close once the in-flight answer has been sent (graceful shutdown).
    pub close_after_answer: Option<(CloseCode, &'static str)>,
    /// Server-initiated CALLs (one pointer; allocated only while there are some).
    pub server_calls: ServerCalls,
    pub connected_at: Instant,
    /// From the last accepted BootNotification (allocated once booted).
    pub boot: Option<Box<BootInfo>>,
    /// Index of the `[[profiles]]` entry in force (`None`: the globals).
    pub profile: Option<u16>,
    /// Bumped when the ping chain restarts (a profile change): an older
    /// chain's timer finds a newer epoch and ends.
    pub ping_epoch: u8,
    /// Set while its frames are traced (`tracing.rs`); `None` costs the
    /// frame path one branch.
    pub trace: Option<Box<ConnTrace>>,
    /// The command queue has been told this session is ready for kept
    /// commands (and must be told when it goes).
    pub queue_ready: bool,
}

/// One connection's trace (`tracing.rs`), boxed in `Connection::trace`:
/// 8 bytes for an untraced connection.
#[derive(Debug)]
pub struct ConnTrace {
    /// When the operator's trace ends (`None`: no operator trace).
    pub until: Option<Instant>,
    /// The same moment on the wall clock, worked out once so that every
    /// answer and the file's start line name the same millisecond.
    pub until_wall: Option<std::time::SystemTime>,
    /// Its profile's `trace` globs match it: no time limit.
    pub by_profile: bool,
}

/// Whether the reactor keeps a connection after an I/O step, or drops it.
#[derive(Debug, PartialEq, Eq)]
pub enum KeepOrDrop {
    Keep,
    /// The socket is finished (closed cleanly, reset, or broken): remove it.
    Drop(&'static str),
}

impl Connection {
    pub fn new(peer: SocketAddr, now: Instant, call_burst: f64) -> Connection {
        Connection {
            link: Link::Detached,
            peer,
            charge_point: Arc::from(""),
            close_code: 1006,
            close_reason: None,
            version: OcppVersion::V16,
            counted: false,
            handshaking: false,
            last_rx: now,
            listening_since: now,
            in_flight: false,
            held: None,
            buffer_wait: false,
            read_queued: false,
            buffered: 0,
            deadline_for: None,
            oversized: false,
            write_blocked_since: None,
            bad_messages: 0,
            bad_since: now,
            call_tokens: TokenBucket::full(call_burst, now),
            closing: false,
            discarding: false,
            close_after_answer: None,
            server_calls: ServerCalls::default(),
            connected_at: now,
            boot: None,
            profile: None,
            ping_epoch: 0,
            trace: None,
            queue_ready: false,
        }
    }

    /// May the reactor read the next frame of this connection? While
    /// closing it reads until the peer's close frame, whatever else waits.
    pub fn wants_read(&self) -> bool {
        self.closing || (self.held.is_none() && !self.buffer_wait)
    }

    /// Whether the gateway is listening for this peer now (for the
    /// dead-peer clock): not while it holds a frame or waits for buffer room.
    pub fn listened_to(&self) -> bool {
        self.wants_read()
    }

    /// Queues a text frame and tries to send it; what the socket does not
    /// take now leaves on the next writable event.
    /// `large`: bigger than the read buffer, so tungstenite's write buffer
    /// grows to hold it (and is given back once the connection is idle).
    pub fn send_text(&mut self, text: Utf8Bytes, large: bool) -> KeepOrDrop {
        let Link::Open(ws) = &mut self.link else {
            return KeepOrDrop::Keep;
        };
        if !ws.can_write() {
            return KeepOrDrop::Keep;
        }
        self.oversized |= large;
        match ws.write(Message::Text(text)) {
            Ok(()) => self.flush(),
            Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.write_blocked_since.get_or_insert_with(Instant::now);
                KeepOrDrop::Keep
            }
            Err(e) => keep_or_drop(e),
        }
    }

    pub fn send_ping(&mut self) -> KeepOrDrop {
        let Link::Open(ws) = &mut self.link else {
            return KeepOrDrop::Keep;
        };
        if !ws.can_write() {
            return KeepOrDrop::Keep;
        }
        match ws.write(Message::Ping(Default::default())) {
            Ok(()) => self.flush(),
            Err(e) => keep_or_drop(e),
        }
    }

    pub fn flush(&mut self) -> KeepOrDrop {
        let Link::Open(ws) = &mut self.link else {
            return KeepOrDrop::Keep;
        };
        match ws.flush() {
            Ok(()) => {
                self.write_blocked_since = None;
                KeepOrDrop::Keep
            }
            Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.write_blocked_since.get_or_insert_with(Instant::now);
                KeepOrDrop::Keep
            }
            Err(e) => keep_or_drop(e),
        }
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2).
    pub fn start_close(&mut self, code: CloseCode, reason: &'static str) -> KeepOrDrop {
        let Link::Open(ws) = &mut self.link else {
            return KeepOrDrop::Drop("closed during handshake");
        };
        self.closing = true;
        self.close_code = code.into();
        self.close_reason = Some(reason);
        match ws.close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })) {
            Ok(()) => KeepOrDrop::Keep,
            Err(e) => keep_or_drop(e),
        }
    }
}

impl Connection {
    /// Rebuilds the WebSocket around its stream at the configured buffer
    /// sizes, giving back buffers that grew for a large frame (tungstenite
    /// never shrinks them). The caller guarantees the connection is idle:
    /// tungstenite holds no partial frame or message and nothing unsent
    /// (`FrameMeter::is_idle` right after a read hit WouldBlock, and
    /// `write_blocked_since` is `None`), so nothing of the stream's state is lost.
    pub fn compact(&mut self, config: tungstenite::protocol::WebSocketConfig) {
        if !matches!(self.link, Link::Open(_)) || self.closing {
            return;
        }
        let Link::Open(ws) = std::mem::replace(&mut self.link, Link::Detached) else {
            return;
        };
        let stream = ws.into_inner();
        let role = tungstenite::protocol::Role::Server;
        self.link = Link::Open(WebSocket::from_raw_socket(stream, role, Some(config)));
        self.oversized = false;
    }

    /// Fails the WebSocket connection (RFC 6455 §7.1.7): sends the close
    /// frame, shuts down our side (FIN), and from then on only discards
    /// what arrives. Closing the socket with unread data would send an RST,
    /// which can destroy the close frame before the peer reads it.
    pub fn fail(&mut self, code: CloseCode, reason: &'static str) -> KeepOrDrop {
        let Link::Open(ws) = &mut self.link else {
            return KeepOrDrop::Drop("failed during handshake");
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
            && let KeepOrDrop::Drop(why) = keep_or_drop(e)
        {
            return KeepOrDrop::Drop(why);
        }
        let _ = ws.get_mut().shutdown_write();
        self.discard_input()
    }

    /// Reads and drops raw bytes until the socket would block (Keep) or
    /// reaches EOF (Drop).
    pub fn discard_input(&mut self) -> KeepOrDrop {
        let Link::Open(ws) = &mut self.link else {
            return KeepOrDrop::Drop("closed");
        };
        let mut sink = [0u8; 4096];
        loop {
            match std::io::Read::read(ws.get_mut(), &mut sink) {
                Ok(0) => return KeepOrDrop::Drop("closed after a failed frame"),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return KeepOrDrop::Keep,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return KeepOrDrop::Drop("socket error"),
            }
        }
    }
}

/// Why a peer that stopped reading is dropped (`max_write_buffer_size`).
pub const WRITE_BUFFER_FULL: &str = "peer does not read: write buffer full";

/// Whether a connection survives a tungstenite error. WouldBlock means the
/// frame is buffered inside tungstenite and goes out on the next writable event.
pub fn keep_or_drop(error: WsError) -> KeepOrDrop {
    match error {
        WsError::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => KeepOrDrop::Keep,
        WsError::ConnectionClosed | WsError::AlreadyClosed => KeepOrDrop::Drop("closed"),
        WsError::WriteBufferFull(_) => KeepOrDrop::Drop(WRITE_BUFFER_FULL),
        WsError::Io(_) => KeepOrDrop::Drop("socket error"),
        _ => KeepOrDrop::Drop("protocol error"),
    }
}
