//! A request handler whose start-up is costly and whose requests dirty memory, returned to its
//! pristine state after every session: the pattern of the paper's Apache (MPM forksnap, rolled
//! back per session) and PHP (restarted from a snapshot taken after start-up) experiments.
//!
//! ```text
//!   Driver (the measuring process) ══ SOCK_SEQPACKET pair ══ handler process (own group, pinned)
//!     sessions of S requests ─────────────────────────────►   State: 64 MiB of chained nodes
//!     ◄──────────────────────────── Ready after each session   + statics, built at start
//! ```
//!
//! - [`state`]: the state (built in tens of milliseconds per 64 MiB; requests read chains and
//!   write pages, statics and a session log; a checksum of every byte; a marker);
//! - [`protocol`]: the 16-byte messages and the channel;
//! - [`strategy`]: `reinit`, `fork`, `lwc-snapshot`, `lwc-pool`, `lwc-inplace`, `none`;
//! - [`handler`]: serving sessions and returning to the pristine state;
//! - [`driver`]: starting a handler, sending sessions, timing them;
//! - `process`: fork (through `crate::sys`), wait, process groups.
//!
//! ```no_run
//! use apps::rollback::{Driver, HandlerConfig, Strategy};
//! let mut d = Driver::start(HandlerConfig {
//!     strategy: Strategy::LwcPool,
//!     state_bytes: 64 << 20,
//!     pages_per_request: 4,
//!     cpu: 0,
//! })?;
//! let pristine = d.checksum()?;
//! let t = d.session(16)?;
//! assert_eq!(d.checksum()?, pristine);
//! println!("session {:?}, rollback {:?}", t.total, t.rollback);
//! d.quit()?;
//! # Ok::<(), apps::rollback::RollbackError>(())
//! ```

pub mod driver;
pub mod handler;
mod process;
pub mod protocol;
pub mod state;
pub mod strategy;

pub use driver::{Driver, SessionTimes};
pub use handler::HandlerConfig;
pub use strategy::Strategy;

/// Why the handler or the driver failed.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// The kernel or the machine cannot run this strategy (the reason says why).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Os {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The lwC runtime failed.
    #[error(transparent)]
    Lwc(#[from] lwc::Error),
    /// The peer sent something that is not the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The peer went away or stopped answering.
    #[error("{0}")]
    Died(String),
}

impl RollbackError {
    /// A [`RollbackError::Os`] for `op`.
    pub fn os(op: &'static str, source: std::io::Error) -> Self {
        RollbackError::Os { op, source }
    }
}
