//! The TLS server: one thread, a mio event loop over non-blocking connections, each a rustls
//! `ServerConnection` that completes a full handshake, reads one HTTP request and answers it
//! with the web server's small response, then closes.
//!
//! A connection that sends garbage, stalls mid-handshake or never sends its request costs
//! itself only: its handshake error closes it, an idle deadline drops it, and the number of
//! connections held at once is capped.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The body of the response (the web experiment's 45-byte document).
pub const BODY: &[u8; 45] = b"<html><body>lwcbench over TLS.</body></html>\n";
/// Largest request head read before answering.
const MAX_REQUEST: usize = 8 * 1024;
const LISTENER: Token = Token(0);

/// Limits that keep one client from costing others.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// A connection that makes no progress for this long is dropped.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            idle: Duration::from_secs(10),
        }
    }
}

/// What a run of the server saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Connections closed for a TLS error (bad input, a refused signature).
    pub tls_errors: u64,
    /// Connections dropped for idleness or over the cap.
    pub dropped: u64,
}

struct Conn {
    sock: TcpStream,
    tls: rustls::ServerConnection,
    deadline: Instant,
    request: Vec<u8>,
    handshaken: bool,
    answered: bool,
}

enum Next {
    Keep,
    Close,
}

/// A bound server.
pub struct TlsServer {
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    response: Vec<u8>,
    poll: Poll,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    stats: ServeStats,
}

impl TlsServer {
    /// Binds `addr` (port 0: any free port) with `config`.
    pub fn bind(
        addr: SocketAddr,
        config: Arc<rustls::ServerConfig>,
        limits: Limits,
    ) -> io::Result<TlsServer> {
        let mut listener = TcpListener::bind(addr)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            BODY.len()
        )
        .into_bytes();
        response.extend_from_slice(BODY);
        Ok(TlsServer {
            listener,
            config,
            limits,
            response,
            poll,
            conns: HashMap::new(),
            next_token: 1,
            stats: ServeStats::default(),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `limit` has passed (forever with `None`); returns what it saw.
    pub fn run_for(&mut self, limit: Option<Duration>) -> io::Result<ServeStats> {
        let end = limit.map(|l| Instant::now() + l);
        let mut events = Events::with_capacity(256);
        while end.is_none_or(|e| Instant::now() < e) {
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(100)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                if ev.token() == LISTENER {
                    self.accept()?;
                } else {
                    self.serve(ev.token());
                }
            }
            self.expire();
        }
        Ok(self.stats)
    }

    fn accept(&mut self) -> io::Result<()> {
        loop {
            let (mut sock, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors, a connection reset before accept: that client's loss.
                Err(_) => return Ok(()),
            };
            self.stats.accepted += 1;
            if self.conns.len() >= self.limits.max_connections {
                self.stats.dropped += 1;
                continue;
            }
            let Ok(tls) = rustls::ServerConnection::new(self.config.clone()) else {
                self.stats.tls_errors += 1;
                continue;
            };
            let token = Token(self.next_token);
            self.next_token += 1;
            if self
                .poll
                .registry()
                .register(&mut sock, token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let _ = sock.set_nodelay(true);
            self.conns.insert(
                token,
                Conn {
                    sock,
                    tls,
                    deadline: Instant::now() + self.limits.idle,
                    request: Vec::new(),
                    handshaken: false,
                    answered: false,
                },
            );
        }
    }

    fn serve(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        conn.deadline = Instant::now() + self.limits.idle;
        let next = conn.progress(&self.response, &mut self.stats);
        let keep = matches!(next, Next::Keep) && {
            let interest = if conn.tls.wants_write() {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            self.poll
                .registry()
                .reregister(&mut conn.sock, token, interest)
                .is_ok()
        };
        if !keep {
            self.close(token);
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(mut conn) = self.conns.remove(&token) {
            let _ = self.poll.registry().deregister(&mut conn.sock);
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        self.stats.dropped += late.len() as u64;
        for t in late {
            self.close(t);
        }
    }
}

impl Conn {
    /// Reads what arrived, advances the handshake, answers a complete request, writes what is
    /// pending.
    fn progress(&mut self, response: &[u8], stats: &mut ServeStats) -> Next {
        let mut eof = false;
        loop {
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {
                    if self.tls.process_new_packets().is_err() {
                        stats.tls_errors += 1;
                        // Send the alert rustls queued, then give up on this client.
                        let _ = self.flush();
                        return Next::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Next::Close,
            }
        }
        if !self.handshaken && !self.tls.is_handshaking() {
            self.handshaken = true;
            stats.handshakes += 1;
        }
        if self.handshaken && !self.answered {
            let mut buf = [0u8; 2048];
            loop {
                match self.tls.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if self.request.len() + n > MAX_REQUEST {
                            return Next::Close;
                        }
                        self.request.extend_from_slice(&buf[..n]);
                    }
                    Err(_) => break,
                }
            }
            if self.request.windows(4).any(|w| w == b"\r\n\r\n") {
                if self.tls.writer().write_all(response).is_err() {
                    return Next::Close;
                }
                self.tls.send_close_notify();
                self.answered = true;
            }
        }
        match self.flush() {
            Err(_) => Next::Close,
            Ok(()) if eof => Next::Close,
            Ok(()) if self.answered && !self.tls.wants_write() => {
                // Everything is sent: end our half and wait for the client's end, so closing
                // with its close_notify unread does not reset the connection under it.
                let _ = self.sock.shutdown(std::net::Shutdown::Write);
                Next::Keep
            }
            Ok(()) => Next::Keep,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
