//! The server-call state machine on its own: no reactor, no socket, no clock.

use std::time::Duration;

use super::*;
use crate::ocpp::ErrorCode;
use crate::ocpp::frame::{self, Frame};
use OcppVersion::V16;

/// Replies are plain numbers: which call an outcome belongs to.
type S = Session<u32>;

fn reset(reply: u32) -> ServerCall<u32> {
    ServerCall {
        action: "Reset".into(),
        payload: r#"{"type":"Soft"}"#.into(),
        timeout: Duration::from_secs(reply.into()),
        reply,
    }
}

fn sent(offered: Offered<u32>) -> CallToSend {
    match offered {
        Offered::Send(call) => call,
        other => panic!("not sent: {other:?}"),
    }
}

/// The message id of a CALL frame the session wrote.
fn id_of(call: &CallToSend) -> String {
    match frame::parse(&call.text) {
        Ok(Frame::Call { id, action, .. }) => {
            assert_eq!(action, "Reset");
            id.into_owned()
        }
        other => panic!("not a CALL: {other:?}"),
    }
}

fn in_time(answered: Answered<u32>) -> Settled<u32> {
    match answered {
        Answered::InTime(settled) => settled,
        other => panic!("not in time: {other:?}"),
    }
}

const ACCEPTED: Answer<'static> = Answer::Result(r#"{"status":"Accepted"}"#);

#[test]
fn one_call_outstanding_the_rest_queued_in_order() {
    let (mut s, mut ids) = (S::default(), CallIds::new(3));
    let first = sent(s.offer(V16, reset(1), 16, &mut ids));
    assert_eq!(id_of(&first), "gw3-0");
    assert_eq!(first.text, r#"[2,"gw3-0","Reset",{"type":"Soft"}]"#);
    assert_eq!(first.timeout, Duration::from_secs(1));
    assert_eq!(&*first.payload, r#"{"type":"Soft"}"#);
    assert_eq!(s.outstanding(), Some(("gw3-0", "Reset")));
    assert!(s.awaits(first.seq));
    assert!(matches!(
        s.offer(V16, reset(2), 16, &mut ids),
        Offered::Queued
    ));
    assert!(matches!(
        s.offer(V16, reset(3), 16, &mut ids),
        Offered::Queued
    ));

    // Each answer ends the outstanding call and sends the next one.
    let one = in_time(s.on_answer("gw3-0", ACCEPTED, &mut ids));
    assert_eq!(one.reply, 1);
    assert_eq!((&*one.message_id, &*one.action), ("gw3-0", "Reset"));
    assert_eq!(
        one.outcome,
        ServerCallOutcome::Result(r#"{"status":"Accepted"}"#.into())
    );
    let second = one.next.expect("the second call goes next");
    assert_eq!(id_of(&second), "gw3-1");
    assert!(!s.awaits(first.seq) && s.awaits(second.seq));

    let two = in_time(s.on_answer("gw3-1", ACCEPTED, &mut ids));
    assert_eq!(two.reply, 2);
    let third = two.next.expect("then the third");
    assert_eq!(third.timeout, Duration::from_secs(3));
    let three = in_time(s.on_answer(&id_of(&third), ACCEPTED, &mut ids));
    assert_eq!(three.reply, 3);
    assert!(three.next.is_none());
    assert_eq!(s.outstanding(), None);
    // Nothing left to track: the session holds no allocation.
    assert!(s.calls.is_none());
}

#[test]
fn message_ids_count_across_sessions_of_a_reactor() {
    let mut ids = CallIds::new(0);
    let (mut a, mut b) = (S::default(), S::default());
    assert_eq!(id_of(&sent(a.offer(V16, reset(1), 1, &mut ids))), "gw0-0");
    assert_eq!(id_of(&sent(b.offer(V16, reset(2), 1, &mut ids))), "gw0-1");
    // B's id is not A's: an answer on the wrong connection matches nothing.
    assert!(matches!(
        a.on_answer("gw0-1", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
}

#[test]
fn a_full_queue_refuses() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    sent(s.offer(V16, reset(1), 2, &mut ids));
    assert!(matches!(
        s.offer(V16, reset(2), 2, &mut ids),
        Offered::Queued
    ));
    assert!(matches!(
        s.offer(V16, reset(3), 2, &mut ids),
        Offered::Queued
    ));
    match s.offer(V16, reset(4), 2, &mut ids) {
        Offered::QueueFull(Delivery { reply, outcome }) => {
            assert_eq!((reply, outcome), (4, ServerCallOutcome::QueueFull));
        }
        other => panic!("{other:?}"),
    }
    // No queue at all: one outstanding, nothing waits.
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    sent(s.offer(V16, reset(1), 0, &mut ids));
    assert!(matches!(
        s.offer(V16, reset(2), 0, &mut ids),
        Offered::QueueFull(_)
    ));
}

#[test]
fn invalid_requests_are_refused_before_anything_is_sent() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    let bad = ServerCall {
        payload: r#"{"type":"Sideways"}"#.into(),
        ..reset(1)
    };
    match s.offer(V16, bad, 16, &mut ids) {
        Offered::Invalid(Delivery {
            reply: 1,
            outcome: ServerCallOutcome::InvalidRequest(v),
        }) => assert_eq!(v.code, ErrorCode::PropertyConstraintViolation),
        other => panic!("{other:?}"),
    }
    let theirs = ServerCall {
        action: "Heartbeat".into(),
        payload: "{}".into(),
        ..reset(2)
    };
    assert!(matches!(
        s.offer(V16, theirs, 16, &mut ids),
        Offered::Invalid(_)
    ));
    // Nothing was allocated, no id used.
    assert!(s.calls.is_none());
    assert_eq!(id_of(&sent(s.offer(V16, reset(3), 16, &mut ids))), "gw0-0");
}

#[test]
fn answers_are_matched_by_id() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    let call = sent(s.offer(V16, reset(1), 16, &mut ids));
    assert!(matches!(
        s.on_answer("someone-else", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
    // The wrong id left the outstanding call alone.
    assert!(s.awaits(call.seq));
    let error = Answer::Error {
        code: "NotSupported",
        description: "no",
        details: r#"{"a":1}"#,
    };
    let settled = in_time(s.on_answer("gw0-0", error, &mut ids));
    assert_eq!(
        settled.outcome,
        ServerCallOutcome::Error {
            code: "NotSupported".into(),
            description: "no".into(),
            details: r#"{"a":1}"#.into(),
        }
    );
    // Answered once: a second answer with the same id is unsolicited.
    assert!(matches!(
        s.on_answer("gw0-0", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
    // A session that never sent anything knows no id.
    assert!(matches!(
        S::default().on_answer("gw0-0", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
}

#[test]
fn results_are_checked_against_the_response_schema() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    sent(s.offer(V16, reset(1), 16, &mut ids));
    let maybe = Answer::Result(r#"{"status":"Maybe"}"#);
    match in_time(s.on_answer("gw0-0", maybe, &mut ids)).outcome {
        ServerCallOutcome::InvalidResponse { payload, violation } => {
            assert_eq!(payload, r#"{"status":"Maybe"}"#);
            assert_eq!(violation.code, ErrorCode::PropertyConstraintViolation);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_timeout_ends_the_call_and_its_late_answer_is_told_apart() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    let first = sent(s.offer(V16, reset(1), 16, &mut ids));
    assert!(matches!(
        s.offer(V16, reset(2), 16, &mut ids),
        Offered::Queued
    ));
    // A timer for another call (long answered) is stale.
    assert!(s.on_timeout(first.seq.wrapping_add(7), &mut ids).is_none());

    let timed_out = s.on_timeout(first.seq, &mut ids).expect("it times out");
    assert_eq!(timed_out.reply, 1);
    assert_eq!(timed_out.outcome, ServerCallOutcome::Timeout);
    assert_eq!(&*timed_out.message_id, "gw0-0");
    let second = timed_out.next.expect("the queued call goes");
    // Its timer again: stale now.
    assert!(s.on_timeout(first.seq, &mut ids).is_none());

    // The answer to the first comes late: not delivered, only reported;
    // taken as given (this one would break the schema).
    match s.on_answer("gw0-0", Answer::Result(r#"{"status":"Maybe"}"#), &mut ids) {
        Answered::Late {
            message_id,
            action,
            outcome,
        } => {
            assert_eq!((&*message_id, &*action), ("gw0-0", "Reset"));
            assert_eq!(
                outcome,
                ServerCallOutcome::Result(r#"{"status":"Maybe"}"#.into())
            );
        }
        other => panic!("{other:?}"),
    }
    // Once.
    assert!(matches!(
        s.on_answer("gw0-0", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
    // The second call is still the outstanding one.
    assert!(s.awaits(second.seq));
    assert_eq!(in_time(s.on_answer("gw0-1", ACCEPTED, &mut ids)).reply, 2);
}

#[test]
fn only_the_last_few_timeouts_are_remembered() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    for reply in 0..=REMEMBERED_TIMEOUTS as u32 {
        let call = sent(s.offer(V16, reset(reply), 16, &mut ids));
        s.on_timeout(call.seq, &mut ids).expect("times out");
    }
    // The oldest is forgotten: its answer is unsolicited.
    assert!(matches!(
        s.on_answer("gw0-0", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
    assert!(matches!(
        s.on_answer("gw0-1", ACCEPTED, &mut ids),
        Answered::Late { .. }
    ));
}

#[test]
fn on_2_1_a_schema_breaking_result_is_answered_with_a_callresulterror() {
    for version in OcppVersion::ALL {
        let (mut s, mut ids) = (S::default(), CallIds::new(0));
        let immediate = ServerCall {
            payload: r#"{"type":"Immediate"}"#.into(),
            ..reset(1)
        };
        let request = if version == V16 { reset(1) } else { immediate };
        sent(s.offer(version, request, 16, &mut ids));
        let settled = in_time(s.on_answer("gw0-0", Answer::Result("{}"), &mut ids));
        assert!(matches!(
            settled.outcome,
            ServerCallOutcome::InvalidResponse { .. }
        ));
        match version {
            OcppVersion::V21 => assert_eq!(
                settled.result_error.as_deref(),
                Some(
                    r#"[5,"gw0-0","OccurrenceConstraintViolation","status: required property is missing",{"field":"status"}]"#
                )
            ),
            _ => assert_eq!(settled.result_error, None, "{version}"),
        }
        // A valid result gets nothing back, on every version.
        let next = ServerCall {
            payload: r#"{"type":"Immediate"}"#.into(),
            ..reset(2)
        };
        let next = if version == V16 { reset(2) } else { next };
        sent(s.offer(version, next, 16, &mut ids));
        let ok = in_time(s.on_answer("gw0-1", ACCEPTED, &mut ids));
        assert_eq!(ok.result_error, None);
    }
}

#[test]
fn on_2_1_an_unreadable_result_is_answered_with_a_callresulterror() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    let call = ServerCall {
        payload: r#"{"type":"OnIdle"}"#.into(),
        ..reset(1)
    };
    sent(s.offer(OcppVersion::V21, call, 16, &mut ids));
    let error = frame::parse_for(r#"[3,"gw0-0",[]]"#, OcppVersion::V21).unwrap_err();
    let failed = s.on_malformed_answer(&error, &mut ids).expect("fails it");
    let frame = failed.result_error.expect("a CALLRESULTERROR");
    assert!(
        frame.starts_with(r#"[5,"gw0-0","FormatViolation","#),
        "{frame}"
    );
}

#[test]
fn a_malformed_answer_fails_the_call_it_names() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    sent(s.offer(V16, reset(1), 16, &mut ids));
    assert!(matches!(
        s.offer(V16, reset(2), 16, &mut ids),
        Offered::Queued
    ));
    let broken = |text: &str| frame::parse(text).unwrap_err();
    // Names another call, or no readable id: nothing to fail.
    assert!(
        s.on_malformed_answer(&broken(r#"[3,"gw9-9"]"#), &mut ids)
            .is_none()
    );
    assert!(s.on_malformed_answer(&broken(r#"[3]"#), &mut ids).is_none());
    let error = broken(r#"[3,"gw0-0"]"#);
    assert_eq!(answer_to(V16, &error), FrameErrorAnswer::FailServerCall);
    let failed = s.on_malformed_answer(&error, &mut ids).expect("fails it");
    assert_eq!(failed.reply, 1);
    match &failed.outcome {
        ServerCallOutcome::MalformedAnswer(why) => assert!(why.contains("elements"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(id_of(failed.next.as_ref().expect("next goes")), "gw0-1");
    // A malformed answer is not a timeout: nothing late to remember.
    assert!(matches!(
        s.on_answer("gw0-0", ACCEPTED, &mut ids),
        Answered::Unsolicited
    ));
}

#[test]
fn closing_ends_every_pending_call_in_order_telling_sent_from_unsent() {
    let (mut s, mut ids) = (S::default(), CallIds::new(0));
    sent(s.offer(V16, reset(1), 16, &mut ids));
    for reply in [2, 3] {
        assert!(matches!(
            s.offer(V16, reset(reply), 16, &mut ids),
            Offered::Queued
        ));
    }
    let closed: Vec<(u32, ServerCallOutcome)> =
        s.on_close().map(|d| (d.reply, d.outcome)).collect();
    assert_eq!(
        closed,
        [
            (1, ServerCallOutcome::Closed),
            (2, ServerCallOutcome::ClosedBeforeSending),
            (3, ServerCallOutcome::ClosedBeforeSending),
        ]
    );
    assert!(s.calls.is_none());
    assert_eq!(s.on_close().count(), 0);
    assert_eq!(S::default().on_close().count(), 0);
}

#[test]
fn a_session_is_one_pointer() {
    assert_eq!(
        std::mem::size_of::<Session<Box<dyn FnOnce()>>>(),
        std::mem::size_of::<usize>()
    );
}
