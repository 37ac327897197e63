//! The processor pool: threads that take charge-point CALLs from the one
//! shared queue, decide each answer and send it to the owning reactor.
//!
//! A processor may block (on a full reactor inbox, on a slow handler); a
//! reactor never waits for a processor. A panic while answering is caught
//! and answered `InternalError`; the thread lives on.

mod backend;
mod inline;
mod policy;
mod send;
mod transaction_ids;

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{error, warn};
use tungstenite::Utf8Bytes;

pub use inline::InlineAnswerer;
pub use policy::{Answer, Checked, Incoming, Policy};

use crate::cross_thread::{Direction, JournalRecord, JournalSender, Kind, KindFields, Payload};

use crate::cross_thread::{AnswerCounts, LenientCounts, ProcessorStats};
use crate::cross_thread::{BootInfo, CallAnswer, ConnRef, InboundCall, ReactorHandle, ToReactor};
use crate::ocpp::frame::{self, Frame};
use crate::ocpp::schema::Tolerated;
use crate::ocpp::{ErrorCode, OcppVersion, Violation, v16, v21, v201};

/// Called with the action name before each answer is decided. An extension
/// point for embedding and tests (slow or failing handlers); `None` in the binary.
pub type BeforeAnswer = Arc<dyn Fn(&str) + Send + Sync>;

pub struct ProcessorSetup {
    pub calls: Receiver<InboundCall>,
    /// `processors.cores`: where these threads may run (empty: anywhere
    /// the process's other threads may).
    pub cores: Vec<usize>,
    pub reactors: Arc<[ReactorHandle]>,
    pub policy: Arc<Policy>,
    pub before_answer: Option<BeforeAnswer>,
    /// How often each thread publishes its counts.
    pub publish_every: Duration,
    /// Every CALL and its answer are journaled before the answer leaves;
    /// a full journal makes processors wait (backpressure), never drop.
    pub journal: Option<JournalSender>,
    /// With the bus on: where CALLs the backend answers go, and their replies.
    pub backend: Option<crate::cross_thread::BackendLink>,
}

/// Starts `stats.len()` processor threads, each publishing into its own stats.
pub fn spawn(
    setup: &Arc<ProcessorSetup>,
    stats: &[Arc<ProcessorStats>],
) -> std::io::Result<Vec<JoinHandle<()>>> {
    stats
        .iter()
        .enumerate()
        .map(|(i, stats)| {
            let setup = setup.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name(format!("processor-{i}"))
                .spawn(move || {
                    // Checked at start against the cores the process may use.
                    let cores = &setup.cores;
                    if !cores.is_empty()
                        && let Err(e) = crate::affinity::confine_current_thread(cores)
                    {
                        log::warn!("processor-{i}: not confined to processors.cores: {e}");
                    }
                    run(&setup, &stats)
                })
        })
        .collect()
}

/// One piece of work for a processor.
enum Work {
    Call(InboundCall),
    Backend(crate::cross_thread::BackendReply),
    /// Nothing came within `publish_every`.
    Idle,
    /// The reactors have stopped: the queue is drained.
    Done,
}

fn next_work(setup: &ProcessorSetup, replies_open: &mut bool) -> Work {
    let replies = match &setup.backend {
        Some(link) if *replies_open => &link.replies,
        _ => {
            return match setup.calls.recv_timeout(setup.publish_every) {
                Ok(call) => Work::Call(call),
                Err(RecvTimeoutError::Timeout) => Work::Idle,
                Err(RecvTimeoutError::Disconnected) => Work::Done,
            };
        }
    };
    crossbeam_channel::select! {
        recv(setup.calls) -> call => match call {
            Ok(call) => Work::Call(call),
            Err(_) => Work::Done,
        },
        recv(replies) -> reply => match reply {
            Ok(reply) => Work::Backend(reply),
            Err(_) => {
                // The bridge has stopped: calls only from now on.
                *replies_open = false;
                Work::Idle
            }
        },
        default(setup.publish_every) => Work::Idle,
    }
}

/// One processor thread's state, owned by it.
struct Processor<'a> {
    setup: &'a ProcessorSetup,
    stats: &'a ProcessorStats,
    counts: AnswerCounts,
    lenient: LenientCounts,
    last_publish: Instant,
    /// The answer frame being written (keeps its capacity between calls).
    out: String,
}

impl Processor<'_> {
    fn publish(&mut self) {
        self.stats.publish(&self.counts, &self.lenient);
        self.last_publish = Instant::now();
    }

    /// Counts the answer and sends it on its way to the connection's
    /// reactor: through the journal when it is on (write-ahead: the journal
    /// writer releases it once its record is written), else directly.
    fn deliver(&mut self, conn: ConnRef, decided: ReadyAnswer) {
        let (label, answer, record) = decided.split(conn);
        *self.counts.entry(label).or_insert(0) += 1;
        if self.last_publish.elapsed() >= self.setup.publish_every {
            self.publish();
        }
        if let (Some(journal), Some(mut record)) = (&self.setup.journal, record) {
            record.release = Some(answer);
            // Waits while the journal is full (backpressure). Err: it has
            // stopped (shutdown); an answer it cannot record must not leave.
            if journal.send(record).is_err() {
                warn!(
                    "journal closed: an answer for reactor {} is dropped",
                    conn.reactor
                );
            }
            return;
        }
        let Some(reactor) = self.setup.reactors.get(usize::from(conn.reactor)) else {
            error!("call from unknown reactor {}", conn.reactor);
            return;
        };
        // Err: the reactor has stopped (shutdown); the connection is gone.
        let _ = reactor.send(ToReactor::Answer(answer));
    }

    fn on_call(&mut self, mut call: InboundCall) {
        self.out.clear();
        match answer(self.setup, &mut call, &mut self.out, &mut self.lenient) {
            Step::Now(decided) => self.deliver(call.conn, decided),
            Step::Backend { action, body, boot } => {
                backend::forward(self, call, action, body, boot);
            }
        }
    }

    fn on_backend_reply(&mut self, reply: crate::cross_thread::BackendReply) {
        self.out.clear();
        let conn = reply.request.call.conn;
        let decided = backend::finish(self.setup, reply, &mut self.out);
        self.deliver(conn, decided);
    }
}

fn run(setup: &ProcessorSetup, stats: &ProcessorStats) {
    let mut processor = Processor {
        setup,
        stats,
        counts: AnswerCounts::new(),
        lenient: LenientCounts::new(),
        last_publish: Instant::now(),
        out: String::new(),
    };
    let mut replies_open = true;
    // Ends when every reactor has dropped its sender and the queue is drained.
    loop {
        match next_work(setup, &mut replies_open) {
            Work::Call(call) => processor.on_call(call),
            Work::Backend(reply) => processor.on_backend_reply(reply),
            Work::Idle => processor.publish(),
            Work::Done => break,
        }
    }
    processor.publish();
}

/// The metric label of an action name: the protocol's own spelling, or
/// "unknown", so a charge point cannot invent label values.
fn action_label(version: OcppVersion, name: &str) -> &'static str {
    match version {
        OcppVersion::V16 => v16::Action::from_name(name).map(v16::Action::name),
        OcppVersion::V201 => v201::Action::from_name(name).map(v201::Action::name),
        OcppVersion::V21 => v21::Action::from_name(name).map(v21::Action::name),
    }
    .unwrap_or("unknown")
}

/// An answer ready to go back to the reactor (or to the journal first).
struct ReadyAnswer {
    /// The CALLRESULT/CALLERROR frame (empty: nothing to send).
    frame: Utf8Bytes,
    /// (action, outcome) metric labels.
    label: (&'static str, &'static str),
    boot: Option<Box<BootInfo>>,
    /// The CALL was malformed or broke its schema.
    malformed: bool,
    /// The journal line of the CALL and its answer (journal on).
    record: Option<JournalRecord>,
}

impl ReadyAnswer {
    /// Its metric labels, the answer for `conn`'s reactor, and its record.
    fn split(
        self,
        conn: ConnRef,
    ) -> (
        (&'static str, &'static str),
        CallAnswer,
        Option<JournalRecord>,
    ) {
        let answer = CallAnswer {
            conn,
            frame: self.frame,
            boot: self.boot,
            malformed: self.malformed,
        };
        (self.label, answer, self.record)
    }

    /// Nothing to send: the processor got something that is not a CALL.
    fn nothing() -> ReadyAnswer {
        ReadyAnswer {
            frame: Utf8Bytes::default(),
            label: ("unknown", "InternalError"),
            boot: None,
            malformed: false,
            record: None,
        }
    }
}

/// An exact-size copy of the answer: `out` keeps its capacity for the next
/// call, and `Utf8Bytes::from` takes a len == capacity buffer over without
/// allocating a shared header, so one allocation crosses threads, not two
/// (measured: 5-9 % less CPU per call). The journal shares it.
fn exact_frame(out: &str) -> Utf8Bytes {
    Utf8Bytes::from(out.to_owned())
}

/// The parts of a CALL or SEND: sliced at the ranges the reactor found,
/// or, without them, parsed again.
struct CallParts<'a> {
    id: Cow<'a, str>,
    action: Cow<'a, str>,
    payload: &'a str,
    /// An OCPP 2.1 SEND: validated and journaled, never answered.
    send: bool,
}

/// `None` if the frame is neither a CALL nor a SEND (the reactor forwards
/// only those).
fn call_parts(call: &InboundCall) -> Option<CallParts<'_>> {
    let text = call.frame.as_str();
    if let Some(parts) = &call.parts
        && let Some((id, action, payload)) = parts.slice(text)
    {
        return Some(CallParts {
            id: Cow::Borrowed(id),
            action: Cow::Borrowed(action),
            payload,
            send: parts.is_send(),
        });
    }
    match frame::parse(text) {
        Ok(Frame::Call {
            id,
            action,
            payload,
        }) => Some(CallParts {
            id,
            action,
            payload: payload.get(),
            send: false,
        }),
        Ok(Frame::Send {
            id,
            action,
            payload,
        }) => Some(CallParts {
            id,
            action,
            payload: payload.get(),
            send: true,
        }),
        _ => None,
    }
}

/// What to do with a CALL. Moved once per call: boxing the large variant
/// would cost an allocation per call instead of a copy.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// Answered here.
    Now(ReadyAnswer),
    /// Valid, and the backend answers it.
    Backend {
        action: Box<str>,
        body: bytes::Bytes,
        boot: Option<Box<BootInfo>>,
    },
}

/// What the policy said about a CALL or SEND, before anything is written.
enum Decision {
    /// A SEND: valid (journal it) or not (log it).
    Send(Result<(), Violation>),
    /// Valid, and the backend answers it.
    Backend(Option<Box<BootInfo>>),
    /// Answered here.
    Local(Result<Answer, Violation>),
}

fn decide(setup: &ProcessorSetup, call: &Incoming<'_>, send: bool) -> (Decision, Tolerated) {
    let action = call.action;
    if send {
        return match guarded(action, || setup.policy.check_send(call)) {
            Ok(tolerated) => (Decision::Send(Ok(())), tolerated),
            Err(violation) => (Decision::Send(Err(violation)), Tolerated::default()),
        };
    }
    if let Some(link) = &setup.backend
        && link.answers_from_backend(action)
    {
        return match guarded(action, || setup.policy.check(call)) {
            Ok(Checked { boot, tolerated }) => (Decision::Backend(boot), tolerated),
            Err(violation) => (Decision::Local(Err(violation)), Tolerated::default()),
        };
    }
    let result = guarded(action, || {
        if let Some(hook) = &setup.before_answer {
            hook(action);
        }
        setup.policy.answer(call)
    });
    match result {
        Ok(mut answer) => {
            let tolerated = std::mem::take(&mut answer.tolerated);
            (Decision::Local(Ok(answer)), tolerated)
        }
        Err(violation) => (Decision::Local(Err(violation)), Tolerated::default()),
    }
}

fn answer(
    setup: &ProcessorSetup,
    call: &mut InboundCall,
    out: &mut String,
    lenient: &mut LenientCounts,
) -> Step {
    let Some(parts) = call_parts(call) else {
        warn!("processor received a frame that is not a CALL");
        return Step::Now(ReadyAnswer::nothing());
    };
    let incoming = Incoming {
        version: call.version,
        charge_point: &call.charge_point,
        action: &parts.action,
        payload: parts.payload,
        lenience: call.lenience,
    };
    let (decision, tolerated) = decide(setup, &incoming, parts.send);
    let parts = if tolerated.is_empty() {
        parts
    } else {
        let label = action_label(call.version, &parts.action);
        for (quirk, n) in tolerated.counts() {
            *lenient.entry((quirk.name(), label)).or_insert(0) += u64::from(n);
        }
        let payload_range = frame::subslice_range(call.frame.as_str(), parts.payload);
        drop(parts);
        correct(call, payload_range, &tolerated);
        // The parts of the corrected frame (sliced at the moved ranges;
        // parsed again only if the frame had none).
        let Some(parts) = call_parts(call) else {
            return Step::Now(ReadyAnswer::nothing());
        };
        parts
    };
    let CallParts {
        id,
        action,
        payload,
        ..
    } = &parts;
    match decision {
        Decision::Send(checked) => Step::Now(send::take(setup, call, &parts, checked)),
        Decision::Backend(boot) => {
            let link = setup.backend.as_ref();
            let body = link.map(|l| l.request_body(call, id, action, payload));
            Step::Backend {
                action: action.as_ref().into(),
                body: body.unwrap_or_default(),
                boot,
            }
        }
        Decision::Local(result) => {
            Step::Now(conclude(setup, call, (id, action, payload), result, out))
        }
    }
}

/// What lenient mode let through becomes part of the CALL: its notes go
/// with it to the journal, and where a correction is defined the frame is
/// replaced by the corrected one, so the journal line, the bus and the
/// backend all carry the corrected payload (the frame's id and action,
/// before the payload, do not move).
fn correct(
    call: &mut InboundCall,
    payload_range: Option<std::ops::Range<usize>>,
    tolerated: &Tolerated,
) {
    call.lenient_notes = serde_json::value::RawValue::from_string(tolerated.notes_json()).ok();
    let text = call.frame.as_str();
    let Some(range) = payload_range else {
        return;
    };
    let Some(fixed) = text.get(range.clone()).and_then(|p| tolerated.corrected(p)) else {
        return;
    };
    let mut frame = String::with_capacity(text.len() - range.len() + fixed.len());
    frame.push_str(&text[..range.start]);
    frame.push_str(&fixed);
    frame.push_str(&text[range.end..]);
    call.parts = call
        .parts
        .take()
        .and_then(|parts| parts.with_payload_len(fixed.len()));
    call.frame = Utf8Bytes::from(frame);
}

/// Runs a handler; a panic becomes `InternalError` (the thread lives on).
fn guarded<T>(
    action: &str,
    handler: impl FnOnce() -> Result<T, Violation>,
) -> Result<T, Violation> {
    catch_unwind(AssertUnwindSafe(handler)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        error!("handler for {action} panicked: {what}");
        Err(Violation::new(
            ErrorCode::InternalError,
            format!("internal error while handling {action}"),
        ))
    })
}

/// Writes the answer frame for `result`, journals the CALL with it.
fn conclude(
    setup: &ProcessorSetup,
    call: &InboundCall,
    (id, action, payload): (&str, &str, &str),
    result: Result<Answer, Violation>,
    out: &mut String,
) -> ReadyAnswer {
    let label = action_label(call.version, action);
    let (outcome, payload_len) = match &result {
        Ok(answer) => {
            frame::write_call_result(out, id, &answer.payload);
            ("result", answer.payload.len())
        }
        Err(violation) => {
            frame::write_violation(out, call.version, id, violation);
            (violation.code.as_str(call.version), 0)
        }
    };
    let frame = exact_frame(out);
    let record = setup.journal.as_ref().and_then(|_| {
        // A CALLRESULT frame ends with `,{payload}]`.
        let end = frame.len().saturating_sub(1);
        let answer_range = end.saturating_sub(payload_len)..end;
        call_record(call, id, action, payload, &result, &frame, answer_range)
    });
    let malformed = result
        .as_ref()
        .is_err_and(|v| v.code.is_malformed_message());
    ReadyAnswer {
        frame,
        label: (label, outcome),
        boot: result.ok().and_then(|a| a.boot),
        malformed,
        record,
    }
}

/// A CALL's or SEND's payload for its journal line: a slice of the
/// received frame, shared, not copied (a copy only if it is not a slice,
/// i.e. never for a frame the reactor parsed).
fn received_payload(call: &InboundCall, payload: &str) -> Option<Payload> {
    match frame::subslice_range(call.frame.as_str(), payload) {
        Some(range) => Some(Payload::written(&call.frame, range)),
        None => Payload::from_json(payload.to_owned()).ok(),
    }
}

/// The journal line of a CALL with its answer. A CALLRESULT's payload is
/// shared with the answer frame at `answer_range` (no copy). `None` only
/// if a payload cannot be kept (then the answer goes out unjournaled).
#[allow(clippy::too_many_arguments)]
fn call_record(
    call: &InboundCall,
    id: &str,
    action: &str,
    payload: &str,
    result: &Result<Answer, Violation>,
    answer_frame: &Utf8Bytes,
    answer_range: std::ops::Range<usize>,
) -> Option<JournalRecord> {
    let mut record = JournalRecord::message(
        call.charge_point.clone(),
        call.conn.reactor,
        Direction::In,
        Kind::Call,
        Some(action),
        id,
        received_payload(call, payload)?,
    );
    record.lenient = call.lenient_notes.clone();
    record.extra = match result {
        Ok(_) => KindFields::Answer(Payload::written(answer_frame, answer_range)),
        Err(violation) => {
            let mut details = String::from("{}");
            if let Some(given) = &violation.details {
                details = given.to_string();
            } else if let Some(field) = &violation.field {
                details = String::from("{\"field\":");
                crate::json_text::push_json_str(&mut details, field);
                details.push('}');
            }
            match Payload::from_json(details) {
                Ok(details) => KindFields::AnswerError {
                    code: violation.code.as_str(call.version).into(),
                    description: violation.description.clone().into(),
                    details: Box::new(details),
                },
                Err(_) => KindFields::None,
            }
        }
    };
    Some(record)
}
