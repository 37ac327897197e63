//! Starting and stopping a gateway: the one place that creates threads and
//! channels and wires them together, and so the only module that sees
//! every thread's folder.
//!
//! What each thread gets is narrow: a reactor its inbox, the processor
//! queue, the id registry, the credential and TLS stores and the stop
//! signal; the admin API an [`AdminHandle`]; the bus bridge a
//! [`BusHandle`]. [`GatewayHandle`] is what `main`, tests and embedders
//! hold: it adds the blocking calls (`call`, `connections`), reloads and
//! shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{info, warn};

use crate::auth::CredentialStore;
use crate::bus::Bus;
use crate::config::{AuthConfig, Config, ProfileConfig, ProfileTable, TlsConfig};
use crate::cross_thread::{
    AdminHandle, AnswerHere, BusHandle, BusStats, ConnectionInfo, Deliver, IdRegistry, MemoryStats,
    ProcessorStats, PublishedCounters, QueueStats, ReactorHandle, ReactorStats, ReactorTallies,
    Reloadable, ReplyTo, Route, ServerCallOutcome, ServerCallRequest, StopSignal, ToReactor,
    reactor_inbox,
};
use crate::journal::{Journal, JournalHandle};
use crate::processor::{self, BeforeAnswer, InlineAnswerer, Policy, ProcessorSetup};
use crate::queue::CommandStore;
use crate::reactor::{self, ReactorSetup};
use crate::tls::TlsStore;
use crate::trace::TraceWriter;

/// The cores reactor N is pinned to (`cores[N mod len]`; empty: not
/// pinned). The core maps were checked by `confine_other_threads`.
fn reactor_cores(config: &Config) -> io::Result<Vec<core_affinity::CoreId>> {
    let reactors = &config.reactors;
    if !reactors.pin_cores {
        return Ok(Vec::new());
    }
    if reactors.cores.is_empty() {
        return Ok(core_affinity::get_core_ids().unwrap_or_default());
    }
    Ok(reactors
        .cores
        .iter()
        .map(|&id| core_affinity::CoreId { id })
        .collect())
}

/// Checks every core map against the cores the process may run on (as
/// they were before any thread was confined).
fn check_core_maps(config: &Config) -> io::Result<()> {
    let Some(allowed) = crate::affinity::process_cores() else {
        return Ok(());
    };
    for (key, cores) in [
        ("reactors.cores", &config.reactors.cores),
        ("processors.cores", &config.processors.cores),
        ("threads.other_cores", &config.threads.other_cores),
    ] {
        crate::affinity::check_cores(cores, allowed)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{key}: {e}")))?;
    }
    Ok(())
}

/// Confines the calling thread, and so every thread started after it that
/// does not pin itself, to `threads.other_cores` (if set). The binary calls
/// it before its log writer starts; `start` calls it again (harmless) for
/// embedders. Reactors pin themselves; processors confine themselves to
/// `processors.cores` when that is set.
pub fn confine_other_threads(config: &Config) -> io::Result<()> {
    check_core_maps(config)?;
    let cores = &config.threads.other_cores;
    if cores.is_empty() {
        return Ok(());
    }
    crate::affinity::confine_current_thread(cores).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("threads.other_cores: cannot run on {cores:?}: {e}"),
        )
    })
}

/// How long `start` waits for every reactor to publish its counters once
/// (each does so as its loop starts) before it starts the admin API.
const FIRST_PUBLISH_WAIT: Duration = Duration::from_secs(1);

/// Optional hooks for embedding the gateway (tests use them to make a
/// handler slow or fail).
#[derive(Default, Clone)]
pub struct Extensions {
    pub before_answer: Option<BeforeAnswer>,
}

/// A running gateway, as `main`, tests and embedders hold it. Dropping it
/// does not stop it: call [`shutdown`](GatewayHandle::shutdown) and
/// [`join`](GatewayHandle::join). Derefs to the [`AdminHandle`] for the
/// published counters.
pub struct GatewayHandle {
    /// The plain listener's address (the TLS one if there is no plain one).
    pub local_addr: SocketAddr,
    /// The TLS listener's address, when `tls.enabled`.
    pub tls_addr: Option<SocketAddr>,
    view: Arc<AdminHandle>,
    stop: Arc<StopSignal>,
    /// Certificate and key in force for new TLS connections.
    tls: Option<Arc<TlsStore>>,
    /// Basic Auth credentials and allow list; replaced whole on reload.
    credentials: Arc<CredentialStore>,
    /// `[[profiles]]` as the processors read them (boot interval); the
    /// reactors get each new list in their inbox.
    profiles: Arc<Reloadable<ProfileTable>>,
    /// The journal writer; taken at the end of `join`.
    journal: Mutex<Option<JournalHandle>>,
    /// The trace writer, when `[trace] directory` is set; it stops once
    /// the reactors (its only senders) have.
    trace: Option<TraceWriter>,
    admin: Option<crate::admin::Admin>,
    bus: Option<Bus>,
    /// The embedded command store (bus off); stopped after the reactors,
    /// so the outcomes they delivered are recorded.
    store: Option<CommandStore>,
    reactor_threads: Vec<JoinHandle<()>>,
    processor_threads: Vec<JoinHandle<()>>,
    trimmer_thread: Option<JoinHandle<()>>,
}

impl std::ops::Deref for GatewayHandle {
    type Target = AdminHandle;
    fn deref(&self) -> &AdminHandle {
        &self.view
    }
}

pub fn start(config: Config) -> io::Result<GatewayHandle> {
    start_with(config, Extensions::default())
}

pub fn start_with(mut config: Config, extensions: Extensions) -> io::Result<GatewayHandle> {
    config.bus.resolve_gateway_id();
    let config = Arc::new(config);
    let count = config.reactor_count();
    // Before anything starts: a bad core map is an error naming the key.
    confine_other_threads(&config)?;
    let cores = reactor_cores(&config)?;
    let capacity = config.channels.capacity;
    let profiles = Arc::new(Reloadable::new(
        config.profile_table(config.profiles.clone()),
    ));
    let policy = Arc::new(Policy::new(&config, profiles.clone()).map_err(|e| {
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
        let store = TlsStore::load(&config.tls)
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
    let credentials = Arc::new(
        CredentialStore::from_config(&config.auth)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("auth: {e}")))?,
    );
    let (calls_tx, calls_rx) = crossbeam_channel::bounded(capacity);
    // Processors wait on the backend's replies only if some action uses it.
    let (backend_link, bridge_ends) = if config.bus.enabled() && config.bus.uses_backend() {
        let (link, ends) = crate::cross_thread::backend_channels(&config.bus, capacity);
        (Some(link), Some(ends))
    } else {
        (None, None)
    };
    let open_connections = Arc::new(AtomicUsize::new(0));
    let tallies = Arc::new(ReactorTallies::default());
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
    // Frame traces: one writer thread, fed by the reactors only.
    let (trace_tx, trace_writer) = match &config.trace.directory {
        Some(dir) => {
            let (tx, writer) =
                TraceWriter::start(&config.trace, dir, &config.channels).map_err(|e| {
                    io::Error::new(e.kind(), format!("trace.directory {}: {e}", dir.display()))
                })?;
            (Some(tx), Some(writer))
        }
        None => (None, None),
    };
    let processor_stats: Vec<Arc<ProcessorStats>> = (0..config.processors.threads)
        .map(|_| Arc::default())
        .collect();
    // Each reactor's inline answers are counted like a processor's.
    let inline_stats: Vec<Arc<ProcessorStats>> = (0..count).map(|_| Arc::default()).collect();
    let ids = Arc::new(IdRegistry::new(config.bus.enabled()));
    let stop = Arc::new(StopSignal::new(config.shutdown.grace, count));
    let route = Route::new(reactors.clone(), ids.clone());
    let bus_stats = config.bus.enabled().then(|| Arc::new(BusStats::default()));
    // The command queue's keeper: JetStream with the bus, else the store
    // in the journal directory; none without either.
    let keeper = config.bus.enabled() || config.journal.enabled;
    let queue_stats = config
        .queue
        .runs(keeper)
        .then(|| Arc::new(QueueStats::default()));
    let (queue_tx, queue_ends, store) = match &queue_stats {
        Some(stats) if config.bus.enabled() => {
            let (tx, ends) =
                crate::cross_thread::command_queue::bus_inbox(&config.channels, stats.clone());
            (Some(tx), Some(ends), None)
        }
        Some(stats) => {
            let (tx, store) =
                CommandStore::start(&config, route.clone(), stats.clone()).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "queue store in {}/queue: {e}",
                            config.journal.directory.display()
                        ),
                    )
                })?;
            (Some(tx), None, Some(store))
        }
        None => (None, None, None),
    };
    let view = Arc::new(AdminHandle {
        config: config.clone(),
        route: route.clone(),
        profiles: profiles.clone(),
        counters: PublishedCounters {
            reactors: reactor_stats,
            processors: processor_stats
                .iter()
                .chain(&inline_stats)
                .cloned()
                .collect(),
            calls_queue: calls_rx.clone(),
            open_connections: open_connections.clone(),
            tallies: tallies.clone(),
            memory: memory.clone(),
            journal: journal_handle.as_ref().map(JournalHandle::watch),
            bus: bus_stats.clone(),
            trace: trace_writer.as_ref().map(TraceWriter::stats),
            queue: queue_stats,
        },
        queue: queue_tx.clone(),
        stop: stop.clone(),
    });
    let mut gateway = GatewayHandle {
        local_addr,
        tls_addr,
        view,
        stop: stop.clone(),
        tls: tls_store.clone(),
        credentials: credentials.clone(),
        profiles: profiles.clone(),
        journal: Mutex::new(journal_handle),
        trace: trace_writer,
        admin: None,
        bus: None,
        store,
        reactor_threads: Vec::new(),
        processor_threads: Vec::new(),
        trimmer_thread: None,
    };
    let pool = Arc::new(ProcessorSetup {
        calls: calls_rx,
        cores: config.processors.cores.clone(),
        reactors: reactors.clone(),
        policy,
        before_answer: extensions.before_answer,
        publish_every: config.reactors.timer_tick,
        journal: journal_tx.clone(),
        backend: backend_link,
    });
    gateway.processor_threads = processor::spawn(&pool, &processor_stats)?;
    for (index, listener, poll, inbox, stats) in setups {
        // Its answer counts are summed with the pool's (`answer_counts`).
        let inline = InlineAnswerer::new(&pool, &config.processors, inline_stats[index].clone())
            .map(|inline| Box::new(inline) as Box<dyn AnswerHere>);
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
            profiles: profiles.current(),
            open_connections: open_connections.clone(),
            tallies: tallies.clone(),
            memory: memory.clone(),
            ids: ids.clone(),
            credentials: credentials.clone(),
            stop: stop.clone(),
            peers: reactors.clone(),
            stats,
            journal: journal_tx.clone(),
            inline,
            trace: trace_tx.clone(),
            queue: queue_tx.clone(),
        };
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let running = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("reactor-{index}"))
            .spawn(move || {
                if let Some(core) = core
                    && !core_affinity::set_for_current(core)
                {
                    warn!("reactor {index}: cannot pin to core {}", core.id);
                }
                reactor::run(setup);
                running.reactor_ended();
            })?;
        gateway.reactor_threads.push(thread);
    }
    drop(calls_tx);
    gateway.trimmer_thread = Some(crate::memory::spawn(memory, stop.clone())?);
    // Reactors and processors hold the only journal senders: the journal
    // drains after they stop.
    drop(journal_tx);
    // Likewise the trace queue: its writer flushes and stops after them.
    drop(trace_tx);
    if let Some(stats) = bus_stats {
        let bus_view = Arc::new(BusHandle {
            config: config.clone(),
            route,
            ids,
        });
        match Bus::start(bus_view, bridge_ends, stats, queue_ends) {
            Ok(bus) => gateway.bus = Some(bus),
            Err(e) => {
                gateway.shutdown();
                return Err(io::Error::new(e.kind(), format!("bus: {e}")));
            }
        }
    }
    // /health reports a reactor that has never published as starting;
    // waiting here for each to publish once keeps that window short.
    if !gateway.view.wait_for_first_publish(FIRST_PUBLISH_WAIT) {
        warn!("a reactor has not started within {FIRST_PUBLISH_WAIT:?}");
    }
    if config.admin.enabled {
        match crate::admin::start(gateway.view.clone()) {
            Ok(admin) => gateway.admin = Some(admin),
            Err(e) => {
                // Do not leave a half-started gateway behind.
                gateway.shutdown();
                return Err(e);
            }
        }
    }
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
    Ok(gateway)
}

impl GatewayHandle {
    /// Where the admin API listens, when enabled.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.address)
    }

    /// Waits for every thread to finish; gives up after `timeout` and
    /// returns false if some are still running.
    ///
    /// After [`shutdown`](GatewayHandle::shutdown) it never waits past the end of
    /// `shutdown.grace`: a bus bridge or admin thread still busy then (NATS
    /// unreachable, say) is left behind — events stay in the journal for
    /// the next start — and the gateway's own work is done.
    pub fn join(self, timeout: Duration) -> bool {
        let mut deadline = Instant::now() + timeout;
        if let Some(end) = self.stop.deadline() {
            deadline = deadline.min(end);
        }
        let threads = self
            .reactor_threads
            .into_iter()
            .chain(self.processor_threads)
            .chain(self.trimmer_thread);
        for thread in threads {
            while !thread.is_finished() {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = thread.join();
        }
        // The reactors have stopped, so has the trace queue: the writer
        // flushes, closes its files and ends.
        if let Some(trace) = self.trace {
            while !trace.is_finished() {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            trace.join();
        }
        // The reactors have delivered every outcome they owed the store.
        if let Some(store) = self.store {
            store.shutdown();
        }
        // Everyone who could journal has stopped: drain, fsync, close.
        let journal = self.journal.lock().map(|mut j| j.take());
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

    /// The address charge points connect to (the real port when configured as 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits for up to `expected` replies on `replies`, each reactor's
    /// promised one. Stops early when every promise has been dropped
    /// unkept, or when all reactors have stopped: a request left in the
    /// inbox of a reactor that has just exited is never answered.
    fn wait_for_replies<T>(&self, replies: &Receiver<T>, expected: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(expected);
        let poll_every = self.view.config.reactors.timer_tick;
        while out.len() < expected {
            match replies.recv_timeout(poll_every) {
                Ok(reply) => out.push(reply),
                Err(RecvTimeoutError::Timeout) if self.stop.reactors_running() > 0 => {}
                Err(_) => break,
            }
        }
        out
    }

    /// Sends a CALL to a connected charge point and waits for its answer:
    /// the blocking form of [`Route::start_call`], for tests and embedders.
    pub fn call(
        &self,
        charge_point: &str,
        action: &str,
        payload: &str,
        timeout: Duration,
    ) -> ServerCallOutcome {
        // One outcome is ever sent; every channel is sized by
        // `channels.capacity` (at least 1), so it always has room.
        let (reply, outcome) = crossbeam_channel::bounded(self.view.config.channels.capacity);
        let request = ServerCallRequest {
            charge_point: charge_point.into(),
            action: action.into(),
            payload: payload.into(),
            timeout,
            reply: ReplyTo::Channel(reply),
            command_id: None,
        };
        if let Err(outcome) = self.view.route.start_call(request) {
            return outcome;
        }
        // The reactor answers `Timeout` itself after `timeout`.
        self.wait_for_replies(&outcome, 1)
            .pop()
            .unwrap_or(ServerCallOutcome::Closed)
    }

    /// Open connections (all, or the one of `charge_point`), sorted by id:
    /// the blocking form of [`Route::start_inspect`].
    pub fn connections(&self, charge_point: Option<&str>) -> Vec<ConnectionInfo> {
        let (reply, lists) = crossbeam_channel::bounded(self.view.route.reactor_count());
        let offered = self.view.route.start_inspect(charge_point, || {
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

    /// Re-reads the credentials file and allow list (SIGHUP). On error the
    /// old set stays in force; open connections are never touched.
    pub fn reload_credentials(&self, auth: &AuthConfig) -> Result<usize, String> {
        self.credentials.reload(auth)
    }

    /// Puts a new `[[profiles]]` list in force (SIGHUP): processors use it
    /// for the next boot's interval; every reactor re-matches its open
    /// connections at once (ping interval, dead-peer rule, call rate,
    /// bad-message budget). Returns how many reactors took it (a stopped
    /// reactor does not).
    pub fn reload_profiles(&self, profiles: &[ProfileConfig]) -> usize {
        self.profiles
            .replace(self.view.config.profile_table(profiles.to_vec()));
        let list = self.profiles.current();
        self.view
            .route
            .reactors()
            .iter()
            .filter(|r| r.send(ToReactor::Profiles(list.clone())).is_ok())
            .count()
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

    /// Stops (`true`) or resumes the journal writer, as a stalled disk would:
    /// for diagnostics and backpressure tests. No effect without a journal.
    pub fn pause_journal(&self, paused: bool) {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(journal) = journal.as_ref() {
            journal.set_paused(paused);
        }
    }

    /// Begins a graceful shutdown: stop accepting, close every connection
    /// with 1001 (after its in-flight answer), force-close at `shutdown.grace`.
    pub fn shutdown(&self) {
        self.stop.begin();
        for reactor in self.view.route.reactors() {
            reactor.wake();
        }
    }
}
