//! The queue's two JetStream objects and every operation the keeper makes
//! on them. Both are created by hand (`get_or_create_stream`), not with
//! `create_key_value`, which reads the account info in a shape nats-server
//! 2.9 (Debian's) does not send; see `presence.rs`.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, UpdateErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};

use super::record::{CommandBody, Record};
use crate::bus::token;
use crate::config::{BusConfig, QueueConfig};

/// A delivered command not acknowledged (nor marked in progress) for this
/// long goes to the next puller: how long the queue of a charge point
/// stays blocked behind a command held by a gateway that died.
pub const ACK_WAIT: Duration = Duration::from_secs(6);
/// A charge point's consumer unused this long is removed by the server
/// (it is made again at the next delivery; its place is the stream's
/// content, since ended commands are deleted). At least the longest
/// command timeout (`timeout_ms` ≤ 1 h), so a consumer is never removed
/// under a command in flight, whether or not progress acks count as use.
const CONSUMER_IDLE: Duration = Duration::from_secs(3600);
/// Compare-and-set attempts before a change is given up as contended.
const MAX_SWAPS: usize = 8;
/// Window in which a re-sent publish (same `Nats-Msg-Id`, the command id)
/// is dropped by the stream.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Why a command could not go into the stream.
#[derive(Debug)]
pub enum Refused {
    ChargePointFull,
    TotalFull,
    Unavailable(String),
}

/// The outcome of [`Store::change`].
pub enum Changed {
    /// The new record was written.
    Done(Record),
    /// The record did not call for the change (as read).
    Declined(Record),
    Missing,
}

pub struct Store {
    js: jetstream::Context,
    stream: stream::Stream,
    kv: kv::Store,
    prefix: String,
}

impl Store {
    /// Creates (or binds to) the stream and the bucket.
    pub async fn open(
        js: &jetstream::Context,
        bus: &BusConfig,
        queue: &QueueConfig,
    ) -> Result<Store, String> {
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let stream = ensure_stream(
            js,
            stream::Config {
                name: bus.queue_stream.clone(),
                subjects: vec![format!("{}.queue.*", bus.subject_prefix)],
                // Live commands only: an ended one is deleted, so these
                // limits are `queue.max_per_charge_point` and
                // `queue.max_total`, enforced by the server for every
                // gateway at once. Discard new: a full queue refuses the
                // newcomer, it never drops a waiting command.
                max_messages_per_subject: limit(queue.max_per_charge_point),
                max_messages: limit(queue.max_total),
                discard: stream::DiscardPolicy::New,
                discard_new_per_subject: true,
                // The outer bound: no command waits longer than max_ttl.
                max_age: queue.max_ttl,
                duplicate_window: DUPLICATE_WINDOW.min(queue.max_ttl),
                allow_direct: true,
                storage: stream::StorageType::File,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("stream {}: {e}", bus.queue_stream))?;
        let bucket = &bus.commands_bucket;
        // No per-key TTL before nats-server 2.11: a record lives max_age
        // from its last write. A live record is rewritten at most
        // max_ttl + its timeout after it was queued, so max_ttl +
        // keep_finished keeps every live one (its message never outlives
        // it) and an ended one for at least keep_finished.
        let max_age = queue.max_ttl + queue.keep_finished.max(Duration::from_secs(1));
        ensure_stream(
            js,
            stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                // Live records are at most max_total; past them the oldest
                // written go first (ended ones, nearly always).
                max_messages: limit(queue.max_total.saturating_add(queue.max_finished)),
                max_bytes: -1,
                max_message_size: -1,
                max_age,
                duplicate_window: DUPLICATE_WINDOW.min(max_age),
                storage: stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                num_replicas: 1,
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("bucket {bucket}: {e}"))?;
        let kv = js
            .get_key_value(bucket.as_str())
            .await
            .map_err(|e| format!("bucket {bucket}: {e}"))?;
        Ok(Store {
            js: js.clone(),
            stream,
            kv,
            prefix: bus.subject_prefix.clone(),
        })
    }

    /// `{prefix}.queue.{token(id)}`.
    pub fn subject(&self, charge_point: &str) -> String {
        format!("{}.queue.{}", self.prefix, token::encode(charge_point))
    }

    /// All charge points' queue subjects.
    pub fn all_subjects(&self) -> String {
        format!("{}.queue.*", self.prefix)
    }

    /// Appends a command to its charge point's queue; its stream sequence.
    pub async fn publish(&self, body: &CommandBody) -> Result<u64, Refused> {
        let text = serde_json::to_vec(body).map_err(|e| Refused::Unavailable(e.to_string()))?;
        let message = PublishMessage::build()
            .payload(text.into())
            .message_id(body.command_id.as_str());
        let unavailable = |e: &dyn std::fmt::Display| Refused::Unavailable(e.to_string());
        let ack = self
            .js
            .send_publish(self.subject(&body.charge_point), message)
            .await
            .map_err(|e| unavailable(&e))?;
        match ack.await {
            Ok(ack) => Ok(ack.sequence),
            Err(e) if e.kind() == PublishErrorKind::Other => {
                // nats-server tells the two limits apart only by text.
                let text = e.to_string();
                if text.contains("maximum messages per subject exceeded") {
                    Err(Refused::ChargePointFull)
                } else if text.contains("maximum messages exceeded") {
                    Err(Refused::TotalFull)
                } else {
                    Err(unavailable(&text))
                }
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// A command's record and its revision.
    pub async fn read(&self, command_id: &str) -> Result<Option<(Record, u64)>, String> {
        let entry = self
            .kv
            .entry(command_id)
            .await
            .map_err(|e| format!("reading {command_id}: {e}"))?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Ok(Some((Record::from_bytes(&entry.value)?, entry.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Writes a new command's first record (fails if the id exists).
    pub async fn create(&self, record: &Record) -> Result<u64, String> {
        let id = &record.command.command_id;
        self.kv
            .create(id, record.to_bytes())
            .await
            .map_err(|e| format!("writing {id}: {e}"))
    }

    /// Reads a record and writes what `decide` makes of it, with
    /// compare-and-set on the revision read: of two gateways changing one
    /// command, the second reads again and decides on what the first
    /// wrote. `decide` returns `None` when the change does not apply.
    pub async fn change(
        &self,
        command_id: &str,
        mut decide: impl FnMut(&Record) -> Option<Record>,
    ) -> Result<Changed, String> {
        for _ in 0..MAX_SWAPS {
            let Some((record, revision)) = self.read(command_id).await? else {
                return Ok(Changed::Missing);
            };
            let Some(next) = decide(&record) else {
                return Ok(Changed::Declined(record));
            };
            match self.kv.update(command_id, next.to_bytes(), revision).await {
                Ok(_) => return Ok(Changed::Done(next)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(format!("writing {command_id}: {e}")),
            }
        }
        Err(format!(
            "{command_id} changed {MAX_SWAPS} times while being written"
        ))
    }

    /// Removes an ended command's message (already gone is fine).
    pub async fn forget_message(&self, seq: u64) {
        if let Err(e) = self.stream.delete_message(seq).await
            && !e.to_string().contains("no message found")
        {
            log::warn!("bus: queue message {seq} not deleted: {e}");
        }
    }

    /// The first message at or after `seq` on `subject` (a charge point's
    /// or all of them), as (sequence, command).
    pub async fn next_message(
        &self,
        subject: &str,
        seq: u64,
    ) -> Result<Option<(u64, Option<CommandBody>)>, String> {
        match self
            .stream
            .direct_get_next_for_subject(subject, Some(seq.max(1)))
            .await
        {
            // Not one of ours (None): skipped over by the caller.
            Ok(message) => Ok(Some((
                message.sequence,
                serde_json::from_slice(&message.payload).ok(),
            ))),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading the queue: {e}")),
        }
    }

    /// The durable consumer of a charge point's subject, made if missing:
    /// one command outstanding at a time (`max_ack_pending = 1`), in
    /// stream order, acknowledged explicitly. Every gateway binds the same
    /// one for a charge point, so the server hands a command to one of
    /// them only.
    pub async fn consumer(&self, charge_point: &str) -> Result<PullConsumer, String> {
        let name = consumer_name(charge_point);
        self.stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: self.subject(charge_point),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: 1,
                    inactive_threshold: CONSUMER_IDLE,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("consumer {name}: {e}"))
    }

    /// Commands in the stream now, all charge points (the depth gauge).
    pub async fn depth(&self) -> Result<u64, String> {
        let info = self.stream.get_info().await.map_err(|e| e.to_string())?;
        Ok(info.state.messages)
    }
}

/// Creates the stream, or brings an existing one's limits to `config`'s:
/// `[queue]` bounds changed in the file apply at the next start, never
/// silently ignored. (Gateways that disagree overwrite each other; each
/// says so in its log.)
async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, async_nats::Error> {
    let stream = js.get_or_create_stream(config.clone()).await?;
    let have = &stream.cached_info().config;
    let differs = have.max_messages != config.max_messages
        || have.max_messages_per_subject != config.max_messages_per_subject
        || have.max_age != config.max_age
        || have.discard != config.discard
        || have.discard_new_per_subject != config.discard_new_per_subject;
    if !differs {
        return Ok(stream);
    }
    log::warn!(
        "bus: stream {} had other limits (max_msgs {}, per subject {}, max_age {:?}); setting ours",
        config.name,
        have.max_messages,
        have.max_messages_per_subject,
        have.max_age
    );
    js.update_stream(&config).await?;
    Ok(js.get_stream(&config.name).await?)
}

/// A consumer name for a charge point: `q-` and its subject token (which
/// holds only `A-Za-z0-9_-=`, all valid in names), or for a long id the
/// first 128 bits of its SHA-256 in hex, so a name stays far below the
/// server's file-name limit.
pub fn consumer_name(charge_point: &str) -> String {
    const LONGEST_TOKEN: usize = 64;
    let token = token::encode(charge_point);
    if token.len() <= LONGEST_TOKEN {
        return format!("q-{token}");
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(charge_point.as_bytes());
    let mut name = String::from("q-h");
    for b in &digest[..16] {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_are_valid_and_short() {
        assert_eq!(consumer_name("CP-1"), "q-CP-1");
        assert_eq!(consumer_name("cp.7*"), "q-cp=2E7=2A");
        let long = consumer_name(&"é".repeat(100));
        assert_eq!(long.len(), 3 + 32);
        assert!(long.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
}
