//! TLS for the charge-point listener (OCPP security profiles 2 and 3):
//! building the rustls server configuration from the PEM files that the
//! `[tls]` table (`config::TlsConfig`) names, and the store that SIGHUP
//! swaps a new certificate into.
//!
//! The TLS state machine itself runs on the reactors, see
//! `reactor::transport`.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{CipherSuite, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{TlsConfig, TlsVersion};
use crate::cross_thread::Reloadable;

/// The cipher suites offered: every TLS 1.3 suite of the provider, and for
/// TLS 1.2 only the four ECDHE AES-GCM suites the OCPP security whitepaper
/// (edition 2, "TLS") names. No CBC, no ChaCha20 on 1.2.
const TLS12_SUITES: [CipherSuite; 4] = [
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
];

/// The ring provider restricted to the suites above.
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|s| match s {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(_) => TLS12_SUITES.contains(&s.suite()),
    });
    Arc::new(provider)
}

fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{key} {}: no CERTIFICATE in it", path.display()));
    }
    Ok(certs)
}

/// Builds the rustls server configuration from the files `config` names.
/// Every error names the key and file.
pub fn server_config(config: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let (Some(chain), Some(key_path)) = (&config.certificate_chain, &config.private_key) else {
        return Err("tls.certificate_chain and tls.private_key are required".into());
    };
    let certs = read_certs("tls.certificate_chain", chain)?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("tls.private_key {}: {e}", key_path.display()))?;
    let provider = provider();
    let versions: &[&'static rustls::SupportedProtocolVersion] = match config.min_version {
        TlsVersion::V12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls.min_version: {e}"))?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs("tls.client_ca", ca_path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.client_ca {}: {e}", ca_path.display()))?;
            }
            // Without a client certificate the TLS handshake fails (alert
            // certificate_required): profile 3 has no anonymous fallback.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("tls.client_ca {}: {e}", ca_path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls.private_key {}: {e}", key_path.display()))?;
    Ok(Arc::new(server))
}

/// The TLS configuration one connection is made with: the rustls server
/// configuration and, decided from the same files, whether the charge
/// point must show a client certificate that names it (profile 3). The two
/// are swapped together, so a connection's identity check always follows
/// the certificate verifier its session was made with.
pub struct TlsInForce {
    pub server: Arc<ServerConfig>,
    /// `tls.client_ca` was set: rustls requires a certificate from those
    /// CAs, and its subject CN must equal the charge point id.
    pub client_certificates: bool,
}

/// The configuration in force; new connections take the current one,
/// open connections keep the one they started with.
pub type TlsStore = Reloadable<TlsInForce>;

impl Reloadable<TlsInForce> {
    /// Reads certificate, key and client CA named by `config`.
    pub fn load(config: &TlsConfig) -> Result<TlsStore, String> {
        in_force(config).map(TlsStore::new)
    }

    /// Re-reads certificate, key and client CA (SIGHUP). On error the old
    /// configuration stays in force and the error says why.
    pub fn reload(&self, config: &TlsConfig) -> Result<(), String> {
        self.replace(in_force(config)?);
        Ok(())
    }
}

fn in_force(config: &TlsConfig) -> Result<TlsInForce, String> {
    Ok(TlsInForce {
        server: server_config(config)?,
        client_certificates: config.client_ca.is_some(),
    })
}

/// The subject CN of a DER certificate, if it has one that is UTF-8.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
