//! The error type of every lwC call.

use std::io;

/// Result of an lwC call.
pub type Result<T> = std::result::Result<T, Error>;

/// Why an lwC call failed. Messages name the operation, the lwC and the OS error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{op}: {source}")]
    Os {
        /// What the runtime was doing.
        op: &'static str,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
    /// The call needs a single-threaded process: forking a multi-threaded process can leave
    /// the child deadlocked on a lock another thread held, and in-place rollback rewrites
    /// memory another thread could be using.
    #[error("{op}: the process has {threads} threads; it must be single-threaded")]
    MultiThreaded {
        /// The call refused (`lwc::init`, `lwc::create`, `in-place snapshot`, ...).
        op: &'static str,
        /// Threads counted in /proc/self/task.
        threads: usize,
    },
    /// The group was already started in this process.
    #[error("lwc::init: the lwC group is already running")]
    AlreadyInitialized,
    /// The descriptor does not carry the right the call needs.
    #[error("{op}: descriptor for lwC {lwc} lacks the {right} right")]
    NoRight {
        /// The call refused.
        op: &'static str,
        /// The lwC the descriptor names.
        lwc: u32,
        /// The missing right.
        right: &'static str,
    },
    /// The target lwC has exited, was closed or was killed.
    #[error("{op}: lwC {lwc} is gone (closed, discarded or killed)")]
    Dead {
        /// The call refused.
        op: &'static str,
        /// The lwC that is gone.
        lwc: u32,
    },
    /// The target lwC is not parked (it is the caller itself, or it runs).
    #[error("{op}: lwC {lwc} is not parked (it is running or is the caller)")]
    NotParked {
        /// The call refused.
        op: &'static str,
        /// The lwC that is not parked.
        lwc: u32,
    },
    /// The group has no free slot.
    #[error("lwc::create: the group already holds its maximum of {capacity} lwCs")]
    TooMany {
        /// Slots in the switchboard.
        capacity: usize,
    },
    /// The resource spec or an argument is malformed.
    #[error("{op}: {reason}")]
    Invalid {
        /// The call refused.
        op: &'static str,
        /// What is wrong with the input.
        reason: String,
    },
    /// The new lwC could not apply its resource spec; it was destroyed.
    #[error("lwc::create: the child failed to {step}: {source}")]
    ChildSetup {
        /// The setup step that failed (e.g. `setuid`).
        step: &'static str,
        /// The error the kernel returned in the child.
        #[source]
        source: io::Error,
    },
    /// The call is not possible in this situation (e.g. switching from a sandboxed lwC to an
    /// lwC other than its monitor).
    #[error("{op}: {reason}")]
    Unsupported {
        /// The call refused.
        op: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A kernel feature the call needs is missing on this machine.
    #[error("{what} is unavailable on this kernel: {reason}")]
    Unavailable {
        /// The feature (e.g. `in-place rollback`).
        what: &'static str,
        /// What the kernel said.
        reason: String,
    },
}

impl Error {
    /// The error of the last failed libc call, tagged with `op`.
    pub(crate) fn last_os(op: &'static str) -> Self {
        Error::Os {
            op,
            source: io::Error::last_os_error(),
        }
    }

    /// The errno that best stands for this error when it must cross to another lwC as a number
    /// (a setup step that failed in a new child, a failed service request).
    pub(crate) fn as_errno(&self) -> i32 {
        match self {
            Error::Os { source, .. } | Error::ChildSetup { source, .. } => {
                source.raw_os_error().unwrap_or(libc::EIO)
            }
            Error::Invalid { .. } => libc::EINVAL,
            _ => libc::EIO,
        }
    }

    /// An OS error from a raw errno value.
    pub(crate) fn errno(op: &'static str, errno: i32) -> Self {
        Error::Os {
            op,
            source: io::Error::from_raw_os_error(errno),
        }
    }
}
