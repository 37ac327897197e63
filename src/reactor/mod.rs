//! A reactor: one thread, one mio event loop, one listener, the connections
//! it accepted, their timers and its inbox.
//!
//! Nothing else touches a connection. Sockets are non-blocking and the only
//! channel operation on this thread is `try_send`, so a reactor never
//! blocks except in `poll`. A connection, its ping timer and its close all
//! live here, which is why a ping can never race a close.
//!
//! Every file of this module runs on the reactor's own thread. What it
//! shares with other threads is only what [`ReactorSetup`] hands it: its
//! inbox, the processor queue, the journal queue, atomics (open
//! connections, [`ReactorTallies`], stats), the id registry, the
//! credential and TLS stores, the stop signal and the other reactors'
//! inboxes (evictions): all from [`crate::cross_thread`], none of it
//! blocking. The OCPP-J rules it applies
//! are pure code in [`crate::ocpp`]: the upgrade order
//! ([`crate::ocpp::handshake`]), the server-call state machine and the
//! answers to broken frames ([`crate::ocpp::session`]).
//!
//! This file: the loop, closing and removing connections. Beside it:
//! `accept` (listeners, upgrade steps), `handshake` (the tungstenite
//! callback and `Admission`), `connection` (one connection's
//! socket), `reading` (frames in), `inbox` (what other threads ask),
//! `server_calls` (driving each connection's session), `timers`,
//! `journaling`, `give_back` (shrinking after disconnects), `transport`
//! (ws/wss under tungstenite).

mod accept;
mod connection;
mod frame_meter;
mod give_back;
mod handshake;
mod inbox;
mod journaling;
mod listener;
mod profiles;
mod queue_notes;
mod reading;
mod server_calls;
pub mod timer_wheel;
mod timers;
mod tls_server;
mod token_bucket;
mod tracing;
mod transport;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TryRecvError, TrySendError};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig as WsConfig;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, Utf8Bytes};

use self::connection::{Connection, KeepOrDrop, Link, WRITE_BUFFER_FULL, keep_or_drop};
use self::handshake::{Admission, HandshakeCallback};
use self::timer_wheel::TimerWheel;
use self::transport::Transport;
use crate::auth::CredentialStore;
use crate::config::{BootFacts, Config, ProfileTable};
use crate::cross_thread::{
    AnswerHere, AnsweredHere, CallAnswer, ConnRef, ConnectionInfo, IdRegistry, InboundCall, Inbox,
    MemoryStats, ReactorHandle, ReactorTallies, ServerCallOutcome, ServerCallRequest, StopSignal,
    ToReactor,
};
use crate::cross_thread::{Direction, JournalRecord, JournalSender, Kind, Payload};
use crate::cross_thread::{QueueSender, TraceEnd, TraceSender, TracedFrame};
use crate::cross_thread::{ReactorCounters, ReactorStats};
use crate::ocpp::frame::{self, CallRanges, Frame};
use crate::ocpp::session::CallIds;
use crate::slab::{Slab, SlotKey, key_of, token_of};

pub use listener::{SocketBuffers, bind_listeners};

const WAKER: Token = Token(usize::MAX);
const LISTENER: Token = Token(usize::MAX - 1);
/// The TLS listener (wss://), when `tls.enabled`.
const TLS_LISTENER: Token = Token(usize::MAX - 2);
/// Buckets of the timer wheel: with a 100 ms tick, one turn is ~100 s.
const WHEEL_BUCKETS: usize = 1024;
/// Readiness events taken from the kernel per `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// tungstenite's initial read buffer for wss connections (at most
/// `websocket.read_buffer_size`): see `run`.
const WSS_READ_BUFFER: usize = 256;

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
    /// `[[profiles]]` in force at start (SIGHUP sends the next ones).
    pub profiles: Arc<ProfileTable>,
    pub open_connections: Arc<AtomicUsize>,
    /// Gateway-wide tallies the reactors keep together (handshakes in
    /// progress, bytes in partly received messages).
    pub tallies: Arc<ReactorTallies>,
    pub memory: Arc<MemoryStats>,
    /// Which connection holds each charge point id, all reactors.
    pub ids: Arc<IdRegistry>,
    /// Basic Auth credentials in force (read per handshake).
    pub credentials: Arc<CredentialStore>,
    /// Read at every turn: has shutdown begun, and by when must it end.
    pub stop: Arc<StopSignal>,
    /// Every reactor's inbox, for evicting a replaced connection on another.
    pub peers: Arc<[ReactorHandle]>,
    pub stats: Arc<ReactorStats>,
    pub journal: Option<JournalSender>,
    /// Answers `processors.inline_actions` here (`None`: every CALL goes
    /// to the processors).
    pub inline: Option<Box<dyn AnswerHere>>,
    /// The trace writer's queue, when `[trace] directory` is set.
    pub trace: Option<TraceSender>,
    /// The command queue's keeper, told when a session is ready for kept
    /// commands and when it goes.
    pub queue: Option<QueueSender>,
}

impl ReactorSetup {
    pub fn waker(poll: &Poll) -> io::Result<mio::Waker> {
        mio::Waker::new(poll.registry(), WAKER)
    }
}

/// A reactor's share of the gateway-wide tallies: each connection records
/// what it added, so its share is taken back exactly once.
trait ConnectionTallies {
    fn end_handshake(&self, conn: &mut Connection) -> bool;
    fn set_buffered(&self, conn: &mut Connection, now: usize) -> usize;
}

impl ConnectionTallies for ReactorTallies {
    /// Releases a connection's place among the handshakes in progress;
    /// true if it held one.
    fn end_handshake(&self, conn: &mut Connection) -> bool {
        let held = std::mem::take(&mut conn.handshaking);
        if held {
            self.handshakes.fetch_sub(1, Ordering::AcqRel);
        }
        held
    }

    /// Brings a connection's share of the buffered bytes to `now`; returns
    /// the gateway-wide total after the change.
    fn set_buffered(&self, conn: &mut Connection, now: usize) -> usize {
        let before = std::mem::replace(&mut conn.buffered, now);
        if now >= before {
            self.buffered_bytes
                .fetch_add(now - before, Ordering::AcqRel)
                + (now - before)
        } else {
            self.buffered_bytes
                .fetch_sub(before - now, Ordering::AcqRel)
                - (before - now)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    Handshake,
    /// A ping is due; the number is the connection's ping epoch when it was
    /// set, so a chain replaced by a profile change finds a newer epoch and
    /// stops (timers are never cancelled).
    Ping(u8),
    /// Dead-peer check: nothing received for `ping_interval + pong_timeout`.
    Idle,
    CloseDeadline,
    /// The server-initiated CALL with this sequence number timed out.
    ServerCall(u32),
    /// The message with this sequence number (of the connection's frame
    /// meter) must be complete by now (`websocket.message_timeout`).
    MessageDeadline(u32),
    /// A CALL held for the call rate may go now.
    CallToken,
    /// An operator's trace of the connection may be over (it is, if its
    /// `until` has passed: a later request moves `until`, not the timer).
    TraceEnd,
}

#[derive(Clone, Copy, Debug)]
struct TimerKey {
    key: SlotKey,
    kind: TimerKind,
}

/// tungstenite's settings for plain and for TLS connections (which differ
/// only in their read buffer, see `run`).
#[derive(Clone, Copy)]
struct WsConfigs {
    plain: WsConfig,
    tls: WsConfig,
}

impl WsConfigs {
    /// The settings of a connection over `transport`.
    fn of(&self, transport: &Transport) -> WsConfig {
        match transport.is_tls() {
            true => self.tls,
            false => self.plain,
        }
    }
}

struct Reactor {
    index: u16,
    config: Arc<Config>,
    ws_configs: WsConfigs,
    poll: Poll,
    listener: Option<TcpListener>,
    tls_listener: Option<TcpListener>,
    tls: Option<Arc<crate::tls::TlsStore>>,
    /// TLS handshake outcomes, counted by the connections' transports.
    tls_tally: std::rc::Rc<transport::TlsTally>,
    /// Accepting stopped (fd limit, journal backlog, handshake cap);
    /// retried every turn.
    accept_paused: bool,
    /// A listener's per-turn accept budget ran out with sockets perhaps
    /// still waiting: [plain, tls]. Accepting goes on next turn.
    accept_more: [bool; 2],
    admission: std::rc::Rc<Admission>,
    conns: Slab<Connection>,
    /// Charge point id -> its connection on this reactor (open ones only).
    ids: HashMap<Arc<str>, SlotKey>,
    /// Message ids of server-initiated CALLs, unique on this reactor.
    call_ids: CallIds,
    wheel: TimerWheel<TimerKey>,
    /// Expired timers, reused every tick.
    due: Vec<TimerKey>,
    inbox: Inbox,
    processors: Sender<InboundCall>,
    /// The CALLs this reactor answers itself (see `processor::inline`).
    inline: Option<Box<dyn AnswerHere>>,
    /// Connections holding a CALL the full processor queue refused, oldest first.
    stalled: Vec<SlotKey>,
    /// Connections with input left to read on a later turn: their read
    /// budget ran out, or reading resumed after a pause. Each at most once
    /// (`Connection::read_queued`).
    read_queue: Vec<SlotKey>,
    /// Connections waiting for room under `websocket.max_buffered_bytes`,
    /// oldest first.
    buffer_waiters: VecDeque<SlotKey>,
    tallies: Arc<ReactorTallies>,
    /// This reactor's unfinished handshakes, oldest first (stale keys of
    /// finished ones are skipped and pruned): at `listen.max_handshakes`
    /// the oldest is dropped for a newcomer.
    handshake_order: VecDeque<SlotKey>,
    /// Unfinished handshakes on this reactor.
    handshakes_here: usize,
    /// Evictions for other reactors whose inbox was full; retried every turn.
    pending_evictions: Vec<ConnRef>,
    journal: Option<JournalSender>,
    /// Records the journal queue refused (full), oldest first. Never
    /// dropped; while any wait, no new connection is accepted, and past
    /// `journal.reactor_backlog` no connection is read.
    journal_backlog: VecDeque<JournalRecord>,
    /// Records made during this turn, handed to the journal at its end
    /// (see `journaling`).
    journal_turn: Vec<JournalRecord>,
    /// Frame traces: the queue to the trace writer and what waits for it.
    tracer: tracing::Tracer,
    /// Ready/gone notices for the command queue, and those that wait.
    queue_notes: queue_notes::QueueNotes,
    /// The journal backlog is full: no connection is read until it drains.
    reads_paused: bool,
    /// When reading last resumed after `reads_paused` (dead-peer clock).
    reads_resumed_at: Instant,
    /// Server-call timers made useless by an answer in time; the wheel is
    /// pruned of them when they outnumber the live entries.
    abandoned_timers: usize,
    stop: Arc<StopSignal>,
    /// Every reactor's inbox (evictions on another reactor).
    peers: Arc<[ReactorHandle]>,
    /// Set once shutdown has begun: when everything must be gone.
    shutdown_deadline: Option<Instant>,
    counters: ReactorCounters,
    stats: Arc<ReactorStats>,
    last_publish: Instant,
    give_back: give_back::GiveBack,
    /// Where the reactor asks for free pages to be returned (another thread trims).
    memory: Arc<MemoryStats>,
    /// `[[profiles]]` in force (replaced at SIGHUP); connections hold an
    /// index into it.
    profiles: Arc<ProfileTable>,
    /// Open connections per profile index, recounted at each publish
    /// (reused: no allocation per tick).
    profile_counts: Vec<u64>,
    /// Time at the start of the current loop turn.
    now: Instant,
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
    // A wss connection's socket reads land in the TLS layer's own buffer,
    // held only while it holds bytes; tungstenite's read buffer then takes
    // copies of decrypted bytes, so a small one costs no system calls, and
    // it is resident memory for every idle connection.
    let wss_config = ws_config.read_buffer_size(ws.read_buffer_size.min(WSS_READ_BUFFER));
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
        admission: Admission::new(
            config.clone(),
            setup.open_connections,
            setup.ids,
            setup.credentials,
            setup.profiles.clone(),
        ),
        wheel: TimerWheel::new(WHEEL_BUCKETS, config.reactors.timer_tick, now),
        profiles: setup.profiles.clone(),
        profile_counts: Vec::new(),
        config,
        ws_configs: WsConfigs {
            plain: ws_config,
            tls: wss_config,
        },
        poll: setup.poll,
        listener,
        tls_listener,
        tls,
        tls_tally: Default::default(),
        accept_paused: false,
        accept_more: [false; 2],
        conns: Slab::default(),
        ids: HashMap::new(),
        call_ids: CallIds::new(setup.index),
        due: Vec::new(),
        inbox: setup.inbox,
        processors: setup.processors,
        inline: setup.inline,
        stalled: Vec::new(),
        read_queue: Vec::new(),
        buffer_waiters: VecDeque::new(),
        tallies: setup.tallies,
        handshake_order: VecDeque::new(),
        handshakes_here: 0,
        pending_evictions: Vec::new(),
        journal: setup.journal,
        journal_backlog: VecDeque::new(),
        journal_turn: Vec::new(),
        tracer: tracing::Tracer::new(setup.trace),
        queue_notes: queue_notes::QueueNotes::new(setup.queue, setup.config.channels.capacity),
        reads_paused: false,
        reads_resumed_at: now,
        abandoned_timers: 0,
        stop: setup.stop,
        peers: setup.peers,
        shutdown_deadline: None,
        counters: ReactorCounters::default(),
        stats: setup.stats,
        last_publish: now,
        give_back: give_back::GiveBack::new(now),
        memory: setup.memory,
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
        // When the last poll returned: the work from then to the next poll
        // is this reactor's load (one more clock read per turn).
        let mut turn_started = Instant::now();
        loop {
            self.now = Instant::now();
            self.expire_timers();
            self.drain_inbox();
            self.retry_stalled();
            self.retry_evictions();
            self.flush_journal_backlog();
            if self.tracer.has_backlog() {
                self.tracer.retry();
            }
            if self.queue_notes.has_backlog() {
                self.queue_notes.retry();
            }
            self.resume_buffer_waiters();
            self.serve_read_queue();
            self.accept_again();
            if self.stop.is_stopping() && self.shutdown_deadline.is_none() {
                self.begin_shutdown();
            }
            if let Some(deadline) = self.shutdown_deadline
                && (self.conns.is_empty() || self.now >= deadline)
            {
                self.force_close_all();
                self.hand_journal_turn();
                self.publish();
                info!("reactor {} stopped", self.index);
                return;
            }
            if self.now.duration_since(self.last_publish) >= tick {
                self.publish();
            }
            // Last before `poll`: what this turn journaled goes out together.
            self.hand_journal_turn();
            let next_tick = self.wheel.next_expiry().unwrap_or(self.now + tick);
            let mut timeout = next_tick.saturating_duration_since(self.now).min(tick);
            // Work left over from this turn: look for events, do not sleep.
            let more = (!self.read_queue.is_empty() && !self.reads_paused)
                || (self.accept_more.contains(&true) && !self.accept_paused);
            if more || !self.inbox.prepare_sleep() {
                timeout = Duration::ZERO;
            }
            let working = turn_started.elapsed();
            self.counters.busy_nanos += u64::try_from(working.as_nanos()).unwrap_or(u64::MAX);
            let polled = self.poll.poll(&mut events, Some(timeout));
            self.inbox.woke();
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!("reactor {}: poll failed: {e}", self.index);
                }
                continue;
            }
            self.now = Instant::now();
            turn_started = self.now;
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
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
        c.traced_connections = self.tracer.traced;
        c.trace_frames_dropped = self.tracer.dropped;
        c.queue_notes_dropped = self.queue_notes.dropped;
        c.trace_starts_refused = self.tracer.starts_refused;
        self.stats.publish(&self.counters);
        if let Some(inline) = &self.inline {
            inline.publish();
        }
        self.publish_profile_counts();
        self.last_publish = self.now;
        self.prune_timers();
        if self.give_back.due(self.now) {
            // Structures that keep their peak size for allocation-free steady
            // state give it back after a burst of disconnects.
            self.wheel.shrink();
            self.ids.shrink_to_fit();
            self.due.shrink_to_fit();
            self.read_queue.shrink_to_fit();
            self.journal_turn.shrink_to_fit();
            self.buffer_waiters.shrink_to_fit();
            self.handshake_order.shrink_to_fit();
            self.give_back.given_back(self.now);
            self.memory.request_trim();
        }
    }

    fn conn_ref(&self, key: SlotKey) -> ConnRef {
        ConnRef {
            reactor: self.index,
            slot: key.slot,
            generation: key.generation,
        }
    }

    /// Drops timers that can no longer fire usefully (server calls answered
    /// in time) once they outnumber the live ones, so a stream of quick
    /// commands with long timeouts cannot grow the wheel.
    fn prune_timers(&mut self) {
        if self.abandoned_timers < 1024 || self.abandoned_timers < self.wheel.len() / 2 {
            return;
        }
        let conns = &mut self.conns;
        let before = self.wheel.len();
        self.wheel.retain(|timer| match timer.kind {
            TimerKind::ServerCall(seq) => conns
                .get_mut(timer.key)
                .is_some_and(|c| c.server_calls.awaits(seq)),
            _ => conns.get_mut(timer.key).is_some(),
        });
        self.counters.timers_pruned += (before - self.wheel.len()) as u64;
        self.abandoned_timers = 0;
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
                if writable && conn.flush() != KeepOrDrop::Keep {
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

    fn send(&mut self, key: SlotKey, text: Utf8Bytes) {
        let large = text.len() > self.config.websocket.read_buffer_size;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        self.counters.frames_out += 1;
        if conn.trace.is_some() {
            let frame = TracedFrame::Text(text.clone());
            self.tracer.frame(&conn.charge_point, Direction::Out, frame);
        }
        if let KeepOrDrop::Drop(why) = conn.send_text(text, large) {
            if why == WRITE_BUFFER_FULL {
                self.counters.write_buffer_full_drops += 1;
            }
            self.remove(key, why);
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
        if conn.trace.is_some() {
            let frame = TracedFrame::Close(Some((code.into(), Utf8Bytes::from_static(reason))));
            self.tracer.frame(&conn.charge_point, Direction::Out, frame);
        }
        let sent = conn.start_close(code, reason);
        if self.await_close(key, sent) {
            // The peer's close reply may already be waiting.
            self.read_frames(key);
        }
    }

    /// After our close frame: wait for the peer until the close deadline,
    /// or drop now if the socket is already done. True if still open.
    fn await_close(&mut self, key: SlotKey, sent: KeepOrDrop) -> bool {
        match sent {
            KeepOrDrop::Keep => {
                let timeout = self.config.websocket.close_timeout;
                self.schedule(timeout, key, TimerKind::CloseDeadline);
                true
            }
            KeepOrDrop::Drop(why) => {
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
        if conn.trace.is_some() {
            let frame = TracedFrame::Close(Some((code.into(), Utf8Bytes::from_static(reason))));
            self.tracer.frame(&conn.charge_point, Direction::Out, frame);
        }
        let sent = conn.fail(code, reason);
        if self.await_close(key, sent) {
            // What the peer still sends is discarded on the next turns,
            // within the read budget (edge-triggered readiness may not
            // announce what is already waiting).
            self.queue_read(key);
        }
    }

    fn remove(&mut self, key: SlotKey, why: &str) {
        let Some(mut conn) = self.conns.remove(key) else {
            return;
        };
        self.give_back.count_disconnect();
        if self.tallies.end_handshake(&mut conn) {
            self.handshakes_here -= 1;
        }
        self.tallies.set_buffered(&mut conn, 0);
        if conn.trace.is_some() {
            self.tracer.end(&conn.charge_point, TraceEnd::Disconnected);
        }
        if self.ids.get(&conn.charge_point) == Some(&key) {
            self.ids.remove(&conn.charge_point);
        }
        if let Link::Open(ws) = &mut conn.link {
            // TLS: tell the peer the session ended on purpose (close_notify),
            // best effort; a no-op for plain sockets.
            ws.get_mut().close_notify();
        }
        for closed in conn.server_calls.on_close() {
            closed.reply.send(closed.outcome);
        }
        if conn.queue_ready {
            self.queue_notes.gone(&conn.charge_point);
        }
        if conn.counted {
            self.admission.release();
            let conn_ref = self.conn_ref(key);
            self.admission.unregister(&conn.charge_point, conn_ref);
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
        let deadline = self.stop.connections_deadline();
        self.shutdown_deadline = Some(deadline.unwrap_or(self.now + grace));
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
