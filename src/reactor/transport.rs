//! The byte stream under tungstenite: a plain socket, or rustls over one
//! (the unbuffered server side in [`super::tls_server`]), with what the reactor adds
//! on top: a per-turn read allowance, the frame meter, and a watch on the
//! TLS handshake that counts its outcome and records the client's CN.
//!
//! TLS is driven on the reactor thread, non-blocking, with no thread of its
//! own. Whatever the socket does not take stays queued and goes out on
//! the next writable event (the reactor registers every connection
//! READABLE | WRITABLE and flushes on writable), or at the next read or
//! write pass, so edge-triggered readiness cannot strand it.

use std::cell::{Cell, OnceCell};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::CommonState;

use super::frame_meter::FrameMeter;
use super::tls_server::{ServerTls, TlsObserver};
use crate::tls_stream;

/// What the TLS handshake learnt about the client, for the upgrade gate:
/// set once, when the handshake completes, to the subject CN of the
/// verified client certificate (`None`: no certificate, or no CN).
pub type ClientIdentity = Rc<OnceCell<Option<String>>>;

/// TLS handshake outcomes of one reactor, counted by its connections as
/// they happen and copied into the reactor's counters when it publishes.
#[derive(Default)]
pub struct TlsTally {
    pub ok_tls12: Cell<u64>,
    pub ok_tls13: Cell<u64>,
    /// Client certificate missing, not from tls.client_ca, expired…
    pub client_certificate: Cell<u64>,
    /// The client aborted with an alert (e.g. it does not trust our certificate).
    pub peer_alert: Cell<u64>,
    /// No common version, cipher suite or key exchange.
    pub incompatible: Cell<u64>,
    /// Not TLS (plain HTTP on the TLS port) or malformed TLS.
    pub protocol: Cell<u64>,
    /// The client closed the connection mid-handshake.
    pub eof: Cell<u64>,
    /// Not finished within tls.handshake_timeout (counted by the reactor).
    pub timeout: Cell<u64>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// The stream under one connection's WebSocket, with the reactor's
/// per-turn read allowance and, once upgraded, its frame meter.
pub struct Transport {
    stream: Stream,
    /// Plaintext bytes this connection may still deliver in the current
    /// poll turn; at 0, `read` says WouldBlock (the socket may hold more).
    allowance: usize,
    /// The allowance ran out since it was last granted.
    exhausted: bool,
    /// Where the WebSocket frames begin and end; `None` until the upgrade
    /// (the handshake's HTTP bytes are not frames).
    meter: Option<FrameMeter>,
}

type Stream = tls_stream::Stream<ServerTls<HandshakeWatch>>;

/// Counts a connection's TLS handshake once, when it ends either way, and
/// records the client's CN when it succeeds.
struct HandshakeWatch {
    identity: ClientIdentity,
    tally: Rc<TlsTally>,
    /// The handshake's outcome is in the tally already.
    counted: bool,
}

impl Transport {
    pub fn plain(socket: TcpStream) -> Transport {
        Transport::new(Stream::Plain(socket))
    }

    fn new(stream: Stream) -> Transport {
        Transport {
            stream,
            allowance: usize::MAX,
            exhausted: false,
            meter: None,
        }
    }

    /// Lets the connection deliver up to `bytes` more before WouldBlock.
    pub fn grant(&mut self, bytes: usize) {
        self.allowance = bytes;
        self.exhausted = false;
    }

    /// Whether the last WouldBlock came from the allowance, not the socket.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Starts metering frames (right after the upgrade).
    pub fn start_metering(&mut self) {
        self.meter = Some(FrameMeter::default());
    }

    pub fn meter(&self) -> Option<&FrameMeter> {
        self.meter.as_ref()
    }

    pub fn meter_mut(&mut self) -> Option<&mut FrameMeter> {
        self.meter.as_mut()
    }

    pub fn tls(
        config: Arc<rustls::ServerConfig>,
        socket: TcpStream,
        identity: ClientIdentity,
        tally: Rc<TlsTally>,
    ) -> Result<Transport, rustls::Error> {
        let watch = HandshakeWatch {
            identity,
            tally,
            counted: false,
        };
        let tls = ServerTls::new(config, socket, watch)?;
        Ok(Transport::new(Stream::Tls(Box::new(tls))))
    }

    pub fn is_tls(&self) -> bool {
        self.stream.tls_stream().is_some()
    }

    /// A TLS connection whose TLS handshake is not finished.
    pub fn tls_handshaking(&self) -> bool {
        self.stream
            .tls_stream()
            .is_some_and(|tls| tls.is_handshaking())
    }

    /// Queues a close_notify alert and writes what the socket takes now,
    /// without waiting (the connection is about to be dropped).
    pub fn close_notify(&mut self) {
        self.stream.close_notify();
    }

    /// Half-closes our side: for TLS a close_notify alert first (best
    /// effort: a full socket just loses it), then the TCP FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown_write()
    }
}

impl HandshakeWatch {
    fn failure_counter(&self, error: &rustls::Error) -> &Cell<u64> {
        use rustls::Error as E;
        let t = &self.tally;
        match error {
            E::InvalidCertificate(_) | E::NoCertificatesPresented => &t.client_certificate,
            E::AlertReceived(_) => &t.peer_alert,
            E::PeerIncompatible(_) => &t.incompatible,
            _ => &t.protocol,
        }
    }
}

impl TlsObserver for HandshakeWatch {
    /// The client closed the connection mid-handshake.
    fn read_failed(&mut self, tls: &CommonState, _error: &io::Error) {
        if tls.is_handshaking() && !self.counted {
            self.counted = true;
            bump(&self.tally.eof);
        }
    }

    fn refused(&mut self, error: &rustls::Error) {
        if !self.counted {
            self.counted = true;
            bump(self.failure_counter(error));
        }
    }

    /// Once the handshake is done: counts it and records the client's CN.
    fn processed(&mut self, tls: &CommonState) {
        if self.counted || tls.is_handshaking() {
            return;
        }
        self.counted = true;
        match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => bump(&self.tally.ok_tls12),
            _ => bump(&self.tally.ok_tls13),
        }
        let cn = tls
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| crate::tls::common_name(leaf));
        let _ = self.identity.set(cn);
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.allowance == 0 {
            self.exhausted = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let room = buf.len().min(self.allowance);
        let n = self.stream.read(&mut buf[..room])?;
        self.allowance -= n;
        if let Some(meter) = &mut self.meter {
            meter.observe(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
