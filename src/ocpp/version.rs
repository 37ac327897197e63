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
    #[serde(rename = "ocpp2.1")]
    V21,
}

impl OcppVersion {
    pub const ALL: [OcppVersion; 3] = [OcppVersion::V16, OcppVersion::V201, OcppVersion::V21];

    /// The `Sec-WebSocket-Protocol` token of this version.
    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
            OcppVersion::V21 => "ocpp2.1",
        }
    }

    /// Whether the version has OCPP 2.1's message types 5 (CALLRESULTERROR)
    /// and 6 (SEND); the others know only 2, 3 and 4.
    pub fn has_send_and_result_error(self) -> bool {
        self == OcppVersion::V21
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
