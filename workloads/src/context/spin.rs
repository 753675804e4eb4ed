//! `process-spin`: K processes, each on a CPU of its own, pass control around a ring by busy
//! waiting on cache lines of a `MAP_SHARED` page: the raw cross-core hand-off that `lwc-spin`
//! is compared with.
//!
//! ```text
//!   page:  line 0 │ line 1 │ … │ line K-1      (64 bytes each; party i spins on line i)
//!   party i:  spin until line i ≠ last seen ─► last := it ─► line i+1 (mod K) := it
//!   party 0:  line 1 := lap ─► spin until line 0 = lap
//! ```
//!
//! Each line has one writer (the party before its owner) and one reader (its owner), so a hop
//! moves exactly one cache line between two cores: the poster takes it for writing, the owner's
//! next read brings it back. No fence, no system call, nothing else is shared.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::process::Pid;

use super::{Backend, Ring};
use crate::experiment::{os, MeasureError};
use crate::sys;

/// `process-spin`: K processes on distinct CPUs, spinning on one cache line each.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSpin;

/// 32-bit words per 64-byte cache line.
const WORDS_PER_LINE: usize = 64 / std::mem::size_of::<AtomicU32>();
/// The value that makes every partner pass it on and return (laps count up from 1).
const STOP: u32 = u32::MAX;
/// How long party 0 spins for one lap before it takes a partner for dead.
const LAP_LIMIT: Duration = Duration::from_secs(10);

struct SpinRing {
    page: sys::SharedPage,
    k: usize,
    /// Laps sent so far (the value the last line carries back).
    lap: u32,
    partners: Vec<Pid>,
    /// A lap never came back: some partner stopped, so STOP may not travel the ring.
    broken: bool,
}

/// Party `i`'s line in `page`.
fn line(page: &sys::SharedPage, i: usize) -> &AtomicU32 {
    &page.words()[i * WORDS_PER_LINE]
}

/// Spins while `word` holds `seen`; returns the new value.
fn spin_past(word: &AtomicU32, seen: u32) -> u32 {
    loop {
        let v = word.load(Ordering::Acquire);
        if v != seen {
            return v;
        }
        std::hint::spin_loop();
    }
}

/// Party `i`'s side (1 ≤ i < K): passes every lap on to party `i + 1` (mod K) until STOP.
fn serve(page: &sys::SharedPage, i: usize, k: usize) {
    let (mine, next) = (line(page, i), line(page, (i + 1) % k));
    let mut seen = 0;
    loop {
        seen = spin_past(mine, seen);
        if seen == STOP {
            return;
        }
        next.store(seen, Ordering::Release);
    }
}

/// The distinct CPUs a spinning ring needs: one per party.
fn check_distinct(cpus: &[usize]) -> Result<(), MeasureError> {
    let mut seen: Vec<usize> = Vec::with_capacity(cpus.len());
    for &c in cpus {
        if seen.contains(&c) {
            return Err(MeasureError::Unavailable(
                "a spinning hand-off needs every party on a CPU of its own".into(),
            ));
        }
        seen.push(c);
    }
    Ok(())
}

impl Backend for ProcessSpin {
    fn name(&self) -> &'static str {
        "process-spin"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        check_distinct(cpus)?;
        let page = sys::SharedPage::new().map_err(|e| os("mmap (shared page)", e))?;
        let k = cpus.len();
        if k * WORDS_PER_LINE > page.words().len() {
            return Err(MeasureError::BadPoint(format!(
                "{k} parties do not fit one line each on a page"
            )));
        }
        // Dropping `ring` on an error stops and reaps the partners forked so far.
        let mut ring = SpinRing {
            page,
            k,
            lap: 0,
            partners: Vec::with_capacity(k - 1),
            broken: false,
        };
        for (i, &cpu) in cpus.iter().enumerate().skip(1) {
            let page = &ring.page;
            let pid = sys::fork_with(|| {
                if let Err(code) = super::process::partner_setup(cpu) {
                    return code;
                }
                serve(page, i, k);
                0
            })
            .map_err(|e| os("fork (process-spin partner)", e))?;
            ring.partners.push(pid);
        }
        Ok(Box::new(ring))
    }
}

impl Ring for SpinRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        let (first, mine) = (line(&self.page, 1), line(&self.page, 0));
        for _ in 0..n {
            // Laps wrap below STOP.
            self.lap = if self.lap >= STOP - 1 {
                1
            } else {
                self.lap + 1
            };
            first.store(self.lap, Ordering::Release);
            let start = Instant::now();
            let mut spins = 0u32;
            while mine.load(Ordering::Acquire) != self.lap {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(1 << 20) && start.elapsed() > LAP_LIMIT {
                    self.broken = true;
                    return Err(os(
                        "spin (process-spin)",
                        std::io::Error::other("a partner stopped passing the turn"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        self.k as u64
    }
}

impl Drop for SpinRing {
    fn drop(&mut self) {
        // Between laps every partner spins on its own line, which only this store writes now:
        // each sees STOP and returns. A broken ring may have a partner that never will.
        for i in 1..self.k {
            line(&self.page, i).store(STOP, Ordering::Release);
        }
        if self.broken {
            for &pid in &self.partners {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        super::process::reap(&mut self.partners);
    }
}
