//! Semantics of create, switch, discard, restrict, overlay, syscall, close.

use crate::common::{one, start};
use lwc::{Args, Created, Error, Files, Options, Overlay, Pages, Rights, SharedRegion, Spec};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "semantics::create_returns_twice_and_args_arrive_intact",
            create_returns_twice,
        ),
        (
            "semantics::switch_is_a_coroutine_many_round_trips",
            many_round_trips,
        ),
        ("semantics::child_is_a_copy_on_write_copy", copy_on_write),
        (
            "semantics::shared_region_is_shared_both_ways",
            shared_region,
        ),
        ("semantics::unmapped_range_faults_in_child", unmap_faults),
        ("semantics::files_only_closes_the_rest", files_only),
        ("semantics::files_close_closes_listed", files_close),
        ("semantics::credentials_apply_in_child", credentials),
        (
            "semantics::switch_to_killed_lwc_is_an_error",
            switch_to_killed,
        ),
        (
            "semantics::switch_to_closed_lwc_is_an_error",
            switch_to_closed,
        ),
        ("semantics::switch_to_self_is_an_error", switch_to_self),
        (
            "semantics::target_killed_while_running_returns_error",
            killed_while_running,
        ),
        (
            "semantics::discard_switch_drops_the_caller",
            discard_drops_caller,
        ),
        (
            "semantics::restrict_narrows_and_never_widens",
            restrict_narrows,
        ),
        ("semantics::overlay_copy_brings_child_memory", overlay_copy),
        (
            "semantics::overlay_share_maps_the_same_memory",
            overlay_share,
        ),
        (
            "semantics::overlay_of_unmapped_range_fails",
            overlay_unmapped,
        ),
        ("semantics::syscall_runs_in_the_target", syscall_in_target),
        ("semantics::syscall_reports_errno", syscall_errno),
        ("semantics::bad_spec_is_refused", bad_spec),
        ("semantics::init_refuses_threads", init_refuses_threads),
        ("semantics::init_twice_is_an_error", init_twice),
        (
            "semantics::grandchildren_switch_through_the_tree",
            grandchildren,
        ),
        ("semantics::spin_handoff_on_two_cpus", spin_handoff),
        ("semantics::child_setup_failure_is_reported", setup_failure),
        (
            "semantics::requests_reach_an_lwc_still_setting_up",
            requests_before_setup,
        ),
        ("semantics::adaptive_handoff_on_one_cpu", adaptive_handoff),
        (
            "semantics::spin_on_one_cpu_is_refused",
            spin_one_cpu_refused,
        ),
    ]
}

/// What some tests need that a machine may lack (see `support::run_tests_unless`).
pub fn needs() -> Vec<crate::support::Need> {
    vec![
        ("semantics::credentials_apply_in_child", || {
            (!crate::common::is_root()).then(|| "setting credentials needs root".into())
        }),
        ("semantics::spin_handoff_on_two_cpus", || {
            (usable_cpus().len() < 2).then(|| "spin hand-off needs two CPUs".into())
        }),
    ]
}

fn new_child(spec: &Spec) -> Result<lwc::Lwc, (lwc::Lwc, Args)> {
    // SAFETY: test processes are single-threaded; specs unmap only test-owned pages.
    match unsafe { lwc::create(spec, &Options::new()) }.expect("create") {
        Created::Parent(c) => Ok(c),
        Created::Child { caller, args } => Err((caller, args)),
    }
}

fn create_returns_twice() {
    start();
    let me = lwc::current();
    match new_child(&Spec::new()) {
        Ok(child) => {
            assert_ne!(child, me);
            let back = lwc::switch(&child, Args([1, 2, 3, 4, 5, u64::MAX])).expect("switch");
            assert_eq!(back.args, Args([u64::MAX, 5, 4, 3, 2, 1]));
            assert_eq!(back.caller, child);
            assert!(back.trap.is_none());
        }
        Err((caller, args)) => {
            assert_eq!(caller, me);
            let mut r = args.0;
            r.reverse();
            panic!("{}", lwc::discard_switch(&caller, Args(r)));
        }
    }
}

fn many_round_trips() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            for i in 0..2000u64 {
                let back = lwc::switch(&child, one(i)).expect("switch");
                assert_eq!(back.args.0[0], i * 2);
            }
        }
        Err((caller, mut args)) => loop {
            args = lwc::switch(&caller, one(args.0[0] * 2))
                .expect("switch back")
                .args;
        },
    }
}

fn copy_on_write() {
    start();
    let mut value = Box::new(7u64);
    match new_child(&Spec::new()) {
        Ok(child) => {
            *value = 8;
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[0], 7, "the child saw the value at create time");
            assert_eq!(*value, 8, "the child's write did not reach us");
        }
        Err((caller, _)) => {
            let seen = *value;
            *value = 1000;
            panic!("{}", lwc::discard_switch(&caller, one(seen)));
        }
    }
}

fn shared_region() {
    start();
    let shared = SharedRegion::new(4096).expect("shared region");
    shared.write(0, &[1]).expect("write");
    let private = SharedRegion::new(4096).expect("second region");
    private.write(0, &[5]).expect("write");
    match new_child(&Spec::new().share(&shared)) {
        Ok(child) => {
            shared.write(1, &[2]).expect("write");
            private.write(1, &[6]).expect("write");
            lwc::switch(&child, Args::NONE).expect("switch");
            let mut b = [0u8; 3];
            shared.read(0, &mut b).expect("read");
            assert_eq!(b, [1, 2, 3], "the child's write is visible here");
            private.read(0, &mut b).expect("read");
            assert_eq!(b, [5, 6, 0], "a region not shared by the spec was copied");
        }
        Err((caller, _)) => {
            let mut b = [0u8; 2];
            shared.read(0, &mut b).expect("read");
            assert_eq!(b, [1, 2], "the parent's later write is visible here");
            shared.write(2, &[3]).expect("write");
            private.read(0, &mut b).expect("read");
            assert_eq!(b, [5, 0], "private copy taken at create");
            private.write(2, &[7]).expect("write");
            panic!("{}", lwc::discard_switch(&caller, Args::NONE));
        }
    }
}

fn unmap_faults() {
    start();
    let mut secret = Pages::new(4096).expect("pages");
    secret.as_mut_slice()[0] = 42;
    let addr = secret.as_slice().as_ptr() as usize;
    match new_child(&Spec::new().unmap(secret.region())) {
        Ok(child) => {
            let r = lwc::switch(&child, Args::NONE);
            assert!(
                matches!(r, Err(Error::Dead { .. })),
                "the child died reading: {r:?}"
            );
            assert_eq!(secret.as_slice()[0], 42);
        }
        Err((caller, _)) => {
            // SAFETY: deliberately reads an address the spec unmapped: this must fault.
            let v = unsafe { std::ptr::read_volatile(addr as *const u8) };
            panic!("{} (read {v})", lwc::discard_switch(&caller, Args::NONE));
        }
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: a two-element out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn fd_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

fn files_only() {
    start();
    let (r, w) = pipe();
    match new_child(&Spec::new().files(Files::Only(vec![0, 1, 2, r]))) {
        Ok(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0, [1, 0, 1, 1, 0, 0]);
            assert!(fd_open(w), "our table is untouched");
        }
        Err((caller, _)) => {
            let v = [
                fd_open(r) as u64,
                fd_open(w) as u64,
                fd_open(1) as u64,
                fd_open(2) as u64,
                0,
                0,
            ];
            panic!("{}", lwc::discard_switch(&caller, Args(v)));
        }
    }
}

fn files_close() {
    start();
    let (r, w) = pipe();
    match new_child(&Spec::new().files(Files::Close(vec![w]))) {
        Ok(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[..2], [1, 0]);
        }
        Err((caller, _)) => {
            panic!(
                "{}",
                lwc::discard_switch(
                    &caller,
                    Args([fd_open(r) as u64, fd_open(w) as u64, 0, 0, 0, 0])
                )
            );
        }
    }
}

fn credentials() {
    start();
    let spec = Spec::new().credentials(lwc::Credentials {
        uid: 65534,
        gid: 65534,
    });
    match new_child(&spec) {
        Ok(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[..2], [65534, 65534]);
            // SAFETY: no memory effects.
            let uid = unsafe { libc::getuid() };
            assert_eq!(uid, 0, "our credentials are unchanged");
        }
        Err((caller, _)) => {
            // SAFETY: no memory effects.
            let (u, g) = unsafe { (libc::getuid(), libc::getgid()) };
            panic!(
                "{}",
                lwc::discard_switch(&caller, Args([u as u64, g as u64, 0, 0, 0, 0]))
            );
        }
    }
}

fn pid_of(child: &lwc::Lwc) -> i32 {
    lwc::syscall(child, libc::SYS_getpid, [0; 6]).expect("getpid in child") as i32
}

fn switch_to_killed() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            let pid = pid_of(&child);
            // SAFETY: kill of our own child lwC.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // Whether or not the supervisor has seen the death yet, the switch must fail.
            let r = lwc::switch(&child, Args::NONE);
            assert!(matches!(r, Err(Error::Dead { .. })), "got {r:?}");
            let r = lwc::switch(&child, Args::NONE);
            assert!(matches!(r, Err(Error::Dead { .. })), "again: {r:?}");
        }
        Err((caller, _)) => loop {
            lwc::switch(&caller, Args::NONE).expect("switch");
        },
    }
}

fn switch_to_closed() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            let pid = pid_of(&child);
            lwc::close(child).expect("close");
            assert!(!crate::common::alive(pid), "closed lwC's process is gone");
            let r = lwc::switch(&child, Args::NONE);
            assert!(matches!(r, Err(Error::Dead { .. })), "got {r:?}");
            assert!(matches!(lwc::close(child), Err(Error::Dead { .. })));
        }
        Err((caller, _)) => loop {
            lwc::switch(&caller, Args::NONE).expect("switch");
        },
    }
}

fn switch_to_self() {
    start();
    let r = lwc::switch(&lwc::current(), Args::NONE);
    assert!(matches!(r, Err(Error::NotParked { .. })), "got {r:?}");
}

fn killed_while_running() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            let r = lwc::switch(&child, Args::NONE);
            assert!(matches!(r, Err(Error::Dead { .. })), "got {r:?}");
            // We hold control again and can go on creating.
            match new_child(&Spec::new()) {
                Ok(c2) => {
                    assert_eq!(lwc::switch(&c2, one(5)).expect("switch").args.0[0], 5);
                }
                Err((caller, args)) => panic!("{}", lwc::discard_switch(&caller, args)),
            }
        }
        Err(_) => {
            // SAFETY: the child kills itself while it holds control.
            unsafe { libc::raise(libc::SIGKILL) };
            unreachable!();
        }
    }
}

fn discard_drops_caller() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            let pid = pid_of(&child);
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[0], 77);
            assert!(
                !crate::common::alive(pid),
                "discarded lwC's process is gone"
            );
            let r = lwc::switch(&child, Args::NONE);
            assert!(matches!(r, Err(Error::Dead { .. })), "got {r:?}");
        }
        Err((caller, _)) => panic!("{}", lwc::discard_switch(&caller, one(77))),
    }
}

fn restrict_narrows() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            lwc::restrict(&child, Rights::SWITCH | Rights::OVERLAY).expect("restrict");
            let r = lwc::syscall(&child, libc::SYS_getpid, [0; 6]);
            assert!(
                matches!(
                    r,
                    Err(Error::NoRight {
                        right: "syscall",
                        ..
                    })
                ),
                "got {r:?}"
            );
            lwc::restrict(&child, Rights::ALL).expect("restrict to all");
            let r = lwc::syscall(&child, libc::SYS_getpid, [0; 6]);
            assert!(
                matches!(r, Err(Error::NoRight { .. })),
                "rights never widen: {r:?}"
            );
            lwc::switch(&child, Args::NONE).expect("switch still allowed");
            lwc::restrict(&child, Rights::NONE).expect("restrict to none");
            let r = lwc::switch(&child, Args::NONE);
            assert!(
                matches!(
                    r,
                    Err(Error::NoRight {
                        right: "switch",
                        ..
                    })
                ),
                "got {r:?}"
            );
            let r = lwc::overlay(&child, lwc::Region::containing(0x10000, 1), Overlay::Copy);
            assert!(matches!(r, Err(Error::NoRight { .. })), "got {r:?}");
        }
        Err((caller, _)) => loop {
            lwc::switch(&caller, Args::NONE).expect("switch");
        },
    }
}

fn overlay_copy() {
    start();
    let mut buf = Pages::new(8192).expect("pages");
    match new_child(&Spec::new()) {
        Ok(child) => {
            lwc::switch(&child, Args::NONE).expect("let the child write");
            assert_eq!(&buf.as_slice()[..5], &[0; 5], "not yet ours");
            lwc::overlay(&child, buf.region(), Overlay::Copy).expect("overlay");
            assert_eq!(&buf.as_slice()[..5], b"hello");
            assert_eq!(buf.as_slice()[4096], 9);
            // A copy: our write does not reach the child.
            buf.as_mut_slice()[0] = b'j';
            let back = lwc::switch(&child, Args::NONE).expect("ask the child");
            assert_eq!(back.args.0[0], b'h' as u64);
        }
        Err((caller, _)) => {
            buf.as_mut_slice()[..5].copy_from_slice(b"hello");
            buf.as_mut_slice()[4096] = 9;
            lwc::switch(&caller, Args::NONE).expect("switch");
            let first = buf.as_slice()[0];
            loop {
                lwc::switch(&caller, one(first as u64)).expect("switch");
            }
        }
    }
}

fn overlay_share() {
    start();
    let mut mine = Pages::new(4096).expect("pages");
    let addr = mine.as_mut_slice().as_mut_ptr() as usize;
    match new_child(&Spec::new()) {
        Ok(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("let the child make a region");
            let region = lwc::Region {
                addr: back.args.0[0] as usize,
                len: 4096,
            };
            let r = lwc::overlay(&child, lwc::Region { addr, len: 4096 }, Overlay::Share);
            assert!(
                matches!(r, Err(Error::Invalid { .. })),
                "private memory cannot be shared: {r:?}"
            );
            lwc::overlay(&child, region, Overlay::Share).expect("overlay share");
            let p = region.addr as *mut u8;
            // SAFETY: the overlay mapped this page here.
            unsafe {
                assert_eq!(p.read_volatile(), 31);
                p.write_volatile(32);
            }
            let back = lwc::switch(&child, Args::NONE).expect("ask the child");
            assert_eq!(back.args.0[0], 32, "the child sees our write: same memory");
        }
        Err((caller, _)) => {
            let shared = SharedRegion::new(4096).expect("region");
            shared.write(0, &[31]).expect("write");
            lwc::switch(&caller, one(shared.as_ptr() as u64)).expect("switch");
            let mut b = [0u8];
            shared.read(0, &mut b).expect("read");
            loop {
                lwc::switch(&caller, one(b[0] as u64)).expect("switch");
            }
        }
    }
}

fn overlay_unmapped() {
    start();
    let buf = Pages::new(4096).expect("pages");
    match new_child(&Spec::new().unmap(buf.region())) {
        Ok(child) => {
            let r = lwc::overlay(&child, buf.region(), Overlay::Copy);
            assert!(matches!(r, Err(Error::Os { .. })), "got {r:?}");
        }
        Err((caller, _)) => loop {
            lwc::switch(&caller, Args::NONE).expect("switch");
        },
    }
}

fn syscall_in_target() {
    start();
    // SAFETY: no memory effects.
    let my_pid = unsafe { libc::getpid() };
    match new_child(&Spec::new()) {
        Ok(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            let (fd, child_pid) = (back.args.0[0] as i32, back.args.0[1] as i64);
            assert!(!fd_open(fd), "the child's fd is not in our table");
            assert_eq!(
                lwc::syscall(&child, libc::SYS_getpid, [0; 6]).expect("getpid"),
                child_pid
            );
            assert_ne!(child_pid, my_pid as i64);
            let flags = lwc::syscall(
                &child,
                libc::SYS_fcntl,
                [fd as u64, libc::F_GETFD as u64, 0, 0, 0, 0],
            );
            assert!(flags.is_ok(), "the fd is open there: {flags:?}");
            lwc::syscall(&child, libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]).expect("close there");
            let back = lwc::switch(&child, one(fd as u64)).expect("switch");
            assert_eq!(back.args.0[0], 0, "the child sees its fd closed");
            // Our own context: a plain call.
            assert_eq!(
                lwc::syscall(&lwc::current(), libc::SYS_getpid, [0; 6]).expect("self"),
                my_pid as i64
            );
        }
        Err((caller, _)) => {
            let (r, w) = pipe();
            // SAFETY: no memory effects.
            let pid = unsafe { libc::getpid() } as u64;
            // Keep only one end open, at a number the parent does not use.
            let fd = 900;
            // SAFETY: plain descriptor-table edits of our own process.
            unsafe {
                libc::close(w);
                assert_eq!(libc::dup2(r, fd), fd);
                libc::close(r);
            }
            let back = lwc::switch(&caller, Args([fd as u64, pid, 0, 0, 0, 0])).expect("switch");
            let still = fd_open(back.args.0[0] as i32);
            panic!("{}", lwc::discard_switch(&caller, one(still as u64)));
        }
    }
}

/// Guards against a failed remote system call reported as success or with another errno.
fn syscall_errno() {
    start();
    match new_child(&Spec::new()) {
        Ok(child) => {
            let r = lwc::syscall(&child, libc::SYS_close, [9999, 0, 0, 0, 0, 0]);
            match r {
                Err(Error::Os { source, .. }) => {
                    assert_eq!(source.raw_os_error(), Some(libc::EBADF))
                }
                other => panic!("expected EBADF, got {other:?}"),
            }
        }
        Err((caller, _)) => loop {
            lwc::switch(&caller, Args::NONE).expect("switch");
        },
    }
}

fn bad_spec() {
    start();
    let unaligned = lwc::Region {
        addr: 0x1001,
        len: 4096,
    };
    // SAFETY: the spec is refused before any fork.
    let r = unsafe { lwc::create(&Spec::new().unmap(unaligned), &Options::new()) };
    assert!(matches!(r, Err(Error::Invalid { .. })), "got {r:?}");
    let empty = lwc::Region {
        addr: 0x1000,
        len: 0,
    };
    // SAFETY: as above.
    let r = unsafe { lwc::create(&Spec::new().unmap(empty), &Options::new()) };
    assert!(matches!(r, Err(Error::Invalid { .. })));
    // SAFETY: as above.
    let r = unsafe { lwc::create(&Spec::new().files(Files::Only(vec![-1])), &Options::new()) };
    assert!(matches!(r, Err(Error::Invalid { .. })));
}

fn init_refuses_threads() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    let r = lwc::init(&lwc::GroupConfig::default());
    assert!(
        matches!(r, Err(Error::MultiThreaded { threads: 2, .. })),
        "got {r:?}"
    );
    let _ = tx.send(());
    t.join().expect("join");
    let r = lwc::init(&lwc::GroupConfig {
        cpus: vec![100_000],
        ..Default::default()
    });
    assert!(matches!(r, Err(Error::Invalid { .. })), "got {r:?}");
}

fn init_twice() {
    start();
    let r = lwc::init(&lwc::GroupConfig::default());
    assert!(matches!(r, Err(Error::AlreadyInitialized)));
}

fn grandchildren() {
    start();
    let root = lwc::current();
    match new_child(&Spec::new()) {
        Ok(child) => {
            // The child creates a grandchild and passes us its descriptor's id via args;
            // we cannot name it (no descriptor), but the child relays.
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[0], 3, "child → grandchild → child → us");
        }
        Err((caller, _)) => {
            assert_eq!(caller, root);
            match new_child(&Spec::new()) {
                Ok(grand) => {
                    let v = lwc::switch(&grand, one(1)).expect("to grandchild").args.0[0];
                    panic!("{}", lwc::discard_switch(&caller, one(v + 1)));
                }
                Err((parent, args)) => {
                    panic!("{}", lwc::discard_switch(&parent, one(args.0[0] + 1)))
                }
            }
        }
    }
}

fn ping_pong_rounds(child_opts: Options, rounds: u64) {
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&Spec::new(), &child_opts) }.expect("create") {
        Created::Parent(child) => {
            for i in 0..rounds {
                let back = lwc::switch(&child, one(i)).expect("switch");
                assert_eq!(back.args.0[0], i + 1);
            }
            lwc::close(child).expect("close");
        }
        Created::Child { caller, mut args } => loop {
            args = lwc::switch(&caller, one(args.0[0] + 1))
                .expect("switch back")
                .args;
        },
    }
}

fn usable_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        set
    };
    // SAFETY: indices below CPU_SETSIZE.
    (0..64)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

fn spin_handoff() {
    let cpus = usable_cpus();
    let (a, b) = (cpus[0], cpus[1]);
    lwc::init(&lwc::GroupConfig {
        cpus: vec![a, b],
        handoff: lwc::Handoff::Spin,
    })
    .expect("init");
    ping_pong_rounds(Options::new().cpu(b), 5000);
}

fn adaptive_handoff() {
    let spin = std::time::Duration::from_micros(20);
    lwc::init(&lwc::GroupConfig {
        cpus: vec![],
        handoff: lwc::Handoff::Adaptive { spin },
    })
    .expect("init");
    ping_pong_rounds(Options::new(), 2000);
    // A child that blocks while its parent spins, and the other way round.
    ping_pong_rounds(Options::new().handoff(lwc::Handoff::Block), 2000);
}

fn spin_one_cpu_refused() {
    let r = lwc::init(&lwc::GroupConfig {
        cpus: vec![],
        handoff: lwc::Handoff::Spin,
    });
    assert!(matches!(r, Err(Error::Invalid { .. })), "got {r:?}");
}

/// A spec the child cannot apply (an unprivileged creator asking for uid 0) fails `create` with
/// the step that failed, for a plain and for a sandboxed child, and the group goes on.
fn setup_failure() {
    crate::common::become_nobody();
    start();
    let spec = Spec::new().credentials(lwc::Credentials { uid: 0, gid: 0 });
    for opts in [Options::new(), Options::new().systrap(lwc::Systrap::all())] {
        // SAFETY: single-threaded test process.
        let r = unsafe { lwc::create(&spec, &opts) };
        match r {
            Err(Error::ChildSetup { step, source }) => {
                assert_eq!(step, "set credentials");
                assert_eq!(source.raw_os_error(), Some(libc::EPERM));
            }
            Ok(Created::Child { .. }) => std::process::exit(3),
            other => panic!("expected ChildSetup, got {other:?}"),
        }
    }
    // Still in control: a good create works, also once the supervisor has found the failed
    // lwCs' slots (it scans every 20 ms) while we are parked in a switch: their deaths must
    // reach nobody, or we would be woken with a stale notice.
    match new_child(&Spec::new()) {
        Ok(child) => {
            for round in 0..3 {
                let back = lwc::switch(&child, one(round)).expect("switch");
                assert_eq!(back.args.0[0], round);
            }
        }
        Err((caller, mut args)) => loop {
            std::thread::sleep(std::time::Duration::from_millis(30));
            args = lwc::switch(&caller, args).expect("switch back").args;
        },
    }
    // The failed lwCs' slots were freed: the many failures above and below do not use up ids.
    for _ in 0..50 {
        // SAFETY: single-threaded test process.
        let r = unsafe { lwc::create(&spec, &Options::new()) };
        assert!(matches!(r, Err(Error::ChildSetup { .. })), "{r:?}");
    }
    // The supervisor frees slots when it next scans, which a loaded machine may delay: ask
    // again, bounded (5 s), closing each lwC that got a fresh slot.
    let mut last = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        match new_child(&Spec::new()) {
            Ok(child) if child.id() < 50 => return,
            Ok(child) => {
                last = Some(child.id());
                lwc::close(child).expect("close");
            }
            Err((caller, args)) => panic!("{}", lwc::discard_switch(&caller, args)),
        }
    }
    panic!("no failed lwC's slot was reused in 5 s (last slot given: {last:?})");
}

/// A spec with nothing fallible is not acknowledged: create returns at once and the child may
/// not have run yet. Every request must still reach it (queued until it is set up), and close
/// must end it.
fn requests_before_setup() {
    start();
    // SAFETY: no memory effects.
    let me = unsafe { libc::getpid() };
    let before = crate::common::children_of(me).len();
    match new_child(&Spec::new()) {
        // A syscall request as the very first message.
        Ok(child) => {
            let pid = pid_of(&child);
            assert!(pid > 0 && pid != me);
            assert_eq!(lwc::switch(&child, one(5)).expect("switch").args.0[0], 6);
            lwc::close(child).expect("close");
            assert!(!crate::common::alive(pid));
        }
        Err((caller, mut args)) => loop {
            args = lwc::switch(&caller, one(args.0[0] + 1))
                .expect("switch back")
                .args;
        },
    }
    for _ in 0..20 {
        match new_child(&Spec::new()) {
            // Restrict (a revoke message) first, then a switch.
            Ok(child) => {
                lwc::restrict(&child, Rights::SWITCH).expect("restrict");
                assert_eq!(lwc::switch(&child, one(1)).expect("switch").args.0[0], 2);
                // Closed before it ever ran.
                match new_child(&Spec::new()) {
                    Ok(never_run) => lwc::close(never_run).expect("close"),
                    Err((caller, _)) => panic!("{}", lwc::discard_switch(&caller, Args::NONE)),
                }
            }
            Err((caller, args)) => {
                panic!("{}", lwc::discard_switch(&caller, one(args.0[0] + 1)))
            }
        }
    }
    assert_eq!(
        crate::common::children_of(me).len(),
        before,
        "no lwC process is left behind"
    );
}
