//! The one route to a charge point: the id registry names the reactor
//! that holds it, and a message goes into that reactor's inbox. The admin
//! API and the bus bridge both reach charge points through [`Route`]; only
//! "describe every connection" goes to every reactor.
//!
//! Nothing here waits: every method offers its message with `try_send` (a
//! full inbox is an answer, not a wait), except [`Route::evict`], which the
//! bus bridge uses and which waits only while that inbox is full.

use std::sync::Arc;

use crossbeam_channel::TrySendError;

use super::calls::{ConnRef, ConnectionInfo};
use super::id_registry::{IdPage, IdRegistry};
use super::reactor_inbox::{ReactorHandle, ToReactor};
use super::server_calls::{Deliver, ServerCallOutcome, ServerCallRequest};
use super::trace_queue::{TraceCommand, TraceReply};

/// How a message offered to reactor inboxes without waiting fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    /// Reactors that took it: each owes the reply it carries.
    pub taken: usize,
    /// Reactors whose inbox was full (they owe nothing).
    pub full: usize,
}

impl Offered {
    /// Tallies `try_send` results. A stopped reactor (inbox closed) counts
    /// as neither: it has no connections left to describe or close.
    fn of<E>(results: impl IntoIterator<Item = Result<(), TrySendError<E>>>) -> Offered {
        let mut offered = Offered::default();
        for result in results {
            match result {
                Ok(()) => offered.taken += 1,
                Err(TrySendError::Full(_)) => offered.full += 1,
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        offered
    }
}

#[derive(Clone)]
pub struct Route {
    reactors: Arc<[ReactorHandle]>,
    ids: Arc<IdRegistry>,
}

impl Route {
    pub fn new(reactors: Arc<[ReactorHandle]>, ids: Arc<IdRegistry>) -> Route {
        Route { reactors, ids }
    }

    /// Reactors started (running or not).
    pub fn reactor_count(&self) -> usize {
        self.reactors.len()
    }

    /// Every reactor's inbox (shutdown wakes them all).
    pub fn reactors(&self) -> &[ReactorHandle] {
        &self.reactors
    }

    /// The inbox of the reactor holding `charge_point` (per the registry).
    fn holder_inbox(&self, charge_point: &str) -> Option<&ReactorHandle> {
        let conn = self.ids.holder(charge_point)?;
        self.reactors.get(usize::from(conn.reactor))
    }

    /// Hands a CALL to the reactor holding its charge point, without
    /// waiting: the outcome goes to `request.reply` later. That reactor
    /// validates `payload` (JSON object text) against the action's request
    /// schema for the connection's version, sends it when no other server
    /// CALL is outstanding on that connection (later ones queue), and
    /// replies with the validated answer, a CALLERROR, or `Timeout` after
    /// `timeout`. `Err` is the outcome now (nobody holds the charge point
    /// here, or that reactor's inbox is full or closed), and
    /// `request.reply` is then never called.
    pub fn start_call(&self, request: ServerCallRequest) -> Result<(), ServerCallOutcome> {
        let reactor = self
            .holder_inbox(&request.charge_point)
            .ok_or(ServerCallOutcome::NotConnected)?;
        reactor
            .try_send(ToReactor::ServerCall(Box::new(request)))
            .map_err(|e| match e {
                TrySendError::Full(_) => ServerCallOutcome::QueueFull,
                TrySendError::Disconnected(_) => ServerCallOutcome::Closed,
            })
    }

    /// Asks for a description of open connections without waiting: of the
    /// one of `charge_point` (its holder's reactor is asked), or of all
    /// (every reactor is asked). Each reactor that takes the request calls
    /// the `Deliver` made for it once, with its list.
    pub fn start_inspect(
        &self,
        charge_point: Option<&str>,
        mut reply: impl FnMut() -> Deliver<Vec<ConnectionInfo>>,
    ) -> Offered {
        match charge_point {
            Some(id) => match self.holder_inbox(id) {
                Some(reactor) => Offered::of([reactor.try_send(ToReactor::Inspect {
                    charge_points: Some(vec![id.into()]),
                    reply: reply(),
                })]),
                None => Offered::default(),
            },
            None => Offered::of(self.reactors.iter().map(|r| {
                r.try_send(ToReactor::Inspect {
                    charge_points: None,
                    reply: reply(),
                })
            })),
        }
    }

    /// A page of the ids held here (see [`IdRegistry::page`]).
    pub fn page_ids(&self, search: &str, offset: usize, limit: usize) -> IdPage {
        self.ids.page(search, offset, limit)
    }

    /// Asks the reactors holding the ids of `page` to describe them, one
    /// message per reactor that holds any, without waiting: a reactor
    /// looks at the connections asked about only, never at all of its own.
    pub fn start_inspect_page(
        &self,
        page: IdPage,
        mut reply: impl FnMut() -> Deliver<Vec<ConnectionInfo>>,
    ) -> Offered {
        let mut by_reactor: Vec<Vec<Box<str>>> = vec![Vec::new(); self.reactors.len()];
        for (id, conn) in page.ids {
            if let Some(ids) = by_reactor.get_mut(usize::from(conn.reactor)) {
                ids.push(id);
            }
        }
        Offered::of(
            self.reactors
                .iter()
                .zip(by_reactor)
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(reactor, ids)| {
                    reactor.try_send(ToReactor::Inspect {
                        charge_points: Some(ids),
                        reply: reply(),
                    })
                }),
        )
    }

    /// Asks the reactor holding `charge_point` to close its connection with
    /// `code`, without waiting; `reply` then says whether it did. Nobody
    /// asked (not held here, or the inbox is full) shows in the result.
    pub fn start_close(&self, charge_point: &str, code: u16, reply: Deliver<bool>) -> Offered {
        match self.holder_inbox(charge_point) {
            Some(reactor) => Offered::of([reactor.try_send(ToReactor::Close {
                charge_point: charge_point.into(),
                code,
                reply,
            })]),
            None => Offered::default(),
        }
    }

    /// Asks the reactor holding `charge_point` to start or stop tracing
    /// it, without waiting; `reply` then gives its trace (`None`: it was
    /// gone). Nobody asked (not held here, or the inbox is full) shows in
    /// the result.
    pub fn start_trace(
        &self,
        charge_point: &str,
        command: TraceCommand,
        reply: Deliver<Option<TraceReply>>,
    ) -> Offered {
        match self.holder_inbox(charge_point) {
            Some(reactor) => Offered::of([reactor.try_send(ToReactor::Trace {
                charge_point: charge_point.into(),
                command,
                reply,
            })]),
            None => Offered::default(),
        }
    }

    /// Closes `conn` (its charge point connected elsewhere). Waits only
    /// while that reactor's inbox is full; the reactor drains it.
    pub fn evict(&self, conn: ConnRef) {
        if let Some(reactor) = self.reactors.get(usize::from(conn.reactor)) {
            let _ = reactor.send(ToReactor::Evict { conn });
        }
    }
}
