//! OCPP 2.1 SEND (message type 6) from a charge point: a message that is
//! never answered (OCPP 2.1 Part 4 §4.2.5), e.g. `NotifyPeriodicEventStream`.
//!
//! A valid SEND is journaled (kind `send`, so the bus publishes it like any
//! journal line) and the connection is released without a frame. One that
//! names an action that is not a SEND, or breaks its schema, cannot be
//! answered either: the gateway's choice (README, OCPP table) is to log it,
//! count it (`ocpp_gateway_calls_total{outcome=<error code>}`) and charge it
//! to the connection's bad-message budget; it is not journaled, since the
//! backend could not trust it.

use log::warn;
use tungstenite::Utf8Bytes;

use super::{CallParts, ProcessorSetup, ReadyAnswer, action_label, received_payload};
use crate::cross_thread::{Direction, InboundCall, JournalRecord, Kind};
use crate::ocpp::Violation;

/// Takes a SEND: what goes back to the reactor is only the release of the
/// connection (an empty frame), through the journal when it is on.
pub(super) fn take(
    setup: &ProcessorSetup,
    call: &InboundCall,
    parts: &CallParts<'_>,
    checked: Result<(), Violation>,
) -> ReadyAnswer {
    let (id, action, payload) = (parts.id.as_ref(), parts.action.as_ref(), parts.payload);
    let label = action_label(call.version, action);
    match checked {
        Ok(()) => ReadyAnswer {
            frame: Utf8Bytes::default(),
            label: (label, "send"),
            boot: None,
            malformed: false,
            record: setup
                .journal
                .as_ref()
                .and_then(|_| send_record(call, id, action, payload)),
        },
        Err(violation) => {
            warn!(
                "{}: SEND {action} {id:?} refused, not answered (a SEND never is): {}: {}",
                call.charge_point,
                violation.code.as_str(call.version),
                violation.description
            );
            ReadyAnswer {
                frame: Utf8Bytes::default(),
                label: (label, violation.code.as_str(call.version)),
                boot: None,
                malformed: violation.code.is_malformed_message(),
                record: None,
            }
        }
    }
}

/// The journal line of a valid SEND.
fn send_record(call: &InboundCall, id: &str, action: &str, payload: &str) -> Option<JournalRecord> {
    let mut record = JournalRecord::message(
        call.charge_point.clone(),
        call.conn.reactor,
        Direction::In,
        Kind::Send,
        Some(action),
        id,
        received_payload(call, payload)?,
    );
    record.lenient = call.lenient_notes.clone();
    Some(record)
}
