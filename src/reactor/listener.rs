//! One listening socket per reactor, all on the same port (`SO_REUSEPORT`):
//! the kernel spreads new connections over the reactors, so accepting needs
//! no shared state.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` listeners on `address`. With port 0 the first one picks a
/// free port and the others join it.
pub fn bind_listeners(
    address: SocketAddr,
    backlog: u32,
    count: usize,
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
        socket.bind(&address.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let listener = mio::net::TcpListener::from_std(socket.into());
        address = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}
