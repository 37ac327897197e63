//! The byte stream under tungstenite: a plain socket, or rustls over one.
//!
//! TLS is driven on the reactor thread, non-blocking, with no thread of its
//! own: reading pulls TLS records from the socket (`read_tls`), decrypts
//! them (`process_new_packets`) and hands out plaintext; writing encrypts
//! into rustls and pushes records to the socket (`write_tls`) until it
//! would block. Whatever the socket does not take stays in rustls and goes
//! out on the next writable event (the reactor registers every connection
//! READABLE | WRITABLE and flushes on writable), or at the next read or
//! write pass, so edge-triggered readiness cannot strand it.

use std::cell::{Cell, OnceCell};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ServerConnection;

use super::frame_meter::FrameMeter;

/// What the TLS handshake learnt about the client, for the upgrade gate:
/// set once, when the handshake completes, to the subject CN of the
/// verified client certificate (`None`: no certificate, or no CN).
pub type ClientIdentity = Rc<OnceCell<Option<String>>>;

/// Plaintext and TLS bytes rustls may hold per direction. Small on purpose:
/// an idle connection's memory is what matters at 20 000 connections, and
/// OCPP frames are small; a larger frame just takes more passes.
const TLS_BUFFER_LIMIT: usize = 16 * 1024;

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

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tls: ServerConnection,
    socket: TcpStream,
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
        let mut tls = ServerConnection::new(config)?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Transport::new(Stream::Tls(Box::new(TlsStream {
            tls,
            socket,
            identity,
            tally,
            counted: false,
        }))))
    }

    pub fn socket(&self) -> &TcpStream {
        match &self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.socket,
        }
    }

    /// A TLS connection whose TLS handshake is not finished.
    pub fn tls_handshaking(&self) -> bool {
        matches!(&self.stream, Stream::Tls(t) if t.tls.is_handshaking())
    }

    /// Queues a close_notify alert and writes what the socket takes now,
    /// without waiting (the connection is about to be dropped).
    pub fn close_notify(&mut self) {
        if let Stream::Tls(t) = &mut self.stream {
            t.tls.send_close_notify();
            let _ = t.push_records();
        }
    }

    /// Half-closes our side: for TLS a close_notify alert first (best
    /// effort: a full socket just loses it), then the TCP FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.close_notify();
        self.socket().shutdown(Shutdown::Write)
    }
}

impl TlsStream {
    /// Writes pending TLS records until none are left (Ok) or the socket
    /// would block (Err WouldBlock).
    fn push_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Like `push_records`, but a full socket is not an error: the rest
    /// leaves on the writable event.
    fn push_records_now(&mut self) -> io::Result<()> {
        match self.push_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Once the handshake is done: counts it and records the client's CN.
    fn on_progress(&mut self) {
        if self.counted || self.tls.is_handshaking() {
            return;
        }
        self.counted = true;
        match self.tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => bump(&self.tally.ok_tls12),
            _ => bump(&self.tally.ok_tls13),
        }
        let cn = self
            .tls
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| crate::tls::common_name(leaf));
        let _ = self.identity.set(cn);
    }
}

impl TlsStream {
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

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Plaintext already decrypted (or EOF) first: no readiness event
            // announces it.
            match self.tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if self.tls.is_handshaking() && !self.counted => {
                    self.counted = true;
                    bump(&self.tally.eof);
                    return Err(e);
                }
                other => return other,
            }
            // Handshake messages or an alert may be waiting to go out.
            self.push_records_now()?;
            match self.tls.read_tls(&mut self.socket) {
                // TCP EOF: rustls notes it; the next reader().read says
                // Ok(0) after close_notify, UnexpectedEof without.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                // Let the alert reach the peer if the socket takes it now.
                let _ = self.push_records();
                if !self.counted {
                    self.counted = true;
                    bump(self.failure_counter(&e));
                }
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            self.on_progress();
            self.push_records_now()?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Records still queued from before: the socket is full; tungstenite
        // keeps the frame and retries on flush (writable event). This bounds
        // what rustls holds to one buffer limit.
        self.push_records()?;
        let n = self.tls.writer().write(buf)?;
        self.push_records_now()?;
        if n == 0 && !buf.is_empty() {
            // rustls's buffer is full (still handshaking): not a closed
            // stream, which is what Ok(0) would tell tungstenite.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push_records()
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.allowance == 0 {
            self.exhausted = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let room = buf.len().min(self.allowance);
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut buf[..room]),
            Stream::Tls(t) => t.read(&mut buf[..room]),
        }?;
        self.allowance -= n;
        if let Some(meter) = &mut self.meter {
            meter.observe(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
