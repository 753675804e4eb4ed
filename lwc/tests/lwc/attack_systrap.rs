//! SYSTRAP, attacked from inside the sandbox: its trapped calls must reach the monitor (or be
//! refused) whatever state the runtime is in, its untrapped futex calls must not reach other
//! lwCs' words, and the runtime's shared pages must not be writable from it.

use crate::common::{become_nobody, start};
use lwc::{Answer, Args, Created, Options, Snapshot, Spec, Strategy, Systrap};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "attack_systrap::calls_made_while_the_monitor_asks_for_a_syscall_are_not_unseen",
            calls_during_service,
        ),
        (
            "attack_systrap::calls_made_while_the_monitor_asks_for_a_syscall_are_not_unseen_as_nobody",
            calls_during_service_nobody,
        ),
        (
            "attack_systrap::overlay_copy_from_a_trap_all_sandbox_still_works",
            overlay_copy_from_sandbox,
        ),
        (
            "attack_systrap::futex_requeue_goes_to_the_monitor_in_a_trap_all_sandbox",
            futex_requeue_all,
        ),
        (
            "attack_systrap::futex_requeue_on_the_switchboard_fails_in_a_trap_only_sandbox",
            futex_requeue_only,
        ),
        (
            "attack_systrap::snapshot_pool_page_is_not_writable_from_a_sandbox",
            pool_page_sandbox,
        ),
        (
            "attack_systrap::a_forged_pool_count_does_not_index_past_the_pool",
            pool_count_forged,
        ),
        (
            "attack_systrap::a_pools_spares_cannot_be_taken_by_other_lwcs",
            pool_spares_stolen,
        ),
        (
            "attack_systrap::a_socket_on_the_setup_sockets_number_does_not_send_untrapped",
            setup_socket_number,
        ),
        (
            "attack_systrap::a_socket_on_the_setup_sockets_number_does_not_send_untrapped_as_nobody",
            setup_socket_number_nobody,
        ),
    ]
}

/// The runtime's marker system calls (lwc's `seccomp::MARKER_NR + kind`): a hostile sandbox
/// knows them from the source. Kinds: SWITCH 1, SERVICE 3, SERVICE_DONE 4.
const MARKER_NR: i64 = 0x000c_a100;
const SWITCH: i64 = 1;
const SERVICE: i64 = 3;
const SERVICE_DONE: i64 = 4;

fn raw(nr: i64, a: [u64; 6]) -> i64 {
    // SAFETY: a raw system call with integer arguments (pointers, where any, are ours).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        r
    }
}

fn sandbox(spec: Spec, set: Systrap) -> Result<lwc::Lwc, lwc::Lwc> {
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&spec, &Options::new().systrap(set)) }.expect("create sandbox") {
        Created::Parent(c) => Ok(c),
        Created::Child { caller, .. } => Err(caller),
    }
}

/// A `Systrap::all()` sandbox parks with the raw marker call, not the runtime's, so that when
/// its monitor asks it for a system call it runs its own calls instead. Guards against a
/// monitor that lets every call through while the sandbox serves a request.
fn calls_during_service() {
    start();
    match sandbox(Spec::new(), Systrap::all()) {
        Ok(sb) => {
            let first = lwc::switch(&sb, Args::NONE).expect("switch");
            assert!(first.trap.is_none());
            // The sandbox does not serve: the request fails, and that is all it may do.
            let _ = lwc::syscall(&sb, libc::SYS_getppid, [0; 6]);
            let report = lwc::switch(&sb, Args::NONE).expect("switch");
            assert!(report.trap.is_none(), "unexpected trap {:?}", report.trap);
            let [sock, open, write, ..] = report.args.0;
            for (what, r) in [("socket", sock), ("openat", open), ("write", write)] {
                assert!(
                    (r as i64) < 0,
                    "{what} ran unseen in the sandbox while its monitor asked for a syscall"
                );
            }
        }
        Err(_) => {
            let mut why = raw(MARKER_NR + SWITCH, [0; 6]);
            while why != SERVICE {
                why = raw(MARKER_NR + SWITCH, [0; 6]);
            }
            let sock = raw(
                libc::SYS_socket,
                [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
            );
            let path = c"/proc/self/status";
            let open = raw(
                libc::SYS_openat,
                [
                    libc::AT_FDCWD as u64,
                    path.as_ptr() as u64,
                    libc::O_RDONLY as u64,
                    0,
                    0,
                    0,
                ],
            );
            let write = raw(libc::SYS_write, [2, b"x".as_ptr() as u64, 1, 0, 0, 0]);
            // "Done": the monitor switches to us again, and we report.
            raw(MARKER_NR + SERVICE_DONE, [0; 6]);
            raw(
                MARKER_NR + SWITCH,
                [sock as u64, open as u64, write as u64, 0, 0, 0],
            );
            unreachable!("the monitor never switches back");
        }
    }
}

fn calls_during_service_nobody() {
    become_nobody();
    calls_during_service();
}

/// The monitor's service rules still let the runtime's own overlay copy through (it makes a
/// memfd, writes the region into it and sends it). Guards against rules that break the
/// service they are meant to admit.
fn overlay_copy_from_sandbox() {
    start();
    let mut page = lwc::Pages::new(4096).expect("pages");
    let region = page.region();
    match sandbox(Spec::new(), Systrap::all()) {
        Ok(sb) => {
            let back = lwc::switch(&sb, Args::NONE).expect("switch");
            assert!(back.trap.is_none());
            lwc::overlay(&sb, region, lwc::Overlay::Copy).expect("overlay from the sandbox");
            assert_eq!(
                &page.as_slice()[..8],
                b"sandbox!",
                "the sandbox's bytes came over"
            );
        }
        Err(monitor) => {
            page.as_mut_slice()[..8].copy_from_slice(b"sandbox!");
            loop {
                let _ = lwc::switch(&monitor, Args::NONE);
            }
        }
    }
}

/// `futex(FUTEX_CMP_REQUEUE)` on a word moves its waiters elsewhere: on a parked lwC's board
/// word, nothing would wake it again. In a `Systrap::all()` sandbox it must reach the
/// monitor; FUTEX_WAKE (which the runtime uses) still runs untrapped.
fn futex_requeue_all() {
    start();
    match sandbox(Spec::new(), Systrap::all()) {
        Ok(sb) => {
            let ev = lwc::switch(&sb, Args::NONE).expect("switch");
            let trap = ev.trap.expect("the requeue was trapped");
            assert_eq!(trap.nr, libc::SYS_futex);
            assert_eq!(trap.args[1] as i32 & 0x7f, libc::FUTEX_CMP_REQUEUE);
            let ev = lwc::answer(trap, Answer::Deny(libc::EPERM)).expect("answer");
            assert!(ev.trap.is_none(), "FUTEX_WAKE was trapped: {:?}", ev.trap);
            assert_eq!(ev.args.0[0] as i64, -(libc::EPERM as i64));
            assert_eq!(ev.args.0[1], 0, "FUTEX_WAKE runs, waking nobody");
        }
        Err(monitor) => {
            let word = std::sync::atomic::AtomicU32::new(0);
            let other = std::sync::atomic::AtomicU32::new(0);
            let w = word.as_ptr() as u64;
            let o = other.as_ptr() as u64;
            let requeue = raw(
                libc::SYS_futex,
                [w, libc::FUTEX_CMP_REQUEUE as u64, 0, i32::MAX as u64, o, 0],
            );
            let wake = raw(libc::SYS_futex, [w, libc::FUTEX_WAKE as u64, 1, 0, 0, 0]);
            let _ = lwc::switch(&monitor, Args([requeue as u64, wake as u64, 0, 0, 0, 0]));
            unreachable!();
        }
    }
}

/// The address of the switchboard in this process (from /proc/self/maps).
fn board_address() -> Option<u64> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.contains("lwc-switchboard"))?;
    u64::from_str_radix(line.split('-').next()?, 16).ok()
}

/// In a `Systrap::only` sandbox (futex not listed), the sandbox finds the switchboard (its view
/// is read-only, which a requeue does not need) and requeues a word of it: refused with
/// ENOSYS. Guards against a filter that allows every futex operation.
fn futex_requeue_only() {
    start();
    match sandbox(Spec::new(), Systrap::only(&[libc::SYS_getuid])) {
        Ok(sb) => {
            let ev = lwc::switch(&sb, Args::NONE).expect("switch");
            assert!(ev.trap.is_none());
            let [found, requeue, wake, ..] = ev.args.0;
            assert_eq!(found, 1, "the sandbox found the switchboard");
            assert_eq!(
                requeue as i64,
                -(libc::ENOSYS as i64),
                "FUTEX_CMP_REQUEUE ran on the switchboard"
            );
            assert!(wake as i64 >= 0, "FUTEX_WAKE is refused: {}", wake as i64);
        }
        Err(monitor) => {
            let board = board_address();
            let w = board.unwrap_or(0) + 64 + 4; // slot 0's wake word
            let other = std::sync::atomic::AtomicU32::new(0);
            let requeue = raw(
                libc::SYS_futex,
                [
                    w,
                    libc::FUTEX_CMP_REQUEUE as u64,
                    0,
                    i32::MAX as u64,
                    other.as_ptr() as u64,
                    0,
                ],
            );
            let wake = raw(libc::SYS_futex, [w, libc::FUTEX_WAKE as u64, 0, 0, 0, 0]);
            let found = u64::from(board.is_some());
            let _ = lwc::switch(
                &monitor,
                Args([found, requeue as u64, wake as u64, 0, 0, 0]),
            );
            unreachable!();
        }
    }
}

/// The writable MAP_SHARED anonymous mappings of this process ("/dev/zero (deleted)" in
/// /proc/self/maps, where the snapshot pool's page is), as (start, end).
fn shared_anonymous_writable() -> Vec<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter(|l| l.contains("rw-s") && l.contains("/dev/zero"))
        .filter_map(|l| {
            let range = l.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect()
}

/// Writes a forged count (far past the table) into every writable shared anonymous page;
/// returns how many it wrote.
fn forge_pool_counts() -> u64 {
    let pages = shared_anonymous_writable();
    for &(start, _) in &pages {
        // SAFETY: the first word of a writable shared mapping of ours (the pool page's count).
        unsafe { std::ptr::write_volatile(start as *mut u32, 1000) };
    }
    pages.len() as u64
}

/// The pool page names the copies a fork snapshot's rollback resumes; a sandbox that could
/// write it would choose where its monitor's rollback goes. Guards against a sandbox keeping
/// its writable view.
fn pool_page_sandbox() {
    start();
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(Strategy::Fork) }.expect("take");
    if taken.restored() {
        return;
    }
    match sandbox(Spec::new(), Systrap::only(&[libc::SYS_getuid])) {
        Ok(sb) => {
            let ev = lwc::switch(&sb, Args::NONE).expect("switch");
            assert_eq!(
                ev.args.0[0], 0,
                "the sandbox found the pool's page writable"
            );
            assert_eq!(taken.snapshot().ready_copies(), 1, "the pool is as it was");
        }
        Err(monitor) => {
            let wrote = forge_pool_counts();
            let _ = lwc::switch(&monitor, Args([wrote, 0, 0, 0, 0, 0]));
            unreachable!();
        }
    }
}

/// Any other lwC forked after a fork snapshot maps its pool page writable (so does each copy):
/// a count it forges must not make the taker's rollback index past the table. Guards against
/// an unchecked count (a panic, or a resumed lwC of the attacker's choice).
fn pool_count_forged() {
    start();
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(Strategy::Fork) }.expect("take");
    if taken.restored() {
        return; // the rollback resumed a real copy
    }
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(c) => {
            let ev = lwc::switch(&c, Args::NONE).expect("switch");
            assert!(ev.args.0[0] >= 1, "the attacker found the pool's page");
            assert!(
                taken.snapshot().ready_copies() <= 1,
                "a count past the pool's size"
            );
            let err = taken.snapshot().rollback();
            panic!("rollback failed: {err}");
        }
        Created::Child { caller, .. } => {
            let wrote = forge_pool_counts();
            let _ = lwc::switch(&caller, Args([wrote, 0, 0, 0, 0, 0]));
            unreachable!();
        }
    }
}

/// Receives, without waiting, from every socket open here; returns how many messages came.
fn steal_from_every_socket() -> u64 {
    let mut stolen = 0;
    for fd in 0..1024 {
        // SAFETY: fstat into a live local; recv into a live buffer, on any descriptor number.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                continue;
            }
            let mut buf = [0u8; 64];
            if libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) > 0 {
                stolen += 1;
            }
        }
    }
    stolen
}

/// A `Pool` snapshot's factory hands its spares over a socket that only the pool's copies
/// hold: an lwC created after the snapshot (plain, speaking for its creator, or sandboxed)
/// that could take one from it would drain the pool, or roll its creator back into a copy of
/// its choosing. Guards against a child keeping the pool's socket.
fn pool_spares_stolen() {
    start();
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(Strategy::Pool { size: 2 }) }.expect("take");
    assert!(!taken.restored(), "nothing rolls back here");
    let snap = taken.snapshot();
    assert_eq!(snap.ready_copies(), 2, "take returns with the pool full");
    let plain = Options::new();
    let speaking = Options::new().speak_for_creator();
    for (who, opts) in [("a plain lwC", plain), ("an lwC speaking for us", speaking)] {
        // SAFETY: single-threaded test process.
        match unsafe { lwc::create(&Spec::new(), &opts) }.expect("create") {
            Created::Parent(c) => {
                let ev = lwc::switch(&c, Args::NONE).expect("switch");
                assert_eq!(ev.args.0[0], 0, "{who} received from the pool's socket");
                assert_eq!(snap.ready_copies(), 2, "{who} took a spare");
            }
            Created::Child { caller, .. } => {
                let stolen = steal_from_every_socket();
                let _ = lwc::switch(&caller, Args([stolen, 0, 0, 0, 0, 0]));
                unreachable!();
            }
        }
    }
    match sandbox(Spec::new(), Systrap::only(&[libc::SYS_getuid])) {
        Ok(sb) => {
            let ev = lwc::switch(&sb, Args::NONE).expect("switch");
            assert_eq!(ev.args.0[0], 0, "a sandbox received from the pool's socket");
            assert_eq!(snap.ready_copies(), 2, "a sandbox took a spare");
        }
        Err(monitor) => {
            let stolen = steal_from_every_socket();
            let _ = lwc::switch(&monitor, Args([stolen, 0, 0, 0, 0, 0]));
            unreachable!();
        }
    }
    snap.release().expect("release");
}

/// The socket a sandbox hands its listener over is closed after setup; a socket the sandbox
/// opens onto that number must not send untrapped when `sendmsg` is trapped. The sandbox puts
/// a socket on every free number below 64 and sends on each; every send must reach the
/// monitor. Guards against a filter that exempts a descriptor number.
fn setup_socket_number() {
    start();
    match sandbox(Spec::new(), Systrap::only(&[libc::SYS_sendmsg])) {
        Ok(sb) => {
            let mut ev = lwc::switch(&sb, Args::NONE).expect("switch");
            let mut trapped = 0;
            while let Some(trap) = ev.trap {
                assert_eq!(trap.nr, libc::SYS_sendmsg);
                trapped += 1;
                ev = lwc::answer(trap, Answer::Deny(libc::EPERM)).expect("answer");
            }
            let [tried, untrapped, ..] = ev.args.0;
            assert!(tried > 0, "the sandbox tried");
            assert_eq!(untrapped, 0, "a sendmsg ran untrapped ({trapped} trapped)");
        }
        Err(monitor) => {
            let mut pair = [0; 2];
            // SAFETY: a two-element out-array.
            let r =
                unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, pair.as_mut_ptr()) };
            assert_eq!(r, 0, "socketpair");
            let (mut tried, mut untrapped) = (0u64, 0u64);
            for fd in 3..64 {
                // SAFETY: F_GETFD only queries the table.
                let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
                if fd == pair[0] || fd == pair[1] || open {
                    continue;
                }
                // SAFETY: dup2 onto a free number of our own table.
                if unsafe { libc::dup2(pair[0], fd) } != fd {
                    continue;
                }
                let byte = [1u8];
                let mut iov = libc::iovec {
                    iov_base: byte.as_ptr() as *mut libc::c_void,
                    iov_len: 1,
                };
                // SAFETY: msghdr is plain data; zero is a valid empty header.
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                tried += 1;
                // SAFETY: sends one byte from our buffer.
                if unsafe { libc::sendmsg(fd, &msg, 0) } == 1 {
                    untrapped += 1;
                }
                // SAFETY: our own descriptor.
                unsafe { libc::close(fd) };
            }
            let _ = lwc::switch(&monitor, Args([tried, untrapped, 0, 0, 0, 0]));
            unreachable!();
        }
    }
}

fn setup_socket_number_nobody() {
    become_nobody();
    setup_socket_number();
}
