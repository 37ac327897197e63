//! OCPP-J upgrade rules: which URL names which charge point, which
//! subprotocol a connection speaks, and in which order an upgrade request
//! is judged (OCPP-J 1.6 §3.1–3.2, DESIGN.md table). Pure: the reactor
//! answers the questions [`decide_upgrade`] asks ([`UpgradeFacts`]) and
//! carries out its decision.

use super::OcppVersion;

/// Why an upgrade request is refused before the WebSocket exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
    /// `WWW-Authenticate` value to send with a 401.
    pub challenge: Option<&'static str>,
    /// `Retry-After` seconds to send with a 503 for a busy gateway.
    pub retry_after: Option<u64>,
    /// For the operator's log, never sent: what the reason leaves out.
    pub note: Option<String>,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            challenge: None,
            retry_after: None,
            note: None,
        }
    }

    /// 503 with `Retry-After`: come back in `wait` (at least a second).
    pub fn busy(reason: impl Into<String>, wait: std::time::Duration) -> Refusal {
        Refusal {
            retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            ..Refusal::new(503, reason)
        }
    }
}

/// Characters OCPP allows in an identity (DESIGN.md): `A-Za-z0-9*-_=:+|@.`
fn allowed_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "*-_=:+|@.".contains(c)
}

/// Extracts the charge point id from the request path `{prefix}/{id}`.
///
/// The id is the last segment, percent-decoded. A path outside the prefix is
/// 404; an empty, over-long or ill-formed id is 400.
pub fn charge_point_id(path: &str, prefix: &str, max_len: usize) -> Result<String, Refusal> {
    let rest = path
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| Refusal::new(404, format!("path must be {prefix}/{{chargePointId}}")))?;
    let raw = rest.rsplit('/').next().unwrap_or(rest);
    if raw.is_empty() {
        return Err(Refusal::new(400, "charge point id is empty"));
    }
    let id = percent_decode(raw)
        .ok_or_else(|| Refusal::new(400, "charge point id is not valid percent-encoded UTF-8"))?;
    if id.is_empty() {
        return Err(Refusal::new(400, "charge point id is empty"));
    }
    if id.contains('/') {
        return Err(Refusal::new(400, "charge point id contains '/'"));
    }
    if id.chars().count() > max_len {
        return Err(Refusal::new(
            400,
            format!("charge point id is longer than {max_len} characters"),
        ));
    }
    if let Some(bad) = id.chars().find(|&c| !allowed_id_char(c)) {
        return Err(Refusal::new(
            400,
            format!("charge point id contains {bad:?}; allowed are A-Za-z0-9*-_=:+|@."),
        ));
    }
    Ok(id)
}

/// Decodes `%XX` escapes; `None` if they are malformed or not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    hex_unescape(s, b'%')
}

/// Decodes `<escape>XX` (two hex digits) sequences; `None` if they are
/// malformed or the result is not UTF-8. Also the bus's subject tokens.
pub fn hex_unescape(s: &str, escape: u8) -> Option<String> {
    if !s.as_bytes().contains(&escape) {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == escape {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The outcome of subprotocol negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubprotocolChoice {
    /// Answer with this `Sec-WebSocket-Protocol`.
    Selected(OcppVersion),
    /// The client offered none and config lets it in as OCPP 1.6; the
    /// response carries no `Sec-WebSocket-Protocol`.
    Assumed(OcppVersion),
    /// Nothing acceptable: upgrade without the header, then close 1002.
    Unacceptable,
}

/// Picks the first subprotocol of the client's list (in the client's order)
/// that the gateway accepts. `offered` holds the raw header values.
pub fn choose_subprotocol<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    accepted: &[OcppVersion],
    assume_v16_when_none_offered: bool,
) -> SubprotocolChoice {
    let mut any_offered = false;
    for token in offered.into_iter().flat_map(|v| v.split(',')) {
        let token = token.trim();
        if token.is_empty() {
            continue;
        }
        any_offered = true;
        if let Some(v) = OcppVersion::from_subprotocol(token)
            && accepted.contains(&v)
        {
            return SubprotocolChoice::Selected(v);
        }
    }
    if !any_offered && assume_v16_when_none_offered && accepted.contains(&OcppVersion::V16) {
        return SubprotocolChoice::Assumed(OcppVersion::V16);
    }
    SubprotocolChoice::Unacceptable
}

/// What the client certificate of the connection says (security profile 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCertificate<'a> {
    /// None is required (plain connection, or TLS without `tls.client_ca`).
    NotRequired,
    /// Verified, with this subject CN.
    Named(&'a str),
    /// Required, but none with a subject CN was presented.
    Unnamed,
}

/// What the credentials in force say about a charge point id and the
/// `Authorization` header of its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    Allowed,
    /// Neither in the credentials nor in the allow list.
    UnknownId,
    /// Basic Auth required and missing or wrong: a 401 with this
    /// `WWW-Authenticate` challenge. `why` is for the log only (the client
    /// is never told which).
    BadCredentials {
        challenge: &'static str,
        why: String,
    },
}

/// The questions about the gateway's state that the upgrade rules ask,
/// each only when a rule gets to it, in rule order, at most once per
/// request. The answers may be costly (a password hash) or take a lock
/// (the id registry): a request refused early never causes them.
pub trait UpgradeFacts {
    /// Checks the request's credentials for `id`. Asked for a well-formed
    /// id whose client certificate, if one is required, names it.
    fn authenticate(&mut self, id: &str) -> Authentication;
    /// Whether `id` is connected now. Asked only when duplicates are
    /// rejected, and only after authentication: otherwise anyone could
    /// learn, or disturb, who is connected.
    fn is_connected(&mut self, id: &str) -> bool;
    /// A rule of `id`'s own (its profile's `missing_subprotocol`): whether
    /// to let it in as OCPP 1.6 when it offers no subprotocol. `None`: the
    /// global rule applies. Asked once per accepted id, after authentication.
    fn assume_v16_for(&mut self, id: &str) -> Option<bool>;
}

/// The configured upgrade rules, as plain values.
#[derive(Clone, Copy, Debug)]
pub struct UpgradeRules<'a> {
    /// `listen.path_prefix`: requests name `{prefix}/{id}`.
    pub path_prefix: &'a str,
    /// `ocpp.max_id_length`.
    pub max_id_len: usize,
    /// `ocpp.subprotocols`, the versions accepted.
    pub subprotocols: &'a [OcppVersion],
    /// `ocpp.missing_subprotocol = "assume-ocpp1.6"`.
    pub assume_v16_when_none_offered: bool,
    /// `ocpp.duplicate_id = "reject"`: a second connection with an id
    /// already connected is refused (409) instead of replacing the first.
    pub reject_duplicates: bool,
}

/// An upgrade the rules let through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub charge_point: String,
    /// With `Selected`, the response names the subprotocol; with
    /// `Unacceptable` the connection is upgraded, then closed 1002.
    pub subprotocol: SubprotocolChoice,
}

/// Judges one upgrade request: `path` and the offered subprotocols (raw
/// `Sec-WebSocket-Protocol` values) from the request, `certificate` from
/// its TLS session.
///
/// The order is the rule: the path names the charge point (404/400); a
/// required client certificate must name it (401); its credentials must
/// let it in (404 unknown id, 401 with a challenge for bad credentials);
/// the subprotocol is chosen; under `reject_duplicates` an id already
/// connected is refused (409). Authentication comes before the duplicate
/// rule, so no one can disconnect a charge point by connecting with its id.
///
/// An accepted upgrade still needs a place under `listen.max_connections`,
/// and registers its id, displacing an older holder (closed 1008): that is
/// the caller's.
pub fn decide_upgrade<'a>(
    path: &str,
    offered: impl IntoIterator<Item = &'a str>,
    certificate: ClientCertificate<'_>,
    rules: &UpgradeRules<'_>,
    facts: &mut impl UpgradeFacts,
) -> Result<Accepted, Refusal> {
    let id = charge_point_id(path, rules.path_prefix, rules.max_id_len)?;
    // The id is only known here, after TLS, so a certificate that names
    // another charge point is an HTTP 401 rather than a TLS alert.
    match certificate {
        ClientCertificate::NotRequired => {}
        ClientCertificate::Named(cn) if cn == id => {}
        ClientCertificate::Named(cn) => {
            return Err(Refusal {
                note: Some(format!("{id}: client certificate is for {cn:?}")),
                ..Refusal::new(
                    401,
                    "client certificate CN does not match the charge point id",
                )
            });
        }
        ClientCertificate::Unnamed => {
            return Err(Refusal::new(401, "client certificate without a subject CN"));
        }
    }
    match facts.authenticate(&id) {
        Authentication::Allowed => {}
        Authentication::UnknownId => {
            return Err(Refusal::new(
                404,
                format!("{id} is not a known charge point"),
            ));
        }
        Authentication::BadCredentials { challenge, why } => {
            return Err(Refusal {
                challenge: Some(challenge),
                note: Some(format!("{id}: Basic Auth refused: {why}")),
                ..Refusal::new(401, "Basic authentication required")
            });
        }
    }
    let assume_v16 = facts
        .assume_v16_for(&id)
        .unwrap_or(rules.assume_v16_when_none_offered);
    let subprotocol = choose_subprotocol(offered, rules.subprotocols, assume_v16);
    if rules.reject_duplicates && facts.is_connected(&id) {
        return Err(Refusal::new(409, format!("{id} is already connected")));
    }
    Ok(Accepted {
        charge_point: id,
        subprotocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OcppVersion::*;

    #[test]
    fn ids_from_paths() {
        let id = |p: &str| charge_point_id(p, "/ocpp", 48);
        assert_eq!(id("/ocpp/CP-1"), Ok("CP-1".into()));
        assert_eq!(id("/ocpp/site/CP%2D2"), Ok("CP-2".into()));
        assert_eq!(id("/other/CP-1").unwrap_err().status, 404);
        assert_eq!(id("/ocppx/CP-1").unwrap_err().status, 404);
        assert_eq!(id("/ocpp").unwrap_err().status, 404);
        assert_eq!(id("/ocpp/").unwrap_err().status, 400);
        assert_eq!(id("/ocpp/a%2Fb").unwrap_err().status, 400);
        assert_eq!(id("/ocpp/a%zz").unwrap_err().status, 400);
        assert_eq!(id("/ocpp/sp ace").unwrap_err().status, 400);
        assert_eq!(
            id(&format!("/ocpp/{}", "x".repeat(49))).unwrap_err().status,
            400
        );
        assert_eq!(id(&format!("/ocpp/{}", "x".repeat(48))), Ok("x".repeat(48)));
        assert_eq!(charge_point_id("/CP-9", "", 48), Ok("CP-9".into()));
    }

    #[test]
    fn subprotocol_in_client_order() {
        let both = [V16, V201];
        assert_eq!(
            choose_subprotocol(["ocpp2.0.1, ocpp1.6"], &[V16], false),
            SubprotocolChoice::Selected(V16)
        );
        assert_eq!(
            choose_subprotocol(["ocpp2.0.1", "ocpp1.6"], &both, false),
            SubprotocolChoice::Selected(V201)
        );
        assert_eq!(
            choose_subprotocol(["ocpp1.5"], &both, true),
            SubprotocolChoice::Unacceptable
        );
        assert_eq!(
            choose_subprotocol([], &both, false),
            SubprotocolChoice::Unacceptable
        );
        assert_eq!(
            choose_subprotocol([], &both, true),
            SubprotocolChoice::Assumed(V16)
        );
    }

    #[test]
    fn three_versions_are_chosen_in_the_client_order() {
        let all = OcppVersion::ALL;
        for (offered, chosen) in [
            ("ocpp2.1, ocpp2.0.1, ocpp1.6", V21),
            ("ocpp1.6, ocpp2.1", V16),
            ("ocpp2.0.1,ocpp2.1", V201),
            (" , OCPP2.1", V21),
        ] {
            assert_eq!(
                choose_subprotocol([offered], &all, false),
                SubprotocolChoice::Selected(chosen),
                "{offered}"
            );
        }
        // 2.1 offered first but not accepted: the next one the client offers.
        assert_eq!(
            choose_subprotocol(["ocpp2.1, ocpp1.6"], &[V16, V201], false),
            SubprotocolChoice::Selected(V16)
        );
        assert_eq!(
            choose_subprotocol(["ocpp2.1"], &[V16, V201], false),
            SubprotocolChoice::Unacceptable
        );
    }

    /// Fixed answers, and a record of what was asked, in order.
    struct Facts {
        auth: Authentication,
        connected: bool,
        /// What `assume_v16_for` answers for ids starting `OLD-`.
        old_firmware: Option<bool>,
        asked: Vec<String>,
    }

    impl Facts {
        fn new(auth: Authentication, connected: bool) -> Facts {
            Facts {
                auth,
                connected,
                old_firmware: None,
                asked: Vec::new(),
            }
        }
    }

    impl UpgradeFacts for Facts {
        fn authenticate(&mut self, id: &str) -> Authentication {
            self.asked.push(format!("authenticate {id}"));
            self.auth.clone()
        }
        fn is_connected(&mut self, id: &str) -> bool {
            self.asked.push(format!("is_connected {id}"));
            self.connected
        }
        fn assume_v16_for(&mut self, id: &str) -> Option<bool> {
            self.old_firmware.filter(|_| id.starts_with("OLD-"))
        }
    }

    const RULES: UpgradeRules<'static> = UpgradeRules {
        path_prefix: "/ocpp",
        max_id_len: 48,
        subprotocols: &[V16, V201],
        assume_v16_when_none_offered: false,
        reject_duplicates: true,
    };

    fn decide(
        path: &str,
        offered: &[&str],
        certificate: ClientCertificate<'_>,
        rules: &UpgradeRules<'_>,
        facts: &mut Facts,
    ) -> Result<Accepted, Refusal> {
        decide_upgrade(path, offered.iter().copied(), certificate, rules, facts)
    }

    #[test]
    fn an_upgrade_passes_every_rule_in_order() {
        let mut facts = Facts::new(Authentication::Allowed, false);
        let accepted = decide(
            "/ocpp/CP-1",
            &["ocpp2.0.1, ocpp1.6"],
            ClientCertificate::Named("CP-1"),
            &RULES,
            &mut facts,
        );
        assert_eq!(
            accepted,
            Ok(Accepted {
                charge_point: "CP-1".into(),
                subprotocol: SubprotocolChoice::Selected(V201),
            })
        );
        assert_eq!(facts.asked, ["authenticate CP-1", "is_connected CP-1"]);
    }

    #[test]
    fn a_bad_path_or_certificate_is_refused_before_any_question() {
        let mut facts = Facts::new(Authentication::Allowed, false);
        let none = ClientCertificate::NotRequired;
        let refusal = decide("/elsewhere/CP-1", &[], none, &RULES, &mut facts).unwrap_err();
        assert_eq!(refusal.status, 404);
        assert_eq!(
            decide("/ocpp/", &[], none, &RULES, &mut facts)
                .unwrap_err()
                .status,
            400
        );
        let other = ClientCertificate::Named("CP-2");
        let refusal = decide("/ocpp/CP-1", &[], other, &RULES, &mut facts).unwrap_err();
        assert_eq!(refusal.status, 401);
        assert_eq!(refusal.challenge, None);
        assert_eq!(
            refusal.note.as_deref(),
            Some(r#"CP-1: client certificate is for "CP-2""#)
        );
        let unnamed = ClientCertificate::Unnamed;
        let refusal = decide("/ocpp/CP-1", &[], unnamed, &RULES, &mut facts).unwrap_err();
        assert_eq!(refusal.status, 401);
        assert!(facts.asked.is_empty(), "{:?}", facts.asked);
    }

    #[test]
    fn authentication_comes_before_the_duplicate_rule() {
        let none = ClientCertificate::NotRequired;
        let mut unknown = Facts::new(Authentication::UnknownId, true);
        let refusal = decide("/ocpp/CP-1", &[], none, &RULES, &mut unknown).unwrap_err();
        assert_eq!(refusal.status, 404);
        assert_eq!(unknown.asked, ["authenticate CP-1"]);

        let bad = Authentication::BadCredentials {
            challenge: "Basic realm=\"x\"",
            why: "wrong password".into(),
        };
        let mut wrong = Facts::new(bad, true);
        let refusal = decide("/ocpp/CP-1", &[], none, &RULES, &mut wrong).unwrap_err();
        assert_eq!(refusal.status, 401);
        assert_eq!(refusal.challenge, Some("Basic realm=\"x\""));
        assert_eq!(
            refusal.note.as_deref(),
            Some("CP-1: Basic Auth refused: wrong password")
        );
        // The reason is never sent.
        assert!(!refusal.reason.contains("password"));
        assert_eq!(wrong.asked, ["authenticate CP-1"]);

        let mut twin = Facts::new(Authentication::Allowed, true);
        let refusal = decide("/ocpp/CP-1", &["ocpp1.6"], none, &RULES, &mut twin).unwrap_err();
        assert_eq!(refusal.status, 409);
        assert_eq!(twin.asked, ["authenticate CP-1", "is_connected CP-1"]);
    }

    #[test]
    fn replacing_duplicates_never_asks_who_is_connected() {
        let replace = UpgradeRules {
            reject_duplicates: false,
            ..RULES
        };
        let mut facts = Facts::new(Authentication::Allowed, true);
        let accepted = decide(
            "/ocpp/CP-1",
            &["ocpp1.6"],
            ClientCertificate::NotRequired,
            &replace,
            &mut facts,
        )
        .unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Selected(V16));
        assert_eq!(facts.asked, ["authenticate CP-1"]);
    }

    #[test]
    fn a_charge_points_own_rule_may_assume_ocpp16_for_it_alone() {
        let none = ClientCertificate::NotRequired;
        let mut facts = Facts::new(Authentication::Allowed, false);
        facts.old_firmware = Some(true);
        let accepted = decide("/ocpp/OLD-1", &[], none, &RULES, &mut facts).unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Assumed(V16));
        let accepted = decide("/ocpp/CP-1", &[], none, &RULES, &mut facts).unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Unacceptable);
        // Its own rule may also refuse what the global rule would assume.
        facts.old_firmware = Some(false);
        let assume = UpgradeRules {
            assume_v16_when_none_offered: true,
            ..RULES
        };
        let accepted = decide("/ocpp/OLD-2", &[], none, &assume, &mut facts).unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Unacceptable);
    }

    #[test]
    fn a_missing_subprotocol_is_accepted_then_closed_unless_assumed() {
        let none = ClientCertificate::NotRequired;
        let mut facts = Facts::new(Authentication::Allowed, false);
        let accepted = decide("/ocpp/CP-1", &[], none, &RULES, &mut facts).unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Unacceptable);
        let assume = UpgradeRules {
            assume_v16_when_none_offered: true,
            ..RULES
        };
        let accepted = decide("/ocpp/CP-1", &[], none, &assume, &mut facts).unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Assumed(V16));
        let accepted = decide("/ocpp/CP-1", &["ocpp1.5"], none, &assume, &mut facts).unwrap();
        assert_eq!(accepted.subprotocol, SubprotocolChoice::Unacceptable);
    }
}
