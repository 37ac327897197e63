//! Regression for the Go gateway's `send on closed channel` panic: a ping
//! timer racing a close. Here pings fire every few milliseconds while
//! thousands of charge points connect, boot, linger and vanish in every way
//! a TCP peer can. The gateway must stay up, serve a fresh charge point
//! afterwards, and release every socket.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

const WORKERS: u64 = 8;
const CYCLES_PER_WORKER: u64 = 250;

/// xorshift64: deterministic per worker, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn reset(stream: &TcpStream) {
    // SO_LINGER 0: close() sends RST instead of FIN.
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

fn one_cycle(addr: std::net::SocketAddr, worker: u64, cycle: u64, rng: &mut Rng) {
    let id = format!("RACE-{worker}-{}", cycle % 20); // ids are reused
    let linger = Duration::from_millis(rng.next() % 51);
    match rng.next() % 6 {
        // Mid-handshake drop, FIN or RST.
        0 => {
            let mut stream = TcpStream::connect(addr).unwrap();
            let _ = stream.write_all(b"GET /ocpp/RACE HTTP/1.1\r\nHost: x\r\nUpg");
            std::thread::sleep(linger);
            if rng.next().is_multiple_of(2) {
                reset(&stream);
            }
        }
        mode => {
            let mut cp = ChargePoint::connect(addr, &id);
            cp.boot();
            std::thread::sleep(linger);
            match mode {
                1 => cp.close(),             // close handshake
                2 => drop(cp),               // FIN without a close frame
                3 => reset(cp.ws.get_ref()), // RST
                4 => {
                    // Drop with a CALL in flight: its answer finds no connection.
                    cp.send_call("Heartbeat", json!({}));
                    reset(cp.ws.get_ref());
                }
                _ => {
                    // Half a frame, then gone.
                    let _ = cp.ws.get_mut().write_all(&[0x81, 0xfe, 0x01]);
                }
            }
        }
    }
}

#[test]
fn two_thousand_connect_close_cycles_with_millisecond_pings() {
    let gw = GatewayProcess::start(
        "race",
        &process_config(
            "[reactors]\ncount = 2\npin_cores = false\ntimer_tick = \"1ms\"\n\n\
             [websocket]\nping_interval = \"5ms\"\npong_timeout = \"2s\"\nclose_timeout = \"200ms\"\n\n\
             [log]\nlevel = \"info\"\n",
        ),
    );
    let addr = gw.addr;
    // The first connection lets the process settle (threads, epoll fds).
    ChargePoint::connect(addr, "WARMUP").close();
    std::thread::sleep(Duration::from_millis(200));
    let fds_before = gw.open_fds();

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (worker + 1));
                for cycle in 0..CYCLES_PER_WORKER {
                    one_cycle(addr, worker, cycle, &mut rng);
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .expect("every cycle's connection was accepted and answered");
    }

    let mut gw = gw;
    assert!(gw.child.try_wait().unwrap().is_none(), "the gateway died");
    let mut fresh = ChargePoint::connect(addr, "FRESH");
    assert_eq!(fresh.boot()["status"], "Accepted");
    assert!(fresh.call_ok("Heartbeat", json!({}))["currentTime"].is_string());
    fresh.close();
    // Every socket of every cycle is released (close deadlines are 200 ms).
    wait_for(
        "fds back to their starting count",
        Duration::from_secs(10),
        || gw.open_fds() <= fds_before,
    );
}
