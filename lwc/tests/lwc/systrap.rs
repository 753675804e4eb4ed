//! SYSTRAP: a sandboxed lwC's system calls come to its monitor, which runs, fakes or denies them.

use crate::common::{one, start};
use lwc::{Answer, Args, Created, Error, Options, Spec, Systrap};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        ("systrap::trapped_call_can_be_faked", fake),
        ("systrap::trapped_call_can_be_denied", deny),
        ("systrap::trapped_call_can_be_run_in_the_child", run),
        ("systrap::trap_all_sees_every_call", trap_all),
        ("systrap::untrapped_calls_run_freely", untrapped),
        (
            "systrap::monitor_syscall_into_sandbox",
            syscall_into_sandbox,
        ),
        (
            "systrap::sandbox_may_only_switch_to_its_monitor",
            only_monitor,
        ),
        ("systrap::killed_sandbox_is_an_error", killed_sandbox),
        (
            "systrap::sandbox_cannot_write_the_switchboard",
            switchboard_locked,
        ),
    ]
}

fn sandbox(set: Systrap) -> Result<lwc::Lwc, lwc::Lwc> {
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&Spec::new(), &Options::new().systrap(set)) }
        .expect("create sandbox")
    {
        Created::Parent(c) => Ok(c),
        Created::Child { caller, .. } => Err(caller),
    }
}

fn getuid() -> u64 {
    // SAFETY: no memory effects.
    unsafe { libc::syscall(libc::SYS_getuid) as u64 }
}

fn fake() {
    start();
    match sandbox(Systrap::only(&[libc::SYS_getuid])) {
        Ok(child) => {
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            let trap = ev.trap.expect("a trapped call");
            assert_eq!(trap.nr, libc::SYS_getuid);
            assert_eq!(trap.lwc, child);
            let ev = lwc::answer(trap, Answer::Return(4242)).expect("answer");
            assert!(ev.trap.is_none());
            assert_eq!(ev.args.0[0], 4242, "the sandbox saw the made-up value");
        }
        Err(monitor) => {
            let uid = getuid();
            lwc::switch(&monitor, one(uid)).expect("switch back");
            unreachable!("the monitor never switches back");
        }
    }
}

fn deny() {
    start();
    match sandbox(Systrap::only(&[libc::SYS_openat])) {
        Ok(child) => {
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            let trap = ev.trap.expect("a trapped call");
            assert_eq!(trap.nr, libc::SYS_openat);
            let ev = lwc::answer(trap, Answer::Deny(libc::EACCES)).expect("answer");
            assert_eq!(ev.args.0[0], libc::EACCES as u64);
        }
        Err(monitor) => {
            let e = std::fs::File::open("/proc/self/status")
                .err()
                .and_then(|e| e.raw_os_error())
                .unwrap_or(0);
            lwc::switch(&monitor, one(e as u64)).expect("switch back");
            unreachable!();
        }
    }
}

fn run() {
    start();
    match sandbox(Systrap::only(&[libc::SYS_getpid])) {
        Ok(child) => {
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            let trap = ev.trap.expect("a trapped call");
            assert_eq!(trap.nr, libc::SYS_getpid);
            let ev = lwc::answer(trap, Answer::Run).expect("answer");
            // SAFETY: no memory effects.
            let mine = unsafe { libc::getpid() } as u64;
            assert_ne!(ev.args.0[0], mine, "the call ran in the sandbox");
            assert!(ev.args.0[0] > 0);
        }
        Err(monitor) => {
            // SAFETY: no memory effects.
            let pid = unsafe { libc::syscall(libc::SYS_getpid) } as u64;
            lwc::switch(&monitor, one(pid)).expect("switch back");
            unreachable!();
        }
    }
}

fn trap_all() {
    start();
    match sandbox(Systrap::all()) {
        Ok(child) => {
            let mut seen = Vec::new();
            let mut ev = lwc::switch(&child, Args::NONE).expect("switch");
            while let Some(trap) = ev.trap {
                seen.push(trap.nr);
                ev = lwc::answer(trap, Answer::Run).expect("answer");
                assert!(seen.len() < 100, "too many calls: {seen:?}");
            }
            assert!(seen.contains(&libc::SYS_getuid), "{seen:?}");
            assert!(seen.contains(&libc::SYS_getppid), "{seen:?}");
            assert_eq!(ev.args.0[0], 7);
        }
        Err(monitor) => {
            getuid();
            // SAFETY: no memory effects.
            unsafe { libc::syscall(libc::SYS_getppid) };
            lwc::switch(&monitor, one(7)).expect("switch back");
            unreachable!();
        }
    }
}

fn untrapped() {
    start();
    match sandbox(Systrap::only(&[libc::SYS_openat])) {
        Ok(child) => {
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            assert!(ev.trap.is_none(), "getuid is not in the set: {:?}", ev.trap);
            assert_eq!(ev.args.0[0], getuid());
        }
        Err(monitor) => {
            lwc::switch(&monitor, one(getuid())).expect("switch back");
            unreachable!();
        }
    }
}

fn syscall_into_sandbox() {
    start();
    match sandbox(Systrap::all()) {
        Ok(child) => {
            let pid = lwc::syscall(&child, libc::SYS_getpid, [0; 6]).expect("getpid there");
            // SAFETY: no memory effects.
            assert_ne!(pid, unsafe { libc::getpid() } as i64);
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            let mut ev = ev;
            while let Some(t) = ev.trap {
                ev = lwc::answer(t, Answer::Run).expect("answer");
            }
            assert_eq!(ev.args.0[0], 1);
        }
        Err(monitor) => loop {
            lwc::switch(&monitor, one(1)).expect("switch back");
        },
    }
}

fn only_monitor() {
    start();
    // SAFETY: single-threaded.
    let other = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(o) => o,
        Created::Child { caller, .. } => loop {
            lwc::switch(&caller, Args::NONE).expect("switch");
        },
    };
    match sandbox(Systrap::only(&[libc::SYS_openat])) {
        Ok(child) => {
            let ev = lwc::switch(&child, one(other.id() as u64)).expect("switch");
            assert_eq!(ev.args.0[0], 1, "the sandbox was refused the other lwC");
        }
        Err(monitor) => {
            // The sandbox names `other` (its creator created it) but holds no right to it: no
            // lwC inherits its creator's switch rights, and a sandbox switches only to its
            // monitor anyway.
            let r = lwc::switch(&other, Args::NONE);
            let refused = matches!(r, Err(Error::Unsupported { .. } | Error::NoRight { .. }));
            lwc::switch(&monitor, one(refused as u64)).expect("switch back");
            unreachable!();
        }
    }
}

fn killed_sandbox() {
    start();
    match sandbox(Systrap::only(&[libc::SYS_getuid])) {
        Ok(child) => {
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            let trap = ev.trap.expect("trap");
            let r = lwc::answer(trap, Answer::Return(0));
            assert!(matches!(r, Err(Error::Dead { .. })), "got {r:?}");
        }
        Err(_) => {
            getuid();
            // SAFETY: the sandbox kills itself while it holds control.
            unsafe { libc::syscall(libc::SYS_kill, libc::getpid(), libc::SIGKILL) };
            unreachable!();
        }
    }
}

/// The sandbox's view of the switchboard (the group's control plane) is read-only, and every
/// route back to write access fails: mprotect, /proc/self/mem, /proc/self/map_files.
fn switchboard_locked() {
    start();
    match sandbox(Systrap::only(&[libc::SYS_getuid])) {
        Ok(child) => {
            let ev = lwc::switch(&child, Args::NONE).expect("switch");
            assert!(ev.trap.is_none());
            assert_eq!(ev.args.0[0], 1, "the switchboard is mapped in the sandbox");
            assert_eq!(
                ev.args.0[1], 0,
                "routes to write access that worked: {:#b}",
                ev.args.0[1]
            );
        }
        Err(monitor) => {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            let line = maps.lines().find(|l| l.contains("lwc-switchboard"));
            let (found, mut won) = (line.is_some() as u64, 0u64);
            if let Some(line) = line {
                let range = line.split_whitespace().next().unwrap_or("0-0").to_string();
                let (a, _) = range.split_once('-').unwrap_or(("0", "0"));
                let addr = usize::from_str_radix(a, 16).unwrap_or(0);
                assert!(line
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.starts_with("r-")));
                // SAFETY: asks for write access to our own mapping; must be refused.
                if unsafe {
                    libc::mprotect(
                        addr as *mut libc::c_void,
                        4096,
                        libc::PROT_READ | libc::PROT_WRITE,
                    )
                } == 0
                {
                    won |= 1;
                }
                use std::os::unix::fs::FileExt;
                if let Ok(f) = std::fs::OpenOptions::new()
                    .write(true)
                    .open("/proc/self/mem")
                {
                    if f.write_at(&[0xff], addr as u64).is_ok() {
                        won |= 2;
                    }
                }
                // Root may reopen the memfd behind the mapping; the seal still refuses writes
                // and writable mappings through it.
                if let Ok(f) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/self/map_files/{range}"))
                {
                    if f.write_at(&[0xff], 0).is_ok() {
                        won |= 4;
                    }
                    use std::os::fd::AsRawFd;
                    // SAFETY: asks for a new writable shared mapping; must be refused.
                    let p = unsafe {
                        libc::mmap(
                            std::ptr::null_mut(),
                            4096,
                            libc::PROT_READ | libc::PROT_WRITE,
                            libc::MAP_SHARED,
                            f.as_raw_fd(),
                            0,
                        )
                    };
                    if p != libc::MAP_FAILED {
                        won |= 8;
                    }
                }
            }
            lwc::switch(&monitor, Args([found, won, 0, 0, 0, 0])).expect("switch back");
            unreachable!();
        }
    }
}
