//! The processor pool: threads that take charge-point CALLs from the one
//! shared queue, decide each answer and send it to the owning reactor.
//!
//! A processor may block (on a full reactor inbox, on a slow handler); a
//! reactor never waits for a processor. A panic while answering is caught
//! and answered `InternalError`; the thread lives on.

mod policy;
mod transaction_ids;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use log::{error, warn};

pub use policy::{Policy, now_rfc3339};

use crate::ocpp::frame::{self, Frame};
use crate::ocpp::{ErrorCode, Violation};
use crate::pipeline::{InboundCall, ReactorHandle, ToReactor};

/// Called with the action name before each answer is decided. An extension
/// point for embedding and tests (slow or failing handlers); `None` in the binary.
pub type BeforeAnswer = Arc<dyn Fn(&str) + Send + Sync>;

pub struct ProcessorSetup {
    pub calls: Receiver<InboundCall>,
    pub reactors: Arc<[ReactorHandle]>,
    pub policy: Arc<Policy>,
    pub before_answer: Option<BeforeAnswer>,
}

pub fn spawn(threads: usize, setup: ProcessorSetup) -> std::io::Result<Vec<JoinHandle<()>>> {
    let setup = Arc::new(setup);
    (0..threads)
        .map(|i| {
            let setup = setup.clone();
            std::thread::Builder::new()
                .name(format!("processor-{i}"))
                .spawn(move || run(&setup))
        })
        .collect()
}

fn run(setup: &ProcessorSetup) {
    // Ends when every reactor has dropped its sender and the queue is drained.
    let mut out = String::new();
    while let Ok(call) = setup.calls.recv() {
        out.clear();
        answer(setup, &call, &mut out);
        let Some(reactor) = setup.reactors.get(usize::from(call.conn.reactor)) else {
            error!("call from unknown reactor {}", call.conn.reactor);
            continue;
        };
        let frame = std::mem::replace(&mut out, String::with_capacity(128));
        // Err: the reactor has stopped (shutdown); the connection is gone.
        let _ = reactor.send(ToReactor::Answer {
            conn: call.conn,
            frame,
        });
    }
}

/// Writes the answer frame (CALLRESULT or CALLERROR) for one CALL into `out`.
fn answer(setup: &ProcessorSetup, call: &InboundCall, out: &mut String) {
    // The reactor only forwards frames that parsed as CALLs.
    let Ok(Frame::Call {
        id,
        action,
        payload,
    }) = frame::parse(call.frame.as_str())
    else {
        warn!("processor received a frame that is not a CALL");
        return;
    };
    let decided = catch_unwind(AssertUnwindSafe(|| {
        if let Some(hook) = &setup.before_answer {
            hook(&action);
        }
        setup.policy.answer(call.version, &action, payload)
    }));
    let result = decided.unwrap_or_else(|panic| {
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
    });
    match result {
        Ok(payload) => frame::write_call_result(out, &id, &payload),
        Err(violation) => frame::write_violation(out, call.version, &id, &violation),
    }
}
