//! lwCs of a root group, attacked: a root lwC must not read a sibling without ptrace either —
//! not by a CPU-wide perf event that samples user registers and stack (CAP_PERFMON /
//! CAP_SYS_ADMIN), nor through the sibling's /proc files that show its memory layout, physical
//! frames, environment or descriptors. Run as root, and as an ordinary unprivileged program.

use crate::common::{become_nobody, start};
use lwc::{Args, Created, Options, Spec};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "attack_root::sibling_is_unreadable_without_ptrace_as_root",
            sibling_root,
        ),
        (
            "attack_root::sibling_is_unreadable_without_ptrace_as_nobody",
            sibling_nobody,
        ),
        (
            "attack_root::root_lwc_keeps_only_the_documented_capabilities",
            capabilities_kept,
        ),
    ]
}

/// The /proc files of another process that give away its memory or descriptors.
const PROC_FILES: &[&str] = &[
    "maps",
    "smaps",
    "smaps_rollup",
    "numa_maps",
    "pagemap",
    "environ",
    "auxv",
    "stack",
    "syscall",
    "task/{pid}/maps",
    "fdinfo/0",
];
/// Its /proc links to its files.
const PROC_LINKS: &[&str] = &["fd/0", "cwd", "root", "exe"];
/// Its /proc directories whose listing tells which mappings it holds. (Not `fd/` and
/// `fdinfo/`: a root lwC owns a non-dumpable sibling's listing of descriptor numbers, see the
/// README; what the numbers are is behind `fd/N` and `fdinfo/N`, attacked above.)
const PROC_DIRS: &[&str] = &["map_files", "task/{pid}/map_files"];

/// A software event that samples user registers and the user stack of whatever runs on CPU 0
/// (pid -1), or of `pid` only.
fn perf_sampler(pid: i32, cpu: i32) -> i64 {
    // perf_event_attr, version 8 layout (136 bytes): type, size, config, sample_period,
    // sample_type, read_format, flags, ..., sample_regs_user (offset 80), sample_stack_user (88).
    let mut attr = [0u8; 136];
    let put32 =
        |a: &mut [u8; 136], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |a: &mut [u8; 136], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    const PERF_TYPE_SOFTWARE: u32 = 1;
    const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
    const SAMPLE_IP: u64 = 1;
    const SAMPLE_REGS_USER: u64 = 1 << 12;
    const SAMPLE_STACK_USER: u64 = 1 << 13;
    put32(&mut attr, 0, PERF_TYPE_SOFTWARE);
    put32(&mut attr, 4, 136);
    put64(&mut attr, 8, PERF_COUNT_SW_CPU_CLOCK);
    put64(&mut attr, 16, 100_000);
    put64(
        &mut attr,
        24,
        SAMPLE_IP | SAMPLE_REGS_USER | SAMPLE_STACK_USER,
    );
    put64(&mut attr, 40, 1); // disabled
    put64(&mut attr, 80, 0xff); // ax..sp
    put32(&mut attr, 88, 4096);
    // SAFETY: perf_event_open reads `attr` (136 bytes, its size field says so).
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), pid, cpu, -1, 0) };
    if fd >= 0 {
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd as i32) };
    }
    fd
}

/// Tries every route from an lwC to sibling `victim`; returns the ones that worked.
fn attack(victim: i32) -> Vec<String> {
    let mut won = Vec::new();
    if perf_sampler(-1, 0) >= 0 {
        won.push("CPU-wide perf event sampling user registers and stack".to_string());
    }
    if perf_sampler(victim, -1) >= 0 {
        won.push("perf event on the sibling".to_string());
    }
    for f in PROC_FILES {
        let path = format!("/proc/{victim}/{}", f.replace("{pid}", &victim.to_string()));
        if let Ok(mut file) = std::fs::File::open(&path) {
            use std::io::Read;
            let mut buf = [0u8; 64];
            if file.read(&mut buf).is_ok() {
                won.push(path);
            }
        }
    }
    for l in PROC_LINKS {
        let path = format!("/proc/{victim}/{l}");
        if std::fs::read_link(&path).is_ok() {
            won.push(path);
        }
    }
    for d in PROC_DIRS {
        let path = format!("/proc/{victim}/{}", d.replace("{pid}", &victim.to_string()));
        if std::fs::read_dir(&path).is_ok_and(|mut it| it.next().is_some_and(|e| e.is_ok())) {
            won.push(format!("{path}/ (listing)"));
        }
    }
    won
}

fn sibling() {
    start();
    // SAFETY: single-threaded test process.
    let victim = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(v) => v,
        Created::Child { caller, .. } => loop {
            // The victim parks (its stack holds whatever it computed) until the group ends.
            let _ = lwc::switch(&caller, Args::NONE);
        },
    };
    let victim_pid = lwc::syscall(&victim, libc::SYS_getpid, [0; 6]).expect("pid") as i32;
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(attacker) => {
            let back =
                lwc::switch(&attacker, Args([victim_pid as u64, 0, 0, 0, 0, 0])).expect("switch");
            assert_eq!(
                back.args.0[0], 0,
                "the attacker reported its findings on stderr"
            );
        }
        Created::Child { caller, args } => {
            let won = attack(args.0[0] as i32);
            for w in &won {
                eprintln!("attack worked: {w}");
            }
            let _ = lwc::switch(&caller, Args([won.len() as u64, 0, 0, 0, 0, 0]));
            unreachable!("the creator never switches back");
        }
    }
}

fn sibling_root() {
    sibling();
}

fn sibling_nobody() {
    become_nobody();
    sibling();
}

/// The capabilities that give one root process the others' memory are gone from every lwC
/// (effective, permitted and bounding sets), and the documented ones stay. Guards against a
/// drop that misses one (a new lwC inherits the first one's sets).
fn capabilities_kept() {
    if !crate::common::is_root() {
        return;
    }
    start();
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            let [eff, prm, bnd, ..] = back.args.0;
            for (name, set) in [("effective", eff), ("permitted", prm), ("bounding", bnd)] {
                for (cap, nr) in [
                    ("CAP_SYS_PTRACE", 19),
                    ("CAP_SYS_ADMIN", 21),
                    ("CAP_PERFMON", 38),
                    ("CAP_BPF", 39),
                    ("CAP_SYS_RAWIO", 17),
                    ("CAP_SYS_MODULE", 16),
                    ("CAP_CHECKPOINT_RESTORE", 40),
                    ("CAP_DAC_READ_SEARCH", 2),
                ] {
                    assert_eq!(set & (1 << nr), 0, "{cap} is still in the {name} set");
                }
            }
            for (cap, nr) in [("CAP_SETUID", 7), ("CAP_SETGID", 6), ("CAP_KILL", 5)] {
                assert_ne!(
                    eff & (1 << nr),
                    0,
                    "{cap} was dropped: credentials specs need it"
                );
            }
        }
        Created::Child { caller, .. } => {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                    .expect("capability field")
            };
            let sets = [field("CapEff:"), field("CapPrm:"), field("CapBnd:")];
            let _ = lwc::switch(&caller, Args([sets[0], sets[1], sets[2], 0, 0, 0]));
            unreachable!();
        }
    }
}
