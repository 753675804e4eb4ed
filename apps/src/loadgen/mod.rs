//! A load generator for the HTTP server: C connections over loopback, sessions of S requests
//! per connection (then a new connection; S = ∞ keeps it), closed loop (each connection sends
//! its next request when the last is answered) or open loop (a fixed request rate, latency
//! measured from each request's *intended* send time, so a stalled server is charged for the
//! requests it kept from being sent: coordinated omission corrected, as wrk2 does). Latencies go
//! into an HdrHistogram (ns, 3 significant digits). Every run is bounded in time and requests.
//!
//! ```text
//!   warm-up (not recorded; until every connection was answered once) ─► measured window
//!   (duration, or max_requests) ─► report
//!   closed: answered ─► send the next at once         open: connection i's k-th request is
//!   session done ─► close, connect again                    due at t0 + (i/C + k) · C/rate
//! ```
//!
//! ```no_run
//! use apps::loadgen::{Load, Pace};
//! # let addr = "127.0.0.1:8080".parse().unwrap();
//! let load = Load { connections: 128, session: Some(4), ..Load::new(addr) };
//! let report = apps::loadgen::run(&load).expect("load");
//! println!("{:.0} req/s, p99 {} ns", report.requests_per_s(), report.latency_ns.value_at_quantile(0.99));
//! ```

mod conn;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use conn::{Conn, Got};

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each connection sends its next request as soon as the last is answered.
    Closed,
    /// A fixed total rate, spread evenly over the connections.
    Open {
        /// Requests per second, all connections together.
        rate_per_s: f64,
    },
}

/// What load to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The server.
    pub addr: SocketAddr,
    /// Concurrent connections.
    pub connections: usize,
    /// Requests per connection before it is closed and a new one opened; `None`: never.
    pub session: Option<u64>,
    /// Closed or open loop.
    pub pace: Pace,
    /// Time run before anything is recorded; the window also waits until every connection has
    /// been answered once (at most [`READY_BOUND`] more).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// The measured window also ends after this many answered requests.
    pub max_requests: u64,
    /// Pin the generator's thread to this CPU.
    pub cpu: Option<usize>,
}

impl Load {
    /// One connection, closed loop, keep-alive, 1 s measured after 0.1 s of warm-up.
    pub fn new(addr: SocketAddr) -> Self {
        Load {
            addr,
            connections: 1,
            session: None,
            pace: Pace::Closed,
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(1),
            max_requests: 100_000_000,
            cpu: None,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Responses with status 200 in the measured window.
    pub requests: u64,
    /// Responses with another status, and connections that failed or closed mid-request, in
    /// the measured window.
    pub errors: u64,
    /// Connections opened in the measured window (sessions started).
    pub connects: u64,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Latency of every answered request in the window, ns (open loop: from its intended time).
    pub latency_ns: Histogram<u64>,
}

impl LoadReport {
    /// Answered requests per second of the window.
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The load asks for nothing measurable.
    #[error("bad load: {0}")]
    Bad(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Not one connection could be made.
    #[error("no connection to {0} succeeded")]
    Unreachable(SocketAddr),
}

/// Longest the measured window waits, after the warm-up, for every connection to be answered.
pub const READY_BOUND: Duration = Duration::from_secs(10);

/// The request every connection sends.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: lwcbench\r\n\r\n";

struct Gen<'a> {
    load: &'a Load,
    poll: Poll,
    conns: Vec<Option<Conn>>,
    /// Open loop: when each connection's next request is due.
    due: Vec<Instant>,
    /// Open loop: time between one connection's requests.
    interval: Option<Duration>,
    recording: bool,
    /// Connections answered at least once (the window waits for all of them).
    ready: usize,
    answered_once: Vec<bool>,
    report: LoadReport,
    ever_connected: bool,
}

/// Runs `load` against its server and returns what the measured window saw.
pub fn run(load: &Load) -> Result<LoadReport, LoadError> {
    if load.connections == 0 || load.duration.is_zero() || load.session == Some(0) {
        return Err(LoadError::Bad(format!("{load:?}")));
    }
    let os = |op| move |source| LoadError::Os { op, source };
    if let Some(cpu) = load.cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set)
            .map_err(|e| os("pin the load generator")(e.into()))?;
    }
    let interval = match load.pace {
        Pace::Closed => None,
        Pace::Open { rate_per_s } if rate_per_s > 0.0 && rate_per_s.is_finite() => Some(
            Duration::from_secs_f64(load.connections as f64 / rate_per_s),
        ),
        Pace::Open { rate_per_s } => return Err(LoadError::Bad(format!("rate {rate_per_s}"))),
    };
    let latency_ns = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .map_err(|e| LoadError::Bad(format!("histogram: {e:?}")))?;
    let start = Instant::now();
    let mut g = Gen {
        load,
        poll: Poll::new().map_err(os("epoll"))?,
        conns: Vec::with_capacity(load.connections),
        due: Vec::with_capacity(load.connections),
        interval,
        recording: false,
        ready: 0,
        answered_once: vec![false; load.connections],
        report: LoadReport {
            requests: 0,
            errors: 0,
            connects: 0,
            elapsed: Duration::ZERO,
            latency_ns,
        },
        ever_connected: false,
    };
    for i in 0..load.connections {
        g.conns.push(None);
        let offset = interval.map_or(Duration::ZERO, |iv| {
            iv.mul_f64(i as f64 / load.connections as f64)
        });
        g.due.push(start + offset);
        g.reconnect(i);
    }
    let warm_until = start + load.warmup;
    let mut measure_from = start;
    let mut measure_until = start + load.warmup + READY_BOUND + load.duration;
    let mut events = Events::with_capacity(1024);
    loop {
        let now = Instant::now();
        // The window opens after the warm-up and once every connection has been answered once
        // (a server that makes a context per connection takes its time to start them all),
        // or when that takes longer than READY_BOUND.
        let ready = g.ready == load.connections || now >= warm_until + READY_BOUND;
        if !g.recording && now >= warm_until && ready {
            g.recording = true;
            measure_from = now;
            measure_until = now + load.duration;
        }
        if now >= measure_until || g.report.requests >= load.max_requests {
            g.report.elapsed = now.saturating_duration_since(measure_from);
            break;
        }
        if g.interval.is_some() {
            g.send_due(now);
        }
        let timeout = g.next_wake(now, measure_until);
        match g.poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(os("epoll_wait")(e)),
        }
        for ev in events.iter() {
            g.event(ev.token().0, ev.is_writable());
        }
    }
    if !g.ever_connected {
        return Err(LoadError::Unreachable(load.addr));
    }
    Ok(g.report)
}

impl Gen<'_> {
    /// Opens connection `i` (again).
    fn reconnect(&mut self, i: usize) {
        if let Some(mut old) = self.conns[i].take() {
            let _ = self.poll.registry().deregister(&mut old.stream);
        }
        match Conn::connect(self.load.addr) {
            Ok(mut c) => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                if self
                    .poll
                    .registry()
                    .register(&mut c.stream, Token(i), interest)
                    .is_ok()
                {
                    self.conns[i] = Some(c);
                    if self.recording {
                        self.report.connects += 1;
                    }
                    return;
                }
                self.fail();
            }
            Err(_) => self.fail(),
        }
    }

    fn fail(&mut self) {
        if self.recording {
            self.report.errors += 1;
        }
    }

    /// How long the poll may sleep: until the next due request (open loop) or the window's end.
    fn next_wake(&self, now: Instant, until: Instant) -> Duration {
        let mut wake = until;
        if self.interval.is_some() {
            for (i, c) in self.conns.iter().enumerate() {
                if matches!(c, Some(c) if c.connected && c.in_flight.is_none()) {
                    wake = wake.min(self.due[i]);
                }
            }
        }
        wake.saturating_duration_since(now)
    }

    /// Open loop: sends every request that is due on a free connection.
    fn send_due(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let free = matches!(&self.conns[i], Some(c) if c.connected && c.in_flight.is_none());
            if free && self.due[i] <= now {
                let due = self.due[i];
                self.send(i, due);
            }
        }
    }

    fn send(&mut self, i: usize, due: Instant) {
        let Some(c) = self.conns[i].as_mut() else {
            return;
        };
        if c.send(REQUEST, due).is_err() {
            self.fail();
            self.reconnect(i);
        }
    }

    fn event(&mut self, i: usize, writable: bool) {
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if !c.connected {
            if !writable {
                return;
            }
            if !c.check_connected() {
                self.fail();
                self.reconnect(i);
                return;
            }
            self.ever_connected = true;
            if self.interval.is_none() {
                self.send(i, Instant::now());
            }
            return;
        }
        loop {
            let Some(c) = self.conns[i].as_mut() else {
                return;
            };
            match c.read() {
                Got::Nothing => return,
                Got::Closed => {
                    // A close with a request in flight is an error; after a whole session it is
                    // the server agreeing the connection is over.
                    if c.in_flight.is_some() {
                        self.fail();
                    }
                    self.reconnect(i);
                    return;
                }
                Got::Response(status) => {
                    let now = Instant::now();
                    let Some(sent) = c.in_flight.take() else {
                        self.fail();
                        self.reconnect(i);
                        return;
                    };
                    c.answered += 1;
                    if !self.answered_once[i] {
                        self.answered_once[i] = true;
                        self.ready += 1;
                    }
                    let session_over = self.load.session.is_some_and(|s| c.answered >= s);
                    if self.recording {
                        if status == 200 {
                            self.report.requests += 1;
                            let ns = now.saturating_duration_since(sent).as_nanos() as u64;
                            self.report.latency_ns.saturating_record(ns.max(1));
                        } else {
                            self.report.errors += 1;
                        }
                    }
                    if let Some(iv) = self.interval {
                        self.due[i] += iv;
                    }
                    if session_over {
                        self.reconnect(i);
                        return;
                    }
                    if self.interval.is_none() {
                        self.send(i, now);
                    }
                }
            }
        }
    }
}
