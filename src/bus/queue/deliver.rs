//! Delivery to a charge point whose session is ready on this gateway: one
//! task per charge point pulls its durable consumer one command at a time
//! (the consumer allows one unacknowledged), writes it `sent`, hands it to
//! the reactor, writes how it ended, deletes its message and acknowledges
//! it. The task ends when the queue is empty or the session has gone.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use log::{info, warn};

use super::record::{CommandBody, RESTARTED};
use super::store::{ACK_WAIT, Changed, Store};
use super::{Keeper, RETRY_AFTER};
use crate::command_json::REPLY_GRACE;
use crate::cross_thread::command_queue::settle;
use crate::cross_thread::{
    CommandState, QueueStats, ReplyTo, ServerCallOutcome, ServerCallRequest, unix_ms,
};

/// How long one pull waits for a command. A queue that has messages but
/// gives none is blocked behind one held by another gateway (until
/// `ACK_WAIT`); it is pulled again after this.
const PULL_WAIT: Duration = Duration::from_millis(500);
/// A message newer than this without its record is being enqueued (the
/// record is written just after the publish): wait for it.
const RECORD_GRACE_MS: u64 = 10_000;
const RECORD_POLL: Duration = Duration::from_millis(50);
/// A reactor inbox that is full: try again after this.
const BUSY_RETRY: Duration = Duration::from_millis(200);

impl Keeper {
    /// The delivery task of one charge point (at most one runs: `kick`).
    pub(super) async fn drain(self: Arc<Self>, charge_point: Arc<str>) {
        loop {
            self.deliver_all(&charge_point).await;
            let mut shared = self.shared();
            let again = shared.ready.contains(&charge_point)
                && shared.draining.get(&charge_point) == Some(&true);
            if again {
                shared.draining.insert(charge_point.clone(), false);
            } else {
                shared.draining.remove(&charge_point);
                return;
            }
        }
    }

    /// Delivers until the queue is empty or the session is gone. Each turn
    /// either delivers one command or waits `PULL_WAIT` (or `RETRY_AFTER`
    /// after an error), so the loop is bounded by the session's life.
    async fn deliver_all(&self, charge_point: &str) {
        let Some(store) = self.store.get() else {
            return;
        };
        let subject = store.subject(charge_point);
        let mut consumer = None;
        while self.is_ready(charge_point) {
            match store.next_message(&subject, 1).await {
                Ok(None) => return,
                Ok(Some(_)) => {}
                Err(e) => {
                    warn!("bus: queue of {charge_point}: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
            if consumer.is_none() {
                match store.consumer(charge_point).await {
                    Ok(c) => consumer = Some(c),
                    Err(e) => {
                        warn!("bus: queue of {charge_point}: {e}");
                        tokio::time::sleep(RETRY_AFTER).await;
                        continue;
                    }
                }
            }
            let Some(pull) = &consumer else { continue };
            let batch = pull
                .batch()
                .max_messages(1)
                .expires(PULL_WAIT)
                .messages()
                .await;
            let message = match batch {
                Ok(mut batch) => batch.next().await,
                Err(e) => Some(Err(e.into())),
            };
            let go_on = match message {
                Some(Ok(message)) => self.deliver(store, charge_point, message).await,
                Some(Err(e)) => {
                    warn!("bus: pulling the queue of {charge_point}: {e}");
                    consumer = None;
                    tokio::time::sleep(RETRY_AFTER).await;
                    true
                }
                None => true,
            };
            if !go_on {
                return;
            }
        }
    }

    /// One pulled command; whether the charge point can take the next.
    async fn deliver(&self, store: &Store, charge_point: &str, message: Message) -> bool {
        let Ok(body) = serde_json::from_slice::<CommandBody>(&message.payload) else {
            warn!("bus: a message in the queue of {charge_point} is not a command; dropped");
            if let Ok(info) = message.info() {
                store.forget_message(info.stream_sequence).await;
            }
            let _ = message.double_ack().await;
            return true;
        };
        let id = body.command_id.clone();
        if !self.wait_for_record(store, &id, &message).await {
            warn!("bus: command {id} has no record (never completed, or forgotten); dropped");
            if let Ok(info) = message.info() {
                store.forget_message(info.stream_sequence).await;
            }
            let _ = message.double_ack().await;
            return true;
        }
        let now = unix_ms();
        let me = self.gateway_id().to_owned();
        // Queued → sent, or the end it has already reached.
        let changed = store
            .change(&id, |r| match r.state() {
                CommandState::Queued if r.command.expires_at_ms <= now => {
                    Some(r.with(CommandState::Expired { at_ms: now }, None))
                }
                CommandState::Queued => Some(r.with(CommandState::Sent { at_ms: now }, Some(&me))),
                // Sent, and not in flight here (this task is the only one
                // delivering to this charge point, and it holds nothing).
                CommandState::Sent { .. } => Some(r.with(
                    CommandState::Failed {
                        at_ms: now,
                        reason: RESTARTED.into(),
                    },
                    r.sent_by.as_deref(),
                )),
                _ => None,
            })
            .await;
        let record = match changed {
            Ok(Changed::Done(record)) => record,
            Ok(Changed::Declined(record)) => {
                // Already ended (cancelled, expired, or its outcome written
                // by a gateway that stopped before deleting it).
                self.forget(store, &record).await;
                let _ = message.double_ack().await;
                return true;
            }
            Ok(Changed::Missing) => {
                let _ = message.double_ack().await;
                return true;
            }
            Err(e) => {
                warn!("bus: command {id}: {e}; trying again");
                let _ = message.ack_with(AckKind::Nak(Some(RETRY_AFTER))).await;
                tokio::time::sleep(RETRY_AFTER).await;
                return true;
            }
        };
        match record.state() {
            CommandState::Sent { .. } => {}
            ended => {
                let counter = match ended {
                    CommandState::Expired { .. } => &self.stats.expired,
                    _ => {
                        info!("bus: command {id} was sent by a gateway that stopped: {RESTARTED}");
                        &self.stats.failed
                    }
                };
                QueueStats::add(counter, 1);
                self.forget(store, &record).await;
                let _ = message.double_ack().await;
                return true;
            }
        }
        let timeout_ms = body.timeout_ms;
        let outcome = self.call(body, &message).await;
        match settle(outcome, timeout_ms, unix_ms()) {
            Ok(end) => {
                let counter = match end {
                    CommandState::Answered { .. } => &self.stats.answered,
                    _ => &self.stats.failed,
                };
                let changed = store
                    .change(&id, |r| {
                        (r.state().name() == "sent" && r.sent_by.as_deref() == Some(me.as_str()))
                            .then(|| r.with(end.clone(), Some(&me)))
                    })
                    .await;
                match changed {
                    Ok(Changed::Done(_)) => QueueStats::add(counter, 1),
                    // Another gateway ended it meanwhile (it took us for dead).
                    Ok(_) => {}
                    Err(e) => {
                        // The record stays `sent`: the next delivery ends it
                        // failed (unknown outcome), as after a crash.
                        warn!("bus: cannot record how command {id} ended: {e}");
                        return true;
                    }
                }
                self.forget(store, &record).await;
                let _ = message.double_ack().await;
                true
            }
            Err(not_sent) => {
                // Never on the wire: queued again, first in line.
                let back = store
                    .change(&id, |r| {
                        (r.state().name() == "sent" && r.sent_by.as_deref() == Some(me.as_str()))
                            .then(|| r.with(CommandState::Queued, None))
                    })
                    .await;
                if let Err(e) = back {
                    warn!("bus: cannot queue command {id} again: {e}");
                }
                let _ = message.ack_with(AckKind::Nak(None)).await;
                if not_sent == ServerCallOutcome::QueueFull {
                    tokio::time::sleep(BUSY_RETRY).await;
                    return true;
                }
                false
            }
        }
    }

    /// Whether the command's record exists, waiting for it while the
    /// message is young (its enqueuer writes it right after publishing).
    async fn wait_for_record(&self, store: &Store, id: &str, message: &Message) -> bool {
        let published_ms = message
            .info()
            .map(|i| (i.published.unix_timestamp_nanos() / 1_000_000) as u64)
            .unwrap_or(0);
        let tries = RECORD_GRACE_MS / RECORD_POLL.as_millis() as u64;
        for _ in 0..tries {
            match store.read(id).await {
                Ok(Some(_)) => return true,
                Ok(None) if unix_ms().saturating_sub(published_ms) >= RECORD_GRACE_MS => {
                    return false;
                }
                Ok(None) => {}
                Err(e) => warn!("bus: command {id}: {e}"),
            }
            tokio::time::sleep(RECORD_POLL).await;
        }
        false
    }

    /// Hands the command to the reactor and waits for its outcome, telling
    /// the server meanwhile that the message is still being worked on.
    async fn call(&self, body: CommandBody, message: &Message) -> ServerCallOutcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let timeout = Duration::from_millis(body.timeout_ms);
        let request = ServerCallRequest {
            charge_point: body.charge_point.into(),
            action: body.action.into(),
            payload: body.payload.get().into(),
            timeout,
            reply: ReplyTo::Callback(Box::new(move |outcome| {
                let _ = tx.send(outcome);
            })),
            command_id: Some(body.command_id.into()),
        };
        if let Err(refused) = (self.start_call)(request) {
            return refused;
        }
        QueueStats::add(&self.stats.delivered, 1);
        let outcome = tokio::time::timeout(timeout + REPLY_GRACE, rx);
        tokio::pin!(outcome);
        let mut progress = tokio::time::interval(ACK_WAIT / 3);
        loop {
            tokio::select! {
                outcome = &mut outcome => return match outcome {
                    Ok(Ok(outcome)) => outcome,
                    // The reactor dropped the request: it has stopped.
                    Ok(Err(_)) => ServerCallOutcome::Closed,
                    Err(_) => ServerCallOutcome::Timeout,
                },
                _ = progress.tick() => {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    }
}
