//! Counters, kept where they are counted and published periodically.
//!
//! A reactor counts into a plain struct it owns (no atomics on the frame
//! path) and copies it into its [`ReactorStats`] once per timer tick. Readers
//! (admin, tests) see values at most one tick old.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

macro_rules! reactor_counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// One reactor's counters, owned and incremented by that reactor only.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ReactorCounters { $($(#[$doc])* pub $name: u64,)* }

        /// The published copy of a reactor's counters, readable from any thread.
        #[derive(Debug, Default)]
        pub struct ReactorStats { $($name: AtomicU64,)* last_tick_unix_ms: AtomicU64 }

        impl ReactorStats {
            pub fn publish(&self, c: &ReactorCounters) {
                $(self.$name.store(c.$name, Ordering::Relaxed);)*
                self.last_tick_unix_ms.store(unix_ms(), Ordering::Relaxed);
            }

            pub fn snapshot(&self) -> ReactorCounters {
                ReactorCounters { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

reactor_counters! {
    /// Connections currently held (handshaking or open).
    connections_open,
    /// WebSocket connections established (101 sent).
    handshakes_accepted,
    /// Handshakes refused with an HTTP status (400, 404, 409, 503…).
    handshakes_refused,
    /// Handshakes that failed: bad request, peer gone, timeout.
    handshakes_failed,
    handshake_timeouts,
    /// Text frames received from charge points.
    frames_in,
    /// Frames sent to charge points (answers, errors, server calls).
    frames_out,
    /// CALLs handed to the processors.
    calls_dispatched,
    /// Answers that arrived for a connection that had already gone.
    answers_for_closed,
    /// Frames refused at the envelope (not JSON, arity, id too long…).
    frame_errors,
    /// CALLRESULT/CALLERROR with an id we did not send.
    unsolicited_results,
    pings_sent,
    dead_peer_closes,
    /// Times a connection stopped reading because the processor queue was full.
    backpressure_stalls,
    /// Connections closed by the gateway with a close frame.
    closes_sent,
    /// Connections dropped at the close deadline without a close reply.
    close_timeouts,
    /// Server-initiated CALLs written to a charge point.
    server_calls_sent,
    /// Server-initiated CALLs answered (CALLRESULT or CALLERROR) in time.
    server_calls_answered,
    /// Server-initiated CALLs not answered within their timeout.
    server_calls_timed_out,
}

impl ReactorStats {
    /// Wall-clock time of the last publish (the reactor's last tick).
    pub fn last_tick_unix_ms(&self) -> u64 {
        self.last_tick_unix_ms.load(Ordering::Relaxed)
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
