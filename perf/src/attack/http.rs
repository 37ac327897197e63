//! A tiny blocking HTTP/1.1 client for the admin API (loopback only; the
//! address was checked by `attack::loopback_addr`). One request per
//! connection (`Connection: close`), so a response ends at EOF.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What came back.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

/// `METHOD path` with optional bearer token and body; the whole exchange
/// within `timeout`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head += &format!("Authorization: Bearer {t}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        head += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head += "\r\n";
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    exchange(addr, &raw, timeout)
}

/// Sends `raw` as it is and reads the response to EOF.
pub fn exchange(addr: SocketAddr, raw: &[u8], timeout: Duration) -> io::Result<Response> {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(raw)?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)?;
    let (status, body) = parse_response(&got).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP response ({} bytes)", got.len()),
        )
    })?;
    Ok(Response {
        status,
        body: body.to_vec(),
        elapsed: start.elapsed(),
    })
}

/// Status code and body of a complete response (bodies are not chunked on
/// `Connection: close`; whatever follows the head is the body).
pub fn parse_response(raw: &[u8]) -> Option<(u16, &[u8])> {
    let status = status_of(raw)?;
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((status, &raw[head_end + 4..]))
}

/// The status code of `HTTP/1.x NNN ...` at the start of `raw`.
pub fn status_of(raw: &[u8]) -> Option<u16> {
    let rest = raw.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(r), Some((401, &b"{}"[..])));
        assert_eq!(status_of(b"HTTP/1.0 503 x"), Some(503));
        assert_eq!(status_of(b"HTTP/1.1 10"), None);
        assert_eq!(status_of(b"SSH-2.0"), None);
    }
}
