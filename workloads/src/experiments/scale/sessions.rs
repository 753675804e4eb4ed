//! The `process` and `thread` baselines of `scale`: one process, or one thread, per session,
//! each parked on its own futex word until the root sends it a command.
//!
//! ```text
//!   root ── turn[i] := VISIT | REPORT | EXIT, wake ──► session i (waits while turn[i] = IDLE)
//!        ◄─ turn[i] := IDLE (or FAILED), wake ───────┘  touches its state / reports its memory
//! ```
//!
//! Every session maps and writes its own state when it starts ([`CREATING`] until it has).
//! Processes die with the root (`PR_SET_PDEATHSIG`), and the root's drop kills and reaps every
//! one it made, so none outlives a run, also when a step failed; threads are stopped and joined.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use rustix::thread::futex::{self, Flags};

use super::memory::{own_usage, Usage};
use super::Sessions;
use crate::experiment::{os, MeasureError};
use crate::sys;

/// The root's turn: nothing asked.
const IDLE: u32 = 0;
/// A session starting: mapping and writing its state.
pub(super) const CREATING: u32 = 1;
/// Touch your state and answer.
const VISIT: u32 = 2;
/// Report your memory into the result words and answer.
const REPORT: u32 = 3;
/// Could not make its state: the session is gone.
const FAILED: u32 = 4;
/// Return.
const EXIT: u32 = 5;

/// How long the root waits for a session to answer before calling it lost.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Waits until `word` is no longer `value` (or `within` passed: then `false`).
fn wait_while(word: &AtomicU32, value: u32, flags: Flags, within: Option<Duration>) -> bool {
    let deadline = within.map(|d| Instant::now() + d);
    loop {
        if word.load(Ordering::Acquire) != value {
            return true;
        }
        let left = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => Some(left),
                None => return false,
            },
            None => None,
        };
        let timeout = left.map(|l| rustix::fs::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let _ = futex::wait(word, flags, value, timeout.as_ref());
    }
}

fn post(word: &AtomicU32, value: u32, flags: Flags) {
    word.store(value, Ordering::Release);
    let _ = futex::wake(word, flags, 1);
}

/// A session's side: maps and writes `state_bytes` (or fails, when told to), answers, and then
/// serves commands until [`EXIT`].
fn serve(words: &sys::SharedWords, i: usize, state_bytes: usize, fail: bool, flags: Flags) -> i32 {
    let turn = &words.u32s()[i];
    let state = if fail {
        None
    } else {
        sys::Region::populated(state_bytes).ok()
    };
    let Some(mut state) = state else {
        post(turn, FAILED, flags);
        return 1;
    };
    let pages = state_bytes.div_ceil(rustix::param::page_size());
    // Not a plain store: an EXIT posted meanwhile (the root gave up waiting) must survive.
    if turn
        .compare_exchange(CREATING, IDLE, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return 0;
    }
    let _ = futex::wake(turn, flags, 1);
    loop {
        wait_while(turn, IDLE, flags, None);
        match turn.load(Ordering::Acquire) {
            VISIT => state.write_pages(pages),
            REPORT => {
                let u = own_usage().unwrap_or_default();
                let out = words.u64s();
                out[0].store(u.pss_bytes, Ordering::Relaxed);
                out[1].store(u.rss_bytes, Ordering::Relaxed);
                out[2].store(u.page_table_bytes, Ordering::Relaxed);
            }
            EXIT => return 0,
            _ => {}
        }
        post(turn, IDLE, flags);
    }
}

/// The root's side of one command: posts it and waits for the answer.
fn call(words: &sys::SharedWords, i: usize, cmd: u32, flags: Flags) -> Result<(), MeasureError> {
    let turn = &words.u32s()[i];
    post(turn, cmd, flags);
    if !wait_while(turn, cmd, flags, Some(ANSWER_WITHIN)) {
        return Err(lost(i));
    }
    Ok(())
}

fn lost(i: usize) -> MeasureError {
    MeasureError::Failed(format!(
        "session {i} did not answer within {} s",
        ANSWER_WITHIN.as_secs()
    ))
}

/// Waits for a starting session `i` to answer: `Ok` once its state is written.
fn started(words: &sys::SharedWords, i: usize, flags: Flags) -> Result<(), MeasureError> {
    let turn = &words.u32s()[i];
    if !wait_while(turn, CREATING, flags, Some(ANSWER_WITHIN)) {
        return Err(lost(i));
    }
    match turn.load(Ordering::Acquire) {
        FAILED => Err(MeasureError::Failed(format!(
            "session {i} could not map and write its state"
        ))),
        _ => Ok(()),
    }
}

/// `process`: a forked process per session.
pub(super) struct ProcessSessions {
    words: sys::SharedWords,
    pids: Vec<Pid>,
    state_bytes: usize,
    fail_at: Option<usize>,
    single: sys::SingleThreaded,
}

impl ProcessSessions {
    /// Room for `capacity` sessions of `state_bytes` each; the session numbered `fail_at` (tests)
    /// fails as one whose state cannot be mapped.
    pub(super) fn new(
        capacity: usize,
        state_bytes: usize,
        fail_at: Option<usize>,
    ) -> Result<Self, MeasureError> {
        Ok(ProcessSessions {
            words: sys::SharedWords::new(capacity).map_err(|e| os("mmap (session words)", e))?,
            pids: Vec::with_capacity(capacity),
            state_bytes,
            fail_at,
            single: sys::SingleThreaded::check().map_err(|e| os("check for one thread", e))?,
        })
    }
}

impl Sessions for ProcessSessions {
    fn create(&mut self) -> Result<(), MeasureError> {
        let i = self.pids.len();
        if i >= self.words.u32s().len() {
            return Err(MeasureError::BadPoint("more sessions than planned".into()));
        }
        self.words.u32s()[i].store(CREATING, Ordering::Release);
        let (words, state, fail) = (&self.words, self.state_bytes, self.fail_at == Some(i));
        let pid = sys::fork_while(&self.single, || {
            if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err() {
                post(&words.u32s()[i], FAILED, Flags::empty());
                return 10;
            }
            serve(words, i, state, fail, Flags::empty())
        })
        .map_err(|e| os("fork (session)", e))?;
        self.pids.push(pid);
        started(&self.words, i, Flags::empty())
    }

    fn len(&self) -> usize {
        self.pids.len()
    }

    fn visit(&mut self, i: usize) -> Result<(), MeasureError> {
        call(&self.words, i, VISIT, Flags::empty())
    }

    fn usage_per_session(&mut self) -> Result<Usage, MeasureError> {
        let mut sum = Usage::default();
        for i in 0..self.pids.len() {
            call(&self.words, i, REPORT, Flags::empty())?;
            let out = self.words.u64s();
            sum.pss_bytes += out[0].load(Ordering::Relaxed);
            sum.rss_bytes += out[1].load(Ordering::Relaxed);
            sum.page_table_bytes += out[2].load(Ordering::Relaxed);
        }
        Ok(per_session(sum, self.pids.len()))
    }
}

impl Drop for ProcessSessions {
    fn drop(&mut self) {
        // Killed, not asked: a session that is stuck or gone must not keep the root waiting.
        for &pid in &self.pids {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
        for pid in self.pids.drain(..) {
            let _ = sys::wait_exit_code(pid);
        }
    }
}

/// `sum` divided by `n` sessions.
pub(super) fn per_session(sum: Usage, n: usize) -> Usage {
    let n = n.max(1) as u64;
    Usage {
        pss_bytes: sum.pss_bytes / n,
        rss_bytes: sum.rss_bytes / n,
        page_table_bytes: sum.page_table_bytes / n,
    }
}

/// Stack of a session thread: enough for `serve`, little beyond it.
const THREAD_STACK_BYTES: usize = 128 << 10;

/// `thread`: a thread per session (no isolation), in the root's process.
pub(super) struct ThreadSessions {
    words: Arc<sys::SharedWords>,
    threads: Vec<JoinHandle<i32>>,
    state_bytes: usize,
    fail_at: Option<usize>,
    /// The process's memory before the first session.
    before: Usage,
}

impl ThreadSessions {
    /// As [`ProcessSessions::new`].
    pub(super) fn new(
        capacity: usize,
        state_bytes: usize,
        fail_at: Option<usize>,
    ) -> Result<Self, MeasureError> {
        let words = sys::SharedWords::new(capacity).map_err(|e| os("mmap (session words)", e))?;
        Ok(ThreadSessions {
            words: Arc::new(words),
            threads: Vec::with_capacity(capacity),
            state_bytes,
            fail_at,
            before: own_usage()?,
        })
    }
}

impl Sessions for ThreadSessions {
    fn create(&mut self) -> Result<(), MeasureError> {
        let i = self.threads.len();
        if i >= self.words.u32s().len() {
            return Err(MeasureError::BadPoint("more sessions than planned".into()));
        }
        self.words.u32s()[i].store(CREATING, Ordering::Release);
        let (words, state, fail) = (
            Arc::clone(&self.words),
            self.state_bytes,
            self.fail_at == Some(i),
        );
        let handle = std::thread::Builder::new()
            .name("scale-session".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || serve(&words, i, state, fail, Flags::PRIVATE))
            .map_err(|e| os("spawn (session thread)", e))?;
        self.threads.push(handle);
        started(&self.words, i, Flags::PRIVATE)
    }

    fn len(&self) -> usize {
        self.threads.len()
    }

    fn visit(&mut self, i: usize) -> Result<(), MeasureError> {
        call(&self.words, i, VISIT, Flags::PRIVATE)
    }

    /// What the process grew by, per session (one process: its PSS is its RSS).
    fn usage_per_session(&mut self) -> Result<Usage, MeasureError> {
        let now = own_usage()?;
        let grew = Usage {
            pss_bytes: now.pss_bytes.saturating_sub(self.before.pss_bytes),
            rss_bytes: now.rss_bytes.saturating_sub(self.before.rss_bytes),
            page_table_bytes: now
                .page_table_bytes
                .saturating_sub(self.before.page_table_bytes),
        };
        Ok(per_session(grew, self.threads.len()))
    }
}

impl Drop for ThreadSessions {
    fn drop(&mut self) {
        let turns = self.words.u32s();
        for (i, h) in self.threads.drain(..).enumerate() {
            // A thread that failed has returned already; the others return on EXIT.
            if turns[i].load(Ordering::Acquire) != FAILED {
                post(&turns[i], EXIT, Flags::PRIVATE);
            }
            let _ = h.join();
        }
    }
}
