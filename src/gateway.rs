//! Starting and stopping a gateway: the one place that creates threads and
//! channels and wires them together.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use log::{info, warn};

use crate::config::Config;
use crate::metrics::{ReactorCounters, ReactorStats};
use crate::pipeline::{
    ReactorHandle, ServerCallOutcome, ServerCallRequest, ToReactor, reactor_inbox,
};
use crate::processor::{self, BeforeAnswer, Policy, ProcessorSetup};
use crate::reactor::{self, ReactorSetup};

/// Optional hooks for embedding the gateway (tests use them to make a
/// handler slow or fail).
#[derive(Default, Clone)]
pub struct Extensions {
    pub before_answer: Option<BeforeAnswer>,
}

/// A running gateway. Dropping it does not stop it: call [`shutdown`] and
/// [`join`].
///
/// [`shutdown`]: GatewayHandle::shutdown
/// [`join`]: GatewayHandle::join
pub struct GatewayHandle {
    local_addr: SocketAddr,
    config: Arc<Config>,
    reactors: Arc<[ReactorHandle]>,
    stats: Vec<Arc<ReactorStats>>,
    open_connections: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    reactor_threads: Vec<JoinHandle<()>>,
    processor_threads: Vec<JoinHandle<()>>,
}

pub fn start(config: Config) -> io::Result<GatewayHandle> {
    start_with(config, Extensions::default())
}

pub fn start_with(config: Config, extensions: Extensions) -> io::Result<GatewayHandle> {
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
    let listeners = reactor::bind_listeners(config.listen.address, config.listen.backlog, count)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("listen.address {}: {e}", config.listen.address),
            )
        })?;
    let local_addr = listeners[0].local_addr()?;
    let (calls_tx, calls_rx) = crossbeam_channel::bounded(capacity);
    let open_connections = Arc::new(AtomicUsize::new(0));
    let stopping = Arc::new(AtomicBool::new(false));

    let mut setups = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    let mut stats = Vec::with_capacity(count);
    for (index, listener) in listeners.into_iter().enumerate() {
        let poll = mio::Poll::new()?;
        let waker = ReactorSetup::waker(&poll)?;
        let (handle, inbox) = reactor_inbox(capacity, waker);
        let reactor_stats = Arc::new(ReactorStats::default());
        handles.push(handle);
        stats.push(reactor_stats.clone());
        setups.push(ReactorSetup {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            config: config.clone(),
            poll,
            listener,
            inbox,
            processors: calls_tx.clone(),
            open_connections: open_connections.clone(),
            stopping: stopping.clone(),
            stats: reactor_stats,
        });
    }
    // Reactors hold the only senders: when they have all stopped, the
    // processors drain the queue and stop.
    drop(calls_tx);
    let reactors: Arc<[ReactorHandle]> = handles.into();

    let processor_threads = processor::spawn(
        config.processors.threads,
        ProcessorSetup {
            calls: calls_rx,
            reactors: reactors.clone(),
            policy,
            before_answer: extensions.before_answer,
        },
    )?;
    let cores = if config.reactors.pin_cores {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut reactor_threads = Vec::with_capacity(count);
    for setup in setups {
        let core = (!cores.is_empty()).then(|| cores[usize::from(setup.index) % cores.len()]);
        let thread = std::thread::Builder::new()
            .name(format!("reactor-{}", setup.index))
            .spawn(move || {
                if let Some(core) = core
                    && !core_affinity::set_for_current(core)
                {
                    warn!("reactor {}: cannot pin to core {}", setup.index, core.id);
                }
                reactor::run(setup)
            })?;
        reactor_threads.push(thread);
    }
    info!(
        "listening on {local_addr}{}/{{id}} with {count} reactors, {} processors",
        config.listen.path_prefix, config.processors.threads
    );
    Ok(GatewayHandle {
        local_addr,
        config,
        reactors,
        stats,
        open_connections,
        stopping,
        reactor_threads,
        processor_threads,
    })
}

impl GatewayHandle {
    /// The address charge points connect to (the real port when configured as 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Each reactor's counters, at most one timer tick old.
    pub fn reactor_counters(&self) -> Vec<ReactorCounters> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Established WebSocket connections, all reactors together.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Acquire)
    }

    /// Sends a CALL to a connected charge point and waits for its answer.
    ///
    /// The request goes to every reactor's inbox; the one holding the charge
    /// point validates `payload` (JSON object text) against the action's
    /// request schema for the connection's version, sends it when no other
    /// server CALL is outstanding on that connection (later ones queue), and
    /// replies with the validated answer, a CALLERROR, or `Timeout` after
    /// `timeout`. No registry is shared: each reactor knows its own charge points.
    pub fn call(
        &self,
        charge_point: &str,
        action: &str,
        payload: &str,
        timeout: Duration,
    ) -> ServerCallOutcome {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(self.reactors.len());
        let request = ServerCallRequest {
            charge_point: charge_point.into(),
            action: action.into(),
            payload: payload.into(),
            timeout,
            reply: reply_tx,
        };
        let mut waiting = 0;
        for reactor in self.reactors.iter() {
            let message = ToReactor::ServerCall(Box::new(request.clone()));
            if reactor.send(message).is_ok() {
                waiting += 1;
            }
        }
        // Every reactor either replies once or drops its copy of the reply
        // sender (it stopped, or the connection closed): so this wait ends,
        // after the call's own timeout at the latest, plus the time calls
        // queued before it take.
        drop(request);
        // (A request left in the inbox of a reactor that has just exited
        // keeps its sender alive: hence the check on the threads.)
        let poll_every = self.config.reactors.timer_tick;
        while waiting > 0 {
            match reply_rx.recv_timeout(poll_every) {
                Ok(reply) if reply.outcome == ServerCallOutcome::NotConnected => waiting -= 1,
                Ok(reply) => return reply.outcome,
                Err(RecvTimeoutError::Timeout) => {
                    if self.reactor_threads.iter().all(|t| t.is_finished()) {
                        return ServerCallOutcome::Closed;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return ServerCallOutcome::Closed,
            }
        }
        ServerCallOutcome::NotConnected
    }

    /// Begins a graceful shutdown: stop accepting, close every connection
    /// with 1001 (after its in-flight answer), force-close at `shutdown.grace`.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        for reactor in self.reactors.iter() {
            reactor.wake();
        }
    }

    /// Waits for every thread to finish; gives up after `timeout` and
    /// returns false if some are still running.
    pub fn join(self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let threads = self
            .reactor_threads
            .into_iter()
            .chain(self.processor_threads);
        for thread in threads {
            while !thread.is_finished() {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = thread.join();
        }
        true
    }
}
