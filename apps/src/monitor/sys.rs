//! The system calls the monitor mechanisms need that no safe wrapper offers: fork, raw system
//! calls (by number, through the 64-bit and the 32-bit entry), shared and low mappings, and
//! ptrace.
//!
//! # Safety
//!
//! - [`fork`] is only sound in a single-threaded process (the child would inherit locks other
//!   threads hold); it checks `/proc/self/task` first and refuses otherwise. The child runs the
//!   caller's closure and leaves with `_exit`, never returning into the parent's frames.
//! - [`raw`] and [`int80`] pass integers to the kernel; where an argument is a pointer, the
//!   caller's safe wrapper takes it from a live Rust value or from a mapping owned here
//!   ([`Shared`], [`LowPage`]), and the kernel only reads or writes within the length given.
//! - Mappings are owned by RAII types whose `Drop` unmaps them; their accessors copy bytes in
//!   and out (the memory is shared with another process, so no Rust reference into it is made).
//! - `lwc::create` is fork-like: [`lwc_create`] restates its contract (single-threaded
//!   caller, a spec that unmaps nothing the child uses).
//! - The ptrace calls pass a live `user_regs_struct` for GETREGS/SETREGS and integers otherwise.
//!
//! # References
//! fork(2), syscall(2), mmap(2), ptrace(2), seccomp(2).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use rustix::mm::{MapFlags, ProtFlags};
use rustix::process::Pid;

/// Forks; the child runs `child` and `_exit`s with the code it returns (101 if it panics).
/// Returns the child's pid. Refuses when the process has more than one thread.
pub(crate) fn fork(child: impl FnOnce() -> i32) -> io::Result<Pid> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "refusing to fork: the process has {threads} threads"
        )));
    }
    // SAFETY: single-threaded (checked just above, and nothing here starts a thread), so the
    // child inherits no lock held elsewhere; the child never returns from this function.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
            exit_now(code)
        }
        pid => Pid::from_raw(pid).ok_or_else(|| io::Error::other("fork returned a bad pid")),
    }
}

/// Leaves the process at once (`_exit`): no destructors, no `atexit`, no stdio flush.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and never returns.
    unsafe { libc::_exit(code) }
}

/// A system call by number through the 64-bit entry; `Err(errno)` when it fails.
pub(crate) fn raw(nr: i64, a: [u64; 6]) -> Result<i64, i32> {
    // SAFETY: integers only; callers pass pointers from live values or owned mappings, with
    // their true lengths (see the module's Safety section).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

/// A system call through the 32-bit entry (`int 0x80`, i386 numbers and 32-bit arguments), as
/// a sandbox trying to escape its filter would make it. Returns the kernel's value (negative
/// errno on failure).
pub(crate) fn int80(nr: u32, a: u32, b: u32, c: u32) -> i64 {
    let ret: u32;
    // SAFETY: the i386 entry takes eax/ebx/ecx/edx and returns in eax; rbx is reserved by the
    // compiler, so it is swapped in and out around the trap. Pointer arguments come from a
    // `LowPage` (the 32-bit entry sees only the low 4 GiB).
    unsafe {
        std::arch::asm!(
            "xchg {a:r}, rbx",
            "int 0x80",
            "xchg {a:r}, rbx",
            a = inout(reg) u64::from(a) => _,
            inlateout("eax") nr => ret,
            in("ecx") b,
            in("edx") c,
        );
    }
    i64::from(ret as i32)
}

/// Anonymous memory at an address the kernel picks, unmapped when dropped.
struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mapping {
    fn new(len: usize, flags: MapFlags) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
            )
        }?;
        let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    fn check(&self, offset: usize, len: usize) -> io::Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(io::Error::other(format!(
                "{offset}+{len} is outside the {} byte mapping",
                self.len
            ))),
        }
    }

    fn read(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        self.check(offset, buf.len())?;
        // SAFETY: in bounds (checked); a byte copy out of memory another process may write
        // (no reference into it is kept).
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().cast::<u8>().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    fn write(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.check(offset, data.len())?;
        // SAFETY: in bounds (checked); a byte copy into our own mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().cast::<u8>().add(offset),
                data.len(),
            )
        };
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; nothing borrows into it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr(), self.len) };
    }
}

/// `MAP_SHARED` anonymous memory: stays shared with children forked later (the window a
/// sandbox and its monitor both see: path arguments, the result).
pub(crate) struct Shared(Mapping);

impl Shared {
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        Mapping::new(len, MapFlags::SHARED).map(Shared)
    }
    pub(crate) fn base(&self) -> u64 {
        self.0.ptr.as_ptr() as u64
    }
    pub(crate) fn read(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        self.0.read(offset, buf)
    }
    pub(crate) fn write(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.0.write(offset, data)
    }
    /// The 8-byte-aligned word at `offset`, for a flag two processes pass through it.
    pub(crate) fn word(&self, offset: usize) -> io::Result<&AtomicU64> {
        self.0.check(offset, 8)?;
        if !offset.is_multiple_of(8) {
            return Err(io::Error::other("unaligned word"));
        }
        // SAFETY: in bounds and aligned (checked; the mapping is page-aligned); the word lives
        // as long as the borrow of `self`, and both processes access it only atomically.
        Ok(unsafe {
            &*self
                .0
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(offset)
                .cast::<AtomicU64>()
        })
    }
}

/// One private page below 4 GiB (`MAP_32BIT`), where a 32-bit system call can find a path.
pub(crate) struct LowPage(Mapping);

impl LowPage {
    pub(crate) fn with(data: &[u8]) -> io::Result<Self> {
        let page = Mapping::new(
            4096,
            MapFlags::PRIVATE | MapFlags::from_bits_retain(libc::MAP_32BIT as u32),
        )?;
        page.write(0, data)?;
        Ok(LowPage(page))
    }
    /// The address, which fits 32 bits.
    pub(crate) fn addr32(&self) -> u32 {
        self.0.ptr.as_ptr() as u64 as u32
    }
}

/// `waitpid(pid, &status, __WALL)`: waits for `pid` to end or stop; its raw wait status.
pub(crate) fn wait(pid: Pid) -> io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: a live out-integer.
        let r = unsafe { libc::waitpid(pid.as_raw_nonzero().get(), &mut status, libc::__WALL) };
        if r >= 0 {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `lwc::create` with a spec that unmaps nothing (the child keeps everything its code uses).
pub(crate) fn lwc_create(spec: &lwc::Spec, opts: &lwc::Options) -> lwc::Result<lwc::Created> {
    // SAFETY: lwc::create is fork-like: it needs a single-threaded caller (it checks that
    // itself, Error::MultiThreaded otherwise) and a spec that unmaps nothing in use; callers
    // pass only sharing entries.
    unsafe { lwc::create(spec, opts) }
}

/// `ptrace(PTRACE_TRACEME)`: the parent becomes our tracer.
pub(crate) fn trace_me() -> io::Result<()> {
    ptrace(libc::PTRACE_TRACEME, 0, 0, 0)
}

/// `ptrace(PTRACE_SETOPTIONS, pid, 0, options)`.
pub(crate) fn set_trace_options(pid: Pid, options: i32) -> io::Result<()> {
    ptrace(
        libc::PTRACE_SETOPTIONS,
        pid.as_raw_nonzero().get(),
        0,
        options as u64,
    )
}

/// `ptrace(PTRACE_CONT, pid, 0, signal)`: resumes a stopped tracee, delivering `signal` (0: none).
pub(crate) fn cont(pid: Pid, signal: i32) -> io::Result<()> {
    ptrace(
        libc::PTRACE_CONT,
        pid.as_raw_nonzero().get(),
        0,
        signal as u64,
    )
}

/// `ptrace(PTRACE_GETREGS)`: a stopped tracee's registers.
pub(crate) fn get_regs(pid: Pid) -> io::Result<libc::user_regs_struct> {
    // SAFETY: plain integers; zero is a valid value.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    ptrace(
        libc::PTRACE_GETREGS,
        pid.as_raw_nonzero().get(),
        0,
        &mut regs as *mut libc::user_regs_struct as u64,
    )?;
    Ok(regs)
}

/// `ptrace(PTRACE_SETREGS)`: sets a stopped tracee's registers.
pub(crate) fn set_regs(pid: Pid, regs: &libc::user_regs_struct) -> io::Result<()> {
    ptrace(
        libc::PTRACE_SETREGS,
        pid.as_raw_nonzero().get(),
        0,
        regs as *const libc::user_regs_struct as u64,
    )
}

fn ptrace(request: libc::c_uint, pid: libc::pid_t, addr: u64, data: u64) -> io::Result<()> {
    // SAFETY: `data` is an integer or points at a live user_regs_struct (GETREGS writes it,
    // SETREGS reads it); no other request here touches our memory.
    let r = unsafe { libc::ptrace(request, pid, addr as *mut c_void, data as *mut c_void) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
