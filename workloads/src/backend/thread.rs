//! Two kernel threads of one process ping-pong: futex or mutex + condition variable.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rustix::thread::futex::Flags;

use super::futex::{self, MAIN_TURN, PARTNER_TURN, STOP};
use super::{Backend, PingPong};
use crate::experiment::{os, MeasureError};
use crate::measure::pin_current_thread;

fn join(handle: Option<JoinHandle<Result<(), MeasureError>>>) {
    if let Some(h) = handle {
        let _ = h.join();
    }
}

fn spawn_partner(
    name: &str,
    cpu: usize,
    body: impl FnOnce() -> Result<(), MeasureError> + Send + 'static,
) -> Result<JoinHandle<Result<(), MeasureError>>, MeasureError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            pin_current_thread(cpu)?;
            body()
        })
        .map_err(|e| os("spawn partner thread", e))
}

/// `thread-futex`: two threads hand off through a private futex word.
#[derive(Debug, Clone, Copy)]
pub struct ThreadFutex;

struct FutexSession {
    word: Arc<AtomicU32>,
    partner: Option<JoinHandle<Result<(), MeasureError>>>,
}

impl Backend for ThreadFutex {
    fn name(&self) -> &'static str {
        "thread-futex"
    }

    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        let word = Arc::new(AtomicU32::new(MAIN_TURN));
        let w = Arc::clone(&word);
        let partner = spawn_partner("thread-futex", cpus.1, move || {
            futex::serve(&w, Flags::PRIVATE)
        })?;
        Ok(Box::new(FutexSession {
            word,
            partner: Some(partner),
        }))
    }
}

impl PingPong for FutexSession {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        futex::round_trips(&self.word, Flags::PRIVATE, n)
    }
}

impl Drop for FutexSession {
    fn drop(&mut self) {
        futex::stop(&self.word, Flags::PRIVATE);
        join(self.partner.take());
    }
}

/// `thread-condvar`: two threads hand off through `std::sync::Mutex` + `Condvar`.
#[derive(Debug, Clone, Copy)]
pub struct ThreadCondvar;

type Shared = Arc<(Mutex<u32>, Condvar)>;

struct CondvarSession {
    shared: Shared,
    partner: Option<JoinHandle<Result<(), MeasureError>>>,
}

fn poisoned() -> MeasureError {
    os("mutex", std::io::Error::other("poisoned by a panic"))
}

impl Backend for ThreadCondvar {
    fn name(&self) -> &'static str {
        "thread-condvar"
    }

    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        let shared: Shared = Arc::new((Mutex::new(MAIN_TURN), Condvar::new()));
        let s = Arc::clone(&shared);
        let partner = spawn_partner("thread-condvar", cpus.1, move || {
            let (lock, cv) = &*s;
            let mut turn = lock.lock().map_err(|_| poisoned())?;
            loop {
                while *turn == MAIN_TURN {
                    turn = cv.wait(turn).map_err(|_| poisoned())?;
                }
                if *turn == STOP {
                    return Ok(());
                }
                *turn = MAIN_TURN;
                cv.notify_one();
            }
        })?;
        Ok(Box::new(CondvarSession {
            shared,
            partner: Some(partner),
        }))
    }
}

impl PingPong for CondvarSession {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        let (lock, cv) = &*self.shared;
        let mut turn = lock.lock().map_err(|_| poisoned())?;
        for _ in 0..n {
            *turn = PARTNER_TURN;
            cv.notify_one();
            while *turn == PARTNER_TURN {
                turn = cv.wait(turn).map_err(|_| poisoned())?;
            }
        }
        Ok(())
    }
}

impl Drop for CondvarSession {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut turn) = lock.lock() {
            *turn = STOP;
            cv.notify_one();
        }
        join(self.partner.take());
    }
}
