//! Presence: which gateway holds which charge point, in a KV bucket.
//!
//! Key `token(id)`, value `{"gateway_id", "connected_at", "remote"}`. Put
//! when a connection is registered, deleted when it goes (only if the entry
//! is still ours: a delete names the revision we wrote), refreshed every
//! third of `presence_ttl` with a compare-and-set on that revision. The
//! bucket's max age is `presence_ttl`, so the entries of a gateway that
//! dies expire.
//!
//! Duplicate ids across gateways: every gateway watches the bucket. A put
//! by another gateway with a revision newer than ours means the charge
//! point has connected there since: our connection is evicted (1008), as
//! for a duplicate on this gateway. Ids held elsewhere are told to the
//! registry (with their expiry) for `duplicate_id = "reject"`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::join_all;
use log::{info, warn};
use serde::Deserialize;

use super::commands::Commands;
use super::events::StopAt;
use super::token;
use crate::config::BusConfig;
use crate::cross_thread::{BusHandle, BusStats, ConnRef, PresenceChange};

/// How often registry changes are applied (the delay before a new charge
/// point can be reached by commands, at most).
const APPLY_EVERY: Duration = Duration::from_millis(10);
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// KV operations sent together before waiting for their answers.
const BATCH: usize = 1024;

/// A charge point this gateway holds, as its presence entry.
struct OurEntry {
    conn: ConnRef,
    value: Bytes,
    /// The revision of our entry; `None` until written, or once another
    /// gateway has written over it.
    revision: Option<u64>,
    commands: tokio::task::AbortHandle,
}

impl Drop for OurEntry {
    fn drop(&mut self) {
        self.commands.abort();
    }
}

/// The part of a presence entry the gateway reads back: whose it is.
#[derive(Deserialize)]
struct PresenceValue<'a> {
    gateway_id: &'a str,
}

pub struct Presence {
    pub js: jetstream::Context,
    pub config: Arc<BusConfig>,
    pub gateway_id: String,
    pub gateway: Arc<BusHandle>,
    pub commands: Arc<Commands>,
    pub stats: Arc<BusStats>,
    held: HashMap<Box<str>, OurEntry>,
    kv: Option<kv::Store>,
    watch: Option<kv::Watch>,
}

impl Presence {
    pub fn new(
        js: jetstream::Context,
        config: Arc<BusConfig>,
        gateway_id: String,
        gateway: Arc<BusHandle>,
        commands: Arc<Commands>,
        stats: Arc<BusStats>,
    ) -> Presence {
        Presence {
            js,
            config,
            gateway_id,
            gateway,
            commands,
            stats,
            held: HashMap::new(),
            kv: None,
            watch: None,
        }
    }

    async fn open_bucket(&mut self) {
        if self.kv.is_some() {
            return;
        }
        let bucket = &self.config.presence_bucket;
        // The bucket's stream is created here rather than with
        // `create_key_value`, which first reads the account info in a
        // shape nats-server 2.9 (Debian's) does not send. Same settings.
        let ttl = self.config.presence_ttl;
        let stream = jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_bytes: -1,
            max_message_size: -1,
            max_age: ttl,
            duplicate_window: ttl.min(Duration::from_secs(120)),
            storage: jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: 1,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        let store = match self.js.get_or_create_stream(stream).await {
            Ok(_) => self
                .js
                .get_key_value(bucket.as_str())
                .await
                .map_err(async_nats::Error::from),
            Err(e) => Err(e.into()),
        };
        match store {
            Ok(store) => {
                info!("bus: presence in bucket {bucket}");
                self.kv = Some(store);
            }
            Err(e) => warn!("bus: presence bucket {bucket}: {e}; retrying in {RETRY_AFTER:?}"),
        }
    }

    /// Runs until stopped; then applies the last changes (the disconnects
    /// of shutdown) and returns.
    pub async fn run(mut self, mut stop: StopAt) {
        let refresh_every = self.config.presence_ttl / 3;
        let mut last_refresh = Instant::now();
        let mut last_open = None;
        let mut last_watch = None;
        loop {
            if stop.borrow().is_some() {
                self.apply_changes().await;
                return;
            }
            if self.kv.is_none()
                && self.stats.connected.load(Ordering::Relaxed)
                && last_open.is_none_or(|t: Instant| t.elapsed() >= RETRY_AFTER)
            {
                last_open = Some(Instant::now());
                self.open_bucket().await;
                if self.kv.is_some() {
                    // Write what connected meanwhile.
                    self.refresh().await;
                    last_refresh = Instant::now();
                }
            }
            if self.watch.is_none()
                && let Some(kv) = &self.kv
                && last_watch.is_none_or(|t: Instant| t.elapsed() >= RETRY_AFTER)
            {
                last_watch = Some(Instant::now());
                match kv.watch_all().await {
                    Ok(watch) => self.watch = Some(watch),
                    Err(e) => warn!("bus: watching the presence bucket: {e}"),
                }
            }
            self.apply_changes().await;
            if last_refresh.elapsed() >= refresh_every {
                last_refresh = Instant::now();
                self.refresh().await;
            }
            // Wait for the next round, serving the watch meanwhile.
            let until = tokio::time::Instant::now() + APPLY_EVERY;
            loop {
                let next = async {
                    match self.watch.as_mut() {
                        Some(w) => w.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    entry = next => match entry {
                        Some(Ok(entry)) => self.on_entry(entry),
                        Some(Err(e)) => {
                            warn!("bus: presence watch: {e}");
                            self.watch = None;
                        }
                        None => self.watch = None,
                    },
                    _ = tokio::time::sleep_until(until) => break,
                    _ = stop.changed() => break,
                }
            }
        }
    }

    fn value(&self, remote: std::net::SocketAddr, at: std::time::SystemTime) -> Bytes {
        serde_json::json!({
            "gateway_id": self.gateway_id,
            "connected_at": humantime::format_rfc3339_millis(at).to_string(),
            "remote": remote.to_string(),
        })
        .to_string()
        .into()
    }

    async fn apply_changes(&mut self) {
        let changes = self.gateway.take_presence_changes();
        if changes.is_empty() {
            return;
        }
        // Only where each id ended up matters (a quick reconnect keeps its
        // subscription; a connect-and-go is nothing to tell).
        let mut last: HashMap<Box<str>, PresenceChange> = HashMap::new();
        for (id, change) in changes {
            last.insert(id, change);
        }
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (id, change) in last {
            match change {
                PresenceChange::Connected { conn, remote, at } => {
                    let value = self.value(remote, at);
                    match self.held.get_mut(&id) {
                        Some(held) => {
                            held.conn = conn;
                            held.value = value;
                        }
                        None => {
                            let commands = self.commands.serve(id.clone());
                            self.held.insert(
                                id.clone(),
                                OurEntry {
                                    conn,
                                    value,
                                    revision: None,
                                    commands,
                                },
                            );
                        }
                    }
                    puts.push(id);
                }
                PresenceChange::Disconnected { conn } => {
                    if self.held.get(&id).is_some_and(|h| h.conn == conn)
                        && let Some(held) = self.held.remove(&id)
                        && let Some(revision) = held.revision
                    {
                        deletes.push((id, revision));
                    }
                }
            }
        }
        self.stats
            .presence_entries
            .store(self.held.len() as u64, Ordering::Relaxed);
        let Some(kv) = self.kv.clone() else {
            return;
        };
        for chunk in puts.chunks(BATCH) {
            let writes = chunk.iter().filter_map(|id| {
                let value = self.held.get(id)?.value.clone();
                let kv = &kv;
                Some(async move { (id, kv.put(token::encode(id), value).await) })
            });
            for (id, result) in join_all(writes).await {
                match result {
                    Ok(revision) => {
                        if let Some(held) = self.held.get_mut(id) {
                            held.revision = Some(revision);
                        }
                    }
                    Err(e) => warn!("bus: presence of {id}: {e}"),
                }
            }
        }
        for chunk in deletes.chunks(BATCH) {
            let removals = chunk.iter().map(|(id, revision)| {
                let kv = &kv;
                async move {
                    kv.delete_expect_revision(token::encode(id), Some(*revision))
                        .await
                }
            });
            // A failure means another gateway has written since: its entry stays.
            join_all(removals).await;
        }
    }

    /// Re-writes every entry we hold (compare-and-set on our revision), so
    /// it does not expire; writes those not yet written.
    async fn refresh(&mut self) {
        // Entries of gateways that died without a delete expire unseen.
        self.gateway.prune_held_elsewhere();
        let Some(kv) = self.kv.clone() else {
            return;
        };
        let ids: Vec<Box<str>> = self.held.keys().cloned().collect();
        let gateway_id = self.gateway_id.as_str();
        for chunk in ids.chunks(BATCH) {
            let writes = chunk.iter().filter_map(|id| {
                let held = self.held.get(id)?;
                let (value, revision) = (held.value.clone(), held.revision);
                let kv = &kv;
                Some(async move {
                    let key = token::encode(id);
                    let result = match revision {
                        Some(r) => kv.update(&key, value.clone(), r).await.ok(),
                        None => None,
                    };
                    let result = match result {
                        Some(r) => Some(r),
                        // Expired during an outage, never written, or
                        // written over: write it unless another gateway
                        // holds the charge point now.
                        None => match kv.entry(key.clone()).await {
                            Ok(Some(entry))
                                if entry.operation == kv::Operation::Put
                                    && serde_json::from_slice::<PresenceValue>(&entry.value)
                                        .is_ok_and(|v| v.gateway_id != gateway_id) =>
                            {
                                None
                            }
                            Ok(_) => kv.put(&key, value).await.ok(),
                            Err(_) => None,
                        },
                    };
                    (id, result)
                })
            });
            for (id, revision) in join_all(writes).await {
                if let Some(held) = self.held.get_mut(id) {
                    held.revision = revision;
                }
            }
        }
    }

    fn on_entry(&mut self, entry: kv::Entry) {
        let Some(id) = token::decode(&entry.key) else {
            return;
        };
        let ours = match entry.operation {
            kv::Operation::Put => match serde_json::from_slice::<PresenceValue>(&entry.value) {
                Ok(v) => v.gateway_id == self.gateway_id,
                Err(_) => return,
            },
            kv::Operation::Delete | kv::Operation::Purge => {
                self.gateway.set_held_elsewhere(&id, None);
                return;
            }
        };
        if ours {
            self.gateway.set_held_elsewhere(&id, None);
            return;
        }
        let until = Instant::now() + self.config.presence_ttl;
        self.gateway.set_held_elsewhere(&id, Some(until));
        let Some(held) = self.held.get_mut(id.as_str()) else {
            return;
        };
        if entry.revision <= held.revision.unwrap_or(0) {
            // Older than our own entry: we are the newer connection.
            return;
        }
        // The charge point connected to another gateway after ours.
        held.revision = None;
        let conn = held.conn;
        info!("bus: {id} connected to another gateway; closing ours");
        // Waits only while that inbox is full; the reactor drains it.
        self.gateway.evict(conn);
    }
}
