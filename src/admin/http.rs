//! HTTP/1.1 for the admin port, without I/O: a request head is parsed
//! (httparse) from the bytes received so far, under the configured limits,
//! and a response is turned into the bytes to send. The server feeds bytes
//! in and takes bytes out.

/// What one request may hold (the `[admin]` limits).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Request line and headers, blank line included.
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// The `Content-Length` accepted.
    pub max_body_bytes: usize,
}

/// A complete request head, with what the server needs of its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Bytes of the head, blank line included: the body starts here.
    pub len: usize,
    /// The declared body length (0 without `Content-Length`); at most
    /// `Limits::max_body_bytes`.
    pub content_length: usize,
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
    /// `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client sends the body after a 100.
    pub expects_continue: bool,
    /// The first `Authorization` header, when it is text.
    pub authorization: Option<String>,
}

/// Why a request is refused before it is routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The head is longer than `max_header_bytes` (431).
    HeaderTooLarge,
    /// More than `max_headers` headers (431).
    TooManyHeaders,
    /// `Content-Length` over `max_body_bytes` (413).
    BodyTooLarge,
    /// `Transfer-Encoding` (chunked bodies): commands always send
    /// `Content-Length` (411).
    LengthRequired,
    /// Not HTTP/1.x, or a `Content-Length` that is not one number (400).
    Malformed,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::HeaderTooLarge | Refusal::TooManyHeaders => 431,
            Refusal::BodyTooLarge => 413,
            Refusal::LengthRequired => 411,
            Refusal::Malformed => 400,
        }
    }

    /// What the client is told, naming the limit it ran into.
    pub fn message(self, limits: &Limits) -> String {
        match self {
            Refusal::HeaderTooLarge => format!(
                "the request line and headers exceed admin.max_header_bytes ({} bytes)",
                limits.max_header_bytes
            ),
            Refusal::TooManyHeaders => format!(
                "more than admin.max_headers ({}) headers",
                limits.max_headers
            ),
            Refusal::BodyTooLarge => format!(
                "the body exceeds admin.max_body_bytes ({} bytes)",
                limits.max_body_bytes
            ),
            Refusal::LengthRequired => {
                "Transfer-Encoding is not accepted: send the body with Content-Length".into()
            }
            Refusal::Malformed => "malformed HTTP/1.1 request".into(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed (and may still come within the limits).
    Partial,
    Complete(Head),
    Refused(Refusal),
}

/// Parses the head at the start of `input` (the bytes received so far of
/// one request). Refuses as soon as a limit is passed, so the caller never
/// needs to hold more than `max_header_bytes` to decide.
pub fn parse_head(input: &[u8], limits: &Limits) -> Parsed {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(input) {
        Ok(httparse::Status::Partial) if input.len() >= limits.max_header_bytes => {
            Parsed::Refused(Refusal::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(len)) if len > limits.max_header_bytes => {
            Parsed::Refused(Refusal::HeaderTooLarge)
        }
        Ok(httparse::Status::Complete(len)) => match head_of(&request, len, limits) {
            Ok(head) => Parsed::Complete(head),
            Err(refusal) => Parsed::Refused(refusal),
        },
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Refusal::TooManyHeaders),
        Err(_) => Parsed::Refused(Refusal::Malformed),
    }
}

fn head_of(
    request: &httparse::Request<'_, '_>,
    len: usize,
    limits: &Limits,
) -> Result<Head, Refusal> {
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Refusal::Malformed);
    };
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let (mut close, mut keep_alive) = (false, false);
    let mut expects_continue = false;
    let mut authorization = None;
    for header in request.headers.iter() {
        let name = header.name;
        let value = std::str::from_utf8(header.value).map(str::trim);
        if name.eq_ignore_ascii_case("content-length") {
            let digits = value
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(Refusal::Malformed)?;
            // Only digits: a failed parse is an overflow, i.e. too large.
            let n = digits.parse::<u64>().unwrap_or(u64::MAX);
            // Two different lengths: which one frames the body is a guess.
            if content_length.is_some_and(|earlier| earlier != n) {
                return Err(Refusal::Malformed);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.unwrap_or("").split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue |= value.is_ok_and(|v| v.eq_ignore_ascii_case("100-continue"));
        } else if name.eq_ignore_ascii_case("authorization") && authorization.is_none() {
            authorization = value.ok().map(str::to_owned);
        }
    }
    // Checked after the loop: with both headers present, Transfer-Encoding
    // would frame the body, whatever their order.
    if chunked {
        return Err(Refusal::LengthRequired);
    }
    let content_length = match usize::try_from(content_length.unwrap_or(0)) {
        Ok(n) if n <= limits.max_body_bytes => n,
        _ => return Err(Refusal::BodyTooLarge),
    };
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        len,
        content_length,
        keep_alive: !close && (version == 1 || keep_alive),
        expects_continue,
        authorization,
    })
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A complete response; its body is always sent with `Content-Length`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// One more header (name, value), e.g. `WWW-Authenticate`.
    pub extra_header: Option<(&'static str, &'static str)>,
    pub body: Vec<u8>,
}

/// A JSON answer.
pub fn json_response(status: u16, body: &serde_json::Value) -> Response {
    Response::new(status, "application/json", body.to_string().into_bytes())
}

/// An error answer: `{"error": message}`.
pub fn error(status: u16, message: impl Into<String>) -> Response {
    json_response(status, &serde_json::json!({ "error": message.into() }))
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            extra_header: None,
            body,
        }
    }

    /// The bytes on the wire; `close` adds `Connection: close` (the server
    /// closes after sending).
    pub fn encode(&self, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 160);
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        out.extend_from_slice(head.as_bytes());
        if let Some((name, value)) = self.extra_header {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Reason phrases of the statuses the admin API sends (RFC 9110).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header_bytes: 256,
        max_headers: 4,
        max_body_bytes: 100,
    };

    fn parse(text: &str) -> Parsed {
        parse_head(text.as_bytes(), &LIMITS)
    }

    fn head(text: &str) -> Head {
        match parse(text) {
            Parsed::Complete(head) => head,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_complete_head_with_what_the_server_needs() {
        let text = "POST /connections/CP-1/calls?x=1 HTTP/1.1\r\nHost: a\r\n\
                    Content-Length: 12\r\nAuthorization: Bearer t\r\n\r\n{\"action\":1}";
        let h = head(text);
        assert_eq!(h.method, "POST");
        assert_eq!(h.target, "/connections/CP-1/calls?x=1");
        assert_eq!(h.len, text.len() - 12);
        assert_eq!(h.content_length, 12);
        assert!(h.keep_alive);
        assert!(!h.expects_continue);
        assert_eq!(h.authorization.as_deref(), Some("Bearer t"));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expects_continue);
    }

    #[test]
    fn partial_until_the_blank_line_then_refused_at_the_limit() {
        assert_eq!(
            parse("GET /health HTTP/1.1\r\nHost: a\r\n"),
            Parsed::Partial
        );
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(300));
        assert_eq!(
            parse_head(&long.as_bytes()[..256], &LIMITS),
            Parsed::Refused(Refusal::HeaderTooLarge)
        );
        assert_eq!(parse(&long), Parsed::Refused(Refusal::HeaderTooLarge));
        let exactly = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(256 - 18));
        assert_eq!(exactly.len(), 256);
        assert!(matches!(parse(&exactly), Parsed::Complete(_)));
    }

    #[test]
    fn too_many_headers_is_refused_before_the_head_ends() {
        let text = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n";
        assert_eq!(parse(text), Parsed::Refused(Refusal::TooManyHeaders));
        assert_eq!(Refusal::TooManyHeaders.status(), 431);
    }

    #[test]
    fn bodies_are_framed_by_one_content_length_only() {
        let refused = |text: &str| match parse(text) {
            Parsed::Refused(r) => r.status(),
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"),
            413
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n"),
            400
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")
                .content_length,
            3
        );
        assert_eq!(refused("NOT HTTP\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/2.0\r\n\r\n"), 400);
    }

    #[test]
    fn responses_carry_their_length_and_close() {
        let mut r = Response::new(401, "application/json", b"{}".to_vec());
        r.extra_header = Some(("WWW-Authenticate", "Bearer"));
        let text = String::from_utf8(r.encode(true)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n{}"
        );
        let text = String::from_utf8(Response::new(200, "text/plain", vec![]).encode(false));
        assert!(!text.unwrap().contains("Connection"));
    }
}
