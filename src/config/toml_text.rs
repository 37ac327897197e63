//! The configuration file as text: where a key is written (its line, the
//! spans of its key and value), the key at an error's offset, and the
//! redaction of secrets when the configuration is printed
//! ([`SECRET_KEYS`], [`REDACTED`]).
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// 1-based line number of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key path whose key or value covers `offset`, deepest first.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            if let DeValue::Table(inner) = value.get_ref()
                && let Some(found) = walk(inner, offset, &path)
            {
                return Some(found);
            }
            if key.span().contains(&offset) || value.span().contains(&offset) {
                return Some(path);
            }
        }
        None
    }
    let (doc, _) = DeTable::parse_recoverable(text);
    walk(doc.get_ref(), offset, "")
}

/// Byte offset of a dotted key path in the file, if it is written there.
pub(super) fn key_offset(text: &str, path: &str) -> Option<usize> {
    entry_spans(text, path).map(|(key, _)| key.start)
}

/// The byte ranges of a dotted key path's key and value in the text, if it
/// is written there.
fn entry_spans(text: &str, path: &str) -> Option<(Range<usize>, Range<usize>)> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut table = doc.get_ref();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        // `profiles[2]`: the third table of an array of tables.
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (part, None),
        };
        let (key, mut value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        if let Some(i) = index {
            match value.get_ref() {
                DeValue::Array(items) => value = items.get(i)?,
                _ => return None,
            }
        }
        if parts.peek().is_none() {
            return Some((key.span(), value.span()));
        }
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    None
}

/// Keys whose values are secrets (dotted paths, as in the file). Whatever
/// prints the configuration shows them as [`REDACTED`]; a new secret key is
/// added here, and nowhere else.
pub const SECRET_KEYS: &[&str] = &["admin.bearer_token", "bus.password", "bus.token"];

/// What a secret's value is printed as.
pub const REDACTED: &str = "<redacted>";

/// `text` (TOML) with the value of each [`SECRET_KEYS`] key that it holds
/// replaced by `"<redacted>"`; everything else as it was, in its order.
pub(super) fn redact_secrets(mut text: String) -> String {
    let mut values: Vec<Range<usize>> = SECRET_KEYS
        .iter()
        .filter_map(|key| entry_spans(&text, key).map(|(_, value)| value))
        .collect();
    // From the end, so that each replacement leaves the earlier ranges valid.
    values.sort_by_key(|value| std::cmp::Reverse(value.start));
    for value in values {
        text.replace_range(value, &format!("\"{REDACTED}\""));
    }
    text
}

/// The dotted key path at `offset`, read from the text alone, for errors
/// that the parsed document cannot place (a duplicate key, an unterminated
/// string, invalid UTF-8): the key of the statement the offset is in — the
/// `key =` on its line, or the key whose multi-line value (array, inline
/// table, `"""` string) spans that line —, below the table header above it;
/// or that header when the line is one. `None` on a line that is neither.
pub(super) fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let mut table: Option<String> = None;
    // The key whose value is still open at the start of the next line.
    let mut open_key: Option<String> = None;
    let mut value = ValueScan::default();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let at_offset = offset < line_start + line.len() || line_start + line.len() == text.len();
        let key = if value.is_open() {
            value.scan(line);
            open_key.clone()
        } else if let Some(header) = table_header(line) {
            table = Some(header.clone());
            value = ValueScan::default();
            Some(header)
        } else if let Some(before) = until_unquoted(line, b'=')
            && let Some(key) = dotted_key(before)
        {
            value = ValueScan::default();
            value.scan(&line[before.len() + 1..]);
            Some(match &table {
                Some(table) => format!("{table}.{key}"),
                None => key,
            })
        } else {
            None
        };
        if at_offset {
            return key;
        }
        open_key = if value.is_open() { key } else { None };
        line_start += line.len();
    }
    None
}

/// How much of a value is still open after the lines scanned so far: a
/// multi-line string, or unclosed `[` / `{`. Single-line strings and
/// comments end with their line.
#[derive(Default)]
struct ValueScan {
    /// `"""` or `'''` when inside a multi-line string.
    multi_line: Option<&'static str>,
    /// Unclosed `[` and `{`.
    depth: usize,
}

impl ValueScan {
    fn is_open(&self) -> bool {
        self.multi_line.is_some() || self.depth > 0
    }

    fn scan(&mut self, line: &str) {
        let mut rest = line;
        while !rest.is_empty() {
            if let Some(close) = self.multi_line {
                let Some(end) = find_closing(rest, close) else {
                    return;
                };
                self.multi_line = None;
                rest = &rest[end + close.len()..];
                continue;
            }
            if let Some(open) = ["\"\"\"", "'''"].into_iter().find(|q| rest.starts_with(q)) {
                self.multi_line = Some(open);
                rest = &rest[open.len()..];
                continue;
            }
            let mut chars = rest.char_indices();
            let Some((_, c)) = chars.next() else { return };
            match c {
                '#' => return,
                '"' | '\'' => match find_closing(&rest[1..], if c == '"' { "\"" } else { "'" }) {
                    Some(end) => rest = &rest[end + 2..],
                    // Unterminated: it ends with the line (an error the
                    // parser reports on this line).
                    None => return,
                },
                '[' | '{' => self.depth += 1,
                ']' | '}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            if !matches!(c, '"' | '\'') {
                rest = chars.as_str();
            }
        }
    }
}

/// Where `close` first appears in `s`; in basic strings (`"`, `"""`) a
/// backslash escapes the next character.
fn find_closing(s: &str, close: &str) -> Option<usize> {
    let escapes = close.starts_with('"');
    let mut i = 0;
    while i < s.len() {
        // Bytes, not `&s[i..]`: `i` may be inside a multi-byte character.
        // A match is ASCII, so the index returned is a character boundary.
        if escapes && s.as_bytes()[i] == b'\\' {
            i += 2;
            continue;
        }
        if s.as_bytes()[i..].starts_with(close.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The dotted path of a `[table]` or `[[array]]` header line.
fn table_header(line: &str) -> Option<String> {
    let inner = line.trim_start().strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    dotted_key(until_unquoted(inner, b']')?)
}

/// The part of `s` before the first `stop` byte outside quotes, if any.
fn until_unquoted(s: &str, stop: u8) -> Option<&str> {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'#' => return None,
            None if b == stop => return Some(&s[..i]),
            None => {}
        }
    }
    None
}

/// `a . "b c"` as `a.b c`: the parts of a dotted key, trimmed and unquoted.
/// `None` unless every part is a bare key or a quoted one.
fn dotted_key(s: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut rest = s.trim();
    loop {
        let (part, after) = match rest.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => {
                let end = rest[1..].find(q as char)? + 1;
                (&rest[1..end], &rest[end + 1..])
            }
            _ => {
                let end = rest.find('.').unwrap_or(rest.len());
                let part = rest[..end].trim_end();
                let bare = part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if part.is_empty() || !bare {
                    return None;
                }
                (part, &rest[end..])
            }
        };
        parts.push(part);
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(after_dot) => rest = after_dot.trim_start(),
            None if rest.is_empty() => return Some(parts.join(".")),
            None => return None,
        }
    }
}
