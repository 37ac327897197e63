//! OCPP-J upgrade rules: which URL names which charge point, and which
//! subprotocol a connection speaks (OCPP-J 1.6 §3.1–3.2, DESIGN.md table).

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
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            challenge: None,
            retry_after: None,
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
}
