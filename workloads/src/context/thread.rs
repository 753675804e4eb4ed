//! K kernel threads of one process pass control around a ring: a futex word, or one mutex with a
//! condition variable per party.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rustix::thread::futex::Flags;

use super::futex;
use super::{Backend, Ring, Touch, WorkingSet};
use crate::experiment::{os, MeasureError};
use crate::measure::pin_current_thread;

type Partner = JoinHandle<Result<(), MeasureError>>;

fn join(partners: &mut Vec<Partner>) {
    for h in partners.drain(..) {
        let _ = h.join();
    }
}

fn spawn_partner(
    name: &str,
    cpu: usize,
    body: impl FnOnce() -> Result<(), MeasureError> + Send + 'static,
) -> Result<Partner, MeasureError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            pin_current_thread(cpu)?;
            body()
        })
        .map_err(|e| os("spawn partner thread", e))
}

/// `thread-futex`: K threads hand off through a private futex word.
#[derive(Debug, Clone, Copy)]
pub struct ThreadFutex;

struct FutexRing {
    turn: Arc<AtomicU32>,
    k: u32,
    partners: Vec<Partner>,
}

impl Backend for ThreadFutex {
    fn name(&self) -> &'static str {
        "thread-futex"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        self.open_touching(cpus, Touch::NONE)
    }

    /// Each partner thread maps its own working set (one address space, K private sets).
    fn open_touching(&self, cpus: &[usize], touch: Touch) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        let k = u32::try_from(cpus.len())
            .map_err(|_| MeasureError::BadPoint("too many parties".into()))?;
        // Dropping `ring` on an error stops and joins the partners started so far.
        let mut ring = FutexRing {
            turn: Arc::new(AtomicU32::new(0)),
            k,
            partners: Vec::with_capacity(cpus.len() - 1),
        };
        for (i, &cpu) in (1..k).zip(&cpus[1..]) {
            let turn = Arc::clone(&ring.turn);
            let partner = spawn_partner("thread-futex", cpu, move || {
                let mut set = WorkingSet::new(touch).inspect_err(|_| {
                    futex::fail_at_turn(&turn, i, Flags::PRIVATE);
                })?;
                futex::serve_touching(&turn, i, k, Flags::PRIVATE, || set.touch())
            })?;
            ring.partners.push(partner);
        }
        Ok(Box::new(ring))
    }
}

impl Ring for FutexRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        futex::laps(&self.turn, Flags::PRIVATE, n)
    }

    fn switches_per_lap(&self) -> u64 {
        u64::from(self.k)
    }
}

impl Drop for FutexRing {
    fn drop(&mut self) {
        futex::stop(&self.turn, Flags::PRIVATE);
        join(&mut self.partners);
    }
}

/// `thread-condvar`: K threads hand off through one `std::sync::Mutex` and a `Condvar` per
/// party.
#[derive(Debug, Clone, Copy)]
pub struct ThreadCondvar;

/// Whose turn it is, or that every partner must return.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    Party(usize),
    Stop,
}

struct Shared {
    turn: Mutex<Turn>,
    wake: Vec<Condvar>,
}

struct CondvarRing {
    shared: Arc<Shared>,
    partners: Vec<Partner>,
}

fn poisoned() -> MeasureError {
    os("mutex", std::io::Error::other("poisoned by a panic"))
}

impl Shared {
    /// Party `i`'s side: waits for its turn and hands it to the next party, until told to stop.
    fn serve(&self, i: usize) -> Result<(), MeasureError> {
        let next = (i + 1) % self.wake.len();
        let mut turn = self.turn.lock().map_err(|_| poisoned())?;
        loop {
            while *turn != Turn::Party(i) && *turn != Turn::Stop {
                turn = self.wake[i].wait(turn).map_err(|_| poisoned())?;
            }
            if *turn == Turn::Stop {
                return Ok(());
            }
            *turn = Turn::Party(next);
            self.wake[next].notify_one();
        }
    }
}

impl Backend for ThreadCondvar {
    fn name(&self) -> &'static str {
        "thread-condvar"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        let shared = Arc::new(Shared {
            turn: Mutex::new(Turn::Party(0)),
            wake: cpus.iter().map(|_| Condvar::new()).collect(),
        });
        let mut ring = CondvarRing {
            shared,
            partners: Vec::with_capacity(cpus.len() - 1),
        };
        for (i, &cpu) in cpus.iter().enumerate().skip(1) {
            let s = Arc::clone(&ring.shared);
            let partner = spawn_partner("thread-condvar", cpu, move || s.serve(i))?;
            ring.partners.push(partner);
        }
        Ok(Box::new(ring))
    }
}

impl Ring for CondvarRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        let s = &*self.shared;
        let mut turn = s.turn.lock().map_err(|_| poisoned())?;
        for _ in 0..n {
            *turn = Turn::Party(1);
            s.wake[1].notify_one();
            while *turn != Turn::Party(0) {
                turn = s.wake[0].wait(turn).map_err(|_| poisoned())?;
            }
        }
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        self.shared.wake.len() as u64
    }
}

impl Drop for CondvarRing {
    fn drop(&mut self) {
        let s = &*self.shared;
        if let Ok(mut turn) = s.turn.lock() {
            *turn = Turn::Stop;
            for cv in &s.wake[1..] {
                cv.notify_one();
            }
        }
        join(&mut self.partners);
    }
}
