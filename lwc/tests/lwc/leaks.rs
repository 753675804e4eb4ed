//! Nothing leaks: no zombie after many create/discard cycles, and no lwC outlives its group's
//! root, whether the root returns, panics or is killed.

use crate::common::{alive, children_of, start};
use lwc::{Args, Created, Options, Spec};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "leaks::ten_thousand_create_discard_cycles_leave_no_zombie",
            many_cycles,
        ),
        ("leaks::no_lwc_outlives_a_returning_root", root_returns),
        ("leaks::no_lwc_outlives_a_panicking_root", root_panics),
        ("leaks::no_lwc_outlives_a_killed_root", root_killed),
        ("leaks::group_exit_status_is_the_programs", exit_status),
    ]
}

fn many_cycles() {
    start();
    // SAFETY: no memory effects.
    let me = unsafe { libc::getpid() };
    for i in 0..10_000u64 {
        // SAFETY: single-threaded.
        match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
            Created::Parent(child) => {
                let back = lwc::switch(&child, Args([i, 0, 0, 0, 0, 0])).expect("switch");
                assert_eq!(back.args.0[0], i);
            }
            Created::Child { caller, args } => panic!("{}", lwc::discard_switch(&caller, args)),
        }
    }
    let kids = children_of(me);
    assert!(
        kids.is_empty(),
        "children left after 10,000 cycles: {kids:?}"
    );
}

/// Runs `group` in a forked process (as the root of a new lwC group that starts 3 parked
/// lwCs and reports their pids), does `end` to that process, and checks every lwC is gone.
fn outlive_check(end_by: fn(i32), group_end: fn()) {
    let mut fds = [0; 2];
    // SAFETY: a two-element out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the test process is single-threaded.
    let root = unsafe { libc::fork() };
    assert!(root >= 0);
    if root == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        start();
        let mut pids = Vec::new();
        for _ in 0..3 {
            // SAFETY: single-threaded.
            match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
                Created::Parent(c) => {
                    pids.push(lwc::syscall(&c, libc::SYS_getpid, [0; 6]).expect("pid") as i32)
                }
                Created::Child { caller, .. } => loop {
                    let _ = lwc::switch(&caller, Args::NONE);
                },
            }
        }
        // SAFETY: no memory effects.
        pids.push(unsafe { libc::getpid() });
        let bytes: Vec<u8> = pids.iter().flat_map(|p| p.to_le_bytes()).collect();
        // SAFETY: writes our buffer to the pipe.
        unsafe { libc::write(fds[1], bytes.as_ptr().cast(), bytes.len()) };
        group_end();
        // SAFETY: exit of the forked root.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 16 {
        // SAFETY: reads into our buffer.
        let n = unsafe { libc::read(fds[0], buf[got..].as_mut_ptr().cast(), 16 - got) };
        assert!(n > 0, "the root reported its lwCs");
        got += n as usize;
    }
    let pids: Vec<i32> = buf
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    end_by(root);
    let mut status = 0;
    // SAFETY: waits for our child.
    unsafe { libc::waitpid(root, &mut status, 0) };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lwC processes outlived the root: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn nothing(_: i32) {}

fn root_returns() {
    outlive_check(nothing, || std::process::exit(0));
}

fn root_panics() {
    outlive_check(nothing, || {
        // The panic is the point: keep its message and backtrace out of the test log.
        std::panic::set_hook(Box::new(|_| {}));
        let r = std::panic::catch_unwind(|| panic!("the root panics"));
        // A panicking main exits with 101, as Rust's runtime does.
        std::process::exit(if r.is_err() { 101 } else { 0 });
    });
}

fn root_killed() {
    outlive_check(
        // SAFETY: kill of our own child (the group's supervisor, the root's original pid).
        |pid| unsafe {
            libc::kill(pid, libc::SIGKILL);
        },
        || loop {
            std::thread::sleep(Duration::from_secs(1));
        },
    );
}

fn exit_status() {
    // SAFETY: the test process is single-threaded.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        start();
        // SAFETY: single-threaded.
        match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
            Created::Parent(c) => {
                lwc::switch(&c, Args::NONE).expect("switch");
                std::process::exit(3);
            }
            // The child takes over control for good and exits with 7: that ends the group.
            Created::Child { .. } => std::process::exit(7),
        }
    }
    let mut status = 0;
    // SAFETY: waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        7,
        "the group ends with the status of the lwC that exited"
    );
}
