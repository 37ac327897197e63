//! Socket helpers shared by the gateway's mio loops (the reactors and the
//! admin thread). Pure: no loop state.

use std::io;

/// After a failed non-blocking `accept`: whether the error concerned only
/// the connection it was about to hand out (interrupted, or aborted by the
/// peer while queued), so the loop goes on to the next one. WouldBlock (the
/// queue is empty) and the rest (out of descriptors, mostly) are not.
pub fn accept_next_after(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
    )
}
