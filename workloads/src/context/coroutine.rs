//! `coroutine`: user-level stack switches inside one thread (corosensei); no isolation.
//!
//! corosensei's coroutines are asymmetric (a coroutine suspends back to whoever resumed it), so
//! a ring of K parties is driven by the caller: one lap resumes each of the K - 1 coroutines in
//! turn, and each suspends straight back: 2 (K - 1) switches a lap (2 for ping-pong, as a
//! symmetric ring would have).

use corosensei::{CoroutineResult, Yielder};

use super::{Backend, Ring};
use crate::experiment::MeasureError;

/// `coroutine`: resume corosensei coroutines that suspend straight back.
/// One CPU only: a coroutine runs on its caller's thread.
#[derive(Debug, Clone, Copy)]
pub struct Coroutine;

struct CoroutineRing {
    cos: Vec<corosensei::Coroutine<(), (), ()>>,
}

impl Backend for Coroutine {
    fn name(&self) -> &'static str {
        "coroutine"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        if cpus.iter().any(|&c| c != cpus[0]) {
            return Err(MeasureError::Unavailable(
                "a coroutine runs on its caller's thread: one CPU only".into(),
            ));
        }
        let cos = cpus[1..]
            .iter()
            .map(|_| {
                corosensei::Coroutine::new(|yielder: &Yielder<(), ()>, ()| loop {
                    yielder.suspend(());
                })
            })
            .collect();
        Ok(Box::new(CoroutineRing { cos }))
    }
}

/// Resumes `co` once; it must suspend back.
#[inline(always)]
fn resume(co: &mut corosensei::Coroutine<(), (), ()>) -> Result<(), MeasureError> {
    match co.resume(()) {
        CoroutineResult::Yield(()) => Ok(()),
        CoroutineResult::Return(()) => Err(MeasureError::BadPoint("a coroutine returned".into())),
    }
}

impl Ring for CoroutineRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        // Ping-pong (one coroutine) without the per-lap loop over the ring: a user-level switch
        // costs about a nanosecond, so the loop's overhead would show in the number.
        if let [co] = self.cos.as_mut_slice() {
            for _ in 0..n {
                resume(co)?;
            }
            return Ok(());
        }
        for _ in 0..n {
            for co in &mut self.cos {
                resume(co)?;
            }
        }
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        2 * self.cos.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lap_is_two_switches_per_coroutine() {
        // Guards against counting a lap of the caller-driven ring as K switches (or K - 1): each
        // coroutine is resumed and suspends back, two stack switches, once per lap.
        for k in [2, 3, 5] {
            let ring = Coroutine.open(&vec![0; k]).expect("ring");
            assert_eq!(ring.switches_per_lap(), 2 * (k as u64 - 1), "K = {k}");
        }
        assert!(matches!(
            Coroutine.open(&[0, 1]),
            Err(MeasureError::Unavailable(_))
        ));
    }
}
