//! Starting and stopping a gateway: the one place that creates threads and
//! channels and wires them together.
//!
//! [`Control`] is what other threads (admin, tests, main) may use while the
//! gateway runs: it sends messages to reactors and reads published
//! counters; it never touches a connection.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TrySendError};
use log::{info, warn};

use crate::auth::{CredentialStore, Credentials};
use crate::bus::{Bus, BusStats};
use crate::config::{AuthConfig, Config, TlsConfig};
use crate::journal::{Journal, JournalHandle, JournalStats};
use crate::memory::MemoryStats;
use crate::metrics::{AnswerCounts, ProcessorStats, ReactorCounters, ReactorStats};
use crate::pipeline::{
    ConnRef, ConnectionInfo, Deliver, InboundCall, ReactorHandle, ReplyTo, ServerCallOutcome,
    ServerCallRequest, ToReactor, reactor_inbox,
};
use crate::processor::{self, BeforeAnswer, Policy, ProcessorSetup};
use crate::reactor::{self, ReactorSetup, SharedLimits};
use crate::registry::{PresenceChange, Registry};

/// How long `start` waits for every reactor to publish its counters once
/// (each does so as its loop starts) before it starts the admin API.
const FIRST_PUBLISH_WAIT: Duration = Duration::from_secs(1);

/// Optional hooks for embedding the gateway (tests use them to make a
/// handler slow or fail).
#[derive(Default, Clone)]
pub struct Extensions {
    pub before_answer: Option<BeforeAnswer>,
}

/// The running gateway as other threads see it.
pub struct Control {
    pub config: Arc<Config>,
    /// The plain listener's address (the TLS one if there is no plain one).
    pub local_addr: SocketAddr,
    /// The TLS listener's address, when `tls.enabled`.
    pub tls_addr: Option<SocketAddr>,
    /// Certificate and key in force for new TLS connections.
    tls: Option<Arc<crate::tls::TlsStore>>,
    reactors: Arc<[ReactorHandle]>,
    reactor_stats: Vec<Arc<ReactorStats>>,
    processor_stats: Vec<Arc<ProcessorStats>>,
    /// Held only to read the processor queue's depth.
    calls_queue: Receiver<InboundCall>,
    open_connections: Arc<AtomicUsize>,
    /// Gateway-wide tallies of the reactors (handshakes, buffered bytes).
    shared_limits: Arc<SharedLimits>,
    /// The memory trimmer's work, for /metrics.
    memory: Arc<MemoryStats>,
    stopping: AtomicBool,
    /// When everything must be over: `shutdown.grace` after shutdown began.
    stop_deadline: std::sync::OnceLock<Instant>,
    /// Reactor threads still running.
    reactors_running: AtomicUsize,
    /// Which connection holds each charge point id, over all reactors.
    /// Locked at handshake and at disconnect only, never per frame.
    registry: Mutex<Registry>,
    /// Basic Auth credentials and allow list; replaced whole on reload.
    credentials: CredentialStore,
    /// The journal writer, for its counters; taken at the end of `join`.
    journal: Mutex<Option<JournalHandle>>,
    /// The bus bridge's counters, when `bus.kind = "nats"`.
    bus_stats: Option<Arc<BusStats>>,
}

/// How a message offered to reactor inboxes without waiting fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Offered {
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

/// A running gateway. Dropping it does not stop it: call
/// [`shutdown`](Control::shutdown) and [`join`](GatewayHandle::join).
pub struct GatewayHandle {
    control: Arc<Control>,
    admin: Option<crate::admin::Admin>,
    bus: Option<Bus>,
    reactor_threads: Vec<JoinHandle<()>>,
    processor_threads: Vec<JoinHandle<()>>,
    trimmer_thread: JoinHandle<()>,
}

impl std::ops::Deref for GatewayHandle {
    type Target = Control;
    fn deref(&self) -> &Control {
        &self.control
    }
}

pub fn start(config: Config) -> io::Result<GatewayHandle> {
    start_with(config, Extensions::default())
}

pub fn start_with(mut config: Config, extensions: Extensions) -> io::Result<GatewayHandle> {
    config.bus.resolve_gateway_id();
    let config = Arc::new(config);
    let count = config.reactor_count();
    let capacity = config.channels.capacity;
    let policy = Arc::new(Policy::new(&config).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "ocpp.transaction_id_file {}: {e}",
                config.ocpp.transaction_id_file.display()
            ),
        )
    })?);
    // Certificates are read before any socket is opened: a bad file fails
    // the start, naming the key.
    let tls_store = if config.tls.enabled {
        let store = crate::tls::TlsStore::new(&config.tls)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Some(Arc::new(store))
    } else {
        None
    };
    let bind = |key: &str, address: SocketAddr| {
        let buffers = reactor::SocketBuffers {
            send: config.listen.socket_send_buffer,
            receive: config.listen.socket_receive_buffer,
        };
        reactor::bind_listeners(address, config.listen.backlog, count, buffers)
            .map_err(|e| io::Error::new(e.kind(), format!("{key} {address}: {e}")))
    };
    let plain: Vec<Option<mio::net::TcpListener>> = if config.listen.plain {
        bind("listen.address", config.listen.address)?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..count).map(|_| None).collect()
    };
    let secure: Vec<Option<mio::net::TcpListener>> = if tls_store.is_some() {
        bind("tls.address", config.tls.address)?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..count).map(|_| None).collect()
    };
    let tls_addr = match secure.first() {
        Some(Some(l)) => Some(l.local_addr()?),
        _ => None,
    };
    // Without a plain listener, `local_addr` is the TLS one.
    let local_addr = match plain.first() {
        Some(Some(l)) => l.local_addr()?,
        _ => tls_addr.ok_or_else(|| io::Error::other("no listener configured"))?,
    };
    let listeners = plain.into_iter().zip(secure);
    let credentials = CredentialStore::from_config(&config.auth)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("auth: {e}")))?;
    let (calls_tx, calls_rx) = crossbeam_channel::bounded(capacity);
    // Processors wait on the backend's replies only if some action uses it.
    let (backend_link, bridge_ends) = if config.bus.enabled() && config.bus.uses_backend() {
        let (link, ends) = crate::bus::backend_channels(&config.bus, capacity);
        (Some(link), Some(ends))
    } else {
        (None, None)
    };
    let open_connections = Arc::new(AtomicUsize::new(0));
    let shared_limits = Arc::new(SharedLimits::default());
    let memory = Arc::new(MemoryStats::default());

    let mut setups = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    let mut reactor_stats = Vec::with_capacity(count);
    for (index, listener) in listeners.into_iter().enumerate() {
        let poll = mio::Poll::new()?;
        let waker = ReactorSetup::waker(&poll)?;
        let (handle, inbox) = reactor_inbox(capacity, waker);
        let stats = Arc::new(ReactorStats::default());
        handles.push(handle);
        reactor_stats.push(stats.clone());
        let tls_listener = listener.1.zip(tls_store.clone());
        setups.push((index, (listener.0, tls_listener), poll, inbox, stats));
    }
    let reactors: Arc<[ReactorHandle]> = handles.into();
    // The journal releases answers to the reactors once they are written.
    let (journal_tx, journal_handle) = if config.journal.enabled {
        let (tx, handle) = Journal::start_releasing(&config.journal, capacity, reactors.clone())
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "journal.directory {}: {e}",
                        config.journal.directory.display()
                    ),
                )
            })?;
        (Some(tx), Some(handle))
    } else {
        (None, None)
    };
    let processor_stats: Vec<Arc<ProcessorStats>> = (0..config.processors.threads)
        .map(|_| Arc::default())
        .collect();
    let control = Arc::new(Control {
        config: config.clone(),
        local_addr,
        tls_addr,
        tls: tls_store,
        reactors: reactors.clone(),
        reactor_stats,
        processor_stats: processor_stats.clone(),
        calls_queue: calls_rx.clone(),
        open_connections: open_connections.clone(),
        shared_limits: shared_limits.clone(),
        memory: memory.clone(),
        stopping: AtomicBool::new(false),
        stop_deadline: std::sync::OnceLock::new(),
        reactors_running: AtomicUsize::new(count),
        registry: Mutex::new(Registry::new(config.bus.enabled())),
        credentials,
        journal: Mutex::new(journal_handle),
        bus_stats: config.bus.enabled().then(|| Arc::new(BusStats::default())),
    });

    let processor_threads = processor::spawn(
        ProcessorSetup {
            calls: calls_rx,
            reactors,
            policy,
            before_answer: extensions.before_answer,
            publish_every: config.reactors.timer_tick,
            journal: journal_tx.clone(),
            backend: backend_link,
        },
        &processor_stats,
    )?;
    let cores = if config.reactors.pin_cores {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut reactor_threads = Vec::with_capacity(count);
    for (index, listener, poll, inbox, stats) in setups {
        let setup = ReactorSetup {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            config: config.clone(),
            poll,
            listener: listener.0,
            tls_listener: listener.1,
            inbox,
            // Reactors hold the only senders: when they have all stopped,
            // the processors drain the queue and stop.
            processors: calls_tx.clone(),
            open_connections: open_connections.clone(),
            shared_limits: shared_limits.clone(),
            memory: memory.clone(),
            control: control.clone(),
            stats,
            journal: journal_tx.clone(),
        };
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let running = control.clone();
        let thread = std::thread::Builder::new()
            .name(format!("reactor-{index}"))
            .spawn(move || {
                if let Some(core) = core
                    && !core_affinity::set_for_current(core)
                {
                    warn!("reactor {index}: cannot pin to core {}", core.id);
                }
                reactor::run(setup);
                running.reactors_running.fetch_sub(1, Ordering::AcqRel);
            })?;
        reactor_threads.push(thread);
    }
    drop(calls_tx);
    let stopping = control.clone();
    let trimmer_thread = crate::memory::spawn(memory, move || stopping.is_stopping())?;
    // Reactors and processors hold the only journal senders: the journal
    // drains after they stop.
    drop(journal_tx);
    let bus = match &control.bus_stats {
        Some(stats) => match Bus::start(control.clone(), bridge_ends, stats.clone()) {
            Ok(bus) => Some(bus),
            Err(e) => {
                control.shutdown();
                return Err(io::Error::new(e.kind(), format!("bus: {e}")));
            }
        },
        None => None,
    };
    // /health reports a reactor that has never published as starting;
    // waiting here for each to publish once keeps that window short.
    control.wait_for_first_publish(FIRST_PUBLISH_WAIT);
    let admin = if config.admin.enabled {
        match crate::admin::start(control.clone()) {
            Ok(admin) => Some(admin),
            Err(e) => {
                // Do not leave a half-started gateway behind.
                control.shutdown();
                return Err(e);
            }
        }
    } else {
        None
    };
    // Tests read the first address from this line: keep it first.
    let tls_note = match tls_addr {
        Some(addr) if config.listen.plain => format!(", wss:// on {addr}"),
        Some(_) => " (wss:// only)".to_owned(),
        None => String::new(),
    };
    info!(
        "listening on {local_addr}{}/{{id}}{tls_note} with {count} reactors, {} processors",
        config.listen.path_prefix, config.processors.threads
    );
    Ok(GatewayHandle {
        control,
        admin,
        bus,
        reactor_threads,
        processor_threads,
        trimmer_thread,
    })
}

impl GatewayHandle {
    /// What other threads (an admin server, a signal handler) may share.
    pub fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    /// Where the admin API listens, when enabled.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.address)
    }

    /// Waits for every thread to finish; gives up after `timeout` and
    /// returns false if some are still running.
    ///
    /// After [`shutdown`](Control::shutdown) it never waits past the end of
    /// `shutdown.grace`: a bus bridge or admin thread still busy then (NATS
    /// unreachable, say) is left behind — events stay in the journal for
    /// the next start — and the gateway's own work is done.
    pub fn join(self, timeout: Duration) -> bool {
        let mut deadline = Instant::now() + timeout;
        if let Some(end) = self.control.stop_deadline.get() {
            deadline = deadline.min(*end);
        }
        let threads = self
            .reactor_threads
            .into_iter()
            .chain(self.processor_threads)
            .chain([self.trimmer_thread]);
        for thread in threads {
            while !thread.is_finished() {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = thread.join();
        }
        // Everyone who could journal has stopped: drain, fsync, close.
        let journal = self.control.journal.lock().map(|mut j| j.take());
        if let Ok(Some(journal)) = journal {
            let stats = journal.shutdown();
            info!(
                "journal closed: {} records, {} fsyncs",
                stats.records_written, stats.fsyncs
            );
        }
        // The journal is complete: the bridge publishes what it has not yet
        // (until the deadline; the rest goes at the next start).
        if let Some(bus) = self.bus {
            bus.shutdown(deadline.saturating_duration_since(Instant::now()));
        }
        if let Some(admin) = self.admin {
            while !admin.is_finished() {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            admin.join();
        }
        true
    }
}

impl Control {
    /// The address charge points connect to (the real port when configured as 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Each reactor's counters, at most one timer tick old.
    pub fn reactor_counters(&self) -> Vec<ReactorCounters> {
        self.reactor_stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Wall-clock time (Unix ms) of each reactor's last published tick.
    pub fn reactor_last_ticks(&self) -> Vec<u64> {
        self.reactor_stats
            .iter()
            .map(|s| s.last_tick_unix_ms())
            .collect()
    }

    /// Waits (at most `limit`) until every reactor has published once.
    fn wait_for_first_publish(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.reactor_last_ticks().contains(&0) {
            if Instant::now() >= deadline {
                warn!("a reactor has not started within {limit:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Answers by (action, outcome), all processors together, at most one
    /// tick old.
    pub fn answer_counts(&self) -> AnswerCounts {
        let mut total = AnswerCounts::new();
        for stats in &self.processor_stats {
            for (label, n) in stats.snapshot() {
                *total.entry(label).or_insert(0) += n;
            }
        }
        total
    }

    /// CALLs waiting in the processor queue.
    pub fn processor_queue_depth(&self) -> usize {
        self.calls_queue.len()
    }

    /// Established WebSocket connections, all reactors together.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Acquire)
    }

    /// What the memory trimmer has done.
    pub fn memory_stats(&self) -> &MemoryStats {
        &self.memory
    }

    /// Handshakes in progress and bytes in partly received messages, all reactors.
    pub fn shared_limits(&self) -> &SharedLimits {
        &self.shared_limits
    }

    /// When connections must be gone, once shutdown has begun: a share of
    /// `shutdown.grace` is kept back for the journal, the bus and the logs,
    /// so the whole stop ends within the grace.
    pub fn connections_deadline(&self) -> Option<Instant> {
        let end = *self.stop_deadline.get()?;
        let reserve = (self.config.shutdown.grace / 10)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
            .min(self.config.shutdown.grace / 2);
        Some(end - reserve)
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Reactors started (running or not).
    pub(crate) fn reactor_count(&self) -> usize {
        self.reactors.len()
    }

    /// Reactor threads still running (all of them until shutdown).
    pub(crate) fn reactors_running(&self) -> usize {
        self.reactors_running.load(Ordering::Acquire)
    }

    /// The inbox of the reactor holding `charge_point` (per the registry).
    fn holder_inbox(&self, charge_point: &str) -> Option<&ReactorHandle> {
        self.holder(charge_point)
            .and_then(|conn| self.reactor(conn.reactor))
    }

    /// Waits for up to `expected` replies on `replies`, each reactor's
    /// promised one. Stops early when every promise has been dropped
    /// unkept, or when all reactors have stopped: a request left in the
    /// inbox of a reactor that has just exited is never answered.
    fn wait_for_replies<T>(&self, replies: &Receiver<T>, expected: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(expected);
        let poll_every = self.config.reactors.timer_tick;
        while out.len() < expected {
            match replies.recv_timeout(poll_every) {
                Ok(reply) => out.push(reply),
                Err(RecvTimeoutError::Timeout) if self.reactors_running() > 0 => {}
                Err(_) => break,
            }
        }
        out
    }

    /// Sends a CALL to a connected charge point and waits for its answer.
    /// A blocking form of [`start_call`](Self::start_call), for tests and
    /// other threads that may wait; never for the admin or bus threads.
    pub fn call(
        &self,
        charge_point: &str,
        action: &str,
        payload: &str,
        timeout: Duration,
    ) -> ServerCallOutcome {
        let (reply, outcome) = crossbeam_channel::bounded(1);
        let request = ServerCallRequest {
            charge_point: charge_point.into(),
            action: action.into(),
            payload: payload.into(),
            timeout,
            reply: ReplyTo::Channel(reply),
        };
        if let Err(outcome) = self.start_call(request) {
            return outcome;
        }
        // The reactor answers `Timeout` itself after `timeout`.
        self.wait_for_replies(&outcome, 1)
            .pop()
            .unwrap_or(ServerCallOutcome::Closed)
    }

    /// Hands a CALL to the reactor holding its charge point (per the
    /// registry), without waiting: the outcome goes to `request.reply`
    /// later. That reactor validates `payload` (JSON object text) against
    /// the action's request schema for the connection's version, sends it
    /// when no other server CALL is outstanding on that connection (later
    /// ones queue), and replies with the validated answer, a CALLERROR, or
    /// `Timeout` after `timeout`. `Err` is the outcome now (nobody holds
    /// the charge point here, or that reactor's inbox is full or closed),
    /// and `request.reply` is then never called.
    pub(crate) fn start_call(&self, request: ServerCallRequest) -> Result<(), ServerCallOutcome> {
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
    pub(crate) fn start_inspect(
        &self,
        charge_point: Option<&str>,
        mut reply: impl FnMut() -> Deliver<Vec<ConnectionInfo>>,
    ) -> Offered {
        let message = |reply| ToReactor::Inspect {
            charge_point: charge_point.map(Into::into),
            reply,
        };
        match charge_point {
            Some(id) => match self.holder_inbox(id) {
                Some(reactor) => Offered::of([reactor.try_send(message(reply()))]),
                None => Offered::default(),
            },
            None => Offered::of(self.reactors.iter().map(|r| r.try_send(message(reply())))),
        }
    }

    /// Asks the reactor holding `charge_point` to close its connection with
    /// `code`, without waiting; `reply` then says whether it did. Nobody
    /// asked (not held here, or the inbox is full) shows in the result.
    pub(crate) fn start_close(
        &self,
        charge_point: &str,
        code: u16,
        reply: Deliver<bool>,
    ) -> Offered {
        match self.holder_inbox(charge_point) {
            Some(reactor) => Offered::of([reactor.try_send(ToReactor::Close {
                charge_point: charge_point.into(),
                code,
                reply,
            })]),
            None => Offered::default(),
        }
    }

    /// Open connections (all, or the one of `charge_point`), sorted by id.
    /// A blocking form of [`start_inspect`](Self::start_inspect), for tests.
    pub fn connections(&self, charge_point: Option<&str>) -> Vec<ConnectionInfo> {
        let (reply, lists) = crossbeam_channel::bounded(self.reactors.len());
        let offered = self.start_inspect(charge_point, || {
            let reply = reply.clone();
            Deliver::new(move |list| {
                let _ = reply.try_send(list);
            })
        });
        drop(reply);
        let mut all: Vec<ConnectionInfo> = self
            .wait_for_replies(&lists, offered.taken)
            .into_iter()
            .flatten()
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `conn` as the holder of `charge_point`; returns the previous
    /// holder, if any (to be closed by its reactor).
    pub(crate) fn register_id(
        &self,
        charge_point: &str,
        conn: ConnRef,
        remote: SocketAddr,
    ) -> Option<ConnRef> {
        self.registry().register(charge_point, conn, remote)
    }

    /// Held by a connection here or, per the presence bucket, by another gateway.
    pub(crate) fn id_is_connected(&self, charge_point: &str) -> bool {
        self.registry().is_connected(charge_point)
    }

    /// Forgets `conn` as the holder of `charge_point` (if it still is).
    pub(crate) fn unregister_id(&self, charge_point: &str, conn: ConnRef) {
        self.registry().unregister(charge_point, conn);
    }

    /// The connection holding `charge_point` here, if any.
    pub(crate) fn holder(&self, charge_point: &str) -> Option<ConnRef> {
        self.registry().holder(charge_point)
    }

    /// Connects and disconnects since the last call (bus bridge only).
    pub(crate) fn take_presence_changes(&self) -> Vec<(Box<str>, PresenceChange)> {
        self.registry().take_changes()
    }

    /// Forgets expired entries of other gateways (bus bridge only).
    pub(crate) fn prune_held_elsewhere(&self) {
        self.registry().prune_remote(Instant::now());
    }

    /// What the presence bucket says about an id held elsewhere (bus bridge only).
    pub(crate) fn set_held_elsewhere(&self, charge_point: &str, until: Option<Instant>) {
        self.registry().set_remote(charge_point, until);
    }

    /// The credentials in force (read per handshake, never per frame).
    pub(crate) fn credentials(&self) -> Arc<Credentials> {
        self.credentials.current()
    }

    /// Re-reads the credentials file and allow list (SIGHUP). On error the
    /// old set stays in force; open connections are never touched.
    pub fn reload_credentials(&self, auth: &AuthConfig) -> Result<usize, String> {
        self.credentials.reload(auth)
    }

    /// Re-reads the TLS certificate, key and client CA (SIGHUP): new
    /// connections get them, open ones keep theirs. On error (unreadable
    /// or invalid file) the old ones stay in force. `Ok(false)`: TLS is off.
    pub fn reload_tls(&self, config: &TlsConfig) -> Result<bool, String> {
        match &self.tls {
            Some(store) => store.reload(config).map(|()| true),
            None => Ok(false),
        }
    }

    /// The bus bridge's counters, when the bus is on.
    pub fn bus_stats(&self) -> Option<&BusStats> {
        self.bus_stats.as_deref()
    }

    /// Stops (`true`) or resumes the journal writer, as a stalled disk would:
    /// for diagnostics and backpressure tests. No effect without a journal.
    pub fn pause_journal(&self, paused: bool) {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(journal) = journal.as_ref() {
            journal.set_paused(paused);
        }
    }

    /// The journal's counters, when it is on.
    pub fn journal_stats(&self) -> Option<JournalStats> {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        journal.as_ref().map(JournalHandle::stats)
    }

    /// The inbox of reactor `index`.
    pub(crate) fn reactor(&self, index: u16) -> Option<&ReactorHandle> {
        self.reactors.get(usize::from(index))
    }

    /// Begins a graceful shutdown: stop accepting, close every connection
    /// with 1001 (after its in-flight answer), force-close at `shutdown.grace`.
    pub fn shutdown(&self) {
        let grace = self.config.shutdown.grace;
        self.stop_deadline.get_or_init(|| Instant::now() + grace);
        self.stopping.store(true, Ordering::Release);
        for reactor in self.reactors.iter() {
            reactor.wake();
        }
    }
}
