//! How far JetStream has acknowledged the journal: `bus-cursor` in the
//! journal directory, one line `<journal file name> <byte offset>`.
//!
//! Written (temp file, fsync, rename) only for positions JetStream has
//! acknowledged, so after a crash the bridge re-publishes at most what was
//! acknowledged since the last save — JetStream drops those by message id.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

pub const FILE: &str = "bus-cursor";

/// A place in the journal: the next byte to publish.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// A journal file name (names sort in write order). Shared: every
    /// journal line carries two positions, and a clone must not allocate.
    pub file: Arc<str>,
    pub offset: u64,
}

pub fn load(dir: &Path) -> io::Result<Option<Position>> {
    let text = match fs::read_to_string(dir.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let parsed = text.trim().rsplit_once(' ').and_then(|(file, offset)| {
        let offset = offset.parse().ok()?;
        (!file.is_empty() && !file.contains('/')).then(|| Position {
            file: Arc::from(file),
            offset,
        })
    });
    parsed.map(Some).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{FILE}: expected `<journal file> <offset>`, found {text:?}"),
        )
    })
}

pub fn save(dir: &Path, at: &Position) -> io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    writeln!(f, "{} {}", at.file, at.offset)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = std::env::temp_dir().join(format!("bus-cursor-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let _ = fs::remove_file(dir.join(FILE));
        assert_eq!(load(&dir).unwrap(), None);
        let at = Position {
            file: "journal-20261124T202038.541Z-000007.jsonl".into(),
            offset: 1234,
        };
        save(&dir, &at).unwrap();
        assert_eq!(load(&dir).unwrap(), Some(at));
        fs::write(dir.join(FILE), "garbage").unwrap();
        assert!(load(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
