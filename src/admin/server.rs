//! The admin thread: one mio event loop serving the admin port: its
//! listener, its connections (a slab), their deadlines, and the replies of
//! reactors.
//!
//! Nothing here blocks except `poll`. Sockets are non-blocking; a request
//! that needs reactors or a charge point is handed over with `try_send`
//! (through [`AdminHandle`]) and its connection waits, without a thread, for
//! the reply, which a reactor pushes into `replies` and announces with the
//! waker. Every wait has a deadline checked each turn.
//!
//! Limits, all enforced before the bearer token is looked at:
//! * at most `max_connections` connections; one more gets a canned 503,
//!   written without reading, and is closed;
//! * a request holds at most `max_header_bytes` of head (else 431) and
//!   `max_body_bytes` of body (a larger `Content-Length` is 413 before the
//!   body is read); a connection buffers at most `max_header_bytes` until
//!   the head is complete, then reads up to the end of that request only;
//! * a request must arrive within `read_timeout` of its first byte (408);
//! * at most `max_commands_in_flight` commands wait for charge points (503).
//!
//! Invariant: `replies_owed` (replies promised by reactors, not yet taken)
//! never exceeds the reply channel's capacity, so a reactor's `try_send`
//! into it always finds room and no reply is lost.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::warn;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::counters::{AdminCounters, Refused};
use super::http::{self, Head, Limits, Parsed, Refusal, Response};
use super::routes::{self, BearerToken, Route};
use super::status::History;
use crate::cross_thread::AdminHandle;
use crate::slab::{Slab, SlotKey, key_of, token_of};

mod pending;
mod queued;
mod waiting;

use self::pending::{Pending, Reply};

pub(super) const WAKER: Token = Token(usize::MAX);
pub(super) const LISTENER: Token = Token(usize::MAX - 1);
/// Bytes asked of a socket per read (one buffer, shared by all connections).
const READ_CHUNK: usize = 16 << 10;
/// After a refusal sent before its request was read to the end, at most
/// this many more bytes are read and thrown away (so the client reads the
/// answer rather than a reset) before the socket is closed.
const LINGER_BYTES: usize = 64 << 10;
/// New connections taken from the listen queue per turn; the rest wait for
/// the next turn, so a connect flood cannot starve open connections.
const ACCEPTS_PER_TURN: usize = 64;
/// Readiness events taken from the kernel per `poll` call.
const EVENTS_PER_POLL: usize = 256;

/// Everything the admin thread is started with.
pub(super) struct Setup {
    pub gateway: Arc<AdminHandle>,
    pub poll: Poll,
    /// Registered with `poll` under [`LISTENER`].
    pub listener: TcpListener,
    /// Registered with `poll` under [`WAKER`].
    pub waker: Arc<Waker>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Read the next request (keep-alive).
    ReadNext,
    Close,
    /// Close after reading and dropping what the client still sends (up
    /// to `LINGER_BYTES`): its request was refused before it was read whole.
    Linger,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Receiving a request (idle while nothing of it has come).
    Receiving,
    /// The request is with reactors or a charge point; a `Pending` entry
    /// names this connection. Nothing more is read meanwhile.
    Waiting,
    /// Sending the response in `output`.
    Sending(Then),
    /// Our answer is sent and our side shut: dropping the client's bytes
    /// until it closes, `LINGER_BYTES`, or the deadline.
    Lingering { discarded: usize },
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// The request being received: at most `max_header_bytes` until its
    /// head is complete, then at most its head and declared body (at most
    /// `max_body_bytes`).
    input: Vec<u8>,
    /// Set once the head in `input` is complete and accepted.
    head: Option<Head>,
    output: Vec<u8>,
    written: usize,
    /// When the current wait of this connection (idle, receiving, sending,
    /// lingering) ends; `None` while Waiting (the `Pending` has its own).
    deadline: Option<Instant>,
}

/// The admin thread's state, owned by it alone.
struct Server {
    gateway: Arc<AdminHandle>,
    limits: Limits,
    max_connections: usize,
    max_commands_in_flight: usize,
    read_timeout: Duration,
    call_timeout: Duration,
    stall_after: Duration,
    tick: Duration,
    token: Option<BearerToken>,
    poll: Poll,
    listener: TcpListener,
    waker: Arc<Waker>,
    /// When to accept again: the budget of a turn ran out, or accepting
    /// failed (out of descriptors: retried a tick later).
    accept_again: Option<Instant>,
    /// The canned answer to a connection over `max_connections`.
    too_many: Vec<u8>,
    conns: Slab<Conn>,
    pending: HashMap<u64, Pending>,
    next_ticket: u64,
    replies: Receiver<Reply>,
    reply_sender: Sender<Reply>,
    /// Capacity of `replies`; `replies_owed` never exceeds it.
    reply_capacity: usize,
    replies_owed: usize,
    read_buffer: Box<[u8]>,
    /// Keys of the open connections, gathered afresh (not reallocated)
    /// each time deadlines are looked at.
    due: Vec<SlotKey>,
    counters: AdminCounters,
    /// The status page's last minutes, sampled by this loop.
    history: History,
    started: Instant,
    now: Instant,
}

/// Serves the admin port until the gateway stops. Called on the admin thread.
pub(super) fn run(setup: Setup) {
    let config = &setup.gateway.config;
    let admin = &config.admin;
    let reply_capacity = config.channels.capacity;
    let (reply_sender, replies) = crossbeam_channel::bounded(reply_capacity);
    let now = Instant::now();
    let too_many = routes::error(
        503,
        format!(
            "more than admin.max_connections ({}) connections",
            admin.max_connections
        ),
    )
    .encode(true);
    let mut server = Server {
        limits: Limits {
            max_header_bytes: admin.max_header_bytes,
            max_headers: admin.max_headers,
            max_body_bytes: admin.max_body_bytes,
        },
        max_connections: admin.max_connections,
        max_commands_in_flight: admin.max_commands_in_flight,
        read_timeout: admin.read_timeout,
        call_timeout: admin.call_timeout,
        stall_after: admin.stall_after,
        tick: config.reactors.timer_tick,
        token: admin.bearer_token.as_deref().map(BearerToken::new),
        poll: setup.poll,
        listener: setup.listener,
        waker: setup.waker,
        accept_again: None,
        too_many,
        conns: Slab::default(),
        pending: HashMap::new(),
        next_ticket: 0,
        replies,
        reply_sender,
        reply_capacity,
        replies_owed: 0,
        read_buffer: vec![0; READ_CHUNK].into_boxed_slice(),
        due: Vec::new(),
        counters: AdminCounters::default(),
        history: History::new(now),
        started: now,
        now,
        gateway: setup.gateway,
    };
    server.run();
}

impl Server {
    fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while !self.gateway.is_stopping() {
            self.now = Instant::now();
            self.history.sample_if_due(&self.gateway, self.now);
            self.take_replies();
            self.expire();
            if self.accept_again.is_some_and(|at| at <= self.now) {
                self.accept();
            }
            // The tick bounds the sleep so that shutdown is noticed.
            let timeout = self
                .next_deadline()
                .map_or(self.tick, |at| at.saturating_duration_since(self.now))
                .min(self.tick);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!("admin: poll failed: {e}");
                }
                continue;
            }
            self.now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    // Replies are taken at the top of the loop.
                    WAKER => {}
                    LISTENER => self.accept(),
                    token => self.on_ready(key_of(token)),
                }
            }
        }
    }

    /// The earliest deadline of a connection, a pending request, or accepting.
    fn next_deadline(&mut self) -> Option<Instant> {
        self.due.clear();
        self.due.extend(self.conns.keys());
        let mut next = self.accept_again;
        for &key in &self.due {
            if let Some(at) = self.conns.get_mut(key).and_then(|c| c.deadline) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        let pending = self.pending.values().map(|p| p.deadline);
        next.into_iter().chain(pending).min()
    }

    // ---- connections -----------------------------------------------------

    fn accept(&mut self) {
        self.accept_again = None;
        for _ in 0..ACCEPTS_PER_TURN {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if crate::net::accept_next_after(&e) => {}
                Err(e) => {
                    // Out of descriptors, mostly: the listen queue holds the
                    // newcomers until a tick later.
                    warn!("admin: cannot accept: {e}");
                    self.accept_again = Some(self.now + self.tick);
                    return;
                }
            }
        }
        // Edge-triggered: no new event comes for what is already queued.
        self.accept_again = Some(self.now);
    }

    fn admit(&mut self, stream: TcpStream) {
        if self.conns.len() >= self.max_connections {
            self.counters.count(Refused::TooManyConnections);
            // A fresh socket's send buffer takes this whole, or the client is
            // gone; either way nothing is read and nothing waits.
            let _ = (&stream).write(&self.too_many);
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
        let _ = stream.set_nodelay(true);
        let key = self.conns.insert(Conn {
            stream,
            state: State::Receiving,
            input: Vec::new(),
            head: None,
            output: Vec::new(),
            written: 0,
            deadline: Some(self.now + self.read_timeout),
        });
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut conn.stream, token_of(key), interest)
        {
            warn!("admin: cannot register a connection: {e}");
            self.conns.remove(key);
        }
        // A request already waiting is reported at registration: no read here.
    }

    fn on_ready(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // a stale event for a closed connection
        };
        match conn.state {
            State::Receiving => self.receive(key),
            // The next request waits in the kernel until this one is answered.
            State::Waiting => {}
            State::Sending(_) => self.flush(key),
            State::Lingering { .. } => self.linger(key),
        }
    }

    /// Receives the current request, then routes it. Returns when the
    /// socket would block, the request is complete, or the connection is
    /// gone. While the head is incomplete at most `max_header_bytes` are
    /// held in all (they may run into the body, or into a pipelined next
    /// request); once the head is known, reads stop at the request's end.
    fn receive(&mut self, key: SlotKey) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            // What is held already may settle the request (a pipelined one
            // is held from the previous request's reads).
            if conn.head.is_none() && !conn.input.is_empty() {
                match http::parse_head(&conn.input, &self.limits) {
                    Parsed::Partial => {}
                    Parsed::Refused(refusal) => return self.refuse(key, refusal),
                    Parsed::Complete(head) => {
                        if !self.admit_head(key, head) {
                            return;
                        }
                        continue;
                    }
                }
            }
            let room = match &conn.head {
                // Partial: below the limit, or it would have been refused.
                None => self.limits.max_header_bytes - conn.input.len(),
                Some(head) => (head.len + head.content_length).saturating_sub(conn.input.len()),
            };
            if room == 0 {
                return self.dispatch(key);
            }
            let want = room.min(self.read_buffer.len());
            let n = match conn.stream.read(&mut self.read_buffer[..want]) {
                Ok(0) => return self.remove(key),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.remove(key),
            };
            if conn.input.is_empty() {
                // The request's first byte: it has read_timeout to arrive whole.
                conn.deadline = Some(self.now + self.read_timeout);
            }
            conn.input.extend_from_slice(&self.read_buffer[..n]);
        }
    }

    /// Checks a complete head before its body is read: the bearer token, and
    /// `Expect: 100-continue`. False if the request has been answered.
    fn admit_head(&mut self, key: SlotKey, head: Head) -> bool {
        if let Some(token) = &self.token
            && routes::needs_token(&head.target)
            && !head
                .authorization
                .as_deref()
                .is_some_and(|a| token.admits(a))
        {
            self.counters.count(Refused::Unauthorized);
            // With a body still unread, the stream cannot be reused.
            let then = match (head.content_length, head.keep_alive) {
                (0, true) => Then::ReadNext,
                (0, false) => Then::Close,
                _ => Then::Linger,
            };
            if let Some(conn) = self.conns.get_mut(key) {
                // Answered: what follows its head is the next request.
                conn.input.drain(..head.len.min(conn.input.len()));
            }
            self.send(key, &routes::unauthorized(), then);
            return false;
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return false;
        };
        let body_waits = head.content_length > 0 && conn.input.len() == head.len;
        if head.expects_continue && body_waits {
            // Tiny, and sent before anything else: a short write means the
            // socket is broken.
            if !matches!((&conn.stream).write(http::CONTINUE), Ok(n) if n == http::CONTINUE.len()) {
                self.remove(key);
                return false;
            }
        }
        conn.head = Some(head);
        true
    }

    /// Answers a request refused before it was read whole, then lingers.
    fn refuse(&mut self, key: SlotKey, refusal: Refusal) {
        self.counters.count(refusal.into());
        let response = routes::error(refusal.status(), refusal.message(&self.limits));
        self.send(key, &response, Then::Linger);
    }

    /// A whole request is in `input`: routes it.
    fn dispatch(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(head) = conn.head.take() else {
            return;
        };
        // What follows this request is the start of the next one.
        let next = conn.input.split_off(head.len + head.content_length);
        let input = std::mem::replace(&mut conn.input, next);
        let body = input.get(head.len..).unwrap_or_default();
        self.counters.requests += 1;
        let keep_alive = head.keep_alive;
        // None: the request waits for reactors or a charge point.
        let response = match routes::route(&head.method, &head.target, body, self.call_timeout) {
            Route::Answer(response) => Some(response),
            Route::Health => Some(routes::health(&self.gateway, self.started)),
            Route::Status { history } => {
                let up = self.now.saturating_duration_since(self.started);
                let status = super::status::status(&self.gateway, &self.history, history, up);
                Some(routes::json_response(200, &status))
            }
            Route::TraceTail {
                charge_point,
                lines,
            } => {
                let directory = self.gateway.config.trace.directory.as_deref();
                Some(super::page::trace_tail(directory, &charge_point, lines))
            }
            Route::Metrics => {
                self.counters.connections = self.conns.len() as u64;
                let text = super::prometheus::render(&self.gateway, &self.counters);
                Some(routes::metrics(text))
            }
            Route::Call {
                charge_point,
                command,
            } => self.start_call(key, keep_alive, charge_point, command),
            Route::List(query) => self.start_list(key, keep_alive, query),
            Route::Detail { charge_point } => self.start_detail(key, keep_alive, charge_point),
            Route::Close { charge_point, code } => {
                self.start_close(key, keep_alive, charge_point, code)
            }
            Route::Trace {
                charge_point,
                minutes,
            } => self.start_trace(key, keep_alive, charge_point, minutes),
            Route::Commands { charge_point } => self.start_commands(key, keep_alive, charge_point),
            Route::Command { command_id, cancel } => {
                self.start_command(key, keep_alive, command_id, cancel)
            }
        };
        if let Some(response) = response {
            self.respond(key, &response, keep_alive);
        }
    }

    fn respond(&mut self, key: SlotKey, response: &Response, keep_alive: bool) {
        let then = if keep_alive {
            Then::ReadNext
        } else {
            Then::Close
        };
        self.send(key, response, then);
    }

    fn send(&mut self, key: SlotKey, response: &Response, then: Then) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.output = response.encode(then != Then::ReadNext);
        conn.written = 0;
        if then != Then::ReadNext {
            // No next request will be read on this connection.
            conn.input = Vec::new();
        }
        conn.state = State::Sending(then);
        // The client has read_timeout to take the answer.
        conn.deadline = Some(self.now + self.read_timeout);
        self.flush(key);
    }

    fn flush(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Sending(then) = conn.state else {
            return;
        };
        while conn.written < conn.output.len() {
            match (&conn.stream).write(&conn.output[conn.written..]) {
                Ok(0) => return self.remove(key),
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.remove(key),
            }
        }
        conn.output = Vec::new();
        conn.written = 0;
        conn.head = None;
        match then {
            Then::ReadNext => {
                conn.state = State::Receiving;
                // Idle from now, or the start of a pipelined request held.
                conn.deadline = Some(self.now + self.read_timeout);
                // Edge-triggered: the next request may already be waiting.
                self.receive(key);
            }
            Then::Close => {
                let _ = conn.stream.shutdown(Shutdown::Write);
                self.remove(key);
            }
            Then::Linger => {
                let _ = conn.stream.shutdown(Shutdown::Write);
                conn.state = State::Lingering { discarded: 0 };
                self.linger(key);
            }
        }
    }

    fn linger(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Lingering { mut discarded } = conn.state else {
            return;
        };
        loop {
            let want = (LINGER_BYTES - discarded).min(self.read_buffer.len());
            if want == 0 {
                return self.remove(key);
            }
            match conn.stream.read(&mut self.read_buffer[..want]) {
                Ok(0) => return self.remove(key),
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.remove(key),
            }
        }
        conn.state = State::Lingering { discarded };
    }

    fn remove(&mut self, key: SlotKey) {
        // Dropping the stream closes it, which also removes it from epoll.
        self.conns.remove(key);
    }

    /// Cuts what has waited too long: idle connections (closed), requests
    /// not received whole (408), answers not taken, and requests whose
    /// reactors did not reply.
    fn expire(&mut self) {
        let now = self.now;
        self.due.clear();
        self.due.extend(self.conns.keys());
        for i in 0..self.due.len() {
            let key = self.due[i];
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.deadline.is_none_or(|d| d > now) {
                continue;
            }
            match conn.state {
                State::Receiving if conn.input.is_empty() => {
                    self.counters.count(Refused::Idle);
                    self.remove(key);
                }
                State::Receiving => {
                    self.counters.count(Refused::Timeout);
                    let message = format!(
                        "the request did not arrive within admin.read_timeout ({:?})",
                        self.read_timeout
                    );
                    self.send(key, &routes::error(408, message), Then::Close);
                    // Still here: it did not take even this; cut at once.
                    self.remove(key);
                }
                State::Sending(_) => {
                    self.counters.count(Refused::Timeout);
                    self.remove(key);
                }
                State::Lingering { .. } => self.remove(key),
                State::Waiting => {}
            }
        }
        self.expire_pending();
    }
}
