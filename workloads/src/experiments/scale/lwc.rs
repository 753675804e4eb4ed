//! The `lwc` backend of `scale`: N lwCs of one group, each created by the root lwC, holding the
//! state it mapped and wrote at its first run, parked in `lwc::switch` until the root comes.
//!
//! ```text
//!   root lwC ── create ──► session i: map + write state ── switch(root, OK) ──► root
//!            ── switch(i, VISIT) ──► touch state ── switch(root, OK) ──► root
//!            ── switch(i, REPORT) ──► read /proc/self/smaps_rollup ── switch(root, usage) ──► root
//! ```
//!
//! The group lives in a forked child ([`crate::isolate::run_isolated`]); when the run returns,
//! the group's root exits and the runtime ends every lwC of it, also after a failed step.

use lwc::{Args, Created, Options, Spec};

use super::memory::{own_usage, Usage};
use super::sessions::per_session;
use super::Sessions;
use crate::experiment::MeasureError;
use crate::sys;

const CREATE: u64 = 1;
const VISIT: u64 = 2;
const REPORT: u64 = 3;
const OK: u64 = 0;
const FAILED: u64 = 4;

fn args(cmd: u64) -> Args {
    Args([cmd, 0, 0, 0, 0, 0])
}

/// The sessions of one group; call inside the group (after `lwc::init`).
pub(super) struct LwcSessions {
    sessions: Vec<lwc::Lwc>,
    state_bytes: usize,
    fail_at: Option<usize>,
}

impl LwcSessions {
    /// No session yet; the session numbered `fail_at` (tests) fails as one whose state cannot be
    /// mapped.
    pub(super) fn new(state_bytes: usize, fail_at: Option<usize>) -> Self {
        LwcSessions {
            sessions: Vec::new(),
            state_bytes,
            fail_at,
        }
    }
}

/// A session's life: map and write the state, answer, then serve the root's switches.
fn session(caller: lwc::Lwc, state_bytes: usize, fail: bool) -> ! {
    let state = if fail {
        None
    } else {
        sys::Region::populated(state_bytes).ok()
    };
    let Some(mut state) = state else {
        let err = lwc::switch(&caller, args(FAILED));
        eprintln!("scale session: {err:?}");
        sys::exit_now(1)
    };
    let pages = state_bytes.div_ceil(rustix::param::page_size());
    let mut reply = args(OK);
    loop {
        match lwc::switch(&caller, reply) {
            Ok(s) if s.args.0[0] == VISIT => {
                state.write_pages(pages);
                reply = args(OK);
            }
            Ok(s) if s.args.0[0] == REPORT => {
                reply = match own_usage() {
                    Ok(u) => Args([OK, u.pss_bytes, u.rss_bytes, u.page_table_bytes, 0, 0]),
                    Err(_) => args(FAILED),
                };
            }
            Ok(_) => reply = args(FAILED),
            Err(e) => {
                eprintln!("scale session: {e}");
                sys::exit_now(1)
            }
        }
    }
}

fn answered(i: usize, back: &lwc::Switched, what: &str) -> Result<(), MeasureError> {
    if back.args.0[0] == OK {
        Ok(())
    } else {
        Err(MeasureError::Failed(format!(
            "lwC session {i} failed to {what}"
        )))
    }
}

impl Sessions for LwcSessions {
    fn create(&mut self) -> Result<(), MeasureError> {
        let i = self.sessions.len();
        match sys::lwc_create(&Spec::new(), &Options::new())? {
            Created::Parent(child) => {
                let back = lwc::switch(&child, args(CREATE))?;
                self.sessions.push(child);
                answered(i, &back, "map and write its state")
            }
            Created::Child { caller, .. } => {
                session(caller, self.state_bytes, self.fail_at == Some(i))
            }
        }
    }

    fn len(&self) -> usize {
        self.sessions.len()
    }

    fn visit(&mut self, i: usize) -> Result<(), MeasureError> {
        let back = lwc::switch(&self.sessions[i], args(VISIT))?;
        answered(i, &back, "touch its state")
    }

    fn usage_per_session(&mut self) -> Result<Usage, MeasureError> {
        let mut sum = Usage::default();
        for (i, s) in self.sessions.iter().enumerate() {
            let back = lwc::switch(s, args(REPORT))?;
            answered(i, &back, "report its memory")?;
            sum.pss_bytes += back.args.0[1];
            sum.rss_bytes += back.args.0[2];
            sum.page_table_bytes += back.args.0[3];
        }
        Ok(per_session(sum, self.sessions.len()))
    }
}
