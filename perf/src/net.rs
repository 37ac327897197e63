//! Socket set-up that std and mio do not offer: source-address binding for
//! clients, SO_REUSEPORT listeners for the baseline, abortive close.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

/// Starts a non-blocking TCP connect to `target`, bound to `source` (port 0)
/// when given.
///
/// Spreading clients over 127.0.0.1 … 127.0.0.K multiplies the usable
/// 4-tuples by K, so ~19 000 connections plus churn TIME_WAITs never exhaust
/// the ephemeral port range of one source address.
pub fn start_connect(
    target: SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<mio::net::TcpStream> {
    start_connect_with(target, source, None)
}

/// `start_connect` with SO_RCVBUF set to `recv_buffer` bytes first: it must
/// be set before connect(), since the window scale is agreed in the SYN.
/// A peer that never reads then holds the server's data in a small window.
pub fn start_connect_with(
    target: SocketAddr,
    source: Option<IpAddr>,
    recv_buffer: Option<usize>,
) -> io::Result<mio::net::TcpStream> {
    let sock = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    if let Some(bytes) = recv_buffer {
        sock.set_recv_buffer_size(bytes)?;
    }
    sock.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        // Defer the port choice to connect(): without this, bind(port 0)
        // picks a port unique for the source address alone and runs out
        // sooner (and collides with TIME_WAIT sockets).
        set_bind_address_no_port(&sock)?;
        sock.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match sock.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(sock.into()))
}

fn set_bind_address_no_port(sock: &Socket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: valid fd, option value is a c_int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Result of a non-blocking connect once the socket reported readiness.
pub fn connect_result(stream: &mio::net::TcpStream) -> io::Result<()> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    // Readiness without an error but not connected means "still in
    // progress" (spurious wakeup): peer_addr reports ENOTCONN then.
    stream.peer_addr().map(|_| ())
}

/// The kernel's TCP state of a socket (`TCP_ESTABLISHED` = 1,
/// `TCP_CLOSE_WAIT` = 8 after the peer's FIN, `TCP_CLOSE` = 7 after a reset),
/// read with TCP_INFO: it tells that the peer ended the connection without
/// reading from the socket.
pub fn tcp_state(stream: &mio::net::TcpStream) -> io::Result<u8> {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(info.tcpi_state)
    } else {
        Err(io::Error::last_os_error())
    }
}

pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE: u8 = 7;
pub const TCP_CLOSE_WAIT: u8 = 8;

/// Makes the next close() send RST instead of FIN (SO_LINGER with 0 s).
pub fn set_abortive_close(stream: &mio::net::TcpStream) -> io::Result<()> {
    SockRef::from(stream).set_linger(Some(Duration::ZERO))
}

/// A non-blocking listener with SO_REUSEPORT, so that every event loop can
/// own one and the kernel spreads new connections over them.
pub fn reuseport_listener(addr: SocketAddr, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    // The kernel caps this at net.core.somaxconn; a small queue turns
    // handshake bursts into SYN retransmits (1 s and 3 s latency steps).
    sock.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(sock.into()))
}

/// Source addresses 127.0.0.1 … 127.0.0.k for an IPv4 loopback target; none
/// (let the kernel choose) for IPv6, where loopback is a single address.
pub fn source_addresses(target: SocketAddr, k: u32) -> Vec<Option<IpAddr>> {
    match target.ip() {
        IpAddr::V4(_) if k > 0 => (1..=k.min(254))
            .map(|i| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8))))
            .collect(),
        _ => vec![None],
    }
}
