//! Raw WebSocket for the attacks. The upgrade goes through loadgen's own
//! connection state machine (`client::Stage`); after it we write frames of
//! our own choosing (unmasked, reserved opcodes, bad UTF-8, fragments paced
//! by us), which tungstenite would refuse to send, and read the gateway's
//! frames without a WebSocket state machine: pings are answered, close
//! codes kept. Frame headers are tungstenite's (`FrameHeader`).

use std::io::{self, Cursor, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, OpCode};

use super::Ctx;
use crate::cli::Target;
use crate::client::{self, Failure, Stage, Step};
use crate::tls::Transport;

/// Any mask will do; RFC 6455 wants it unpredictable only against proxies.
pub const MASK: [u8; 4] = [0x5a, 0x1c, 0xe3, 0x77];

/// A connection on its way to an upgraded `RawPeer`.
pub struct Dial {
    stage: Stage,
    url: String,
    id: String,
    pub started: Instant,
}

pub enum DialStep {
    Pending,
    Open(RawPeer),
    Failed(Failure),
}

impl Dial {
    /// Starts the TCP connect of socket `i` for charge point `id`; register
    /// `socket()` with the poll (READABLE | WRITABLE) right away: the same
    /// socket is the peer's after the upgrade.
    pub fn start(ctx: &Ctx, i: usize, id: &str, recv_buffer: Option<usize>) -> io::Result<Dial> {
        let stream = crate::net::start_connect_with(ctx.target.addr, ctx.source(i), recv_buffer)?;
        Ok(Dial {
            stage: Stage::Connecting(stream),
            url: ctx.url(id),
            id: id.to_string(),
            started: Instant::now(),
        })
    }

    pub fn socket(&mut self) -> Option<&mut TcpStream> {
        match &mut self.stage {
            Stage::Connecting(s) => Some(s),
            _ => None,
        }
    }

    /// Drives connect and upgrade after a readiness event.
    pub fn advance(&mut self) -> DialStep {
        let config = client::ws_config(client::DEFAULT_READ_BUFFER);
        match self.stage.advance(&self.url, &self.id, config, None) {
            Step::Pending => DialStep::Pending,
            Step::Failed(f) => DialStep::Failed(f),
            Step::Upgraded => match std::mem::replace(&mut self.stage, Stage::Empty) {
                Stage::Open(ws) => match ws.into_inner() {
                    Transport::Plain(s) => DialStep::Open(RawPeer::new(s)),
                    Transport::Tls(_) => unreachable!("faults dials ws:// only"),
                },
                _ => unreachable!("Upgraded leaves the stage Open"),
            },
        }
    }
}

/// How a peer's connection ended.
#[derive(Debug)]
pub enum PeerEnd {
    /// The gateway's FIN.
    Eof,
    /// Reset or another socket error.
    Reset(String),
}

impl PeerEnd {
    pub fn name(&self) -> &'static str {
        match self {
            PeerEnd::Eof => "fin",
            PeerEnd::Reset(_) => "reset",
        }
    }
}

/// An upgraded connection whose bytes we write ourselves.
pub struct RawPeer {
    pub stream: TcpStream,
    /// Complete frames only, so that a pong can always be appended.
    out: Vec<u8>,
    out_at: usize,
    inbuf: Vec<u8>,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

impl RawPeer {
    pub fn new(stream: TcpStream) -> RawPeer {
        RawPeer {
            stream,
            out: Vec::new(),
            out_at: 0,
            inbuf: Vec::new(),
            sent_bytes: 0,
            received_bytes: 0,
        }
    }

    /// Queues one frame (masked with `MASK` when `masked`).
    pub fn queue_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8], masked: bool) {
        encode(&mut self.out, opcode, fin, payload, masked.then_some(MASK));
    }

    /// Queues bytes that are one or more complete frames.
    pub fn queue_raw(&mut self, frames: &[u8]) {
        self.out.extend_from_slice(frames);
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_at
    }

    /// Echoes the gateway's close frame, as a client should, and names how
    /// the gateway ended the connection: `close_<code>`.
    pub fn echo_close(&mut self, code: Option<u16>) -> String {
        let payload = code.map(u16::to_be_bytes).unwrap_or_default();
        self.queue_frame(OpCode::Control(Control::Close), true, &payload, true);
        let _ = self.flush();
        code.map_or("close_no_code".into(), |c| format!("close_{c}"))
    }

    /// Writes until the queue is empty or the socket is full.
    pub fn flush(&mut self) -> Result<(), PeerEnd> {
        while self.out_at < self.out.len() {
            match self.stream.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(PeerEnd::Reset("write returned 0".into())),
                Ok(n) => {
                    self.out_at += n;
                    self.sent_bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(PeerEnd::Reset(e.to_string())),
            }
        }
        if self.out_at == self.out.len() {
            self.out.clear();
            self.out_at = 0;
        } else if self.out_at > (1 << 20) {
            self.out.drain(..self.out_at);
            self.out_at = 0;
        }
        Ok(())
    }

    /// Reads everything available (edge-triggered readiness) and hands each
    /// complete frame to `on_frame`; pings are answered with pongs first.
    /// The connection's end comes back as `Err` after the last frame.
    pub fn read(&mut self, mut on_frame: impl FnMut(OpCode, bool, &[u8])) -> Result<(), PeerEnd> {
        let mut chunk = [0u8; 16 * 1024];
        let mut end = None;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    end = Some(PeerEnd::Eof);
                    break;
                }
                Ok(n) => {
                    self.received_bytes += n as u64;
                    self.inbuf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    end = Some(PeerEnd::Reset(e.to_string()));
                    break;
                }
            }
        }
        let mut cursor = Cursor::new(&self.inbuf[..]);
        let mut pongs = Vec::new();
        loop {
            let at = cursor.position() as usize;
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(PeerEnd::Reset(format!("bad frame from the gateway: {e}"))),
            };
            let start = cursor.position() as usize;
            let Some(payload) = self.inbuf.get(start..start + len as usize) else {
                cursor.set_position(at as u64); // the rest of the frame comes later
                break;
            };
            if header.opcode == OpCode::Control(Control::Ping) {
                encode(
                    &mut pongs,
                    OpCode::Control(Control::Pong),
                    true,
                    payload,
                    Some(MASK),
                );
            }
            on_frame(header.opcode, header.is_final, payload);
            cursor.set_position((start + len as usize) as u64);
        }
        let consumed = cursor.position() as usize;
        self.inbuf.drain(..consumed);
        if !pongs.is_empty() {
            self.queue_raw(&pongs);
            self.flush()?;
        }
        match end {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Appends one frame to `out`: tungstenite's header, then the payload,
/// masked when `mask` is given.
pub fn encode(out: &mut Vec<u8>, opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) {
    let header = FrameHeader {
        is_final: fin,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask,
    };
    header
        .format(payload.len() as u64, out)
        .expect("writing to a Vec cannot fail");
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
}

/// The status code of a close frame's payload (`None`: no code given).
pub fn close_code(payload: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]))
}

/// The HTTP upgrade request a charge point `id` would send, as bytes.
pub fn upgrade_request(target: &Target, id: &str) -> Vec<u8> {
    // url_prefix is "ws://authority/path/".
    let rest = target.url_prefix.trim_start_matches("ws://");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    format!(
        "GET {path}{id} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {}\r\n\r\n",
        tungstenite::handshake::client::generate_key(),
        client::SUBPROTOCOL
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::coding::Data;

    #[test]
    fn encodes_frames_tungstenite_can_parse() {
        let mut out = Vec::new();
        encode(
            &mut out,
            OpCode::Data(Data::Text),
            false,
            b"[2,",
            Some(MASK),
        );
        encode(
            &mut out,
            OpCode::Data(Data::Reserved(3)),
            true,
            &[0u8; 300],
            None,
        );
        let mut c = Cursor::new(&out[..]);
        let (h, len) = FrameHeader::parse(&mut c).unwrap().unwrap();
        assert_eq!(
            (h.is_final, h.opcode, h.mask, len),
            (false, OpCode::Data(Data::Text), Some(MASK), 3)
        );
        let p = c.position() as usize;
        let unmasked: Vec<u8> = out[p..p + 3]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[i % 4])
            .collect();
        assert_eq!(unmasked, b"[2,");
        // tungstenite refuses to parse a reserved opcode (as the gateway
        // should): check the bytes: FIN + 0x3, no mask bit, 16-bit length 300.
        assert_eq!(&out[p + 3..p + 7], &[0x83, 126, 0x01, 0x2c]);
        assert_eq!(out.len(), p + 7 + 300);
    }

    #[test]
    fn builds_upgrade_requests() {
        let t = Target::parse("ws://127.0.0.1:8180/ocpp").unwrap();
        let r = String::from_utf8(upgrade_request(&t, "CP7")).unwrap();
        assert!(
            r.starts_with("GET /ocpp/CP7 HTTP/1.1\r\nHost: 127.0.0.1:8180\r\n"),
            "{r}"
        );
        assert!(r.ends_with("Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"));
        assert_eq!(close_code(&[0x03, 0xf1]), Some(1009));
        assert_eq!(close_code(&[]), None);
    }
}
