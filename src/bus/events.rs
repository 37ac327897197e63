//! Events up: every journal line goes to JetStream on
//! `{prefix}.up.{token(cp)}.{kind}`, in journal order, each acknowledged.
//!
//! The journal is the store of store-and-forward: the publisher reads it
//! from the cursor (the last acknowledged position), keeps up to
//! `[channels] capacity` publishes in flight, and advances the cursor only
//! over acknowledged lines. A failed publish (bus away, ack timeout) sends
//! it back to the cursor to publish again; JetStream drops lines it already
//! has by their message id (`{gateway_id}/{file}/{offset}`), which is the
//! same after a restart, so nothing is lost and nothing is stored twice.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use log::{info, warn};
use serde::Deserialize;

use super::cursor::{self, Position};
use super::tail::{Line, Tail};
use super::token;
use crate::config::BusConfig;
use crate::cross_thread::BusStats;

/// How often the cursor is saved while events flow, and the backlog measured.
const SAVE_EVERY: Duration = Duration::from_millis(200);
/// Pause at the end of the journal before looking again.
const IDLE_POLL: Duration = Duration::from_millis(5);
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The two fields of a journal line that make its subject.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    cp: std::borrow::Cow<'a, str>,
    kind: &'a str,
}

pub struct Publisher {
    pub js: jetstream::Context,
    pub config: Arc<BusConfig>,
    pub gateway_id: String,
    pub dir: PathBuf,
    pub window: usize,
    pub stats: Arc<BusStats>,
    /// Whether the NATS connection is up, as events arrive.
    pub link: tokio::sync::watch::Receiver<bool>,
}

/// Where the bridge stops: `None` while running, else the drain deadline.
pub type StopAt = tokio::sync::watch::Receiver<Option<Instant>>;

impl Publisher {
    pub async fn ensure_stream(&self) -> Result<(), async_nats::Error> {
        let c = &self.config;
        let config = stream::Config {
            name: c.stream.clone(),
            subjects: vec![format!("{}.up.>", c.subject_prefix)],
            max_age: c.stream_max_age,
            max_bytes: if c.stream_max_bytes == 0 {
                -1
            } else {
                i64::try_from(c.stream_max_bytes).unwrap_or(i64::MAX)
            },
            duplicate_window: c.duplicate_window,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        self.js.get_or_create_stream(config).await?;
        Ok(())
    }

    fn subject_of(&self, line: &[u8]) -> Option<String> {
        let head: Head = serde_json::from_slice(line).ok()?;
        Some(format!(
            "{}.up.{}.{}",
            self.config.subject_prefix,
            token::encode(&head.cp),
            head.kind
        ))
    }

    async fn publish(&self, line: &Line) -> Result<Option<PublishAckFuture>, async_nats::Error> {
        let Some(subject) = self.subject_of(&line.text) else {
            warn!(
                "bus: journal line at {} {} is not a record; skipped",
                line.start.file, line.start.offset
            );
            return Ok(None);
        };
        let id = format!(
            "{}/{}/{}",
            self.gateway_id, line.start.file, line.start.offset
        );
        let message = PublishMessage::build()
            .payload(line.text.clone())
            .message_id(id)
            .header("Ocpp-Gateway", self.gateway_id.as_str());
        Ok(Some(self.js.send_publish(subject, message).await?))
    }

    /// Runs until stopped and drained (or the drain deadline passes).
    pub async fn run(self, mut stop: StopAt) {
        let dir = self.dir.clone();
        let mut acked = match cursor::load(&dir) {
            Ok(Some(at)) => at,
            Ok(None) => match Tail::newest(&dir) {
                // First start with the bus: begin with this run's journal.
                Ok(Some(file)) => Position { file, offset: 0 },
                _ => {
                    warn!(
                        "bus: no journal file in {}; events stay local",
                        dir.display()
                    );
                    return;
                }
            },
            Err(e) => {
                // Publishing from a guess could skip events: refuse.
                log::error!("bus: {}: {e}; events are not published", dir.display());
                return;
            }
        };
        if let Err(e) = cursor::save(&dir, &acked) {
            warn!("bus: cannot save {}: {e}", cursor::FILE);
        }
        let mut saved = acked.clone();
        let mut last_save = Instant::now();
        // The backlog gauge runs on its own: the loop can spend seconds
        // waiting for an ack while the bus is away, and that is exactly
        // when the backlog matters.
        let (acked_tx, acked_rx) = tokio::sync::watch::channel(acked.clone());
        let gauge = tokio::spawn(backlog_gauge(dir.clone(), acked_rx, self.stats.clone()));
        let mut tail = Tail::new(dir.clone(), acked.clone());
        let mut in_flight: VecDeque<(PublishAckFuture, Position)> = VecDeque::new();
        let mut at_end = false;
        let mut stream_ready = false;
        let mut link = self.link.clone();
        loop {
            let deadline = *stop.borrow();
            if let Some(deadline) = deadline
                && (Instant::now() >= deadline || (at_end && in_flight.is_empty()))
            {
                break;
            }
            let connected = self.stats.connected.load(Ordering::Relaxed);
            // A stopping gateway does not wait for an absent bus: the
            // journal keeps the events and the next start sends them.
            if deadline.is_some() && !connected {
                break;
            }
            if in_flight.is_empty() && !connected {
                // Bus away: the journal keeps the events.
                pause(&mut stop, IDLE_POLL * 20).await;
                continue;
            }
            if !stream_ready {
                match self.ensure_stream().await {
                    Ok(()) => {
                        stream_ready = true;
                        info!("bus: publishing events to stream {}", self.config.stream);
                    }
                    Err(e) => {
                        warn!("bus: stream {}: {e}; retrying", self.config.stream);
                        pause(&mut stop, RETRY_AFTER).await;
                        continue;
                    }
                }
            }
            // Fill the window.
            at_end = false;
            let mut failed = false;
            while in_flight.len() < self.window {
                match tail.next_line() {
                    Ok(Some(line)) => match tokio::select! {
                        published = self.publish(&line) => published,
                        () = given_up(&mut stop, &self.stats) => Err("stopping".into()),
                    } {
                        Ok(Some(ack)) => in_flight.push_back((ack, line.next)),
                        Ok(None) if in_flight.is_empty() => acked = line.next,
                        // Skipped, but the cursor only moves past it with
                        // the acks before it.
                        Ok(None) => {}
                        Err(e) => {
                            warn!("bus: publish: {e}");
                            failed = true;
                            break;
                        }
                    },
                    Ok(None) => {
                        at_end = true;
                        break;
                    }
                    Err(e) => {
                        warn!("bus: reading the journal: {e}");
                        failed = true;
                        break;
                    }
                }
            }
            if !failed && let Some((ack, next)) = in_flight.pop_front() {
                // Stopping: an ack is waited for only until the deadline,
                // and not at all once the bus is gone.
                // An ack cannot come over a connection that is gone: give
                // up on the window at once and publish it again when the
                // bus is back (rather than after the ack timeout).
                let ack = tokio::select! {
                    ack = ack => ack,
                    _ = link.wait_for(|up| !*up) => Err(
                        async_nats::jetstream::context::PublishError::new(
                            async_nats::jetstream::context::PublishErrorKind::BrokenPipe,
                        ),
                    ),
                    () = given_up(&mut stop, &self.stats) => Err(
                        async_nats::jetstream::context::PublishError::new(
                            async_nats::jetstream::context::PublishErrorKind::TimedOut,
                        ),
                    ),
                };
                match ack {
                    Ok(ack) => {
                        acked = next;
                        BusStats::add(&self.stats.events_published, 1);
                        if ack.duplicate {
                            BusStats::add(&self.stats.events_duplicate, 1);
                        }
                    }
                    Err(e) => {
                        warn!(
                            "bus: event not acknowledged ({e}); publishing again from the cursor"
                        );
                        failed = true;
                    }
                }
            } else if !failed {
                pause(&mut stop, IDLE_POLL).await;
            }
            if failed {
                BusStats::add(&self.stats.publish_errors, 1);
                in_flight.clear();
                tail.seek(acked.clone());
                stream_ready = false;
                pause(&mut stop, RETRY_AFTER).await;
            }
            if acked != saved && last_save.elapsed() >= SAVE_EVERY {
                last_save = Instant::now();
                match cursor::save(&dir, &acked) {
                    Ok(()) => saved = acked.clone(),
                    Err(e) => warn!("bus: cannot save {}: {e}", cursor::FILE),
                }
                let _ = acked_tx.send(acked.clone());
            }
        }
        // Acks still in flight are not counted: their lines go again next time
        // (and JetStream drops them as duplicates).
        if let Err(e) = cursor::save(&dir, &acked) {
            warn!("bus: cannot save {}: {e}", cursor::FILE);
        }
        gauge.abort();
        let left = Tail::bytes_after(&dir, &acked);
        self.stats.backlog_bytes.store(left, Ordering::Relaxed);
        if left > 0 {
            info!("bus: {left} journal bytes not yet published; they go at the next start");
        }
    }
}

/// Returns when a stopping bridge should stop waiting for acks: the drain
/// deadline has passed or the bus is gone. Never returns while running.
async fn given_up(stop: &mut StopAt, stats: &BusStats) {
    loop {
        let stopping_at = *stop.borrow();
        match stopping_at {
            Some(deadline) => {
                if Instant::now() >= deadline || !stats.connected.load(Ordering::Relaxed) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => {
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// Keeps `backlog_bytes` current: journal bytes past the saved cursor.
async fn backlog_gauge(
    dir: PathBuf,
    acked: tokio::sync::watch::Receiver<Position>,
    stats: Arc<BusStats>,
) {
    loop {
        let from = acked.borrow().clone();
        stats
            .backlog_bytes
            .store(Tail::bytes_after(&dir, &from), Ordering::Relaxed);
        tokio::time::sleep(SAVE_EVERY).await;
    }
}

/// Sleeps for `d`, or less if the stop signal changes.
pub async fn pause(stop: &mut StopAt, d: Duration) {
    let _ = tokio::time::timeout(d, stop.changed()).await;
}
