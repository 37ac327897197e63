//! OCPP security profile 1: HTTP Basic Auth on the WebSocket upgrade.
//!
//! The charge point sends `Authorization: Basic base64(id:password)` with
//! its upgrade request; the user name must be the charge point id from the
//! URL and the password its AuthorizationKey. [`Credentials::check`] turns
//! that header into an [`AuthDecision`]: allowed, unknown id (HTTP 404,
//! OCPP-J 1.6 §3.2) or bad credentials (HTTP 401 with
//! `WWW-Authenticate: Basic`).
//!
//! # Files
//!
//! * Credentials file (TOML, edited like the main configuration):
//!   ```toml
//!   [charge_points]
//!   "CP-1" = "sha256$<base64 salt>$<base64 hash>"
//!   ```
//!   Values are hashes printed by `ocpp-gateway hash-password --id CP-1`,
//!   never passwords: a value that is not a recognised hash is an error
//!   naming the id and line (and not echoing the value, which may well be
//!   a plaintext password). The `[charge_points]` table must be present, so
//!   a file truncated to nothing by a half-finished deploy is an error on
//!   reload rather than an empty set that locks every charge point out.
//!   Write the file atomically (temporary file + rename) before SIGHUP.
//! * Allow list (optional): one charge point id per line, `#` starts a
//!   comment. These ids connect without a password (and any
//!   `Authorization` header they send is ignored). An id may not be in both
//!   files: that is ambiguous, and the likely intent (a password) would be
//!   silently bypassed.
//!
//! With `mode = "none"` and an allow list, ids are restricted (404 for the
//! others) but no password is asked; with `mode = "none"` alone every id is
//! allowed. The handshake can therefore always call `check`.
//!
//! # Hash scheme
//!
//! `sha256$salt$hash` with `hash = SHA-256(salt ‖ password)` and a 16-byte
//! random salt from the OS. A fast hash is the right choice here, not a slow
//! password KDF: OCPP 1.6 security profile 1 AuthorizationKeys are 16–40
//! random bytes set by the CSMS (high entropy, so brute force of a leaked
//! hash is hopeless however fast the hash), and after a restart the gateway
//! must verify thousands of reconnecting charge points per second on its
//! reactor threads. A KDF costing milliseconds would stall every connection
//! on that reactor during a reconnect storm, and would hand anyone who knows
//! one charge point id a cheap way to burn the gateway's CPU. `pbkdf2` and
//! similar schemes are therefore deliberately not accepted;
//! `hash-password` refuses keys shorter than 16 bytes unless told
//! `--allow-short`. The salt makes equal keys hash differently and rules out
//! precomputed tables.
//!
//! # What is constant-time
//!
//! * The computed hash is compared with the stored one with
//!   [`subtle::ConstantTimeEq`].
//! * An unknown id costs the same work as a wrong password: the header is
//!   parsed and a decoy hash computed and compared before answering. The
//!   404 reveals the id's existence anyway (the spec requires it); the
//!   decoy only keeps timing from adding anything if the answer for unknown
//!   ids is ever made the same as for bad credentials.
//! * Not constant-time: the id lookup (a SipHash `HashMap`, keyed with a
//!   per-process random key, so not attackable by crafted collisions), the
//!   base64 decoding (table lookups over bytes the caller sent), the check
//!   that the user name equals the id (both public), and the password
//!   length (it sets the number of SHA-256 blocks; OCPP keys have a public
//!   length range anyway). An allow-listed id answers without hashing.

mod cli;
mod hash;

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::path::Path;

pub use cli::{HashPasswordOptions, hash_password_command};
use hash::StoredHash;

use crate::cross_thread::Reloadable;
pub use hash::hash_password;

use crate::config::{AuthConfig, AuthMode};

/// The `WWW-Authenticate` value sent with a 401 (RFC 7617 requires a realm).
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"ocpp-gateway\"";

/// Longest charge point id a file may name: the largest `ocpp.max_id_length`.
const MAX_ID_LEN: usize = 255;

/// Decoded `id:password` longer than this is refused without decoding. Ids
/// are at most 255 bytes and OCPP keys at most 40, so this is generous; it
/// lets the decode use a stack buffer (no allocation per handshake).
const MAX_DECODED: usize = 768;
/// Base64 length of [`MAX_DECODED`] bytes (4 characters per 3 bytes).
const MAX_ENCODED: usize = MAX_DECODED / 3 * 4;

/// What the handshake answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    Allowed,
    /// Neither in the credentials nor in the allow list: HTTP 404.
    UnknownId,
    /// HTTP 401 with `WWW-Authenticate: Basic` ([`WWW_AUTHENTICATE`]).
    /// The reason is for the log only; never tell the client which.
    BadCredentials(Rejection),
}

impl AuthDecision {
    /// The HTTP status refusing the upgrade, or `None` to go ahead.
    pub fn http_status(self) -> Option<u16> {
        match self {
            AuthDecision::Allowed => None,
            AuthDecision::UnknownId => Some(404),
            AuthDecision::BadCredentials(_) => Some(401),
        }
    }
}

/// Why credentials were refused (for logs and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader,
    /// The scheme is not `Basic`.
    NotBasic,
    /// Not base64, too long, or no `:` after the user name.
    Malformed,
    /// The Basic user name is not the charge point id from the URL.
    UserMismatch,
    WrongPassword,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::MissingHeader => "no Authorization header",
            Rejection::NotBasic => "Authorization scheme is not Basic",
            Rejection::Malformed => "malformed Basic credentials",
            Rejection::UserMismatch => "Basic user name is not the charge point id",
            Rejection::WrongPassword => "wrong password",
        })
    }
}

enum Entry {
    Password(StoredHash),
    /// From the allow list.
    NoPassword,
}

/// One immutable set of credentials; replaced whole on reload.
pub struct Credentials {
    ids: HashMap<Box<str>, Entry>,
    /// False only for mode "none" without an allow list: every id allowed.
    restricted: bool,
    /// Hashed and compared for unknown ids so they cost what a wrong
    /// password costs. Never consulted for the decision.
    decoy: StoredHash,
}

impl fmt::Debug for Credentials {
    // Hashes stay out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ids", &self.ids.len())
            .field("restricted", &self.restricted)
            .finish()
    }
}

impl Credentials {
    /// Every id allowed, no password asked (mode "none", no allow list).
    pub fn open() -> Credentials {
        Credentials {
            ids: HashMap::new(),
            restricted: false,
            decoy: StoredHash::decoy(),
        }
    }

    /// Reads a credentials file (no allow list).
    pub fn load(path: &Path) -> Result<Credentials, String> {
        let text = read(path, "credentials file")?;
        Credentials::parse(&text, path)
    }

    /// Parses credentials file text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Credentials, String> {
        let mut c = Credentials {
            restricted: true,
            ..Credentials::open()
        };
        for (id, hash) in hash::parse_file(text, path)? {
            c.ids.insert(id.into_boxed_str(), Entry::Password(hash));
        }
        Ok(c)
    }

    /// What `config` asks for: both files read, or [`Credentials::open`].
    pub fn from_config(config: &AuthConfig) -> Result<Credentials, String> {
        let mut c = match (config.mode, &config.credentials_file) {
            (AuthMode::Basic, Some(path)) => Credentials::load(path)?,
            (AuthMode::Basic, None) => {
                return Err("auth.credentials_file is required when auth.mode = \"basic\"".into());
            }
            (AuthMode::None, _) => Credentials::open(),
        };
        if let Some(path) = &config.allow_list_file {
            let text = read(path, "allow list")?;
            c.add_allow_list(&text, path, config.credentials_file.as_deref())?;
        }
        Ok(c)
    }

    /// Adds allow-list text (one id per line, `#` comments). `credentials`
    /// names the credentials file in the error for an id in both.
    pub fn add_allow_list(
        &mut self,
        text: &str,
        path: &Path,
        credentials: Option<&Path>,
    ) -> Result<(), String> {
        let mut errors = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let id = line.split('#').next().unwrap_or("").trim();
            if id.is_empty() {
                continue;
            }
            let at = format!("{}:{}", path.display(), n + 1);
            if let Err(e) = check_id(id) {
                errors.push(format!("{at}: charge point {id:?}: {e}"));
                continue;
            }
            match self.ids.entry(id.into()) {
                MapEntry::Vacant(v) => {
                    v.insert(Entry::NoPassword);
                }
                MapEntry::Occupied(o) => {
                    if let Entry::Password(_) = o.get() {
                        let other = credentials
                            .map_or("the credentials file".into(), |p| p.display().to_string());
                        errors.push(format!(
                            "{at}: charge point {id:?} is also in {other}; an allow-listed id \
                             needs no password, so keep it in one file only"
                        ));
                    }
                    // A repeated allow-list line is harmless.
                }
            }
        }
        self.restricted = true;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Ids known (credentials and allow list together).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether ids outside the files are refused (404).
    pub fn is_restricted(&self) -> bool {
        self.restricted
    }

    /// Decides an upgrade: `charge_point_id` from the URL (already
    /// validated and percent-decoded), `authorization_header` the raw value
    /// of the `Authorization` header if there is one. Never allocates.
    pub fn check(
        &self,
        charge_point_id: &str,
        authorization_header: Option<&[u8]>,
    ) -> AuthDecision {
        if !self.restricted {
            return AuthDecision::Allowed;
        }
        let entry = self.ids.get(charge_point_id);
        let stored = match entry {
            Some(Entry::NoPassword) => return AuthDecision::Allowed,
            Some(Entry::Password(h)) => h,
            None => &self.decoy,
        };
        // Same steps whether the id is known or not (see module doc).
        let mut buf = [0u8; MAX_DECODED];
        let verdict = authorization_header
            .ok_or(Rejection::MissingHeader)
            .and_then(|h| basic_password(h, charge_point_id, &mut buf))
            .and_then(|password| {
                if stored.verify(password) {
                    Ok(())
                } else {
                    Err(Rejection::WrongPassword)
                }
            });
        // Keeps the decoy work from being optimised away for unknown ids.
        let verdict = std::hint::black_box(verdict);
        match (entry, verdict) {
            (None, _) => AuthDecision::UnknownId,
            (Some(_), Ok(())) => AuthDecision::Allowed,
            (Some(_), Err(r)) => AuthDecision::BadCredentials(r),
        }
    }
}

/// The password from `Basic base64(user:password)` when `user` is `id`.
///
/// The user name is matched as the prefix `id:` rather than split at the
/// first colon, so an id that itself contains `:` (OCPP allows it) still
/// works; the password is everything after, colons included, as raw bytes.
fn basic_password<'a>(
    header: &[u8],
    id: &str,
    buf: &'a mut [u8; MAX_DECODED],
) -> Result<&'a [u8], Rejection> {
    let header = header.trim_ascii();
    let (scheme, token) = match header.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&header[..i], header[i..].trim_ascii_start()),
        None => (header, &b""[..]),
    };
    // RFC 7235: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case(b"Basic") {
        return Err(Rejection::NotBasic);
    }
    if token.is_empty() || token.len() > MAX_ENCODED {
        return Err(Rejection::Malformed);
    }
    let base64 = &data_encoding::BASE64;
    let len = base64
        .decode_len(token.len())
        .map_err(|_| Rejection::Malformed)?;
    // len <= MAX_DECODED because token.len() <= MAX_ENCODED.
    let out = buf.get_mut(..len).ok_or(Rejection::Malformed)?;
    let n = base64
        .decode_mut(token, out)
        .map_err(|_| Rejection::Malformed)?;
    let decoded = &buf[..n];
    match decoded
        .strip_prefix(id.as_bytes())
        .and_then(|rest| rest.strip_prefix(b":"))
    {
        Some(password) => Ok(password),
        None if decoded.contains(&b':') => Err(Rejection::UserMismatch),
        None => Err(Rejection::Malformed),
    }
}

/// Characters OCPP allows in an identity (DESIGN.md), as the URL parser in
/// `ocpp::handshake` checks them: an id outside them could never connect,
/// so naming one in a file is a mistake worth reporting.
fn check_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_LEN {
        return Err(format!("id is longer than {MAX_ID_LEN} characters"));
    }
    match id
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "*-_=:+|@.".contains(c)))
    {
        Some(bad) => Err(format!(
            "id contains {bad:?}; allowed are A-Za-z0-9*-_=:+|@."
        )),
        None if id.is_empty() => Err("id is empty".into()),
        None => Ok(()),
    }
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the {what}: {e}", path.display()))
}

/// The live credentials: read by every handshake, replaced on SIGHUP.
pub type CredentialStore = Reloadable<Credentials>;

impl Reloadable<Credentials> {
    /// Loads what `config` asks for ([`Credentials::from_config`]).
    pub fn from_config(config: &AuthConfig) -> Result<CredentialStore, String> {
        Credentials::from_config(config).map(CredentialStore::new)
    }

    /// Re-reads the files named by `config`. On any error the current set
    /// stays in force and the error says why; on success returns the
    /// number of ids now known.
    pub fn reload(&self, config: &AuthConfig) -> Result<usize, String> {
        let fresh = Credentials::from_config(config)?;
        let n = fresh.len();
        self.replace(fresh);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(header: &str, id: &str) -> Result<Vec<u8>, Rejection> {
        let mut buf = [0u8; MAX_DECODED];
        basic_password(header.as_bytes(), id, &mut buf).map(<[u8]>::to_vec)
    }

    fn b64(s: &[u8]) -> String {
        data_encoding::BASE64.encode(s)
    }

    #[test]
    fn basic_header_variants() {
        let ok = format!("Basic {}", b64(b"CP-1:pa:ss"));
        assert_eq!(decode(&ok, "CP-1"), Ok(b"pa:ss".to_vec()));
        let lower = format!("  basic   {}  ", b64(b"CP-1:x"));
        assert_eq!(decode(&lower, "CP-1"), Ok(b"x".to_vec()));
        // An id with a colon: matched as a prefix, not split.
        let colon = format!("Basic {}", b64(b"a:b:pw"));
        assert_eq!(decode(&colon, "a:b"), Ok(b"pw".to_vec()));
        assert_eq!(decode(&colon, "a"), Ok(b"b:pw".to_vec()));
        assert_eq!(decode("Bearer abc", "CP-1"), Err(Rejection::NotBasic));
        assert_eq!(decode("Basic", "CP-1"), Err(Rejection::Malformed));
        assert_eq!(decode("Basic !!!!", "CP-1"), Err(Rejection::Malformed));
        let long = format!("Basic {}", "A".repeat(MAX_ENCODED + 4));
        assert_eq!(decode(&long, "CP-1"), Err(Rejection::Malformed));
    }

    #[test]
    fn longest_accepted_token_fits_the_buffer() {
        let mut creds = b"CP-1:".to_vec();
        creds.resize(MAX_DECODED, b'x');
        let header = format!("Basic {}", b64(&creds));
        assert_eq!(
            decode(&header, "CP-1").map(|p| p.len()),
            Ok(MAX_DECODED - 5)
        );
    }

    #[test]
    fn check_id_follows_the_url_rules() {
        assert!(check_id("CP-1*_=:+|@.").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("CP 1").is_err());
        assert!(check_id(&"x".repeat(256)).is_err());
    }
}
