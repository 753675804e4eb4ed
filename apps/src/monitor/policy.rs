//! The policy every mechanism enforces, and the window a monitor reads path arguments from.
//!
//! | calls | verdict |
//! |---|---|
//! | `read`, `pread64`, `write`, `close` (on the sandbox's own descriptors: a process reaches no other table) | allowed |
//! | `getppid`; `brk`, `munmap`, `mremap`, `madvise`; `mmap` of anonymous memory (the allocator) | allowed |
//! | `exit`, `exit_group`, `rt_sigreturn`, `restart_syscall` | allowed (in the kernel, by every filter) |
//! | `openat` read-only of a path in the allowed directory | allowed |
//! | `openat` of any other path, or with a flag that writes, creates or truncates | `EACCES` |
//! | `openat` whose path does not lie in the argument window (a monitor would have to read the sandbox's private memory) | `EFAULT` |
//! | anything else (`socket`, `getpid`, `execve`, `mmap` of a file, ...) | `EPERM` |
//!
//! A path is allowed when it is absolute, starts with the allowed directory and a `/`, and
//! has no empty, `.` or `..` component (`/allowed/../denied/x` is refused by its text, not by
//! resolving it). Symbolic links are not resolved: the sandbox cannot make any (`symlinkat` is
//! not allowed), and the directory is the experiment's own.
//!
//! Why a window: a monitor must read the path a pointer argument names. An lwC monitor cannot
//! read its sandbox's private memory (the sandbox is a separate, non-dumpable process, and it
//! cannot serve an overlay while it is stopped in a trapped call), so the sandbox passes paths
//! in memory it shares with its monitor, and every mechanism's monitor reads them there, the
//! same way: the comparison measures the mechanisms, not three ways of reading memory. The
//! check holds while the sandbox is stopped: it is single-threaded and may not `clone`, so
//! nothing rewrites the path between the check and the kernel's own read of it
//! (`SECCOMP_USER_NOTIF_FLAG_CONTINUE` and `PTRACE_CONT` let the kernel re-read it).
//! An in-kernel filter (`seccomp-bpf`) sees only the pointer's value: it checks the flags and
//! lets every read-only open through, whatever the path ([`kernel_policy`]).

use lwc::seccomp::{self as bpf, and, jeq, load_arg_low, ret};

/// Bytes at the start of the window where path arguments must lie.
pub const ARG_AREA: usize = 4096;

/// Longest path the monitor reads (a longer one is refused).
pub const PATH_MAX: usize = 512;

/// `openat` flags that neither write, create nor truncate: the only ones a sandbox may give.
pub const READ_ONLY_FLAGS: u32 =
    (libc::O_CLOEXEC | libc::O_LARGEFILE | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        as u32;

/// What the policy says of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the kernel run it as asked.
    Allow,
    /// Fail it with this errno, unrun.
    Deny(i32),
}

/// Memory a sandbox and its monitor both map: the monitor reads path arguments from it.
pub trait Window {
    /// Address of its first byte (the same in both).
    fn base(&self) -> u64;
    /// Copies bytes at `offset` out; false when out of bounds.
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> bool;
}

impl Window for crate::monitor::sys::Shared {
    fn base(&self) -> u64 {
        crate::monitor::sys::Shared::base(self)
    }
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> bool {
        self.read(offset, buf).is_ok()
    }
}

impl Window for lwc::SharedRegion {
    fn base(&self) -> u64 {
        self.as_ptr() as u64
    }
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> bool {
        self.read(offset, buf).is_ok()
    }
}

/// The policy of the `monitor` experiment: read-only opens in one directory, reads and writes
/// on the sandbox's descriptors, the allocator's memory calls; nothing else.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The allowed directory, absolute, without a trailing `/`.
    dir: Vec<u8>,
}

impl Policy {
    /// A policy allowing read-only opens under `dir` (absolute).
    pub fn new(dir: &std::path::Path) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let mut dir = dir.as_os_str().as_bytes().to_vec();
        while dir.len() > 1 && dir.ends_with(b"/") {
            dir.pop();
        }
        Policy { dir }
    }

    /// The verdict on system call `nr` with arguments `a`, reading path arguments from
    /// `window`.
    pub fn decide(&self, nr: i64, a: &[u64; 6], window: &dyn Window) -> Verdict {
        match nr {
            _ if ALLOWED.contains(&nr) || allocator_call(nr, a) => Verdict::Allow,
            libc::SYS_openat => self.open(a[1], a[2] as u32, window),
            _ => Verdict::Deny(libc::EPERM),
        }
    }

    fn open(&self, path: u64, flags: u32, window: &dyn Window) -> Verdict {
        if flags & !READ_ONLY_FLAGS != 0 {
            return Verdict::Deny(libc::EACCES);
        }
        let Some(path) = read_path(path, window) else {
            return Verdict::Deny(libc::EFAULT);
        };
        if self.allows(&path) {
            Verdict::Allow
        } else {
            Verdict::Deny(libc::EACCES)
        }
    }

    /// Whether `path` (without its NUL) names something in the allowed directory.
    pub fn allows(&self, path: &[u8]) -> bool {
        let Some(rest) = path
            .strip_prefix(self.dir.as_slice())
            .and_then(|r| r.strip_prefix(b"/"))
        else {
            return false;
        };
        !rest.is_empty()
            && rest
                .split(|&b| b == b'/')
                .all(|c| !c.is_empty() && c != b"." && c != b"..")
    }
}

/// The NUL-terminated string at address `addr`, if it lies wholly in the argument area.
fn read_path(addr: u64, window: &dyn Window) -> Option<Vec<u8>> {
    let offset = usize::try_from(addr.checked_sub(window.base())?).ok()?;
    if offset >= ARG_AREA {
        return None;
    }
    let mut buf = vec![0u8; PATH_MAX.min(ARG_AREA - offset)];
    if !window.read_at(offset, &mut buf) {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    buf.truncate(end);
    Some(buf)
}

/// Whether `nr` with `a` is one of the allocator's memory calls (`brk`, `munmap`, `mremap`,
/// `madvise`, `mmap` of anonymous memory), which every policy here allows.
pub fn allocator_call(nr: i64, a: &[u64; 6]) -> bool {
    match nr {
        libc::SYS_brk | libc::SYS_munmap | libc::SYS_mremap | libc::SYS_madvise => true,
        libc::SYS_mmap => a[3] as u32 & libc::MAP_ANONYMOUS as u32 != 0,
        _ => false,
    }
}

/// Calls allowed whatever their arguments.
const ALLOWED: [i64; 13] = [
    libc::SYS_read,
    libc::SYS_pread64,
    libc::SYS_write,
    libc::SYS_close,
    libc::SYS_getppid,
    libc::SYS_brk,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_rt_sigreturn,
    libc::SYS_restart_syscall,
];

/// Calls every filter lets through in the kernel, so that a sandbox can always end.
const ENDINGS: [i64; 4] = [
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_rt_sigreturn,
    libc::SYS_restart_syscall,
];

/// A filter that hands every call but [`ENDINGS`] to a monitor with `action`
/// (`SECCOMP_RET_USER_NOTIF` for a supervisor, `SECCOMP_RET_TRACE` for a ptrace tracer).
pub fn trap_all(action: u32) -> Vec<libc::sock_filter> {
    let mut p = bpf::native_abi_only();
    for nr in ENDINGS {
        p.push(jeq(nr as u32, 0, 1));
        p.push(ret(libc::SECCOMP_RET_ALLOW));
    }
    p.push(ret(action));
    p
}

/// [`Policy`] compiled into an in-kernel filter, as far as a filter can: it sees numbers and
/// integer arguments, never the memory a pointer names, so `openat` is allowed read-only for
/// every path (the flags are checked; the path is not).
pub fn kernel_policy() -> Vec<libc::sock_filter> {
    let errno = |e: i32| ret(libc::SECCOMP_RET_ERRNO | e as u32);
    let mut p = bpf::native_abi_only();
    for nr in ALLOWED {
        p.push(jeq(nr as u32, 0, 1));
        p.push(ret(libc::SECCOMP_RET_ALLOW));
    }
    p.extend([
        // mmap: anonymous only.
        jeq(libc::SYS_mmap as u32, 0, 5),
        load_arg_low(3),
        and(libc::MAP_ANONYMOUS as u32),
        jeq(0, 1, 0),
        ret(libc::SECCOMP_RET_ALLOW),
        errno(libc::EPERM),
        // openat: read-only flags (the number is still in A when this is reached).
        jeq(libc::SYS_openat as u32, 0, 5),
        load_arg_low(2),
        and(!READ_ONLY_FLAGS),
        jeq(0, 0, 1),
        ret(libc::SECCOMP_RET_ALLOW),
        errno(libc::EACCES),
        errno(libc::EPERM),
    ]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);
    impl Window for Bytes {
        fn base(&self) -> u64 {
            0x1000
        }
        fn read_at(&self, offset: usize, buf: &mut [u8]) -> bool {
            match self.0.get(offset..offset + buf.len()) {
                Some(s) => {
                    buf.copy_from_slice(s);
                    true
                }
                None => false,
            }
        }
    }

    fn window(path: &str) -> Bytes {
        let mut v = vec![0u8; ARG_AREA + 64];
        v[..path.len()].copy_from_slice(path.as_bytes());
        Bytes(v)
    }

    fn open(p: &Policy, path: &str, flags: i32) -> Verdict {
        p.decide(
            libc::SYS_openat,
            &[0, 0x1000, flags as u64, 0, 0, 0],
            &window(path),
        )
    }

    #[test]
    fn paths_inside_the_directory_only() {
        // Guards against a prefix check that lets `/dir-evil` or `..` through.
        let p = Policy::new(std::path::Path::new("/tmp/m/allowed/"));
        assert_eq!(
            open(&p, "/tmp/m/allowed/file", libc::O_RDONLY),
            Verdict::Allow
        );
        assert_eq!(
            open(&p, "/tmp/m/allowed/a/b", libc::O_CLOEXEC),
            Verdict::Allow
        );
        for bad in [
            "/tmp/m/allowed",
            "/tmp/m/allowed/",
            "/tmp/m/allowed-evil/file",
            "/tmp/m/allowed/../denied/secret",
            "/tmp/m/allowed/./file",
            "/tmp/m/allowed//file",
            "/tmp/m/denied/secret",
            "allowed/file",
        ] {
            assert_eq!(
                open(&p, bad, libc::O_RDONLY),
                Verdict::Deny(libc::EACCES),
                "{bad}"
            );
        }
        for flags in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_CREAT,
            libc::O_TRUNC,
            libc::O_APPEND,
        ] {
            assert_eq!(
                open(&p, "/tmp/m/allowed/file", flags),
                Verdict::Deny(libc::EACCES),
                "{flags:#x}"
            );
        }
    }

    #[test]
    fn a_path_outside_the_window_is_a_fault() {
        // Guards against reading a path the monitor cannot see, or past the argument area.
        let p = Policy::new(std::path::Path::new("/a"));
        let w = window("/a/b");
        for addr in [0u64, 0xfff, 0x1000 + ARG_AREA as u64, u64::MAX] {
            assert_eq!(
                p.decide(libc::SYS_openat, &[0, addr, 0, 0, 0, 0], &w),
                Verdict::Deny(libc::EFAULT),
                "{addr:#x}"
            );
        }
        // No NUL within the area.
        let mut full = Bytes(vec![b'a'; ARG_AREA + 64]);
        full.0[0] = b'/';
        assert_eq!(
            p.decide(libc::SYS_openat, &[0, 0x1000, 0, 0, 0, 0], &full),
            Verdict::Deny(libc::EFAULT)
        );
    }

    #[test]
    fn other_calls_are_refused() {
        let p = Policy::new(std::path::Path::new("/a"));
        let w = window("");
        let d = |nr, a3| p.decide(nr, &[0, 0, 0, a3, 0, 0], &w);
        assert_eq!(d(libc::SYS_getppid, 0), Verdict::Allow);
        assert_eq!(d(libc::SYS_pread64, 0), Verdict::Allow);
        assert_eq!(
            d(libc::SYS_mmap, libc::MAP_ANONYMOUS as u64),
            Verdict::Allow
        );
        assert_eq!(
            d(libc::SYS_mmap, libc::MAP_PRIVATE as u64),
            Verdict::Deny(libc::EPERM)
        );
        for nr in [
            libc::SYS_getpid,
            libc::SYS_socket,
            libc::SYS_execve,
            libc::SYS_clone,
            libc::SYS_open,
        ] {
            assert_eq!(d(nr, 0), Verdict::Deny(libc::EPERM), "{nr}");
        }
    }
}
