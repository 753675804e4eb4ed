//! Processes: fork, reaping, pidfds, signals, prctl, credentials, capabilities and affinity.

use crate::{Error, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What `fork` returned in this process.
pub(crate) enum Forked {
    /// We are the parent; the child has this pid.
    Parent(libc::pid_t),
    /// We are the new child.
    Child,
}

/// Forks the calling process.
///
/// # Safety
/// Returns twice. The caller must be single-threaded (the runtime checks this when the group
/// starts), and in the child must only run code that tolerates a copy of the parent's memory.
pub(crate) unsafe fn fork() -> Result<Forked> {
    // SAFETY: the caller upholds the contract above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(Error::last_os("fork")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Forks a child that shares our descriptor table (clone with CLONE_FILES, SIGCHLD at its
/// exit): what either process opens or closes, the other sees.
///
/// # Safety
/// As [`fork`]; the child must also not rely on glibc's view of its own thread (its cached
/// tid is the parent's): it should make raw system calls only, and `_exit`.
pub(crate) unsafe fn fork_sharing_files() -> Result<Forked> {
    let flags = (libc::CLONE_FILES | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: the caller upholds the contract above; no new stack (the child gets a
    // copy-on-write copy of ours, as with fork), no tid pointers, no TLS.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match pid {
        -1 => Err(Error::last_os("clone(CLONE_FILES)")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// Forks, after checking that the calling process is single-threaded (the one condition under
/// which running arbitrary code in the child is sound).
pub(crate) fn fork_checked() -> Result<Forked> {
    let threads = thread_count();
    if threads > 1 {
        return Err(Error::MultiThreaded {
            op: "lwc::init",
            threads,
        });
    }
    // SAFETY: single-threaded (checked just above): the child's copy holds no lock another
    // thread owned.
    unsafe { fork() }
}

/// Waits for our child `pid` to exit and returns its raw wait status. With `block == false`,
/// returns `None` when it has not exited yet.
pub(crate) fn wait_child(pid: libc::pid_t, block: bool) -> Option<i32> {
    let mut status = 0;
    loop {
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: a valid out-pointer for the status.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            return Some(status);
        }
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// Reaps any exited child without blocking; returns its pid and how it ended.
pub(crate) fn reap_any() -> Option<(libc::pid_t, Ended)> {
    let mut status = 0;
    // SAFETY: a valid out-pointer for the status.
    let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    (r > 0).then(|| {
        let ended = if libc::WIFEXITED(status) {
            Ended::Exited(libc::WEXITSTATUS(status))
        } else {
            Ended::Killed(libc::WTERMSIG(status))
        };
        (r, ended)
    })
}

/// Sends `sig` to `pid` (no error when it is already gone).
pub(crate) fn kill(pid: libc::pid_t, sig: i32) {
    if pid > 0 {
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Ends this process by signal `sig` (its default action), as the process whose status we
/// pass on ended; exits with 128 + `sig` if the signal does not end it.
pub(crate) fn die_by_signal(sig: i32) -> ! {
    // SAFETY: resetting a disposition to the default and raising the signal at ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    exit_now(128 + sig)
}

/// How many times [`kill_descendants`] looks again for processes forked meanwhile.
const KILL_ROUNDS: usize = 64;

/// SIGKILLs every descendant of `root` (a child subreaper: what a killed process leaves comes
/// to it, so nothing leaves the tree while `root` lives). The tree is first frozen with
/// SIGSTOP, one generation at a time, until a look at /proc finds no process that is not
/// stopped (a stopped process cannot fork), then killed; what forked meanwhile is killed in
/// later rounds. Reaps our own children.
pub(crate) fn kill_descendants(root: libc::pid_t) {
    let mut stopped: Vec<libc::pid_t> = Vec::new();
    for _ in 0..KILL_ROUNDS {
        let new: Vec<libc::pid_t> = descendants(root)
            .into_iter()
            .filter(|p| !stopped.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for &p in &new {
            kill(p, libc::SIGSTOP);
        }
        stopped.extend(new);
    }
    for &p in &stopped {
        kill(p, libc::SIGKILL);
    }
    for _ in 0..KILL_ROUNDS {
        while reap_any().is_some() {}
        let left = descendants(root);
        if left.is_empty() {
            return;
        }
        for p in left {
            kill(p, libc::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The live (not zombie) descendants of `root`, from one pass over /proc.
fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent_of: Vec<(libc::pid_t, libc::pid_t)> = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold anything, so parse after its last ')'.
        let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = rest.next().unwrap_or("Z");
        let ppid = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" && state != "X" {
            parent_of.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree.remove(0);
    tree
}

/// A pidfd of the group's supervisor, in every lwC (inherited from the first), or -1.
static SUPERVISOR: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Keeps `pidfd` (of the group's supervisor) for [`supervisor_gone`], for the life of the
/// process and of every lwC forked from it.
pub(crate) fn watch_supervisor(pidfd: OwnedFd) {
    use std::os::fd::IntoRawFd;
    SUPERVISOR.store(pidfd.into_raw_fd(), std::sync::atomic::Ordering::Relaxed);
}

/// The descriptor [`watch_supervisor`] keeps (a runtime descriptor a FILES spec must spare).
pub(crate) fn supervisor_fd() -> Option<libc::c_int> {
    let fd = SUPERVISOR.load(std::sync::atomic::Ordering::Relaxed);
    (fd >= 0).then_some(fd)
}

/// Whether the group's supervisor has ended (then the group has: a parked lwC that finds this
/// was missed by whoever should have killed it).
pub(crate) fn supervisor_gone() -> bool {
    let Some(fd) = supervisor_fd() else {
        return false;
    };
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout only looks.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLNVAL) != 0
}

/// This process's pid.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: no memory effects.
    unsafe { libc::getpid() }
}

/// This process's parent's pid.
pub(crate) fn getppid() -> libc::pid_t {
    // SAFETY: no memory effects.
    unsafe { libc::getppid() }
}

/// Ends this process at once, without running exit handlers or flushing stdio buffers (they
/// belong to the lwC being dropped, or are duplicates of another lwC's).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// A pidfd for `pid` (readable once the process has exited).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory effects; the fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::last_os("pidfd_open"));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sets the prctl(2) `option` to `arg`; a failure is the OS error of `op`.
fn prctl_set(option: libc::c_int, arg: libc::c_ulong, op: &'static str) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(option, arg, 0, 0, 0) } != 0 {
        return Err(Error::last_os(op));
    }
    Ok(())
}

/// Marks this process non-dumpable: without CAP_SYS_PTRACE, no other process of the same user
/// may ptrace it, read its memory (process_vm_readv, /proc/PID/mem) or take its fds
/// (pidfd_getfd, /proc/PID/fd).
pub(crate) fn set_non_dumpable() -> Result<()> {
    prctl_set(libc::PR_SET_DUMPABLE, 0, "prctl(PR_SET_DUMPABLE)")
}

/// Whether this process is dumpable (a fork child inherits the flag with the memory).
pub(crate) fn is_dumpable() -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
}

/// Sets no_new_privs (required to install a seccomp filter without CAP_SYS_ADMIN).
pub(crate) fn set_no_new_privs() -> Result<()> {
    prctl_set(libc::PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")
}

/// Makes this process the reaper of orphaned descendants.
pub(crate) fn set_child_subreaper() -> Result<()> {
    prctl_set(
        libc::PR_SET_CHILD_SUBREAPER,
        1,
        "prctl(PR_SET_CHILD_SUBREAPER)",
    )
}

/// Asks for `sig` when our parent dies.
pub(crate) fn set_parent_death_signal(sig: i32) -> Result<()> {
    prctl_set(
        libc::PR_SET_PDEATHSIG,
        sig as libc::c_ulong,
        "prctl(PR_SET_PDEATHSIG)",
    )
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The capabilities an lwC keeps (bit numbers from linux/capability.h): what a root program
/// needs for files, credentials (a spec's `Credentials`), signals and binding low ports.
/// Everything else is dropped at `init`, among them every capability that reads or steers
/// another process or the kernel: SYS_PTRACE (ptrace, process_vm_readv, /proc/PID/mem),
/// SYS_ADMIN and PERFMON (either one grants a read of a non-dumpable sibling's
/// /proc/PID/{maps,smaps,environ,pagemap,map_files} and CPU-wide perf sampling of its registers
/// and stack), BPF, SYS_RAWIO, SYS_MODULE, CHECKPOINT_RESTORE, NET_RAW and NET_ADMIN (capture
/// of loopback traffic), DAC_READ_SEARCH (open_by_handle_at), IPC_OWNER, SYSLOG.
pub(crate) const KEPT_CAPABILITIES: u64 = (1 << 0) // CHOWN
    | (1 << 1) // DAC_OVERRIDE
    | (1 << 3) // FOWNER
    | (1 << 4) // FSETID
    | (1 << 5) // KILL
    | (1 << 6) // SETGID
    | (1 << 7) // SETUID
    | (1 << 8) // SETPCAP (only lowers: the bounding set no longer holds the rest)
    | (1 << 10) // NET_BIND_SERVICE
    | (1 << 18) // SYS_CHROOT
    | (1 << 27) // MKNOD
    | (1 << 29) // AUDIT_WRITE
    | (1 << 31); // SETFCAP (file capabilities are capped by the bounding set)

/// Keeps only [`KEPT_CAPABILITIES`]: drops the rest from the bounding set (while CAP_SETPCAP
/// is still held, so no execve can give them back), the ambient set, and the effective,
/// permitted and inheritable sets. A no-op for an unprivileged process beyond the ambient set
/// (it holds none, and cannot change its bounding set).
pub(crate) fn keep_only_lwc_capabilities() -> Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) requires for version 3.
    if unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) } != 0 {
        return Err(Error::last_os("capget"));
    }
    for cap in (0..64u32).filter(|c| KEPT_CAPABILITIES & (1 << c) == 0) {
        // Fails with EINVAL past the kernel's last capability and with EPERM without
        // CAP_SETPCAP (an unprivileged process): neither is an error here.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let held = |d: &[CapData; 2]| {
        d.iter().enumerate().any(|(i, w)| {
            (w.permitted | w.effective | w.inheritable) as u64 & !(KEPT_CAPABILITIES >> (32 * i))
                != 0
        })
    };
    if !held(&data) {
        return Ok(());
    }
    for (i, w) in data.iter_mut().enumerate() {
        let keep = (KEPT_CAPABILITIES >> (32 * i)) as u32;
        w.effective &= keep;
        w.permitted &= keep;
        w.inheritable &= keep;
    }
    // SAFETY: as above; capset only lowers capabilities here.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) } != 0 {
        return Err(Error::last_os("capset"));
    }
    Ok(())
}

/// Switches to `uid`/`gid` (real, effective and saved) with no supplementary groups.
pub(crate) fn set_credentials(uid: u32, gid: u32) -> Result<()> {
    // SAFETY: setgroups with an empty list.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(Error::last_os("setgroups"));
    }
    // SAFETY: integer arguments only.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(Error::last_os("setresgid"));
    }
    // SAFETY: integer arguments only.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(Error::last_os("setresuid"));
    }
    Ok(())
}

/// Pins the calling process to `cpus`.
pub(crate) fn pin(cpus: &[usize]) -> Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: cpu_set_t is plain data; zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        if c >= libc::CPU_SETSIZE as usize {
            return Err(Error::Invalid {
                op: "pin",
                reason: format!("CPU {c} is out of range"),
            });
        }
        // SAFETY: `c` < CPU_SETSIZE (checked above), so the bit lies inside `set`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: a valid cpu_set_t of the size we pass.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(Error::last_os("sched_setaffinity"));
    }
    Ok(())
}

/// Whether the kernel should treat the calling process as a batch job (`SCHED_BATCH`: it
/// never preempts another task when it wakes) or as an ordinary one (`SCHED_OTHER`). The nice
/// value stays as it is, so either way is allowed without privilege.
///
/// # References
/// sched_setscheduler(2), sched(7).
pub(crate) fn set_batch(batch: bool) -> Result<()> {
    let policy = if batch {
        libc::SCHED_BATCH
    } else {
        libc::SCHED_OTHER
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid sched_param for a non-real-time policy.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(Error::last_os("sched_setscheduler"));
    }
    Ok(())
}

/// Lowers the calling process's priority as far as it goes (nice 19; raising one's own nice
/// value needs no privilege and cannot be undone without it).
pub(crate) fn lowest_priority() {
    // SAFETY: no memory effects; a failure leaves the priority as it was.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
}

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer of the size we pass.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `c` < CPU_SETSIZE, so the bit lies inside `set`.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The CPU the caller runs on now.
pub(crate) fn current_cpu() -> Option<usize> {
    // SAFETY: no memory effects.
    let c = unsafe { libc::sched_getcpu() };
    (c >= 0).then_some(c as usize)
}

/// Threads in this process (1 when /proc cannot be read: the callers refuse only what they
/// can see), with [`settled_thread_count`]'s grace for threads on their way out.
pub(crate) fn thread_count() -> usize {
    let mut buf = [0u8; 4096];
    match open_task_dir() {
        Ok(dir) => settled_thread_count(|| count_threads_in(dir.as_fd(), &mut buf)).unwrap_or(1),
        Err(_) => 1,
    }
}

/// How long a count above one is retried, for threads that are exiting.
const EXITING_THREADS_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// Counts threads with `count`; while it finds more than one, retries for up to
/// [`EXITING_THREADS_GRACE`]. A thread just joined may still be listed: `pthread_join` returns
/// when the kernel clears the thread's tid, which happens before the thread leaves its thread
/// group. A process that really has other threads pays the grace once, on its way to an error.
/// Allocation-free (rollback counts with signals blocked, on its own stack).
pub(crate) fn settled_thread_count<E>(
    mut count: impl FnMut() -> std::result::Result<usize, E>,
) -> std::result::Result<usize, E> {
    let mut threads = count()?;
    if threads <= 1 {
        return Ok(threads); // the usual case: no clock read on the rollback path
    }
    let start = std::time::Instant::now();
    while threads > 1 && start.elapsed() < EXITING_THREADS_GRACE {
        std::thread::sleep(std::time::Duration::from_micros(200));
        threads = count()?;
    }
    Ok(threads)
}

extern "C" {
    /// glibc's on_exit(3): like atexit, but the handler is given the exit status.
    fn on_exit(
        function: extern "C" fn(libc::c_int, *mut libc::c_void),
        arg: *mut libc::c_void,
    ) -> libc::c_int;
}

/// Registers `handler` to run with the exit status when this process calls `exit` (returning
/// from `main` included). Forked children inherit the registration.
pub(crate) fn register_exit_handler(
    handler: extern "C" fn(libc::c_int, *mut libc::c_void),
) -> Result<()> {
    // SAFETY: `handler` is a plain extern "C" function that ignores its argument pointer.
    if unsafe { on_exit(handler, std::ptr::null_mut()) } != 0 {
        return Err(Error::last_os("on_exit"));
    }
    Ok(())
}

/// Polls `fd` for readability (or hang-up) for at most `timeout_ms` (-1: forever).
/// Returns the revents, or 0 on timeout.
pub(crate) fn poll_in(fd: &OwnedFd, timeout_ms: i32) -> Result<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let r = super::retry_eintr("poll", || {
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout_ms) as i64 }
    })?;
    Ok(if r == 0 { 0 } else { p.revents })
}

/// How a reaped process ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ended {
    /// It called exit/_exit with this code.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
}

impl Ended {
    /// The shell's view of the status: the exit code, or 128 + the signal.
    pub(crate) fn code(self) -> i32 {
        match self {
            Ended::Exited(c) => c,
            Ended::Killed(s) => 128 + s,
        }
    }
}

/// Reaps our child behind `pidfd` if it has exited. `None` when it is not our child or has not
/// exited.
pub(crate) fn reap_pidfd(pidfd: &OwnedFd) -> Option<Ended> {
    const P_PIDFD: libc::idtype_t = 3;
    // SAFETY: siginfo_t is plain data; zero is a valid empty value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer for the siginfo.
    let r = unsafe {
        libc::waitid(
            P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    // SAFETY: si_pid/si_status are valid to read after a successful waitid.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if r != 0 || pid == 0 {
        return None;
    }
    Some(if info.si_code == libc::CLD_EXITED {
        Ended::Exited(status)
    } else {
        Ended::Killed(status)
    })
}

/// Opens /proc/self/task (the directory of this process's threads); errno on failure.
pub(crate) fn open_task_dir() -> std::result::Result<OwnedFd, i32> {
    // SAFETY: a NUL-terminated path; open returns a new fd or -1.
    let fd = unsafe {
        libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(super::errno());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Counts the entries of an open /proc/PID/task directory from its start, using `buf` for
/// getdents64; allocation-free. Rollback keeps the directory open from `take`: the listing is
/// made afresh from the thread group at each read from offset 0, and an open(2) plus close(2)
/// of the directory costs several times the listing itself.
pub(crate) fn count_threads_in(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::result::Result<usize, i32> {
    // SAFETY: lseek has no memory effects.
    if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(super::errno());
    }
    let mut threads = 0;
    loop {
        // SAFETY: getdents64 writes at most buf.len() bytes into `buf`, exclusively borrowed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(super::errno());
        }
        if n == 0 {
            return Ok(threads);
        }
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        let mut at = 0usize;
        while at < n as usize {
            let reclen = match buf.get(at + 16..at + 18) {
                Some(b) => u16::from_ne_bytes([b[0], b[1]]) as usize,
                None => return Err(libc::EIO),
            };
            if reclen == 0 {
                return Err(libc::EIO);
            }
            if buf.get(at + 19).is_some_and(|&c| c != b'.') {
                threads += 1;
            }
            at += reclen;
        }
    }
}
