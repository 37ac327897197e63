//! The admin HTTP API, on its own thread: health, metrics, connections,
//! commands to charge points (the routes: [`routes`]), and the status page
//! ([`page`], fed by [`status`]).
//!
//! One thread, one mio event loop ([`server`]): it parses HTTP/1.1 with
//! httparse ([`http`]) under the `[admin]` limits, and never blocks. It
//! only reads published counters and sends messages to reactor inboxes
//! (through [`AdminHandle`]); a command or a question about connections waits
//! for the reactor's reply without a thread. It never touches a connection.

mod counters;
mod http;
mod page;
mod prometheus;
mod routes;
mod server;
mod status;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use log::info;
use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};

use crate::cross_thread::AdminHandle;

pub struct Admin {
    pub address: SocketAddr,
    thread: JoinHandle<()>,
}

impl Admin {
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Binds the admin address and serves it until the gateway stops.
pub fn start(gateway: Arc<AdminHandle>) -> io::Result<Admin> {
    let address = gateway.config.admin.address;
    let named = |e: io::Error| io::Error::new(e.kind(), format!("admin.address {address}: {e}"));
    let mut listener = TcpListener::bind(address).map_err(named)?;
    let address = listener.local_addr()?;
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, server::LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), server::WAKER)?);
    info!("admin API on http://{address}");
    let setup = server::Setup {
        gateway,
        poll,
        listener,
        waker,
    };
    let thread = std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || server::run(setup))?;
    Ok(Admin { address, thread })
}
