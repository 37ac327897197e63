//! Server-side TLS over a non-blocking mio socket, with rustls's unbuffered
//! API: the byte stream under a `wss://` connection's WebSocket.
//!
//! Why not rustls's buffered `ServerConnection`: its receive buffer never
//! shrinks below one 4 KiB read for as long as the connection lives, which
//! was most of what an idle wss connection cost (9.6 KiB against 2.1 for
//! ws). Here the stream owns its buffers and holds each only while it holds
//! bytes, so an idle connection keeps just rustls's session state (keys,
//! sequence numbers, ≈ 2.3 KB).
//!
//! Driven on the reactor thread, with no thread of its own. Invariants:
//! - Socket reads land in a scratch buffer of the reactor thread; only
//!   bytes rustls could not consume yet (an incomplete record) move to the
//!   connection's `incoming`. A read pass decrypts every complete record at
//!   once, so the write path, which gives rustls `incoming` as it is,
//!   never finds records waiting.
//! - Decrypted bytes go straight into the reader's buffer; what does not
//!   fit waits in `plaintext`, which is handed out before the socket is
//!   read again: no readiness event announces it.
//! - `outgoing` holds records the socket has not taken. A write while it is
//!   not empty says WouldBlock (tungstenite keeps the frame and retries on
//!   flush, which the reactor calls on writable), so it holds at most one
//!   write's records: `WRITE_LIMIT` plaintext plus the record overhead.
//! - Once rustls refused the peer (`failed`), nothing more is read or
//!   written; its alert has been offered to the socket.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::CommonState;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, WriteTraffic};

use crate::tls_stream::TlsTransport;

/// Plaintext one write encrypts at most: OCPP frames are small; a larger
/// frame takes more writes.
const WRITE_LIMIT: usize = 16 * 1024;
/// Bytes asked of the socket per read (rustls's own read size).
const READ_CHUNK: usize = 4096;
/// The most ciphertext held while handshaking: a handshake message (a
/// client's certificate chain) may span records and must be whole before
/// rustls takes it; 64 KiB is rustls's own bound for one.
const HANDSHAKE_INCOMING_LIMIT: usize = 0x1_0000 + 5 * 4;
/// The most ciphertext held after the handshake: one record at its largest
/// (16 KiB of plaintext plus the most padding and tag TLS allows).
const RECORD_INCOMING_LIMIT: usize = 16 * 1024 + 2048 + 5;

thread_local! {
    /// Where socket reads land: one per reactor thread, used by one
    /// connection at a time, within one read call.
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// What a [`ServerTls`] tells its owner about the handshake and the peer.
pub trait TlsObserver {
    /// Reading failed with `error` (not WouldBlock): the peer closed
    /// without close_notify, or the stream is broken.
    fn read_failed(&mut self, tls: &CommonState, error: &io::Error);

    /// rustls refused what the peer sent; our alert has been offered to
    /// the socket.
    fn refused(&mut self, error: &rustls::Error);

    /// Newly received records were processed without error (the handshake
    /// may have just finished).
    fn processed(&mut self, tls: &CommonState);
}

/// One server-side TLS connection over its socket, as `Read + Write`.
pub struct ServerTls<O> {
    tls: UnbufferedServerConnection,
    socket: TcpStream,
    observer: O,
    /// Ciphertext from the socket that rustls has not consumed yet.
    incoming: Vec<u8>,
    /// Decrypted bytes; `plaintext[plaintext_start..]` is not read yet.
    plaintext: Vec<u8>,
    plaintext_start: usize,
    /// Records for the socket; `outgoing[outgoing_start..]` is not sent yet.
    outgoing: Vec<u8>,
    outgoing_start: usize,
    /// The socket said EOF.
    tcp_eof: bool,
    /// The peer's close_notify arrived: no more application data.
    peer_closed: bool,
    /// rustls refused the peer: the connection is dead.
    failed: bool,
}

/// What stopped rustls from going on with the bytes it has.
enum Step {
    /// Something was done; ask rustls again.
    Again,
    /// It needs more bytes from the peer (or has none to write).
    Stop,
}

/// rustls needs more room in the output buffer (`Need`), or cannot go on.
enum Shortfall {
    Need(usize),
    Failed(io::Error),
}

impl From<EncodeError> for Shortfall {
    fn from(error: EncodeError) -> Shortfall {
        match error {
            EncodeError::InsufficientSize(e) => Shortfall::Need(e.required_size),
            other => Shortfall::Failed(io::Error::other(other.to_string())),
        }
    }
}

impl From<EncryptError> for Shortfall {
    fn from(error: EncryptError) -> Shortfall {
        match error {
            EncryptError::InsufficientSize(e) => Shortfall::Need(e.required_size),
            other => Shortfall::Failed(io::Error::other(other.to_string())),
        }
    }
}

/// Appends to `buf` what `encode` writes into room at its end, starting
/// with `guess` bytes of room and growing it to what rustls says it needs.
fn append_with(
    buf: &mut Vec<u8>,
    guess: usize,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, Shortfall>,
) -> io::Result<usize> {
    let start = buf.len();
    let mut room = guess;
    loop {
        buf.resize(start + room, 0);
        match encode(&mut buf[start..]) {
            Ok(n) => {
                buf.truncate(start + n);
                return Ok(n);
            }
            Err(Shortfall::Need(needed)) if needed > room => room = needed,
            Err(Shortfall::Need(needed)) => {
                buf.truncate(start);
                return Err(io::Error::other(format!(
                    "rustls asked for {needed} bytes of room and had {room}"
                )));
            }
            Err(Shortfall::Failed(e)) => {
                buf.truncate(start);
                return Err(e);
            }
        }
    }
}

/// Empties `buf` and gives its memory back: the buffers of an idle
/// connection hold nothing.
fn release(buf: &mut Vec<u8>, start: &mut usize) {
    *buf = Vec::new();
    *start = 0;
}

/// Where decrypted bytes go: the reader's buffer first, the rest to the
/// connection's `plaintext` (in order: once anything spilt, all does).
struct Sink<'a> {
    direct: &'a mut [u8],
    filled: usize,
    spill: &'a mut Vec<u8>,
}

impl<'a> Sink<'a> {
    fn spill_only(spill: &'a mut Vec<u8>) -> Sink<'a> {
        Sink {
            direct: &mut [],
            filled: 0,
            spill,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        let room = self.direct.len() - self.filled;
        let now = match self.spill.is_empty() {
            true => bytes.len().min(room),
            false => 0,
        };
        self.direct[self.filled..self.filled + now].copy_from_slice(&bytes[..now]);
        self.filled += now;
        self.spill.extend_from_slice(&bytes[now..]);
    }
}

/// Why a read pass failed.
enum ReadFailure {
    /// The socket failed (WouldBlock included).
    Io(io::Error),
    /// rustls refused what the peer sent, or a record outgrew its bound.
    Refused(rustls::Error),
}

impl From<io::Error> for ReadFailure {
    fn from(error: io::Error) -> ReadFailure {
        ReadFailure::Io(error)
    }
}

impl From<rustls::Error> for ReadFailure {
    fn from(error: rustls::Error) -> ReadFailure {
        ReadFailure::Refused(error)
    }
}

fn read_retrying(socket: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match socket.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl<O: TlsObserver> ServerTls<O> {
    pub fn new(
        config: Arc<rustls::ServerConfig>,
        socket: TcpStream,
        observer: O,
    ) -> Result<ServerTls<O>, rustls::Error> {
        Ok(ServerTls {
            tls: UnbufferedServerConnection::new(config)?,
            socket,
            observer,
            incoming: Vec::new(),
            plaintext: Vec::new(),
            plaintext_start: 0,
            outgoing: Vec::new(),
            outgoing_start: 0,
            tcp_eof: false,
            peer_closed: false,
            failed: false,
        })
    }

    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Writes pending records until none are left (Ok) or the socket would
    /// block (Err WouldBlock).
    fn push_records(&mut self) -> io::Result<()> {
        while self.outgoing_start < self.outgoing.len() {
            match self.socket.write(&self.outgoing[self.outgoing_start..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.outgoing_start += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.outgoing.is_empty() {
            release(&mut self.outgoing, &mut self.outgoing_start);
        }
        Ok(())
    }

    /// Like `push_records`, but a full socket is not an error: the rest
    /// leaves on the next event.
    fn push_records_now(&mut self) -> io::Result<()> {
        match self.push_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Feeds rustls `records` (the ciphertext that follows what it consumed
    /// before) until it needs more: decrypted bytes into `direct`, then
    /// `plaintext`; what it answers (handshake flights, tickets, alerts)
    /// into `outgoing`. Returns how many bytes of `records` it consumed and
    /// how many plaintext bytes went into `direct`.
    fn process_records(
        &mut self,
        records: &mut [u8],
        direct: &mut [u8],
    ) -> (usize, Result<usize, rustls::Error>) {
        let mut sink = Sink {
            direct,
            filled: 0,
            spill: &mut self.plaintext,
        };
        let mut used = 0;
        loop {
            let status = self.tls.process_tls_records(&mut records[used..]);
            let discard = status.discard;
            let step = match status.state {
                Err(e) => Err(e),
                Ok(state) => {
                    self::step(state, &mut sink, &mut self.outgoing, &mut self.peer_closed)
                }
            };
            used += discard;
            match step {
                Err(e) => return (used, Err(e)),
                Ok(Step::Again) => {}
                Ok(Step::Stop) => return (used, Ok(sink.filled)),
            }
        }
    }

    /// Reads from the socket and feeds rustls: `Ok(Some(n))` with `n`
    /// plaintext bytes delivered into `direct`, `Ok(None)` at EOF.
    fn read_and_process(&mut self, direct: &mut [u8]) -> Result<Option<usize>, ReadFailure> {
        if self.incoming.is_empty() {
            return READ_SCRATCH.with_borrow_mut(|scratch| {
                let n = read_retrying(&mut self.socket, scratch)?;
                if n == 0 {
                    return Ok(None);
                }
                let (used, delivered) = self.process_records(&mut scratch[..n], direct);
                self.incoming.extend_from_slice(&scratch[used..n]);
                Ok(Some(delivered?))
            });
        }
        // An incomplete record waits: the rest is read after it.
        let limit = match self.tls.is_handshaking() {
            true => HANDSHAKE_INCOMING_LIMIT,
            false => RECORD_INCOMING_LIMIT,
        };
        let mut incoming = std::mem::take(&mut self.incoming);
        let held = incoming.len();
        if held >= limit {
            self.incoming = incoming;
            return Err(ReadFailure::Refused(rustls::Error::General(format!(
                "a TLS record or handshake message longer than {limit} bytes"
            ))));
        }
        incoming.resize(held + READ_CHUNK.min(limit - held), 0);
        let read = read_retrying(&mut self.socket, &mut incoming[held..]);
        incoming.truncate(held + *read.as_ref().unwrap_or(&0));
        let outcome = match read {
            Err(e) => Err(ReadFailure::Io(e)),
            Ok(0) => Ok(None),
            Ok(_) => {
                let (used, delivered) = self.process_records(&mut incoming, direct);
                incoming.drain(..used);
                delivered.map(Some).map_err(ReadFailure::Refused)
            }
        };
        if !incoming.is_empty() {
            self.incoming = incoming;
        }
        outcome
    }

    /// Runs rustls on what it has until it takes application data, then
    /// hands `encrypt` the write state and `outgoing`. `Ok(false)`: still
    /// handshaking.
    ///
    /// rustls is given `incoming` as it is, never another buffer: while a
    /// handshake message is incomplete rustls remembers where its records
    /// lie in that buffer. (By the invariant, it holds no complete record
    /// here, so nothing new is read.)
    fn with_write_traffic(
        &mut self,
        mut encrypt: impl FnMut(
            &mut WriteTraffic<'_, ServerConnectionData>,
            &mut Vec<u8>,
        ) -> io::Result<usize>,
    ) -> io::Result<bool> {
        loop {
            let status = self.tls.process_tls_records(&mut self.incoming);
            let discard = status.discard;
            // None: rustls did something first (a ticket to send); ask again.
            let outcome = match status.state {
                Err(e) => Some(Err(io::Error::other(e))),
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    Some(encrypt(&mut traffic, &mut self.outgoing).map(|_| true))
                }
                Ok(ConnectionState::Closed) => Some(Err(io::ErrorKind::BrokenPipe.into())),
                Ok(state) => match self::step(
                    state,
                    &mut Sink::spill_only(&mut self.plaintext),
                    &mut self.outgoing,
                    &mut self.peer_closed,
                ) {
                    Err(e) => Some(Err(io::Error::other(e))),
                    Ok(Step::Stop) => Some(Ok(false)),
                    Ok(Step::Again) => None,
                },
            };
            self.consume_incoming(discard);
            if let Some(outcome) = outcome {
                return outcome;
            }
        }
    }

    /// Drops what rustls consumed from the front of `incoming` (nothing,
    /// by the invariant, on the write path; kept exact all the same).
    fn consume_incoming(&mut self, discard: usize) {
        self.incoming.drain(..discard);
        if self.incoming.is_empty() && self.incoming.capacity() > 0 {
            self.incoming = Vec::new();
        }
    }

    /// Hands out decrypted bytes, if any.
    fn take_plaintext(&mut self, buf: &mut [u8]) -> Option<usize> {
        let pending = &self.plaintext[self.plaintext_start..];
        if pending.is_empty() {
            return None;
        }
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        self.plaintext_start += n;
        if self.plaintext_start == self.plaintext.len() {
            release(&mut self.plaintext, &mut self.plaintext_start);
        }
        Some(n)
    }

    /// rustls refused the peer: offers its alert to the socket, tells the
    /// observer, and the stream is dead from now on.
    fn refuse(&mut self, error: rustls::Error) -> io::Error {
        self.failed = true;
        // The alert rustls queued, encoded from the same buffer (see
        // `with_write_traffic`).
        loop {
            let status = self.tls.process_tls_records(&mut self.incoming);
            let Ok(ConnectionState::EncodeTlsData(mut data)) = status.state else {
                break;
            };
            if append_with(&mut self.outgoing, 64, |out| Ok(data.encode(out)?)).is_err() {
                break;
            }
        }
        let _ = self.push_records();
        self.observer.refused(&error);
        io::Error::new(io::ErrorKind::InvalidData, error)
    }

    fn read_failed(&mut self, error: io::Error) -> io::Error {
        self.observer.read_failed(&self.tls, &error);
        error
    }
}

/// Handles one state rustls stopped at (all but WriteTraffic, which only
/// the write path uses): app data into `sink`, records to send into
/// `outgoing`.
fn step(
    state: ConnectionState<'_, '_, ServerConnectionData>,
    sink: &mut Sink<'_>,
    outgoing: &mut Vec<u8>,
    peer_closed: &mut bool,
) -> Result<Step, rustls::Error> {
    match state {
        ConnectionState::ReadTraffic(mut traffic) => {
            while let Some(record) = traffic.next_record() {
                sink.put(record?.payload);
            }
            Ok(Step::Again)
        }
        ConnectionState::EncodeTlsData(mut data) => {
            append_with(outgoing, 4096, |out| Ok(data.encode(out)?))
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            Ok(Step::Again)
        }
        // Sent by the caller after the loop (or on the next writable event).
        ConnectionState::TransmitTlsData(transmit) => {
            transmit.done();
            Ok(Step::Again)
        }
        ConnectionState::PeerClosed => {
            *peer_closed = true;
            Ok(Step::Again)
        }
        // Our config accepts no 0-RTT data (max_early_data_size is 0).
        ConnectionState::ReadEarlyData(_) => Err(rustls::Error::General(
            "early data, which this server does not accept".into(),
        )),
        _ => Ok(Step::Stop),
    }
}

impl<O: TlsObserver> Read for ServerTls<O> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(n) = self.take_plaintext(buf) {
                return Ok(n);
            }
            if self.failed {
                return Err(io::ErrorKind::InvalidData.into());
            }
            if self.peer_closed {
                return Ok(0);
            }
            if self.tcp_eof {
                let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
                return Err(self.read_failed(eof));
            }
            let delivered = match self.read_and_process(buf) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    self.tcp_eof = true;
                    continue;
                }
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(e);
                }
                Err(ReadFailure::Io(e)) => return Err(self.read_failed(e)),
                Err(ReadFailure::Refused(error)) => return Err(self.refuse(error)),
            };
            self.observer.processed(&self.tls);
            // Handshake flights, tickets, key updates.
            self.push_records_now()?;
            if delivered > 0 {
                return Ok(delivered);
            }
        }
    }
}

impl<O: TlsObserver> Write for ServerTls<O> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        // Records still queued from before: the socket is full.
        self.push_records()?;
        let plain = &buf[..buf.len().min(WRITE_LIMIT)];
        let encrypted = self.with_write_traffic(|traffic, outgoing| {
            append_with(outgoing, plain.len() + 64, |out| {
                Ok(traffic.encrypt(plain, out)?)
            })
        })?;
        self.push_records_now()?;
        match encrypted {
            true => Ok(plain.len()),
            // Still handshaking: not a closed stream, which Ok(0) would say.
            false => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push_records()
    }
}

impl<O: TlsObserver> TlsTransport for ServerTls<O> {
    fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Queues a close_notify alert and writes what the socket takes now
    /// (best effort: mid-handshake or on a full socket it is lost).
    fn close_notify(&mut self) {
        if self.failed {
            return;
        }
        let _ = self.with_write_traffic(|traffic, outgoing| {
            append_with(outgoing, 64, |out| Ok(traffic.queue_close_notify(out)?))
        });
        let _ = self.push_records();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::*;

    #[derive(Default)]
    struct Seen {
        processed: u32,
        refused: u32,
    }

    impl TlsObserver for Seen {
        fn read_failed(&mut self, _tls: &CommonState, _error: &io::Error) {}
        fn refused(&mut self, _error: &rustls::Error) {
            self.refused += 1;
        }
        fn processed(&mut self, _tls: &CommonState) {
            self.processed += 1;
        }
    }

    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let signed = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = CertificateDer::from(signed.cert.der().to_vec());
        let key = PrivateKeyDer::try_from(signed.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// Reads until `want` bytes arrived, polling the non-blocking stream.
    fn read_exactly(server: &mut ServerTls<Seen>, want: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < want {
            assert!(
                Instant::now() < deadline,
                "only {} of {want} bytes",
                got.len()
            );
            match server.read(&mut buf) {
                Ok(0) => panic!("EOF after {} bytes", got.len()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    fn holds_no_buffer(server: &ServerTls<Seen>) -> bool {
        server.incoming.capacity() == 0
            && server.plaintext.capacity() == 0
            && server.outgoing.capacity() == 0
    }

    /// The point of this stream: between messages it keeps no buffer, even
    /// after a message that spanned many records and reads.
    #[test]
    fn an_idle_connection_holds_no_buffer_after_small_and_large_messages() {
        let (server_config, client_config) = configs();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let large = vec![b'x'; 100_000];
        let client = std::thread::spawn(move || {
            let socket = std::net::TcpStream::connect(address).unwrap();
            let name = "localhost".try_into().unwrap();
            let tls = rustls::ClientConnection::new(client_config, name).unwrap();
            let mut stream = rustls::StreamOwned::new(tls, socket);
            stream.write_all(b"hello").unwrap();
            let mut answer = [0u8; 5];
            stream.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"world");
            stream.write_all(&large).unwrap();
            stream.read_exact(&mut answer[..2]).unwrap();
            assert_eq!(&answer[..2], b"ok");
            stream.conn.send_close_notify();
            stream.flush().unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        });
        let (socket, _) = listener.accept().unwrap();
        socket.set_nonblocking(true).unwrap();
        let socket = TcpStream::from_std(socket);
        let mut server = ServerTls::new(server_config, socket, Seen::default()).unwrap();

        assert_eq!(read_exactly(&mut server, 5), b"hello");
        server.write_all(b"world").unwrap();
        assert!(!server.is_handshaking());
        assert!(server.observer.processed > 0);
        let got = read_exactly(&mut server, 100_000);
        assert!(got.iter().all(|&b| b == b'x'));
        // Idle now: the next read finds nothing and all buffers are gone.
        let mut buf = [0u8; 64];
        let idle = server.read(&mut buf);
        assert!(
            matches!(&idle, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "{idle:?}"
        );
        assert!(holds_no_buffer(&server));
        server.write_all(b"ok").unwrap();
        assert!(
            holds_no_buffer(&server),
            "a write the socket took is not kept"
        );
        // The client's close_notify ends the stream cleanly.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match server.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => panic!("{n} unexpected bytes"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no close_notify");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        server.close_notify();
        drop(server);
        client.join().unwrap();
    }

    /// Not TLS at all: refused, the observer told once, and nothing more
    /// is read from the stream.
    #[test]
    fn bytes_that_are_not_tls_are_refused_once() {
        let (server_config, _) = configs();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (socket, _) = listener.accept().unwrap();
        socket.set_nonblocking(true).unwrap();
        let socket = TcpStream::from_std(socket);
        let mut server = ServerTls::new(server_config, socket, Seen::default()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 64];
        let error = loop {
            match server.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "never refused");
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => break other.unwrap_err(),
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(server.observer.refused, 1);
        let again = server.read(&mut buf).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::InvalidData);
        assert_eq!(server.observer.refused, 1, "told once");
        assert!(
            server.write(b"x").is_err(),
            "nothing is written after a refusal"
        );
    }
}
