//! The store's one file, `{journal.directory}/queue/commands.log`: records
//! appended as JSON lines, read back whole at start, rewritten from a
//! snapshot when it has grown well past what it still has to say.
//!
//! One log for every charge point rather than a file each: a turn's
//! records (for any number of charge points) take one write and, when
//! they must be durable, one fsync; 10 000 charge points would otherwise
//! cost 10 000 descriptors and 10 000 fsyncs per delivery wave.
//!
//! A rewrite goes to `commands.log.tmp`, is synced, renamed over the log
//! and the directory synced: a crash leaves either the old log or the new
//! one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::record::Record;

const FILE: &str = "commands.log";
const TMP: &str = "commands.log.tmp";

pub struct StoreLog {
    dir: PathBuf,
    file: File,
    /// Bytes in the file.
    bytes: u64,
    /// Lines staged this turn, written by [`StoreLog::write`].
    staged: Vec<u8>,
    /// Written since the last fsync.
    unsynced: bool,
}

/// What replay read.
pub struct Replayed {
    /// Each record with the length of its line.
    pub records: Vec<(Record, u64)>,
    /// Lines that could not be read (a torn last line after a crash, or
    /// damage): skipped.
    pub bad_lines: usize,
}

impl StoreLog {
    /// Opens (creating) the log in `dir` and reads every record in it.
    pub fn open(dir: &Path) -> io::Result<(StoreLog, Replayed)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let mut replayed = Replayed {
            records: Vec::new(),
            bad_lines: 0,
        };
        for line in text.split_inclusive(|&b| b == b'\n') {
            if line.last() != Some(&b'\n') {
                // Torn by a crash mid-write: it never took effect.
                replayed.bad_lines += 1;
                break;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(record) => replayed.records.push((record, line.len() as u64)),
                Err(_) => replayed.bad_lines += 1,
            }
        }
        let log = StoreLog {
            dir: dir.to_owned(),
            file,
            bytes: text.len() as u64,
            staged: Vec::new(),
            unsynced: false,
        };
        Ok((log, replayed))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Adds a record to this turn's lines; the length of its line.
    pub fn stage(&mut self, record: &Record) -> u64 {
        let before = self.staged.len();
        record.encode(&mut self.staged);
        (self.staged.len() - before) as u64
    }

    pub fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Writes the staged lines (one `write` call for the turn). After it
    /// they survive the process being killed; [`StoreLog::sync`] makes
    /// them survive the machine going down.
    pub fn write(&mut self) -> io::Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.staged);
        self.bytes += self.staged.len() as u64;
        self.staged.clear();
        self.unsynced = true;
        result
    }

    pub fn sync(&mut self) -> io::Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        self.unsynced = false;
        self.file.sync_data()
    }

    pub fn needs_sync(&self) -> bool {
        self.unsynced
    }

    /// Replaces the log by `records` (a snapshot); the length of each
    /// record's line, in order. Staged lines are dropped: the snapshot is
    /// taken after they were applied.
    pub fn rewrite(&mut self, records: &[Record]) -> io::Result<Vec<u64>> {
        let mut text = Vec::with_capacity(records.len() * 256);
        let mut lengths = Vec::with_capacity(records.len());
        for record in records {
            let before = text.len();
            record.encode(&mut text);
            lengths.push((text.len() - before) as u64);
        }
        let tmp = self.dir.join(TMP);
        let mut out = File::create(&tmp)?;
        out.write_all(&text)?;
        out.sync_all()?;
        drop(out);
        fs::rename(&tmp, self.dir.join(FILE))?;
        File::open(&self.dir)?.sync_all()?;
        self.file = OpenOptions::new().append(true).open(self.dir.join(FILE))?;
        self.bytes = text.len() as u64;
        self.staged.clear();
        self.unsynced = false;
        Ok(lengths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_replays_skips_a_torn_line_and_rewrites() {
        let dir = std::env::temp_dir().join(format!("queue-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (mut log, replayed) = StoreLog::open(&dir).unwrap();
        assert!(replayed.records.is_empty());
        let a = Record::Returned { id: "a".into() };
        let b = Record::Sent {
            id: "b".into(),
            at: 7,
        };
        let len = log.stage(&a);
        log.stage(&b);
        log.write().unwrap();
        log.sync().unwrap();
        drop(log);
        // A crash mid-line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(FILE))
            .unwrap();
        f.write_all(b"{\"op\":\"sent\",\"id\":\"c").unwrap();
        drop(f);
        let (mut log, replayed) = StoreLog::open(&dir).unwrap();
        assert_eq!(replayed.bad_lines, 1);
        assert_eq!(
            replayed.records,
            vec![(a.clone(), len), (b.clone(), replayed.records[1].1)]
        );
        let lengths = log.rewrite(std::slice::from_ref(&b)).unwrap();
        assert_eq!(log.bytes(), lengths[0]);
        drop(log);
        let (_, replayed) = StoreLog::open(&dir).unwrap();
        assert_eq!(replayed.bad_lines, 0);
        assert_eq!(replayed.records.len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
