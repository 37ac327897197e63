//! The bridge thread's body: connects, then runs the event publisher, the
//! backend requester and presence (with commands) side by side on one
//! single-threaded runtime until told to stop.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use log::{error, info, warn};

use super::backend::Backend;
use super::commands::Commands;
use super::events::{Publisher, StopAt};
use super::presence::Presence;
use crate::cross_thread::{BridgeEnds, BusHandle, BusStats, QueueEnds};

/// Bounds every JetStream API call and publish ack: an ack not back by
/// then counts as failed and the line is published again.
const JETSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// async-nats' own default for the messages a subscription holds before
/// the client drops them (slow consumer). The event acks need room for a
/// window and an abandoned one: it grows with `[channels] capacity`.
const SUBSCRIPTION_CAPACITY: usize = 1 << 16;

pub struct Bridge {
    gateway: Arc<BusHandle>,
    stats: Arc<BusStats>,
    stop: StopAt,
}

impl Bridge {
    pub fn new(gateway: Arc<BusHandle>, stats: Arc<BusStats>, stop: StopAt) -> Bridge {
        Bridge {
            gateway,
            stats,
            stop,
        }
    }

    /// `ends`: the backend channels, when some action is answered by the backend.
    /// `queue`: the command queue's inbox, when the queue runs on the bus.
    pub async fn run(self, ends: Option<BridgeEnds>, queue: Option<QueueEnds>) {
        let config = Arc::new(self.gateway.config.bus.clone());
        let gateway_id = config.gateway_id.clone();
        let window = self.gateway.config.channels.capacity;
        let stats = self.stats.clone();
        // The connection state for tasks that must react to a disconnect
        // at once (the publisher abandons acks that cannot come).
        let (link_tx, link_rx) = tokio::sync::watch::channel(false);
        let mut options = ConnectOptions::new()
            .name(format!("ocpp-gateway {gateway_id}"))
            .retry_on_initial_connect()
            .subscription_capacity(SUBSCRIPTION_CAPACITY.max(2 * window.max(1)))
            .max_reconnects(None)
            .event_callback(move |event| {
                let stats = stats.clone();
                let link = link_tx.clone();
                async move {
                    match event {
                        Event::Connected => {
                            stats.connected.store(true, Ordering::Relaxed);
                            let _ = link.send(true);
                            info!("bus: connected");
                        }
                        Event::Disconnected => {
                            stats.connected.store(false, Ordering::Relaxed);
                            let _ = link.send(false);
                            warn!("bus: disconnected; events wait in the journal");
                        }
                        other => info!("bus: {other}"),
                    }
                }
            });
        if !config.token.is_empty() {
            options = options.token(config.token.clone());
        }
        if let Some(ca) = &config.tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        if !config.user.is_empty() {
            options = options.user_and_password(config.user.clone(), config.password.clone());
        }
        let servers: Vec<String> = config.servers.clone();
        let addresses: Vec<async_nats::ServerAddr> =
            match servers.iter().map(|s| s.parse()).collect() {
                Ok(a) => a,
                Err(e) => {
                    error!("bus.servers: {e}; the bus stays off");
                    return;
                }
            };
        let client = match options.connect(addresses).await {
            Ok(client) => client,
            Err(e) => {
                error!("bus: {e}; the bus stays off");
                return;
            }
        };
        info!(
            "bus: gateway {gateway_id} on {} (subjects {}.>)",
            servers.join(", "),
            config.subject_prefix
        );
        // For the JetStream publishes of presence and the command queue
        // (events take their acks themselves, see `events`). Acks given up
        // on keep their in-flight places until `ack_timeout`: bound it like
        // the rest, and leave room for a re-publish beside them.
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(JETSTREAM_TIMEOUT)
            .ack_timeout(JETSTREAM_TIMEOUT)
            .max_ack_inflight(2 * window.max(1))
            .build(client.clone());

        let publisher = Publisher {
            client: client.clone(),
            js: js.clone(),
            config: config.clone(),
            gateway_id: gateway_id.clone(),
            dir: self.gateway.config.journal.directory.clone(),
            window: window.max(1),
            ack_timeout: JETSTREAM_TIMEOUT,
            stats: self.stats.clone(),
            link: link_rx,
        };
        let events = tokio::spawn(publisher.run(self.stop.clone()));
        let backend = Backend {
            client: client.clone(),
            prefix: config.subject_prefix.clone(),
            timeout: config.backend_timeout,
            stats: self.stats.clone(),
            window,
        };
        let backend = ends.map(|ends| tokio::spawn(backend.run(ends.requests, ends.replies)));
        let keeper = queue.map(|ends| {
            let gateway = self.gateway.clone();
            let start_call: super::queue::StartCall =
                Arc::new(move |request| gateway.start_call(request));
            let keeper = super::queue::Keeper::new(
                client.clone(),
                js.clone(),
                self.gateway.config.clone(),
                start_call,
                ends.stats,
            );
            (
                keeper.clone(),
                tokio::spawn(keeper.run(ends.inbox, self.stop.clone())),
            )
        });
        let commands = Arc::new(Commands {
            client: client.clone(),
            gateway: self.gateway.clone(),
            stats: self.stats.clone(),
            prefix: config.subject_prefix.clone(),
            in_flight: Default::default(),
            queue: keeper.as_ref().map(|(keeper, _)| keeper.clone()),
        });
        let presence = Presence::new(
            js,
            config,
            gateway_id,
            self.gateway.clone(),
            commands,
            self.stats.clone(),
        );
        presence.run(self.stop.clone()).await;
        if let Err(e) = events.await {
            error!("bus: event publisher failed: {e}");
        }
        if let Some(backend) = backend {
            backend.abort();
        }
        // Commands in flight stay `sent` and unacknowledged: whichever
        // gateway next pulls them ends them failed (unknown outcome).
        if let Some((_, keeper)) = keeper {
            keeper.abort();
        }
        // Replies and presence deletes still queued in the client go out.
        if self.stats.connected.load(Ordering::Relaxed)
            && tokio::time::timeout(Duration::from_secs(1), client.flush())
                .await
                .is_err()
        {
            warn!("bus: could not flush to the server at shutdown");
        }
        info!(
            "bus: stopped; {} events published this run",
            self.stats.events_published.load(Ordering::Relaxed)
        );
    }
}
