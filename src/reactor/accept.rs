//! Accepting connections and driving their WebSocket upgrade, step by
//! step as the socket allows, until the charge point is connected.

// An extension of the reactor: same thread, same state, split out to keep
// files readable. Everything the parent module imports is in scope.
use super::*;

impl Reactor {
    /// Accepts on the plain (`tls == false`) or the TLS listener until it
    /// would block, the turn's budget (`listen.accepts_per_turn`) is spent,
    /// or the gateway holds `listen.max_handshakes` unfinished handshakes.
    /// Whatever is left waits in the kernel's listen queue.
    pub(super) fn accept(&mut self, tls: bool) {
        // A journal backlog pauses accepting: a new connection would add
        // records the journal cannot take yet.
        if !self.journal_backlog.is_empty() {
            self.accept_paused = true;
            return;
        }
        let listen = &self.config.listen;
        let (budget, max_handshakes) = (listen.accepts_per_turn, listen.max_handshakes);
        self.accept_more[usize::from(tls)] = false;
        for _ in 0..budget {
            let at_cap = self.tallies.handshakes.load(Ordering::Acquire) >= max_handshakes;
            if at_cap && self.handshakes_here == 0 {
                // Every unfinished handshake is on other reactors: wait.
                if !self.accept_paused {
                    self.counters.accept_pauses_handshakes += 1;
                }
                self.accept_paused = true;
                return;
            }
            let listener = if tls {
                &self.tls_listener
            } else {
                &self.listener
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if at_cap {
                        self.shed_oldest_handshake();
                    }
                    self.start_handshake(stream, peer, tls);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if crate::net::accept_next_after(&e) => {}
                Err(e) => {
                    // EMFILE and friends: the pending connection stays in the
                    // backlog; edge-triggered readiness will not fire again, so
                    // retry at the next turn.
                    warn!("reactor {}: accept failed: {e}; retrying", self.index);
                    self.accept_paused = true;
                    return;
                }
            }
        }
        // Budget spent: edge-triggered readiness will not announce the rest.
        self.accept_more[usize::from(tls)] = true;
    }

    /// At the handshake cap: drops this reactor's oldest unfinished
    /// handshake to make room. An honest charge point upgrades within
    /// milliseconds of connecting, so it is never the oldest; a flood of
    /// sockets that never speak only pushes out its own.
    fn shed_oldest_handshake(&mut self) {
        while let Some(key) = self.handshake_order.pop_front() {
            if self.conns.get_mut(key).is_some_and(|c| c.handshaking) {
                self.counters.handshakes_shed += 1;
                self.remove(
                    key,
                    "handshake dropped for a newer one (listen.max_handshakes)",
                );
                return;
            }
        }
    }

    /// Goes on accepting where a pause or the budget stopped it.
    pub(super) fn accept_again(&mut self) {
        if self.accept_paused {
            let cap = self.config.listen.max_handshakes;
            if !self.journal_backlog.is_empty()
                || self.tallies.handshakes.load(Ordering::Acquire) >= cap
            {
                return;
            }
            self.accept_paused = false;
            self.accept(false);
            self.accept(true);
            return;
        }
        for tls in [false, true] {
            if self.accept_more[usize::from(tls)] {
                self.accept(tls);
            }
        }
    }

    pub(super) fn start_handshake(
        &mut self,
        mut stream: TcpStream,
        peer: std::net::SocketAddr,
        tls: bool,
    ) {
        // Small frames both ways: do not let Nagle hold answers back.
        let _ = stream.set_nodelay(true);
        let burst = f64::from(self.config.ocpp.call_burst);
        let key = self.conns.insert(Connection::new(peer, self.now, burst));
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, token_of(key), interest)
        {
            warn!("reactor {}: cannot register {peer}: {e}", self.index);
            self.conns.remove(key);
            return;
        }
        // On the TLS port the one timer covers TLS handshake and upgrade.
        let timeout = if tls {
            self.config.tls.handshake_timeout
        } else {
            self.config.websocket.handshake_timeout
        };
        self.schedule(timeout, key, TimerKind::Handshake);
        let mut callback = HandshakeCallback {
            admission: self.admission.clone(),
            client: None,
        };
        let transport = match (&self.tls, tls) {
            (Some(store), true) => {
                // Whether a client certificate is required, and must name
                // the charge point, follows the configuration this
                // connection's TLS session is made with (SIGHUP may change
                // tls.client_ca between two connections).
                let in_force = store.current();
                let identity = transport::ClientIdentity::default();
                if in_force.client_certificates {
                    callback.client = Some(identity.clone());
                }
                let tally = self.tls_tally.clone();
                match Transport::tls(in_force.server.clone(), stream, identity, tally) {
                    Ok(t) => t,
                    Err(e) => {
                        warn!("reactor {}: TLS setup for {peer}: {e}", self.index);
                        self.conns.remove(key);
                        return;
                    }
                }
            }
            _ => Transport::plain(stream),
        };
        if let Some(conn) = self.conns.get_mut(key) {
            conn.handshaking = true;
            self.tallies.handshakes.fetch_add(1, Ordering::AcqRel);
            self.handshakes_here += 1;
            self.handshake_order.push_back(key);
            // Keys of finished handshakes linger until skipped; keep them few.
            if self.handshake_order.len() > 2 * self.handshakes_here + 64 {
                let conns = &mut self.conns;
                self.handshake_order
                    .retain(|&k| conns.get_mut(k).is_some_and(|c| c.handshaking));
            }
        }
        self.admission.current.set(Some((self.conn_ref(key), peer)));
        let ws_config = self.ws_configs.of(&transport);
        let step = tungstenite::accept_hdr_with_config(transport, callback, Some(ws_config));
        self.after_handshake_step(key, step);
    }

    pub(super) fn continue_handshake(&mut self, key: SlotKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Link::Handshaking(mid) = std::mem::replace(&mut conn.link, Link::Detached) else {
            return;
        };
        let peer = conn.peer;
        self.admission.current.set(Some((self.conn_ref(key), peer)));
        let step = mid.handshake();
        self.after_handshake_step(key, step);
    }

    pub(super) fn after_handshake_step(
        &mut self,
        key: SlotKey,
        step: Result<
            tungstenite::WebSocket<Transport>,
            HandshakeError<
                tungstenite::handshake::server::ServerHandshake<Transport, HandshakeCallback>,
            >,
        >,
    ) {
        let (upgrade, refusal) = match self.admission.take_decision() {
            Some(Ok(upgrade)) => (Some(upgrade), None),
            Some(Err(refusal)) => (None, Some(refusal)),
            None => (None, None),
        };
        if let Some(old) = upgrade.as_ref().and_then(|u| u.replaces) {
            self.evict(old);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(upgrade) = upgrade {
            conn.counted = true;
            conn.charge_point = upgrade.charge_point;
            conn.profile = upgrade.profile;
            if let Some(v) = upgrade.version {
                conn.version = v;
            } else {
                conn.close_after_answer = Some((CloseCode::Protocol, "no supported subprotocol"));
            }
        }
        match step {
            Ok(ws) => {
                conn.link = Link::Open(ws);
                self.on_open(key);
            }
            Err(HandshakeError::Interrupted(mid)) => conn.link = Link::Handshaking(mid),
            Err(HandshakeError::Failure(e)) => {
                if let Some(refusal) = refusal {
                    self.counters.count_refusal(refusal.status);
                    if refusal.retry_after.is_some() {
                        self.counters.handshakes_rate_limited += 1;
                    }
                    info!(
                        "refused {} with HTTP {}: {}",
                        conn.peer, refusal.status, refusal.reason
                    );
                } else {
                    self.counters.handshakes_failed += 1;
                    debug!("handshake with {} failed: {e}", conn.peer);
                }
                self.remove(key, "handshake failed");
            }
        }
    }

    pub(super) fn on_open(&mut self, key: SlotKey) {
        self.counters.handshakes_accepted += 1;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let settings = *self.profiles.settings(conn.profile);
        if self.tallies.end_handshake(conn) {
            self.handshakes_here -= 1;
        }
        conn.last_rx = self.now;
        conn.listening_since = self.now;
        if let Link::Open(ws) = &mut conn.link {
            ws.get_mut().start_metering();
        }
        if let Some((code, reason)) = conn.close_after_answer.take() {
            info!(
                "{} from {}: {reason}; closing",
                conn.charge_point, conn.peer
            );
            self.close(key, code, reason);
            return;
        }
        info!(
            "connected {} from {} ({}) on reactor {}",
            conn.charge_point, conn.peer, conn.version, self.index
        );
        self.ids.insert(conn.charge_point.clone(), key);
        let epoch = conn.ping_epoch;
        let record = JournalRecord::connect(conn.charge_point.clone(), self.index, conn.peer);
        self.journal(record);
        if !settings.ping_interval.is_zero() {
            self.schedule(settings.ping_interval, key, TimerKind::Ping(epoch));
        }
        self.schedule(settings.dead_after(), key, TimerKind::Idle);
        // Its profile (matched at the upgrade) may trace it from the start.
        self.apply_profile_trace(key);
    }
}
