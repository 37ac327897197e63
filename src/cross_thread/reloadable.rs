//! A value every reactor reads at each handshake and SIGHUP replaces
//! whole: the Basic Auth credentials ([`crate::auth::CredentialStore`]) and
//! the TLS configuration ([`crate::tls::TlsStore`]).
//!
//! Readers take the lock only to clone the `Arc`, so a reload never waits
//! for a handshake and a handshake never sees a half-built value; a
//! connection keeps the value it started with. Never read per frame.

use std::sync::{Arc, PoisonError, RwLock};

pub struct Reloadable<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Reloadable<T> {
    pub fn new(value: T) -> Reloadable<T> {
        Reloadable {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The value in force (an `Arc` clone under a read lock).
    pub fn current(&self) -> Arc<T> {
        // The lock is held only for an Arc clone or swap, which cannot
        // panic, so a poisoned lock still guards a whole value.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `value` in force for everyone who reads from now on.
    pub fn replace(&self, value: T) {
        let fresh = Arc::new(value);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}
