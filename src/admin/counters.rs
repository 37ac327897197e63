//! The admin thread's counters. Owned and counted by that thread alone
//! (plain fields), and read by it when it renders `/metrics`, so nothing
//! here is shared.

use super::http::Refusal;

/// Why the admin API turned a connection or a request away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Over `admin.max_connections`: 503 at accept, then closed.
    TooManyConnections,
    /// Over `admin.max_header_bytes`: 431.
    HeaderTooLarge,
    /// Over `admin.max_headers`: 431.
    TooManyHeaders,
    /// `Content-Length` over `admin.max_body_bytes`: 413.
    BodyTooLarge,
    /// A `Transfer-Encoding` body: 411.
    LengthRequired,
    /// Not HTTP/1.x: 400.
    Malformed,
    /// A request not received within `admin.read_timeout` (408), or a
    /// response the client did not take within it (closed).
    Timeout,
    /// A connection idle for `admin.read_timeout` (closed, no answer).
    Idle,
    /// Over `admin.max_commands_in_flight`: 503.
    CommandsBusy,
    /// A reactor's inbox was full, or its reply could not be given a place
    /// (503).
    ReactorsBusy,
    /// The command queue's inbox was full, or it did not reply within
    /// `admin.stall_after` (503).
    QueueBusy,
    /// Missing or wrong bearer token: 401.
    Unauthorized,
}

impl Refused {
    pub const ALL: [Refused; 12] = [
        Refused::TooManyConnections,
        Refused::HeaderTooLarge,
        Refused::TooManyHeaders,
        Refused::BodyTooLarge,
        Refused::LengthRequired,
        Refused::Malformed,
        Refused::Timeout,
        Refused::Idle,
        Refused::CommandsBusy,
        Refused::ReactorsBusy,
        Refused::QueueBusy,
        Refused::Unauthorized,
    ];

    /// The `reason` label of `ocpp_gateway_admin_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refused::TooManyConnections => "too_many_connections",
            Refused::HeaderTooLarge => "header_too_large",
            Refused::TooManyHeaders => "too_many_headers",
            Refused::BodyTooLarge => "body_too_large",
            Refused::LengthRequired => "length_required",
            Refused::Malformed => "malformed",
            Refused::Timeout => "timeout",
            Refused::Idle => "idle",
            Refused::CommandsBusy => "commands_busy",
            Refused::ReactorsBusy => "reactors_busy",
            Refused::QueueBusy => "queue_busy",
            Refused::Unauthorized => "unauthorized",
        }
    }
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        match refusal {
            Refusal::HeaderTooLarge => Refused::HeaderTooLarge,
            Refusal::TooManyHeaders => Refused::TooManyHeaders,
            Refusal::BodyTooLarge => Refused::BodyTooLarge,
            Refusal::LengthRequired => Refused::LengthRequired,
            Refusal::Malformed => Refused::Malformed,
        }
    }
}

/// What `/metrics` shows of the admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminCounters {
    /// Requests received whole and routed.
    pub requests: u64,
    /// Indexed like [`Refused::ALL`].
    refused: [u64; Refused::ALL.len()],
    /// Admin connections open now (gauge; brought up to date when read).
    pub connections: u64,
    /// Commands handed to reactors whose outcome has not come back (gauge;
    /// the server's own count, never above `admin.max_commands_in_flight`).
    pub commands_in_flight: u64,
}

impl AdminCounters {
    pub fn count(&mut self, why: Refused) {
        self.refused[why as usize] += 1;
    }

    pub fn refused(&self, why: Refused) -> u64 {
        self.refused[why as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_and_label() {
        let mut c = AdminCounters::default();
        for (i, why) in Refused::ALL.into_iter().enumerate() {
            assert_eq!(why as usize, i, "ALL is in declaration order");
            c.count(why);
        }
        c.count(Refused::Idle);
        assert_eq!(c.refused(Refused::Idle), 2);
        assert_eq!(c.refused(Refused::Timeout), 1);
        let mut labels: Vec<_> = Refused::ALL.iter().map(|r| r.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Refused::ALL.len());
    }
}
