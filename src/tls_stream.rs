//! rustls over a non-blocking mio socket: the byte stream under tungstenite.
//! [`TlsStream`] drives rustls's buffered connections (the perf load
//! generator dials with a `ClientConnection`); [`Stream`] is a plain socket
//! or any [`TlsTransport`], the reactors' unbuffered server side included
//! (`reactor/tls_server.rs`, which keeps no buffer while idle).
//!
//! TLS is driven on the caller's thread, with no thread of its own: reading
//! pulls TLS records from the socket (`read_tls`), decrypts them
//! (`process_new_packets`) and hands out plaintext; writing encrypts into
//! rustls and pushes records to the socket (`write_tls`) until it would
//! block, WouldBlock passed up to tungstenite. Whatever the socket does not
//! take stays in rustls and goes out on the next read, write or flush: the
//! owner registers the socket READABLE | WRITABLE and flushes on writable,
//! so edge-triggered readiness cannot strand it.
//!
//! No state beyond the connection and its socket.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::ops::DerefMut;

use mio::net::TcpStream;
use rustls::{ConnectionCommon, SideData};

/// A rustls connection of either side (`ServerConnection`, `ClientConnection`).
pub trait TlsConnection: DerefMut<Target = ConnectionCommon<Self::Side>> {
    type Side: SideData;
}

impl<C, S> TlsConnection for C
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    type Side = S;
}

/// One TLS connection (`C`: a rustls `ServerConnection` or
/// `ClientConnection`) over its socket, as `Read + Write`.
pub struct TlsStream<C> {
    tls: C,
    socket: TcpStream,
}

impl<C: TlsConnection> TlsStream<C> {
    pub fn new(tls: C, socket: TcpStream) -> TlsStream<C> {
        TlsStream { tls, socket }
    }

    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Queues a close_notify alert and writes what the socket takes now,
    /// without waiting (best effort: a full socket just loses it).
    pub fn close_notify(&mut self) {
        self.tls.send_close_notify();
        let _ = self.push_records();
    }

    /// Writes pending TLS records until none are left (Ok) or the socket
    /// would block (Err WouldBlock).
    pub fn push_records(&mut self) -> io::Result<()> {
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
    /// leaves on the next event.
    pub fn push_records_now(&mut self) -> io::Result<()> {
        match self.push_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }
}

impl<C: TlsConnection> Read for TlsStream<C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Plaintext already decrypted (or EOF) first: no readiness event
            // announces it.
            match self.tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            // Handshake messages or an alert may be waiting to go out.
            self.push_records_now()?;
            match self.tls.read_tls(&mut self.socket) {
                // Ok(0) is TCP EOF: rustls notes it, and the next
                // reader().read says Ok(0) after close_notify,
                // UnexpectedEof without.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                // Let our alert reach the peer if the socket takes it now.
                let _ = self.push_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            self.push_records_now()?;
        }
    }
}

impl<C: TlsConnection> Write for TlsStream<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Records still queued from before: the socket is full; tungstenite
        // keeps the frame and retries on flush (writable event). This bounds
        // what rustls holds to one buffer limit.
        self.push_records()?;
        let n = self.tls.writer().write(buf)?;
        self.push_records_now()?;
        if n == 0 && !buf.is_empty() {
            // rustls's plaintext buffer is full (still handshaking): not a
            // closed stream, which is what Ok(0) would tell tungstenite.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push_records()
    }
}

/// A TLS byte stream over a socket, as [`Stream`] holds one: this
/// module's [`TlsStream`] (the load generator's client side) or the
/// reactors' unbuffered server side.
pub trait TlsTransport: Read + Write {
    fn socket(&self) -> &TcpStream;

    /// Queues a close_notify alert and writes what the socket takes now,
    /// without waiting (best effort: a full socket just loses it).
    fn close_notify(&mut self);
}

impl<C: TlsConnection> TlsTransport for TlsStream<C> {
    fn socket(&self) -> &TcpStream {
        TlsStream::socket(self)
    }

    fn close_notify(&mut self) {
        TlsStream::close_notify(self);
    }
}

/// A plain socket or TLS over one: what tungstenite reads and writes.
pub enum Stream<T> {
    Plain(TcpStream),
    Tls(Box<T>),
}

impl<C: TlsConnection> Stream<TlsStream<C>> {
    /// rustls's buffered connection `tls` over `socket`.
    pub fn tls(tls: C, socket: TcpStream) -> Stream<TlsStream<C>> {
        Stream::Tls(Box::new(TlsStream::new(tls, socket)))
    }
}

impl<T: TlsTransport> Stream<T> {
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.socket(),
        }
    }

    /// The TLS stream, if this is one.
    pub fn tls_stream(&self) -> Option<&T> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(t) => Some(t),
        }
    }

    /// For TLS: queues a close_notify alert and writes what the socket
    /// takes now, without waiting. Nothing for a plain socket.
    pub fn close_notify(&mut self) {
        if let Stream::Tls(t) = self {
            t.close_notify();
        }
    }

    /// Half-closes our side: for TLS a close_notify alert first (best
    /// effort: a full socket just loses it), then the TCP FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.close_notify();
        self.socket().shutdown(Shutdown::Write)
    }
}

impl<T: TlsTransport> Read for Stream<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl<T: TlsTransport> Write for Stream<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
