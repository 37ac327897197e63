//! Client-side TLS for `wss://` targets: the rustls client configuration
//! (CA to trust, optional client certificate) and the byte stream under
//! tungstenite, a plain socket or rustls over one.
//!
//! The stream is the gateway's own adapter (`ocpp_gateway::tls_stream`,
//! the one its reactors serve with), here over a `ClientConnection`: TLS is
//! driven on the worker thread, non-blocking, `read_tls` →
//! `process_new_packets` → `reader` under tungstenite, `writer` +
//! `write_tls` out, WouldBlock passed up. What the socket does not take
//! stays in rustls and leaves on the next read, write or flush (every
//! connection is registered READABLE | WRITABLE and the worker flushes on
//! every event), so edge-triggered readiness cannot strand it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The stream tungstenite reads and writes: `Transport::Plain(socket)` or
/// `Transport::tls(connection, socket)`.
pub type Transport = ocpp_gateway::tls_stream::Stream<ocpp_gateway::tls_stream::TlsStream<ClientConnection>>;
