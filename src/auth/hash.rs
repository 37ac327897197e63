//! Stored password hashes, `sha256$<base64 salt>$<base64 hash>`, and the
//! credentials file that holds them. Why a fast salted hash: see the
//! module doc of [`crate::auth`].

use std::collections::BTreeMap;
use std::path::Path;

use data_encoding::BASE64;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const SCHEME: &str = "sha256";
/// Salt made by [`hash_password`].
const SALT_LEN: usize = 16;
/// Salts accepted from a file: at least what we make, at most a block.
const SALT_RANGE: std::ops::RangeInclusive<usize> = 16..=64;
const HASH_LEN: usize = 32;

pub(super) struct StoredHash {
    salt: Box<[u8]>,
    hash: [u8; HASH_LEN],
}

impl StoredHash {
    /// Parses a stored hash. Messages never quote `value`: a mistaken
    /// entry is often a plaintext password, which must not reach a log.
    fn parse(value: &str) -> Result<StoredHash, String> {
        let mut parts = value.split('$');
        let scheme = parts.next().unwrap_or("");
        let (Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(not_a_hash());
        };
        if scheme.starts_with("pbkdf2") {
            return Err(
                "pbkdf2 hashes are not accepted: a slow hash would stall the reactor \
                        during reconnect storms, and OCPP keys are random enough for sha256"
                    .into(),
            );
        }
        if scheme != SCHEME {
            return Err(not_a_hash());
        }
        let salt = BASE64
            .decode(salt.as_bytes())
            .map_err(|_| "the salt (between the `$`s) is not padded base64".to_owned())?;
        if !SALT_RANGE.contains(&salt.len()) {
            return Err(format!(
                "the salt is {} bytes; it must be {} to {}",
                salt.len(),
                SALT_RANGE.start(),
                SALT_RANGE.end()
            ));
        }
        let hash = BASE64
            .decode(hash.as_bytes())
            .map_err(|_| "the hash (after the last `$`) is not padded base64".to_owned())?;
        let hash = <[u8; HASH_LEN]>::try_from(hash.as_slice())
            .map_err(|_| format!("the hash is {} bytes; SHA-256 is {HASH_LEN}", hash.len()))?;
        Ok(StoredHash {
            salt: salt.into_boxed_slice(),
            hash,
        })
    }

    /// A hash no password is expected to match, for the unknown-id path.
    /// Its result is never used, so it needs no randomness.
    pub(super) fn decoy() -> StoredHash {
        StoredHash {
            salt: Box::new([0; SALT_LEN]),
            hash: [0; HASH_LEN],
        }
    }

    /// Whether `password` hashes to this; the comparison is constant-time.
    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let computed = digest(&self.salt, password);
        computed[..].ct_eq(&self.hash[..]).into()
    }
}

fn not_a_hash() -> String {
    "not a recognised password hash (expected \"sha256$<salt>$<hash>\"); plaintext \
     passwords are not accepted"
        .into()
}

fn digest(salt: &[u8], password: &[u8]) -> [u8; HASH_LEN] {
    Sha256::new()
        .chain_update(salt)
        .chain_update(password)
        .finalize()
        .into()
}

fn format(salt: &[u8], password: &[u8]) -> String {
    format!(
        "{SCHEME}${}${}",
        BASE64.encode(salt),
        BASE64.encode(&digest(salt, password))
    )
}

/// `sha256$<salt>$<hash>` of `password` with a fresh 16-byte salt from the
/// OS random source.
///
/// # Panics
///
/// If the OS random source fails. There is no safe fallback (a predictable
/// salt defeats its purpose); the `hash-password` command reports the error
/// instead, through [`try_hash_password`].
pub fn hash_password(password: &[u8]) -> String {
    match try_hash_password(password) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

pub(super) fn try_hash_password(password: &[u8]) -> Result<String, String> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| format!("cannot get random bytes from the OS: {e}"))?;
    Ok(format(&salt, password))
}

/// Whether `stored` (a file value) is a valid hash matching `password`.
#[cfg(test)]
pub(super) fn matches(stored: &str, password: &[u8]) -> Result<bool, String> {
    StoredHash::parse(stored).map(|h| h.verify(password))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    // Required (no default): see the module doc on truncated files.
    charge_points: BTreeMap<String, toml::Spanned<String>>,
}

/// Parses credentials file text; every bad entry is reported, one per
/// line, as `file:line: charge point "id": why`.
pub(super) fn parse_file(text: &str, path: &Path) -> Result<Vec<(String, StoredHash)>, String> {
    let file = path.display();
    let parsed: CredentialsFile = toml::from_str(text).map_err(|e| {
        let at = match e.span() {
            Some(span) => format!("{file}:{}", line_of(text, span.start)),
            None => file.to_string(),
        };
        format!(
            "{at}: {} (the file holds one table, [charge_points], of \"id\" = \"hash\" lines)",
            e.message().trim()
        )
    })?;
    let mut entries = Vec::with_capacity(parsed.charge_points.len());
    let mut errors = Vec::new();
    // In file order, not the map's id order: errors read top to bottom,
    // and line numbers are counted in one pass (a `line_of` per entry is
    // quadratic: seconds for a 20 000-entry file).
    let mut in_file: Vec<_> = parsed.charge_points.into_iter().collect();
    in_file.sort_by_key(|(_, value)| value.span().start);
    let (mut line, mut counted) = (1, 0);
    for (id, value) in in_file {
        // Sorted, so start >= counted.
        let start = value.span().start.clamp(counted, text.len());
        line += newlines(&text.as_bytes()[counted..start]);
        counted = start;
        let checked = super::check_id(&id).and_then(|()| {
            StoredHash::parse(value.get_ref()).map_err(|e| {
                format!("{e}; store the line printed by `ocpp-gateway hash-password --id {id}`")
            })
        });
        match checked {
            Ok(hash) => entries.push((id, hash)),
            Err(e) => errors.push(format!("{file}:{line}: charge point {id:?}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors.join("\n"))
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    newlines(&text.as_bytes()[..offset.min(text.len())]) + 1
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // sha256("saltsaltsaltsalt" ‖ "password"), computed independently
        // with `printf saltsaltsaltsaltpassword | sha256sum`.
        let stored = format(b"saltsaltsaltsalt", b"password");
        let hash = stored.rsplit('$').next().unwrap_or("");
        let hex: String = BASE64
            .decode(hash.as_bytes())
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, KNOWN_HEX);
    }

    const KNOWN_HEX: &str = "69a92ab6d129c4a4f54b9be0bd99e85f1a0fb75e9e295811e2934bf00b34526d";

    #[test]
    fn round_trip_and_fresh_salt() {
        let a = hash_password(b"0123456789abcdef");
        let b = hash_password(b"0123456789abcdef");
        assert_ne!(a, b, "each hash gets its own salt");
        assert_eq!(matches(&a, b"0123456789abcdef"), Ok(true));
        assert_eq!(matches(&a, b"0123456789abcdeF"), Ok(false));
        assert_eq!(matches(&a, b""), Ok(false));
    }

    #[test]
    fn malformed_hashes_are_refused_without_echo() {
        let salt = BASE64.encode(&[1; 16]);
        let hash = BASE64.encode(&[2; 32]);
        for bad in [
            "hunter2-secret-key".to_owned(),
            "md5$secret$key".to_owned(),
            "pbkdf2-sha256$1000$secret$key".to_owned(),
            format!("sha256${salt}"),
            format!("sha256${salt}${hash}$extra"),
            format!("sha256$!!${hash}"),
            format!("sha256${}${hash}", BASE64.encode(&[1; 8])),
            format!("sha256${salt}${}", BASE64.encode(&[2; 20])),
        ] {
            let e = StoredHash::parse(&bad).err().unwrap_or_default();
            assert!(!e.is_empty(), "{bad} accepted");
            assert!(!e.contains("secret") && !e.contains("hunter2"), "{e}");
        }
        assert!(StoredHash::parse(&format!("sha256${salt}${hash}")).is_ok());
    }
}
