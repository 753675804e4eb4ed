//! How a handler returns to its pristine state between sessions: the six strategies, with
//! their names in JSON and on the command line.

use super::RollbackError;

/// How the handler gets back to its pristine state after a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Rebuild the state for every session (PHP without snapshots).
    Reinit,
    /// A pristine parent forks a fresh worker per session (process-based separation).
    Fork,
    /// Roll back to an lwC snapshot (`lwc::Strategy::Fork`, the paper's pattern).
    LwcSnapshot,
    /// Roll back to a pre-made copy from a pool (`lwc::Strategy::Pool`).
    LwcPool,
    /// Restore in place the pages the session wrote (`lwc::Strategy::InPlace`).
    LwcInPlace,
    /// Reuse the dirty state (stock prefork: the upper bound, and unsafe).
    None,
}

/// Copies an `lwc-pool` handler keeps ready.
pub const POOL_SIZE: usize = 16;

impl Strategy {
    /// Every strategy, in plan order.
    pub const ALL: [Strategy; 6] = [
        Strategy::Reinit,
        Strategy::Fork,
        Strategy::LwcSnapshot,
        Strategy::LwcPool,
        Strategy::LwcInPlace,
        Strategy::None,
    ];

    /// The name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Reinit => "reinit",
            Strategy::Fork => "fork",
            Strategy::LwcSnapshot => "lwc-snapshot",
            Strategy::LwcPool => "lwc-pool",
            Strategy::LwcInPlace => "lwc-inplace",
            Strategy::None => "none",
        }
    }

    /// What it does, in a few words.
    pub fn about(self) -> &'static str {
        match self {
            Strategy::Reinit => "rebuild the state per session (PHP without snapshots)",
            Strategy::Fork => "pristine parent forks a worker per session (process separation)",
            Strategy::LwcSnapshot => "roll back to an lwC snapshot per session (the paper's)",
            Strategy::LwcPool => "roll back to a pooled pristine lwC copy (pool of 16)",
            Strategy::LwcInPlace => "restore in place the pages a session wrote",
            Strategy::None => "reuse the dirty state (stock prefork; unsafe upper bound)",
        }
    }

    /// The strategy called `name`.
    pub fn by_name(name: &str) -> Option<Strategy> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The lwc snapshot strategy it uses, if any.
    pub fn lwc(self) -> Option<lwc::Strategy> {
        match self {
            Strategy::LwcSnapshot => Some(lwc::Strategy::Fork),
            Strategy::LwcPool => Some(lwc::Strategy::Pool { size: POOL_SIZE }),
            Strategy::LwcInPlace => Some(lwc::Strategy::InPlace),
            Strategy::Reinit | Strategy::Fork | Strategy::None => None,
        }
    }

    /// Whether sessions are isolated from each other (every strategy but `none`).
    pub fn isolates(self) -> bool {
        self != Strategy::None
    }

    /// `Ok` when this kernel supports the strategy, else [`RollbackError::Unavailable`] with
    /// the kernel's reason.
    pub fn available(self) -> Result<(), RollbackError> {
        match self.lwc() {
            Some(s) => lwc::Snapshot::available(s).map_err(|e| match e {
                lwc::Error::Unavailable { .. } => RollbackError::Unavailable(e.to_string()),
                e => RollbackError::Lwc(e),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::by_name(s.name()), Some(s));
        }
        assert_eq!(Strategy::by_name("lwc"), None);
        assert_eq!(
            Strategy::ALL.iter().filter(|s| s.lwc().is_some()).count(),
            3
        );
    }
}
