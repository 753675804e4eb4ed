//! The contract between experiments and the harness.
//!
//! An experiment declares its backends ([`Experiment::backends`], data the harness and
//! `lwcbench list` read directly) and turns a [`Setting`] into a list of [`PointSpec`]s. The
//! harness runs every point several times, each run in a fresh single-threaded worker process
//! that calls [`Experiment::measure`] and sends back the [`Outcome`] as JSON. Inside `measure`,
//! an experiment parses the point once into its own typed point.

pub use model::{
    Counter, MetricSpec, Outcome, Param, Params, PerSetting, PointId, PointSpec, RunSamples,
    Setting, Unit,
};

/// One backend an experiment offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend's name in JSON and on the command line (DESIGN.md §3).
    pub name: &'static str,
    /// What it is, in a few words, for `lwcbench list`.
    pub about: &'static str,
    /// Planned by default; `false` for a test backend (`mock`) that is planned only when named.
    pub default: bool,
}

impl BackendInfo {
    /// Whether this backend belongs in a plan restricted to `wanted` (empty = every default
    /// backend).
    pub fn wanted(&self, wanted: &[String]) -> bool {
        if wanted.is_empty() {
            self.default
        } else {
            wanted.iter().any(|w| w == self.name)
        }
    }
}

/// Why a point could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The point needs something this machine lacks (two CPUs, a kernel feature).
    #[error("not available here: {0}")]
    Unavailable(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Os {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The lwC runtime failed.
    #[error(transparent)]
    Lwc(#[from] lwc::Error),
    /// The point's parameters are not ones this experiment understands.
    #[error("bad point: {0}")]
    BadPoint(String),
    /// A measurement in another process failed (its message).
    #[error("{0}")]
    Failed(String),
}

impl MeasureError {
    /// The wire form of a result, as sent across a process boundary.
    pub fn outcome<T>(r: Result<T, MeasureError>) -> Outcome<T> {
        match r {
            Ok(v) => Outcome::Measured(v),
            Err(MeasureError::Unavailable(m)) => Outcome::Unavailable(m),
            Err(MeasureError::BadPoint(m)) => Outcome::BadPoint(m),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// A result back from its wire form.
    pub fn from_outcome<T>(o: Outcome<T>) -> Result<T, MeasureError> {
        match o {
            Outcome::Measured(v) => Ok(v),
            Outcome::Unavailable(m) => Err(MeasureError::Unavailable(m)),
            Outcome::BadPoint(m) => Err(MeasureError::BadPoint(m)),
            Outcome::Failed(m) => Err(MeasureError::Failed(m)),
        }
    }
}

/// A [`MeasureError::Os`] for `op`.
pub(crate) fn os(op: &'static str, e: impl Into<std::io::Error>) -> MeasureError {
    MeasureError::Os {
        op,
        source: e.into(),
    }
}

/// An experiment of DESIGN.md §4.
pub trait Experiment: Sync {
    /// Stable id used on the command line and in JSON (`switch`, `create`).
    fn id(&self) -> &'static str;
    /// One line for `lwcbench list`.
    fn describe(&self) -> &'static str;
    /// Every backend this experiment offers, in plan order (test backends included).
    fn backends(&self) -> Vec<BackendInfo>;
    /// The points to measure for this setting, restricted to `backends` when it is non-empty
    /// (names this experiment does not offer are ignored; the harness checks them first).
    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec>;
    /// Measures one run of `point`. Called in a fresh single-threaded worker process, so it may
    /// fork, pin itself and start an lwC group.
    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_the_wire() {
        // Guards against an Unavailable crossing a process boundary as an ordinary failure.
        let back =
            |e: MeasureError| MeasureError::from_outcome::<u8>(MeasureError::outcome(Err(e)));
        assert!(matches!(
            back(MeasureError::Unavailable("two CPUs".into())),
            Err(MeasureError::Unavailable(m)) if m == "two CPUs"
        ));
        assert!(matches!(
            back(MeasureError::BadPoint("x".into())),
            Err(MeasureError::BadPoint(_))
        ));
        let failed = back(os("fork", std::io::Error::other("no memory")));
        assert!(
            matches!(&failed, Err(MeasureError::Failed(m)) if m == "fork: no memory"),
            "{failed:?}"
        );
        assert!(matches!(
            MeasureError::from_outcome(Outcome::Measured(3)),
            Ok(3)
        ));
    }

    #[test]
    fn mock_is_wanted_only_by_name() {
        let mock = BackendInfo {
            name: "mock",
            about: "",
            default: false,
        };
        assert!(!mock.wanted(&[]));
        assert!(mock.wanted(&["mock".into()]));
        assert!(!mock.wanted(&["lwc".into()]));
    }
}
