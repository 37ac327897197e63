//! Watches the WebSocket byte stream a connection hands to tungstenite and
//! tracks where its frames begin and end, without touching the payload.
//!
//! tungstenite keeps a partly received message (and a partly received
//! frame) to itself. The reactor needs to know about it to bound it: how
//! many bytes a connection holds in a message that is not complete yet
//! (the gateway-wide `websocket.max_buffered_bytes`), since when
//! (`websocket.message_timeout`), and whether tungstenite's buffers are
//! empty so they can be given back after a large frame. The meter sees
//! every byte tungstenite reads, in order, and decodes only frame headers
//! (RFC 6455 §5.2): a few comparisons per read, nothing per payload byte.
//!
//! Pure: no I/O, no clock; the reactor asks and decides.

/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

#[derive(Debug, Default)]
pub struct FrameMeter {
    /// The header of the frame being received, as far as it has arrived.
    header: [u8; MAX_HEADER],
    header_len: u8,
    /// Payload bytes of the current frame still to come (0 between frames
    /// and while its header is incomplete).
    payload_left: u64,
    /// The current frame is a final data frame (text, binary or
    /// continuation with FIN): its end completes the message.
    ends_message: bool,
    /// A data message has begun and its final frame is not complete yet.
    message_open: bool,
    /// Bytes received since the open message began (its frames, and any
    /// control frames between them). 0 when no message is open.
    message_bytes: u64,
    /// Counts messages begun; names the open one for its deadline.
    message_seq: u32,
    /// The largest frame (header + payload) seen since the last
    /// [`FrameMeter::take_largest_frame`].
    largest_frame: u64,
}

impl FrameMeter {
    /// Accounts for `bytes`, the next bytes of the stream.
    pub fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let take = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= take;
                self.count(take);
                bytes = &bytes[take as usize..];
                if self.payload_left == 0 {
                    self.end_frame();
                }
                continue;
            }
            let byte = bytes[0];
            bytes = &bytes[1..];
            if self.header_len == 0 {
                self.begin_frame(byte);
            }
            self.header[usize::from(self.header_len)] = byte;
            self.header_len += 1;
            self.count(1);
            if let Some(payload) = self.header_complete() {
                let header = u64::from(self.header_len);
                self.largest_frame = self.largest_frame.max(header.saturating_add(payload));
                self.payload_left = payload;
                if payload == 0 {
                    self.end_frame();
                }
            }
        }
    }

    fn begin_frame(&mut self, first: u8) {
        let fin = first & 0x80 != 0;
        // Opcodes 0x0-0x7 are data (continuation, text, binary, reserved);
        // 0x8-0xF control frames, which may come between fragments.
        let data = first & 0x08 == 0;
        self.ends_message = data && fin;
        if data && !self.message_open {
            self.message_open = true;
            self.message_bytes = 0;
            self.message_seq = self.message_seq.wrapping_add(1);
        }
    }

    fn count(&mut self, n: u64) {
        if self.message_open {
            self.message_bytes = self.message_bytes.saturating_add(n);
        }
    }

    /// The payload length once the whole header is in, else `None`.
    fn header_complete(&self) -> Option<u64> {
        let h = &self.header[..usize::from(self.header_len)];
        let second = *h.get(1)?;
        let mask = if second & 0x80 != 0 { 4 } else { 0 };
        let (extended, short) = match second & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        if h.len() < 2 + extended + mask {
            return None;
        }
        Some(match short {
            Some(n) => n,
            None => h[2..2 + extended]
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        })
    }

    fn end_frame(&mut self) {
        self.header_len = 0;
        if self.ends_message {
            self.message_open = false;
            self.message_bytes = 0;
        }
    }

    /// Bytes held in a message that has begun and is not complete.
    pub fn open_message_bytes(&self) -> u64 {
        self.message_bytes
    }

    /// The open message, named by its sequence number.
    pub fn open_message(&self) -> Option<u32> {
        self.message_open.then_some(self.message_seq)
    }

    /// Every byte seen so far belongs to a complete frame and no message is
    /// open. Right after tungstenite's `read` has asked for more input,
    /// this means its read buffer is empty and it holds no partial message.
    pub fn is_idle(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0 && !self.message_open
    }

    /// The largest frame seen since the last call, then forgets it.
    pub fn take_largest_frame(&mut self) -> u64 {
        std::mem::take(&mut self.largest_frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

    /// A client frame as a charge point sends it (masked).
    fn wire(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = match opcode {
            PING => Frame::ping(payload.to_vec()),
            _ => Frame::message(payload.to_vec(), opcode, fin),
        };
        frame.header_mut().mask = Some([1, 2, 3, 4]);
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out
    }

    const TEXT: OpCode = OpCode::Data(Data::Text);
    const CONT: OpCode = OpCode::Data(Data::Continue);
    const PING: OpCode = OpCode::Control(Control::Ping);

    #[test]
    fn a_whole_frame_leaves_nothing_open() {
        let mut meter = FrameMeter::default();
        meter.observe(&wire(TEXT, true, br#"[2,"1","Heartbeat",{}]"#));
        assert!(meter.is_idle());
        assert_eq!(meter.open_message_bytes(), 0);
        assert_eq!(meter.open_message(), None);
    }

    #[test]
    fn fragments_keep_the_message_open_across_pings() {
        let mut meter = FrameMeter::default();
        let first = wire(TEXT, false, &[b'a'; 300]);
        meter.observe(&first);
        let seq = meter.open_message().expect("open after the first fragment");
        assert_eq!(meter.open_message_bytes(), first.len() as u64);
        meter.observe(&wire(PING, true, b"hi"));
        assert_eq!(meter.open_message(), Some(seq), "a ping does not end it");
        let middle = wire(CONT, false, &[b'b'; 70_000]);
        meter.observe(&middle[..10]);
        assert!(!meter.is_idle());
        meter.observe(&middle[10..]);
        assert!(meter.open_message_bytes() > 70_300);
        meter.observe(&wire(CONT, true, b"c"));
        assert!(meter.is_idle());
        assert_eq!(meter.open_message_bytes(), 0);
        assert_eq!(meter.take_largest_frame(), middle.len() as u64);
        assert_eq!(meter.take_largest_frame(), 0);
        // The next message is a new one.
        meter.observe(&wire(TEXT, false, b"x"));
        assert_ne!(meter.open_message(), Some(seq));
    }

    #[test]
    fn a_ping_alone_opens_nothing() {
        let mut meter = FrameMeter::default();
        let ping = wire(PING, true, b"");
        meter.observe(&ping[..1]);
        assert_eq!(meter.open_message(), None);
        assert!(!meter.is_idle(), "half a header is pending input");
        meter.observe(&ping[1..]);
        assert!(meter.is_idle());
    }

    proptest! {
        /// However the stream is cut into reads, the meter ends where the
        /// frames end.
        #[test]
        fn any_split_of_any_frames(
            frames in proptest::collection::vec((0usize..3, any::<bool>(), 0usize..70_000), 1..6),
            cuts in proptest::collection::vec(1usize..5000, 1..40),
        ) {
            let mut stream = Vec::new();
            let mut open = false;
            for &(kind, fin, len) in &frames {
                let opcode = match kind {
                    0 | 1 if open => CONT,
                    0 | 1 => TEXT,
                    _ => PING,
                };
                let (fin, len) = if opcode == PING { (true, len % 126) } else { (fin, len) };
                if opcode != PING {
                    open = !fin;
                }
                stream.extend(wire(opcode, fin, &vec![b'z'; len]));
            }
            let mut meter = FrameMeter::default();
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let n = (*cut).min(rest.len());
                meter.observe(&rest[..n]);
                rest = &rest[n..];
            }
            prop_assert_eq!(meter.open_message().is_some(), open);
            prop_assert_eq!(meter.is_idle(), !open);
        }
    }
}
