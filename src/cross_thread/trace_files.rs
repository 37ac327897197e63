//! Where a charge point's trace lives: the file name the trace writer
//! writes and the admin API reads (the status page's last frames). Shared
//! here so that neither thread's folder imports the other's.

/// The file name of `charge_point`'s trace: the id with every byte but
/// `A-Za-z0-9`, `-`, `_` and `.` percent-encoded, so that it names one
/// file inside the directory and nothing else (no `/`, no NUL); a name
/// made only of dots (`.`, `..`) has its dots encoded too. The suffix
/// `.trace` keeps it apart from anything else in the directory.
pub fn trace_file_name(charge_point: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let only_dots = charge_point.bytes().all(|b| b == b'.');
    let mut name = String::with_capacity(charge_point.len() + 6);
    for b in charge_point.bytes() {
        let plain =
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !only_dots);
        if plain {
            name.push(char::from(b));
        } else {
            name.push('%');
            name.push(char::from(HEX[usize::from(b >> 4)]));
            name.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    if name.len() > MAX_PLAIN_NAME {
        // Percent-encoding triples a non-ASCII id: a long one would pass
        // the file system's 255-byte name limit. Keep a readable prefix
        // and make it unique with a digest of the whole id.
        use sha2::{Digest, Sha256};
        name.truncate(MAX_PLAIN_NAME - 33);
        name.push('~');
        for b in &Sha256::digest(charge_point.as_bytes())[..16] {
            name.push(char::from(HEX[usize::from(b >> 4)]));
            name.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    name.push_str(".trace");
    name
}

/// Longest encoded id kept whole in a file name (with `.trace`, well under
/// the usual 255-byte limit).
const MAX_PLAIN_NAME: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_directory() {
        assert_eq!(trace_file_name("CP-1_a.b"), "CP-1_a.b.trace");
        assert_eq!(trace_file_name("a/b"), "a%2Fb.trace");
        assert_eq!(trace_file_name(".."), "%2E%2E.trace");
        assert_eq!(trace_file_name("."), "%2E.trace");
        assert_eq!(trace_file_name("..a"), "..a.trace");
        assert_eq!(trace_file_name("x*y:z"), "x%2Ay%3Az.trace");
        assert_eq!(trace_file_name("é"), "%C3%A9.trace");
        assert_eq!(
            trace_file_name("%41"),
            "%2541.trace",
            "no two ids share a name"
        );
        let long = "é".repeat(48);
        let name = trace_file_name(&long);
        assert!(name.len() <= 255 && name.starts_with("%C3%A9"), "{name}");
        assert_ne!(
            name,
            trace_file_name(&"é".repeat(47)),
            "distinct ids, distinct names"
        );
        for id in ["a/../../etc", "\0", "a\\b", ".", ".."] {
            let name = trace_file_name(id);
            assert!(!name.contains('/') && !name.contains('\0') && !name.starts_with(".."));
        }
    }
}
