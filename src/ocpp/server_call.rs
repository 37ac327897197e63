//! Rules for calls the gateway sends to a charge point (server-initiated
//! CALLs): which actions may be sent, and whether a request or an answer is
//! valid for the connection's version. Pure functions; the reactor applies
//! them, the admin API and the library API call them first.

use super::{ErrorCode, OcppVersion, Violation, v16, v21, v201};

/// Checks that `action` is one a central system sends and that `payload`
/// (JSON object text) is a valid request for it.
pub fn check_request(version: OcppVersion, action: &str, payload: &str) -> Result<(), Violation> {
    match version {
        OcppVersion::V16 => {
            let a = v16::Action::from_name(action).ok_or_else(|| unknown(version, action))?;
            if a.sender() == v16::Sender::ChargePoint {
                return Err(not_ours(action));
            }
            v16::parse_request(a, payload).map(|_| ())
        }
        OcppVersion::V201 => {
            let a = v201::Action::from_name(action).ok_or_else(|| unknown(version, action))?;
            if a.sender() == v201::Sender::ChargingStation {
                return Err(not_ours(action));
            }
            v201::parse_request(a, payload).map(|_| ())
        }
        OcppVersion::V21 => {
            let a = v21::Action::from_name(action).ok_or_else(|| unknown(version, action))?;
            if a.sender() == v21::Sender::ChargingStation {
                return Err(not_ours(action));
            }
            v21::parse_request(a, payload).map(|_| ())
        }
    }
}

/// Checks a command kept for a charge point that is not connected, whose
/// version is not known yet: valid if it is a valid request in at least
/// one version. Else the violation of the first version that knows the
/// action (or of 1.6 when none does). The reactor checks it again against
/// the connection's version before it is sent.
pub fn check_request_any_version(action: &str, payload: &str) -> Result<(), Violation> {
    let mut first_known = None;
    let mut first = None;
    for version in OcppVersion::ALL {
        match check_request(version, action, payload) {
            Ok(()) => return Ok(()),
            Err(v) => {
                if first_known.is_none() && v.code != ErrorCode::NotImplemented {
                    first_known = Some(v);
                } else if first.is_none() {
                    first = Some(v);
                }
            }
        }
    }
    Err(first_known
        .or(first)
        .unwrap_or_else(|| unknown(OcppVersion::V16, action)))
}

/// Checks a CALLRESULT payload against the action's response schema.
pub fn check_response(version: OcppVersion, action: &str, payload: &str) -> Result<(), Violation> {
    match version {
        OcppVersion::V16 => {
            let a = v16::Action::from_name(action).ok_or_else(|| unknown(version, action))?;
            v16::parse_response(a, payload).map(|_| ())
        }
        OcppVersion::V201 => {
            let a = v201::Action::from_name(action).ok_or_else(|| unknown(version, action))?;
            v201::parse_response(a, payload).map(|_| ())
        }
        OcppVersion::V21 => {
            let a = v21::Action::from_name(action).ok_or_else(|| unknown(version, action))?;
            v21::parse_response(a, payload).map(|_| ())
        }
    }
}

fn unknown(version: OcppVersion, action: &str) -> Violation {
    Violation::new(
        ErrorCode::NotImplemented,
        format!("action {action:?} is not part of {version}"),
    )
}

fn not_ours(action: &str) -> Violation {
    Violation::new(
        ErrorCode::NotSupported,
        format!("{action} is sent by charge points, not to them"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use OcppVersion::*;

    #[test]
    fn requests_and_responses_are_checked() {
        assert!(check_request(V16, "Reset", r#"{"type":"Soft"}"#).is_ok());
        let bad = check_request(V16, "Reset", r#"{"type":"Sideways"}"#).unwrap_err();
        assert_eq!(bad.code, ErrorCode::PropertyConstraintViolation);
        assert_eq!(
            check_request(V16, "Heartbeat", "{}").unwrap_err().code,
            ErrorCode::NotSupported
        );
        assert_eq!(
            check_request(V16, "Warp", "{}").unwrap_err().code,
            ErrorCode::NotImplemented
        );
        assert!(check_response(V16, "Reset", r#"{"status":"Accepted"}"#).is_ok());
        assert!(check_response(V16, "Reset", r#"{"status":"Maybe"}"#).is_err());
        assert!(check_request(V201, "Reset", r#"{"type":"Immediate"}"#).is_ok());
        assert!(check_request(V21, "SetDERControl", "{}").is_err());
        assert_eq!(
            check_request(V21, "NotifySettlement", "{}")
                .unwrap_err()
                .code,
            ErrorCode::NotSupported
        );
        assert!(check_response(V21, "Reset", r#"{"status":"Accepted"}"#).is_ok());
        assert_eq!(
            check_response(V21, "Reset", "{}").unwrap_err().code,
            ErrorCode::OccurrenceConstraintViolation
        );
    }
}
