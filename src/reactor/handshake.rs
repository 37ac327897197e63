//! Which upgrade requests a reactor admits: the tungstenite handshake
//! callback ([`HandshakeCallback`]) and the reactor-wide [`Admission`] it
//! reports to.
//!
//! Runs on the reactor thread, inside a `handshake()` step. The order of
//! the OCPP-J rules is [`crate::ocpp::handshake::decide_upgrade`]; this file
//! answers its questions (credentials from the credential store, is the
//! id connected from the id registry) and adds the limits around it — the upgrade rate first, a
//! place under `listen.max_connections` (a gateway-wide atomic) and the
//! id registration last.
//!
//! `Callback::on_request` consumes the callback, so the decision is passed
//! out through the reactor-owned [`Admission`]: the reactor collects it right
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
use crate::config::{Config, DuplicateId, MissingSubprotocol, ProfileTable};
use crate::cross_thread::{ConnRef, IdRegistry};
use crate::ocpp::OcppVersion;
use crate::ocpp::handshake::{
    Authentication, ClientCertificate, Refusal, SubprotocolChoice, UpgradeFacts, UpgradeRules,
    decide_upgrade,
};

/// What [`Admission`] decided for one accepted upgrade.
#[derive(Debug)]
pub struct Upgrade {
    pub charge_point: Arc<str>,
    /// Index in the reactor's profile list of the profile the id matched.
    pub profile: Option<u16>,
    /// `None`: no acceptable subprotocol; the connection is closed 1002 at once.
    pub version: Option<OcppVersion>,
    /// The older connection of the same id, to be closed 1008
    /// (`duplicate_id = "replace"`).
    pub replaces: Option<ConnRef>,
}

/// A reactor's admission of upgrade requests: the policy (config, the
/// upgrade allowance, the connection count), and the slot the callback
/// writes its decision into.
pub struct Admission {
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
    /// `[[profiles]]` in force (replaced at SIGHUP by the reactor).
    pub profiles: RefCell<Arc<ProfileTable>>,
}

impl Admission {
    pub fn new(
        config: Arc<Config>,
        open_connections: Arc<AtomicUsize>,
        ids: Arc<IdRegistry>,
        credentials: Arc<CredentialStore>,
        profiles: Arc<ProfileTable>,
    ) -> Rc<Admission> {
        let rate = f64::from(config.listen.max_handshakes_per_second);
        let profiles = RefCell::new(profiles);
        Rc::new(Admission {
            config,
            open_connections,
            ids,
            credentials,
            current: Cell::new(None),
            decided: RefCell::new(None),
            profiles,
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

    /// Judges one upgrade request: the upgrade allowance first (a
    /// reconnect storm is spread out before it costs anything more), then
    /// the OCPP-J rules ([`decide_upgrade`]), then a place under
    /// `listen.max_connections`, then the id registry.
    fn decide(
        &self,
        request: &Request,
        response: &mut Response,
        client: Option<&ClientIdentity>,
    ) -> Result<Upgrade, Refusal> {
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
        let profiles = self.profiles.borrow().clone();
        let rules = UpgradeRules {
            path_prefix: &self.config.listen.path_prefix,
            max_id_len: ocpp.max_id_length,
            subprotocols: &ocpp.subprotocols,
            assume_v16_when_none_offered: ocpp.missing_subprotocol
                == MissingSubprotocol::AssumeOcpp16,
            reject_duplicates: ocpp.duplicate_id == DuplicateId::Reject,
        };
        // Security profile 3: the client certificate (already verified
        // against tls.client_ca by rustls) must name the charge point.
        let certificate = match client.map(|c| c.get()) {
            None => ClientCertificate::NotRequired,
            Some(Some(Some(cn))) => ClientCertificate::Named(cn),
            Some(_) => ClientCertificate::Unnamed,
        };
        let mut authorization = request.headers().get_all("Authorization").iter();
        let authorization = match (authorization.next(), authorization.next()) {
            (None, _) => None,
            (Some(value), None) => Some(value.as_bytes()),
            // Two Authorization headers: ambiguous, refused as malformed.
            (Some(_), Some(_)) => Some(&b""[..]),
        };
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let mut facts = RequestFacts {
            ids: &self.ids,
            credentials: &self.credentials,
            authorization,
            profiles: &profiles,
            profile: None,
        };
        let accepted = decide_upgrade(
            request.uri().path(),
            offered,
            certificate,
            &rules,
            &mut facts,
        )
        .inspect_err(|refusal| {
            if let Some(note) = &refusal.note {
                log::info!("{note}");
            }
        })?;
        let version = match accepted.subprotocol {
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
        let id = accepted.charge_point;
        let max = self.config.listen.max_connections;
        if self.open_connections.fetch_add(1, Ordering::AcqRel) >= max {
            self.open_connections.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::new(
                503,
                format!("gateway is at its limit of {max} connections"),
            ));
        }
        // Under "reject" a racing twin may have registered since the check
        // in the rules; the newest connection wins either way, the old one
        // is closed.
        let replaces = self
            .current
            .get()
            .and_then(|(conn, peer)| self.ids.register(&id, conn, peer));
        Ok(Upgrade {
            charge_point: Arc::from(id),
            profile: facts.profile,
            version,
            replaces,
        })
    }
}

/// The gateway's answers to the questions of the upgrade rules, for one request.
struct RequestFacts<'a> {
    ids: &'a IdRegistry,
    credentials: &'a CredentialStore,
    /// The request's `Authorization` header (empty if it had two).
    authorization: Option<&'a [u8]>,
    /// `[[profiles]]` in force.
    profiles: &'a ProfileTable,
    /// The profile the accepted id matched (set by `assume_v16_for`).
    profile: Option<u16>,
}

impl UpgradeFacts for RequestFacts<'_> {
    fn authenticate(&mut self, id: &str) -> Authentication {
        match self.credentials.current().check(id, self.authorization) {
            AuthDecision::Allowed => Authentication::Allowed,
            AuthDecision::UnknownId => Authentication::UnknownId,
            AuthDecision::BadCredentials(why) => Authentication::BadCredentials {
                challenge: WWW_AUTHENTICATE,
                why: why.to_string(),
            },
        }
    }

    /// Matches the id's profile once: its index is kept for the
    /// connection, its `missing_subprotocol` answers here.
    fn assume_v16_for(&mut self, id: &str) -> Option<bool> {
        self.profile = self.profiles.matching(id, None);
        self.profiles
            .get(self.profile)
            .and_then(|p| p.missing_subprotocol)
            .map(|m| m == MissingSubprotocol::AssumeOcpp16)
    }

    fn is_connected(&mut self, id: &str) -> bool {
        self.ids.is_connected(id)
    }
}

/// The per-connection callback handed to tungstenite. `client` is set on
/// TLS connections that must show a client certificate (profile 3): the
/// transport fills it in when the TLS handshake completes.
pub struct HandshakeCallback {
    pub admission: Rc<Admission>,
    pub client: Option<ClientIdentity>,
}

impl Callback for HandshakeCallback {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        let admission = &self.admission;
        let decision = admission.decide(request, &mut response, self.client.as_ref());
        let answer = match &decision {
            Ok(_) => Ok(response),
            Err(refusal) => Err(error_response(refusal)),
        };
        *admission.decided.borrow_mut() = Some(decision);
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
