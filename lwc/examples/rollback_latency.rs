//! Rollback latency of each snapshot strategy, 1 GiB of populated private memory mapped.
//!
//! In one lwC group (pinned to one CPU, the default): map and populate 1 GiB, then for each
//! strategy (`Fork`, `Pool { size: 8 }`, `InPlace`) and each count of pages written (0, 16,
//! 256, 4096: distinct pages, spread over the GiB) take a snapshot and roll back `ROUNDS`
//! times, writing the pages before each rollback. One sample is the time from just before
//! `rollback` to `take` returning `Restored` (in whichever process that is: a parked copy for
//! Fork and Pool, the same process for InPlace); writing the pages is not in it. Prints the
//! median, p90, p99 and mean per case, in µs, and the machine.
//!
//! ```text
//! cargo run --release -p lwc --example rollback_latency [ROUNDS] [gap=MS] [STRATEGY...]
//! ```
//!
//! STRATEGY is `fork`, `pool` or `inplace` (all three when none is named). `gap=MS` sleeps that
//! long before each rollback (not timed): a session between rollbacks, during which a pool's
//! factory makes its next spare. Without it, rollbacks come back to back, faster than any
//! fork, and a pool runs dry.
#![allow(unsafe_code)] // mmap of the measured memory; Snapshot::take returns twice.

use lwc::{GroupConfig, SharedRegion, Snapshot, Strategy};
use std::sync::atomic::{AtomicU64, Ordering};

const PAGE: usize = 4096;
const MAPPED: usize = 1 << 30;
const WRITES: [usize; 4] = [0, 16, 256, 4096];
const STRATEGIES: [Strategy; 3] = [
    Strategy::Fork,
    Strategy::Pool { size: 8 },
    Strategy::InPlace,
];
/// Samples kept per case at most.
const MAX_ROUNDS: usize = 400;

/// Words of the shared page: [0] start time of the rollback in flight (ns), [1] samples so far
/// of the case running; then per case (strategy × writes) `MAX_ROUNDS` samples.
fn word(shared: &SharedRegion, i: usize) -> &AtomicU64 {
    assert!((i + 1) * 8 <= shared.len());
    // SAFETY: the region is mapped for the life of the process, 8-byte aligned (page-aligned
    // base), zeroed at creation (valid AtomicU64s), and shared with every copy.
    unsafe { &*(shared.as_ptr().add(i * 8) as *const AtomicU64) }
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec, a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn name(s: Strategy) -> String {
    match s {
        Strategy::Fork => "Fork".into(),
        Strategy::Pool { size } => format!("Pool{{size:{size}}}"),
        Strategy::InPlace => "InPlace".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(101)
        .clamp(2, MAX_ROUNDS);
    let gap_ms: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("gap=")?.parse().ok())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let only: Vec<String> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err() && !a.starts_with("gap="))
        .cloned()
        .collect();
    let chosen = |s: Strategy| {
        only.is_empty()
            || only
                .iter()
                .any(|o| name(s).to_lowercase().starts_with(o.as_str()))
    };
    lwc::init(&GroupConfig::default()).expect("lwc::init");
    let cases = STRATEGIES.len() * WRITES.len();
    let shared = SharedRegion::new((2 + cases * MAX_ROUNDS) * 8).expect("shared region");
    // SAFETY: a fresh private anonymous mapping, leaked for the program's life.
    let mem = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            MAPPED,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        libc::madvise(p, MAPPED, libc::MADV_NOHUGEPAGE);
        std::slice::from_raw_parts_mut(p.cast::<u8>(), MAPPED)
    };
    for p in (0..MAPPED).step_by(PAGE) {
        mem[p] = 1;
    }
    let pages = MAPPED / PAGE;
    for (si, &strategy) in STRATEGIES.iter().enumerate() {
        if !chosen(strategy) {
            continue;
        }
        for (wi, &written) in WRITES.iter().enumerate() {
            let case = si * WRITES.len() + wi;
            let base = 2 + case * MAX_ROUNDS;
            word(&shared, 1).store(0, Ordering::SeqCst);
            // SAFETY: single-threaded; nothing is released between take and rollback.
            let taken = unsafe { Snapshot::take(strategy) }.expect("take");
            let end = now_ns();
            let n = word(&shared, 1).fetch_add(1, Ordering::SeqCst) as usize;
            if taken.restored() {
                let start = word(&shared, 0).load(Ordering::SeqCst);
                word(&shared, base + n - 1).store(end - start, Ordering::SeqCst);
            }
            if n < rounds {
                for k in 0..written {
                    // Distinct pages spread over the mapping, different every round.
                    let p = (k * (pages / written.max(1)) + n * 7) % pages;
                    mem[p * PAGE + 8] = n as u8;
                }
                std::hint::black_box(&mut *mem);
                if gap_ms > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(gap_ms));
                }
                word(&shared, 0).store(now_ns(), Ordering::SeqCst);
                let e = taken.snapshot().rollback();
                panic!("rollback failed: {e}");
            }
            taken.snapshot().release().expect("release");
        }
    }
    println!("machine: {model}, {} CPUs online", num_cpus());
    println!(
        "1 GiB mapped and populated (4 KiB pages), {rounds} rollbacks per case, {gap_ms} ms \
         between rollbacks; µs"
    );
    println!("| strategy | pages written | median | p90 | p99 | mean |");
    println!("|---|---|---|---|---|---|");
    for (si, &strategy) in STRATEGIES.iter().enumerate() {
        if !chosen(strategy) {
            continue;
        }
        for (wi, &written) in WRITES.iter().enumerate() {
            let base = 2 + (si * WRITES.len() + wi) * MAX_ROUNDS;
            let mut v: Vec<u64> = (0..rounds)
                .map(|i| word(&shared, base + i).load(Ordering::SeqCst))
                .collect();
            v.sort_unstable();
            let mean = v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0;
            println!(
                "| {} | {written} | {:.1} | {:.1} | {:.1} | {:.1} |",
                name(strategy),
                percentile(&v, 0.5),
                percentile(&v, 0.9),
                percentile(&v, 0.99),
                mean
            );
        }
    }
}

fn num_cpus() -> i64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }
}
