//! Scale-out over NATS (DESIGN.md, "Northbound"; README "Running several
//! gateways"): one bridge thread owns the NATS client and runs a
//! single-threaded tokio runtime. Nothing async leaves this module:
//! reactors and processors meet it through the registry's presence changes,
//! one bounded request channel, one bounded reply channel and the reactors'
//! inboxes.
//!
//! ```text
//! journal files --tail--> events   --> JetStream  {prefix}.up.{id}.{kind}
//! registry changes -----> presence --> KV bucket  + SUB {prefix}.cmd.{id} --> reactor inbox
//! processors -BackendRequest-> backend --> request {prefix}.req.{action} --BackendReply-> processors
//! ```

mod ack;
mod backend;
mod bridge;
mod commands;
mod cursor;
mod events;
mod presence;
mod queue;
mod subject;
mod tail;
pub mod token;
mod window;

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cross_thread::{BridgeEnds, BusHandle, BusStats, QueueEnds};

/// The running bridge thread.
pub struct Bus {
    thread: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<Option<Instant>>,
}

impl Bus {
    /// Starts the bridge. It connects in the background (a bus that is down
    /// at start is a bus outage like any other: events wait in the journal).
    pub fn start(
        gateway: Arc<BusHandle>,
        ends: Option<BridgeEnds>,
        stats: Arc<BusStats>,
        queue: Option<QueueEnds>,
    ) -> io::Result<Bus> {
        let (stop, stop_rx) = tokio::sync::watch::channel(None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let bridge = bridge::Bridge::new(gateway, stats.clone(), stop_rx);
        let thread = std::thread::Builder::new()
            .name("bus-bridge".into())
            .spawn(move || runtime.block_on(bridge.run(ends, queue)))?;
        Ok(Bus { thread, stop })
    }

    /// Asks the bridge to publish what the journal still holds (for at most
    /// `drain`), save its cursor and stop; waits for it, but not past
    /// `drain`: a bridge stuck on an unreachable server is left behind (the
    /// process is about to exit). Call after the journal has closed. What
    /// is left is published at the next start (from the last saved cursor;
    /// JetStream drops what it already has by message id).
    pub fn shutdown(self, drain: Duration) {
        let deadline = Instant::now() + drain;
        // A little of the drain time is kept for the bridge to save its cursor.
        let publish_until = deadline - (drain / 10).min(Duration::from_millis(100));
        let _ = self.stop.send(Some(publish_until));
        while !self.thread.is_finished() {
            if Instant::now() >= deadline {
                log::warn!(
                    "bus: the bridge did not stop in time; leaving it (events wait in the journal)"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.thread.join().is_err() {
            log::error!("bus: the bridge thread panicked");
        }
    }
}
