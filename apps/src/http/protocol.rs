//! HTTP/1.1 on the wire: what one request at the front of a buffer is ([`parse`]) and the bytes
//! of each response ([`Responses`]).
//!
//! Only `GET` and `HEAD` are served; every other method gets `405`. A request's body
//! (Content-Length) is read and dropped; chunked bodies get `501`. Every error response closes
//! the connection, so nothing of a request the server refused is taken for the next one.

use super::config::{Config, Limits};

/// Most headers a request may have (one more is `431`).
pub const MAX_HEADERS: usize = 64;

/// An error status and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request line or a header does not parse, or Content-Length is not a number.
    BadRequest,
    /// 405: a method other than GET and HEAD.
    MethodNotAllowed,
    /// 408: the request did not arrive within the request time-out.
    RequestTimeout,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 431: the request line and headers are over the limit.
    HeadersTooLarge,
    /// 501: a Transfer-Encoding (chunked bodies are not supported).
    NotImplemented,
    /// 503: the worker serves its maximum of connections.
    Unavailable,
}

impl Refusal {
    /// Status code and reason phrase.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Refusal::BadRequest => (400, "Bad Request"),
            Refusal::MethodNotAllowed => (405, "Method Not Allowed"),
            Refusal::RequestTimeout => (408, "Request Timeout"),
            Refusal::PayloadTooLarge => (413, "Payload Too Large"),
            Refusal::HeadersTooLarge => (431, "Request Header Fields Too Large"),
            Refusal::NotImplemented => (501, "Not Implemented"),
            Refusal::Unavailable => (503, "Service Unavailable"),
        }
    }

    /// The whole response: status line, `Content-Length: 0`, `Connection: close`.
    pub fn response(self) -> Vec<u8> {
        let (code, reason) = self.status();
        let allow = if self == Refusal::MethodNotAllowed {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {code} {reason}\r\nServer: lwcbench\r\n{allow}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    }
}

/// What a test path asks of a session (only with [`Config::test_paths`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/crash/abort`: crash with SIGABRT.
    Abort,
    /// `/crash/segv`: crash with SIGSEGV, as from a wild write.
    Segv,
    /// `/probe/fds`: answer with the number of descriptors open in the session's context as
    /// the counter (what a hostile session could reach).
    Fds,
    /// `/probe/touch`: try to open `TOUCH_FILE` in the working directory for writing and write
    /// to it; answer with 0 as the counter if that worked, else the errno (a monitored session
    /// must get `EPERM` and leave the file as it was).
    Touch,
}

/// A request at the front of the buffer, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Bytes of the request line and headers.
    pub head_bytes: usize,
    /// Bytes of body that follow (to be read and dropped).
    pub body_bytes: usize,
    /// HEAD: headers only.
    pub head_only: bool,
    /// The connection stays open after the response.
    pub keep_alive: bool,
    /// A test path, when they are enabled.
    pub probe: Option<Probe>,
}

/// What the front of the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request line and headers.
    Request(Request),
    /// Not all of it has arrived.
    Partial,
    /// A request the server refuses.
    Refused(Refusal),
}

fn header_is(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses the request at the front of `input`.
pub fn parse(input: &[u8], limits: &Limits, test_paths: bool) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_bytes = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > limits.max_header_bytes => {
            return Parsed::Refused(Refusal::HeadersTooLarge)
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Refused(Refusal::HeadersTooLarge),
        Err(_) => return Parsed::Refused(Refusal::BadRequest),
    };
    if head_bytes > limits.max_header_bytes {
        return Parsed::Refused(Refusal::HeadersTooLarge);
    }
    let head_only = match req.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Refused(Refusal::MethodNotAllowed),
    };
    let http11 = req.version == Some(1);
    let mut keep_alive = http11;
    let mut body_bytes = 0usize;
    let mut lengths = 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            let parsed = std::str::from_utf8(h.value)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok());
            match parsed {
                Some(n) => body_bytes = n,
                None => return Parsed::Refused(Refusal::BadRequest),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Refused(Refusal::NotImplemented);
        } else if h.name.eq_ignore_ascii_case("connection") {
            if header_is(h.value, "close") {
                keep_alive = false;
            } else if header_is(h.value, "keep-alive") {
                keep_alive = true;
            }
        }
    }
    // Two lengths are a request smuggling attempt, whatever their values.
    if lengths > 1 {
        return Parsed::Refused(Refusal::BadRequest);
    }
    if body_bytes > limits.max_body_bytes {
        return Parsed::Refused(Refusal::PayloadTooLarge);
    }
    let probe = match req.path {
        Some("/crash/abort") if test_paths => Some(Probe::Abort),
        Some("/crash/segv") if test_paths => Some(Probe::Segv),
        Some("/probe/fds") if test_paths => Some(Probe::Fds),
        Some("/probe/touch") if test_paths => Some(Probe::Touch),
        _ => None,
    };
    Parsed::Request(Request {
        head_bytes,
        body_bytes,
        head_only,
        keep_alive,
        probe,
    })
}

/// Width of the session counter at the front of every body.
pub const COUNTER_DIGITS: usize = 10;

/// The bytes of the `200` responses of one server: a fixed head and a body whose first
/// [`COUNTER_DIGITS`] bytes are the session's request count, right-aligned.
#[derive(Debug, Clone)]
pub struct Responses {
    keep_alive_head: Vec<u8>,
    close_head: Vec<u8>,
    body: Vec<u8>,
}

impl Responses {
    /// The responses for `cfg` (its body size).
    pub fn new(cfg: &Config) -> Self {
        let head = |connection: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nServer: lwcbench\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{connection}\r\n",
                cfg.body_bytes
            )
            .into_bytes()
        };
        Responses {
            keep_alive_head: head(""),
            close_head: head("Connection: close\r\n"),
            body: body_template(cfg.body_bytes),
        }
    }

    /// Appends the response to a session's `count`-th request to `out`.
    pub fn write_ok(&self, out: &mut Vec<u8>, count: u64, head_only: bool, keep_alive: bool) {
        out.extend_from_slice(if keep_alive {
            &self.keep_alive_head
        } else {
            &self.close_head
        });
        if head_only {
            return;
        }
        let at = out.len();
        out.extend_from_slice(&self.body);
        write_counter(&mut out[at..at + COUNTER_DIGITS], count);
    }
}

/// The body without its counter: spaces where the counter goes, then a space, `x`s, and a
/// newline; `len` bytes.
fn body_template(len: usize) -> Vec<u8> {
    let mut body = vec![b'x'; len];
    body[..=COUNTER_DIGITS].fill(b' ');
    body[len - 1] = b'\n';
    body
}

/// Writes `n` right-aligned in decimal into `slot`, space-padded (its low digits if too long).
fn write_counter(slot: &mut [u8], mut n: u64) {
    slot.fill(b' ');
    for b in slot.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
}

/// The body of a session's `count`-th response, as a client should see it (for tests).
pub fn expected_body(body_bytes: usize, count: u64) -> Vec<u8> {
    let mut body = body_template(body_bytes);
    write_counter(&mut body[..COUNTER_DIGITS], count);
    body
}
