//! What a measured run sends back, across both process hops, and every exit code.
//!
//! ```text
//! harness ──spawn──► worker (`lwcbench __worker`) ──fork──► isolated child (lwC group)
//!    ◄── stdout: one line of Outcome<RunSamples> ──┘◄── pipe: Outcome<T> (length-prefixed) ──┘
//! ```
//!
//! Both hops carry the same [`Outcome`]; an exit status then only says whether the outcome could
//! be reported at all ([`exit`]).

use serde::{Deserialize, Serialize};

/// The outcome of one measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    /// The run measured what it should.
    Measured(T),
    /// The point needs something this machine lacks (two CPUs, a kernel feature): not a failure.
    Unavailable(String),
    /// The point is not one the experiment understands (a bug in the plan, or a hand-made point).
    BadPoint(String),
    /// The run failed (a system call, the lwC runtime).
    Failed(String),
}

impl<T> Outcome<T> {
    /// Applies `f` to a measured value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Measured(v) => Outcome::Measured(f(v)),
            Outcome::Unavailable(m) => Outcome::Unavailable(m),
            Outcome::BadPoint(m) => Outcome::BadPoint(m),
            Outcome::Failed(m) => Outcome::Failed(m),
        }
    }
}

/// Every exit status lwcbench gives, in one place.
pub mod exit {
    /// `lwcbench`: everything measured (or unavailable here); `compare`: no regression. A worker
    /// or an isolated child: its outcome was reported.
    pub const SUCCESS: u8 = 0;
    /// `lwcbench`: an error (unknown experiment or backend, unwritable output); nothing measured.
    pub const ERROR: u8 = 1;
    /// `lwcbench`: a bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// `lwcbench run`: the result was written, but some points or experiments failed.
    pub const SOME_FAILED: u8 = 3;
    /// `lwcbench compare`: a point regressed or now fails.
    pub const REGRESSION: u8 = 4;
    /// A worker could not report its outcome (stdout unwritable, or its parent is gone).
    pub const WORKER_UNREPORTED: u8 = 5;
    /// An isolated child could not encode its outcome.
    pub const CHILD_UNENCODABLE: u8 = 6;
    /// An isolated child could not write its outcome to the pipe.
    pub const CHILD_UNWRITABLE: u8 = 7;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_json_names_the_case() {
        let o: Outcome<u64> = Outcome::Unavailable("two-cores needs two CPUs".into());
        let json = serde_json::to_string(&o).expect("json");
        assert_eq!(json, r#"{"unavailable":"two-cores needs two CPUs"}"#);
        assert_eq!(
            serde_json::from_str::<Outcome<u64>>(&json).expect("back"),
            o
        );
        let m: Outcome<u64> = serde_json::from_str(r#"{"measured":7}"#).expect("measured");
        assert_eq!(m.map(|v| v * 2), Outcome::Measured(14));
    }

    #[test]
    fn exit_codes_are_distinct() {
        let all = [
            exit::SUCCESS,
            exit::ERROR,
            exit::USAGE,
            exit::SOME_FAILED,
            exit::REGRESSION,
            exit::WORKER_UNREPORTED,
            exit::CHILD_UNENCODABLE,
            exit::CHILD_UNWRITABLE,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| a != b), "{a} twice");
        }
    }
}
