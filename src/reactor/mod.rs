//! A reactor: one thread, one mio event loop, one listener, the connections
//! it accepted, their timers and its inbox.
//!
//! Nothing else touches a connection. Sockets are non-blocking and the only
//! channel operation on this thread is `try_send`, so a reactor never
//! blocks except in `poll`. A connection, its ping timer and its close all
//! live here, which is why a ping can never race a close.

mod accept;
mod connection;
mod handshake;
mod journaling;
mod listener;
mod memory;
mod requests;
mod server_calls;
pub mod slab;
pub mod timer_wheel;
mod timers;
mod transport;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TryRecvError, TrySendError};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig as WsConfig;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, Utf8Bytes};

use self::connection::{Connection, Fate, Link, fate_of};
use self::handshake::{Gate, GateCallback};
use self::slab::{Slab, SlotKey};
use self::timer_wheel::TimerWheel;
use self::transport::Transport;
use crate::config::Config;
use crate::journal::{Direction, JournalRecord, JournalSender, Kind, Payload};
use crate::metrics::{ReactorCounters, ReactorStats};
use crate::ocpp::frame::{self, CallRanges, Frame};
use crate::ocpp::server_call;
use crate::pipeline::{
    BootInfo, ConnRef, ConnectionInfo, InboundCall, Inbox, ServerCallOutcome, ServerCallRequest,
    ToReactor,
};

pub use listener::bind_listeners;

const WAKER: Token = Token(usize::MAX);
const LISTENER: Token = Token(usize::MAX - 1);
/// The TLS listener (wss://), when `tls.enabled`.
const TLS_LISTENER: Token = Token(usize::MAX - 2);
/// Buckets of the timer wheel: with a 100 ms tick, one turn is ~100 s.
const WHEEL_BUCKETS: usize = 1024;
/// Readiness events taken from the kernel per `poll` call.
const EVENTS_PER_POLL: usize = 1024;

/// Everything a reactor thread is started with.
pub struct ReactorSetup {
    pub index: u16,
    pub config: Arc<Config>,
    pub poll: Poll,
    /// Plain ws:// listener (`None` when `listen.plain = false`).
    pub listener: Option<TcpListener>,
    /// wss:// listener and the TLS configuration store, when `tls.enabled`.
    pub tls_listener: Option<(TcpListener, Arc<crate::tls::TlsStore>)>,
    pub inbox: Inbox,
    pub processors: Sender<InboundCall>,
    pub open_connections: Arc<AtomicUsize>,
    /// Read for the shutdown flag only.
    pub control: Arc<crate::gateway::Control>,
    pub stats: Arc<ReactorStats>,
    pub journal: Option<JournalSender>,
}

impl ReactorSetup {
    pub fn waker(poll: &Poll) -> io::Result<mio::Waker> {
        mio::Waker::new(poll.registry(), WAKER)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    Handshake,
    Ping,
    /// Dead-peer check: nothing received for `ping_interval + pong_timeout`.
    Idle,
    CloseDeadline,
    /// The server-initiated CALL with this sequence number timed out.
    ServerCall(u32),
}

#[derive(Clone, Copy, Debug)]
struct TimerKey {
    key: SlotKey,
    kind: TimerKind,
}

struct Reactor {
    index: u16,
    config: Arc<Config>,
    ws_config: WsConfig,
    poll: Poll,
    listener: Option<TcpListener>,
    tls_listener: Option<TcpListener>,
    tls: Option<Arc<crate::tls::TlsStore>>,
    /// TLS handshake outcomes, counted by the connections' transports.
    tls_tally: std::rc::Rc<transport::TlsTally>,
    /// Accepting hit the fd limit; retried at the next tick.
    accept_paused: bool,
    gate: std::rc::Rc<Gate>,
    conns: Slab<Connection>,
    /// Charge point id -> its connection on this reactor (open ones only).
    ids: HashMap<Arc<str>, SlotKey>,
    /// Sequence of server-initiated CALLs; also their message ids.
    next_call_seq: u32,
    wheel: TimerWheel<TimerKey>,
    /// Expired timers, reused every tick.
    due: Vec<TimerKey>,
    inbox: Inbox,
    processors: Sender<InboundCall>,
    /// Connections holding a CALL the full processor queue refused, oldest first.
    stalled: Vec<SlotKey>,
    /// Evictions for other reactors whose inbox was full; retried every turn.
    pending_evictions: Vec<ConnRef>,
    journal: Option<JournalSender>,
    /// Records the journal queue refused (full), oldest first. Never
    /// dropped; while any wait, no new connection is accepted.
    journal_backlog: VecDeque<JournalRecord>,
    control: Arc<crate::gateway::Control>,
    /// Set once shutdown has begun: when everything must be gone.
    shutdown_deadline: Option<Instant>,
    counters: ReactorCounters,
    stats: Arc<ReactorStats>,
    last_publish: Instant,
    trimmer: memory::Trimmer,
    /// Time at the start of the current loop turn.
    now: Instant,
}

/// Offers a connection's CALL to the processor queue without waiting; on
/// success the connection has a CALL in flight. On failure the frame comes
/// back to be held.
fn hand_over(
    processors: &Sender<InboundCall>,
    conn_ref: ConnRef,
    conn: &mut Connection,
    frame: Utf8Bytes,
    parts: Option<CallRanges>,
    counters: &mut ReactorCounters,
) -> Result<(), TrySendError<Utf8Bytes>> {
    let call = InboundCall {
        conn: conn_ref,
        charge_point: conn.charge_point.clone(),
        version: conn.version,
        frame,
        parts,
    };
    match processors.try_send(call) {
        Ok(()) => {
            conn.in_flight = true;
            counters.calls_dispatched += 1;
            Ok(())
        }
        Err(TrySendError::Full(call)) => Err(TrySendError::Full(call.frame)),
        Err(TrySendError::Disconnected(call)) => Err(TrySendError::Disconnected(call.frame)),
    }
}

fn token_of(key: SlotKey) -> Token {
    Token(((key.generation as usize) << 32) | key.slot as usize)
}

fn key_of(token: Token) -> SlotKey {
    SlotKey {
        slot: token.0 as u32,
        generation: (token.0 >> 32) as u32,
    }
}

/// Runs one reactor until shutdown completes. Called on the reactor's thread.
pub fn run(setup: ReactorSetup) {
    let now = Instant::now();
    let config = setup.config.clone();
    let ws = &config.websocket;
    let ws_config = WsConfig::default()
        .read_buffer_size(ws.read_buffer_size)
        .write_buffer_size(0)
        .max_write_buffer_size(ws.max_write_buffer_size)
        .max_message_size(Some(ws.max_message_size))
        .max_frame_size(Some(ws.max_message_size));
    let mut listener = setup.listener;
    let (mut tls_listener, tls) = match setup.tls_listener {
        Some((l, store)) => (Some(l), Some(store)),
        None => (None, None),
    };
    for (l, token) in [(&mut listener, LISTENER), (&mut tls_listener, TLS_LISTENER)] {
        let Some(l) = l else { continue };
        if let Err(e) = setup.poll.registry().register(l, token, Interest::READABLE) {
            warn!("reactor {}: cannot register listener: {e}", setup.index);
            return;
        }
    }
    let mut reactor = Reactor {
        index: setup.index,
        gate: Gate::new(
            config.clone(),
            setup.open_connections,
            setup.control.clone(),
        ),
        wheel: TimerWheel::new(WHEEL_BUCKETS, config.reactors.timer_tick, now),
        config,
        ws_config,
        poll: setup.poll,
        listener,
        tls_listener,
        tls,
        tls_tally: Default::default(),
        accept_paused: false,
        conns: Slab::default(),
        ids: HashMap::new(),
        next_call_seq: 0,
        due: Vec::new(),
        inbox: setup.inbox,
        processors: setup.processors,
        stalled: Vec::new(),
        pending_evictions: Vec::new(),
        journal: setup.journal,
        journal_backlog: VecDeque::new(),
        control: setup.control,
        shutdown_deadline: None,
        counters: ReactorCounters::default(),
        stats: setup.stats,
        last_publish: now,
        trimmer: memory::Trimmer::new(now),
        now,
    };
    reactor.run();
}

impl Reactor {
    fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let tick = self.config.reactors.timer_tick;
        // Readers (/health, start-up) see this reactor alive before its first tick.
        self.publish();
        loop {
            self.now = Instant::now();
            self.expire_timers();
            self.drain_inbox();
            self.retry_stalled();
            self.retry_evictions();
            self.flush_journal_backlog();
            if self.accept_paused && self.journal_backlog.is_empty() {
                self.accept_paused = false;
                self.accept(false);
                self.accept(true);
            }
            if self.control.is_stopping() && self.shutdown_deadline.is_none() {
                self.begin_shutdown();
            }
            if let Some(deadline) = self.shutdown_deadline
                && (self.conns.is_empty() || self.now >= deadline)
            {
                self.force_close_all();
                self.publish();
                info!("reactor {} stopped", self.index);
                return;
            }
            if self.now.duration_since(self.last_publish) >= tick {
                self.publish();
            }
            let next_tick = self.wheel.next_expiry().unwrap_or(self.now + tick);
            let mut timeout = next_tick.saturating_duration_since(self.now).min(tick);
            if !self.inbox.prepare_sleep() {
                timeout = Duration::ZERO;
            }
            let polled = self.poll.poll(&mut events, Some(timeout));
            self.inbox.woke();
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!("reactor {}: poll failed: {e}", self.index);
                }
                continue;
            }
            self.now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    // A journal backlog pauses accepting: the kernel's
                    // listen queue holds newcomers (retried each turn).
                    LISTENER | TLS_LISTENER if !self.journal_backlog.is_empty() => {
                        self.accept_paused = true
                    }
                    LISTENER => self.accept(false),
                    TLS_LISTENER => self.accept(true),
                    token => {
                        let readable =
                            event.is_readable() || event.is_read_closed() || event.is_error();
                        self.on_ready(key_of(token), readable, event.is_writable());
                    }
                }
            }
        }
    }

    fn publish(&mut self) {
        self.counters.connections_open = self.conns.len() as u64;
        let (t, c) = (&self.tls_tally, &mut self.counters);
        c.tls_ok_tls12 = t.ok_tls12.get();
        c.tls_ok_tls13 = t.ok_tls13.get();
        c.tls_failed_client_certificate = t.client_certificate.get();
        c.tls_failed_peer_alert = t.peer_alert.get();
        c.tls_failed_incompatible = t.incompatible.get();
        c.tls_failed_protocol = t.protocol.get();
        c.tls_failed_eof = t.eof.get();
        c.tls_failed_timeout = t.timeout.get();
        self.stats.publish(&self.counters);
        self.last_publish = self.now;
        if self.trimmer.due(self.now) {
            // Structures that keep their peak size for allocation-free steady
            // state give it back after a burst of disconnects.
            self.wheel.shrink();
            self.ids.shrink_to_fit();
            self.due.shrink_to_fit();
            self.trimmer.trim(self.now);
        }
    }

    fn conn_ref(&self, key: SlotKey) -> ConnRef {
        ConnRef {
            reactor: self.index,
            slot: key.slot,
            generation: key.generation,
        }
    }

    fn schedule(&mut self, after: Duration, key: SlotKey, kind: TimerKind) {
        self.wheel
            .schedule(self.now + after, TimerKey { key, kind });
    }

    // ---- readiness -------------------------------------------------------

    fn on_ready(&mut self, key: SlotKey, readable: bool, writable: bool) {
        // A stale token (its connection gone, its slot reused) finds nothing.
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.link {
            Link::Handshaking(_) => self.continue_handshake(key),
            Link::Open(_) => {
                if writable && conn.flush() != Fate::Keep {
                    self.remove(key, "write failed");
                    return;
                }
                if readable {
                    self.read_frames(key);
                }
            }
            Link::Detached => {}
        }
    }

    /// Reads frames until the socket would block or the connection must wait
    /// (a CALL in flight). Edge-triggered readiness: whoever stops reading
    /// early must come back here, which `on_answer` does.
    fn read_frames(&mut self, key: SlotKey) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.discarding {
                if let Fate::Drop(why) = conn.discard_input() {
                    self.remove(key, why);
                }
                return;
            }
            if !conn.wants_read() {
                return;
            }
            let Link::Open(ws) = &mut conn.link else {
                return;
            };
            let message = match ws.read() {
                Ok(message) => message,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if conn.flush() != Fate::Keep {
                        self.remove(key, "write failed");
                    }
                    return;
                }
                Err(tungstenite::Error::Capacity(e)) => {
                    debug!("{}: {e}", conn.charge_point);
                    self.fail(key, CloseCode::Size, "message too big");
                    return;
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    self.close(key, CloseCode::Invalid, "text frame is not UTF-8");
                    return;
                }
                Err(tungstenite::Error::Protocol(e)) if !conn.closing => {
                    debug!("{}: WebSocket protocol error: {e}", conn.charge_point);
                    self.fail(key, CloseCode::Protocol, "WebSocket protocol error");
                    return;
                }
                Err(e) => {
                    let why = match fate_of(e) {
                        Fate::Drop(why) => why,
                        Fate::Keep => "closed",
                    };
                    self.remove(key, why);
                    return;
                }
            };
            conn.last_rx = self.now;
            match message {
                Message::Text(text) => {
                    self.counters.frames_in += 1;
                    if !conn.closing {
                        self.on_text(key, text);
                    }
                }
                Message::Binary(_) => {
                    self.close(
                        key,
                        CloseCode::Unsupported,
                        "OCPP-J accepts text frames only",
                    );
                }
                // Pongs to pings are queued by tungstenite and flushed above.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                // tungstenite queued the close reply; the next read ends it.
                Message::Close(frame) => {
                    if !conn.closing {
                        // The peer closed first: its code is the one to journal.
                        conn.close_code = frame.map_or(1005, |f| f.code.into());
                    }
                    conn.closing = true;
                }
            }
        }
    }

    fn on_text(&mut self, key: SlotKey, text: Utf8Bytes) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let version = conn.version;
        let reply = match frame::parse(text.as_str()) {
            Ok(call @ Frame::Call { .. }) => {
                // Handed over with the frame so the processor need not parse it again.
                let parts = call.call_ranges(text.as_str());
                self.dispatch(key, text, parts);
                return;
            }
            Ok(Frame::CallResult { id, payload }) => {
                self.on_call_answer(key, &id, Ok(payload.get()));
                return;
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
                details,
            }) => {
                self.counters.callerrors_received += 1;
                let error = ServerCallOutcome::Error {
                    code: code.into_owned(),
                    description: description.into_owned(),
                    details: details.get().to_owned(),
                };
                self.on_call_answer(key, &id, Err(error));
                return;
            }
            Err(e) => {
                self.counters.frame_errors += 1;
                debug!("{}: bad frame: {e}", conn.charge_point);
                frame::frame_error_reply(version, &e)
            }
        };
        if let Some(reply) = reply {
            self.send(key, reply.into());
        }
    }

    /// Hands a CALL to the processors, or holds it while their queue is full.
    fn dispatch(&mut self, key: SlotKey, frame: Utf8Bytes, parts: Option<CallRanges>) {
        let conn_ref = self.conn_ref(key);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match hand_over(
            &self.processors,
            conn_ref,
            conn,
            frame,
            parts,
            &mut self.counters,
        ) {
            Ok(()) => {}
            Err(TrySendError::Full(frame)) => {
                // Backpressure: keep the frame, stop reading this connection
                // (TCP then slows the charge point), retry every turn.
                conn.held = Some(frame);
                self.stalled.push(key);
                self.counters.backpressure_stalls += 1;
            }
            Err(TrySendError::Disconnected(_)) => {
                self.close(key, CloseCode::Away, "gateway shutting down");
            }
        }
    }

    fn retry_stalled(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let mut stalled = std::mem::take(&mut self.stalled);
        let mut done = 0;
        for &key in &stalled {
            let conn_ref = self.conn_ref(key);
            let Some(conn) = self.conns.get_mut(key) else {
                done += 1;
                continue;
            };
            let Some(frame) = conn.held.take() else {
                done += 1;
                continue;
            };
            // A held frame is handed over without its ranges (rare: backpressure).
            match hand_over(
                &self.processors,
                conn_ref,
                conn,
                frame,
                None,
                &mut self.counters,
            ) {
                Ok(()) => done += 1,
                Err(TrySendError::Full(frame) | TrySendError::Disconnected(frame)) => {
                    // The queue is full: the rest would fail too; keep order.
                    conn.held = Some(frame);
                    break;
                }
            }
        }
        stalled.drain(..done);
        // New stalls may have been added meanwhile; they queue behind the old.
        stalled.append(&mut self.stalled);
        self.stalled = stalled;
    }

    fn send(&mut self, key: SlotKey, text: Utf8Bytes) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        self.counters.frames_out += 1;
        if let Fate::Drop(why) = conn.send_text(text) {
            self.remove(key, why);
        }
    }

    // ---- inbox -----------------------------------------------------------

    fn drain_inbox(&mut self) {
        // Bounded: a flood of answers cannot starve the sockets.
        for _ in 0..self.config.channels.capacity {
            match self.inbox.receiver.try_recv() {
                Ok(ToReactor::Answer { conn, frame, boot }) => self.on_answer(conn, frame, boot),
                Ok(ToReactor::Inspect {
                    charge_point,
                    reply,
                }) => reply.send(self.inspect(charge_point.as_deref())),
                Ok(ToReactor::Close {
                    charge_point,
                    code,
                    reply,
                }) => {
                    let found = self.open_key(&charge_point);
                    if let Some(key) = found {
                        self.close(key, CloseCode::from(code), "closed by the operator");
                    }
                    reply.send(found.is_some());
                }
                Ok(ToReactor::ServerCall(request)) => self.on_server_call(*request),
                Ok(ToReactor::Evict { conn }) => self.evict(conn),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    fn on_answer(&mut self, conn_ref: ConnRef, frame: Utf8Bytes, boot: Option<Box<BootInfo>>) {
        let key = SlotKey {
            slot: conn_ref.slot,
            generation: conn_ref.generation,
        };
        let Some(conn) = self.conns.get_mut(key) else {
            self.counters.answers_for_closed += 1;
            return;
        };
        conn.in_flight = false;
        if boot.is_some() {
            conn.boot = boot;
        }
        let close_after = conn.close_after_answer.take();
        if !frame.is_empty() {
            self.send(key, frame);
        }
        if let Some((code, reason)) = close_after {
            self.close(key, code, reason);
        }
        // The connection stopped reading while its CALL was out: resume.
        self.read_frames(key);
    }

    // ---- closing ---------------------------------------------------------

    /// Sends a close frame and waits (up to `close_timeout`) for the reply.
    fn close(&mut self, key: SlotKey, code: CloseCode, reason: &'static str) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.closing {
            return;
        }
        self.counters.count_close(code.into());
        debug!("closing {} ({code}: {reason})", conn.charge_point);
        let fate = conn.start_close(code, reason);
        if self.await_close(key, fate) {
            // The peer's close reply may already be waiting.
            self.read_frames(key);
        }
    }

    /// After our close frame: wait for the peer until the close deadline,
    /// or drop now if the socket is already done. True if still open.
    fn await_close(&mut self, key: SlotKey, fate: Fate) -> bool {
        match fate {
            Fate::Keep => {
                let timeout = self.config.websocket.close_timeout;
                self.schedule(timeout, key, TimerKind::CloseDeadline);
                true
            }
            Fate::Drop(why) => {
                self.remove(key, why);
                false
            }
        }
    }

    /// Fails the connection after a frame the codec could not take (too big,
    /// malformed): close frame, FIN, discard the rest until EOF or the close
    /// deadline. The codec is not read again: after such an error its state
    /// no longer describes the byte stream.
    fn fail(&mut self, key: SlotKey, code: CloseCode, reason: &'static str) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        self.counters.count_close(code.into());
        debug!("failing {} ({code}: {reason})", conn.charge_point);
        let fate = conn.fail(code, reason);
        self.await_close(key, fate);
    }

    fn remove(&mut self, key: SlotKey, why: &str) {
        let Some(mut conn) = self.conns.remove(key) else {
            return;
        };
        self.trimmer.count_disconnect();
        if self.ids.get(&conn.charge_point) == Some(&key) {
            self.ids.remove(&conn.charge_point);
        }
        if let Link::Open(ws) = &mut conn.link {
            // TLS: tell the peer the session ended on purpose (close_notify),
            // best effort; a no-op for plain sockets.
            ws.get_mut().close_notify();
        }
        if let Some(calls) = conn.server_calls.as_mut() {
            calls.fail_all(&ServerCallOutcome::Closed);
        }
        if conn.counted {
            self.gate.release();
            let conn_ref = self.conn_ref(key);
            self.gate.unregister(&conn.charge_point, conn_ref);
            let reason = match conn.close_reason {
                Some(ours) if ours != why => format!("{ours} ({why})"),
                _ => why.to_owned(),
            };
            let record = JournalRecord::disconnect(
                conn.charge_point.clone(),
                self.index,
                conn.close_code,
                reason,
            );
            self.journal(record);
            info!(
                "disconnected {} from {}: {why}",
                conn.charge_point, conn.peer
            );
        }
        // Dropping the stream closes the socket, which also removes it from epoll.
    }

    fn begin_shutdown(&mut self) {
        let grace = self.config.shutdown.grace;
        self.shutdown_deadline = Some(self.now + grace);
        for mut listener in [self.listener.take(), self.tls_listener.take()]
            .into_iter()
            .flatten()
        {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        info!(
            "reactor {}: shutting down, closing {} connections",
            self.index,
            self.conns.len()
        );
        let keys: Vec<SlotKey> = self.conns.keys().collect();
        for key in keys {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            match conn.link {
                Link::Open(_) if conn.in_flight => {
                    // Let the processors answer first, then close.
                    conn.close_after_answer = Some((CloseCode::Away, "gateway shutting down"));
                }
                Link::Open(_) => self.close(key, CloseCode::Away, "gateway shutting down"),
                _ => self.remove(key, "gateway shutting down"),
            }
        }
    }

    fn force_close_all(&mut self) {
        let keys: Vec<SlotKey> = self.conns.keys().collect();
        for key in keys {
            self.remove(key, "shutdown grace period over");
        }
    }
}
