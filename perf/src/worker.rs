//! One load-generator thread: a mio loop that owns its connections outright
//! and plays the charge point side of every scenario.
//!
//! The main thread steers all workers through one shared `Phase` (and wakes
//! them when it changes); workers report through their `Progress` atomics
//! and hand their `WorkerStats` back when they end. Nothing else is shared.
//!
//! Edge-triggered readiness: every handler reads until WouldBlock, because
//! mio will not report data that was already there.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use ocpp_gateway::json_text::push_u64;
use tungstenite::Message;
use tungstenite::protocol::WebSocketConfig;

use crate::cli::{DropMode, Mix, Target};
use crate::client::{self, Failure, IoEnd, Stage, Step};
use crate::ocpp::{self, Action, CALL, CALLERROR, CALLRESULT, Clock, Session};
use crate::stats::{self, FailKind, Progress, WorkerStats};

/// Scenario phases, set by the main thread only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Open (and boot) connections.
    Open = 0,
    /// Load: calls flow, nothing is recorded.
    Warmup = 1,
    /// Load: calls flow and latencies are recorded.
    Measure = 2,
    /// Stop calling, close everything, leave.
    Close = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Open,
            1 => Phase::Warmup,
            2 => Phase::Measure,
            _ => Phase::Close,
        }
    }
}

/// What the workers are asked to do.
#[derive(Clone, Debug)]
pub enum Job {
    Ramp {
        count: u32,
        rate: f64,
    },
    Load {
        count: u32,
        rate: f64,
        mix: Mix,
    },
    Churn {
        cycles: u64,
        lanes: u32,
        linger_ms: u64,
        id_pool: u32,
        modes: Vec<DropMode>,
    },
    /// Open `count` charge points at `rate`, boot them, then each sends a
    /// Heartbeat every `heartbeat` (first one at a random point of the first
    /// interval, so they do not come in waves) until the Close phase. The
    /// well-behaved neighbours of the fault harness.
    Honest {
        count: u32,
        rate: f64,
        heartbeat: Duration,
    },
}

/// Read-only description of the run, shared by all workers.
pub struct Plan {
    pub job: Job,
    pub target: Target,
    pub sources: Vec<Option<IpAddr>>,
    pub id_prefix: String,
    pub id_start: u32,
    pub timeout: Duration,
    pub ws_config: WebSocketConfig,
    /// For wss:// targets.
    pub tls: Option<crate::tls::TlsClient>,
    pub threads: usize,
}

/// State the main thread and the workers share.
pub struct Shared {
    phase: AtomicU8,
    pub progress: Vec<Progress>,
    /// Churn: cycles handed out so far (over all workers).
    pub cycles_claimed: AtomicU64,
    /// Connections whose boot concluded (booted, or failed before booting).
    pub resolved: AtomicU64,
    /// Common time origin of the open schedule.
    pub epoch: Instant,
}

impl Shared {
    pub fn new(threads: usize, epoch: Instant) -> Shared {
        Shared {
            phase: AtomicU8::new(Phase::Open as u8),
            progress: (0..threads).map(|_| Progress::default()).collect(),
            cycles_claimed: AtomicU64::new(0),
            resolved: AtomicU64::new(0),
            epoch,
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    pub fn set_phase(&self, p: Phase, wakers: &[Waker]) {
        self.phase.store(p as u8, Ordering::Release);
        for w in wakers {
            let _ = w.wake();
        }
    }
}

const WAKE: Token = Token(usize::MAX);

/// Where a connection is in the scenario (the transport stage is in `Stage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Connecting,
    Handshaking,
    Booting,
    /// Booted, no CALL outstanding.
    Ready,
    /// Booted, one CALL outstanding.
    Calling,
    /// Churn: booted, waiting for the linger timer.
    Lingering,
    /// We sent a close frame and wait for the server's close.
    Closing,
}

struct Conn {
    stage: Stage,
    state: State,
    /// Charge point index; the id is `id_prefix` + `cp`.
    cp: u32,
    /// Churn lane that owns this connection (`u32::MAX` otherwise).
    lane: u32,
    mode: DropMode,
    started: Instant,
    sent_at: Instant,
    /// Id of the last CALL we sent (ids are per-connection decimal counters).
    seq: u32,
    pending: Option<Action>,
    /// The deadline a live timer entry stands for; stale entries are ignored.
    deadline: Option<Instant>,
    session_step: u8,
    session: Session,
    /// Code of the close frame the server sent, if it started the close.
    server_close_code: Option<u16>,
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Outcome of handling something on a connection.
enum Fate {
    Keep,
    /// Finished; the slot is freed. Failures are already counted.
    Done,
}

/// A churn lane: a sequence of cycles, one connection at a time.
struct Lane {
    global: u32,
    cursor: u32,
    active: bool,
}

pub struct Worker {
    index: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    poll: Poll,
    slots: Vec<Slot>,
    free: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    stats: WorkerStats,
    phase: Phase,
    /// Ramp/load: next global charge point index this worker opens.
    next_open: u64,
    lanes: Vec<Lane>,
    next_source: usize,
    rng: u64,
    clock: Clock,
    /// Endpoint URL of the connection being set up (reused buffer).
    url: String,
}

impl Worker {
    /// Creates the worker's Poll and a Waker the main thread keeps.
    pub fn new(index: usize, plan: Arc<Plan>, shared: Arc<Shared>) -> io::Result<(Worker, Waker)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let lanes = match &plan.job {
            Job::Churn { lanes, .. } => (index as u32..*lanes)
                .step_by(plan.threads)
                .map(|global| Lane {
                    global,
                    cursor: 0,
                    active: false,
                })
                .collect(),
            _ => Vec::new(),
        };
        let w = Worker {
            index,
            next_open: index as u64,
            plan,
            shared,
            poll,
            slots: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            stats: WorkerStats::default(),
            phase: Phase::Open,
            lanes,
            next_source: index,
            rng: 0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) << 17),
            clock: Clock::default(),
            url: String::new(),
        };
        Ok((w, waker))
    }

    fn progress(&self) -> &Progress {
        &self.shared.progress[self.index]
    }

    /// Runs the scenario to its end and returns what was counted.
    pub fn run(mut self) -> WorkerStats {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = Instant::now() + Duration::from_secs(1);
        for lane in 0..self.lanes.len() {
            self.lane_next(lane);
        }
        loop {
            self.on_phase();
            let now = Instant::now();
            self.open_due(now);
            self.fire_timers(now);
            if now >= next_sweep {
                self.sweep_calls(now);
                next_sweep = now + Duration::from_secs(1);
            }
            if self.finished() {
                break;
            }
            let timeout = self.poll_timeout(now, next_sweep);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                panic!("poll failed: {e}");
            }
            for ev in events.iter() {
                if ev.token() == WAKE {
                    continue;
                }
                self.on_ready(ev.token().0 as u64);
            }
        }
        Progress::add(&self.progress().done, 1);
        self.stats
    }

    fn finished(&self) -> bool {
        let live = self.progress().live.load(Ordering::Relaxed);
        match self.plan.job {
            Job::Churn { .. } => live == 0 && self.lanes.iter().all(|l| !l.active),
            _ => self.phase == Phase::Close && live == 0,
        }
    }

    fn poll_timeout(&self, now: Instant, next_sweep: Instant) -> Option<Duration> {
        let mut until = self.next_open_due();
        if let Some(Reverse((t, _))) = self.timers.peek() {
            until = Some(until.map_or(*t, |u| u.min(*t)));
        }
        if matches!(self.plan.job, Job::Load { .. }) && self.phase != Phase::Open {
            until = Some(until.map_or(next_sweep, |u| u.min(next_sweep)));
        }
        // epoll counts in milliseconds: round up so we do not spin on 0 ms.
        until.map(|t| {
            t.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        })
    }

    // ----- phases -------------------------------------------------------

    fn on_phase(&mut self) {
        let phase = self.shared.phase();
        if phase == self.phase {
            return;
        }
        let was = self.phase;
        self.phase = phase;
        if was == Phase::Open && matches!(phase, Phase::Warmup | Phase::Measure) {
            // Load starts: every booted, idle charge point starts calling.
            self.for_each_conn(|w, _, _, c| {
                if c.state == State::Ready {
                    w.send_next_call(c)
                } else {
                    Fate::Keep
                }
            });
        }
        if phase == Phase::Close {
            self.for_each_conn(|w, slot, generation, c| match c.state {
                State::Ready | State::Calling | State::Lingering => {
                    w.begin_close(slot, generation, c)
                }
                _ => Fate::Keep,
            });
        }
    }

    fn for_each_conn(&mut self, mut f: impl FnMut(&mut Self, usize, u32, &mut Conn) -> Fate) {
        for i in 0..self.slots.len() {
            if let Some(mut c) = self.slots[i].conn.take() {
                let generation = self.slots[i].generation;
                match f(self, i, generation, &mut c) {
                    Fate::Keep => self.slots[i].conn = Some(c),
                    Fate::Done => self.release(i, c),
                }
            }
        }
    }

    // ----- opening --------------------------------------------------------

    fn next_open_due(&self) -> Option<Instant> {
        let (count, rate) = match self.plan.job {
            Job::Ramp { count, rate }
            | Job::Load { count, rate, .. }
            | Job::Honest { count, rate, .. } => (count, rate),
            Job::Churn { .. } => return None,
        };
        if self.phase >= Phase::Close || self.next_open >= u64::from(count) {
            return None;
        }
        Some(self.shared.epoch + Duration::from_secs_f64(self.next_open as f64 / rate))
    }

    /// Ramp/load: opens every connection whose scheduled time has come.
    /// Global index i is due at epoch + i / rate; worker w opens i ≡ w (mod T).
    fn open_due(&mut self, now: Instant) {
        while let Some(due) = self.next_open_due() {
            if due > now {
                break;
            }
            let cp = self.plan.id_start + self.next_open as u32;
            self.next_open += self.plan.threads as u64;
            self.open(cp, u32::MAX, DropMode::Close);
        }
    }

    /// Churn: starts the lane's next cycle if any is left.
    fn lane_next(&mut self, lane: usize) {
        let Job::Churn {
            cycles,
            lanes,
            id_pool,
            ref modes,
            ..
        } = self.plan.job
        else {
            return;
        };
        let cycle = self.shared.cycles_claimed.fetch_add(1, Ordering::Relaxed);
        if cycle >= cycles || self.phase == Phase::Close {
            self.lanes[lane].active = false;
            return;
        }
        let mode = modes[(cycle % modes.len() as u64) as usize];
        let l = &mut self.lanes[lane];
        // This lane's ids: global, global + lanes, … below id_pool.
        let own = (id_pool - l.global).div_ceil(lanes).max(1);
        let cp = self.plan.id_start + l.global + lanes * (l.cursor % own);
        l.cursor = l.cursor.wrapping_add(1);
        l.active = true;
        self.open(cp, lane as u32, mode);
    }

    fn open(&mut self, cp: u32, lane: u32, mode: DropMode) {
        Progress::add(&self.progress().opened, 1);
        let source = self.plan.sources[self.next_source % self.plan.sources.len()];
        self.next_source += 1;
        let now = Instant::now();
        let stream = match crate::net::start_connect(self.plan.target.addr, source) {
            Ok(s) => s,
            Err(e) => {
                let kind = if e.kind() == io::ErrorKind::ConnectionRefused {
                    FailKind::ConnectRefused
                } else {
                    FailKind::ConnectError
                };
                self.count_failure(Failure::new(kind, e.to_string()), true);
                if lane != u32::MAX {
                    self.lane_next(lane as usize);
                }
                return;
            }
        };
        let slot = self.free.pop().map(|s| s as usize).unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                conn: None,
            });
            self.slots.len() - 1
        });
        let generation = self.slots[slot].generation;
        let mut conn = Conn {
            stage: Stage::Connecting(stream),
            state: State::Connecting,
            cp,
            lane,
            mode,
            started: now,
            sent_at: now,
            seq: 0,
            pending: None,
            deadline: None,
            session_step: 0,
            session: Session::default(),
            server_close_code: None,
        };
        if let Stage::Connecting(s) = &mut conn.stage {
            let token = Token(token_of(slot, generation) as usize);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(s, token, Interest::READABLE | Interest::WRITABLE)
            {
                self.count_failure(
                    Failure::new(FailKind::ConnectError, format!("register: {e}")),
                    true,
                );
                self.free.push(slot as u32);
                if lane != u32::MAX {
                    self.lane_next(lane as usize);
                }
                return;
            }
        }
        self.arm(slot, generation, &mut conn, now + self.plan.timeout);
        self.slots[slot].conn = Some(conn);
        Progress::add(&self.progress().live, 1);
    }

    /// Frees a finished connection's slot and lets its lane go on.
    fn release(&mut self, slot: usize, conn: Conn) {
        let lane = conn.lane;
        drop(conn); // closes the socket, which also removes it from epoll
        let s = &mut self.slots[slot];
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot as u32);
        Progress::sub(&self.progress().live, 1);
        if lane != u32::MAX {
            self.lane_next(lane as usize);
        }
    }

    // ----- timers ---------------------------------------------------------

    /// Sets the connection's single deadline (older timer entries go stale).
    fn arm(&mut self, slot: usize, generation: u32, conn: &mut Conn, at: Instant) {
        conn.deadline = Some(at);
        self.timers.push(Reverse((at, token_of(slot, generation))));
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, token))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let (slot, generation) = split_token(token);
            let Some(s) = self.slots.get_mut(slot) else {
                continue;
            };
            if s.generation != generation || s.conn.as_ref().and_then(|c| c.deadline) != Some(at) {
                continue;
            }
            let mut conn = s.conn.take().expect("checked above");
            conn.deadline = None;
            let fate = self.on_deadline(slot, generation, &mut conn);
            self.settle(slot, conn, fate);
        }
    }

    fn on_deadline(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        let kind = match c.state {
            State::Connecting => FailKind::ConnectTimeout,
            State::Handshaking => FailKind::HandshakeTimeout,
            State::Booting => FailKind::BootTimeout,
            State::Closing => FailKind::CloseTimeout,
            State::Calling => FailKind::CallTimeout,
            State::Lingering => return self.churn_drop(slot, generation, c),
            State::Ready if matches!(self.plan.job, Job::Honest { .. }) => {
                return self.send_heartbeat(slot, generation, c);
            }
            State::Ready => return Fate::Keep,
        };
        let pre_boot = matches!(
            c.state,
            State::Connecting | State::Handshaking | State::Booting
        );
        self.count_failure(
            Failure::new(kind, format!("no progress within {:?}", self.plan.timeout)),
            pre_boot,
        );
        Fate::Done
    }

    /// Load: CALLs carry no timer entry (that would be one heap push per
    /// call); once a second we look for answers that are overdue instead.
    fn sweep_calls(&mut self, now: Instant) {
        if !matches!(self.plan.job, Job::Load { .. }) {
            return;
        }
        let timeout = self.plan.timeout;
        self.for_each_conn(|w, _, _, c| {
            if c.state == State::Calling && now.duration_since(c.sent_at) > timeout {
                w.count_failure(
                    Failure::new(
                        FailKind::CallTimeout,
                        format!("no answer within {timeout:?}"),
                    ),
                    false,
                );
                w.stats.disconnects += 1;
                Fate::Done
            } else {
                Fate::Keep
            }
        });
    }

    // ----- readiness ------------------------------------------------------

    fn on_ready(&mut self, token: u64) {
        let (slot, generation) = split_token(token);
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        if s.generation != generation {
            return; // event for a connection that is already gone
        }
        let Some(mut conn) = s.conn.take() else {
            return;
        };
        let fate = self.drive(slot, generation, &mut conn);
        self.settle(slot, conn, fate);
    }

    fn settle(&mut self, slot: usize, conn: Conn, fate: Fate) {
        match fate {
            Fate::Keep => self.slots[slot].conn = Some(conn),
            Fate::Done => self.release(slot, conn),
        }
    }

    fn drive(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        if matches!(c.state, State::Connecting | State::Handshaking) {
            if c.state == State::Connecting {
                // Only the handshake start needs the URL.
                self.url.clear();
                self.url.push_str(&self.plan.target.url_prefix);
                self.url.push_str(&self.plan.id_prefix);
                push_u64(&mut self.url, c.cp.into());
            }
            let id = &self.url[self.plan.target.url_prefix.len()..];
            match c
                .stage
                .advance(&self.url, id, self.plan.ws_config, self.plan.tls.as_ref())
            {
                Step::Pending => {
                    if c.state == State::Connecting && matches!(c.stage, Stage::Handshaking(_)) {
                        c.state = State::Handshaking;
                        self.arm(slot, generation, c, Instant::now() + self.plan.timeout);
                    }
                    return Fate::Keep;
                }
                Step::Failed(f) => {
                    self.count_failure(f, true);
                    return Fate::Done;
                }
                Step::Upgraded => {
                    stats::record(&mut self.stats.handshake, c.started.elapsed());
                    if let Fate::Done = self.on_upgraded(slot, generation, c) {
                        return Fate::Done;
                    }
                }
            }
        }
        self.read_frames(slot, generation, c)
    }

    fn on_upgraded(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        if matches!(self.plan.job, Job::Churn { .. }) && c.mode == DropMode::PreBoot {
            return self.begin_close(slot, generation, c);
        }
        c.state = State::Booting;
        if let Fate::Done = self.send_call(c, Action::BootNotification) {
            return Fate::Done;
        }
        self.arm(slot, generation, c, Instant::now() + self.plan.timeout);
        Fate::Keep
    }

    /// Reads every frame available (edge-triggered), then flushes what
    /// tungstenite queued meanwhile (pongs, close replies, our answers).
    fn read_frames(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        loop {
            let Stage::Open(ws) = &mut c.stage else {
                return Fate::Keep;
            };
            let msg = match ws.read() {
                Ok(m) => m,
                Err(e) => match client::io_end(e) {
                    IoEnd::WouldBlock => break,
                    IoEnd::Closed(why) => return self.on_closed(c, why),
                },
            };
            match msg {
                Message::Text(text) => {
                    if let Fate::Done = self.on_text(slot, generation, c, &text) {
                        return Fate::Done;
                    }
                }
                Message::Close(frame) if c.state != State::Closing => {
                    c.server_close_code = frame.map(|f| u16::from(f.code));
                    // The server started a close: tungstenite queued the
                    // reply; push it out, then count the loss.
                    if let Stage::Open(ws) = &mut c.stage {
                        let _ = client::flush(ws);
                    }
                    let f = Failure::new(FailKind::ClosedEarly, "server sent a close frame");
                    return self.on_closed(c, Some(f));
                }
                // Pings are answered by tungstenite; nothing else matters.
                _ => {}
            }
        }
        if let Stage::Open(ws) = &mut c.stage
            && let Err(IoEnd::Closed(why)) = client::flush(ws)
        {
            return self.on_closed(c, why);
        }
        Fate::Keep
    }

    /// The connection ended under us (or after our close handshake).
    fn on_closed(&mut self, c: &mut Conn, why: Option<Failure>) -> Fate {
        if c.state == State::Closing {
            self.cycle_done(c);
            return Fate::Done;
        }
        let pre_boot = matches!(
            c.state,
            State::Connecting | State::Handshaking | State::Booting
        );
        if !pre_boot {
            self.stats.disconnects += 1;
        }
        // 1006 is what RFC 6455 calls a connection that ended without a
        // close frame (reset, FIN, or a close we could not read).
        *self
            .stats
            .server_close_codes
            .entry(c.server_close_code.unwrap_or(1006))
            .or_default() += 1;
        let f = why
            .unwrap_or_else(|| Failure::new(FailKind::ClosedEarly, "server closed the connection"));
        self.count_failure(f, pre_boot);
        Fate::Done
    }

    fn on_text(&mut self, slot: usize, generation: u32, c: &mut Conn, text: &str) -> Fate {
        let Some((ty, id)) = ocpp::scan_head(text) else {
            self.stats.unexpected += 1;
            Progress::add(&self.progress().errors, 1);
            return Fate::Keep;
        };
        if ty == CALL {
            // Server-initiated CALL (Reset, ChangeAvailability, ...): accept
            // blindly with `{"status":"Accepted"}`.
            self.stats.server_calls += 1;
            let answer = ocpp::accepted_result(id);
            if let Stage::Open(ws) = &mut c.stage
                && let Err(IoEnd::Closed(why)) = client::send_text(ws, answer)
            {
                return self.on_closed(c, why);
            }
            return Fate::Keep;
        }
        if c.state == State::Closing {
            return Fate::Keep; // a late answer to a CALL we gave up on
        }
        let Some(action) = c.pending else {
            self.stats.unexpected += 1;
            Progress::add(&self.progress().errors, 1);
            return Fate::Keep;
        };
        if id.parse::<u32>() != Ok(c.seq) {
            self.stats.mismatched_ids += 1;
            Progress::add(&self.progress().errors, 1);
            return Fate::Keep;
        }
        c.pending = None;
        let latency = c.sent_at.elapsed();
        if action == Action::BootNotification {
            if ty != CALLRESULT || !ocpp::boot_accepted(text) {
                let detail = text.chars().take(200).collect::<String>();
                self.count_failure(Failure::new(FailKind::BootRejected, detail), true);
                return self.begin_close(slot, generation, c);
            }
            stats::record(&mut self.stats.boot, latency);
            self.stats.booted += 1;
            self.stats.last_boot = Some(Instant::now());
            Progress::add(&self.progress().booted, 1);
            self.shared.resolved.fetch_add(1, Ordering::Relaxed);
            return self.after_boot(slot, generation, c);
        }
        // An answer to a load CALL.
        Progress::add(&self.progress().calls, 1);
        if ty == CALLERROR {
            self.stats.call_errors += 1;
            Progress::add(&self.progress().errors, 1);
            self.stats
                .examples
                .entry("call_error")
                .or_insert_with(|| text.chars().take(200).collect());
        } else if action == Action::StartTransaction {
            c.session.transaction_id = ocpp::scan_int(text, "transactionId").unwrap_or(1);
        }
        if let Job::Honest { heartbeat, .. } = self.plan.job {
            stats::record(&mut self.stats.call, latency);
            c.state = State::Ready;
            if self.phase == Phase::Close {
                return self.begin_close(slot, generation, c);
            }
            self.arm(slot, generation, c, Instant::now() + heartbeat);
            return Fate::Keep;
        }
        if self.phase == Phase::Measure {
            stats::record(&mut self.stats.call, latency);
        }
        c.state = State::Ready;
        match self.phase {
            Phase::Warmup | Phase::Measure => self.send_next_call(c),
            Phase::Close => self.begin_close(slot, generation, c),
            Phase::Open => Fate::Keep,
        }
    }

    fn after_boot(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        c.state = State::Ready;
        c.deadline = None;
        match self.plan.job {
            Job::Churn { linger_ms, .. } => {
                c.state = State::Lingering;
                let linger = Duration::from_millis(if linger_ms == 0 {
                    0
                } else {
                    self.random() % linger_ms
                });
                self.arm(slot, generation, c, Instant::now() + linger);
                Fate::Keep
            }
            Job::Honest { heartbeat, .. } if self.phase != Phase::Close => {
                let nanos = heartbeat.as_nanos().max(1) as u64;
                let first = Duration::from_nanos(self.random() % nanos);
                self.arm(slot, generation, c, Instant::now() + first);
                Fate::Keep
            }
            _ => match self.phase {
                Phase::Open => Fate::Keep,
                Phase::Warmup | Phase::Measure if matches!(self.plan.job, Job::Load { .. }) => {
                    self.send_next_call(c)
                }
                Phase::Close => self.begin_close(slot, generation, c),
                _ => Fate::Keep,
            },
        }
    }

    // ----- sending --------------------------------------------------------

    fn send_next_call(&mut self, c: &mut Conn) -> Fate {
        let action = match self.plan.job {
            Job::Load {
                mix: Mix::Realistic,
                ..
            } => {
                let a = ocpp::SESSION[c.session_step as usize];
                c.session_step = ((c.session_step as usize + 1) % ocpp::SESSION.len()) as u8;
                if a == Action::MeterValues {
                    c.session.meter_wh += 250;
                }
                a
            }
            _ => Action::Heartbeat,
        };
        c.state = State::Calling;
        self.send_call(c, action)
    }

    /// Honest: the heartbeat interval is over; the answer re-arms it.
    fn send_heartbeat(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        c.state = State::Calling;
        if let Fate::Done = self.send_call(c, Action::Heartbeat) {
            return Fate::Done;
        }
        self.arm(slot, generation, c, Instant::now() + self.plan.timeout);
        Fate::Keep
    }

    fn send_call(&mut self, c: &mut Conn, action: Action) -> Fate {
        c.seq = c.seq.wrapping_add(1);
        c.pending = Some(action);
        let mut frame = String::with_capacity(if action == Action::MeterValues {
            320
        } else {
            160
        });
        ocpp::write_call(
            &mut frame,
            c.seq,
            action,
            c.cp,
            &c.session,
            self.clock.now(),
        );
        c.sent_at = Instant::now();
        let Stage::Open(ws) = &mut c.stage else {
            return Fate::Keep;
        };
        match client::send_text(ws, frame) {
            Ok(()) => Fate::Keep,
            Err(IoEnd::Closed(why)) => self.on_closed(c, why),
            Err(IoEnd::WouldBlock) => Fate::Keep,
        }
    }

    /// Sends our close frame; the connection ends when the server answers.
    fn begin_close(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        let Stage::Open(ws) = &mut c.stage else {
            return Fate::Done;
        };
        c.state = State::Closing;
        c.pending = None;
        let r = match ws.close(None) {
            Ok(()) => client::flush(ws),
            Err(e) => match client::io_end(e) {
                IoEnd::WouldBlock => Ok(()),
                end => Err(end),
            },
        };
        if let Err(IoEnd::Closed(why)) = r {
            if let Some(f) = why {
                self.count_failure(f, false);
            }
            return Fate::Done;
        }
        self.arm(slot, generation, c, Instant::now() + self.plan.timeout);
        Fate::Keep
    }

    /// Churn: the linger is over; end the connection the way this cycle asks.
    fn churn_drop(&mut self, slot: usize, generation: u32, c: &mut Conn) -> Fate {
        let Stage::Open(ws) = &mut c.stage else {
            return Fate::Done;
        };
        match c.mode {
            DropMode::Close | DropMode::PreBoot => return self.begin_close(slot, generation, c),
            DropMode::Fin => {
                let _ = ws.get_mut().shutdown_write();
            }
            DropMode::Rst => {
                let _ = crate::net::set_abortive_close(ws.get_ref().socket());
            }
            DropMode::PartialFrame => {
                let _ = ws.get_mut().write(&client::PARTIAL_FRAME);
            }
            DropMode::InFlight => {
                c.seq = c.seq.wrapping_add(1);
                let mut frame = String::with_capacity(32);
                ocpp::write_call(&mut frame, c.seq, Action::Heartbeat, c.cp, &c.session, "");
                let _ = client::send_text(ws, frame);
            }
        }
        self.cycle_done(c);
        Fate::Done
    }

    fn cycle_done(&mut self, c: &Conn) {
        if c.lane != u32::MAX {
            self.stats.cycles_by_mode[c.mode.index()] += 1;
            Progress::add(&self.progress().cycles, 1);
        }
    }

    // ----- helpers --------------------------------------------------------

    /// Counts a failed connection. `pre_boot` failures also settle the
    /// connection's boot for the ramp's "all resolved" condition.
    fn count_failure(&mut self, f: Failure, pre_boot: bool) {
        if let Some(code) = f.http_status {
            *self.stats.http_status.entry(code).or_default() += 1;
        }
        let detail = f.detail;
        self.stats.fail(f.kind, || detail);
        Progress::add(&self.progress().failed, 1);
        if pre_boot {
            self.shared.resolved.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: plenty for linger times.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

fn token_of(slot: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | slot as u64
}

fn split_token(token: u64) -> (usize, u32) {
    ((token & 0xFFFF_FFFF) as usize, (token >> 32) as u32)
}
