//! The `[tls]` table: the wss:// listener (OCPP security profiles 2 and
//! 3), its certificate, key and client CA files. Building the rustls
//! configuration from those files, and swapping it at SIGHUP, is `tls`.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;

/// Lowest TLS version accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    V12,
    #[serde(rename = "1.3")]
    V13,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Serve wss:// on `address` (besides or instead of ws:// on listen.address).
    pub enabled: bool,
    pub address: SocketAddr,
    /// PEM: the server certificate first, then its intermediates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_chain: Option<PathBuf>,
    /// PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PathBuf>,
    /// PEM CA certificates. When set (security profile 3), every charge point
    /// must present a certificate issued by one of them whose subject CN is
    /// its charge point id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    pub min_version: TlsVersion,
    /// The TLS handshake and the HTTP upgrade after it must both be done
    /// within this time from accept (replaces websocket.handshake_timeout
    /// on the TLS port).
    #[serde(with = "duration_text")]
    pub handshake_timeout: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: false,
            address: SocketAddr::from(([0, 0, 0, 0], 8443)),
            certificate_chain: None,
            private_key: None,
            client_ca: None,
            min_version: TlsVersion::V12,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl TlsConfig {
    /// Range checks, keyed like the file (`tls.private_key`); the handshake
    /// timeout cannot be shorter than `timer_tick` (`reactors.timer_tick`).
    pub fn problems(&self, timer_tick: Duration) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.enabled && self.certificate_chain.is_none() {
            out.push((
                "tls.certificate_chain",
                "is required when tls.enabled = true (PEM file path)".to_owned(),
            ));
        }
        if self.enabled && self.private_key.is_none() {
            out.push((
                "tls.private_key",
                "is required when tls.enabled = true (PEM file path)".to_owned(),
            ));
        }
        for (key, path) in [
            ("tls.certificate_chain", &self.certificate_chain),
            ("tls.private_key", &self.private_key),
            ("tls.client_ca", &self.client_ca),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                out.push((key, "must be a file path".to_owned()));
            }
        }
        if self.handshake_timeout < timer_tick || self.handshake_timeout > Duration::from_secs(3600)
        {
            out.push((
                "tls.handshake_timeout",
                "must be at least reactors.timer_tick and at most 1h".to_owned(),
            ));
        }
        out
    }
}
