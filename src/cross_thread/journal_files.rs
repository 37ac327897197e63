//! Journal files on disk: names, crash repair, reading back.
//!
//! Names are `journal-<UTC stamp>-<seq>.jsonl`, e.g.
//! `journal-20261124T202038.541Z-000007.jsonl`. The stamp never goes
//! backwards (a new file takes the newest existing stamp if the clock is
//! behind it) and `seq` only grows, so sorting names sorts files in the
//! order they were written — which is what shippers and [`read_records`] do.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".jsonl";

/// An existing journal file, parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JournalFile {
    pub path: PathBuf,
    pub stamp: String,
    pub seq: u64,
}

fn parse_name(name: &str) -> Option<(String, u64)> {
    let middle = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (stamp, seq) = middle.rsplit_once('-')?;
    let seq = seq.parse().ok()?;
    let stamp_ok = stamp.len() == 20
        && stamp
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.');
    stamp_ok.then(|| (stamp.to_owned(), seq))
}

/// The journal files in `dir`, oldest first. Other files are ignored.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<JournalFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((stamp, seq)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            files.push(JournalFile {
                path: entry.path(),
                stamp,
                seq,
            });
        }
    }
    files.sort_by(|a, b| (&a.stamp, a.seq).cmp(&(&b.stamp, b.seq)));
    Ok(files)
}

/// `20261124T202038.541Z`: the record timestamp without `-` and `:`.
pub(crate) fn stamp(now: SystemTime) -> String {
    let mut ts = Vec::with_capacity(24);
    super::journal_record::push_ts(&mut ts, now);
    ts.retain(|&b| b != b'-' && b != b':');
    String::from_utf8_lossy(&ts).into_owned()
}

pub(crate) fn file_name(stamp: &str, seq: u64) -> String {
    format!("{PREFIX}{stamp}-{seq:06}{SUFFIX}")
}

/// Creates a new journal file; never opens an existing one (`create_new`), so
/// a file is written by one writer, once. Also syncs the directory so the new
/// name survives a power cut.
pub(crate) fn create(dir: &Path, stamp: &str, seq: u64) -> io::Result<(PathBuf, File)> {
    let path = dir.join(file_name(stamp, seq));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    sync_dir(dir);
    Ok((path, file))
}

/// Takes the directory's `journal.lock` (an advisory lock, released when
/// the returned file is closed, also by a crash). A second gateway pointed
/// at the same directory gets an error instead of repairing or interleaving
/// files the first one is writing.
pub(crate) fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join("journal.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "journal directory {} is in use by another process ({} is locked)",
                dir.display(),
                path.display()
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Best effort: some filesystems refuse to fsync a directory; the file data
/// itself is still synced.
pub(crate) fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        log::debug!("journal: cannot sync directory {}: {e}", dir.display());
    }
}

/// Cuts a torn last line (bytes after the last `\n`, left by a crash) off
/// `path`. Returns the number of bytes dropped.
pub(crate) fn repair(path: &Path) -> io::Result<u64> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    // Fast path, every file at start-up: a whole last line ends in `\n`.
    let mut last = [0u8; 1];
    if len == 0 {
        return Ok(0);
    }
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(0);
    }
    let mut end = len;
    let mut chunk = vec![0u8; 64 << 10];
    // Scan backwards for the last newline.
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
        file.sync_all()?;
    }
    Ok(len - keep)
}

/// Every record in the journal files of `dir`, oldest first, each line
/// parsed. A last line without its `\n` (torn by a crash) is skipped; any
/// other line that does not parse is an `InvalidData` error.
pub fn read_records(dir: impl AsRef<Path>) -> io::Result<Vec<serde_json::Value>> {
    let mut records = Vec::new();
    for f in list(dir.as_ref())? {
        let text = fs::read(&f.path)?;
        let complete = match text.iter().rposition(|&b| b == b'\n') {
            Some(i) => &text[..i + 1],
            None => &[][..],
        };
        for (n, line) in complete.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let value = serde_json::from_slice(line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}:{}: {e}", f.path.display(), n + 1),
                )
            })?;
            records.push(value);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn names_round_trip_and_sort() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_551_638_541);
        assert_eq!(stamp(t), "20261124T202038.541Z");
        let name = file_name(&stamp(t), 7);
        assert_eq!(name, "journal-20261124T202038.541Z-000007.jsonl");
        assert_eq!(parse_name(&name), Some(("20261124T202038.541Z".into(), 7)));
        assert_eq!(parse_name("journal-x-1.jsonl"), None);
        assert_eq!(parse_name("journal-20261124T202038.541Z-1.json"), None);
        assert!(file_name(&stamp(t), 999_999) < file_name(&stamp(t + Duration::from_millis(1)), 1));
    }

    #[test]
    fn repair_cuts_back_to_the_last_newline() {
        let dir = std::env::temp_dir().join(format!("journal-repair-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut body = "{\"a\":1}\n".repeat(20_000).into_bytes();
        body.extend_from_slice(b"{\"a\":");
        fs::File::create(&path).unwrap().write_all(&body).unwrap();
        assert_eq!(repair(&path).unwrap(), 5);
        assert_eq!(fs::metadata(&path).unwrap().len(), 160_000);
        assert_eq!(repair(&path).unwrap(), 0);

        // No newline at all, longer than one scan chunk: nothing to keep.
        fs::write(&path, vec![b'x'; 100_000]).unwrap();
        assert_eq!(repair(&path).unwrap(), 100_000);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
