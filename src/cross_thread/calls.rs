//! A charge point's CALL on its way to a processor and its answer on the
//! way back, and what other threads learn about a connection.
//!
//! ```text
//! reactor --InboundCall--> processor queue (one bounded MPMC) --> processor
//! reactor <--CallAnswer--- reactor inbox <-- processor (or the journal writer, write-ahead)
//! ```
//!
//! The CALLs of `processors.inline_actions` skip the hop: the reactor hands
//! them to an `AnswerHere` (`answer_here.rs`) the processor module made for it, which runs
//! the processors' own answering code on the reactor's thread.

use std::sync::Arc;

use tungstenite::Utf8Bytes;

use crate::ocpp::OcppVersion;
use crate::ocpp::schema::Lenience;

/// Names one connection for its whole life: the owning reactor, its slot,
/// and the slot's generation. A reused slot has a new generation, so a
/// message for a closed connection is recognised and dropped by the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub reactor: u16,
    pub slot: u32,
    pub generation: u32,
}

/// A charge-point CALL, handed to the processors. The reactor has checked the
/// envelope; the processor parses it again (cheap, borrowed) and decides.
#[derive(Debug)]
pub struct InboundCall {
    pub conn: ConnRef,
    /// Shared with the connection: for the journal, without a copy.
    pub charge_point: Arc<str>,
    pub version: OcppVersion,
    pub frame: Utf8Bytes,
    /// Where the reactor found id, action and payload in `frame`; `None`
    /// (escapes, or a held frame) makes the processor parse it again.
    pub parts: Option<crate::ocpp::frame::CallRanges>,
    /// What the charge point's profile tolerates (the reactor sets it from
    /// the profile in force when the CALL was read).
    pub lenience: Lenience,
    /// Set by the processor when lenient mode let something through: the
    /// journal line's `lenient` notes (a JSON array). The processor has
    /// then also replaced `frame` by its corrected form.
    pub lenient_notes: Option<Box<serde_json::value::RawValue>>,
}

/// The answer to a connection's CALL, on its way to the owning reactor.
#[derive(Debug)]
pub struct CallAnswer {
    pub conn: ConnRef,
    /// Shared with the journal record of the answer (no copy). Empty:
    /// nothing to send, only release the connection.
    pub frame: Utf8Bytes,
    /// Set when the CALL was an accepted BootNotification: what the
    /// charge point said about itself, kept for the admin API.
    pub boot: Option<Box<BootInfo>>,
    /// The CALL was malformed or broke its schema: it counts against the
    /// connection's `ocpp.max_bad_messages`.
    pub malformed: bool,
}

/// What a charge point said about itself in its last accepted BootNotification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootInfo {
    pub vendor: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// One connection as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionInfo {
    pub id: String,
    pub remote_address: String,
    pub subprotocol: &'static str,
    pub reactor: u16,
    /// RFC 3339 UTC.
    pub connected_at: String,
    /// RFC 3339 UTC: the last frame of any kind from the charge point.
    pub last_frame_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootInfo>,
    /// The `[[profiles]]` entry in force, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Its frames are being written to a trace file.
    pub traced: bool,
    /// RFC 3339 UTC: when an operator's trace ends (absent: not traced,
    /// or traced by its profile with no time limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_until: Option<String>,
}
