//! What a server is asked to be: its isolation mode, where it listens, how many workers, the
//! response it serves and the limits it holds bad input to.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How each connection's session is isolated from the others (and from the worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// Every session runs in the worker's own memory, on its event loop.
    None,
    /// Each connection's session runs in an lwC created when it is accepted and discarded when
    /// it closes; the event loop switches into it whenever the connection is ready.
    Lwc,
    /// As [`Isolation::Lwc`], but session lwCs come from a pool of pristine copies made while
    /// the worker is idle.
    LwcPool,
    /// A process per connection, forked from the worker (which holds no session state).
    Process,
    /// A thread per connection (no memory isolation; for reference).
    Thread,
}

impl Isolation {
    /// Every mode, in the order experiments list them.
    pub const ALL: [Isolation; 5] = [
        Isolation::None,
        Isolation::Lwc,
        Isolation::LwcPool,
        Isolation::Process,
        Isolation::Thread,
    ];

    /// The mode's name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::None => "none",
            Isolation::Lwc => "lwc",
            Isolation::LwcPool => "lwc-pool",
            Isolation::Process => "process",
            Isolation::Thread => "thread",
        }
    }

    /// The mode called `name`.
    pub fn parse(name: &str) -> Option<Isolation> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether a worker in this mode runs an lwC group.
    pub fn uses_lwc(self) -> bool {
        matches!(self, Isolation::Lwc | Isolation::LwcPool)
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What bad input is held to. Every limit is per worker or per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections a worker serves at once; one more gets `503` and is closed.
    pub max_connections: usize,
    /// Largest request line plus headers; a longer one gets `431`.
    pub max_header_bytes: usize,
    /// Largest request body (Content-Length); a longer one gets `413`.
    pub max_body_bytes: usize,
    /// A request begun but not finished within this gets `408` and the connection closes.
    pub request_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_header_bytes: 8192,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The file `/probe/touch` tries to write, in the server's working directory.
pub const TOUCH_FILE: &str = "lwcbench-probe-touch";

/// Smallest response body: the session counter (10 digits), a space and a newline.
pub const MIN_BODY_BYTES: usize = 12;

/// A server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How sessions are isolated.
    pub isolation: Isolation,
    /// Address to listen on (loopback by default).
    pub bind: IpAddr,
    /// Port (0: any free one; the server says which).
    pub port: u16,
    /// Worker processes, each pinned to its own CPU of `cpus` (round robin).
    pub workers: usize,
    /// CPUs the workers are pinned to; empty means every CPU this process may use.
    pub cpus: Vec<usize>,
    /// Response body size in bytes (the paper's document is 45 bytes).
    pub body_bytes: usize,
    /// Session lwCs kept ready by an `lwc-pool` worker.
    pub pool_size: usize,
    /// Limits on bad input.
    pub limits: Limits,
    /// Sandbox each session lwC (`Systrap::all()`) with the worker's root lwC as its reference
    /// monitor: only reads, writes and close on its own socket (and the allocator's calls) are
    /// run; every other call fails with `EPERM`. Only with [`Isolation::Lwc`].
    pub monitor: bool,
    /// Serve the test paths: `/crash/abort` and `/crash/segv` crash the session (a crash must
    /// cost only its own connection), `/probe/fds` shows the descriptors its context holds
    /// (another connection's must not be among them), `/probe/touch` tries to open
    /// [`TOUCH_FILE`] in the working directory for writing and write to it (a monitored
    /// session must fail). Off by default.
    pub test_paths: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            isolation: Isolation::None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            workers: 1,
            cpus: Vec::new(),
            body_bytes: 45,
            pool_size: 32,
            limits: Limits::default(),
            monitor: false,
            test_paths: false,
        }
    }
}

/// A configuration the server cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad server configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Checks the values that have a floor.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError(m));
        if self.workers == 0 {
            return bad("at least one worker is needed".into());
        }
        if self.body_bytes < MIN_BODY_BYTES {
            return bad(format!(
                "the body holds the session counter: at least {MIN_BODY_BYTES} bytes, not {}",
                self.body_bytes
            ));
        }
        if self.limits.max_connections == 0 {
            return bad("max_connections must be at least 1".into());
        }
        if self.monitor && self.isolation != Isolation::Lwc {
            return bad(format!(
                "--monitor sandboxes session lwCs: it needs --isolation lwc, not {}",
                self.isolation
            ));
        }
        if self.isolation == Isolation::LwcPool && self.pool_size == 0 {
            return bad("an lwc-pool worker needs a pool of at least one lwC".into());
        }
        Ok(())
    }
}
