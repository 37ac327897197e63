//! Writing JSON by hand: string literals and unsigned integers appended to
//! a text buffer.
//!
//! Pure and allocation-free beyond the buffer's own growth: frames and
//! backend requests are built in a `String`, journal lines in a `Vec<u8>`,
//! both through [`push_json_str`] and [`push_u64`].

/// A buffer JSON text is appended to.
pub trait TextBuf {
    fn push_text(&mut self, s: &str);
    /// `b` is ASCII.
    fn push_ascii(&mut self, b: u8);
    /// Every byte of `b` is ASCII.
    fn push_ascii_bytes(&mut self, b: &[u8]);
}

impl TextBuf for String {
    #[inline]
    fn push_text(&mut self, s: &str) {
        self.push_str(s);
    }

    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }

    #[inline]
    fn push_ascii_bytes(&mut self, b: &[u8]) {
        self.extend(b.iter().copied().map(char::from));
    }
}

impl TextBuf for Vec<u8> {
    #[inline]
    fn push_text(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.push(b);
    }

    #[inline]
    fn push_ascii_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// The bus builds subjects and reply subjects in a `BytesMut`.
impl TextBuf for bytes::BytesMut {
    #[inline]
    fn push_text(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    #[inline]
    fn push_ascii_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// Appends `s` as a JSON string literal (RFC 8259 §7 escaping): `"`, `\`
/// and control characters escaped (`\n`, `\r`, `\t` by name, the others as
/// `\u00xx`), everything else as is.
pub fn push_json_str<B: TextBuf + ?Sized>(out: &mut B, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_ascii(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, so `i` is a char boundary.
        out.push_text(&s[start..i]);
        if escape.is_empty() {
            out.push_text("\\u00");
            out.push_ascii(HEX[usize::from(b >> 4)]);
            out.push_ascii(HEX[usize::from(b & 0xf)]);
        } else {
            out.push_text(escape);
        }
        start = i + 1;
    }
    out.push_text(&s[start..]);
    out.push_ascii(b'"');
}

/// Appends `n` in decimal (a JSON number), without formatting machinery.
pub fn push_u64<B: TextBuf + ?Sized>(out: &mut B, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_ascii_bytes(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_and_bytes_get_the_same_escapes() {
        let s = "a\"b\\c\nd\re\tf\u{0}\u{1f}\u{7f}é";
        let mut text = String::new();
        push_json_str(&mut text, s);
        assert_eq!(text, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0000\\u001f\u{7f}é\"");
        let mut bytes = Vec::new();
        push_json_str(&mut bytes, s);
        assert_eq!(bytes, text.as_bytes());
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn integers_in_decimal() {
        for n in [0, 7, 10, 65_535, 4_294_967_295, u64::MAX] {
            let mut text = String::new();
            push_u64(&mut text, n);
            assert_eq!(text, n.to_string());
            let mut bytes = b"x".to_vec();
            push_u64(&mut bytes, n);
            assert_eq!(bytes, format!("x{n}").into_bytes());
        }
    }
}
