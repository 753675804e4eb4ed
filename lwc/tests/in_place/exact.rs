//! Exact or refused: every change a careful program can make to its memory between take and
//! rollback is either undone exactly, or rollback refuses with an error before it changes
//! anything. Each case runs on both ways of tracking writes: the write log (large anonymous
//! mappings; here from 1 MiB) and async write-protect with PAGEMAP_SCAN (`off`).
//!
//! Every test names the bug it guards against; each failed on the engine before these checks
//! (a page left wrong, or an abort inside rollback).

use crate::{first_difference, map_private, rollback, take, Shared, PAGE};
use lwc::{Error, Snapshot};
use std::hint::black_box;

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        ("exact::dropped_pages_logged", dropped_pages_logged),
        ("exact::dropped_pages_scanned", dropped_pages_scanned),
        ("exact::dontneed_on_data_is_restored", dontneed_on_data),
        (
            "exact::dontneed_on_private_file_page_is_restored",
            dontneed_on_private_file_page,
        ),
        ("exact::map_fixed_same_shape_logged", map_fixed_logged),
        ("exact::map_fixed_same_shape_scanned", map_fixed_scanned),
        ("exact::mremap_away_and_back_logged", mremap_back_logged),
        ("exact::mremap_away_and_back_scanned", mremap_back_scanned),
        (
            "exact::munmap_and_mmap_same_address",
            munmap_mmap_same_address,
        ),
        ("exact::free_malloc_same_size_block", free_malloc_same_block),
        (
            "exact::io_uring_buffers_registered_before_take",
            io_uring_registered_before_take,
        ),
        (
            "exact::io_uring_buffers_registered_after_take",
            io_uring_registered_after_take,
        ),
        (
            "exact::take_copies_only_populated_pages",
            take_copies_populated,
        ),
        (
            "exact::one_page_layout_change_is_cheap",
            one_page_change_cheap,
        ),
    ]
}

/// Tests that need io_uring (and in-place rollback), with why they cannot run here.
pub fn needs_io_uring() -> Vec<crate::support::Need> {
    let check: fn() -> Option<String> =
        || crate::in_place_unavailable().or_else(|| Ring::new().err().map(|e| format!("{e}")));
    vec![
        ("exact::io_uring_buffers_registered_before_take", check),
        ("exact::io_uring_buffers_registered_after_take", check),
    ]
}

/// How the test's mapping is tracked: which path of the engine a case exercises.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tracking {
    /// The write log (mappings from 1 MiB, in these tests).
    Logged,
    /// Async write-protect and PAGEMAP_SCAN for everything.
    Scanned,
}

fn set_tracking(t: Tracking) {
    let v = match t {
        Tracking::Logged => "1048576",
        Tracking::Scanned => "off",
    };
    std::env::set_var("LWC_IN_PLACE_LOG_MIN_BYTES", v);
}

const MADV_PAGEOUT: libc::c_int = 21;

fn madvise(at: *mut u8, len: usize, advice: libc::c_int) {
    // SAFETY: advice on our own mapping; the callers accept that the pages may be dropped.
    let r = unsafe { libc::madvise(at.cast(), len, advice) };
    assert_eq!(
        r,
        0,
        "madvise({advice}): {}",
        std::io::Error::last_os_error()
    );
}

/// The opening these tests share: a 16 MiB private mapping, its first half filled with a
/// pattern, a snapshot, and the round (0 first, n after the n-th rollback) with the mapping
/// checked back to its pattern at every pass.
struct Opening {
    mem: &'static mut [u8],
    snap: Snapshot,
    round: usize,
}

const PAGES: usize = 4096;
const POPULATED: usize = 2048;

fn opening(t: Tracking) -> Opening {
    set_tracking(t);
    let shared = Shared::new();
    let mem = map_private(PAGES * PAGE);
    crate::fill_pattern(mem, POPULATED);
    let snap = take().snapshot();
    let round = shared.bump(0) as usize;
    assert_eq!(
        first_difference(mem, POPULATED),
        None,
        "{t:?} round {round}: not restored"
    );
    Opening { mem, snap, round }
}

// ---------------------------------------------------------------------------------------------
// Pages dropped by madvise
// ---------------------------------------------------------------------------------------------

/// Guards against: pages dropped by MADV_DONTNEED / MADV_FREE + MADV_PAGEOUT losing their
/// write-protect state, so rollback leaves them zero (and a write after the drop is not seen).
fn dropped_pages(t: Tracking) {
    let Opening {
        mem, snap, round, ..
    } = opening(t);
    let base = mem.as_mut_ptr();
    let at = |p: usize| base.wrapping_add(p * PAGE);
    match round {
        0 => {
            madvise(at(10), 4 * PAGE, libc::MADV_DONTNEED);
            assert_eq!(mem[10 * PAGE], 0, "premise: a dropped page reads zero");
        }
        1 => {
            madvise(at(100), 8 * PAGE, libc::MADV_FREE);
            madvise(at(100), 8 * PAGE, MADV_PAGEOUT);
        }
        2 => {
            madvise(at(200), 4 * PAGE, libc::MADV_DONTNEED);
            mem[201 * PAGE + 3] = 0x42;
        }
        3 => {
            // Never populated at take: dropped then written, it must read zero again.
            madvise(at(3000), 4 * PAGE, libc::MADV_DONTNEED);
            mem[3001 * PAGE] = 0x42;
            // And the whole mapping at once.
            madvise(at(0), PAGES * PAGE, libc::MADV_DONTNEED);
            mem[7 * PAGE] = 0x43;
        }
        4 => mem[5 * PAGE] = 1, // tracking still works after the repairs
        _ => {
            snap.release().expect("release");
            return;
        }
    }
    black_box(&mut *mem);
    rollback(&snap);
}

fn dropped_pages_logged() {
    dropped_pages(Tracking::Logged);
}

fn dropped_pages_scanned() {
    dropped_pages(Tracking::Scanned);
}

/// Three pages of `.data` (a file-backed private mapping of the test executable), aligned so
/// madvise can drop them one by one.
#[repr(C, align(4096))]
struct DataPages([u8; 3 * PAGE]);
static mut DATA_PAGES: DataPages = DataPages([0x5A; 3 * PAGE]);

/// Whether `addr` lies in a file-backed mapping (inode not 0).
fn file_backed(addr: usize) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines().any(|l| {
        let mut f = l.split_whitespace();
        let (s, e) = f
            .next()
            .and_then(|r| r.split_once('-'))
            .unwrap_or(("0", "0"));
        let s = usize::from_str_radix(s, 16).unwrap_or(0);
        let e = usize::from_str_radix(e, 16).unwrap_or(0);
        let inode = f.nth(3).unwrap_or("0");
        (s..e).contains(&addr) && inode != "0"
    })
}

/// Guards against: MADV_DONTNEED on `.data` reverting a page to the file's content while its
/// write-protect marker says "not written", so rollback keeps the file's bytes.
fn dontneed_on_data() {
    let shared = Shared::new();
    // SAFETY: single-threaded test child; the only reference to DATA_PAGES.
    let data = unsafe { &mut *std::ptr::addr_of_mut!(DATA_PAGES.0) };
    assert!(
        file_backed(data.as_ptr() as usize),
        "premise: .data is file-backed"
    );
    let want = |p: usize| [0x11u8, 0x5A, 0x22][p];
    if shared.get(1) == 0 {
        shared.set(1, 1);
        data[..PAGE].fill(0x11); // copied-on-write before take
        data[2 * PAGE..].fill(0x22);
    }
    let snap = take().snapshot();
    let round = shared.bump(0);
    for p in 0..3 {
        assert!(
            data[p * PAGE..(p + 1) * PAGE].iter().all(|&b| b == want(p)),
            "round {round}: .data page {p} not restored"
        );
    }
    let at = data.as_mut_ptr();
    match round {
        0 => {
            madvise(at, 3 * PAGE, libc::MADV_DONTNEED);
            assert_eq!(data[0], 0x5A, "premise: the page reverts to the file");
        }
        1 => {
            data[PAGE] = 0x33;
            madvise(at, 3 * PAGE, libc::MADV_DONTNEED);
        }
        _ => {
            snap.release().expect("release");
            return;
        }
    }
    rollback(&snap);
}

/// Guards against: the same on a MAP_PRIVATE mapping of a file the test made.
fn dontneed_on_private_file_page() {
    let shared = Shared::new();
    let path = std::env::temp_dir().join(format!("lwc-exact-{}", std::process::id()));
    std::fs::write(&path, vec![3u8; 4 * PAGE]).expect("write temp file");
    let file = std::fs::File::open(&path).expect("open");
    let _ = std::fs::remove_file(&path);
    use std::os::fd::AsRawFd;
    // SAFETY: a private writable mapping of our own file, leaked for the child's life.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: the mapping just made, 4 pages, exclusively ours.
    let mem = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), 4 * PAGE) };
    mem[..2 * PAGE].fill(7);
    let snap = take().snapshot();
    let round = shared.bump(0);
    let want = |i: usize| if i < 2 * PAGE { 7 } else { 3 };
    let bad = mem.iter().enumerate().position(|(i, &b)| b != want(i));
    assert_eq!(bad, None, "round {round}: file page not restored");
    if round < 2 {
        if round == 1 {
            mem[3 * PAGE] = 9;
        }
        madvise(mem.as_mut_ptr(), 4 * PAGE, libc::MADV_DONTNEED);
        assert_eq!(mem[0], 3, "premise: the page reverts to the file");
        rollback(&snap);
    }
    snap.release().expect("release");
}

// ---------------------------------------------------------------------------------------------
// Mappings replaced at the same address
// ---------------------------------------------------------------------------------------------

/// Guards against: a mapping replaced by one of the same shape (same line in /proc/self/maps)
/// taken for the tracked one: its pages are not tracked (a rollback left the old ones wrong, or
/// PAGEMAP_SCAN failed with EPERM halfway through and rollback aborted the process).
fn map_fixed(t: Tracking) {
    let Opening {
        mem, snap, round, ..
    } = opening(t);
    match round {
        0 | 1 => {
            // SAFETY: replaces our own leaked mapping with a fresh one of the same shape.
            let p = unsafe {
                libc::mmap(
                    mem.as_mut_ptr().cast(),
                    mem.len(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            assert_eq!(p.cast::<u8>(), mem.as_mut_ptr());
            assert_eq!(mem[0], 0, "premise: the new mapping is zero");
            if round == 1 {
                mem[3 * PAGE] = 1; // and written
            }
        }
        2 => mem[9 * PAGE] = 1, // tracked again after the repair
        _ => {
            snap.release().expect("release");
            return;
        }
    }
    rollback(&snap);
}

fn map_fixed_logged() {
    map_fixed(Tracking::Logged);
}

fn map_fixed_scanned() {
    map_fixed(Tracking::Scanned);
}

/// Guards against: mremap away and back to the same address (the same maps line) dropping the
/// registration unseen.
fn mremap_back(t: Tracking) {
    let Opening {
        mem, snap, round, ..
    } = opening(t);
    if round < 2 {
        let len = mem.len();
        let home = mem.as_mut_ptr();
        // A place to move to: reserved, then replaced by the move.
        // SAFETY: a fresh reservation; the moves below replace it and come back.
        unsafe {
            let away = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(away, libc::MAP_FAILED);
            let fixed = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
            let p = libc::mremap(home.cast(), len, len, fixed, away);
            assert_eq!(p, away);
            // Written while away.
            *away.cast::<u8>().add(2 * PAGE) = 0x99;
            let q = libc::mremap(away, len, len, fixed, home.cast::<libc::c_void>());
            assert_eq!(q.cast::<u8>(), home);
        }
        assert_eq!(mem[2 * PAGE], 0x99, "premise: the same pages came back");
        mem[3 * PAGE] = 0x98; // written after coming back
        rollback(&snap);
    }
    snap.release().expect("release");
}

fn mremap_back_logged() {
    mremap_back(Tracking::Logged);
}

fn mremap_back_scanned() {
    mremap_back(Tracking::Scanned);
}

/// Guards against: munmap then mmap of the same size getting the same address (the kernel
/// reuses the hole) and passing for the tracked mapping.
fn munmap_mmap_same_address() {
    let Opening {
        mem, snap, round, ..
    } = opening(Tracking::Scanned);
    if round < 2 {
        let len = mem.len();
        // SAFETY: unmaps our own leaked mapping and maps a fresh one; `mem` is not used until
        // the rollback has restored it.
        let p = unsafe {
            assert_eq!(libc::munmap(mem.as_mut_ptr().cast(), len), 0);
            // The old address as a hint, as a later mmap of the same size often gets it.
            libc::mmap(
                mem.as_mut_ptr().cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_eq!(
            p.cast::<u8>(),
            mem.as_mut_ptr(),
            "premise: the same address"
        );
        rollback(&snap);
    }
    snap.release().expect("release");
}

/// Guards against: glibc free + malloc of a same-size block (its own mmap) coming back at the
/// same address, as the case above.
fn free_malloc_same_block() {
    set_tracking(Tracking::Scanned);
    // A fixed threshold: glibc would otherwise raise it at the first free of a mmapped block.
    // SAFETY: a malloc tunable; single-threaded.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    let shared = Shared::new();
    let mut block = std::mem::ManuallyDrop::new(vec![0x6Bu8; 1 << 20]);
    let snap = take().snapshot();
    let round = shared.bump(0);
    assert!(block.iter().all(|&b| b == 0x6B), "round {round}: block");
    if round < 2 {
        let was = block.as_ptr();
        // SAFETY: dropped once in this pass; the rollback brings the block back.
        unsafe { std::mem::ManuallyDrop::drop(&mut block) };
        let again = vec![0u8; 1 << 20];
        eprintln!("round {round}: same address: {}", again.as_ptr() == was);
        black_box(std::mem::ManuallyDrop::new(again));
        rollback(&snap);
    }
    snap.release().expect("release");
}

// ---------------------------------------------------------------------------------------------
// Pinned pages (io_uring registered buffers)
// ---------------------------------------------------------------------------------------------

/// A minimal io_uring (raw system calls): one fixed-buffer read at a time.
struct Ring {
    fd: i32,
    sq: *mut u8,
    sqes: *mut u8,
    cq: *mut u8,
    params: UringParams,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct UringParams {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_OP_READ_FIXED: u8 = 4;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_REGISTER_BUFFERS: u32 = 0;
const IORING_UNREGISTER_BUFFERS: u32 = 1;

impl Ring {
    fn new() -> std::io::Result<Ring> {
        let mut params = UringParams::default();
        // SAFETY: io_uring_setup reads and writes one io_uring_params, a live local.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut params) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = fd as i32;
        let map = |len: usize, off: i64| {
            // SAFETY: maps the ring's own areas (MAP_SHARED, outside any snapshot).
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_POPULATE,
                    fd,
                    off,
                )
            };
            assert_ne!(p, libc::MAP_FAILED, "mmap io_uring");
            p.cast::<u8>()
        };
        let sq_len = params.sq_off.array as usize + params.sq_entries as usize * 4;
        let cq_len = params.cq_off.cqes as usize + params.cq_entries as usize * 16;
        let sq = map(sq_len, IORING_OFF_SQ_RING);
        let cq = map(cq_len, IORING_OFF_CQ_RING);
        let sqes = map(params.sq_entries as usize * 64, IORING_OFF_SQES);
        Ok(Ring {
            fd,
            sq,
            sqes,
            cq,
            params,
        })
    }

    fn register(&self, buf: &mut [u8]) {
        let iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: registers one live buffer of ours with our ring.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.fd,
                IORING_REGISTER_BUFFERS,
                &iov,
                1u32,
            )
        };
        assert_eq!(
            r,
            0,
            "IORING_REGISTER_BUFFERS: {}",
            std::io::Error::last_os_error()
        );
    }

    fn unregister(&self) {
        // SAFETY: no memory effects on our side.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.fd,
                IORING_UNREGISTER_BUFFERS,
                0usize,
                0u32,
            )
        };
        assert_eq!(r, 0, "IORING_UNREGISTER_BUFFERS");
    }

    /// READ_FIXED of `len` bytes of `fd` at offset 0 into `addr` (inside registered buffer 0),
    /// waited for; returns the result.
    fn read_fixed(&self, fd: i32, addr: *mut u8, len: u32) -> i32 {
        let at = |base: *mut u8, off: u32| base.wrapping_add(off as usize);
        let o = self.params.sq_off;
        // SAFETY: the ring's mapped areas, laid out as the kernel reported in params; single
        // submitter, one entry in flight.
        unsafe {
            let tail_p = at(self.sq, o.tail).cast::<std::sync::atomic::AtomicU32>();
            let mask = *at(self.sq, o.ring_mask).cast::<u32>();
            let tail = (*tail_p).load(std::sync::atomic::Ordering::Acquire);
            let idx = tail & mask;
            let sqe = self.sqes.add(idx as usize * 64);
            std::ptr::write_bytes(sqe, 0, 64);
            *sqe = IORING_OP_READ_FIXED;
            *sqe.add(4).cast::<i32>() = fd;
            *sqe.add(8).cast::<u64>() = u64::MAX; // the current position (a pipe has none)
            *sqe.add(16).cast::<u64>() = addr as u64;
            *sqe.add(24).cast::<u32>() = len;
            *sqe.add(32).cast::<u64>() = 7;
            *sqe.add(40).cast::<u16>() = 0;
            *at(self.sq, o.array).cast::<u32>().add(idx as usize) = idx;
            (*tail_p).store(tail + 1, std::sync::atomic::Ordering::Release);
            let r = libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd,
                1u32,
                1u32,
                IORING_ENTER_GETEVENTS,
                0usize,
                0usize,
            );
            assert_eq!(r, 1, "io_uring_enter: {}", std::io::Error::last_os_error());
            let c = self.params.cq_off;
            let head_p = at(self.cq, c.head).cast::<std::sync::atomic::AtomicU32>();
            let cmask = *at(self.cq, c.ring_mask).cast::<u32>();
            let head = (*head_p).load(std::sync::atomic::Ordering::Acquire);
            let cqe = at(self.cq, c.cqes).add((head & cmask) as usize * 16);
            let res = *cqe.add(8).cast::<i32>();
            (*head_p).store(head + 1, std::sync::atomic::Ordering::Release);
            res
        }
    }
}

/// A pipe holding `len` bytes of `byte` (its read end): what the kernel writes into the fixed
/// buffer. A pipe, so that io_uring completes the read inline rather than in an io-wq worker
/// thread (which would make rollback refuse for another reason: a second thread).
fn source(len: usize, byte: u8) -> i32 {
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe, written and left open (the test child exits).
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let buf = vec![byte; len];
        assert_eq!(libc::write(fds[1], buf.as_ptr().cast(), len), len as isize);
    }
    fds[0]
}

/// Guards against: writes through pinned pages (io_uring READ_FIXED into buffers registered
/// before take) bypassing write-protect, so rollback keeps the kernel's data. Take must refuse
/// (nothing can tell which pinned pages the kernel wrote), or rollback must refuse before it
/// changes anything, or the buffer must come back exactly.
fn io_uring_registered_before_take() {
    let shared = Shared::new();
    let buf = map_private(64 * 1024);
    buf.fill(0x11);
    let ring = Ring::new().expect("io_uring");
    ring.register(buf);
    let src = source(8192, 0xAB);
    // SAFETY: single-threaded test child.
    let snap = match unsafe { Snapshot::take(lwc::Strategy::InPlace) } {
        Err(Error::Unsupported { reason, .. }) => {
            assert!(reason.contains("pinned"), "{reason}");
            return;
        }
        r => r.expect("take").snapshot(),
    };
    let round = shared.bump(0);
    assert!(
        buf.iter().all(|&b| b == 0x11),
        "round {round}: kernel data kept"
    );
    if round == 0 {
        assert_eq!(ring.read_fixed(src, buf.as_mut_ptr(), 8192), 8192);
        assert_eq!(buf[100], 0xAB);
        let e = snap.rollback();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert_eq!(buf[100], 0xAB, "a refused rollback changed memory");
    }
    snap.release().expect("release");
}

/// Guards against: buffers registered after take: the first rollback re-protects the pinned
/// pages, and the kernel's later writes through the pin are not seen by the second. The ring is
/// made before take (without buffers), so every pass can use it.
fn io_uring_registered_after_take() {
    let shared = Shared::new();
    let buf = map_private(64 * 1024);
    buf.fill(0x11);
    let src = source(3 * 8192, 0xAB);
    let ring = Ring::new().expect("io_uring");
    let snap = take().snapshot();
    let round = shared.bump(0);
    assert!(
        buf.iter().all(|&b| b == 0x11),
        "round {round}: kernel data kept"
    );
    match round {
        0 => {
            ring.register(buf);
            assert_eq!(ring.read_fixed(src, buf.as_mut_ptr(), 8192), 8192);
            let e = snap.rollback();
            // Pinned memory: refused before anything changed, the kernel's data in place.
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
            assert_eq!(buf[100], 0xAB, "a refused rollback changed memory");
            ring.unregister();
            // The pages were written (pinning for write counts as a write): restored exactly.
            rollback(&snap);
        }
        1 => {
            // Still registered here only if round 0's rollback went through with the pin held:
            // then this read goes through the pin, unseen by write-protect.
            let r = ring.read_fixed(src, buf.as_mut_ptr(), 4096);
            eprintln!("round 1: READ_FIXED on the old registration: {r}");
            if r < 0 {
                ring.register(buf);
                assert_eq!(ring.read_fixed(src, buf.as_mut_ptr(), 4096), 4096);
                ring.unregister();
            }
            rollback(&snap);
        }
        _ => snap.release().expect("release"),
    }
}

// ---------------------------------------------------------------------------------------------
// Costs that follow what is populated or changed (pages, not time)
// ---------------------------------------------------------------------------------------------

/// Shared memory of this process (the pristine copy is a memfd), in KiB.
fn rss_shmem_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("RssShmem:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("RssShmem")
}

/// Guards against: take copying every tracked page (write-protect markers on unpopulated
/// pages counted as populated), which costs the mapped size in shared memory and time.
fn take_copies_populated() {
    for t in [Tracking::Logged, Tracking::Scanned] {
        set_tracking(t);
        let mem = map_private(256 << 20);
        for p in 0..67 {
            mem[p * 900 * PAGE] = 1;
        }
        let before = rss_shmem_kib();
        let snap = take().snapshot();
        let grew = rss_shmem_kib().saturating_sub(before);
        snap.release().expect("release");
        // The test child's own memory (heap, stack, statics) is a few MiB at most.
        assert!(
            grew < 16 << 10,
            "{t:?}: take grew shared memory by {grew} KiB"
        );
        // SAFETY: our own mapping, not used again.
        unsafe { libc::munmap(mem.as_mut_ptr().cast(), mem.len()) };
    }
}

/// Guards against: one page of mprotect, munmap or mremap inside a large mapping making the next
/// rollback re-create (and copy) all of it.
fn one_page_change_cheap() {
    std::env::remove_var("LWC_IN_PLACE_LOG_MIN_BYTES");
    let shared = Shared::new();
    let mem = map_private(256 << 20);
    for p in 0..64 {
        mem[p * 1001 * PAGE] = 5;
    }
    let snap = take().snapshot();
    let round = shared.bump(0) as usize;
    assert!(
        (0..64).all(|p| mem[p * 1001 * PAGE] == 5) && mem[PAGE] == 0,
        "round {round}: not restored"
    );
    if round > 0 {
        let n = snap.last_restored_pages().expect("pages");
        shared.set(10 + round, n as u64);
    }
    let at = mem.as_mut_ptr().wrapping_add(1001 * PAGE);
    // SAFETY: changes one page of our own leaked mapping; rollback puts it back.
    unsafe {
        match round {
            0 => assert_eq!(libc::mprotect(at.cast(), PAGE, libc::PROT_READ), 0),
            1 => assert_eq!(libc::munmap(at.cast(), PAGE), 0),
            2 => {
                let p = libc::mremap(at.cast(), PAGE, 2 * PAGE, libc::MREMAP_MAYMOVE);
                assert_ne!(p, libc::MAP_FAILED);
            }
            _ => {
                let counted: Vec<u64> = (11..14).map(|i| shared.get(i)).collect();
                eprintln!("pages restored after a one-page change: {counted:?}");
                assert!(
                    counted.iter().all(|&n| n <= 64 + 16),
                    "a one-page change cost {counted:?} pages"
                );
                snap.release().expect("release");
                return;
            }
        }
    }
    rollback(&snap);
}
