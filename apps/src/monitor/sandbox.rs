//! The sandbox's side: the files a run uses, the layout of the window a sandbox shares with its
//! monitor, and the system calls of the mix, made raw (by number, no libc wrapper that could add
//! or change calls).
//!
//! ```text
//!   window (shared by the sandbox and its monitor, same address in both)
//!   0        ARG_AREA                 RESULT_AT
//!   │ paths  │ word: listener number+1 │ result length │ result (JSON) ...
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::policy::ARG_AREA;
use super::sys;

/// A call of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `getppid`: the cheapest call, so the mechanism's own cost.
    Getppid,
    /// `openat` of a file in the allowed directory, read-only, then `close`.
    OpenAllowed,
    /// `openat` of a file outside it (denied: `EACCES`; where nothing enforces the policy it
    /// opens, and is closed).
    OpenDenied,
    /// `pread64` of 4 KiB of a cached file.
    Read4k,
    /// `pread64` of 64 KiB of it.
    Read64k,
}

impl Call {
    /// Every call, in plan order.
    pub const ALL: [Call; 5] = [
        Call::Getppid,
        Call::OpenAllowed,
        Call::OpenDenied,
        Call::Read4k,
        Call::Read64k,
    ];

    /// The value of the `call` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Call::Getppid => "getppid",
            Call::OpenAllowed => "open-allowed",
            Call::OpenDenied => "open-denied",
            Call::Read4k => "read-4k",
            Call::Read64k => "read-64k",
        }
    }

    /// The call named `name`.
    pub fn parse(name: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Bytes the reads read (the data file's size).
pub const DATA_LEN: usize = 64 * 1024;
/// What the allowed file holds.
pub const ALLOWED_TEXT: &[u8] = b"allowed\n";
/// What the denied file holds.
pub const SECRET_TEXT: &[u8] = b"secret\n";

/// Where the window's control words and the result start.
pub(crate) const LISTENER_AT: usize = ARG_AREA;
pub(crate) const RESULT_LEN_AT: usize = ARG_AREA + 8;
pub(crate) const RESULT_AT: usize = ARG_AREA + 16;
/// The window's size (the result must fit).
pub const WINDOW_LEN: usize = 4 << 20;

/// A path argument the sandbox passes, from the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathArg {
    /// `allowed/file`.
    Allowed,
    /// `allowed/data` (what the reads read).
    Data,
    /// `denied/secret`.
    Denied,
    /// `allowed/../denied/secret`: the denied file by a path that starts in the allowed one.
    Traversal,
    /// `escape/made`: where an escape attempt would create a file.
    Escape,
}

impl PathArg {
    const ALL: [PathArg; 5] = [
        PathArg::Allowed,
        PathArg::Data,
        PathArg::Denied,
        PathArg::Traversal,
        PathArg::Escape,
    ];

    fn offset(self) -> usize {
        self as usize * 512
    }
}

/// The directory tree of one run, removed when dropped:
/// `allowed/{file,data}`, `denied/secret`, `escape/` (world-writable, empty).
#[derive(Debug)]
pub struct Files {
    root: PathBuf,
}

impl Files {
    /// Makes a fresh tree under the temporary directory, readable by every user (the tests
    /// also run the sandbox as an unprivileged user).
    pub fn create() -> io::Result<Files> {
        use std::os::unix::fs::PermissionsExt;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "lwcbench-monitor-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let files = Files { root };
        for (dir, mode) in [
            ("", 0o755),
            ("allowed", 0o755),
            ("denied", 0o755),
            ("escape", 0o777),
        ] {
            let d = files.root.join(dir);
            std::fs::create_dir_all(&d)?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))?;
        }
        let data: Vec<u8> = (0..DATA_LEN).map(|i| (i % 251) as u8).collect();
        for (path, bytes) in [
            (files.allowed_dir().join("file"), ALLOWED_TEXT),
            (files.allowed_dir().join("data"), &data[..]),
            (files.root.join("denied/secret"), SECRET_TEXT),
        ] {
            std::fs::write(&path, bytes)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
        Ok(files)
    }

    /// The directory the policy allows opening in.
    pub fn allowed_dir(&self) -> PathBuf {
        self.root.join("allowed")
    }

    /// The file a path argument names.
    pub fn path(&self, which: PathArg) -> PathBuf {
        let rel = match which {
            PathArg::Allowed => "allowed/file",
            PathArg::Data => "allowed/data",
            PathArg::Denied => "denied/secret",
            PathArg::Traversal => "allowed/../denied/secret",
            PathArg::Escape => "escape/made",
        };
        self.root.join(rel)
    }

    /// The paths as the window holds them: (offset, NUL-terminated bytes).
    pub(crate) fn window_paths(&self) -> Vec<(usize, Vec<u8>)> {
        use std::os::unix::ffi::OsStrExt;
        PathArg::ALL
            .iter()
            .map(|&p| {
                let mut b = self.path(p).as_os_str().as_bytes().to_vec();
                b.push(0);
                (p.offset(), b)
            })
            .collect()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What code running in a sandbox holds: where the window is, and who its monitor is.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox {
    base: u64,
    monitor_pid: i32,
}

impl Sandbox {
    pub(crate) fn new(base: u64, monitor_pid: i32) -> Self {
        Sandbox { base, monitor_pid }
    }

    /// The pid of the process the sandbox was forked from (what `getppid` must return).
    pub fn monitor_pid(&self) -> i32 {
        self.monitor_pid
    }

    /// The address of a path argument in the window.
    pub fn path(&self, which: PathArg) -> u64 {
        self.base + which.offset() as u64
    }

    /// `openat(AT_FDCWD, path, flags, 0644)`, raw: the descriptor or the errno.
    pub fn openat(&self, path: u64, flags: i32) -> Result<i32, i32> {
        sys::raw(
            libc::SYS_openat,
            [libc::AT_FDCWD as u64, path, flags as u64, 0o644, 0, 0],
        )
        .map(|fd| fd as i32)
    }

    /// `close(fd)`, raw.
    pub fn close(&self, fd: i32) -> Result<(), i32> {
        sys::raw(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]).map(drop)
    }

    /// `pread64(fd, buf, len, 0)`, raw: the bytes read.
    pub fn pread(&self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        sys::raw(
            libc::SYS_pread64,
            [
                fd as u64,
                buf.as_mut_ptr() as u64,
                buf.len() as u64,
                0,
                0,
                0,
            ],
        )
        .map(|n| n as usize)
    }

    /// `getppid()`, raw.
    pub fn getppid(&self) -> Result<i32, i32> {
        sys::raw(libc::SYS_getppid, [0; 6]).map(|p| p as i32)
    }

    /// Any call by number with integer arguments (no pointer), raw.
    pub fn call(&self, nr: i64, args: [u64; 6]) -> Result<i64, i32> {
        sys::raw(nr, args)
    }

    /// `open(path, O_CREAT | O_WRONLY, 0644)` through the 32-bit entry (`int 0x80`, i386
    /// number 5), with the path copied below 4 GiB first: an attempt to leave the filter's
    /// view. The kernel's value (a descriptor, or a negative errno).
    pub fn open_via_int80(&self, path: &Path) -> io::Result<i64> {
        use std::os::unix::ffi::OsStrExt;
        let mut bytes = path.as_os_str().as_bytes().to_vec();
        bytes.push(0);
        let page = sys::LowPage::with(&bytes)?;
        const I386_OPEN: u32 = 5;
        Ok(sys::int80(
            I386_OPEN,
            page.addr32(),
            (libc::O_CREAT | libc::O_WRONLY) as u32,
            0o644,
        ))
    }

    /// `openat(AT_FDCWD, path, O_CREAT | O_WRONLY)` with the x32 bit set in the number: the
    /// descriptor or the errno.
    pub fn openat_via_x32(&self, path: u64) -> Result<i64, i32> {
        const X32_SYSCALL_BIT: i64 = 0x4000_0000;
        sys::raw(
            X32_SYSCALL_BIT | libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                path,
                (libc::O_CREAT | libc::O_WRONLY) as u64,
                0o644,
                0,
                0,
            ],
        )
    }
}

/// The calls of the mix, ready to repeat: the data file open, the buffer allocated.
pub struct Mix {
    sandbox: Sandbox,
    data: i32,
    buf: Vec<u8>,
    /// Whether the policy is enforced on paths (a denied open must fail), or not (`none`,
    /// `seccomp-bpf`: it opens).
    paths_enforced: bool,
}

impl Mix {
    /// Opens the data file (through the policy) and allocates the buffer.
    pub fn new(sandbox: Sandbox, paths_enforced: bool) -> Result<Mix, String> {
        let data = sandbox
            .openat(
                sandbox.path(PathArg::Data),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
            .map_err(|e| format!("opening the data file: errno {e}"))?;
        Ok(Mix {
            sandbox,
            data,
            buf: vec![0u8; DATA_LEN],
            paths_enforced,
        })
    }

    /// Makes `call` once and checks its result.
    pub fn once(&mut self, call: Call) -> Result<(), String> {
        let sb = self.sandbox;
        let flags = libc::O_RDONLY | libc::O_CLOEXEC;
        match call {
            Call::Getppid => match sb.getppid() {
                Ok(p) if p == sb.monitor_pid => Ok(()),
                other => Err(format!("getppid: {other:?}")),
            },
            Call::OpenAllowed => {
                let fd = sb
                    .openat(sb.path(PathArg::Allowed), flags)
                    .map_err(|e| format!("allowed open: errno {e}"))?;
                sb.close(fd).map_err(|e| format!("close: errno {e}"))
            }
            Call::OpenDenied => match (
                sb.openat(sb.path(PathArg::Denied), flags),
                self.paths_enforced,
            ) {
                (Err(libc::EACCES), true) => Ok(()),
                (Ok(fd), false) => sb.close(fd).map_err(|e| format!("close: errno {e}")),
                (other, _) => Err(format!("denied open: {other:?}")),
            },
            Call::Read4k | Call::Read64k => {
                let len = if call == Call::Read4k { 4096 } else { DATA_LEN };
                match sb.pread(self.data, &mut self.buf[..len]) {
                    Ok(n) if n == len => Ok(()),
                    other => Err(format!("pread {len}: {other:?}")),
                }
            }
        }
    }
}

/// The window's result word pair, written by the sandbox at its end.
pub(crate) fn listener_word(w: &sys::Shared) -> io::Result<&AtomicU64> {
    w.word(LISTENER_AT)
}
