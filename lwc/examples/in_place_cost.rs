//! What an in-place rollback costs, against fork+_exit+waitpid of the same process.
//!
//! For each case: map and populate `mapped` bytes of private anonymous memory, take an in-place
//! snapshot, then repeatedly write `written` distinct random pages and roll back; the time from
//! just before `rollback` to `take` returning `Restored` is one sample (`rollback_us`), the time
//! to write the pages another (`write_us`: first writes fault on protected pages). The fork
//! baseline forks the same process (same memory populated), the child `_exit`s, the parent waits.
//! Medians over repetitions, pinned to CPU 0.
//!
//! Each case runs in two modes: `auto`, the default choice (mappings of 128 MiB and more go to
//! the write log where it is available, the rest is scanned), and `scan`, every range tracked by
//! async write-protect and found by PAGEMAP_SCAN (`LWC_IN_PLACE_LOG_MIN_BYTES=off`).
//!
//! ```text
//! cargo run --release -p lwc --example in_place_cost
//! ```
#![allow(unsafe_code)] // mmap of the measured memory and of the untracked result page; fork.

use lwc::{Snapshot, Strategy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const PAGE: usize = 4096;
/// Rollbacks measured per case.
const ROLLBACKS: usize = 101;
/// Forks measured per case.
const FORKS: usize = 21;

/// One case: memory mapped, pages written before each rollback, transparent huge pages.
struct Case {
    mapped: usize,
    written: usize,
    thp: bool,
}

/// Samples kept in a MAP_SHARED page: untracked, so they survive the rollbacks.
struct Shared(&'static [AtomicU64]);

impl Shared {
    fn new(words: usize) -> Shared {
        let len = words * 8;
        // SAFETY: a fresh shared anonymous mapping, zeroed (valid AtomicU64s), leaked.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED, "mmap");
            Shared(std::slice::from_raw_parts(p as *const AtomicU64, words))
        }
    }
    fn get(&self, i: usize) -> u64 {
        self.0[i].load(Ordering::SeqCst)
    }
    fn set(&self, i: usize, v: u64) {
        self.0[i].store(v, Ordering::SeqCst)
    }
}

/// Private anonymous memory, populated, unmapped on drop.
struct Memory {
    ptr: *mut u8,
    len: usize,
}

impl Memory {
    fn new(len: usize, thp: bool) -> Memory {
        // SAFETY: a fresh private anonymous mapping owned by the returned value.
        let ptr = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED, "mmap");
            let advice = if thp {
                libc::MADV_HUGEPAGE
            } else {
                libc::MADV_NOHUGEPAGE
            };
            libc::madvise(p, len, advice);
            p.cast::<u8>()
        };
        let m = Memory { ptr, len };
        for i in (0..len).step_by(PAGE) {
            m.write(i, 1);
        }
        m
    }
    fn write(&self, at: usize, v: u8) {
        assert!(at < self.len);
        // SAFETY: inside our mapping.
        unsafe { std::ptr::write_volatile(self.ptr.add(at), v) };
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping this value owns.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    v[v.len() / 2] as f64 / 1000.0
}

/// Median µs of fork + child `_exit(0)` + waitpid.
fn fork_cost() -> f64 {
    let mut samples = Vec::with_capacity(FORKS);
    for _ in 0..FORKS {
        let t = Instant::now();
        // SAFETY: single-threaded; the child only calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0, "fork");
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        samples.push(t.elapsed().as_nanos() as u64);
    }
    median(&mut samples)
}

/// Medians of one case in one mode.
struct Outcome {
    /// Rollback, µs.
    rollback_us: f64,
    /// Writing the pages between two rollbacks, µs.
    write_us: f64,
    /// Pages the rollback rewrote.
    pages: u64,
    /// fork + _exit + waitpid, µs.
    fork_us: f64,
}

/// Runs one case.
fn run(case: &Case, shared: &Shared) -> Outcome {
    let mem = Memory::new(case.mapped, case.thp);
    let fork_us = fork_cost();
    let pages = case.mapped / PAGE;
    let base = Instant::now();
    // Slots: 0 = rollbacks done, 1 = t0 of the rollback in flight (ns since base),
    // 100.. = durations, 400.. = pages restored, 700.. = write durations.
    shared.set(0, 0);
    // SAFETY: single-threaded; nothing is released between take and rollback.
    let taken = unsafe { Snapshot::take(Strategy::InPlace) }.expect("take");
    let snap = taken.snapshot();
    let done = shared.get(0) as usize;
    if taken.restored() {
        let now = base.elapsed().as_nanos() as u64;
        shared.set(100 + done - 1, now - shared.get(1));
        shared.set(
            400 + done - 1,
            snap.last_restored_pages().unwrap_or(0) as u64,
        );
    }
    if done < ROLLBACKS {
        // Distinct pseudo-random pages (an LCG stepped by a large odd stride).
        let mut x = (done as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let w0 = base.elapsed().as_nanos() as u64;
        for _ in 0..case.written {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            mem.write((x >> 16) as usize % pages * PAGE + 8, 2);
        }
        let w1 = base.elapsed().as_nanos() as u64;
        shared.set(700 + done, w1 - w0);
        shared.set(0, done as u64 + 1);
        shared.set(1, base.elapsed().as_nanos() as u64);
        let e = snap.rollback();
        panic!("rollback: {e}");
    }
    snap.release().expect("release");
    let mut rb: Vec<u64> = (0..ROLLBACKS).map(|i| shared.get(100 + i)).collect();
    let mut pg: Vec<u64> = (0..ROLLBACKS).map(|i| shared.get(400 + i)).collect();
    let mut wr: Vec<u64> = (0..ROLLBACKS).map(|i| shared.get(700 + i)).collect();
    pg.sort_unstable();
    Outcome {
        rollback_us: median(&mut rb),
        write_us: median(&mut wr),
        pages: pg[pg.len() / 2],
        fork_us,
    }
}

fn main() {
    if let Err(e) = Snapshot::available(Strategy::InPlace) {
        eprintln!("in-place rollback unavailable: {e}");
        std::process::exit(1);
    }
    // SAFETY: sched_setaffinity on ourselves with a valid set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    let shared = Shared::new(1024);
    let cases = [
        Case {
            mapped: 1 << 30,
            written: 16,
            thp: false,
        },
        Case {
            mapped: 1 << 30,
            written: 4096,
            thp: false,
        },
        Case {
            mapped: 64 << 20,
            written: 16,
            thp: false,
        },
        Case {
            mapped: 1 << 30,
            written: 0,
            thp: false,
        },
        Case {
            mapped: 1 << 30,
            written: 16,
            thp: true,
        },
    ];
    println!(
        "{:>10} {:>8} {:>5} {:>5} {:>12} {:>10} {:>15} {:>13} {:>7}",
        "mapped",
        "written",
        "thp",
        "mode",
        "rollback_us",
        "write_us",
        "pages_restored",
        "fork_exit_us",
        "ratio"
    );
    for case in &cases {
        for mode in ["auto", "scan"] {
            // Read by `take`; single-threaded, so changing the environment is sound.
            match mode {
                "scan" => std::env::set_var("LWC_IN_PLACE_LOG_MIN_BYTES", "off"),
                _ => std::env::remove_var("LWC_IN_PLACE_LOG_MIN_BYTES"),
            }
            let o = run(case, &shared);
            println!(
                "{:>7}MiB {:>8} {:>5} {:>5} {:>12.1} {:>10.1} {:>15} {:>13.1} {:>6.0}x",
                case.mapped >> 20,
                case.written,
                case.thp,
                mode,
                o.rollback_us,
                o.write_us,
                o.pages,
                o.fork_us,
                o.fork_us / o.rollback_us
            );
        }
    }
}
