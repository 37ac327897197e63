//! A reactor: one thread, one mio event loop, one listener, the connections
//! it accepted, their timers and its inbox.
//!
//! Nothing else touches a connection. Sockets are non-blocking and the only
//! channel operation on this thread is `try_send`, so a reactor never
//! blocks except in `poll`. A connection, its ping timer and its close all
//! live here, which is why a ping can never race a close.

mod connection;
mod handshake;
mod listener;
mod memory;
mod server_calls;
pub mod slab;
pub mod timer_wheel;
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
use self::server_calls::{Outstanding, reply};
use self::slab::{Slab, SlotKey};
use self::timer_wheel::TimerWheel;
use self::transport::Transport;
use crate::config::Config;
use crate::journal::{Direction, JournalRecord, JournalSender, Kind, Payload};
use crate::metrics::{ReactorCounters, ReactorStats};
use crate::ocpp::frame::{self, Frame};
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
    counters: &mut ReactorCounters,
) -> Result<(), TrySendError<Utf8Bytes>> {
    let call = InboundCall {
        conn: conn_ref,
        charge_point: conn.charge_point.clone(),
        version: conn.version,
        frame,
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

    // ---- accepting and handshaking -------------------------------------

    /// Accepts on the plain (`tls == false`) or the TLS listener until it
    /// would block.
    fn accept(&mut self, tls: bool) {
        loop {
            let listener = if tls {
                &self.tls_listener
            } else {
                &self.listener
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.start_handshake(stream, peer, tls),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE and friends: the pending connection stays in the
                    // backlog; edge-triggered readiness will not fire again, so
                    // retry at the next tick.
                    warn!("reactor {}: accept failed: {e}; retrying", self.index);
                    self.accept_paused = true;
                    return;
                }
            }
        }
    }

    fn start_handshake(&mut self, mut stream: TcpStream, peer: std::net::SocketAddr, tls: bool) {
        // Small frames both ways: do not let Nagle hold answers back.
        let _ = stream.set_nodelay(true);
        let key = self.conns.insert(Connection::new(peer, self.now));
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, token_of(key), interest)
        {
            warn!("reactor {}: cannot register {peer}: {e}", self.index);
            self.conns.remove(key);
            return;
        }
        // On the TLS port the one timer covers TLS handshake and upgrade.
        let timeout = if tls {
            self.config.tls.handshake_timeout
        } else {
            self.config.websocket.handshake_timeout
        };
        self.schedule(timeout, key, TimerKind::Handshake);
        let mut callback = GateCallback {
            gate: self.gate.clone(),
            client: None,
        };
        let transport = match (&self.tls, tls) {
            (Some(store), true) => {
                let identity = transport::ClientIdentity::default();
                if self.config.tls.client_ca.is_some() {
                    callback.client = Some(identity.clone());
                }
                let tally = self.tls_tally.clone();
                match Transport::tls(store.current(), stream, identity, tally) {
                    Ok(t) => t,
                    Err(e) => {
                        warn!("reactor {}: TLS setup for {peer}: {e}", self.index);
                        self.conns.remove(key);
                        return;
                    }
                }
            }
            _ => Transport::Plain(stream),
        };
        self.gate.current.set(Some(self.conn_ref(key)));
        let step = tungstenite::accept_hdr_with_config(transport, callback, Some(self.ws_config));
        self.after_handshake_step(key, step);
    }

    fn continue_handshake(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Link::Handshaking(mid) = std::mem::replace(&mut conn.link, Link::Detached) else {
            return;
        };
        self.gate.current.set(Some(self.conn_ref(key)));
        let step = mid.handshake();
        self.after_handshake_step(key, step);
    }

    fn after_handshake_step(
        &mut self,
        key: SlotKey,
        step: Result<
            tungstenite::WebSocket<Transport>,
            HandshakeError<
                tungstenite::handshake::server::ServerHandshake<Transport, GateCallback>,
            >,
        >,
    ) {
        let upgrade = self.gate.take_upgrade();
        let refusal = self.gate.take_refusal();
        for old in self.gate.take_evictions() {
            self.evict(old);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(upgrade) = upgrade {
            conn.counted = true;
            conn.charge_point = upgrade.charge_point;
            if let Some(v) = upgrade.version {
                conn.version = v;
            } else {
                conn.close_after_answer = Some((CloseCode::Protocol, "no supported subprotocol"));
            }
        }
        match step {
            Ok(ws) => {
                conn.link = Link::Open(ws);
                self.on_open(key);
            }
            Err(HandshakeError::Interrupted(mid)) => conn.link = Link::Handshaking(mid),
            Err(HandshakeError::Failure(e)) => {
                if let Some(refusal) = refusal {
                    self.counters.count_refusal(refusal.status);
                    info!(
                        "refused {} with HTTP {}: {}",
                        conn.peer, refusal.status, refusal.reason
                    );
                } else {
                    self.counters.handshakes_failed += 1;
                    debug!("handshake with {} failed: {e}", conn.peer);
                }
                self.remove(key, "handshake failed");
            }
        }
    }

    fn on_open(&mut self, key: SlotKey) {
        self.counters.handshakes_accepted += 1;
        let ws = &self.config.websocket;
        let (ping, dead) = (ws.ping_interval, ws.ping_interval + ws.pong_timeout);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.last_rx = self.now;
        if let Some((code, reason)) = conn.close_after_answer.take() {
            info!(
                "{} from {}: {reason}; closing",
                conn.charge_point, conn.peer
            );
            self.close(key, code, reason);
            return;
        }
        info!(
            "connected {} from {} ({}) on reactor {}",
            conn.charge_point, conn.peer, conn.version, self.index
        );
        self.ids.insert(conn.charge_point.clone(), key);
        let record = JournalRecord::connect(conn.charge_point.clone(), self.index, conn.peer);
        self.journal(record);
        self.schedule(ping, key, TimerKind::Ping);
        self.schedule(dead, key, TimerKind::Idle);
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
            Ok(Frame::Call { .. }) => {
                self.dispatch(key, text);
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
    fn dispatch(&mut self, key: SlotKey, frame: Utf8Bytes) {
        let conn_ref = self.conn_ref(key);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match hand_over(&self.processors, conn_ref, conn, frame, &mut self.counters) {
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
            match hand_over(&self.processors, conn_ref, conn, frame, &mut self.counters) {
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
                }) => {
                    // The reply channel has a place per reactor: never blocks.
                    let _ = reply.try_send(self.inspect(charge_point.as_deref()));
                }
                Ok(ToReactor::Close {
                    charge_point,
                    code,
                    reply,
                }) => {
                    let found = self.open_key(&charge_point);
                    if let Some(key) = found {
                        self.close(key, CloseCode::from(code), "closed by the operator");
                    }
                    let _ = reply.try_send(found.is_some());
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

    // ---- timers ----------------------------------------------------------

    fn expire_timers(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.expire(self.now, &mut due);
        for timer in due.drain(..) {
            self.on_timer(timer);
        }
        self.due = due;
    }

    fn on_timer(&mut self, timer: TimerKey) {
        let key = timer.key;
        // A timer of a closed connection, or of its slot's previous occupant,
        // finds nothing: that is the whole of cancellation.
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let ws = &self.config.websocket;
        match timer.kind {
            TimerKind::Handshake => {
                if let Link::Handshaking(mid) = &conn.link {
                    if mid.get_ref().get_ref().tls_handshaking() {
                        let timeouts = &self.tls_tally.timeout;
                        timeouts.set(timeouts.get() + 1);
                    }
                    self.counters.handshake_timeouts += 1;
                    debug!("handshake with {} timed out", conn.peer);
                    self.remove(key, "handshake timeout");
                }
            }
            TimerKind::Ping => {
                if conn.closing {
                    return;
                }
                let interval = ws.ping_interval;
                self.counters.pings_sent += 1;
                if let Fate::Drop(why) = conn.send_ping() {
                    self.remove(key, why);
                    return;
                }
                self.schedule(interval, key, TimerKind::Ping);
            }
            TimerKind::Idle => {
                let dead_after = ws.ping_interval + ws.pong_timeout;
                let silent = self.now.saturating_duration_since(conn.last_rx);
                if silent >= dead_after {
                    self.counters.dead_peer_closes += 1;
                    info!(
                        "{} from {}: nothing received for {:?}; dropping dead peer",
                        conn.charge_point, conn.peer, silent
                    );
                    self.remove(key, "dead peer");
                } else {
                    let at = conn.last_rx + dead_after;
                    self.wheel.schedule(
                        at,
                        TimerKey {
                            key,
                            kind: TimerKind::Idle,
                        },
                    );
                }
            }
            TimerKind::CloseDeadline => {
                self.counters.close_timeouts += 1;
                self.remove(key, "no close reply");
            }
            TimerKind::ServerCall(seq) => {
                let Some(calls) = conn.server_calls.as_mut() else {
                    return;
                };
                if calls.outstanding.as_ref().is_some_and(|o| o.seq == seq) {
                    if let Some(call) = calls.outstanding.take() {
                        self.counters.server_calls_timed_out += 1;
                        reply(&call.reply, self.index, ServerCallOutcome::Timeout);
                    }
                    self.send_next_server_call(key);
                }
            }
        }
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
        match conn.start_close(code, reason) {
            Fate::Keep => {
                let timeout = self.config.websocket.close_timeout;
                self.schedule(timeout, key, TimerKind::CloseDeadline);
                self.read_frames(key);
            }
            Fate::Drop(why) => self.remove(key, why),
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
        match conn.fail(code, reason) {
            Fate::Keep => {
                let timeout = self.config.websocket.close_timeout;
                self.schedule(timeout, key, TimerKind::CloseDeadline);
            }
            Fate::Drop(why) => self.remove(key, why),
        }
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
            calls.fail_all(self.index, &ServerCallOutcome::Closed);
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

    // ---- journal -------------------------------------------------------------

    /// Hands a record to the journal without waiting; a full queue keeps
    /// it in the reactor's backlog (never dropped, order kept).
    fn journal(&mut self, record: JournalRecord) {
        let Some(journal) = &self.journal else {
            return;
        };
        if !self.journal_backlog.is_empty() {
            self.journal_backlog.push_back(record);
            return;
        }
        if let Err(TrySendError::Full(record)) = journal.try_send(record) {
            self.journal_backlog.push_back(record);
        }
    }

    fn flush_journal_backlog(&mut self) {
        let Some(journal) = &self.journal else {
            return;
        };
        while let Some(record) = self.journal_backlog.pop_front() {
            match journal.try_send(record) {
                Ok(()) => {}
                Err(TrySendError::Full(record)) => {
                    self.journal_backlog.push_front(record);
                    return;
                }
                // The journal has stopped (shutdown): nothing more can be kept.
                Err(TrySendError::Disconnected(_)) => {
                    self.journal_backlog.clear();
                    return;
                }
            }
        }
    }

    // ---- duplicate ids -----------------------------------------------------

    /// Closes `old` (1008): its charge point has connected again. On another
    /// reactor, asks that reactor; its inbox being full only delays this.
    fn evict(&mut self, old: ConnRef) {
        if old.reactor != self.index {
            self.pending_evictions.push(old);
            self.retry_evictions();
            return;
        }
        let key = SlotKey {
            slot: old.slot,
            generation: old.generation,
        };
        let Some(conn) = self.conns.get_mut(key) else {
            return; // already gone
        };
        if conn.closing {
            return;
        }
        info!(
            "{} from {}: replaced by a newer connection; closing 1008",
            conn.charge_point, conn.peer
        );
        self.counters.replaced_connections += 1;
        if self.ids.get(&conn.charge_point) == Some(&key) {
            let id = conn.charge_point.clone();
            self.ids.remove(&id);
        }
        self.close(key, CloseCode::Policy, "replaced by a newer connection");
    }

    fn retry_evictions(&mut self) {
        if self.pending_evictions.is_empty() {
            return;
        }
        let control = self.control.clone();
        self.pending_evictions
            .retain(|&old| match control.reactor(old.reactor) {
                Some(reactor) => matches!(
                    reactor.try_send(ToReactor::Evict { conn: old }),
                    Err(TrySendError::Full(_))
                ),
                None => false,
            });
    }

    // ---- inspection --------------------------------------------------------

    /// Open connections of this reactor, for the admin API (allocates only
    /// when asked).
    fn inspect(&mut self, charge_point: Option<&str>) -> Vec<ConnectionInfo> {
        let wall_now = std::time::SystemTime::now();
        let wall = |at: Instant| {
            let ago = self.now.saturating_duration_since(at);
            humantime::format_rfc3339_millis(wall_now - ago).to_string()
        };
        let keys: Vec<SlotKey> = match charge_point {
            Some(id) => self.ids.get(id).copied().into_iter().collect(),
            None => self.ids.values().copied().collect(),
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closing) else {
                continue;
            };
            out.push(ConnectionInfo {
                id: conn.charge_point.to_string(),
                remote_address: conn.peer.to_string(),
                subprotocol: conn.version.subprotocol(),
                reactor: self.index,
                connected_at: wall(conn.connected_at),
                last_frame_at: wall(conn.last_rx),
                boot: conn.boot.as_deref().cloned(),
            });
        }
        out
    }

    // ---- server-initiated calls -----------------------------------------

    /// The open (not closing) connection of a charge point on this reactor.
    fn open_key(&mut self, charge_point: &str) -> Option<SlotKey> {
        let key = self.ids.get(charge_point).copied()?;
        let conn = self.conns.get_mut(key)?;
        (matches!(conn.link, Link::Open(_)) && !conn.closing).then_some(key)
    }

    fn on_server_call(&mut self, request: ServerCallRequest) {
        let Some(key) = self.open_key(&request.charge_point) else {
            reply(&request.reply, self.index, ServerCallOutcome::NotConnected);
            return;
        };
        let capacity = self.config.channels.capacity;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Err(violation) =
            server_call::check_request(conn.version, &request.action, &request.payload)
        {
            let outcome = ServerCallOutcome::InvalidRequest(violation);
            reply(&request.reply, self.index, outcome);
            return;
        }
        let calls = conn.server_calls.get_or_insert_with(Box::default);
        if calls.outstanding.is_none() {
            self.send_server_call(key, request);
        } else if calls.queued.len() < capacity {
            // OCPP-J §4.1.1: one CALL at a time; the rest wait their turn.
            calls.queued.push_back(request);
        } else {
            reply(&request.reply, self.index, ServerCallOutcome::QueueFull);
        }
    }

    fn send_server_call(&mut self, key: SlotKey, request: ServerCallRequest) {
        let Some(conn) = self.conns.get_mut(key) else {
            reply(&request.reply, self.index, ServerCallOutcome::Closed);
            return;
        };
        let seq = self.next_call_seq;
        self.next_call_seq = self.next_call_seq.wrapping_add(1);
        let message_id = format!("gw{}-{seq}", self.index);
        let mut text = String::with_capacity(request.payload.len() + 64);
        frame::write_call(&mut text, &message_id, &request.action, &request.payload);
        let record = match (
            &self.journal,
            Payload::from_json(request.payload.to_string()),
        ) {
            (Some(_), Ok(payload)) => Some(JournalRecord::message(
                conn.charge_point.clone(),
                self.index,
                Direction::Out,
                Kind::ServerCall,
                Some(&request.action),
                &message_id,
                payload,
            )),
            _ => None,
        };
        let calls = conn.server_calls.get_or_insert_with(Box::default);
        calls.outstanding = Some(Outstanding {
            message_id: message_id.into_boxed_str(),
            seq,
            action: request.action,
            reply: request.reply,
        });
        self.counters.server_calls_sent += 1;
        if let Some(record) = record {
            self.journal(record);
        }
        self.schedule(request.timeout, key, TimerKind::ServerCall(seq));
        self.send(key, text.into());
    }

    fn send_next_server_call(&mut self, key: SlotKey) {
        let next = self
            .conns
            .get_mut(key)
            .and_then(|c| c.server_calls.as_mut())
            .and_then(|calls| calls.queued.pop_front());
        if let Some(request) = next {
            self.send_server_call(key, request);
        }
    }

    /// A CALLRESULT (`Ok(payload)`) or CALLERROR from the charge point.
    fn on_call_answer(&mut self, key: SlotKey, id: &str, answer: Result<&str, ServerCallOutcome>) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let version = conn.version;
        let ours = conn
            .server_calls
            .as_mut()
            .filter(|c| c.outstanding.as_ref().is_some_and(|o| &*o.message_id == id))
            .and_then(|c| c.outstanding.take());
        let Some(call) = ours else {
            // Not an answer to anything we sent, or one after its timeout.
            self.counters.unsolicited_results += 1;
            debug!(
                "{}: result for unknown message id {id:?} ignored",
                conn.charge_point
            );
            return;
        };
        let outcome = match answer {
            Ok(payload) => match server_call::check_response(version, &call.action, payload) {
                Ok(()) => ServerCallOutcome::Result(payload.to_owned()),
                Err(violation) => ServerCallOutcome::InvalidResponse {
                    payload: payload.to_owned(),
                    violation,
                },
            },
            Err(error) => error,
        };
        self.counters.server_calls_answered += 1;
        let mut record = None;
        if self.journal.is_some() {
            let (kind, payload) = match &outcome {
                ServerCallOutcome::Error { details, .. } => (Kind::Error, details.as_str()),
                ServerCallOutcome::Result(p)
                | ServerCallOutcome::InvalidResponse { payload: p, .. } => {
                    (Kind::Result, p.as_str())
                }
                _ => (Kind::Result, "{}"),
            };
            if let Ok(payload) = Payload::from_json(payload.to_owned()) {
                let mut answer = JournalRecord::message(
                    conn.charge_point.clone(),
                    self.index,
                    Direction::In,
                    kind,
                    Some(&call.action),
                    id,
                    payload,
                );
                if let ServerCallOutcome::Error {
                    code, description, ..
                } = &outcome
                {
                    answer.extra = crate::journal::Extra::Error {
                        code: code.as_str().into(),
                        description: description.clone().into(),
                    };
                }
                record = Some(answer);
            }
        }
        reply(&call.reply, self.index, outcome);
        if conn.server_calls.as_ref().is_some_and(|c| c.is_idle()) {
            conn.server_calls = None;
        }
        if let Some(record) = record {
            self.journal(record);
        }
        self.send_next_server_call(key);
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
