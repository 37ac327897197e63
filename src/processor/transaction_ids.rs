//! transactionIds that stay unique across restarts.
//!
//! Ids are handed out from an in-memory counter; the file holds the end of
//! the block reserved so far, written (and fsynced) before any id of a new
//! block is used. A restart, clean or not, continues after the last reserved
//! block, so an id is never issued twice. Gaps after a crash are harmless.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Ids reserved per file write.
const BLOCK: i64 = 1000;

pub struct TransactionIds {
    path: PathBuf,
    next: AtomicI64,
    /// Ids below this are reserved on disk. Grows only under `reserve_lock`.
    reserved: AtomicI64,
    reserve_lock: Mutex<()>,
}

impl TransactionIds {
    pub fn open(path: &Path) -> io::Result<TransactionIds> {
        let start = match fs::read_to_string(path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: not a transaction id high-water mark: {e}",
                        path.display()
                    ),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 1,
            Err(e) => return Err(e),
        };
        let ids = TransactionIds {
            path: path.to_owned(),
            next: AtomicI64::new(start),
            reserved: AtomicI64::new(start),
            reserve_lock: Mutex::new(()),
        };
        // Fail at start, not at the first StartTransaction, if the file is not writable.
        ids.reserve_through(start)?;
        Ok(ids)
    }

    /// The next id; the lock is taken once per `BLOCK` ids.
    pub fn next(&self) -> io::Result<i32> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id >= self.reserved.load(Ordering::Acquire) {
            self.reserve_through(id)?;
        }
        i32::try_from(id).map_err(|_| io::Error::other("transaction ids exhausted (i32)"))
    }

    fn reserve_through(&self, id: i64) -> io::Result<()> {
        let _guard = self.reserve_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut end = self.reserved.load(Ordering::Acquire);
        if id < end {
            return Ok(());
        }
        while end <= id {
            end += BLOCK;
        }
        write_durably(&self.path, &format!("{end}\n"))?;
        self.reserved.store(end, Ordering::Release);
        Ok(())
    }
}

/// Replaces the file atomically: write a temporary, fsync, rename.
fn write_durably(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_across_restarts() {
        let dir = std::env::temp_dir().join(format!("txid-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("txid");
        let _ = fs::remove_file(&path);
        let first: Vec<i32> = {
            let ids = TransactionIds::open(&path).unwrap();
            (0..1500).map(|_| ids.next().unwrap()).collect()
        };
        let ids = TransactionIds::open(&path).unwrap();
        let after = ids.next().unwrap();
        assert!(first.iter().all(|&id| id < after), "{after} reused");
        let mut sorted = first.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), first.len());
        fs::remove_dir_all(&dir).unwrap();
    }
}
