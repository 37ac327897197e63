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
//!
//! Per event the bridge does little: the subject comes from the line's
//! head (`subject`), subjects share one buffer, the publish is a plain
//! NATS publish with a reply subject, and the acks of a window all come to
//! one subscription and are matched by the sequence number in their
//! subject (`window`), a batch at a time: no task, future, timer or
//! channel per event.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::header::{HeaderMap, HeaderName, HeaderValue, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, stream};
use async_nats::{Client, Message, Subject, Subscriber};
use bytes::{BufMut, BytesMut};
use futures_util::{FutureExt, StreamExt};
use log::{info, warn};

use super::ack::{self, Outcome};
use super::cursor::{self, Position};
use super::subject;
use super::tail::{Line, Tail};
use super::window::{Matched, Window};
use crate::config::BusConfig;
use crate::cross_thread::BusStats;
use crate::json_text::push_u64;

/// How often the cursor is saved while events flow, and the backlog measured.
const SAVE_EVERY: Duration = Duration::from_millis(200);
/// Pause at the end of the journal before looking again.
const IDLE_POLL: Duration = Duration::from_millis(5);
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// Subject bytes written before the shared subject buffer takes a new
/// block (one allocation for some hundreds of publishes).
const SUBJECT_BLOCK: usize = 64 << 10;
const GATEWAY_HEADER: HeaderName = HeaderName::from_static("Ocpp-Gateway");

pub struct Publisher {
    pub client: Client,
    pub js: jetstream::Context,
    pub config: Arc<BusConfig>,
    pub gateway_id: String,
    pub dir: PathBuf,
    /// Publishes in flight at most (`[channels] capacity`).
    pub window: usize,
    /// An ack not back by then fails the window (published again).
    pub ack_timeout: Duration,
    pub stats: Arc<BusStats>,
    /// Whether the NATS connection is up, as events arrive.
    pub link: tokio::sync::watch::Receiver<bool>,
}

/// Where the bridge stops: `None` while running, else the drain deadline.
pub type StopAt = tokio::sync::watch::Receiver<Option<Instant>>;

/// What one publish needs besides the line, made once per run.
struct Outbox {
    /// Acks come to `{inbox}.{seq}`; one subscription takes them all.
    inbox: String,
    acks: Subscriber,
    gateway: HeaderValue,
    /// Subjects and reply subjects are written here and split off: the
    /// publishes share its blocks instead of holding a String each.
    subjects: BytesMut,
    /// The subscription has ended (the client closed it).
    ended: bool,
}

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

    /// A fresh ack subscription on a new inbox; `None` (logged) if the
    /// client refuses it (it is closed: the bridge is stopping).
    async fn outbox(&self) -> Option<Outbox> {
        let inbox = self.client.new_inbox();
        match self.client.subscribe(format!("{inbox}.*")).await {
            Ok(acks) => Some(Outbox {
                inbox,
                acks,
                gateway: HeaderValue::from(self.gateway_id.as_str()),
                subjects: BytesMut::new(),
                ended: false,
            }),
            Err(e) => {
                log::error!(
                    "bus: cannot subscribe to publish acks: {e}; events stay in the journal"
                );
                None
            }
        }
    }

    /// Publishes `line` with its ack asked on `{inbox}.{seq}`; false if the
    /// line is not a record (skipped).
    async fn publish(
        &self,
        out: &mut Outbox,
        line: &Line,
        seq: u64,
    ) -> Result<bool, async_nats::Error> {
        if out.subjects.capacity() < 256 {
            out.subjects.reserve(SUBJECT_BLOCK);
        }
        if !subject::append(&self.config.subject_prefix, &line.text, &mut out.subjects) {
            warn!(
                "bus: journal line at {} {} is not a record; skipped",
                line.start.file, line.start.offset
            );
            return Ok(false);
        }
        let subject = Subject::from_utf8(out.subjects.split().freeze())?;
        out.subjects.put_slice(out.inbox.as_bytes());
        out.subjects.put_u8(b'.');
        push_u64(&mut out.subjects, seq);
        let reply = Subject::from_utf8(out.subjects.split().freeze())?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, message_id(&self.gateway_id, &line.start));
        headers.insert(GATEWAY_HEADER, out.gateway.clone());
        self.client
            .publish_with_reply_and_headers(subject, reply, headers, line.text.clone())
            .await?;
        Ok(true)
    }

    /// Books one ack; an error is a refusal (the window goes again).
    fn on_ack(&self, window: &mut Window, message: &Message) -> Result<(), String> {
        let seq = message
            .subject
            .as_str()
            .rsplit_once('.')
            .and_then(|(_, seq)| seq.parse().ok());
        if seq.map(|seq| window.ack(seq)) != Some(Matched::Waiting) {
            BusStats::add(&self.stats.acks_stale, 1);
            return Ok(());
        }
        match ack::decode(message) {
            Outcome::Stored { duplicate } => {
                if duplicate {
                    BusStats::add(&self.stats.events_duplicate, 1);
                }
                Ok(())
            }
            Outcome::Refused(reason) => Err(reason),
        }
    }

    /// Runs until stopped and drained (or the drain deadline passes).
    pub async fn run(self, mut stop: StopAt) {
        let dir = self.dir.clone();
        let mut acked = match cursor::load(&dir) {
            Ok(Some(at)) => at,
            Ok(None) => match Tail::newest(&dir) {
                // First start with the bus: begin with this run's journal.
                Ok(Some(file)) => Position {
                    file: file.into(),
                    offset: 0,
                },
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
        let Some(mut out) = self.outbox().await else {
            return;
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
        let mut window = Window::new(self.window);
        let ack_timer = tokio::time::sleep(self.ack_timeout);
        tokio::pin!(ack_timer);
        let mut at_end = false;
        let mut stream_ready = false;
        let mut link = self.link.clone();
        loop {
            self.stats
                .publish_in_flight
                .store(window.len() as u64, Ordering::Relaxed);
            let deadline = *stop.borrow();
            if let Some(deadline) = deadline
                && (Instant::now() >= deadline || (at_end && window.is_empty()))
            {
                break;
            }
            let connected = self.stats.connected.load(Ordering::Relaxed);
            // A stopping gateway does not wait for an absent bus: the
            // journal keeps the events and the next start sends them.
            if deadline.is_some() && !connected {
                break;
            }
            if window.is_empty() && !connected {
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
            // Fill the window. The publishes of one fill reach the
            // connection together (one write), and so do their acks.
            at_end = false;
            let mut failed: Option<String> = None;
            let sent = Instant::now();
            while !window.is_full() {
                match tail.next_line() {
                    Ok(Some(line)) => {
                        let seq = window.next_seq();
                        // Biased: a publish that can go at once is not
                        // slowed by building the stop check.
                        let published = tokio::select! {
                            biased;
                            published = self.publish(&mut out, &line, seq) => published,
                            () = given_up(&mut stop, &self.stats) => Err("stopping".into()),
                        };
                        match published {
                            Ok(true) => window.push_published(line.next, sent),
                            // The cursor passes it with the acks before it.
                            Ok(false) => window.push_skipped(line.next, sent),
                            Err(e) => {
                                failed = Some(format!("publish: {e}"));
                                break;
                            }
                        }
                    }
                    Ok(None) => {
                        at_end = true;
                        break;
                    }
                    Err(e) => {
                        failed = Some(format!("reading the journal: {e}"));
                        break;
                    }
                }
            }
            if failed.is_none() && !window.is_empty() {
                failed = self
                    .collect_acks(
                        &mut out,
                        &mut window,
                        ack_timer.as_mut(),
                        &mut link,
                        &mut stop,
                    )
                    .await
                    .err();
            } else if failed.is_none() {
                pause(&mut stop, IDLE_POLL).await;
            }
            if let Some(done) = window.take_done() {
                acked = done.next;
                BusStats::add(&self.stats.events_published, done.published);
            }
            if let Some(reason) = failed {
                warn!("bus: {reason}; publishing again from the cursor");
                BusStats::add(&self.stats.publish_errors, 1);
                window.abandon();
                tail.seek(acked.clone());
                stream_ready = false;
                if out.ended {
                    // Only a client that is shutting down ends it; if not,
                    // a new one takes the acks from now on.
                    match self.outbox().await {
                        Some(new) => out = new,
                        None => break,
                    }
                }
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
        self.stats.publish_in_flight.store(0, Ordering::Relaxed);
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

    /// Waits for at least one ack, then books every ack already there
    /// (they come in batches, as the server answers a batch of publishes).
    /// An error gives up on the window: no ack within `ack_timeout` of the
    /// oldest publish, the connection gone (no ack can come over it), a
    /// refusal, or a stopping bridge past its deadline.
    async fn collect_acks(
        &self,
        out: &mut Outbox,
        window: &mut Window,
        mut ack_timer: std::pin::Pin<&mut tokio::time::Sleep>,
        link: &mut tokio::sync::watch::Receiver<bool>,
        stop: &mut StopAt,
    ) -> Result<(), String> {
        let oldest = window.oldest_sent().unwrap_or_else(Instant::now);
        ack_timer
            .as_mut()
            .reset(tokio::time::Instant::from_std(oldest + self.ack_timeout));
        let first = tokio::select! {
            message = out.acks.next() => match message {
                Some(message) => message,
                None => {
                    out.ended = true;
                    return Err("the ack subscription ended".into());
                }
            },
            () = ack_timer => return Err(format!("no ack within {:?}", self.ack_timeout)),
            _ = link.wait_for(|up| !*up) => return Err("the connection dropped".into()),
            () = given_up(stop, &self.stats) => return Err("stopping".into()),
        };
        self.on_ack(window, &first)?;
        // Those already delivered; the runtime's budget ends the run of
        // them now and then (the next one then waits for the next round).
        while let Some(Some(message)) = out.acks.next().now_or_never() {
            self.on_ack(window, &message)?;
        }
        Ok(())
    }
}

/// `{gateway_id}/{file}/{offset}`: JetStream's dedup key for the line.
fn message_id(gateway_id: &str, at: &Position) -> String {
    let mut id = String::with_capacity(gateway_id.len() + at.file.len() + 22);
    id.push_str(gateway_id);
    id.push('/');
    id.push_str(&at.file);
    id.push('/');
    push_u64(&mut id, at.offset);
    id
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_gateway_file_offset() {
        let at = Position {
            file: "journal-20261124T202038.541Z-000001.jsonl".into(),
            offset: 18_446_744_073_709_551_615,
        };
        assert_eq!(
            message_id("gw-1", &at),
            "gw-1/journal-20261124T202038.541Z-000001.jsonl/18446744073709551615"
        );
        for (offset, id) in [(0, "gw-1/f/0"), (907, "gw-1/f/907")] {
            let at = Position {
                file: "f".into(),
                offset,
            };
            assert_eq!(message_id("gw-1", &at), id);
        }
    }
}
