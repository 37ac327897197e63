//! Requests that wait for reactors or a charge point: how they are handed
//! over (non-blocking, through [`AdminHandle`]), the replies that complete
//! them, and their deadlines. An extension of the server: same thread,
//! same state, split out to keep files readable.

// The parent's imports and private items are in scope, as in its own file.
use super::pending::{Awaiting, Pending, Reply, ReplyBody};
use super::routes::ListQuery;
use super::*;
use crate::command_json::{Command, REPLY_GRACE};
use crate::cross_thread::{
    Deliver, Offered, ReplyTo, ServerCallOutcome, ServerCallRequest, TraceCommand,
};
use log::debug;

impl Server {
    /// Answers the waiting requests whose reactors did not reply in time.
    pub(super) fn expire_pending(&mut self) {
        let now = self.now;
        // A request left in the inbox of a reactor that has stopped is never
        // answered: once none runs, nothing pending will be.
        let reactors_gone = self.gateway.reactors_running() == 0;
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| reactors_gone || p.deadline <= now)
            .map(|(&ticket, _)| ticket)
            .collect();
        for ticket in expired {
            let Some(pending) = self.pending.remove(&ticket) else {
                continue;
            };
            // Its reply may still come: it stays owed and is dropped then.
            let response = match &pending.awaiting {
                Awaiting::Call {
                    charge_point,
                    timeout,
                    ..
                } => routes::call_outcome(charge_point, *timeout, ServerCallOutcome::Timeout),
                Awaiting::Enqueue { .. }
                | Awaiting::Command { .. }
                | Awaiting::Cancel { .. }
                | Awaiting::Commands => {
                    self.counters.count(Refused::QueueBusy);
                    routes::error(
                        503,
                        format!(
                            "the command queue did not answer within admin.stall_after ({:?})",
                            self.stall_after
                        ),
                    )
                }
                _ => {
                    self.counters.count(Refused::ReactorsBusy);
                    routes::error(
                        503,
                        format!(
                            "the reactors did not answer within admin.stall_after ({:?})",
                            self.stall_after
                        ),
                    )
                }
            };
            self.respond(pending.conn, &response, pending.keep_alive);
        }
    }

    pub(super) fn new_ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    /// The promise a reactor keeps for `ticket`: queue the reply and wake
    /// this thread. Never blocks: `replies_owed` ≤ capacity leaves room.
    pub(super) fn deliver<T: Send + 'static>(
        &self,
        ticket: u64,
        wrap: fn(T) -> ReplyBody,
    ) -> Deliver<T> {
        let replies = self.reply_sender.clone();
        let waker = self.waker.clone();
        Deliver::new(move |value| {
            if replies
                .try_send(Reply {
                    ticket,
                    body: wrap(value),
                })
                .is_ok()
            {
                // A failed eventfd write leaves the reply to the next tick.
                let _ = waker.wake();
            }
        })
    }

    /// Whether `replies` more replies fit in the reply channel; if not, the
    /// request is refused (counted) and the caller answers `busy()`.
    pub(super) fn room_for_replies(&mut self, replies: usize) -> bool {
        let fits = self.replies_owed + replies <= self.reply_capacity;
        if !fits {
            self.counters.count(Refused::ReactorsBusy);
        }
        fits
    }

    pub(super) fn busy() -> Response {
        routes::error(503, "the reactors are busy; try again")
    }

    pub(super) fn wait(&mut self, key: SlotKey, ticket: u64, pending: Pending) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.state = State::Waiting;
            conn.deadline = None;
        }
        self.pending.insert(ticket, pending);
    }

    pub(super) fn start_call(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: String,
        command: Command,
    ) -> Option<Response> {
        if self.counters.commands_in_flight >= self.max_commands_in_flight as u64 {
            self.counters.count(Refused::CommandsBusy);
            let message = format!(
                "admin.max_commands_in_flight ({}) commands are already waiting",
                self.max_commands_in_flight
            );
            return Some(routes::error(503, message));
        }
        if !self.room_for_replies(1) {
            return Some(Self::busy());
        }
        let ticket = self.new_ticket();
        let deliver = self.deliver(ticket, ReplyBody::Call);
        let timeout = command.timeout;
        // Kept aside only when the request may be queued (rare).
        let queue = command
            .queue
            .clone()
            .map(|spec| Box::new((command.clone(), spec)));
        let request = ServerCallRequest {
            charge_point: charge_point.as_str().into(),
            action: command.action.into(),
            payload: command.payload.into(),
            timeout,
            reply: ReplyTo::Callback(Box::new(move |outcome| deliver.send(outcome))),
            command_id: None,
        };
        if let Err(outcome) = self.gateway.route.start_call(request) {
            if outcome == ServerCallOutcome::NotConnected
                && let Some(kept) = queue
            {
                let (command, spec) = *kept;
                return self.start_enqueue(key, keep_alive, &charge_point, &command, &spec);
            }
            return Some(routes::call_outcome(&charge_point, timeout, outcome));
        }
        self.replies_owed += 1;
        self.counters.commands_in_flight += 1;
        let pending = Pending {
            conn: key,
            keep_alive,
            deadline: self.now + timeout + REPLY_GRACE,
            awaiting: Awaiting::Call {
                charge_point,
                timeout,
                queue,
            },
        };
        self.wait(key, ticket, pending);
        None
    }

    /// The page's ids come from the registry; only their holders are
    /// asked about them (no reactor lists all its connections).
    pub(super) fn start_list(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        query: ListQuery,
    ) -> Option<Response> {
        let ids = self
            .gateway
            .route
            .page_ids(&query.search, query.offset, query.limit);
        let total = ids.total;
        if ids.ids.is_empty() {
            return Some(routes::page(Vec::new(), total, &query));
        }
        if !self.room_for_replies(self.gateway.reactor_count()) {
            return Some(Self::busy());
        }
        let ticket = self.new_ticket();
        let offered = self
            .gateway
            .route
            .start_inspect_page(ids, || self.deliver(ticket, ReplyBody::Inspect));
        self.replies_owed += offered.taken;
        if offered.full > 0 {
            // The replies of the others come and are dropped.
            self.counters.count(Refused::ReactorsBusy);
            return Some(Self::busy());
        }
        if offered.taken == 0 {
            return Some(routes::page(Vec::new(), total, &query));
        }
        let pending = Pending {
            conn: key,
            keep_alive,
            deadline: self.now + self.stall_after,
            awaiting: Awaiting::List {
                query,
                total,
                found: Vec::new(),
                replies_left: offered.taken,
            },
        };
        self.wait(key, ticket, pending);
        None
    }

    pub(super) fn start_detail(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: String,
    ) -> Option<Response> {
        let awaiting = Awaiting::Detail {
            charge_point: charge_point.clone(),
        };
        self.ask_holder(
            key,
            keep_alive,
            &charge_point,
            awaiting,
            |server, ticket| {
                let reply = || server.deliver(ticket, ReplyBody::Inspect);
                server
                    .gateway
                    .route
                    .start_inspect(Some(&charge_point), reply)
            },
        )
    }

    pub(super) fn start_close(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: String,
        code: u16,
    ) -> Option<Response> {
        let awaiting = Awaiting::Close {
            charge_point: charge_point.clone(),
            code,
        };
        self.ask_holder(
            key,
            keep_alive,
            &charge_point,
            awaiting,
            |server, ticket| {
                let reply = server.deliver(ticket, ReplyBody::Close);
                server.gateway.route.start_close(&charge_point, code, reply)
            },
        )
    }

    /// `minutes`: trace for that long from now; `None`: stop. Answered at
    /// once (503) when tracing is not configured.
    pub(super) fn start_trace(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: String,
        minutes: Option<u64>,
    ) -> Option<Response> {
        if !self.gateway.config.trace.enabled() {
            return Some(routes::tracing_off());
        }
        let command = match minutes {
            Some(m) => TraceCommand::Start(Duration::from_secs(m.saturating_mul(60))),
            None => TraceCommand::Stop,
        };
        let awaiting = Awaiting::Trace {
            charge_point: charge_point.clone(),
            start: minutes.is_some(),
        };
        self.ask_holder(
            key,
            keep_alive,
            &charge_point,
            awaiting,
            |server, ticket| {
                let reply = server.deliver(ticket, ReplyBody::Trace);
                server
                    .gateway
                    .route
                    .start_trace(&charge_point, command, reply)
            },
        )
    }

    /// Offers a request about one charge point to the reactor holding it
    /// (`offer` sends it, with the promise for `ticket`), and waits.
    fn ask_holder(
        &mut self,
        key: SlotKey,
        keep_alive: bool,
        charge_point: &str,
        awaiting: Awaiting,
        offer: impl FnOnce(&Self, u64) -> Offered,
    ) -> Option<Response> {
        if !self.room_for_replies(1) {
            return Some(Self::busy());
        }
        let ticket = self.new_ticket();
        let offered = offer(self, ticket);
        if offered.full > 0 {
            self.counters.count(Refused::ReactorsBusy);
            return Some(Self::busy());
        }
        if offered.taken == 0 {
            return Some(routes::not_connected(charge_point));
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

    /// Takes the reactors' replies and answers the requests they complete.
    pub(super) fn take_replies(&mut self) {
        // Bounded: at most `replies_owed` can be queued.
        while let Ok(Reply { ticket, body }) = self.replies.try_recv() {
            self.replies_owed = self.replies_owed.saturating_sub(1);
            if matches!(body, ReplyBody::Call(_)) {
                self.counters.commands_in_flight =
                    self.counters.commands_in_flight.saturating_sub(1);
            }
            // None: the request was answered already (its deadline passed).
            let Some(mut pending) = self.pending.remove(&ticket) else {
                continue;
            };
            let response = match (&mut pending.awaiting, body) {
                (
                    Awaiting::List {
                        query,
                        total,
                        found,
                        replies_left,
                    },
                    ReplyBody::Inspect(list),
                ) => {
                    found.extend(list);
                    *replies_left -= 1;
                    if *replies_left > 0 {
                        self.pending.insert(ticket, pending);
                        continue;
                    }
                    routes::page(std::mem::take(found), *total, query)
                }
                (Awaiting::Detail { charge_point }, ReplyBody::Inspect(list)) => {
                    routes::detail(list, charge_point)
                }
                (Awaiting::Close { charge_point, code }, ReplyBody::Close(found)) => {
                    routes::closed(found, charge_point, *code)
                }
                (
                    Awaiting::Trace {
                        charge_point,
                        start,
                    },
                    ReplyBody::Trace(reply),
                ) => routes::traced(reply, charge_point, *start),
                (
                    Awaiting::Call {
                        charge_point,
                        timeout,
                        queue,
                    },
                    ReplyBody::Call(outcome),
                ) => match (outcome, queue.take()) {
                    // Gone from its reactor meanwhile: kept as asked.
                    (ServerCallOutcome::NotConnected, Some(kept)) => {
                        let (command, spec) = *kept;
                        let charge_point = std::mem::take(charge_point);
                        match self.start_enqueue(
                            pending.conn,
                            pending.keep_alive,
                            &charge_point,
                            &command,
                            &spec,
                        ) {
                            Some(response) => response,
                            None => continue,
                        }
                    }
                    (outcome, _) => routes::call_outcome(charge_point, *timeout, outcome),
                },
                (
                    awaiting,
                    body @ (ReplyBody::Enqueued(_)
                    | ReplyBody::Command(_)
                    | ReplyBody::Cancel(_)
                    | ReplyBody::Commands(_)),
                ) => match Self::queue_reply(awaiting, body) {
                    Some(response) => response,
                    None => {
                        debug!("admin: a reply of the wrong kind for request {ticket}");
                        continue;
                    }
                },
                _ => {
                    debug!("admin: a reply of the wrong kind for request {ticket}");
                    continue;
                }
            };
            self.respond(pending.conn, &response, pending.keep_alive);
        }
    }
}
