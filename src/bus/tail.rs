//! Reads the journal line by line from a [`Position`], following it across
//! rotations, while the writer appends to it.
//!
//! The writer appends only to the newest file and finishes a file before it
//! creates the next, so once a newer file exists, whatever the current file
//! holds after one more read to its end is all it will ever hold.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::cursor::Position;
use crate::cross_thread::journal_files::list as list_files;

/// How often, at most, the directory is listed when the current file is at
/// its end (an idle gateway reaches the end every few milliseconds).
const LIST_EVERY: Duration = Duration::from_millis(50);
const READ_CHUNK: usize = 256 << 10;

pub struct Tail {
    dir: PathBuf,
    file: Option<File>,
    /// Where `buf` starts.
    at: Position,
    /// Read but not yet returned: possibly a partial last line.
    buf: BytesMut,
    last_list: Option<Instant>,
}

/// One journal line (without its newline) and where it starts.
pub struct Line {
    pub text: Bytes,
    pub start: Position,
    /// Where the next line starts: the cursor once this one is acknowledged.
    pub next: Position,
}

impl Tail {
    pub fn new(dir: PathBuf, at: Position) -> Tail {
        Tail {
            dir,
            file: None,
            at,
            buf: BytesMut::new(),
            last_list: None,
        }
    }

    /// Starts again at `at` (after a failed publish).
    pub fn seek(&mut self, at: Position) {
        self.file = None;
        self.at = at;
        self.buf.clear();
    }

    fn open(&mut self) -> io::Result<bool> {
        if self.file.is_some() {
            return Ok(true);
        }
        match File::open(self.dir.join(&*self.at.file)) {
            Ok(mut f) => {
                f.seek(SeekFrom::Start(self.at.offset + self.buf.len() as u64))?;
                self.file = Some(f);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Appends what the file holds past `buf`; the count of new bytes.
    fn fill(&mut self) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let n = file.read(&mut self.buf[old..]);
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        n
    }

    /// The journal file after the current one, if the writer has started it.
    fn next_file(&mut self, force: bool) -> io::Result<Option<String>> {
        if !force && self.last_list.is_some_and(|t| t.elapsed() < LIST_EVERY) {
            return Ok(None);
        }
        self.last_list = Some(Instant::now());
        let names = file_names(&self.dir)?;
        Ok(match names.iter().position(|n| **n == *self.at.file) {
            Some(i) => names.get(i + 1).cloned(),
            // The current file is gone (removed by hand): go on with the
            // first one after it by name.
            None => names.into_iter().find(|n| **n > *self.at.file),
        })
    }

    /// The next complete line, or `None` at the end of the journal for now.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let start = self.at.clone();
                let mut line = self.buf.split_to(end + 1).freeze();
                line.truncate(end);
                self.at.offset += end as u64 + 1;
                if line.is_empty() {
                    continue;
                }
                return Ok(Some(Line {
                    text: line,
                    start,
                    next: self.at.clone(),
                }));
            }
            if !self.open()? {
                // Our file is gone: move on if there is a later one.
                match self.next_file(true)? {
                    Some(next) => self.move_to(next),
                    None => return Ok(None),
                }
                continue;
            }
            if self.fill()? > 0 {
                continue;
            }
            let Some(next) = self.next_file(false)? else {
                return Ok(None);
            };
            // The writer has moved on: read this file to its real end first.
            if self.fill()? > 0 {
                continue;
            }
            if !self.buf.is_empty() {
                log::warn!(
                    "bus: {} ends in {} bytes without a newline; skipped",
                    self.at.file,
                    self.buf.len()
                );
            }
            self.move_to(next);
        }
    }

    fn move_to(&mut self, file: String) {
        self.seek(Position {
            file: file.into(),
            offset: 0,
        });
    }

    /// Journal bytes from `from` to the end of the newest file.
    pub fn bytes_after(dir: &std::path::Path, from: &Position) -> u64 {
        let Ok(names) = file_names(dir) else {
            return 0;
        };
        names
            .iter()
            .filter_map(|name| {
                let len = dir.join(name).metadata().ok()?.len();
                match name.as_str().cmp(&from.file) {
                    std::cmp::Ordering::Less => None,
                    std::cmp::Ordering::Equal => Some(len.saturating_sub(from.offset)),
                    std::cmp::Ordering::Greater => Some(len),
                }
            })
            .sum()
    }

    /// The newest journal file, to start from when there is no cursor.
    pub fn newest(dir: &std::path::Path) -> io::Result<Option<String>> {
        Ok(file_names(dir)?.pop())
    }
}

/// The names of the journal files in `dir`, in write order.
fn file_names(dir: &std::path::Path) -> io::Result<Vec<String>> {
    Ok(list_files(dir)?
        .iter()
        .filter_map(|f| f.path.file_name()?.to_str().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appends_and_rotation() {
        let dir = std::env::temp_dir().join(format!("bus-tail-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let a = "journal-20261124T202038.541Z-000001.jsonl";
        let b = "journal-20261124T202038.541Z-000002.jsonl";
        let mut fa = File::create(dir.join(a)).unwrap();
        fa.write_all(b"{\"n\":1}\n{\"n\":2").unwrap();
        let mut tail = Tail::new(
            dir.clone(),
            Position {
                file: a.into(),
                offset: 0,
            },
        );
        let l = tail.next_line().unwrap().unwrap();
        assert_eq!(&l.text[..], b"{\"n\":1}");
        assert_eq!(l.next.offset, 8);
        assert!(tail.next_line().unwrap().is_none(), "a partial line waits");
        fa.write_all(b"}\n").unwrap();
        let l = tail.next_line().unwrap().unwrap();
        assert_eq!(&l.text[..], b"{\"n\":2}");
        assert_eq!((l.start.offset, l.next.offset), (8, 16));
        // Rotation: the last line of `a` lands just before `b` appears.
        fa.write_all(b"{\"n\":3}\n").unwrap();
        let mut fb = File::create(dir.join(b)).unwrap();
        fb.write_all(b"{\"n\":4}\n").unwrap();
        tail.last_list = None;
        let texts: Vec<_> = std::iter::from_fn(|| tail.next_line().unwrap())
            .map(|l| (l.start.file.clone(), l.text))
            .collect();
        assert_eq!(texts.len(), 2);
        assert_eq!((&*texts[0].0, &texts[0].1[..]), (a, &b"{\"n\":3}"[..]));
        assert_eq!((&*texts[1].0, &texts[1].1[..]), (b, &b"{\"n\":4}"[..]));
        assert_eq!(
            Tail::bytes_after(
                &dir,
                &Position {
                    file: a.into(),
                    offset: 16
                }
            ),
            16
        );
        // Seek back to an acknowledged position and read again.
        tail.seek(Position {
            file: a.into(),
            offset: 16,
        });
        assert_eq!(&tail.next_line().unwrap().unwrap().text[..], b"{\"n\":3}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
