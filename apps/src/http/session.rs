//! One connection's session: its buffers, its per-session state (a request counter that every
//! response renders), and the loop that reads requests, answers them in order and writes.
//!
//! The same code runs in every isolation mode: on the worker's event loop (`none`), inside a
//! session lwC (`lwc`, `lwc-pool`), in a process or a thread of its own (`process`, `thread`).
//! [`Session::drive`] works on a non-blocking stream (it returns when the stream would block)
//! and on a blocking one with a read time-out (a time-out is its "would block").

use std::io::{ErrorKind, Read, Write};

use super::config::{Config, TOUCH_FILE};
use super::protocol::{self, Parsed, Probe, Refusal, Responses};

/// Output a session buffers before it stops reading until the client takes some.
const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// Where a session stands after [`Session::drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The stream would block; the session goes on when it is ready again.
    Blocked {
        /// Part of a request has arrived (the request time-out runs, not the idle one).
        partial: bool,
        /// Output is waiting for the client to read: wake the session when it can be written.
        want_write: bool,
    },
    /// The connection is over (closed by the client, by an error, or after `Connection:
    /// close`); drop it.
    Closed,
}

/// A connection's session.
#[derive(Debug)]
pub struct Session {
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// Body bytes of the current request still to be read and dropped.
    body_left: usize,
    /// Requests answered with 200 (the per-session state every response shows).
    requests: u64,
    /// No more requests are read; the connection closes once the output is written.
    closing: bool,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A fresh session (counter 0).
    pub fn new() -> Self {
        Session {
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            body_left: 0,
            requests: 0,
            closing: false,
        }
    }

    /// Requests this session answered with 200.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Reads, answers and writes until the stream would block or the connection is over.
    pub fn drive<S: Read + Write>(
        &mut self,
        stream: &mut S,
        cfg: &Config,
        responses: &Responses,
    ) -> Progress {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.flush(stream) {
                Err(()) => return Progress::Closed,
                Ok(()) if self.closing && self.output.is_empty() => return Progress::Closed,
                Ok(()) if self.closing || self.output.len() >= OUTPUT_HIGH_WATER => {
                    return self.blocked()
                }
                Ok(()) => {}
            }
            match stream.read(&mut chunk) {
                Ok(0) => {
                    // The client closed its side: answer nothing more (what it sent whole was
                    // answered already), finish writing if we can.
                    self.closing = true;
                    let _ = self.flush(stream);
                    return Progress::Closed;
                }
                Ok(n) => {
                    self.take_body(&chunk[..n]);
                    self.answer(cfg, responses);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    // Write what the reads produced before waiting.
                    if self.flush(stream).is_err() {
                        return Progress::Closed;
                    }
                    return self.blocked();
                }
                Err(_) => return Progress::Closed,
            }
        }
    }

    /// The request time-out struck: a session holding part of a request answers `408`; either
    /// way the connection is over.
    pub fn expire<S: Write>(&mut self, stream: &mut S) {
        if self.partial() {
            self.output
                .extend_from_slice(&Refusal::RequestTimeout.response());
        }
        self.closing = true;
        let _ = self.flush(stream);
    }

    fn blocked(&self) -> Progress {
        Progress::Blocked {
            partial: self.partial(),
            want_write: !self.output.is_empty(),
        }
    }

    fn partial(&self) -> bool {
        !self.closing && (!self.input.is_empty() || self.body_left > 0)
    }

    /// Drops the body bytes of the current request at the front of `data`, keeps the rest.
    fn take_body(&mut self, data: &[u8]) {
        let skip = self.body_left.min(data.len());
        self.body_left -= skip;
        if !self.closing {
            self.input.extend_from_slice(&data[skip..]);
        }
    }

    /// Answers every whole request in the input, in order.
    fn answer(&mut self, cfg: &Config, responses: &Responses) {
        let mut at = 0;
        while !self.closing && self.body_left == 0 && at < self.input.len() {
            match protocol::parse(&self.input[at..], &cfg.limits, cfg.test_paths) {
                Parsed::Partial => break,
                Parsed::Refused(r) => {
                    self.output.extend_from_slice(&r.response());
                    self.closing = true;
                }
                Parsed::Request(req) => {
                    self.requests += 1;
                    let shown = match req.probe {
                        None => self.requests,
                        Some(Probe::Fds) => open_fds(),
                        Some(Probe::Touch) => touch(),
                        Some(crash) => crash_now(crash),
                    };
                    responses.write_ok(&mut self.output, shown, req.head_only, req.keep_alive);
                    at += req.head_bytes;
                    let body_here = req.body_bytes.min(self.input.len() - at);
                    at += body_here;
                    self.body_left = req.body_bytes - body_here;
                    if !req.keep_alive {
                        self.closing = true;
                    }
                }
            }
        }
        if self.closing {
            self.input.clear();
        } else {
            self.input.drain(..at);
        }
    }

    /// Writes buffered output until done or the stream would block; `Err` when the stream failed.
    fn flush<S: Write>(&mut self, stream: &mut S) -> Result<(), ()> {
        while self.written < self.output.len() {
            match stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return Err(()),
            }
        }
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
        } else if self.written > OUTPUT_HIGH_WATER {
            self.output.drain(..self.written);
            self.written = 0;
        }
        Ok(())
    }
}

/// Descriptors open in the calling process.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// Opens [`TOUCH_FILE`] for writing (truncating it) and writes to it: 0 if both worked, else
/// the errno.
fn touch() -> u64 {
    use rustix::fs::{Mode, OFlags};
    let written = rustix::fs::open(
        TOUCH_FILE,
        OFlags::WRONLY | OFlags::TRUNC | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd| rustix::io::write(&fd, b"touched\n"));
    match written {
        Ok(_) => 0,
        Err(e) => e.raw_os_error() as u64,
    }
}

/// Crashes the calling process as a test asked (the session's isolation decides what else dies).
fn crash_now(crash: Probe) -> ! {
    match crash {
        Probe::Abort | Probe::Fds | Probe::Touch => std::process::abort(),
        Probe::Segv => {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::SEGV,
            );
            // The signal is delivered before kill returns to a single-threaded process; if it
            // was blocked, abort instead.
            std::process::abort()
        }
    }
}
