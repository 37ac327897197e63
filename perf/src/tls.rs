//! Client-side TLS for `wss://` targets: the rustls client configuration
//! (CA to trust, optional client certificate) and the byte stream under
//! tungstenite, a plain socket or rustls over one.
//!
//! TLS is driven on the worker thread, non-blocking: reading pulls TLS
//! records from the socket (`read_tls`), decrypts them
//! (`process_new_packets`) and hands out plaintext; writing encrypts into
//! rustls and pushes records to the socket (`write_tls`) until it would
//! block. What the socket does not take stays in rustls and leaves on the
//! next read, write or flush (every connection is registered READABLE |
//! WRITABLE and the worker flushes on every event), so edge-triggered
//! readiness cannot strand it. Same scheme as the gateway's server side
//! (`src/reactor/transport.rs`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::Resumption;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// What every `wss://` connection of a run uses.
pub struct TlsClient {
    server_name: ServerName<'static>,
    roots: Arc<RootCertStore>,
    /// One configuration for all connections (no client certificate, or
    /// the same one for all).
    shared: Option<Arc<ClientConfig>>,
    /// Profile 3: `<dir>/<id>.pem` + `<dir>/<id>.key` per charge point.
    cert_dir: Option<PathBuf>,
}

impl TlsClient {
    /// `host` is the URL's host (an IP address or `localhost`): the server
    /// certificate must name it.
    pub fn new(
        host: &str,
        ca: &Path,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
        cert_dir: Option<&Path>,
    ) -> Result<TlsClient, String> {
        let server_name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string())
                .map_err(|e| format!("server name {host:?}: {e}"))?,
        };
        let mut roots = RootCertStore::empty();
        let cas = load_certs(ca)?;
        let (added, _ignored) = roots.add_parsable_certificates(cas);
        if added == 0 {
            return Err(format!("--ca {}: no usable CA certificate", ca.display()));
        }
        let roots = Arc::new(roots);
        let shared = match (client_cert, client_key, cert_dir) {
            (Some(_), Some(_), Some(_)) => {
                return Err(
                    "--client-cert/--client-key and --client-cert-dir exclude each other".into(),
                );
            }
            (Some(c), Some(k), None) => Some(config(&roots, Some((c, k)))?),
            (None, None, Some(_)) => None,
            (None, None, None) => Some(config(&roots, None)?),
            _ => return Err("--client-cert and --client-key go together".into()),
        };
        Ok(TlsClient {
            server_name,
            roots,
            shared,
            cert_dir: cert_dir.map(Path::to_path_buf),
        })
    }

    /// A new client connection for charge point `id`.
    pub fn connection(&self, id: &str) -> Result<ClientConnection, String> {
        let config = match (&self.shared, &self.cert_dir) {
            (Some(c), _) => c.clone(),
            (None, Some(dir)) => config(
                &self.roots,
                Some((
                    &dir.join(format!("{id}.pem")),
                    &dir.join(format!("{id}.key")),
                )),
            )?,
            (None, None) => unreachable!("TlsClient::new sets one of them"),
        };
        ClientConnection::new(config, self.server_name.clone()).map_err(|e| e.to_string())
    }
}

/// rustls with the ring provider (as the gateway), TLS 1.2 and 1.3, no
/// session resumption: every connection is a full handshake, as for
/// charge points connecting for the first time.
fn config(
    roots: &Arc<RootCertStore>,
    auth: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, String> {
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots.clone());
    let mut cfg = match auth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = load_certs(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{}: {e}", cert.display()))?
        }
    };
    cfg.resumption = Resumption::disabled();
    Ok(Arc::new(cfg))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// The stream tungstenite reads and writes.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tls: ClientConnection,
    socket: TcpStream,
}

impl Transport {
    pub fn tls(tls: ClientConnection, socket: TcpStream) -> Transport {
        Transport::Tls(Box::new(TlsStream { tls, socket }))
    }

    pub fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.socket,
        }
    }

    /// Half-closes our side: for TLS a close_notify first (best effort),
    /// then the TCP FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.push_records();
        }
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

    /// Like `push_records`, but a full socket is fine: the rest leaves on
    /// the next event.
    fn push_records_now(&mut self) -> io::Result<()> {
        match self.push_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
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
                other => return other,
            }
            // Handshake messages may be waiting to go out.
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
                // Let our alert reach the server if the socket takes it.
                let _ = self.push_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            self.push_records_now()?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Records still queued: the socket is full; tungstenite keeps the
        // frame and retries on flush.
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

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush(),
        }
    }
}
