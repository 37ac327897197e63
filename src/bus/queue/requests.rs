//! The keeper's answers to the admin API (`ToQueue` requests), the
//! `{prefix}.enqueue.{id}` request subject, and the ttl expiry: each a
//! few reads and compare-and-set writes on the KV record.
//!
//! `{prefix}.enqueue.{token(id)}` is served by every gateway in one queue
//! group (so one answers), whether or not any holds the charge point:
//! it is how a backend on NATS queues a command (`{prefix}.cmd.{id}` has a
//! responder only while a gateway holds the charge point). Body: the
//! command's JSON (`action`, `payload`, `timeout_ms`) with an optional
//! `"queue": {"ttl": "24h", "replace_key": "…"}`, checked as the admin
//! API checks it (the payload against the action's schema in any OCPP
//! version; ttl at most `queue.max_ttl`, a day when not given). Reply:
//! the admin API's body with its `status`: `{"status": 202, "command_id":
//! …, "state": "queued"}`, or `{"status": 400|503|507, "error": …}`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Keeper;
use super::record::{CommandBody, Record};
use super::store::{Changed, Refused, Store};
use crate::command_json::{self, Command};
use crate::cross_thread::{
    CancelOutcome, CommandState, QueueRefusal, QueueSpec, QueueStats, QueuedCommand, ToQueue,
    unix_ms,
};

const NOT_OPEN: &str = "the command queue is not open yet (the bus is not connected)";

impl Keeper {
    fn open_store(&self) -> Result<&Store, String> {
        self.store.get().ok_or_else(|| NOT_OPEN.to_owned())
    }

    pub(super) async fn answer(self: Arc<Self>, request: ToQueue) {
        match request {
            ToQueue::Enqueue { command, reply } => {
                let result = self.enqueue(&command).await;
                self.count_enqueue(&result);
                reply.send(result);
            }
            ToQueue::Get { command_id, reply } => reply.send(self.get(&command_id).await),
            ToQueue::Cancel { command_id, reply } => reply.send(self.cancel(&command_id).await),
            ToQueue::List {
                charge_point,
                reply,
            } => reply.send(self.list(&charge_point).await),
            // Handled by the inbox loop.
            ToQueue::Ready { .. } | ToQueue::Gone { .. } => {}
        }
    }

    /// Appends the command to its charge point's stream subject (the
    /// server refuses it past the bounds), then writes its record. With a
    /// `replace_key`, a queued command with the same key ends `cancelled`
    /// naming this one — after this one is in, so a refusal loses nothing;
    /// when the charge point's queue is full, the replaced one makes room.
    async fn enqueue(&self, command: &QueuedCommand) -> Result<(), QueueRefusal> {
        let store = self.open_store().map_err(QueueRefusal::Unavailable)?;
        let body = CommandBody::of(command).map_err(QueueRefusal::Unavailable)?;
        let replaced = match &command.replace_key {
            Some(key) => self
                .queued_with_key(store, &command.charge_point, key)
                .await
                .map_err(QueueRefusal::Unavailable)?,
            None => Vec::new(),
        };
        let replaced_by = Some(command.command_id.clone());
        let mut seq = store.publish(&body).await;
        if matches!(seq, Err(Refused::ChargePointFull))
            && let Some(first) = replaced.first()
        {
            self.cancel_as(store, first, replaced_by.clone()).await;
            seq = store.publish(&body).await;
        }
        let q = &self.config.queue;
        let seq = seq.map_err(|refused| match refused {
            Refused::ChargePointFull => QueueRefusal::ChargePointFull {
                max: q.max_per_charge_point,
            },
            Refused::TotalFull => QueueRefusal::TotalFull { max: q.max_total },
            Refused::Unavailable(why) => QueueRefusal::Unavailable(why),
        })?;
        let record = Record {
            view: Value::Null,
            command: body,
            state: CommandState::Queued,
            seq,
            sent_by: None,
        };
        if let Err(why) = store.create(&record).await {
            // Without a record it would never be delivered: take it back.
            store.forget_message(seq).await;
            return Err(QueueRefusal::Unavailable(why));
        }
        for id in &replaced {
            self.cancel_as(store, id, replaced_by.clone()).await;
        }
        Ok(())
    }

    /// Ids of the charge point's queued commands with `key`, in order
    /// (at most `queue.max_per_charge_point` reads).
    async fn queued_with_key(
        &self,
        store: &Store,
        charge_point: &str,
        key: &str,
    ) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for record in self.live(store, charge_point).await? {
            if record.state == CommandState::Queued
                && record.command.replace_key.as_deref() == Some(key)
            {
                ids.push(record.command.command_id);
            }
        }
        Ok(ids)
    }

    /// The records of a charge point's commands still in the stream, in
    /// queue order.
    async fn live(&self, store: &Store, charge_point: &str) -> Result<Vec<Record>, String> {
        let subject = store.subject(charge_point);
        let mut out = Vec::new();
        let mut seq = 1;
        // The stream holds at most max_per_charge_point for it.
        for _ in 0..self.config.queue.max_per_charge_point {
            let Some((at, body)) = store.next_message(&subject, seq).await? else {
                break;
            };
            seq = at + 1;
            if let Some(body) = body
                && let Some((record, _)) = store.read(&body.command_id).await?
                && !record.is_final()
            {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Ends a queued command `cancelled`; whether it did.
    async fn cancel_as(&self, store: &Store, id: &str, replaced_by: Option<String>) -> bool {
        let at_ms = unix_ms();
        let changed = store
            .change(id, |r| {
                (r.state == CommandState::Queued).then(|| {
                    let replaced_by = replaced_by.clone();
                    r.with(CommandState::Cancelled { at_ms, replaced_by }, None)
                })
            })
            .await;
        match changed {
            Ok(Changed::Done(record)) => {
                QueueStats::add(&self.stats.cancelled, 1);
                self.forget(store, &record).await;
                true
            }
            Ok(_) => false,
            Err(e) => {
                log::warn!("bus: cancelling {id}: {e}");
                false
            }
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Value>, String> {
        let store = self.open_store()?;
        Ok(store.read(id).await?.map(|(record, _)| record.view()))
    }

    async fn cancel(&self, id: &str) -> CancelOutcome {
        let store = match self.open_store() {
            Ok(store) => store,
            Err(why) => return CancelOutcome::Unavailable(why),
        };
        let at_ms = unix_ms();
        let changed = store
            .change(id, |r| {
                (r.state == CommandState::Queued).then(|| {
                    let state = CommandState::Cancelled {
                        at_ms,
                        replaced_by: None,
                    };
                    r.with(state, None)
                })
            })
            .await;
        match changed {
            Ok(Changed::Done(record)) => {
                QueueStats::add(&self.stats.cancelled, 1);
                self.forget(store, &record).await;
                CancelOutcome::Cancelled(record.view())
            }
            Ok(Changed::Declined(record)) => CancelOutcome::TooLate(record.view()),
            Ok(Changed::Missing) => CancelOutcome::Unknown,
            Err(why) => CancelOutcome::Unavailable(why),
        }
    }

    async fn list(&self, charge_point: &str) -> Result<Vec<Value>, String> {
        let store = self.open_store()?;
        let records = self.live(store, charge_point).await?;
        Ok(records.iter().map(Record::view).collect())
    }

    /// Ends a command `expired` if it is still queued past its ttl; drops
    /// the message of one found ended (left by a gateway that stopped
    /// between writing the outcome and deleting it).
    pub(super) async fn expire(&self, id: &str) {
        let Some(store) = self.store.get() else {
            return;
        };
        let at_ms = unix_ms();
        let changed = store
            .change(id, |r| {
                (r.state == CommandState::Queued && r.command.expires_at_ms <= at_ms)
                    .then(|| r.with(CommandState::Expired { at_ms }, None))
            })
            .await;
        match changed {
            Ok(Changed::Done(record)) => {
                QueueStats::add(&self.stats.expired, 1);
                self.forget(store, &record).await;
            }
            Ok(Changed::Declined(record)) if record.is_final() => {
                self.forget(store, &record).await;
            }
            Ok(_) => {}
            Err(e) => log::warn!("bus: expiring {id}: {e}"),
        }
    }

    /// A `{prefix}.enqueue.{token}` request.
    pub(super) async fn enqueue_request(&self, request: async_nats::Message) {
        let Some(reply) = request.reply.clone() else {
            return;
        };
        let token = request.subject.rsplit('.').next().unwrap_or_default();
        let charge_point = super::super::token::decode(token)
            .filter(|id| !id.is_empty() && id.len() <= self.config.ocpp.max_id_length);
        let default_timeout = self.config.admin.call_timeout;
        let (status, mut body) = match (
            charge_point,
            command_json::parse(&request.payload, default_timeout),
        ) {
            (None, _) => (
                400,
                json!({ "error": format!("{token:?} is not a charge point id's subject token") }),
            ),
            (_, Err(why)) => (400, json!({ "error": why })),
            (Some(charge_point), Ok(command)) => {
                // Queued whatever it says: that is what this subject is for.
                let spec = command.queue.clone().unwrap_or(QueueSpec {
                    ttl: None,
                    replace_key: None,
                });
                self.keep(&charge_point, &command, &spec).await
            }
        };
        body["status"] = status.into();
        if let Err(e) = self.client.publish(reply, body.to_string().into()).await {
            log::warn!("bus: cannot reply to an enqueue request: {e}");
        }
    }

    /// Keeps a command from the bus (`{prefix}.enqueue.{id}`, or
    /// `{prefix}.cmd.{id}` with `"queue"` when it could not be sent): the
    /// admin API's checks and answer (400, 202, 507, 503).
    pub(in crate::bus) async fn keep(
        &self,
        charge_point: &str,
        command: &Command,
        spec: &QueueSpec,
    ) -> (u16, Value) {
        let max_ttl = self.config.queue.max_ttl;
        let queued =
            match command_json::queued_command(charge_point, command, spec, max_ttl, unix_ms()) {
                Ok(queued) => queued,
                Err(body) => return (400, body),
            };
        let result = self.enqueue(&queued).await;
        self.count_enqueue(&result);
        command_json::enqueued_body(&queued.command_id, result)
    }

    fn count_enqueue(&self, result: &Result<(), QueueRefusal>) {
        let counter = match result {
            Ok(()) => &self.stats.queued,
            Err(QueueRefusal::ChargePointFull { .. }) => &self.stats.refused_charge_point_full,
            Err(QueueRefusal::TotalFull { .. }) => &self.stats.refused_total_full,
            Err(QueueRefusal::Unavailable(_)) => &self.stats.refused_unavailable,
        };
        QueueStats::add(counter, 1);
    }
}
