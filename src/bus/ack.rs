//! What JetStream answered to one publish (`{"stream":…,"seq":…}`, with
//! `"duplicate":true` when it already had the message id, or
//! `{"error":{…}}`), read without building async-nats' ack types.

use std::borrow::Cow;

use async_nats::{Message, StatusCode};
use serde::Deserialize;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or already stored: `duplicate`).
    Stored { duplicate: bool },
    /// Not stored; the reason, for the log.
    Refused(String),
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    duplicate: bool,
    #[serde(borrow, default)]
    error: Option<ErrorBody<'a>>,
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(default)]
    code: u16,
    #[serde(borrow, default)]
    description: Cow<'a, str>,
}

pub fn decode(message: &Message) -> Outcome {
    if message.status == Some(StatusCode::NO_RESPONDERS) {
        return Outcome::Refused("no stream takes the subject (no responders)".into());
    }
    match serde_json::from_slice::<Body>(&message.payload) {
        Ok(Body {
            error: Some(error), ..
        }) => Outcome::Refused(format!("{} {}", error.code, error.description)),
        Ok(Body {
            seq: Some(_),
            duplicate,
            ..
        }) => Outcome::Stored { duplicate },
        Ok(_) => Outcome::Refused("an ack without a sequence number".into()),
        Err(e) => Outcome::Refused(format!("an ack that is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &'static str) -> Message {
        Message {
            subject: "_INBOX.x.1".into(),
            reply: None,
            payload: payload.into(),
            headers: None,
            status: None,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn reads_acks_and_refusals() {
        assert_eq!(
            decode(&message("{\"stream\":\"OCPP_EVENTS\",\"seq\":7}")),
            Outcome::Stored { duplicate: false }
        );
        assert_eq!(
            decode(&message(
                "{\"stream\":\"OCPP_EVENTS\",\"domain\":\"d\",\"seq\":7,\"duplicate\":true}"
            )),
            Outcome::Stored { duplicate: true }
        );
        assert_eq!(
            decode(&message(
                "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":\"maximum messages exceeded\"}}"
            )),
            Outcome::Refused("503 maximum messages exceeded".into())
        );
        assert!(matches!(decode(&message("")), Outcome::Refused(_)));
        let mut no_stream = message("");
        no_stream.status = Some(StatusCode::NO_RESPONDERS);
        assert!(matches!(decode(&no_stream), Outcome::Refused(_)));
    }
}
