//! Two processes ping-pong: over a pipe pair, with a futex on a shared page, or spinning on a
//! shared word from two cores.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

use rustix::process::{Pid, Signal};
use rustix::thread::futex::Flags;

use super::futex::{self, MAIN_TURN, PARTNER_TURN, STOP};
use super::{Backend, PingPong};
use crate::experiment::{os, MeasureError};
use crate::measure::{pin_current_thread, Placement};
use crate::sys;

/// Prepares a freshly forked partner: dies with its parent, pinned to `cpu`.
/// Returns an exit code on failure.
fn partner_setup(cpu: usize) -> Result<(), i32> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(|_| 10)?;
    pin_current_thread(cpu).map_err(|_| 11)
}

/// Reaps the partner. Its exit status is not checked: a session is dropped after the timing,
/// and a drop has nowhere to report a failure.
fn reap(pid: Pid) {
    let _ = sys::wait_exit_code(pid);
}

/// `process-pipe`: two processes, one byte each way over a pipe pair (lmbench `lat_ctx`).
#[derive(Debug, Clone, Copy)]
pub struct ProcessPipe;

/// The byte that tells the pipe partner to exit (round trips send 1).
const STOP_BYTE: u8 = 0;

struct PipeSession {
    to_partner: Option<OwnedFd>,
    from_partner: OwnedFd,
    partner: Option<Pid>,
}

impl Backend for ProcessPipe {
    fn name(&self) -> &'static str {
        "process-pipe"
    }

    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        let (p2c_r, p2c_w) = rustix::pipe::pipe().map_err(|e| os("pipe", e))?;
        let (c2p_r, c2p_w) = rustix::pipe::pipe().map_err(|e| os("pipe", e))?;
        // The partner keeps copies of all four ends (it cannot close the parent's), so it stops on
        // a STOP_BYTE, on EOF, or with its parent (PDEATHSIG).
        let partner = sys::fork_with(|| {
            if let Err(code) = partner_setup(cpus.1) {
                return code;
            }
            let mut byte = [0u8; 1];
            loop {
                match rustix::io::read(&p2c_r, &mut byte) {
                    Ok(0) => return 0,
                    Ok(_) if byte[0] == STOP_BYTE => return 0,
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return 12,
                }
                if rustix::io::write(&c2p_w, &byte).is_err() {
                    return 13;
                }
            }
        })
        .map_err(|e| os("fork (process-pipe partner)", e))?;
        Ok(Box::new(PipeSession {
            to_partner: Some(p2c_w),
            from_partner: c2p_r,
            partner: Some(partner),
        }))
    }
}

impl PingPong for PipeSession {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        let to = self
            .to_partner
            .as_ref()
            .ok_or_else(|| MeasureError::BadPoint("session closed".into()))?;
        let mut byte = [1u8; 1];
        for _ in 0..n {
            rustix::io::write(to, &byte).map_err(|e| os("write (process-pipe)", e))?;
            loop {
                match rustix::io::read(&self.from_partner, &mut byte) {
                    Ok(1) => break,
                    Ok(_) => {
                        return Err(os(
                            "read (process-pipe)",
                            std::io::Error::other("partner closed the pipe"),
                        ))
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(os("read (process-pipe)", e)),
                }
            }
        }
        Ok(())
    }
}

impl Drop for PipeSession {
    fn drop(&mut self) {
        if let Some(to) = self.to_partner.take() {
            let _ = rustix::io::write(&to, &[STOP_BYTE]);
        }
        if let Some(pid) = self.partner.take() {
            reap(pid);
        }
    }
}

/// `process-futex`: two processes hand off through a futex word on a `MAP_SHARED` page
/// (no data copied, nothing but the wake-up and the address-space switch).
#[derive(Debug, Clone, Copy)]
pub struct ProcessFutex;

struct FutexSession {
    page: sys::SharedPage,
    partner: Option<Pid>,
}

impl Backend for ProcessFutex {
    fn name(&self) -> &'static str {
        "process-futex"
    }

    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        let page = sys::SharedPage::new().map_err(|e| os("mmap (shared page)", e))?;
        page.word().store(MAIN_TURN, Ordering::SeqCst);
        let word = page.word();
        let partner = sys::fork_with(|| {
            if let Err(code) = partner_setup(cpus.1) {
                return code;
            }
            match futex::serve(word, Flags::empty()) {
                Ok(()) => 0,
                Err(_) => 12,
            }
        })
        .map_err(|e| os("fork (process-futex partner)", e))?;
        Ok(Box::new(FutexSession {
            page,
            partner: Some(partner),
        }))
    }
}

impl PingPong for FutexSession {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        futex::round_trips(self.page.word(), Flags::empty(), n)
    }
}

impl Drop for FutexSession {
    fn drop(&mut self) {
        futex::stop(self.page.word(), Flags::empty());
        if let Some(pid) = self.partner.take() {
            reap(pid);
        }
    }
}

/// `process-spin`: two processes on two cores, each spinning on one word of a `MAP_SHARED` page
/// until the other hands it the turn (no system call: a hop moves that one cache line). The
/// floor of `lwc-spin`.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSpin;

struct SpinSession {
    page: sys::SharedPage,
    partner: Option<Pid>,
}

impl Backend for ProcessSpin {
    fn name(&self) -> &'static str {
        "process-spin"
    }

    fn placements(&self) -> &'static [Placement] {
        &[Placement::TwoCores]
    }

    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        if cpus.0 == cpus.1 {
            return Err(MeasureError::Unavailable(
                "a spinning hand-off needs the parties on two CPUs".into(),
            ));
        }
        let page = sys::SharedPage::new().map_err(|e| os("mmap (shared page)", e))?;
        page.word().store(MAIN_TURN, Ordering::SeqCst);
        let word = page.word();
        let partner = sys::fork_with(|| {
            if let Err(code) = partner_setup(cpus.1) {
                return code;
            }
            loop {
                match word.load(Ordering::Acquire) {
                    PARTNER_TURN => word.store(MAIN_TURN, Ordering::Release),
                    STOP => return 0,
                    _ => std::hint::spin_loop(),
                }
            }
        })
        .map_err(|e| os("fork (process-spin partner)", e))?;
        Ok(Box::new(SpinSession {
            page,
            partner: Some(partner),
        }))
    }
}

impl PingPong for SpinSession {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        let word = self.page.word();
        for _ in 0..n {
            word.store(PARTNER_TURN, Ordering::Release);
            while word.load(Ordering::Acquire) != MAIN_TURN {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }
}

impl Drop for SpinSession {
    fn drop(&mut self) {
        self.page.word().store(STOP, Ordering::Release);
        if let Some(pid) = self.partner.take() {
            reap(pid);
        }
    }
}
