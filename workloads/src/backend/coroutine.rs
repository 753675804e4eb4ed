//! `coroutine`: a user-level stack switch inside one thread (corosensei); no isolation.

use corosensei::{CoroutineResult, Yielder};

use super::{Backend, PingPong};
use crate::experiment::MeasureError;
use crate::measure::Placement;

/// `coroutine`: resume a corosensei coroutine that suspends straight back.
/// Same core only: a coroutine runs on its caller's thread.
#[derive(Debug, Clone, Copy)]
pub struct Coroutine;

struct Session {
    co: corosensei::Coroutine<(), (), ()>,
}

impl Backend for Coroutine {
    fn name(&self) -> &'static str {
        "coroutine"
    }

    fn placements(&self) -> &'static [Placement] {
        &[Placement::SameCore]
    }

    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        if cpus.0 != cpus.1 {
            return Err(MeasureError::Unavailable(
                "a coroutine runs on its caller's thread: same core only".into(),
            ));
        }
        let co = corosensei::Coroutine::new(|yielder: &Yielder<(), ()>, ()| loop {
            yielder.suspend(());
        });
        Ok(Box::new(Session { co }))
    }
}

impl PingPong for Session {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        for _ in 0..n {
            if let CoroutineResult::Return(()) = self.co.resume(()) {
                return Err(MeasureError::BadPoint("the coroutine returned".into()));
            }
        }
        Ok(())
    }
}
