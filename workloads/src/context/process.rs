//! K processes pass control around a ring: over a ring of pipes, or with futex words on a
//! shared page.

use std::os::fd::OwnedFd;

use rustix::process::{Pid, Signal};
use rustix::thread::futex::Flags;

use super::futex;
use super::{Backend, Ring, Touch, WorkingSet};
use crate::experiment::{os, MeasureError};
use crate::measure::pin_current_thread;
use crate::sys;

/// Prepares a freshly forked partner: dies with its parent, pinned to `cpu`.
/// Returns an exit code on failure (these codes are never read: a partner that fails stops
/// the ring, and the measuring party reports that).
pub(super) fn partner_setup(cpu: usize) -> Result<(), i32> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(|_| 10)?;
    pin_current_thread(cpu).map_err(|_| 11)
}

/// Reaps the partners. Their exit status is not checked: a ring is dropped after the timing,
/// and a drop has nowhere to report a failure.
pub(super) fn reap(pids: &mut Vec<Pid>) {
    for pid in pids.drain(..) {
        let _ = sys::wait_exit_code(pid);
    }
}

/// `process-pipe`: K processes, one byte around a ring of pipes (lmbench `lat_ctx`).
#[derive(Debug, Clone, Copy)]
pub struct ProcessPipe;

/// The byte that tells a pipe partner to pass it on and exit (laps send 1).
const STOP_BYTE: u8 = 0;

struct PipeRing {
    /// Party 0's write end (to party 1).
    to_next: Option<OwnedFd>,
    /// Party 0's read end (from party K-1).
    from_last: OwnedFd,
    partners: Vec<Pid>,
    k: u64,
}

/// Reads one byte; `None` on EOF.
fn read_byte(fd: &OwnedFd, what: &'static str) -> Result<Option<u8>, MeasureError> {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(fd, &mut byte) {
            Ok(1) => return Ok(Some(byte[0])),
            Ok(_) => return Ok(None),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(os(what, e)),
        }
    }
}

impl Backend for ProcessPipe {
    fn name(&self) -> &'static str {
        "process-pipe"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        let k = cpus.len();
        // Pipe i carries control from party i to party i + 1 (mod K).
        let mut pipes = Vec::with_capacity(k);
        for _ in 0..k {
            pipes.push(rustix::pipe::pipe().map_err(|e| os("pipe", e))?);
        }
        let mut partners = Vec::with_capacity(k - 1);
        for (i, &cpu) in cpus.iter().enumerate().skip(1) {
            // Every partner keeps copies of all the ends (it cannot close the others'), so it
            // stops on a STOP_BYTE (passed on first), on EOF, or with its parent (PDEATHSIG).
            let (from, to) = (&pipes[i - 1].0, &pipes[i].1);
            let forked = sys::fork_with(|| {
                if let Err(code) = partner_setup(cpu) {
                    return code;
                }
                loop {
                    let byte = match read_byte(from, "read") {
                        Ok(Some(b)) => b,
                        Ok(None) => return 0,
                        Err(_) => return 12,
                    };
                    if rustix::io::write(to, &[byte]).is_err() {
                        return 13;
                    }
                    if byte == STOP_BYTE {
                        return 0;
                    }
                }
            });
            match forked {
                Ok(pid) => partners.push(pid),
                Err(e) => {
                    // The partners forked so far stop on EOF once the ends are dropped.
                    drop(pipes);
                    reap(&mut partners);
                    return Err(os("fork (process-pipe partner)", e));
                }
            }
        }
        let mut pipes = pipes.into_iter();
        let (_, to_next) = pipes
            .next()
            .ok_or_else(|| MeasureError::BadPoint("no pipe".into()))?;
        let (from_last, _) = pipes
            .last()
            .ok_or_else(|| MeasureError::BadPoint("no pipe".into()))?;
        Ok(Box::new(PipeRing {
            to_next: Some(to_next),
            from_last,
            partners,
            k: k as u64,
        }))
    }
}

impl Ring for PipeRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        let to = self
            .to_next
            .as_ref()
            .ok_or_else(|| MeasureError::BadPoint("ring closed".into()))?;
        for _ in 0..n {
            rustix::io::write(to, &[1u8]).map_err(|e| os("write (process-pipe)", e))?;
            if read_byte(&self.from_last, "read (process-pipe)")?.is_none() {
                return Err(os(
                    "read (process-pipe)",
                    std::io::Error::other("a partner closed the pipe"),
                ));
            }
        }
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        self.k
    }
}

impl Drop for PipeRing {
    fn drop(&mut self) {
        if let Some(to) = self.to_next.take() {
            let _ = rustix::io::write(&to, &[STOP_BYTE]);
        }
        reap(&mut self.partners);
    }
}

/// `process-futex`: K processes hand off through a futex word on a `MAP_SHARED` page
/// (no data copied, nothing but the wake-up and the address-space switch).
#[derive(Debug, Clone, Copy)]
pub struct ProcessFutex;

struct FutexRing {
    page: sys::SharedPage,
    k: u32,
    partners: Vec<Pid>,
}

impl FutexRing {
    /// The turn word (the page's first).
    fn turn(&self) -> &std::sync::atomic::AtomicU32 {
        &self.page.words()[0]
    }
}

impl Backend for ProcessFutex {
    fn name(&self) -> &'static str {
        "process-futex"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        self.open_touching(cpus, Touch::NONE)
    }

    /// Each partner process maps its own working set after the fork (K address spaces).
    fn open_touching(&self, cpus: &[usize], touch: Touch) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        let page = sys::SharedPage::new().map_err(|e| os("mmap (shared page)", e))?;
        let k = u32::try_from(cpus.len())
            .map_err(|_| MeasureError::BadPoint("too many parties".into()))?;
        // A fresh page is zero: party 0's turn.
        let mut ring = FutexRing {
            page,
            k,
            partners: Vec::with_capacity(cpus.len() - 1),
        };
        for (i, &cpu) in (1..k).zip(&cpus[1..]) {
            let turn = ring.turn();
            let pid = sys::fork_with(|| {
                if let Err(code) = partner_setup(cpu) {
                    return code;
                }
                let Ok(mut set) = WorkingSet::new(touch) else {
                    futex::fail_at_turn(turn, i, Flags::empty());
                    return 13;
                };
                match futex::serve_touching(turn, i, k, Flags::empty(), || set.touch()) {
                    Ok(()) => 0,
                    Err(_) => 12,
                }
            })
            // Dropping `ring` stops and reaps the partners forked so far.
            .map_err(|e| os("fork (process-futex partner)", e))?;
            ring.partners.push(pid);
        }
        Ok(Box::new(ring))
    }
}

impl Ring for FutexRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        futex::laps(self.turn(), Flags::empty(), n)
    }

    fn switches_per_lap(&self) -> u64 {
        u64::from(self.k)
    }
}

impl Drop for FutexRing {
    fn drop(&mut self) {
        futex::stop(self.turn(), Flags::empty());
        reap(&mut self.partners);
    }
}
