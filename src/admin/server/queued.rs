//! Requests for the command queue (kept commands of charge points that
//! are not connected): handed to its keeper, the embedded store or the
//! bus bridge, with `try_send`, answered when its reply comes. Like the
//! reactors' replies, the keeper's go through the reply channel, counted
//! in `replies_owed`. An extension of the server (see `waiting.rs`).

use super::pending::{Awaiting, Pending, ReplyBody};
use super::*;
use crate::command_json::{self, Command};
use crate::cross_thread::{QueueSpec, ToQueue, unix_ms};

impl Server {
    /// Keeps `command` for `charge_point`, which is not connected: checks
    /// it (400), then asks the keeper, which answers 202, 507 or 503.
    pub(super) fn start_enqueue(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: &str,
        command: &Command,
        spec: &QueueSpec,
    ) -> Option<Response> {
        if self.gateway.queue.is_none() {
            return Some(routes::queue_off());
        }
        let max_ttl = self.gateway.config.queue.max_ttl;
        let queued =
            match command_json::queued_command(charge_point, command, spec, max_ttl, unix_ms()) {
                Ok(queued) => queued,
                Err(body) => return Some(routes::json_response(400, &body)),
            };
        let awaiting = Awaiting::Enqueue {
            command_id: queued.command_id.clone(),
        };
        self.ask_queue(key, keep_alive, awaiting, |server, ticket| {
            ToQueue::Enqueue {
                command: Box::new(queued),
                reply: server.deliver(ticket, ReplyBody::Enqueued),
            }
        })
    }

    /// `GET /commands/{id}`, or `DELETE` (`cancel`).
    pub(super) fn start_command(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        command_id: String,
        cancel: bool,
    ) -> Option<Response> {
        if cancel {
            let awaiting = Awaiting::Cancel {
                command_id: command_id.clone(),
            };
            self.ask_queue(key, keep_alive, awaiting, |server, ticket| {
                ToQueue::Cancel {
                    command_id,
                    reply: server.deliver(ticket, ReplyBody::Cancel),
                }
            })
        } else {
            let awaiting = Awaiting::Command {
                command_id: command_id.clone(),
            };
            self.ask_queue(key, keep_alive, awaiting, |server, ticket| ToQueue::Get {
                command_id,
                reply: server.deliver(ticket, ReplyBody::Command),
            })
        }
    }

    /// `GET /connections/{id}/commands`.
    pub(super) fn start_commands(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: String,
    ) -> Option<Response> {
        self.ask_queue(key, keep_alive, Awaiting::Commands, |server, ticket| {
            ToQueue::List {
                charge_point,
                reply: server.deliver(ticket, ReplyBody::Commands),
            }
        })
    }

    /// Offers the keeper a message carrying the promise for a new ticket
    /// (`message`), and waits for its reply.
    fn ask_queue(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        awaiting: Awaiting,
        message: impl FnOnce(&Self, u64) -> ToQueue,
    ) -> Option<Response> {
        let Some(queue) = self.gateway.queue.clone() else {
            return Some(routes::queue_off());
        };
        if !self.room_for_replies(1) {
            return Some(Self::busy());
        }
        let ticket = self.new_ticket();
        if queue.try_send(message(self, ticket)).is_err() {
            // Its promise is dropped unkept: nothing is owed.
            self.counters.count(Refused::QueueBusy);
            return Some(routes::error(503, "the command queue is busy; try again"));
        }
        self.replies_owed += 1;
        let pending = Pending {
            conn: key,
            keep_alive,
            deadline: self.now + self.stall_after,
            awaiting,
        };
        self.wait(key, ticket, pending);
        None
    }

    /// The response a keeper's reply completes (`None`: it does not fit
    /// what the request awaits).
    pub(super) fn queue_reply(awaiting: &Awaiting, body: ReplyBody) -> Option<Response> {
        let (status, json) = match (awaiting, body) {
            (Awaiting::Enqueue { command_id }, ReplyBody::Enqueued(result)) => {
                command_json::enqueued_body(command_id, result)
            }
            (Awaiting::Command { command_id }, ReplyBody::Command(found)) => match found {
                Ok(Some(view)) => (200, view),
                Ok(None) => command_json::unknown_command(command_id),
                Err(why) => (503, serde_json::json!({ "error": why })),
            },
            (Awaiting::Cancel { command_id }, ReplyBody::Cancel(outcome)) => {
                command_json::cancel_body(command_id, outcome)
            }
            (Awaiting::Commands, ReplyBody::Commands(list)) => match list {
                Ok(commands) => (200, serde_json::json!({ "commands": commands })),
                Err(why) => (503, serde_json::json!({ "error": why })),
            },
            _ => return None,
        };
        Some(routes::json_response(status, &json))
    }
}
