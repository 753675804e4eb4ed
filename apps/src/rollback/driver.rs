//! The driver: starts a handler in a process of its own and sends it sessions of requests over
//! the socket pair, timing each session and each return to the pristine state.
//!
//! ```text
//!   t0 ── Request ─► ◄─ Value ── … (S requests) … ── t_end ── EndSession ─► ◄─ Ready ── t1
//!   session time = t1 − t0          rollback latency = t1 − t_end (session end → ready again)
//! ```
//!
//! The driver and the handler run on the same CPU (a closed loop of one client and one
//! worker: the handler is busy whenever the driver waits, so this is its throughput at
//! saturation, with the driver's share of the CPU in it for every strategy alike). The driver
//! pins itself only after it forked the handler, so the handler keeps the caller's CPUs: an
//! `lwc-pool` group runs its factory (which makes the spare copies) on the CPUs other than the
//! handler's, where there are any.

use std::time::{Duration, Instant};

use rustix::process::Pid;
use workloads::measure::AffinityGuard;

use super::handler::{serve, HandlerConfig};
use super::process::{self, SingleThreaded};
use super::protocol::{Channel, Message, Reply};
use super::state::mix;
use super::{RollbackError, Strategy};

/// How long either side waits for the other before giving up (a 1 GiB state takes about a
/// second to build).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// What one session took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    /// From the first request sent to the handler ready again.
    pub total: Duration,
    /// From the session's end to the handler ready again.
    pub rollback: Duration,
}

/// A running handler and the driver's end of its channel. Dropping it without
/// [`Driver::quit`] kills the handler's process group.
#[derive(Debug)]
pub struct Driver {
    chan: Channel,
    handler: Option<Pid>,
    sessions: u64,
    /// The time from the fork of the handler to its first Ready (its start-up).
    pub startup: Duration,
    /// The driver's own pinning to the handler's CPU, undone when the driver is dropped.
    _pinned: AffinityGuard,
}

/// Bytes of memory a handler with this configuration may need at most: its state, plus for
/// `lwc-inplace` the pristine copy, plus a margin for the copies' page tables and the
/// sessions' writes.
pub fn memory_needed(cfg: &HandlerConfig) -> usize {
    let copies = if cfg.strategy == Strategy::LwcInPlace {
        2
    } else {
        1
    };
    cfg.state_bytes * copies + cfg.state_bytes / 4 + (256 << 20)
}

/// `MemAvailable` of /proc/meminfo, in bytes.
pub fn memory_available() -> Result<usize, RollbackError> {
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| RollbackError::os("reading /proc/meminfo", e))?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| RollbackError::Protocol("/proc/meminfo has no MemAvailable".into()))
}

impl Driver {
    /// Forks a handler configured by `cfg` and waits until it is ready for its first session.
    /// [`RollbackError::Unavailable`] when the kernel lacks the strategy or the machine lacks
    /// the memory.
    pub fn start(cfg: HandlerConfig) -> Result<Driver, RollbackError> {
        cfg.strategy.available()?;
        let (needed, available) = (memory_needed(&cfg), memory_available()?);
        if needed > available {
            return Err(RollbackError::Unavailable(format!(
                "a {} MiB state under {} needs about {} MiB; MemAvailable is {} MiB",
                cfg.state_bytes >> 20,
                cfg.strategy.name(),
                needed >> 20,
                available >> 20
            )));
        }
        let single = SingleThreaded::check()?;
        let (driver_end, handler_end) = Channel::pair(PEER_TIMEOUT)?;
        let mut driver_slot = Some(driver_end);
        let t0 = Instant::now();
        let pid = process::fork(&single, || {
            // The handler closes its copy of the driver's end, so it sees the driver leave.
            drop(driver_slot.take());
            if let Err(e) = process::own_process_group() {
                eprintln!("rollback handler: {e}");
                return 1;
            }
            match serve(&cfg, &handler_end) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("rollback handler ({}): {e}", cfg.strategy.name());
                    2
                }
            }
        })?;
        drop(handler_end);
        let chan = driver_slot.take().ok_or_else(|| {
            RollbackError::Protocol("the driver's end of the channel is gone".into())
        })?;
        let mut driver = Driver {
            chan,
            handler: Some(pid),
            sessions: 0,
            startup: Duration::ZERO,
            _pinned: AffinityGuard::pin(cfg.cpu).map_err(|e| {
                process::kill_group(pid);
                RollbackError::Died(format!("pinning the driver: {e}"))
            })?,
        };
        driver.expect_ready()?;
        driver.startup = t0.elapsed();
        Ok(driver)
    }

    fn expect_ready(&self) -> Result<(), RollbackError> {
        match self.chan.recv_reply() {
            Ok(Reply::Ready) => Ok(()),
            Ok(Reply::Value(v)) => Err(RollbackError::Protocol(format!(
                "expected Ready, got the value {v}"
            ))),
            Err(e) => Err(self.explain(e)),
        }
    }

    fn ask(&self, m: Message) -> Result<u64, RollbackError> {
        self.chan.send_message(m).map_err(|e| self.explain(e))?;
        match self.chan.recv_reply() {
            Ok(Reply::Value(v)) => Ok(v),
            Ok(Reply::Ready) => Err(RollbackError::Protocol(format!(
                "expected a value for {m:?}, got Ready"
            ))),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// A handler that went away says why: its exit status, when it has one.
    fn explain(&self, e: RollbackError) -> RollbackError {
        let Some(pid) = self.handler else { return e };
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
            Ok(Some((_, status))) => {
                RollbackError::Died(format!("{e}; the handler ended with {status:?}"))
            }
            _ => e,
        }
    }

    /// Serves one session of `requests` requests, then waits for the handler to be ready again.
    pub fn session(&mut self, requests: u32) -> Result<SessionTimes, RollbackError> {
        self.sessions += 1;
        let base = mix(self.sessions);
        let t0 = Instant::now();
        for r in 0..u64::from(requests) {
            self.ask(Message::Request {
                seed: base.wrapping_add(r),
            })?;
        }
        let end = Instant::now();
        self.end_session()?;
        let t1 = Instant::now();
        Ok(SessionTimes {
            total: t1 - t0,
            rollback: t1 - end,
        })
    }

    /// Ends the current session and waits until the handler is ready again.
    pub fn end_session(&self) -> Result<(), RollbackError> {
        self.chan
            .send_message(Message::EndSession)
            .map_err(|e| self.explain(e))?;
        self.expect_ready()
    }

    /// The handler's checksum of its whole state (heap and statics).
    pub fn checksum(&self) -> Result<u64, RollbackError> {
        self.ask(Message::Checksum)
    }

    /// Has the handler write `value` into its state (heap and statics).
    pub fn mark(&self, value: u64) -> Result<(), RollbackError> {
        self.ask(Message::Mark { value }).map(drop)
    }

    /// Where the handler sees `value`: bit 0 in its heap, bit 1 in its statics.
    pub fn peek(&self, value: u64) -> Result<u64, RollbackError> {
        self.ask(Message::Peek { value })
    }

    /// Tells the handler to leave and waits for it; an exit status other than 0 is an error.
    pub fn quit(mut self) -> Result<(), RollbackError> {
        self.chan
            .send_message(Message::Quit)
            .map_err(|e| self.explain(e))?;
        let Some(pid) = self.handler.take() else {
            return Ok(());
        };
        let code = process::wait_exit_code(pid);
        process::kill_group(pid);
        match code? {
            0 => Ok(()),
            c => Err(RollbackError::Died(format!(
                "the handler exited with status {c}"
            ))),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.handler.take() {
            process::kill_group(pid);
        }
    }
}
