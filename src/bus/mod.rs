//! Scale-out over NATS (DESIGN.md, "Northbound"; README "Running several
//! gateways"): one bridge thread owns the NATS client and runs a
//! single-threaded tokio runtime. Nothing async leaves this module:
//! reactors and processors meet it through the registry's presence changes,
//! one bounded request channel, one bounded reply channel and the reactors'
//! inboxes.
//!
//! ```text
//! journal files --tail--> events   --> JetStream  {prefix}.up.{id}.{kind}
//! registry changes -----> presence --> KV bucket  + SUB {prefix}.cmd.{id} --> reactor inbox
//! processors -BackendRequest-> backend --> request {prefix}.req.{action} --BackendReply-> processors
//! ```

mod backend;
mod bridge;
mod commands;
pub mod config;
mod cursor;
mod events;
mod presence;
mod tail;
pub mod token;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

pub use config::{AnswerSource, BackendFallback, BusConfig, BusKind};

use crate::gateway::Control;
use crate::pipeline::{BootInfo, InboundCall};

/// Counters the bridge alone updates; read by the admin API.
#[derive(Default)]
pub struct BusStats {
    pub connected: AtomicBool,
    pub events_published: AtomicU64,
    /// Acks that said "duplicate" (a re-publish after an outage or restart).
    pub events_duplicate: AtomicU64,
    pub publish_errors: AtomicU64,
    /// Journal bytes not yet acknowledged by JetStream.
    pub backlog_bytes: AtomicU64,
    pub backend_answered: AtomicU64,
    pub backend_timeouts: AtomicU64,
    pub backend_no_responders: AtomicU64,
    pub backend_failed: AtomicU64,
    pub commands: AtomicU64,
    /// Commands answered 503 at `bus.max_commands_in_flight`.
    pub commands_refused: AtomicU64,
    /// Charge points this gateway holds in the presence bucket.
    pub presence_entries: AtomicU64,
}

impl BusStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A charge-point CALL whose answer the backend decides. The processor has
/// validated it; it comes back as a [`BackendReply`].
#[derive(Debug)]
pub struct BackendRequest {
    pub call: InboundCall,
    pub action: Box<str>,
    /// The request body (JSON), see README.
    pub body: bytes::Bytes,
    /// What a BootNotification said, for the admin API if it is accepted.
    pub boot: Option<Box<BootInfo>>,
}

/// What the backend said, for the processors to check and send on.
#[derive(Debug)]
pub struct BackendReply {
    pub request: BackendRequest,
    pub answer: BackendAnswer,
}

#[derive(Debug)]
pub enum BackendAnswer {
    /// The reply body, unchecked.
    Reply(bytes::Bytes),
    /// No answer: why (timeout, no responders, bus down).
    Unavailable(&'static str),
}

/// The processors' side of backend answers.
#[derive(Clone)]
pub struct BackendLink {
    requests: tokio::sync::mpsc::Sender<BackendRequest>,
    pub replies: Receiver<BackendReply>,
    config: Arc<BusConfig>,
    gateway_id: Arc<str>,
}

impl BackendLink {
    /// The request a backend receives (README, "Running several gateways"):
    /// `{"chargePointId", "gatewayId", "protocol", "messageId", "action", "payload"}`.
    pub fn request_body(
        &self,
        call: &InboundCall,
        id: &str,
        action: &str,
        payload: &str,
    ) -> bytes::Bytes {
        use crate::json_text::push_json_str;
        let mut body = String::with_capacity(payload.len() + 160);
        body.push_str("{\"chargePointId\":");
        push_json_str(&mut body, &call.charge_point);
        body.push_str(",\"gatewayId\":");
        push_json_str(&mut body, &self.gateway_id);
        body.push_str(",\"protocol\":");
        push_json_str(&mut body, call.version.subprotocol());
        body.push_str(",\"messageId\":");
        push_json_str(&mut body, id);
        body.push_str(",\"action\":");
        push_json_str(&mut body, action);
        body.push_str(",\"payload\":");
        body.push_str(payload);
        body.push('}');
        body.into()
    }

    pub fn answers_from_backend(&self, action: &str) -> bool {
        self.config.answers_from_backend(action)
    }

    pub fn fallback(&self) -> BackendFallback {
        self.config.backend_fallback
    }

    /// Hands a request to the bridge if its queue has room.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, request: BackendRequest) -> Result<(), Refused> {
        use tokio::sync::mpsc::error::TrySendError;
        self.requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) => Refused::Full(r),
            TrySendError::Closed(r) => Refused::Closed(r),
        })
    }
}

/// A request the bridge did not take, handed back.
#[derive(Debug)]
pub enum Refused {
    /// Its queue is full: offer it again.
    Full(BackendRequest),
    /// The bridge has stopped.
    Closed(BackendRequest),
}

/// The bridge's ends of the backend channels, until it starts.
pub struct BridgeEnds {
    requests: tokio::sync::mpsc::Receiver<BackendRequest>,
    replies: crossbeam_channel::Sender<BackendReply>,
}

/// Both backend channels, each bounded by `[channels] capacity`.
pub fn backend_channels(config: &BusConfig, capacity: usize) -> (BackendLink, BridgeEnds) {
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(capacity.max(1));
    let (rep_tx, rep_rx) = crossbeam_channel::bounded(capacity);
    (
        BackendLink {
            requests: req_tx,
            replies: rep_rx,
            config: Arc::new(config.clone()),
            gateway_id: config.gateway_id.as_str().into(),
        },
        BridgeEnds {
            requests: req_rx,
            replies: rep_tx,
        },
    )
}

/// The running bridge thread.
pub struct Bus {
    thread: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<Option<Instant>>,
}

impl Bus {
    /// Starts the bridge. It connects in the background (a bus that is down
    /// at start is a bus outage like any other: events wait in the journal).
    pub fn start(
        control: Arc<Control>,
        ends: Option<BridgeEnds>,
        stats: Arc<BusStats>,
    ) -> io::Result<Bus> {
        let (stop, stop_rx) = tokio::sync::watch::channel(None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let bridge = bridge::Bridge::new(control, stats.clone(), stop_rx);
        let thread = std::thread::Builder::new()
            .name("bus-bridge".into())
            .spawn(move || runtime.block_on(bridge.run(ends)))?;
        Ok(Bus { thread, stop })
    }

    /// Asks the bridge to publish what the journal still holds (for at most
    /// `drain`), save its cursor and stop; waits for it, but not past
    /// `drain`: a bridge stuck on an unreachable server is left behind (the
    /// process is about to exit). Call after the journal has closed. What
    /// is left is published at the next start (from the last saved cursor;
    /// JetStream drops what it already has by message id).
    pub fn shutdown(self, drain: Duration) {
        let deadline = Instant::now() + drain;
        // A little of the drain time is kept for the bridge to save its cursor.
        let publish_until = deadline - (drain / 10).min(Duration::from_millis(100));
        let _ = self.stop.send(Some(publish_until));
        while !self.thread.is_finished() {
            if Instant::now() >= deadline {
                log::warn!(
                    "bus: the bridge did not stop in time; leaving it (events wait in the journal)"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.thread.join().is_err() {
            log::error!("bus: the bridge thread panicked");
        }
    }
}
