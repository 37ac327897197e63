//! `/metrics`: the gateway's counters in the Prometheus/OpenMetrics text
//! format, built from the published snapshots at scrape time (reactors and
//! processors never touch this code or a shared metric on their frame path).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::counters::{AdminCounters, Refused};
use crate::cross_thread::AdminHandle;
use crate::cross_thread::ReactorCounters;

type Labels = Vec<(&'static str, String)>;
/// Reads one counter out of a reactor's snapshot.
type CounterOf = fn(&ReactorCounters) -> u64;

/// Counters of the limits that keep one peer from costing the others
/// (README, "Limits"): each names the limit it counts.
const LIMIT_COUNTERS: [(&str, &str, CounterOf); 16] = [
    (
        "accept_pauses_handshakes",
        "Times accepting stopped at listen.max_handshakes",
        |c| c.accept_pauses_handshakes,
    ),
    (
        "handshakes_shed",
        "Unfinished handshakes dropped for newer ones at listen.max_handshakes",
        |c| c.handshakes_shed,
    ),
    (
        "handshakes_rate_limited",
        "Upgrades refused 503 over listen.max_handshakes_per_second",
        |c| c.handshakes_rate_limited,
    ),
    (
        "read_budget_exhausted",
        "Read passes cut short by websocket.bytes_per_turn or frames_per_turn",
        |c| c.read_budget_exhausted,
    ),
    (
        "buffer_budget_pauses",
        "Connections not read for a while at websocket.max_buffered_bytes",
        |c| c.buffer_budget_pauses,
    ),
    (
        "buffers_compacted",
        "Connections whose buffers were given back after a large frame",
        |c| c.buffers_compacted,
    ),
    (
        "message_timeouts",
        "Connections closed 1008: a message not complete within websocket.message_timeout",
        |c| c.message_timeouts,
    ),
    (
        "call_rate_waits",
        "CALLs held for ocpp.max_calls_per_second",
        |c| c.call_rate_waits,
    ),
    (
        "bad_message_closes",
        "Connections closed 1008 past ocpp.max_bad_messages",
        |c| c.bad_message_closes,
    ),
    (
        "write_buffer_full_drops",
        "Connections dropped at websocket.max_write_buffer_size (peer does not read)",
        |c| c.write_buffer_full_drops,
    ),
    (
        "write_timeouts",
        "Connections dropped at websocket.write_timeout (output not taken)",
        |c| c.write_timeouts,
    ),
    (
        "timers_pruned",
        "Timers of answered server calls removed from the wheel",
        |c| c.timers_pruned,
    ),
    (
        "server_calls_refused",
        "Commands refused at ocpp.max_queued_server_calls",
        |c| c.server_calls_refused_queue_full,
    ),
    (
        "server_calls_late_results",
        "Answers to server calls that came after their timeout",
        |c| c.late_results,
    ),
    (
        "malformed_answers",
        "Malformed CALLRESULT/CALLERROR frames (nothing is sent back)",
        |c| c.malformed_answers,
    ),
    (
        "journal_read_pauses",
        "Times a reactor stopped reading at journal.reactor_backlog",
        |c| c.journal_read_pauses,
    ),
];

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One counter family labelled by reactor, filled from each reactor's snapshot.
fn per_reactor(
    registry: &mut Registry,
    name: &str,
    help: &str,
    counters: &[ReactorCounters],
    value: impl Fn(&ReactorCounters) -> u64,
) {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    for (i, c) in counters.iter().enumerate() {
        family
            .get_or_create(&vec![("reactor", i.to_string())])
            .inc_by(value(c));
    }
}

/// A counter family with one extra label whose values come from a table.
fn per_reactor_by(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    counters: &[ReactorCounters],
    values: &[(&str, CounterOf)],
) {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    for (i, c) in counters.iter().enumerate() {
        for (label_value, value) in values {
            family
                .get_or_create(&vec![
                    ("reactor", i.to_string()),
                    (label, (*label_value).to_owned()),
                ])
                .inc_by(value(c));
        }
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

/// A counter family over two labels, from counts keyed by their values
/// (written in label order, so the text is stable).
fn label_pair_counter(
    registry: &mut Registry,
    name: &str,
    help: &str,
    (first, second): (&'static str, &'static str),
    counts: std::collections::HashMap<(&'static str, &'static str), u64>,
) {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort();
    for ((a, b), n) in counts {
        family
            .get_or_create(&vec![(first, a.to_owned()), (second, b.to_owned())])
            .inc_by(n);
    }
}

/// A counter family over one label, one series per (value, count).
fn labelled_counter(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    counts: &[(&str, u64)],
) {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    for (value, n) in counts {
        family
            .get_or_create(&vec![(label, (*value).to_owned())])
            .inc_by(*n);
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// Rendered on the admin thread, which owns `admin`.
/// Each reactor's work time (its load: `rate()` of it is the busy share of
/// a core) and how long ago it last ticked (a stalled reactor's grows).
fn reactor_load(registry: &mut Registry, gateway: &AdminHandle, counters: &[ReactorCounters]) {
    let busy = Family::<Labels, Counter<f64, AtomicU64>>::default();
    registry.register(
        "reactor_busy_seconds",
        "Time each reactor spent working, outside poll",
        busy.clone(),
    );
    for (i, c) in counters.iter().enumerate() {
        busy.get_or_create(&vec![("reactor", i.to_string())])
            .inc_by(c.busy_nanos as f64 / 1e9);
    }
    let age = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    registry.register(
        "reactor_tick_age_seconds",
        "Seconds since each reactor last published its counters (it does every reactors.timer_tick)",
        age.clone(),
    );
    let now = crate::cross_thread::unix_ms();
    for (i, tick) in gateway.reactor_last_ticks().into_iter().enumerate() {
        age.get_or_create(&vec![("reactor", i.to_string())])
            .set(now.saturating_sub(tick) as f64 / 1e3);
    }
}

pub fn render(gateway: &AdminHandle, admin: &AdminCounters) -> String {
    let mut r = Registry::with_prefix("ocpp_gateway");
    let counters = gateway.reactor_counters();
    let c = &counters;

    let open = Family::<Labels, Gauge>::default();
    r.register(
        "connections_open",
        "Connections held (handshaking or open)",
        open.clone(),
    );
    for (i, rc) in c.iter().enumerate() {
        open.get_or_create(&vec![("reactor", i.to_string())])
            .set(i64::try_from(rc.connections_open).unwrap_or(i64::MAX));
    }
    reactor_load(&mut r, gateway, c);
    let by_profile = Family::<Labels, Gauge>::default();
    r.register(
        "profile_connections",
        "Open connections under each [[profiles]] entry (all reactors)",
        by_profile.clone(),
    );
    for (name, n) in gateway.profile_connections() {
        by_profile
            .get_or_create(&vec![("profile", name)])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    per_reactor(
        &mut r,
        "handshakes_accepted",
        "WebSocket upgrades accepted",
        c,
        |c| c.handshakes_accepted,
    );
    per_reactor_by(
        &mut r,
        "handshakes_refused",
        "Upgrades refused with an HTTP status",
        "status",
        c,
        &[
            ("400", |c| c.refused_400),
            ("401", |c| c.refused_401),
            ("404", |c| c.refused_404),
            ("409", |c| c.refused_409),
            ("503", |c| c.refused_503),
        ],
    );
    per_reactor(
        &mut r,
        "handshakes_failed",
        "Upgrades that failed (bad request, peer gone)",
        c,
        |c| c.handshakes_failed,
    );
    per_reactor(
        &mut r,
        "handshake_timeouts",
        "Upgrades not completed in time",
        c,
        |c| c.handshake_timeouts,
    );
    per_reactor_by(
        &mut r,
        "tls_handshakes",
        "TLS handshakes on the TLS port, by result",
        "result",
        c,
        &[
            ("ok", |c| c.tls_ok_tls12 + c.tls_ok_tls13),
            ("client_certificate", |c| c.tls_failed_client_certificate),
            ("peer_alert", |c| c.tls_failed_peer_alert),
            ("incompatible", |c| c.tls_failed_incompatible),
            ("protocol", |c| c.tls_failed_protocol),
            ("eof", |c| c.tls_failed_eof),
            ("timeout", |c| c.tls_failed_timeout),
        ],
    );
    per_reactor_by(
        &mut r,
        "tls_versions",
        "TLS handshakes completed, by negotiated version",
        "version",
        c,
        &[("1.2", |c| c.tls_ok_tls12), ("1.3", |c| c.tls_ok_tls13)],
    );
    per_reactor(&mut r, "frames_in", "Text frames received", c, |c| {
        c.frames_in
    });
    per_reactor(&mut r, "frames_out", "Text frames sent", c, |c| {
        c.frames_out
    });
    per_reactor(
        &mut r,
        "frame_errors",
        "Frames refused at the envelope",
        c,
        |c| c.frame_errors,
    );
    per_reactor(
        &mut r,
        "calls_dispatched",
        "Charge-point CALLs handed to processors",
        c,
        |c| c.calls_dispatched,
    );
    per_reactor(
        &mut r,
        "calls_answered_inline",
        "Charge-point CALLs answered on the reactor (processors.inline_actions)",
        c,
        |c| c.calls_answered_inline,
    );
    per_reactor(
        &mut r,
        "unsolicited_results",
        "CALLRESULT/CALLERROR with an unknown id",
        c,
        |c| c.unsolicited_results,
    );
    per_reactor(
        &mut r,
        "callerrors_received",
        "CALLERRORs received from charge points",
        c,
        |c| c.callerrors_received,
    );
    per_reactor(&mut r, "pings_sent", "WebSocket pings sent", c, |c| {
        c.pings_sent
    });
    per_reactor(
        &mut r,
        "dead_peer_closes",
        "Connections dropped as dead peers",
        c,
        |c| c.dead_peer_closes,
    );
    per_reactor(
        &mut r,
        "backpressure_stalls",
        "Reads paused because the processor queue was full",
        c,
        |c| c.backpressure_stalls,
    );
    per_reactor_by(
        &mut r,
        "closes_sent",
        "Close frames sent, by close code",
        "code",
        c,
        &[
            ("1000", |c| c.close_1000),
            ("1001", |c| c.close_1001),
            ("1002", |c| c.close_1002),
            ("1003", |c| c.close_1003),
            ("1007", |c| c.close_1007),
            ("1008", |c| c.close_1008),
            ("1009", |c| c.close_1009),
            ("other", |c| c.close_other),
        ],
    );
    per_reactor(
        &mut r,
        "close_timeouts",
        "Connections cut without a close reply",
        c,
        |c| c.close_timeouts,
    );
    per_reactor(
        &mut r,
        "server_calls_sent",
        "Server-initiated CALLs sent",
        c,
        |c| c.server_calls_sent,
    );
    per_reactor(
        &mut r,
        "server_calls_answered",
        "Server-initiated CALLs answered",
        c,
        |c| c.server_calls_answered,
    );
    per_reactor(
        &mut r,
        "server_calls_timed_out",
        "Server-initiated CALLs timed out",
        c,
        |c| c.server_calls_timed_out,
    );
    for (name, help, value) in LIMIT_COUNTERS {
        per_reactor(&mut r, name, help, c, value);
    }
    let memory = gateway.memory_stats();
    counter(
        &mut r,
        "malloc_trims",
        "Times the trimmer thread returned free memory to the kernel",
        memory.trims.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        &mut r,
        "malloc_trim_microseconds",
        "Time spent in malloc_trim (off the reactors), all trims",
        memory
            .trim_micros_total
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    gauge(
        &mut r,
        "malloc_trim_max_microseconds",
        "The longest single malloc_trim",
        i64::try_from(
            memory
                .trim_micros_max
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .unwrap_or(i64::MAX),
    );
    let limits = gateway.reactor_tallies();
    gauge(
        &mut r,
        "handshakes_in_progress",
        "Connections accepted and not yet upgraded (listen.max_handshakes)",
        i64::try_from(limits.handshakes.load(std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(i64::MAX),
    );
    gauge(
        &mut r,
        "buffered_bytes",
        "Bytes held in partly received messages (websocket.max_buffered_bytes)",
        i64::try_from(
            limits
                .buffered_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .unwrap_or(i64::MAX),
    );

    label_pair_counter(
        &mut r,
        "answers",
        "Charge-point CALLs answered, by action and outcome (result or CALLERROR code)",
        ("action", "outcome"),
        gateway.answer_counts(),
    );
    label_pair_counter(
        &mut r,
        "lenient",
        "Schema violations accepted under a profile's lenient mode, by quirk and action",
        ("kind", "action"),
        gateway.lenient_counts(),
    );
    gauge(
        &mut r,
        "processor_queue_depth",
        "CALLs waiting for a processor",
        i64::try_from(gateway.processor_queue_depth()).unwrap_or(i64::MAX),
    );
    counter(
        &mut r,
        "log_lines_dropped",
        "Log lines dropped because the log queue was full",
        crate::cross_thread::stats::LOG_LINES_DROPPED.load(std::sync::atomic::Ordering::Relaxed),
    );

    if let Some(t) = gateway.trace_stats() {
        trace_metrics(&mut r, c, t);
    }
    if let Some(j) = gateway.journal_stats() {
        counter(
            &mut r,
            "journal_records_written",
            "Journal records written",
            j.records_written,
        );
        counter(
            &mut r,
            "journal_bytes_written",
            "Journal bytes written",
            j.bytes_written,
        );
        counter(&mut r, "journal_fsyncs", "Journal fsyncs", j.fsyncs);
        counter(
            &mut r,
            "journal_rotations",
            "Journal files rotated",
            j.rotations,
        );
        counter(
            &mut r,
            "journal_io_errors",
            "Journal write or sync failures (retried)",
            j.io_errors,
        );
        gauge(
            &mut r,
            "journal_lag",
            "Journal records sent but not yet written",
            i64::try_from(j.lag).unwrap_or(i64::MAX),
        );
    }
    if let Some(b) = gateway.bus_stats() {
        bus_metrics(&mut r, b);
    }
    if let Some(q) = &gateway.counters.queue {
        queue_metrics(&mut r, c, q);
    }
    admin_metrics(&mut r, admin);
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &r) {
        out = format!("# cannot encode metrics: {e}\n");
    }
    out
}

/// Only with `[trace] directory` set: the reactors' share (traced
/// connections, frames dropped at the full queue) and the writer's.
fn trace_metrics(r: &mut Registry, c: &[ReactorCounters], t: &crate::cross_thread::TraceStats) {
    use std::sync::atomic::Ordering::Relaxed;
    let sum = |value: fn(&ReactorCounters) -> u64| c.iter().map(value).sum::<u64>();
    gauge(
        r,
        "trace_connections",
        "Connections whose frames are traced now (all reactors)",
        i64::try_from(sum(|c| c.traced_connections)).unwrap_or(i64::MAX),
    );
    counter(
        r,
        "trace_frames_dropped",
        "Frames of traced connections dropped because the trace queue was full",
        sum(|c| c.trace_frames_dropped),
    );
    counter(
        r,
        "trace_starts_refused",
        "Traces not started because the writer was a trace queue behind",
        sum(|c| c.trace_starts_refused),
    );
    counter(
        r,
        "trace_frames_written",
        "Frames written to trace files",
        t.frames_written.load(Relaxed),
    );
    counter(
        r,
        "trace_bytes_written",
        "Bytes written to trace files",
        t.bytes_written.load(Relaxed),
    );
    counter(
        r,
        "trace_frames_capped",
        "Frames not written because their trace file had reached trace.max_file_bytes",
        t.frames_capped.load(Relaxed),
    );
    counter(
        r,
        "trace_files_capped",
        "Trace files that reached trace.max_file_bytes (each ends in one truncated line)",
        t.files_capped.load(Relaxed),
    );
    counter(
        r,
        "trace_io_errors",
        "Trace file opens, writes or flushes that failed",
        t.io_errors.load(Relaxed),
    );
    gauge(
        r,
        "trace_files_open",
        "Trace files open now (at most trace.max_open_files)",
        i64::try_from(t.files_open.load(Relaxed)).unwrap_or(i64::MAX),
    );
}

/// Only while the command queue runs (the journal or the bus is on).
fn queue_metrics(r: &mut Registry, c: &[ReactorCounters], q: &crate::cross_thread::QueueStats) {
    use std::sync::atomic::Ordering::Relaxed;
    labelled_counter(
        r,
        "queue_commands",
        "Kept commands by what became of them: queued (taken in), delivered (handed to the \
         connection), answered, expired, cancelled (or replaced), failed",
        "event",
        &[
            ("queued", q.queued.load(Relaxed)),
            ("delivered", q.delivered.load(Relaxed)),
            ("answered", q.answered.load(Relaxed)),
            ("expired", q.expired.load(Relaxed)),
            ("cancelled", q.cancelled.load(Relaxed)),
            ("failed", q.failed.load(Relaxed)),
        ],
    );
    labelled_counter(
        r,
        "queue_refused",
        "Commands not queued: queue.max_per_charge_point or queue.max_total reached (507), \
         or the store or bus could not take them (503)",
        "reason",
        &[
            (
                "charge_point_full",
                q.refused_charge_point_full.load(Relaxed),
            ),
            ("total_full", q.refused_total_full.load(Relaxed)),
            ("unavailable", q.refused_unavailable.load(Relaxed)),
        ],
    );
    gauge(
        r,
        "queue_depth",
        "Kept commands queued or sent, not yet ended",
        i64::try_from(q.depth.load(Relaxed)).unwrap_or(i64::MAX),
    );
    gauge(
        r,
        "queue_store_bytes",
        "Bytes of the embedded queue store's log (0 on the bus)",
        i64::try_from(q.store_bytes.load(Relaxed)).unwrap_or(i64::MAX),
    );
    counter(
        r,
        "queue_store_errors",
        "Queue store writes, syncs or lines read back that failed",
        q.store_errors.load(Relaxed),
    );
    counter(
        r,
        "queue_ready_dropped",
        "Session-ready notices a reactor could not hand to the queue (its inbox and the \
         reactor's backlog full): that charge point's commands wait for its next boot",
        c.iter().map(|c| c.queue_notes_dropped).sum::<u64>() + q.ready_dropped.load(Relaxed),
    );
}

fn bus_metrics(r: &mut Registry, b: &crate::cross_thread::BusStats) {
    use std::sync::atomic::Ordering::Relaxed;
    gauge(
        r,
        "bus_connected",
        "1 while the NATS connection is up",
        i64::from(b.connected.load(Relaxed)),
    );
    counter(
        r,
        "bus_events_published",
        "Journal records acknowledged by JetStream",
        b.events_published.load(Relaxed),
    );
    counter(
        r,
        "bus_events_duplicate",
        "Re-published records JetStream already had (dropped by message id)",
        b.events_duplicate.load(Relaxed),
    );
    counter(
        r,
        "bus_publish_errors",
        "Publishes that failed or went unacknowledged (published again from the cursor)",
        b.publish_errors.load(Relaxed),
    );
    gauge(
        r,
        "bus_publish_in_flight",
        "Event publishes waiting for their JetStream ack (at most channels.capacity)",
        i64::try_from(b.publish_in_flight.load(Relaxed)).unwrap_or(i64::MAX),
    );
    counter(
        r,
        "bus_acks_stale",
        "JetStream acks that matched no publish in flight (for a window published again), dropped",
        b.acks_stale.load(Relaxed),
    );
    gauge(
        r,
        "bus_backlog_bytes",
        "Journal bytes not yet acknowledged by JetStream",
        i64::try_from(b.backlog_bytes.load(Relaxed)).unwrap_or(i64::MAX),
    );
    let backend = Family::<Labels, Counter>::default();
    r.register(
        "bus_backend_requests",
        "Charge-point CALLs sent to the backend, by outcome",
        backend.clone(),
    );
    for (outcome, n) in [
        ("answered", &b.backend_answered),
        ("timeout", &b.backend_timeouts),
        ("no_responders", &b.backend_no_responders),
        ("failed", &b.backend_failed),
    ] {
        backend
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc_by(n.load(Relaxed));
    }
    counter(
        r,
        "bus_commands",
        "Commands received on {prefix}.cmd.{id}",
        b.commands.load(Relaxed),
    );
    counter(
        r,
        "bus_commands_refused",
        "Commands answered 503 at bus.max_commands_in_flight",
        b.commands_refused.load(Relaxed),
    );
    gauge(
        r,
        "bus_presence_entries",
        "Charge points this gateway holds in the presence bucket",
        i64::try_from(b.presence_entries.load(Relaxed)).unwrap_or(i64::MAX),
    );
}

fn admin_metrics(r: &mut Registry, admin: &AdminCounters) {
    counter(
        r,
        "admin_requests",
        "Admin API requests received whole and routed",
        admin.requests,
    );
    let refused = Family::<Labels, Counter>::default();
    r.register(
        "admin_refused",
        "Admin connections and requests turned away, by the limit or check that did it",
        refused.clone(),
    );
    for why in Refused::ALL {
        refused
            .get_or_create(&vec![("reason", why.label().to_owned())])
            .inc_by(admin.refused(why));
    }
    gauge(
        r,
        "admin_connections",
        "Admin API connections open",
        i64::try_from(admin.connections).unwrap_or(i64::MAX),
    );
    gauge(
        r,
        "admin_commands_in_flight",
        "Admin commands waiting for charge points",
        i64::try_from(admin.commands_in_flight).unwrap_or(i64::MAX),
    );
}
