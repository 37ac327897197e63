//! Admin API abuse: requests with wrong bearer tokens, a huge body, 10 000
//! headers, one huge header line, and (at the same time, on a thread of
//! its own) slow requests sent a byte per second. Figures: the statuses
//! seen and how long each took or when it was cut; the gateway's RSS and
//! thread peaks come from the harness's sampling (tiny_http may spend a
//! thread per connection).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cli::AdminArgs;
use super::slowloris::{Hold, hold};
use super::{Ctx, http};
use crate::procfs::round3;
use crate::stats::{self, new_histogram};

const CHUNK: usize = 64 * 1024;

pub fn run(a: &AdminArgs, ctx: &Ctx) -> Result<Value, String> {
    let addr = ctx.admin.ok_or("admin needs --admin ADDR")?;
    let timeout = Duration::from_secs_f64(a.request_timeout);
    let slow = {
        let (ctx, count, rate) = (ctx.clone(), a.slow, a.slow_rate);
        thread::Builder::new()
            .name("faults-admin-slow".into())
            .spawn(move || {
                let request =
                    |_: u32| format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
                let plan = Hold {
                    target: addr,
                    count,
                    rate,
                    request: &request,
                    interval: Duration::from_secs(1),
                };
                hold(&plan, &ctx).unwrap_or_else(|e| json!({ "error": e }))
            })
            .map_err(|e| format!("spawn: {e}"))?
    };
    let wrong_tokens = wrong_tokens(addr, a.wrong_tokens, timeout);
    let token = ctx
        .admin_token
        .as_deref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body_len = a.body_mib << 20;
    let big_body = stream_request(
        addr,
        format!(
            "POST /connections/NOBODY/calls HTTP/1.1\r\nHost: {addr}\r\n{token}Content-Type: application/json\r\n\
             Content-Length: {body_len}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
        body_len,
        b"",
        timeout,
    );
    let mut many = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for i in 0..a.headers {
        many += &format!("X-Faults-{i}: {i}\r\n");
    }
    many += "\r\n";
    let many_headers = stream_request(addr, many.as_bytes(), 0, b"", timeout);
    let huge_header = stream_request(
        addr,
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Huge: ").as_bytes(),
        a.header_mib << 20,
        b"\r\n\r\n",
        timeout,
    );
    let slow = slow
        .join()
        .unwrap_or_else(|_| json!({"error": "slow-request thread panicked"}));
    Ok(json!({
        "wrong_tokens": wrong_tokens,
        "big_body": {"mib": a.body_mib, "result": big_body},
        "many_headers": {"headers": a.headers, "bytes": many.len(), "result": many_headers},
        "huge_header": {"mib": a.header_mib, "result": huge_header},
        "slow_requests": slow,
    }))
}

/// `count` requests, each with another wrong token, one connection each.
fn wrong_tokens(addr: SocketAddr, count: u32, timeout: Duration) -> Value {
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut latency = new_histogram();
    let (mut errors, mut first_error) = (0u64, None);
    let start = Instant::now();
    for i in 0..count {
        let token = format!("wrong-token-{i:016}");
        match http::request(addr, "GET", "/connections", Some(&token), b"", timeout) {
            Ok(r) => {
                *status.entry(r.status.to_string()).or_default() += 1;
                stats::record(&mut latency, r.elapsed);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    json!({
        "count": count,
        "status": status,
        "errors": errors,
        "first_error": first_error,
        "latency_ms": stats::percentiles_ms(&latency),
        "elapsed_s": round3(start.elapsed().as_secs_f64()),
    })
}

/// Writes `head`, `fill` bytes of 'a', then `tail`, while a reader thread
/// waits for the answer: how much the server took, what it said, and when.
fn stream_request(
    addr: SocketAddr,
    head: &[u8],
    fill: usize,
    tail: &[u8],
    timeout: Duration,
) -> Value {
    let start = Instant::now();
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return json!({"connect_error": e.to_string()}),
    };
    let _ = s.set_write_timeout(Some(timeout));
    let _ = s.set_read_timeout(Some(timeout));
    let reader = s.try_clone().map(|mut r| {
        thread::spawn(move || {
            let mut got = Vec::new();
            let mut first_byte = None;
            let mut buf = [0u8; 16 * 1024];
            let end = loop {
                match r.read(&mut buf) {
                    Ok(0) => break "fin".to_string(),
                    Ok(n) => {
                        first_byte.get_or_insert_with(|| start.elapsed());
                        if got.len() < 4096 {
                            got.extend_from_slice(&buf[..n]);
                        }
                    }
                    Err(e) => break format!("error: {e}"),
                }
            };
            (http::status_of(&got), first_byte, end, start.elapsed(), got)
        })
    });
    let (mut written, mut write_error) = (0usize, None);
    let chunk = vec![b'a'; CHUNK];
    let mut parts: Vec<&[u8]> = vec![head];
    parts.extend(std::iter::repeat_n(&chunk[..], fill / CHUNK));
    parts.push(&chunk[..fill % CHUNK]);
    parts.push(tail);
    for part in parts {
        if let Err(e) = s.write_all(part) {
            write_error = Some(e.to_string());
            break;
        }
        written += part.len();
    }
    let write_s = start.elapsed().as_secs_f64();
    let total = head.len() + fill + tail.len();
    let Ok(Ok((status, first_byte, end, ended, got))) = reader.map(|h| h.join()) else {
        return json!({"error": "reader failed"});
    };
    let body = http::parse_response(&got).map(|(_, b)| {
        String::from_utf8_lossy(b)
            .chars()
            .take(200)
            .collect::<String>()
    });
    json!({
        "request_bytes": total,
        "bytes_written": written,
        "write_error": write_error,
        "write_s": round3(write_s),
        "status": status,
        "body": body,
        "answer_after_s": first_byte.map(|d| round3(d.as_secs_f64())),
        "connection_end": end,
        "ended_after_s": round3(ended.as_secs_f64()),
    })
}
