//! One client connection of the load generator: connect, send a request, read its response
//! (status and Content-Length body), count its session's requests.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

/// Most headers a response may have.
const MAX_HEADERS: usize = 32;

/// What reading a connection gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    /// Nothing whole yet.
    Nothing,
    /// A whole response with this status.
    Response(u16),
    /// The server closed the connection (or it failed).
    Closed,
}

/// A client connection.
pub(crate) struct Conn {
    pub stream: TcpStream,
    /// The connect completed (a writable event came).
    pub connected: bool,
    /// When the request in flight was due (open loop) or sent (closed loop).
    pub in_flight: Option<Instant>,
    /// Requests answered in this connection's current session.
    pub answered: u64,
    buf: Vec<u8>,
}

impl Conn {
    /// Starts a non-blocking connect.
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            connected: false,
            in_flight: None,
            answered: 0,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Whether the connect finished well (call on the first writable event).
    pub fn check_connected(&mut self) -> bool {
        if self.connected {
            return true;
        }
        match (self.stream.take_error(), self.stream.peer_addr()) {
            (Ok(None), Ok(_)) => {
                self.connected = true;
                true
            }
            _ => false,
        }
    }

    /// Sends `request` whole (it is small: a short write is a failure).
    pub fn send(&mut self, request: &[u8], due: Instant) -> io::Result<()> {
        let n = (&self.stream).write(request)?;
        if n != request.len() {
            return Err(io::Error::new(
                ErrorKind::WriteZero,
                "short write of a request",
            ));
        }
        self.in_flight = Some(due);
        Ok(())
    }

    /// Reads what has arrived and takes one whole response off the front, if there is one.
    pub fn read(&mut self) -> Got {
        if let Some(r) = self.take_response() {
            return r;
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match (&self.stream).read(&mut chunk) {
                Ok(0) => return Got::Closed,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if let Some(r) = self.take_response() {
                        return r;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Got::Nothing,
                Err(_) => return Got::Closed,
            }
        }
    }

    fn take_response(&mut self) -> Option<Got> {
        if self.buf.is_empty() {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return None,
            Err(_) => return Some(Got::Closed),
        };
        let status = resp.code.unwrap_or(0);
        let len = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if self.buf.len() < head + len {
            return None;
        }
        self.buf.drain(..head + len);
        Some(Got::Response(status))
    }
}
