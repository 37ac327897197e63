//! The OCPP-J versions the gateway speaks, named by their WebSocket subprotocol.

use serde::{Deserialize, Serialize};

/// One OCPP-J protocol version. The subprotocol chosen in the handshake fixes
/// it for the life of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OcppVersion {
    #[serde(rename = "ocpp1.6")]
    V16,
    #[serde(rename = "ocpp2.0.1")]
    V201,
}

impl OcppVersion {
    pub const ALL: [OcppVersion; 2] = [OcppVersion::V16, OcppVersion::V201];

    /// The `Sec-WebSocket-Protocol` token of this version.
    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
        }
    }

    pub fn from_subprotocol(token: &str) -> Option<OcppVersion> {
        OcppVersion::ALL
            .into_iter()
            .find(|v| v.subprotocol().eq_ignore_ascii_case(token))
    }
}

impl std::fmt::Display for OcppVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.subprotocol())
    }
}
