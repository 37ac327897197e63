//! Counters, kept where they are counted and published for the admin API.
//!
//! A reactor counts into a plain struct it owns (no atomics on the frame
//! path) and copies it into its [`ReactorStats`] once per timer tick. Readers
//! (admin, tests) see values at most one tick old. The processors publish
//! [`ProcessorStats`] the same way; the bus bridge and the memory trimmer
//! update their atomics as they go (never on a reactor's frame path).
//! [`ReactorTallies`] is the one gateway-wide tally the reactors update
//! together, at handshakes and partial-message growth only.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One gauge per possible profile index (`config` allows at most
/// [`MAX_PROFILES`](crate::config::MAX_PROFILES)), published by a reactor
/// at its tick like its counters.
#[derive(Debug)]
pub struct ProfileGauges(Box<[AtomicU64]>);

impl Default for ProfileGauges {
    fn default() -> Self {
        ProfileGauges(
            (0..crate::config::MAX_PROFILES)
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }
}

impl ProfileGauges {
    /// Stores `counts[i]` for every index (0 beyond `counts`).
    pub fn publish(&self, counts: &[u64]) {
        for (i, gauge) in self.0.iter().enumerate() {
            gauge.store(counts.get(i).copied().unwrap_or(0), Ordering::Relaxed);
        }
    }

    pub fn get(&self, index: usize) -> u64 {
        self.0.get(index).map_or(0, |g| g.load(Ordering::Relaxed))
    }
}

macro_rules! reactor_counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// One reactor's counters, owned and incremented by that reactor only.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ReactorCounters { $($(#[$doc])* pub $name: u64,)* }

        /// The published copy of a reactor's counters, readable from any thread.
        #[derive(Debug, Default)]
        pub struct ReactorStats {
            $($name: AtomicU64,)*
            last_tick_unix_ms: AtomicU64,
            /// Open connections under each `[[profiles]]` entry, by index.
            pub profile_connections: ProfileGauges,
        }

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
    /// Handshakes refused with an HTTP status, all statuses.
    handshakes_refused,
    /// ... by status: 400 bad path or id.
    refused_400,
    /// ... 401 missing or wrong credentials.
    refused_401,
    /// ... 404 path outside the prefix, or unknown charge point.
    refused_404,
    /// ... 409 id already connected (`duplicate_id = "reject"`).
    refused_409,
    /// ... 503 `max_connections` reached.
    refused_503,
    /// Handshakes that failed: bad request, peer gone, timeout.
    handshakes_failed,
    handshake_timeouts,
    /// Text frames received from charge points.
    frames_in,
    /// Frames sent to charge points (answers, errors, server calls).
    frames_out,
    /// CALLs handed to the processors.
    calls_dispatched,
    /// CALLs answered on the reactor itself (`processors.inline_actions`).
    calls_answered_inline,
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
    /// Connections closed by the gateway with a close frame, all codes.
    closes_sent,
    /// ... by code: 1000 normal (admin), 1001 going away (shutdown).
    close_1000,
    close_1001,
    /// ... 1002 protocol error (no subprotocol, broken WebSocket framing).
    close_1002,
    /// ... 1003 binary frame.
    close_1003,
    /// ... 1007 text frame not UTF-8.
    close_1007,
    /// ... 1008 policy (replaced by a newer connection with the same id).
    close_1008,
    /// ... 1009 message too big.
    close_1009,
    /// ... any other code (given through the admin API).
    close_other,
    /// CALLERRORs received from charge points (answers to server CALLs).
    callerrors_received,
    /// Connections closed because the same id connected again (replace).
    replaced_connections,
    /// Connections dropped at the close deadline without a close reply.
    close_timeouts,
    /// Server-initiated CALLs written to a charge point.
    server_calls_sent,
    /// Server-initiated CALLs answered (CALLRESULT or CALLERROR) in time.
    server_calls_answered,
    /// Server-initiated CALLs not answered within their timeout.
    server_calls_timed_out,
    /// TLS handshakes completed, by negotiated version.
    tls_ok_tls12,
    tls_ok_tls13,
    /// TLS handshakes failed: client certificate missing or not valid.
    tls_failed_client_certificate,
    /// ... the client sent an alert (e.g. it does not trust our certificate).
    tls_failed_peer_alert,
    /// ... no common version or cipher suite.
    tls_failed_incompatible,
    /// ... not TLS, or malformed.
    tls_failed_protocol,
    /// ... the client went away mid-handshake.
    tls_failed_eof,
    /// ... not finished within tls.handshake_timeout.
    tls_failed_timeout,
    /// Times accepting stopped at `listen.max_handshakes` (all unfinished
    /// handshakes on other reactors).
    accept_pauses_handshakes,
    /// Unfinished handshakes dropped for newer ones at `listen.max_handshakes`.
    handshakes_shed,
    /// Upgrades refused 503 over `listen.max_handshakes_per_second`.
    handshakes_rate_limited,
    /// Read passes cut short by `websocket.bytes_per_turn`/`frames_per_turn`.
    read_budget_exhausted,
    /// Times a connection stopped being read at `websocket.max_buffered_bytes`.
    buffer_budget_pauses,
    /// Connections whose buffers were rebuilt small after a large frame.
    buffers_compacted,
    /// Connections closed 1008: a message not complete within `websocket.message_timeout`.
    message_timeouts,
    /// CALLs held for `ocpp.max_calls_per_second`.
    call_rate_waits,
    /// Connections closed 1008 past `ocpp.max_bad_messages`.
    bad_message_closes,
    /// Connections dropped at `websocket.max_write_buffer_size` (peer does not read).
    write_buffer_full_drops,
    /// Connections dropped at `websocket.write_timeout` (output not taken).
    write_timeouts,
    /// Dead server-call timers removed from the wheel.
    timers_pruned,
    /// Commands refused at `ocpp.max_queued_server_calls`.
    server_calls_refused_queue_full,
    /// Answers to server calls that came after their timeout.
    late_results,
    /// CALLRESULT/CALLERROR frames that were malformed (nothing is sent back).
    malformed_answers,
    /// Times a reactor stopped reading at `journal.reactor_backlog`.
    journal_read_pauses,
    /// 2.1: CALLRESULTERRORs received (the charge point could not process
    /// one of our CALLRESULTs, or refused a server call's answer frame).
    result_errors_received,
    /// 2.1: CALLRESULTERRORs sent (a CALLRESULT to a server call broke its
    /// response schema or could not be read).
    result_errors_sent,
    /// 2.1: SEND messages handed to the processors.
    sends_dispatched,
    /// Open connections whose frames are traced now (a gauge).
    traced_connections,
    /// Frames of traced connections dropped because the trace queue was full.
    trace_frames_dropped,
    /// Traces not started: the reactor's backlog of trace start/stop lines
    /// was as long as the trace queue (the writer is far behind).
    trace_starts_refused,
    /// Nanoseconds this reactor spent working (outside `poll`): its load.
    busy_nanos,
    /// Ready/gone notices for the command queue dropped: its inbox and
    /// this reactor's backlog (`channels.capacity`) were full.
    queue_notes_dropped,
}

impl ReactorStats {
    /// Wall-clock time of the last publish (the reactor's last tick).
    pub fn last_tick_unix_ms(&self) -> u64 {
        self.last_tick_unix_ms.load(Ordering::Relaxed)
    }
}

/// Counters the bridge alone updates; read by the admin API.
#[derive(Default)]
pub struct BusStats {
    pub connected: AtomicBool,
    pub events_published: AtomicU64,
    /// Acks that said "duplicate" (a re-publish after an outage or restart).
    pub events_duplicate: AtomicU64,
    pub publish_errors: AtomicU64,
    /// Publishes waiting for their ack (at most `channels.capacity`).
    pub publish_in_flight: AtomicU64,
    /// Acks that matched no publish in flight: for a window given up on
    /// (published again) or otherwise unknown. Dropped.
    pub acks_stale: AtomicU64,
    /// Journal bytes not yet acknowledged by JetStream.
    pub backlog_bytes: AtomicU64,
    pub backend_answered: AtomicU64,
    pub backend_timeouts: AtomicU64,
    pub backend_no_responders: AtomicU64,
    pub backend_failed: AtomicU64,
    pub commands: AtomicU64,
    /// Commands answered 503 at `bus.max_commands_in_flight`.
    pub commands_refused: AtomicU64,
    /// Charge points this gateway holds in the presence bucket.
    pub presence_entries: AtomicU64,
}

impl BusStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Requests from the reactors to the memory trimmer, and what it did.
#[derive(Debug, Default)]
pub struct MemoryStats {
    pub trim_wanted: AtomicBool,
    pub trims: AtomicU64,
    /// Time spent in `malloc_trim`, all trims together and the longest.
    pub trim_micros_total: AtomicU64,
    pub trim_micros_max: AtomicU64,
}

impl MemoryStats {
    /// Asks for a trim soon (any thread; cheap, never blocks).
    pub fn request_trim(&self) {
        self.trim_wanted.store(true, Ordering::Release);
    }
}

/// Tallies that hold for all reactors together. Touched when a handshake
/// starts or ends and when a partly received message grows or completes
/// across reads, never for a frame that arrives whole.
#[derive(Debug, Default)]
pub struct ReactorTallies {
    /// Connections accepted and not yet upgraded (`listen.max_handshakes`).
    pub handshakes: AtomicUsize,
    /// Bytes held in partly received messages (`websocket.max_buffered_bytes`).
    pub buffered_bytes: AtomicUsize,
}

/// Log lines dropped because the log queue was full, since start: counted
/// by whichever thread logs (the logger is process-global, and so is this
/// count), read by the log writer and /metrics.
pub static LOG_LINES_DROPPED: AtomicU64 = AtomicU64::new(0);

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ReactorCounters {
    /// Charge-point CALLs taken: handed to the processors or answered inline.
    pub fn calls(&self) -> u64 {
        self.calls_dispatched + self.calls_answered_inline
    }

    /// Counts a close frame sent with `code`.
    pub fn count_close(&mut self, code: u16) {
        self.closes_sent += 1;
        match code {
            1000 => self.close_1000 += 1,
            1001 => self.close_1001 += 1,
            1002 => self.close_1002 += 1,
            1003 => self.close_1003 += 1,
            1007 => self.close_1007 += 1,
            1008 => self.close_1008 += 1,
            1009 => self.close_1009 += 1,
            _ => self.close_other += 1,
        }
    }

    /// Counts a handshake refused with HTTP `status`.
    pub fn count_refusal(&mut self, status: u16) {
        self.handshakes_refused += 1;
        match status {
            400 => self.refused_400 += 1,
            401 => self.refused_401 += 1,
            404 => self.refused_404 += 1,
            409 => self.refused_409 += 1,
            503 => self.refused_503 += 1,
            _ => {}
        }
    }
}

/// Answers decided by one processor thread, by action and outcome
/// (`"result"` or the CALLERROR code), and the schema violations lenient
/// mode let through, by quirk and action. The thread counts into its own
/// maps and publishes them here at most once per timer tick, so the lock is
/// taken per tick, not per call. Action labels are the protocol's own names
/// (or `"unknown"`) and quirks a closed set, so their number is bounded.
#[derive(Debug, Default)]
pub struct ProcessorStats {
    answers: std::sync::Mutex<AnswerCounts>,
    lenient: std::sync::Mutex<LenientCounts>,
}

pub type AnswerCounts = std::collections::HashMap<(&'static str, &'static str), u64>;

/// Tolerated violations by (quirk, action).
pub type LenientCounts = std::collections::HashMap<(&'static str, &'static str), u64>;

impl ProcessorStats {
    pub fn publish(&self, answers: &AnswerCounts, lenient: &LenientCounts) {
        let mut shared = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        shared.clone_from(answers);
        drop(shared);
        if !lenient.is_empty() {
            let mut shared = self.lenient.lock().unwrap_or_else(|p| p.into_inner());
            shared.clone_from(lenient);
        }
    }

    pub fn snapshot(&self) -> AnswerCounts {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn lenient_snapshot(&self) -> LenientCounts {
        self.lenient
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
