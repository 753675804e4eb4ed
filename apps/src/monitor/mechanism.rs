//! The five ways of running code under the policy, and [`run_sandboxed`], which runs a closure
//! as the sandbox of one of them and brings its result back.
//!
//! ```text
//!   none, seccomp-bpf      driver ──fork──► sandbox (filter: none | the policy in BPF)
//!   seccomp-unotify        driver = supervisor ◄─listener (pidfd_getfd)─ sandbox (filter: notify all)
//!   ptrace                 driver = tracer ◄─PTRACE_EVENT_SECCOMP─ sandbox (filter: trace all)
//!   lwc-systrap            isolated child: lwc::init ─► monitor lwC ◄─SYSTRAP─ sandbox lwC
//! ```
//! The sandbox writes its result (JSON) into the window it shares with the driver, and exits.

use std::io;

use rustix::process::{Pid, Signal};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::policy::{self, Policy, Verdict};
use super::sandbox::{Files, Sandbox, RESULT_AT, RESULT_LEN_AT, WINDOW_LEN};
use super::{supervisor, sys, systrap, tracer};

/// A mechanism that runs a sandbox under the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// The paper's design: the sandbox is a SYSTRAP child lwC, its parent lwC the monitor.
    LwcSystrap,
    /// A raw seccomp user-notification supervisor process, no lwC runtime: the floor under
    /// `lwc-systrap`.
    SeccompUnotify,
    /// A ptrace tracer woken by `SECCOMP_RET_TRACE` (`PTRACE_O_TRACESECCOMP`), as strace-style
    /// sandboxes do.
    Ptrace,
    /// The policy compiled into an in-kernel filter; no monitor process. It cannot read the
    /// memory a pointer names, so it cannot check paths.
    SeccompBpf,
    /// No filter at all.
    None,
}

impl Mechanism {
    /// Every mechanism, in plan order.
    pub const ALL: [Mechanism; 5] = [
        Mechanism::LwcSystrap,
        Mechanism::SeccompUnotify,
        Mechanism::Ptrace,
        Mechanism::SeccompBpf,
        Mechanism::None,
    ];

    /// The backend name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::LwcSystrap => "lwc-systrap",
            Mechanism::SeccompUnotify => "seccomp-unotify",
            Mechanism::Ptrace => "ptrace",
            Mechanism::SeccompBpf => "seccomp-bpf",
            Mechanism::None => "none",
        }
    }

    /// The mechanism named `name`.
    pub fn parse(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// What it is, in a few words.
    pub fn about(self) -> &'static str {
        match self {
            Mechanism::LwcSystrap => {
                "sandboxed child lwC (Systrap::all), its parent lwC decides each call"
            }
            Mechanism::SeccompUnotify => {
                "raw seccomp user-notification supervisor process, no lwC runtime"
            }
            Mechanism::Ptrace => "ptrace tracer woken by SECCOMP_RET_TRACE (PTRACE_O_TRACESECCOMP)",
            Mechanism::SeccompBpf => "the policy as an in-kernel BPF filter (cannot check paths)",
            Mechanism::None => "no filter",
        }
    }

    /// Whether the policy's path rule is enforced (a monitor reads the path), so that a denied
    /// open fails.
    pub fn enforces_paths(self) -> bool {
        matches!(
            self,
            Mechanism::LwcSystrap | Mechanism::SeccompUnotify | Mechanism::Ptrace
        )
    }

    /// Whether any of the policy is enforced.
    pub fn enforces(self) -> bool {
        self != Mechanism::None
    }
}

/// Why a sandboxed run failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A system call of the driver or monitor failed.
    #[error("{op}: {source}")]
    Os {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The lwC runtime failed.
    #[error(transparent)]
    Lwc(#[from] lwc::Error),
    /// The sandbox ended without a result (killed by a signal, or exited early): the text says
    /// how.
    #[error("the sandbox died: {0}")]
    SandboxDied(String),
    /// The sandbox's setup or its result failed.
    #[error("the sandbox: {0}")]
    Sandbox(String),
}

pub(crate) fn os(op: &'static str) -> impl FnOnce(io::Error) -> MonitorError {
    move |source| MonitorError::Os { op, source }
}

/// How a sandboxed run can end without a value, in a form that crosses a process boundary.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Ended {
    Died(String),
    Failed(String),
}

impl From<Ended> for MonitorError {
    fn from(e: Ended) -> Self {
        match e {
            Ended::Died(m) => MonitorError::SandboxDied(m),
            Ended::Failed(m) => MonitorError::Sandbox(m),
        }
    }
}

/// Runs `body` as a sandbox under `mechanism` and the policy of `files` (read-only opens in
/// `files.allowed_dir()`), on the CPU the caller runs on, and returns what it returned. The
/// caller must be single-threaded; every process made is gone when this returns.
///
/// # Errors
/// [`MonitorError::SandboxDied`] when the sandbox was killed (as the filters kill a 32-bit
/// system call) or exited without a result; the others when setting up fails.
pub fn run_sandboxed<T, F>(mechanism: Mechanism, files: &Files, body: F) -> Result<T, MonitorError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(Sandbox) -> T,
{
    let policy = Policy::new(&files.allowed_dir());
    if mechanism == Mechanism::LwcSystrap {
        return systrap::run(files, &policy, body);
    }
    let window = sys::Shared::new(WINDOW_LEN).map_err(os("mmap window"))?;
    for (at, path) in files.window_paths() {
        window.write(at, &path).map_err(os("window"))?;
    }
    let me = rustix::process::getpid();
    let child = sys::fork(|| sandbox_main(mechanism, &window, me, body)).map_err(os("fork"))?;
    let mut child = Child::new(child);
    let status = match mechanism {
        Mechanism::SeccompUnotify => {
            supervisor::serve(&window, child.pid, &policy)?;
            child.wait()?
        }
        Mechanism::Ptrace => child.reaped(tracer::serve(child.pid, &policy, &window)?),
        _ => child.wait()?,
    };
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(MonitorError::SandboxDied(describe(status)));
    }
    let bytes = read_result(&window)?;
    let r: Result<T, Ended> =
        serde_json::from_slice(&bytes).map_err(|e| MonitorError::Sandbox(e.to_string()))?;
    r.map_err(MonitorError::from)
}

/// The sandbox process: its filter, then the body; its result goes to the window.
fn sandbox_main<T: Serialize>(
    mechanism: Mechanism,
    window: &sys::Shared,
    monitor: Pid,
    body: impl FnOnce(Sandbox) -> T,
) -> i32 {
    let result = install(mechanism, window)
        .map(|()| body(Sandbox::new(window.base(), monitor.as_raw_nonzero().get())));
    if let Ok(word) = super::sandbox::listener_word(window) {
        // A supervisor still waiting for a listener stops waiting.
        let _ = word.compare_exchange(
            0,
            u64::MAX,
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
        );
    }
    match write_result(window, &result.map_err(Ended::Failed)) {
        Ok(()) => 0,
        Err(_) => 2,
    }
}

/// Installs the mechanism's filter on the (sandbox) process; for a supervisor, publishes the
/// listener's number in the window; for a tracer, stops for it first.
fn install(mechanism: Mechanism, window: &sys::Shared) -> Result<(), String> {
    fn err(what: &'static str) -> impl Fn(io::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    // If the monitor dies, so does the sandbox (a trapped call would wait for it forever).
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| err("PR_SET_PDEATHSIG")(e.into()))?;
    if mechanism == Mechanism::Ptrace {
        sys::trace_me().map_err(err("PTRACE_TRACEME"))?;
        rustix::process::kill_process(rustix::process::getpid(), Signal::STOP)
            .map_err(|e| err("SIGSTOP")(e.into()))?;
    }
    if !mechanism.enforces() {
        return Ok(());
    }
    rustix::thread::set_no_new_privs(true).map_err(|e| err("PR_SET_NO_NEW_PRIVS")(e.into()))?;
    let (prog, listener) = match mechanism {
        Mechanism::SeccompBpf => (policy::kernel_policy(), false),
        Mechanism::SeccompUnotify => (policy::trap_all(libc::SECCOMP_RET_USER_NOTIF), true),
        _ => (policy::trap_all(libc::SECCOMP_RET_TRACE), false),
    };
    let fd = lwc::seccomp::install(&prog, listener).map_err(|e| e.to_string())?;
    if let Some(fd) = fd {
        use std::os::fd::IntoRawFd;
        let word = super::sandbox::listener_word(window).map_err(err("window"))?;
        // The supervisor takes its own copy (pidfd_getfd); ours stays open until we exit.
        let number = fd.into_raw_fd();
        word.store(number as u64 + 1, std::sync::atomic::Ordering::Release);
    }
    Ok(())
}

/// Writes `value` as JSON into the window's result area.
pub(crate) fn write_result<T: Serialize>(window: &dyn ResultArea, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    if RESULT_AT + bytes.len() > WINDOW_LEN {
        return Err(format!(
            "a {} byte result does not fit the window",
            bytes.len()
        ));
    }
    window.put(RESULT_AT, &bytes)?;
    window.put(RESULT_LEN_AT, &(bytes.len() as u64).to_le_bytes())
}

/// The result the sandbox wrote.
pub(crate) fn read_result(window: &dyn ResultArea) -> Result<Vec<u8>, MonitorError> {
    let mut len = [0u8; 8];
    window
        .get(RESULT_LEN_AT, &mut len)
        .map_err(MonitorError::Sandbox)?;
    let len = u64::from_le_bytes(len) as usize;
    if len == 0 || RESULT_AT + len > WINDOW_LEN {
        return Err(MonitorError::Sandbox("no result in the window".into()));
    }
    let mut bytes = vec![0u8; len];
    window
        .get(RESULT_AT, &mut bytes)
        .map_err(MonitorError::Sandbox)?;
    Ok(bytes)
}

/// The window's memory, for the result (both kinds of window).
pub(crate) trait ResultArea {
    fn put(&self, at: usize, data: &[u8]) -> Result<(), String>;
    fn get(&self, at: usize, buf: &mut [u8]) -> Result<(), String>;
}

impl ResultArea for sys::Shared {
    fn put(&self, at: usize, data: &[u8]) -> Result<(), String> {
        self.write(at, data).map_err(|e| e.to_string())
    }
    fn get(&self, at: usize, buf: &mut [u8]) -> Result<(), String> {
        self.read(at, buf).map_err(|e| e.to_string())
    }
}

impl ResultArea for lwc::SharedRegion {
    fn put(&self, at: usize, data: &[u8]) -> Result<(), String> {
        self.write(at, data).map_err(|e| e.to_string())
    }
    fn get(&self, at: usize, buf: &mut [u8]) -> Result<(), String> {
        self.read(at, buf).map_err(|e| e.to_string())
    }
}

/// The reply a monitor gives for a verdict.
pub(crate) fn reply(v: Verdict) -> lwc::seccomp::Reply {
    match v {
        Verdict::Allow => lwc::seccomp::Reply::Continue,
        Verdict::Deny(e) => lwc::seccomp::Reply::Errno(e),
    }
}

/// How a wait status reads.
pub(crate) fn describe(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        format!("wait status {status:#x}")
    }
}

/// A sandbox process: killed and reaped when dropped unless it was reaped already.
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    fn new(pid: Pid) -> Self {
        Child { pid, reaped: false }
    }

    /// Waits for it to end; its wait status.
    fn wait(&mut self) -> Result<i32, MonitorError> {
        let status = sys::wait(self.pid).map_err(os("waitpid"))?;
        self.reaped = true;
        Ok(status)
    }

    /// Records that someone else (the tracer) reaped it, with this status.
    fn reaped(&mut self, status: i32) -> i32 {
        self.reaped = true;
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
            let _ = sys::wait(self.pid);
        }
    }
}
