//! Commands down: while it holds a charge point, this gateway subscribes
//! `{prefix}.cmd.{token(id)}`. A request there becomes a server CALL on the
//! owning reactor — the engine behind the admin API — and its outcome the
//! reply, in the admin API's JSON with the HTTP status it would have had.
//! A charge point no gateway holds has no subscriber: NATS answers "no
//! responders" at once (`{prefix}.enqueue.{id}`, served by every gateway,
//! keeps a command for it: `bus::queue`). A command with `"queue"` that
//! could not be sent here after all (the charge point left meanwhile) is
//! kept instead, and answered 202 like the admin API's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_nats::{Client, Subject};
use futures_util::StreamExt;
use log::warn;

use crate::command_json::{self, Command};
use crate::cross_thread::{BusHandle, BusStats, ReplyTo, ServerCallOutcome, ServerCallRequest};

pub struct Commands {
    pub client: Client,
    pub gateway: Arc<BusHandle>,
    pub stats: Arc<BusStats>,
    pub prefix: String,
    /// Commands waiting for their charge point now, all charge points
    /// together (`bus.max_commands_in_flight`).
    pub in_flight: AtomicUsize,
    /// The command queue, when it runs on the bus.
    pub queue: Option<Arc<super::queue::Keeper>>,
}

/// A command's place among those in flight, given back however its task ends.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn take(counter: &'a AtomicUsize, max: usize) -> Option<InFlight<'a>> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlight(counter))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Commands {
    /// Subscribes for `id` and serves its commands until aborted (dropping
    /// the subscription unsubscribes).
    pub fn serve(self: &Arc<Self>, id: Box<str>) -> tokio::task::AbortHandle {
        let this = self.clone();
        let subject = format!("{}.cmd.{}", self.prefix, super::token::encode(&id));
        tokio::spawn(async move {
            let mut subscription = match this.client.subscribe(subject.clone()).await {
                Ok(s) => s,
                Err(e) => {
                    warn!("bus: cannot subscribe {subject}: {e}");
                    return;
                }
            };
            while let Some(message) = subscription.next().await {
                let Some(reply) = message.reply else {
                    continue;
                };
                BusStats::add(&this.stats.commands, 1);
                // Commands to one charge point queue in its reactor (one
                // outstanding at a time); here they may overlap.
                tokio::spawn(this.clone().answer(id.clone(), message.payload, reply));
            }
        })
        .abort_handle()
    }

    async fn answer(self: Arc<Self>, id: Box<str>, body: bytes::Bytes, reply: Subject) {
        let default_timeout = self.gateway.config.admin.call_timeout;
        let max = self.gateway.config.bus.max_commands_in_flight;
        let slot = InFlight::take(&self.in_flight, max);
        let (status, mut body) = match command_json::parse(&body, default_timeout) {
            _ if slot.is_none() => {
                BusStats::add(&self.stats.commands_refused, 1);
                let busy = format!("{max} commands are already waiting for charge points");
                (503, serde_json::json!({ "error": busy }))
            }
            Ok(command) => {
                let timeout = command.timeout;
                let keep = match (&self.queue, &command.queue) {
                    (Some(keeper), Some(spec)) => Some((keeper, command.clone(), spec.clone())),
                    _ => None,
                };
                match (self.call(&id, command).await, keep) {
                    // Never sent (gone before it could be): kept instead.
                    (
                        ServerCallOutcome::NotConnected | ServerCallOutcome::ClosedBeforeSending,
                        Some((keeper, command, spec)),
                    ) => keeper.keep(&id, &command, &spec).await,
                    (outcome, _) => command_json::outcome_body(&id, timeout, outcome),
                }
            }
            Err(reason) => (400, serde_json::json!({ "error": reason })),
        };
        body["status"] = status.into();
        if let Err(e) = self.client.publish(reply, body.to_string().into()).await {
            warn!("bus: cannot reply to a command for {id}: {e}");
        }
    }

    async fn call(&self, id: &str, command: Command) -> ServerCallOutcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let timeout = command.timeout;
        let request = ServerCallRequest {
            charge_point: id.into(),
            action: command.action.into(),
            payload: command.payload.into(),
            timeout,
            reply: ReplyTo::Callback(Box::new(move |outcome| {
                let _ = tx.send(outcome);
            })),
            command_id: None,
        };
        // Never waits on a reactor: a full inbox is "busy".
        if let Err(outcome) = self.gateway.start_call(request) {
            return outcome;
        }
        match tokio::time::timeout(timeout + command_json::REPLY_GRACE, rx).await {
            Ok(Ok(outcome)) => outcome,
            // The reactor dropped the request: it has stopped.
            Ok(Err(_)) => ServerCallOutcome::Closed,
            Err(_) => ServerCallOutcome::Timeout,
        }
    }
}
