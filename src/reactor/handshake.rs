//! The tungstenite handshake callback: applies the OCPP-J upgrade rules of
//! [`crate::ocpp::handshake`] to one request and records what was decided.
//!
//! `Callback::on_request` consumes the callback, so the decision is passed
//! out through the reactor-owned [`Gate`]: the reactor collects it right
//! after each `handshake()` step on the same thread, before any other
//! connection's handshake can run.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};

use super::token_bucket::TokenBucket;
use super::transport::ClientIdentity;
use crate::auth::CredentialStore;
use crate::auth::{AuthDecision, WWW_AUTHENTICATE};
use crate::config::{Config, DuplicateId, MissingSubprotocol};
use crate::cross_thread::{ConnRef, IdRegistry};
use crate::ocpp::OcppVersion;
use crate::ocpp::handshake::{Refusal, SubprotocolChoice, charge_point_id, choose_subprotocol};

/// What the gate decided for one accepted upgrade.
#[derive(Debug)]
pub struct Upgrade {
    pub charge_point: Arc<str>,
    /// `None`: no acceptable subprotocol; the connection is closed 1002 at once.
    pub version: Option<OcppVersion>,
    /// The older connection of the same id, to be closed 1008
    /// (`duplicate_id = "replace"`).
    pub replaces: Option<ConnRef>,
}

/// Reactor-wide handshake policy plus the slot the callback writes into.
pub struct Gate {
    config: Arc<Config>,
    /// Established connections over all reactors, for `max_connections`.
    open_connections: Arc<AtomicUsize>,
    /// The gateway-wide id registry (duplicate ids).
    ids: Arc<IdRegistry>,
    /// Basic Auth credentials in force.
    credentials: Arc<CredentialStore>,
    /// The connection whose handshake step is running (set by the reactor).
    pub current: Cell<Option<(ConnRef, SocketAddr)>>,
    /// What the last `handshake()` step decided, if it reached the request.
    decided: RefCell<Option<Result<Upgrade, Refusal>>>,
    /// This reactor's upgrade allowance (`listen.max_handshakes_per_second`).
    upgrades: Cell<TokenBucket>,
}

impl Gate {
    pub fn new(
        config: Arc<Config>,
        open_connections: Arc<AtomicUsize>,
        ids: Arc<IdRegistry>,
        credentials: Arc<CredentialStore>,
    ) -> Rc<Gate> {
        let rate = f64::from(config.listen.max_handshakes_per_second);
        Rc::new(Gate {
            config,
            open_connections,
            ids,
            credentials,
            current: Cell::new(None),
            decided: RefCell::new(None),
            upgrades: Cell::new(TokenBucket::full(rate, Instant::now())),
        })
    }

    /// Forgets a counted connection's id registration.
    pub fn unregister(&self, charge_point: &str, conn: ConnRef) {
        self.ids.unregister(charge_point, conn);
    }

    /// What the last `handshake()` step decided: an upgrade (whose
    /// connection now counts in `open_connections`) or a refusal.
    pub fn take_decision(&self) -> Option<Result<Upgrade, Refusal>> {
        self.decided.borrow_mut().take()
    }

    /// Releases the place of a counted connection that has gone.
    pub fn release(&self) {
        self.open_connections.fetch_sub(1, Ordering::AcqRel);
    }

    fn decide(
        &self,
        request: &Request,
        response: &mut Response,
        client: Option<&ClientIdentity>,
    ) -> Result<Upgrade, Refusal> {
        // A reconnect storm is spread out before it costs anything more.
        let rate = f64::from(self.config.listen.max_handshakes_per_second);
        if rate > 0.0 {
            let mut upgrades = self.upgrades.get();
            let taken = upgrades.take(rate, rate, Instant::now());
            self.upgrades.set(upgrades);
            if let Err(wait) = taken {
                return Err(Refusal::busy(
                    "too many connections at once; retry later",
                    wait,
                ));
            }
        }
        let ocpp = &self.config.ocpp;
        let id = charge_point_id(
            request.uri().path(),
            &self.config.listen.path_prefix,
            ocpp.max_id_length,
        )?;
        // Security profile 3: the client certificate (already verified
        // against tls.client_ca by rustls) must name this charge point. The
        // id is only known here, after TLS, so a mismatch is an HTTP 401
        // rather than a TLS alert.
        if let Some(client) = client {
            match client.get() {
                Some(Some(cn)) if *cn == id => {}
                Some(Some(cn)) => {
                    log::info!("{id}: client certificate is for {cn:?}");
                    return Err(Refusal::new(
                        401,
                        "client certificate CN does not match the charge point id",
                    ));
                }
                _ => {
                    return Err(Refusal::new(401, "client certificate without a subject CN"));
                }
            }
        }
        // Authentication comes before the duplicate-id rule: otherwise anyone
        // could disconnect a charge point by connecting with its id.
        let mut authorization = request.headers().get_all("Authorization").iter();
        let header = match (authorization.next(), authorization.next()) {
            (None, _) => None,
            (Some(value), None) => Some(value.as_bytes()),
            // Two Authorization headers: ambiguous, refused as malformed.
            (Some(_), Some(_)) => Some(&b""[..]),
        };
        match self.credentials.current().check(&id, header) {
            AuthDecision::Allowed => {}
            AuthDecision::UnknownId => {
                return Err(Refusal::new(
                    404,
                    format!("{id} is not a known charge point"),
                ));
            }
            AuthDecision::BadCredentials(why) => {
                log::info!("{id}: Basic Auth refused: {why}");
                let mut refusal = Refusal::new(401, "Basic authentication required");
                refusal.challenge = Some(WWW_AUTHENTICATE);
                return Err(refusal);
            }
        }
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let assume = ocpp.missing_subprotocol == MissingSubprotocol::AssumeOcpp16;
        let version = match choose_subprotocol(offered, &ocpp.subprotocols, assume) {
            SubprotocolChoice::Selected(v) => {
                response.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static(v.subprotocol()),
                );
                Some(v)
            }
            SubprotocolChoice::Assumed(v) => Some(v),
            SubprotocolChoice::Unacceptable => None,
        };
        let duplicate = self.config.ocpp.duplicate_id;
        if duplicate == DuplicateId::Reject && self.ids.is_connected(&id) {
            return Err(Refusal::new(409, format!("{id} is already connected")));
        }
        let max = self.config.listen.max_connections;
        if self.open_connections.fetch_add(1, Ordering::AcqRel) >= max {
            self.open_connections.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::new(
                503,
                format!("gateway is at its limit of {max} connections"),
            ));
        }
        // Under "reject" a racing twin may have registered since the check
        // above; the newest connection wins either way, the old one is closed.
        let replaces = self
            .current
            .get()
            .and_then(|(conn, peer)| self.ids.register(&id, conn, peer));
        Ok(Upgrade {
            charge_point: Arc::from(id),
            version,
            replaces,
        })
    }
}

/// The per-connection callback handed to tungstenite. `client` is set on
/// TLS connections that must show a client certificate (profile 3): the
/// transport fills it in when the TLS handshake completes.
pub struct GateCallback {
    pub gate: Rc<Gate>,
    pub client: Option<ClientIdentity>,
}

impl Callback for GateCallback {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        let gate = &self.gate;
        let decision = gate.decide(request, &mut response, self.client.as_ref());
        let answer = match &decision {
            Ok(_) => Ok(response),
            Err(refusal) => Err(error_response(refusal)),
        };
        *gate.decided.borrow_mut() = Some(decision);
        answer
    }
}

fn error_response(refusal: &Refusal) -> ErrorResponse {
    let body = format!("{}\n", refusal.reason);
    let mut response = ErrorResponse::new(Some(body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("Connection", HeaderValue::from_static("close"));
    if let Some(challenge) = refusal.challenge {
        headers.insert("WWW-Authenticate", HeaderValue::from_static(challenge));
    }
    if let Some(seconds) = refusal.retry_after {
        headers.insert("Retry-After", HeaderValue::from(seconds));
    }
    if let Ok(len) = HeaderValue::from_str(&body.len().to_string()) {
        headers.insert("Content-Length", len);
    }
    response
}
