//! The command queue on JetStream (`bus.kind = "nats"`): commands kept for
//! charge points that are not connected, shared by every gateway on the
//! bus, so whichever gateway a charge point reconnects to delivers them and
//! every gateway's API shows how they ended.
//!
//! ```text
//! admin API / {prefix}.enqueue.{id} --Enqueue--> publish {prefix}.queue.{id}  (stream bus.queue_stream)
//!                                              + KV {bus.commands_bucket}/{command_id} = record (state "queued")
//! reactor --Ready{id}--> durable consumer q-{id} --one at a time--> Route::start_call --outcome--> KV record
//! ```
//!
//! * **The stream holds live commands only** (queued or sent). An ended
//!   command's message is deleted, so the stream's `max_msgs_per_subject`
//!   and `max_msgs` (discard new) *are* `queue.max_per_charge_point` and
//!   `queue.max_total`, enforced by the server across gateways; its
//!   `max_age` is `queue.max_ttl`, the outer bound of any ttl.
//! * **The KV record is the truth** about a command: every change is a
//!   compare-and-set on the revision read, so of two gateways only one
//!   moves a command out of `queued`. Any gateway answers `GET` from it,
//!   and a backend may read it directly (`value.view` is that answer).
//! * **At most once.** A command is written `sent` (with `sent_by`) before
//!   it is handed to the reactor; its message is acknowledged only once its
//!   outcome is written. A gateway that dies holding one leaves it
//!   unacknowledged: after `ACK_WAIT` the consumer hands it to whichever
//!   gateway pulls next, which finds it `sent` and not in flight (a gateway
//!   runs one delivery per charge point, so a `sent` command it pulls is
//!   never its own) and ends it `failed` with `record::RESTARTED`, never sending
//!   it again. A call that never reached the wire (the charge point left,
//!   its reactor was busy) is written back to `queued` and negatively
//!   acknowledged, so it stays first.
//! * **TTLs.** nats-server 2.9 has no per-message TTL: each gateway keeps
//!   an index of the live commands' expiry times (filled from the stream at
//!   start and from a plain subscription to `{prefix}.queue.*`, which sees
//!   every publish) and expires them with the same compare-and-set; a
//!   command is also checked at delivery.
//! * **Who holds a charge point** consumes its subject while its session
//!   is ready (from `Ready` to `Gone`); an enqueue for a charge point that
//!   is ready here starts its delivery at once (the subscription above).
//! * **Enqueue order**: publish first (so the server's bounds refuse a
//!   command before anything is written), then create the record. A
//!   delivery that finds a message without its record waits for it while
//!   the message is young (`deliver::RECORD_GRACE_MS`), then drops it: its
//!   enqueuer died before answering 202, so nobody was told it was kept.
//! * **Subjects for a backend** (`requests.rs`): `{prefix}.enqueue.{id}`,
//!   served by every gateway in one queue group, keeps a command whether
//!   or not a gateway holds the charge point; `{prefix}.cmd.{id}` with
//!   `"queue"` keeps it only if its holder could not send it after all.
//!
//! Bounds: requests in progress at once, `[channels] capacity` (the
//! inbox's own bound); the expiry index, `queue.max_total` entries; one
//! delivery task per ready charge point, holding one command.

mod deliver;
mod record;
mod requests;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use log::{info, warn};
use tokio::sync::{Semaphore, mpsc};

use self::store::Store;
use super::events::StopAt;
use crate::config::Config;
use crate::cross_thread::{QueueStats, ServerCallOutcome, ServerCallRequest, ToQueue, unix_ms};

/// Hands a call to the reactor holding its charge point
/// ([`crate::cross_thread::Route::start_call`]; a stand-in in tests).
pub type StartCall =
    Arc<dyn Fn(ServerCallRequest) -> Result<(), ServerCallOutcome> + Send + Sync + 'static>;

/// Pause before trying a failed NATS operation again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often due ttls are looked for.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How often the depth gauge is read from the stream.
const DEPTH_EVERY: Duration = Duration::from_secs(2);
/// Queue-group name of the `{prefix}.enqueue.*` responders: one gateway
/// answers each request.
const ENQUEUE_GROUP: &str = "ocpp-gateway-queue";

/// What the keeper shares between its tasks (never locked across an await).
#[derive(Default)]
struct Shared {
    /// Charge points whose session is ready on this gateway.
    ready: HashSet<Arc<str>>,
    /// Charge points with a delivery task running: whether it must look
    /// again when it finds the queue empty (a command came meanwhile).
    draining: HashMap<Arc<str>, bool>,
    /// (expires at, command id) of live commands, at most `queue.max_total`.
    expiries: BTreeSet<(u64, String)>,
}

pub struct Keeper {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    config: Arc<Config>,
    start_call: StartCall,
    stats: Arc<QueueStats>,
    store: OnceLock<Store>,
    shared: Mutex<Shared>,
    /// Requests handled at once (`[channels] capacity`).
    permits: Arc<Semaphore>,
}

impl Keeper {
    pub fn new(
        client: async_nats::Client,
        js: async_nats::jetstream::Context,
        config: Arc<Config>,
        start_call: StartCall,
        stats: Arc<QueueStats>,
    ) -> Arc<Keeper> {
        let window = config.channels.capacity.max(1);
        Arc::new(Keeper {
            client,
            js,
            config,
            start_call,
            stats,
            store: OnceLock::new(),
            shared: Mutex::new(Shared::default()),
            permits: Arc::new(Semaphore::new(window)),
        })
    }

    fn gateway_id(&self) -> &str {
        &self.config.bus.gateway_id
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_ready(&self, charge_point: &str) -> bool {
        self.shared().ready.contains(charge_point)
    }

    /// Serves the inbox until it closes or the bridge stops. Until the
    /// stream and bucket are open, requests are answered unavailable.
    pub async fn run(self: Arc<Self>, mut inbox: mpsc::Receiver<ToQueue>, mut stop: StopAt) {
        let background = tokio::spawn(self.clone().open_and_serve());
        loop {
            if stop.borrow().is_some() {
                break;
            }
            tokio::select! {
                message = inbox.recv() => match message {
                    Some(message) => self.on_message(message).await,
                    None => break,
                },
                changed = stop.changed() => {
                    // The bridge is gone without a word: stop too.
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        background.abort();
    }

    async fn on_message(self: &Arc<Self>, message: ToQueue) {
        match message {
            ToQueue::Ready { charge_point, .. } => {
                self.shared().ready.insert(charge_point.clone());
                self.kick(&charge_point);
            }
            ToQueue::Gone { charge_point } => {
                self.shared().ready.remove(&charge_point);
            }
            request => {
                // Waits while `[channels] capacity` requests are in
                // progress: the inbox fills, and its senders hear "busy".
                let Ok(permit) = self.permits.clone().acquire_owned().await else {
                    return;
                };
                let this = self.clone();
                tokio::spawn(async move {
                    this.answer(request).await;
                    drop(permit);
                });
            }
        }
    }

    /// Starts delivering to `charge_point` if it is ready here and no
    /// delivery runs; else tells the running one to look again.
    fn kick(self: &Arc<Self>, charge_point: &Arc<str>) {
        if self.store.get().is_none() {
            return; // Every ready charge point is kicked once it opens.
        }
        let mut shared = self.shared();
        if !shared.ready.contains(charge_point) {
            return;
        }
        if let Some(more) = shared.draining.get_mut(charge_point) {
            *more = true;
            return;
        }
        shared.draining.insert(charge_point.clone(), false);
        drop(shared);
        tokio::spawn(self.clone().drain(charge_point.clone()));
    }

    /// Opens the stream and bucket (retrying), then serves what every
    /// gateway serves: the enqueue subject, the publish notifications and
    /// the ttl sweep.
    async fn open_and_serve(self: Arc<Self>) {
        let store = loop {
            match Store::open(&self.js, &self.config.bus, &self.config.queue).await {
                Ok(store) => break store,
                Err(e) => {
                    warn!("bus: command queue: {e}; retrying in {RETRY_AFTER:?}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        };
        let _ = self.store.set(store);
        let Some(store) = self.store.get() else {
            return;
        };
        let bus = &self.config.bus;
        info!(
            "bus: command queue in stream {} and bucket {}",
            bus.queue_stream, bus.commands_bucket
        );
        let prefix = &bus.subject_prefix;
        let (mut notes, mut requests) = loop {
            let notes = self.client.subscribe(store.all_subjects()).await;
            let requests = self
                .client
                .queue_subscribe(format!("{prefix}.enqueue.*"), ENQUEUE_GROUP.into())
                .await;
            match (notes, requests) {
                (Ok(n), Ok(r)) => break (n, r),
                (Err(e), _) | (_, Err(e)) => {
                    warn!("bus: command queue subscriptions: {e}; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        };
        let ready: Vec<Arc<str>> = self.shared().ready.iter().cloned().collect();
        for charge_point in ready {
            self.kick(&charge_point);
        }
        tokio::spawn(self.clone().scan());
        tokio::spawn(self.clone().sweep());
        loop {
            tokio::select! {
                Some(note) = notes.next() => self.on_published(&note.subject, &note.payload),
                Some(request) = requests.next() => {
                    let Ok(permit) = self.permits.clone().acquire_owned().await else {
                        return;
                    };
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.enqueue_request(request).await;
                        drop(permit);
                    });
                }
                else => return,
            }
        }
    }

    /// A command was published (by any gateway): index its expiry, and
    /// deliver it if its charge point is ready here.
    fn on_published(self: &Arc<Self>, subject: &str, payload: &[u8]) {
        let Ok(body) = serde_json::from_slice::<record::CommandBody>(payload) else {
            return;
        };
        self.index_expiry(body.expires_at_ms, body.command_id);
        let token = subject.rsplit('.').next().unwrap_or_default();
        if let Some(id) = super::token::decode(token) {
            self.kick(&Arc::from(id));
        }
    }

    /// Notes when a live command expires. The index may also hold
    /// commands that have ended elsewhere (harmless: they are skipped when
    /// due). Full, it keeps the earliest: a command left out still expires
    /// at delivery, or on a gateway whose index has room.
    fn index_expiry(&self, at_ms: u64, command_id: String) {
        let max = self.config.queue.max_total;
        let mut shared = self.shared();
        if shared.expiries.len() >= max {
            match shared.expiries.last() {
                Some((last, _)) if *last > at_ms => {
                    shared.expiries.pop_last();
                }
                _ => return,
            }
        }
        shared.expiries.insert((at_ms, command_id));
    }

    /// A command has ended: its message leaves the stream (making room
    /// in its charge point's queue) and its expiry the index.
    async fn forget(&self, store: &Store, record: &record::Record) {
        let key = (
            record.command.expires_at_ms,
            record.command.command_id.clone(),
        );
        self.shared().expiries.remove(&key);
        store.forget_message(record.seq).await;
    }

    /// Indexes the expiry of every command already in the stream (once,
    /// at open; at most `queue.max_total` reads).
    async fn scan(self: Arc<Self>) {
        let Some(store) = self.store.get() else {
            return;
        };
        let subject = store.all_subjects();
        let mut seq = 1;
        for _ in 0..self.config.queue.max_total {
            match store.next_message(&subject, seq).await {
                Ok(Some((at, body))) => {
                    if let Some(body) = body {
                        self.index_expiry(body.expires_at_ms, body.command_id);
                    }
                    seq = at + 1;
                }
                Ok(None) => return,
                Err(e) => {
                    warn!("bus: command queue scan: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    /// Expires queued commands whose ttl has passed; keeps the depth gauge.
    async fn sweep(self: Arc<Self>) {
        let mut last_depth: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let now = unix_ms();
            // At most one channel's worth per round.
            let due: Vec<String> = {
                let mut shared = self.shared();
                let mut due = Vec::new();
                while due.len() < self.config.channels.capacity
                    && let Some(first) = shared.expiries.first()
                    && first.0 <= now
                    && let Some((_, id)) = shared.expiries.pop_first()
                {
                    due.push(id);
                }
                due
            };
            for id in due {
                self.expire(&id).await;
            }
            if last_depth.is_none_or(|t| t.elapsed() >= DEPTH_EVERY)
                && let Some(store) = self.store.get()
                && let Ok(depth) = store.depth().await
            {
                last_depth = Some(tokio::time::Instant::now());
                self.stats
                    .depth
                    .store(depth, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}
