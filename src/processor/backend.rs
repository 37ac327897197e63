//! CALLs the backend answers (`[bus.answers]`): handed to the bus bridge
//! once validated, and their replies checked here like any response before
//! they reach the charge point. OCPP rules stay in the processors; the
//! bridge only carries bytes.

use std::time::Duration;

use super::{
    Answer, Incoming, Processor, ProcessorSetup, ReadyAnswer, call_parts, conclude, guarded,
};
use crate::config::BackendFallback;
use crate::cross_thread::{
    BackendAnswer, BackendReply, BackendRequest, BootInfo, InboundCall, Refused,
};
use crate::ocpp::{ErrorCode, OcppVersion, Violation, server_call};

/// How long a processor waits for a backend reply while the bridge's
/// request queue is full, before it offers the request again.
const FULL_WAIT: Duration = Duration::from_millis(1);

/// Hands a validated CALL to the bridge. While the bridge's queue is full
/// the processor answers backend replies meanwhile: the bridge may be
/// waiting for room for them, so waiting for the bridge alone could
/// deadlock. If the bridge has stopped, the CALL is answered as if the
/// backend were unavailable.
pub(super) fn forward(
    processor: &mut Processor<'_>,
    call: InboundCall,
    action: Box<str>,
    body: bytes::Bytes,
    boot: Option<Box<BootInfo>>,
) {
    let mut request = BackendRequest {
        call,
        action,
        body,
        boot,
    };
    let Some(link) = &processor.setup.backend else {
        processor.on_backend_reply(unavailable(request));
        return;
    };
    loop {
        match link.try_send(request) {
            Ok(()) => return,
            Err(Refused::Closed(back)) => {
                processor.on_backend_reply(unavailable(back));
                return;
            }
            Err(Refused::Full(back)) => {
                request = back;
                if let Ok(reply) = link.replies.recv_timeout(FULL_WAIT) {
                    processor.on_backend_reply(reply);
                }
            }
        }
    }
}

fn unavailable(request: BackendRequest) -> BackendReply {
    BackendReply {
        request,
        answer: BackendAnswer::Unavailable("the bus is shut down"),
    }
}

/// The answer to a CALL the backend was asked about.
pub(super) fn finish(setup: &ProcessorSetup, reply: BackendReply, out: &mut String) -> ReadyAnswer {
    let BackendReply { request, answer } = reply;
    let call = &request.call;
    let Some(super::CallParts {
        id,
        action,
        payload,
        ..
    }) = call_parts(call)
    else {
        return ReadyAnswer::nothing();
    };
    let result = match answer {
        BackendAnswer::Reply(body) => read_reply(call.version, &action, &body, request.boot),
        BackendAnswer::Unavailable(why) => match setup.backend.as_ref().map(|l| l.fallback()) {
            Some(BackendFallback::Error) => Err(Violation::new(
                ErrorCode::InternalError,
                format!("{why} ({action})"),
            )),
            // The payload was corrected before it went to the backend;
            // what the policy tolerates again is already noted.
            _ => guarded(&action, || {
                setup.policy.answer(&Incoming {
                    version: call.version,
                    charge_point: &call.charge_point,
                    action: &action,
                    payload,
                    lenience: call.lenience,
                })
            }),
        },
    };
    conclude(setup, call, (&id, &action, payload), result, out)
}

/// A backend reply: a JSON object is the CALLRESULT payload (checked
/// against the response schema), `[code, description, details]` a CALLERROR
/// (a code of the connection's version). Anything else is our fault to the
/// charge point: `InternalError`.
fn read_reply(
    version: OcppVersion,
    action: &str,
    body: &[u8],
    boot: Option<Box<BootInfo>>,
) -> Result<Answer, Violation> {
    let internal = |why: String| Violation::new(ErrorCode::InternalError, why);
    let text = std::str::from_utf8(body)
        .map_err(|_| internal("the backend's answer is not UTF-8".into()))?
        .trim();
    if text.starts_with('{') {
        server_call::check_response(version, action, text).map_err(|v| {
            internal(format!(
                "the backend's answer to {action} breaks the response schema: {}",
                v.description
            ))
        })?;
        // Boot info is kept only for a BootNotification the backend accepted.
        let accepted = boot.is_some()
            && serde_json::from_str::<serde_json::Value>(text)
                .is_ok_and(|v| v["status"] == "Accepted");
        return Ok(Answer {
            payload: text.to_owned(),
            boot: boot.filter(|_| accepted),
            // Already noted when the CALL was checked, before it went out.
            tolerated: Default::default(),
        });
    }
    let error: (String, String, serde_json::Value) = serde_json::from_str(text).map_err(|_| {
        internal(format!(
            "the backend's answer to {action} is neither a payload object nor [code, description, details]"
        ))
    })?;
    let (code, description, details) = error;
    if !details.is_object() {
        return Err(internal(format!(
            "the backend's CALLERROR details for {action} are not a JSON object"
        )));
    }
    match ErrorCode::parse(&code) {
        Some(parsed) if parsed.as_str(version) == code => {
            let mut violation = Violation::new(parsed, description);
            violation.details = Some(details.to_string().into());
            Err(violation)
        }
        _ => Err(internal(format!(
            "the backend answered {action} with {code:?}, not a {version} error code"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_checked_like_responses() {
        let v = OcppVersion::V16;
        let ok = read_reply(
            v,
            "Heartbeat",
            br#"{"currentTime":"2026-01-01T00:00:00Z"}"#,
            None,
        )
        .unwrap();
        assert_eq!(ok.payload, r#"{"currentTime":"2026-01-01T00:00:00Z"}"#);
        let e = read_reply(v, "Heartbeat", br#"{"currentTime":7}"#, None).unwrap_err();
        assert_eq!(e.code, ErrorCode::InternalError);
        let e = read_reply(v, "Heartbeat", br#"["SecurityError","nope",{}]"#, None).unwrap_err();
        assert_eq!(
            (e.code, e.description.as_str()),
            (ErrorCode::SecurityError, "nope")
        );
        // 2.0.1 spelling on a 1.6 connection: not a 1.6 code.
        let e = read_reply(v, "Heartbeat", br#"["FormatViolation","x",{}]"#, None).unwrap_err();
        assert_eq!(e.code, ErrorCode::InternalError);
        for bad in [&b"[1,2]"[..], b"42", b"\xff"] {
            assert_eq!(
                read_reply(v, "Heartbeat", bad, None).unwrap_err().code,
                ErrorCode::InternalError
            );
        }
    }
}
