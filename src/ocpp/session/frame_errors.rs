//! Which answer a broken frame gets (DESIGN.md, OCPP table): a text frame
//! that is not a well-formed RPC message.
//!
//! Whatever the answer, every such frame counts once against the
//! connection's bad-message budget (`ocpp.max_bad_messages`): past it the
//! connection is closed 1008.

use crate::ocpp::frame::{FrameError, FrameErrorKind, write_call_error};
use crate::ocpp::{ErrorCode, OcppVersion};

/// What the gateway does about a frame that failed to parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameErrorAnswer {
    /// Send this CALLERROR frame. Like any answer to a CALL it leaves in
    /// order: after the answer to a CALL still being processed.
    CallError(String),
    /// The frame claims to be a CALLRESULT or CALLERROR: send nothing
    /// (OCPP-J 1.6 §4.2.3: a CALLERROR answers a CALL only); the server
    /// call it names fails ([`super::Session::on_malformed_answer`]).
    FailServerCall,
    /// Send nothing: on 1.6, an unknown message type (OCPP-J 1.6 §4.1.3,
    /// which includes 2.1's types 5 and 6) or a message id that cannot be
    /// read (or is over [`crate::ocpp::frame::MAX_ECHOED_ID_LEN`]
    /// characters); on 2.1, a broken CALLRESULTERROR or SEND, which are
    /// never answered (OCPP 2.1 Part 4 §4.2.4–4.2.5).
    Nothing,
}

/// The answer to `error` on a connection speaking `version`.
///
/// CALLERROR codes: an unknown message type is `MessageTypeNotSupported`
/// (2.0.1, 2.1; on 2.0.1 that includes 2.1's types 5 and 6); a payload that
/// is not an object is `FormationViolation` (1.6) / `FormatViolation`
/// (2.0.1, 2.1); any other broken frame `FormationViolation` (1.6) /
/// `RpcFrameworkError` (2.0.1, 2.1). The description says what is wrong;
/// details are `{}`. On 2.0.1 and 2.1 an unreadable message id is answered
/// with id `"-1"` (OCPP 2.0.1 Part 4 §4.2.3).
pub fn answer_to(version: OcppVersion, error: &FrameError) -> FrameErrorAnswer {
    if error.is_answer() {
        return FrameErrorAnswer::FailServerCall;
    }
    if error.is_unanswerable() {
        return FrameErrorAnswer::Nothing;
    }
    let code = match (&error.kind, version) {
        (FrameErrorKind::UnknownMessageType(_), OcppVersion::V16) => {
            return FrameErrorAnswer::Nothing;
        }
        (FrameErrorKind::UnknownMessageType(_), OcppVersion::V201 | OcppVersion::V21) => {
            ErrorCode::MessageTypeNotSupported
        }
        // DESIGN.md: a payload that is not an object is a payload error,
        // not a broken frame.
        (FrameErrorKind::BadElement("payload"), _) => ErrorCode::FormatViolation,
        _ => ErrorCode::RpcFrameworkError,
    };
    let id = match (&error.message_id, version) {
        (Some(id), _) => id.as_str(),
        (None, OcppVersion::V201 | OcppVersion::V21) => "-1",
        (None, OcppVersion::V16) => return FrameErrorAnswer::Nothing,
    };
    let mut out = String::with_capacity(96);
    write_call_error(&mut out, version, id, code, &error.to_string(), None);
    FrameErrorAnswer::CallError(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::frame::parse_for;
    use OcppVersion::*;

    fn call_error(version: OcppVersion, text: &str) -> String {
        match answer_to(version, &parse_for(text, version).unwrap_err()) {
            FrameErrorAnswer::CallError(frame) => frame,
            other => panic!("{text} on {version}: {other:?}"),
        }
    }

    fn answer(version: OcppVersion, text: &str) -> FrameErrorAnswer {
        answer_to(version, &parse_for(text, version).unwrap_err())
    }

    #[test]
    fn broken_calls_get_a_callerror_spelled_for_the_version() {
        let v16 = call_error(V16, r#"[2,"m1","Heartbeat"]"#);
        assert!(v16.starts_with(r#"[4,"m1","FormationViolation","#), "{v16}");
        assert!(v16.ends_with(",{}]"), "{v16}");
        let v201 = call_error(V201, r#"[2,"m1","Heartbeat"]"#);
        assert!(
            v201.starts_with(r#"[4,"m1","RpcFrameworkError","#),
            "{v201}"
        );
        assert!(
            call_error(V201, r#"[2,"m3","Heartbeat",[]]"#)
                .starts_with(r#"[4,"m3","FormatViolation""#)
        );
        assert!(
            call_error(V16, r#"[2,"m3","Heartbeat",[]]"#)
                .starts_with(r#"[4,"m3","FormationViolation""#)
        );
        let long = format!(r#"[2,"{}","Heartbeat",{{}}]"#, "x".repeat(37));
        assert!(call_error(V16, &long).contains("at most 36"));
    }

    #[test]
    fn unreadable_ids_are_answered_only_on_2_0_1() {
        assert_eq!(answer(V16, "garbage"), FrameErrorAnswer::Nothing);
        assert!(call_error(V201, "garbage").starts_with(r#"[4,"-1","RpcFrameworkError""#));
        // An id too long to echo counts as unreadable.
        let huge = format!(r#"[2,"{}","Heartbeat"]"#, "x".repeat(65));
        assert_eq!(answer(V16, &huge), FrameErrorAnswer::Nothing);
        assert!(call_error(V201, &huge).starts_with(r#"[4,"-1","#));
    }

    #[test]
    fn unknown_message_types() {
        assert_eq!(answer(V16, r#"[5,"m2",{}]"#), FrameErrorAnswer::Nothing);
        assert!(
            call_error(V201, r#"[5,"m2",{}]"#).starts_with(r#"[4,"m2","MessageTypeNotSupported""#)
        );
        // 2.1's SEND and CALLRESULTERROR, well formed, on the older versions.
        let send = r#"[6,"m4","NotifyPeriodicEventStream",{}]"#;
        assert_eq!(answer(V16, send), FrameErrorAnswer::Nothing);
        assert!(call_error(V201, send).starts_with(r#"[4,"m4","MessageTypeNotSupported""#));
        let result_error = r#"[5,"m5","FormatViolation","x",{}]"#;
        assert!(call_error(V201, result_error).starts_with(r#"[4,"m5","MessageTypeNotSupported""#));
        assert!(
            call_error(V21, r#"[7,"m6",{}]"#).starts_with(r#"[4,"m6","MessageTypeNotSupported""#)
        );
    }

    #[test]
    fn broken_sends_and_result_errors_are_never_answered_on_2_1() {
        for text in [
            r#"[6,"m1","NotifyPeriodicEventStream"]"#,
            r#"[6,"m1","NotifyPeriodicEventStream",[]]"#,
            r#"[5,"m1","FormatViolation","x"]"#,
            r#"[5,"m1",7,"x",{}]"#,
        ] {
            assert_eq!(answer(V21, text), FrameErrorAnswer::Nothing, "{text}");
        }
    }

    #[test]
    fn broken_answers_are_never_answered() {
        for version in OcppVersion::ALL {
            for text in [
                r#"[3,"gw0-1"]"#,
                r#"[4,"gw0-1","x",{}]"#,
                r#"[3,"gw0-1",7]"#,
            ] {
                assert_eq!(answer(version, text), FrameErrorAnswer::FailServerCall);
            }
        }
    }
}
