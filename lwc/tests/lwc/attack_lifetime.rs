//! A group's lifetime, attacked: no lwC may ptrace or read the two processes behind the group
//! (supervisor, guardian), and nothing an lwC forks outlives the group, however it ends.

use crate::common::{alive, become_nobody, children_of, parent_of, start};
use lwc::{Args, Created, Options, Spec};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "attack_lifetime::supervisor_and_guardian_are_out_of_reach_as_root",
            reach_root,
        ),
        (
            "attack_lifetime::supervisor_and_guardian_are_out_of_reach_as_nobody",
            reach_nobody,
        ),
        (
            "attack_lifetime::plain_forks_end_with_a_group_that_returns",
            forks_returning_group,
        ),
        (
            "attack_lifetime::plain_forks_end_with_a_group_whose_supervisor_is_killed",
            forks_supervisor_killed,
        ),
        (
            "attack_lifetime::plain_forks_end_with_a_group_whose_supervisor_is_killed_as_nobody",
            forks_supervisor_killed_nobody,
        ),
        (
            "attack_lifetime::plain_forks_end_with_a_group_whose_guardian_is_killed",
            forks_guardian_killed,
        ),
        (
            "attack_lifetime::no_lwc_stays_parked_when_guardian_then_supervisor_are_killed",
            guardian_then_supervisor_killed,
        ),
    ]
}

/// In the first lwC: the group's supervisor and guardian. The supervisor is our parent; the
/// guardian is either its other child or its parent, whichever layout the runtime has.
fn supervisor_and_guardian() -> (i32, i32) {
    // SAFETY: no memory effects.
    let (me, supervisor) = unsafe { (libc::getpid(), libc::getppid()) };
    let guardian = children_of(supervisor)
        .into_iter()
        .map(|(p, _)| p)
        .find(|&p| p != me)
        .unwrap_or_else(|| parent_of(supervisor));
    (supervisor, guardian)
}

/// The routes into another process's memory that work when it is dumpable: ptrace,
/// process_vm_readv, /proc/PID/mem. Returns those that worked.
fn reach(victim: i32) -> Vec<&'static str> {
    let mut won = Vec::new();
    // SAFETY: attach to the victim; on success we detach at once.
    if unsafe { libc::ptrace(libc::PTRACE_ATTACH, victim, 0, 0) } == 0 {
        won.push("ptrace");
        // SAFETY: undo the attach.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, victim, 0, 0) };
    }
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 8,
    };
    // Any mapped address of the victim: the same binary is mapped there, at our address of
    // `reach` (no ASLR difference between a process and its forks).
    let remote = libc::iovec {
        iov_base: reach as *const () as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: reads into our buffer; the kernel checks access to the victim.
    if unsafe { libc::process_vm_readv(victim, &local, 1, &remote, 1, 0) } >= 0 {
        won.push("process_vm_readv");
    }
    if std::fs::File::open(format!("/proc/{victim}/mem")).is_ok() {
        won.push("/proc/PID/mem");
    }
    won
}

fn reach_check() {
    start();
    let (supervisor, guardian) = supervisor_and_guardian();
    assert!(supervisor > 0 && guardian > 0, "found both processes");
    let mut won = Vec::new();
    for (who, pid) in [("supervisor", supervisor), ("guardian", guardian)] {
        won.extend(
            reach(pid)
                .into_iter()
                .map(|w| format!("{w} into the {who}")),
        );
    }
    assert!(
        won.is_empty(),
        "an lwC reached the group's processes: {won:?}"
    );
}

fn reach_root() {
    reach_check();
}

fn reach_nobody() {
    become_nobody();
    reach_check();
}

/// What the group's first lwC reports: supervisor, guardian, a parked lwC, a plain fork of
/// the first lwC, a plain fork of the parked lwC.
struct Group {
    root: i32,
    supervisor: i32,
    guardian: i32,
    parked: i32,
    forks: [i32; 2],
}

/// A plain fork that lives on until killed, as a hostile lwC's helper would.
fn plain_fork() -> i32 {
    // SAFETY: the lwC is single-threaded; the child only sleeps.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        loop {
            // SAFETY: pause has no memory effects.
            unsafe { libc::pause() };
        }
    }
    pid
}

/// Forks a process that starts a group (as nobody when `nobody`) with a parked lwC and two
/// plain forks, reports them, then does `then` in the first lwC.
fn start_group(nobody: bool, then: fn()) -> Group {
    let mut fds = [0; 2];
    // SAFETY: a two-element out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the test process is single-threaded.
    let root = unsafe { libc::fork() };
    assert!(root >= 0);
    if root == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        if nobody {
            become_nobody();
        }
        start();
        // SAFETY: single-threaded.
        let child = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
            Created::Parent(c) => c,
            Created::Child { mut caller, .. } => loop {
                // Asked to, the parked lwC forks a helper and reports it.
                let pid = plain_fork();
                caller = lwc::switch(&caller, Args([pid as u64, 0, 0, 0, 0, 0]))
                    .expect("switch back")
                    .caller;
            },
        };
        let parked = lwc::syscall(&child, libc::SYS_getpid, [0; 6]).expect("pid") as i32;
        let fork_of_parked = lwc::switch(&child, Args::NONE).expect("switch").args.0[0] as i32;
        let fork_of_first = plain_fork();
        let (supervisor, guardian) = supervisor_and_guardian();
        let report = [supervisor, guardian, parked, fork_of_first, fork_of_parked];
        let bytes: Vec<u8> = report.iter().flat_map(|p| p.to_le_bytes()).collect();
        // SAFETY: writes our buffer to the pipe.
        unsafe { libc::write(fds[1], bytes.as_ptr().cast(), bytes.len()) };
        then();
        // SAFETY: exit of the forked root.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut buf = [0u8; 20];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into our buffer.
        let n = unsafe { libc::read(fds[0], buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        assert!(n > 0, "the group reported its processes");
        got += n as usize;
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(fds[0]) };
    let p: Vec<i32> = buf
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Group {
        root,
        supervisor: p[0],
        guardian: p[1],
        parked: p[2],
        forks: [p[3], p[4]],
    }
}

/// Waits (bounded) for every pid in `pids` to be gone; fails naming those left.
fn all_gone(what: &str, pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} outlived the group: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(pid: i32) {
    // SAFETY: kill of a process of the test's own group.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

fn idle() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Guards against a group end that kills only the lwCs its switchboard names.
fn forks_returning_group() {
    let g = start_group(false, || std::process::exit(0));
    reap(g.root);
    all_gone("a plain fork", &g.forks);
    all_gone("an lwC", &[g.parked, g.supervisor, g.guardian]);
}

/// Guards against a guardian that kills the lwCs by pid but not what they forked (which the
/// supervisor's death hands to init).
fn forks_supervisor_killed_as(nobody: bool) {
    let g = start_group(nobody, idle);
    kill(g.supervisor);
    reap(g.root);
    all_gone("a plain fork", &g.forks);
    all_gone("an lwC", &[g.parked, g.guardian]);
}

fn forks_supervisor_killed() {
    forks_supervisor_killed_as(false);
}

fn forks_supervisor_killed_nobody() {
    forks_supervisor_killed_as(true);
}

/// Guards against a supervisor that goes on without its guardian: the group would then be
/// unwatched, and the supervisor's death would leave everything behind.
fn forks_guardian_killed() {
    let g = start_group(false, idle);
    kill(g.guardian);
    reap(g.root);
    all_gone("a plain fork", &g.forks);
    all_gone("an lwC", &[g.parked, g.supervisor]);
}

/// Both processes behind the group SIGKILLed, one right after the other: nobody is left to
/// kill the lwCs, and a parked lwC must not wait forever. (Plain forks may survive this one:
/// see the README.)
fn guardian_then_supervisor_killed() {
    let g = start_group(false, idle);
    kill(g.guardian);
    kill(g.supervisor);
    reap(g.root);
    all_gone("a parked lwC", &[g.parked]);
}
