//! The interface through which a reactor answers some CALLs itself
//! (`processors.inline_actions`), without knowing the rules behind it.

use super::calls::{CallAnswer, InboundCall};
use super::journal_record::JournalRecord;

/// Answers some CALLs on a reactor's own thread. Made by the processor
/// module (`processor::inline`), owned by one reactor; the reactor knows
/// only this interface, not the rules behind it.
pub trait AnswerHere: Send {
    /// Whether a CALL of `action`, `len` bytes long, is answered here.
    fn takes(&self, action: &str, len: usize) -> bool;
    /// Decides the answer to a CALL that `takes` accepted.
    fn answer(&mut self, call: InboundCall) -> AnsweredHere;
    /// Publishes the answer counts (once per reactor tick).
    fn publish(&self);
}

/// What became of a CALL answered on the reactor.
/// Moved once per call: boxing the record would cost an allocation per call.
#[allow(clippy::large_enum_variant)]
pub enum AnsweredHere {
    /// Journal off: the answer, to send now.
    Now(CallAnswer),
    /// Journal on: its record, carrying the answer; the journal writer
    /// releases the answer to the reactor once the line is written.
    Journal(JournalRecord),
}
