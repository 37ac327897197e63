//! The `[websocket]` table: message and buffer sizes, the timeouts of a
//! connection, and how much one connection may deliver per poll turn.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Largest message (and frame) accepted; beyond it the connection is closed 1009.
    pub max_message_size: usize,
    /// Initial read buffer per connection. It is resident memory for every
    /// connection, so it is small; it grows only to hold a larger frame.
    pub read_buffer_size: usize,
    /// Outgoing bytes held for a charge point that does not read, before the
    /// connection is closed.
    pub max_write_buffer_size: usize,
    #[serde(with = "duration_text")]
    pub handshake_timeout: Duration,
    #[serde(with = "duration_text")]
    pub ping_interval: Duration,
    /// Dead peer: nothing received for `ping_interval + pong_timeout`.
    #[serde(with = "duration_text")]
    pub pong_timeout: Duration,
    /// How long to wait for the peer's close frame after sending ours.
    #[serde(with = "duration_text")]
    pub close_timeout: Duration,
    /// A message (all its fragments) must arrive within this time from its
    /// first byte, or the connection is closed 1008. Pings and pongs do
    /// not extend it.
    #[serde(with = "duration_text")]
    pub message_timeout: Duration,
    /// Bytes held in partly received messages, all connections together.
    /// Past it a reactor stops reading the connections that hold part of
    /// a message until the total falls again.
    pub max_buffered_bytes: usize,
    /// Bytes one connection may deliver per poll turn; the rest is read
    /// on the next turn, so a fast sender cannot monopolise its reactor.
    pub bytes_per_turn: usize,
    /// Messages (data or control) one connection may deliver per poll turn.
    pub frames_per_turn: usize,
    /// A peer that takes none of what the gateway has to send for this long
    /// is dropped (checked with the dead-peer check, so up to
    /// `ping_interval + pong_timeout` later).
    #[serde(with = "duration_text")]
    pub write_timeout: Duration,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_size: 1 << 20,
            read_buffer_size: 1024,
            max_write_buffer_size: 4 << 20,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            message_timeout: Duration::from_secs(30),
            max_buffered_bytes: 128 << 20,
            bytes_per_turn: 64 << 10,
            frames_per_turn: 32,
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl WebSocketConfig {
    /// Sizes and timeouts, keyed like the file (`websocket.ping_interval`);
    /// a timeout cannot be shorter than `timer_tick` (`reactors.timer_tick`).
    pub(super) fn problems(&self, timer_tick: Duration) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            (64..=64 << 20).contains(&self.max_message_size),
            "websocket.max_message_size",
            "must be between 64 bytes and 64 MiB",
        );
        out.check(
            (256..=1 << 20).contains(&self.read_buffer_size),
            "websocket.read_buffer_size",
            "must be between 256 bytes and 1 MiB",
        );
        out.check(
            // Saturating: max_message_size is range-checked above, but every
            // check runs, so this one sees it unchecked.
            self.max_write_buffer_size >= self.max_message_size.saturating_add(16)
                && self.max_write_buffer_size <= 1 << 30,
            "websocket.max_write_buffer_size",
            "must exceed websocket.max_message_size (or the largest answer could never be sent) \
             and be at most 1 GiB",
        );
        for (key, value) in [
            ("websocket.handshake_timeout", self.handshake_timeout),
            ("websocket.ping_interval", self.ping_interval),
            ("websocket.pong_timeout", self.pong_timeout),
            ("websocket.close_timeout", self.close_timeout),
            ("websocket.write_timeout", self.write_timeout),
        ] {
            out.check(
                value >= timer_tick && value <= Duration::from_secs(86_400),
                key,
                "must be at least reactors.timer_tick and at most 24h",
            );
        }
        out.into_vec()
    }

    /// The limits on partly received messages and on what one connection
    /// delivers per turn.
    pub(super) fn limit_problems(&self, timer_tick: Duration) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.message_timeout >= timer_tick
                && self.message_timeout <= Duration::from_secs(86_400),
            "websocket.message_timeout",
            "must be at least reactors.timer_tick and at most 24h",
        );
        out.check(
            self.max_buffered_bytes >= self.max_message_size
                && self.max_buffered_bytes <= 1 << 40,
            "websocket.max_buffered_bytes",
            "must be at least websocket.max_message_size (or no large message could complete) and at most 1 TiB",
        );
        out.check(
            (1024..=64 << 20).contains(&self.bytes_per_turn),
            "websocket.bytes_per_turn",
            "must be between 1024 bytes and 64 MiB",
        );
        out.check(
            (1..=65_536).contains(&self.frames_per_turn),
            "websocket.frames_per_turn",
            "must be between 1 and 65536",
        );
        out.into_vec()
    }
}
