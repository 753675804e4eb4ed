//! How close `lwc` comes to the kernel's floor, measured side by side in one run:
//!
//! - one-way `switch` vs a raw two-process futex hand-off on a MAP_SHARED word (same CPU);
//! - `create` + first switch + discard vs fork + _exit + waitpid, with the same parent memory.
//!
//! `cargo run --release -p lwc --example overhead [-- ROUNDS]`. Prints medians of ROUNDS
//! batches (default 11).
#![allow(unsafe_code)]

use lwc::{Args, Created, GroupConfig, Options, Spec};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

const SWITCHES: u64 = 20_000;
const CREATES: u64 = 50;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn futex(word: &AtomicU32, op: i32, val: u32) {
    // SAFETY: a live aligned word in a shared mapping.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            std::ptr::null::<libc::timespec>(),
            0,
            0,
        );
    }
}

/// ns per one-way hand-off between two processes on one CPU, futex on a shared word.
fn raw_futex_oneway(rounds: usize) -> f64 {
    // SAFETY: a fresh shared anonymous page.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    // SAFETY: the page is zeroed and lives for the whole process; AtomicU32 is valid at zero.
    let words = unsafe { &*(p as *const [AtomicU32; 2]) };
    // SAFETY: single-threaded; the child only loops on the shared words.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        loop {
            while words[1].load(Ordering::Acquire) == 0 {
                futex(&words[1], libc::FUTEX_WAIT, 0);
            }
            words[1].store(0, Ordering::Relaxed);
            words[0].store(1, Ordering::Release);
            futex(&words[0], libc::FUTEX_WAKE, 1);
        }
    }
    let mut per = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..SWITCHES / 2 {
            words[1].store(1, Ordering::Release);
            futex(&words[1], libc::FUTEX_WAKE, 1);
            while words[0].load(Ordering::Acquire) == 0 {
                futex(&words[0], libc::FUTEX_WAIT, 0);
            }
            words[0].store(0, Ordering::Relaxed);
        }
        per.push(t.elapsed().as_nanos() as f64 / SWITCHES as f64);
    }
    // SAFETY: kill and reap our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    median(per)
}

/// Memory the parent has touched (kept alive for the whole run).
fn touch(bytes: usize) -> Vec<u8> {
    let mut v = vec![0u8; bytes];
    for i in (0..bytes).step_by(4096) {
        v[i] = 1;
    }
    v
}

/// µs per fork + (child writes `pages`) + _exit + waitpid.
fn fork_exit_wait(rounds: usize, mem: &mut [u8], pages: usize) -> f64 {
    let mut per = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..CREATES {
            // SAFETY: single-threaded; the child writes its own copy and exits at once.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                for i in 0..pages {
                    mem[i * 4096] = 2;
                }
                // SAFETY: ends the child.
                unsafe { libc::_exit(0) };
            }
            // SAFETY: reap our child.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
        per.push(t.elapsed().as_nanos() as f64 / 1000.0 / CREATES as f64);
    }
    median(per)
}

/// µs per lwc create + first switch (child writes `pages`) + discard back.
fn lwc_create(rounds: usize, mem: &mut [u8], pages: usize) -> f64 {
    let mut per = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..CREATES {
            // SAFETY: single-threaded.
            match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
                Created::Parent(c) => {
                    lwc::switch(&c, Args::NONE).expect("switch");
                }
                Created::Child { caller, .. } => {
                    for i in 0..pages {
                        mem[i * 4096] = 2;
                    }
                    panic!("{}", lwc::discard_switch(&caller, Args::NONE));
                }
            }
        }
        per.push(t.elapsed().as_nanos() as f64 / 1000.0 / CREATES as f64);
    }
    median(per)
}

fn lwc_switch_oneway(rounds: usize) -> f64 {
    // SAFETY: single-threaded.
    let child = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(c) => c,
        Created::Child { caller, .. } => loop {
            lwc::switch(&caller, Args::NONE).expect("switch back");
        },
    };
    let mut per = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..SWITCHES / 2 {
            lwc::switch(&child, Args::NONE).expect("switch");
        }
        per.push(t.elapsed().as_nanos() as f64 / SWITCHES as f64);
    }
    lwc::close(child).expect("close");
    median(per)
}

/// Runs `f` in a forked child and waits for it (each measurement gets a fresh process, so
/// memory of one does not weigh on the next, and each can start its own lwC group).
fn in_child(f: impl FnOnce()) {
    // SAFETY: single-threaded; the child runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        f();
        std::process::exit(0);
    }
    // SAFETY: reap our child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(11);
    pin(0);
    in_child(|| {
        raw_futex_oneway(2);
        let futex_ns = raw_futex_oneway(rounds);
        lwc::init(&GroupConfig {
            cpus: vec![0],
            ..Default::default()
        })
        .expect("init");
        lwc_switch_oneway(2);
        let lwc_ns = lwc_switch_oneway(rounds);
        println!("one-way switch, same CPU (median of {rounds} batches of {SWITCHES}):");
        println!("  raw futex hand-off  {futex_ns:8.0} ns");
        println!(
            "  lwc::switch         {lwc_ns:8.0} ns   ratio {:.3}",
            lwc_ns / futex_ns
        );
    });
    println!("create (median of {rounds} batches of {CREATES}), µs:");
    println!(
        "  parent memory   pages written   fork+exit+wait   lwc create+switch+discard   ratio"
    );
    for size in [1usize << 20, 64 << 20, 256 << 20] {
        in_child(|| {
            let mut mem = touch(size);
            let forks: Vec<f64> = [0usize, 256]
                .iter()
                .map(|&p| {
                    fork_exit_wait(1, &mut mem, p);
                    fork_exit_wait(rounds, &mut mem, p)
                })
                .collect();
            lwc::init(&GroupConfig {
                cpus: vec![0],
                ..Default::default()
            })
            .expect("init");
            for (j, pages) in [0usize, 256].into_iter().enumerate() {
                lwc_create(1, &mut mem, pages);
                let l = lwc_create(rounds, &mut mem, pages);
                let f = forks[j];
                println!(
                    "  {:>9} MiB   {pages:>13}   {f:>14.1}   {l:>25.1}   {:.3}",
                    size >> 20,
                    l / f
                );
            }
        });
    }
}
