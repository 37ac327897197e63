//! One listening socket per reactor, all on the same port (`SO_REUSEPORT`):
//! the kernel spreads new connections over the reactors, so accepting needs
//! no shared state.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Kernel socket buffer sizes for accepted connections (bytes, 0 = the
/// kernel's autotuning). Set on the listener, so every accepted socket
/// inherits them (the receive size must be known before the handshake to
/// fix the window scale).
#[derive(Clone, Copy, Debug)]
pub struct SocketBuffers {
    pub send: usize,
    pub receive: usize,
}

/// Binds `count` listeners on `address`. With port 0 the first one picks a
/// free port and the others join it.
pub fn bind_listeners(
    address: SocketAddr,
    backlog: u32,
    count: usize,
    buffers: SocketBuffers,
) -> io::Result<Vec<mio::net::TcpListener>> {
    let mut address = address;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        // Bounded kernel buffers: a peer that stops reading (or a gateway
        // that stops reading a peer) holds at most about twice these per
        // connection in the kernel, not the autotuned megabytes.
        if buffers.send > 0 {
            socket.set_send_buffer_size(buffers.send)?;
        }
        if buffers.receive > 0 {
            socket.set_recv_buffer_size(buffers.receive)?;
        }
        socket.bind(&address.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let listener = mio::net::TcpListener::from_std(socket.into());
        address = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}
