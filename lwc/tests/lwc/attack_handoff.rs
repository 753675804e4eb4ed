//! Hand-offs, attacked: an lwC that holds no right to another tries to wake it, to pose as
//! someone else, and to read the six words two other lwCs exchange, with native code and the
//! runtime's own shared pages. As root and as an unprivileged user.
//!
//! The attacker knows the runtime: where the switchboard is mapped (its memfd's name in
//! /proc/self/maps) and how a switchboard that carried the hand-offs was laid out (a slot of two
//! cache lines per lwC: state, wake word, mailbox of kind, caller and six words). It forges
//! hand-offs through that layout wherever it finds it, and beyond it wakes every futex word of
//! every group-wide page it maps and scans every shared page it can read.

use crate::common::{is_root, one, random, start};
use lwc::{Args, Created, Lwc, Options, Spec, Systrap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "attack_handoff::forged_wakeup_naming_itself_gets_no_reply_as_root",
            || forged_wakeup(Who::Root, Claim::Itself),
        ),
        (
            "attack_handoff::forged_wakeup_naming_itself_gets_no_reply_as_nobody",
            || forged_wakeup(Who::Nobody, Claim::Itself),
        ),
        (
            "attack_handoff::forged_wakeup_naming_root_makes_no_deputy_as_root",
            || forged_wakeup(Who::Root, Claim::Root),
        ),
        (
            "attack_handoff::forged_wakeup_naming_root_makes_no_deputy_as_nobody",
            || forged_wakeup(Who::Nobody, Claim::Root),
        ),
        (
            "attack_handoff::switch_returns_from_who_really_switched_as_root",
            || forged_reply(Who::Root),
        ),
        (
            "attack_handoff::switch_returns_from_who_really_switched_as_nobody",
            || forged_reply(Who::Nobody),
        ),
        (
            "attack_handoff::plain_fork_on_other_cpu_sniffs_no_words_as_root",
            || sniff(Who::Root, Options::new()),
        ),
        (
            "attack_handoff::plain_fork_on_other_cpu_sniffs_no_words_as_nobody",
            || sniff(Who::Nobody, Options::new()),
        ),
        (
            "attack_handoff::sandbox_view_sniffs_no_words_as_root",
            || sniff(Who::Root, sandbox_opts()),
        ),
        (
            "attack_handoff::sandbox_view_sniffs_no_words_as_nobody",
            || sniff(Who::Nobody, sandbox_opts()),
        ),
        (
            "attack_handoff::raw_request_for_a_dropped_right_is_refused_as_root",
            || raw_request_after_restrict(Who::Root),
        ),
        (
            "attack_handoff::raw_request_for_a_dropped_right_is_refused_as_nobody",
            || raw_request_after_restrict(Who::Nobody),
        ),
    ]
}

/// What some tests need that a machine may lack (see `support::run_tests_unless`).
pub fn needs() -> Vec<crate::support::Need> {
    let two_cpus = || (other_cpu().is_none()).then(|| "needs two usable CPUs".to_string());
    vec![
        (
            "attack_handoff::plain_fork_on_other_cpu_sniffs_no_words_as_root",
            two_cpus,
        ),
        (
            "attack_handoff::plain_fork_on_other_cpu_sniffs_no_words_as_nobody",
            two_cpus,
        ),
        (
            "attack_handoff::sandbox_view_sniffs_no_words_as_root",
            two_cpus,
        ),
        (
            "attack_handoff::sandbox_view_sniffs_no_words_as_nobody",
            two_cpus,
        ),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Root,
    Nobody,
}

/// Runs the rest of the test as `who`: an ordinary unprivileged program is dumpable (setresuid
/// from root clears that, so it is restored), which is what the runtime must cope with.
fn become_(who: Who) {
    if who == Who::Nobody {
        crate::common::become_nobody();
        // SAFETY: prctl on our own process.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) }, 0);
    } else {
        assert!(is_root(), "the root variant runs as root");
    }
}

fn sandbox_opts() -> Options {
    Options::new().systrap(Systrap::only(&[libc::SYS_openat]))
}

// ---- the switchboard layout the attacker knows -------------------------------------------

/// A switchboard that carries hand-offs: 64 bytes of header, then 128 bytes per slot.
const HEADER: usize = 64;
const SLOT: usize = 128;
const STATE: usize = 0;
const WORD: usize = 4;
const KIND_CALLER: usize = 8;
const CALLER_GEN: usize = 12;
const ARGS: usize = 16;
const GEN: usize = 64;
const PID: usize = 68;
const PARKED: u32 = 2;
const RUNNING: u32 = 3;
const WOKEN: u32 = 1;
const SLEEPING: u32 = 2;
const KIND_SWITCH: u32 = 1;

/// A mapping of this process: start, end, whether writable, whether shared, its name.
struct Mapping {
    start: usize,
    end: usize,
    writable: bool,
    shared: bool,
    readable: bool,
    name: String,
}

fn mappings() -> Vec<Mapping> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let range = it.next()?;
            let perms = it.next()?;
            let name = it.nth(3).unwrap_or("").to_string();
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: usize::from_str_radix(a, 16).ok()?,
                end: usize::from_str_radix(b, 16).ok()?,
                readable: perms.starts_with('r'),
                writable: perms.as_bytes().get(1) == Some(&b'w'),
                shared: perms.as_bytes().get(3) == Some(&b's'),
                name,
            })
        })
        .collect()
}

/// The runtime's group-wide pages: the switchboard and whatever else every lwC maps from a
/// runtime memfd.
fn group_pages() -> Vec<Mapping> {
    mappings()
        .into_iter()
        .filter(|m| m.name.contains("memfd:lwc-"))
        .collect()
}

/// The switchboard in the layout above, if this process maps one that way (our own slot's pid
/// is where the layout says).
fn old_board(me: u32) -> Option<usize> {
    let board = mappings()
        .into_iter()
        .find(|m| m.name.contains("lwc-switchboard"))?;
    let pid_at = board.start + HEADER + me as usize * SLOT + PID;
    if pid_at + 4 > board.end {
        return None;
    }
    // SAFETY: inside a mapping of ours; read as an atomic, as the runtime writes it.
    let pid = unsafe { &*(pid_at as *const AtomicU32) }.load(Ordering::Acquire);
    // SAFETY: no memory effects.
    (pid as i32 == unsafe { libc::getpid() } && board.writable).then_some(board.start)
}

fn word_at(base: usize, slot: u32, off: usize) -> &'static AtomicU32 {
    // SAFETY: the caller checked the board layout; the board is mapped for the process's life.
    unsafe { &*((base + HEADER + slot as usize * SLOT + off) as *const AtomicU32) }
}

fn arg_at(base: usize, slot: u32, i: usize) -> &'static AtomicU64 {
    // SAFETY: as in `word_at`.
    unsafe { &*((base + HEADER + slot as usize * SLOT + ARGS + 8 * i) as *const AtomicU64) }
}

fn futex_wake(w: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live word; it touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            w.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            0,
            0,
            0,
        )
    };
}

/// Posts a forged switch to `target` claiming to come from `claimed` (its slot and
/// generation): take the target's turn, write its mailbox, wake it. False when the target is
/// not parked.
fn forge(base: usize, target: u32, claimed: u32, claimed_gen: u32, words: [u64; 6]) -> bool {
    if word_at(base, target, STATE)
        .compare_exchange(PARKED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    word_at(base, target, KIND_CALLER).store(KIND_SWITCH << 24 | claimed, Ordering::Relaxed);
    word_at(base, target, CALLER_GEN).store(claimed_gen, Ordering::Relaxed);
    for (i, w) in words.iter().enumerate() {
        arg_at(base, target, i).store(*w, Ordering::Relaxed);
    }
    let word = word_at(base, target, WORD);
    if word.swap(WOKEN, Ordering::AcqRel) == SLEEPING {
        futex_wake(word);
    }
    true
}

/// Waits (bounded) for a reply in our own mailbox; returns its first word.
fn await_reply(base: usize, me: u32) -> Option<u64> {
    let word = word_at(base, me, WORD);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if word.load(Ordering::Acquire) == WOKEN {
            return Some(arg_at(base, me, 0).load(Ordering::Acquire));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

/// Wakes every futex word of every group-wide page: whoever sleeps on one wakes for nothing.
fn wake_everything() {
    for m in group_pages() {
        for addr in (m.start..m.end).step_by(4) {
            // SAFETY: an aligned word inside a mapping of ours; FUTEX_WAKE reads nothing.
            futex_wake(unsafe { &*(addr as *const AtomicU32) });
        }
    }
}

// ---- findings 1a and 1b: forged wake-ups ---------------------------------------------------

const MARK: u64 = 0xF0F0_0000_0000_0001;
const ASK: u64 = 0xA5A5_0000_0000_0002;
const ACK: u64 = 0xACAC_0000_0000_0003;
const NO_ROUTE: u64 = 0x0000_DEAD_0000_0004;

/// Whom a forged wake-up claims to come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// The attacker itself: the target's reply (a secret) would come to it.
    Itself,
    /// The root lwC: a root-owned target would act for it (a confused deputy).
    Root,
}

/// The secret word the deputy hands to whoever it believes called, formed only in the deputy.
struct Secret {
    x: u64,
    m: u64,
}

impl Secret {
    fn new() -> Secret {
        let mut b = [0u8; 16];
        random(&mut b);
        Secret {
            x: u64::from_ne_bytes(b[..8].try_into().expect("8 bytes")),
            m: u64::from_ne_bytes(b[8..].try_into().expect("8 bytes")),
        }
    }

    fn form(&self) -> u64 {
        std::hint::black_box(self.x) ^ std::hint::black_box(self.m)
    }

    fn is(&self, v: u64) -> bool {
        v ^ self.m == self.x
    }
}

/// The deputy: answers a stranger with its secret, performs an action for root when asked with
/// MARK, and reports what it saw when root asks.
fn deputy(root: Lwc, secret: &Secret, first: lwc::Switched) -> ! {
    let (mut strangers, mut actions) = (0u64, 0u64);
    let mut ev = first;
    loop {
        let reply = if ev.caller != root {
            strangers += 1;
            one(secret.form())
        } else if ev.args.0[0] == MARK {
            actions += 1;
            one(ACK)
        } else if ev.args.0[0] == ASK {
            Args([strangers, actions, 0, 0, 0, 0])
        } else {
            one(0)
        };
        ev = lwc::switch(&ev.caller, reply).expect("deputy switches back");
    }
}

/// An attacker lwC (created before the deputy, so it never held a right to it) forges a switch
/// into the deputy naming itself or root. Guards against a hand-off layer where any lwC can
/// post into another's mailbox and name any caller.
fn forged_wakeup(who: Who, claim: Claim) {
    become_(who);
    start();
    let root = lwc::current();
    let secret = Secret::new();
    // SAFETY: single-threaded test process.
    let attacker = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(a) => a,
        Created::Child { caller, args } => {
            let (target, me) = (args.0[0] as u32, args.0[1] as u32);
            let mut report = Args([NO_ROUTE, 0, 0, 0, 0, 0]);
            if let Some(base) = old_board(me) {
                let (as_id, as_gen) = match claim {
                    Claim::Itself => (me, word_at(base, me, GEN).load(Ordering::Acquire)),
                    Claim::Root => (
                        root.id(),
                        word_at(base, root.id(), GEN).load(Ordering::Acquire),
                    ),
                };
                // Park ourselves on the board, so that a reply can be posted to us.
                word_at(base, me, STATE).store(PARKED, Ordering::Release);
                word_at(base, me, WORD).store(0, Ordering::Release);
                if forge(base, target, as_id, as_gen, [MARK, 0, 0, 0, 0, 0]) {
                    report.0[0] = 1;
                    if claim == Claim::Itself {
                        if let Some(v) = await_reply(base, me) {
                            report.0[1] = secret.is(v) as u64;
                        }
                    } else {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                word_at(base, me, STATE).store(RUNNING, Ordering::Release);
            }
            wake_everything();
            std::thread::sleep(Duration::from_millis(20));
            panic!("{}", lwc::discard_switch(&caller, report));
        }
    };
    // SAFETY: single-threaded test process.
    let deputy_lwc = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(d) => d,
        Created::Child { caller, args } => deputy(
            root,
            &secret,
            lwc::Switched {
                caller,
                args,
                trap: None,
            },
        ),
    };
    lwc::switch(&deputy_lwc, one(0)).expect("the deputy starts");
    let back = lwc::switch(
        &attacker,
        Args([deputy_lwc.id() as u64, attacker.id() as u64, 0, 0, 0, 0]),
    );
    let back = back.expect("the attacker reports");
    assert_eq!(
        back.caller,
        attacker,
        "our switch to the attacker returned from lwC {} (a forged hand-off reached us)",
        back.caller.id()
    );
    assert_eq!(back.args.0[1], 0, "the attacker got the deputy's secret");
    let seen = lwc::switch(&deputy_lwc, one(ASK))
        .expect("ask the deputy")
        .args;
    assert_eq!(
        seen.0[0], 0,
        "the deputy was woken by an lwC holding no right to it"
    );
    assert_eq!(
        seen.0[1], 0,
        "the deputy acted for root on a forged wake-up"
    );
}

/// Root switches to an attacker, which makes root's switch return "from" another lwC it holds
/// no right to. Guards against a caller field that anyone can write.
fn forged_reply(who: Who) {
    become_(who);
    start();
    // SAFETY: single-threaded test process.
    let attacker = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(a) => a,
        Created::Child { caller, args } => {
            let (other, me) = (args.0[0] as u32, args.0[1] as u32);
            if let Some(base) = old_board(me) {
                let gen = word_at(base, other, GEN).load(Ordering::Acquire);
                if forge(base, caller.id(), other, gen, one(MARK).0) {
                    // Root runs on, fooled; we wait to be closed.
                    std::thread::sleep(Duration::from_secs(30));
                }
            }
            wake_everything();
            loop {
                lwc::switch(&caller, one(NO_ROUTE)).expect("switch back");
            }
        }
    };
    // SAFETY: single-threaded test process.
    let other = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(o) => o,
        Created::Child { caller, .. } => loop {
            lwc::switch(&caller, one(0)).expect("switch back");
        },
    };
    let back = lwc::switch(
        &attacker,
        Args([other.id() as u64, attacker.id() as u64, 0, 0, 0, 0]),
    )
    .expect("switch to the attacker");
    assert_eq!(
        back.caller,
        attacker,
        "root's switch to the attacker returned from lwC {}",
        back.caller.id()
    );
    assert_eq!(back.args.0[0], NO_ROUTE, "the attacker's words are its own");
    lwc::close(attacker).expect("close the attacker");
}

// ---- finding 1c, 1d: sniffing the six words ---------------------------------------------

/// The CPUs this process may use.
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

/// One of `cpus` other than the one we run on.
fn other_than_here(cpus: &[usize]) -> Option<usize> {
    // SAFETY: no memory effects.
    let here = unsafe { libc::sched_getcpu() };
    cpus.iter().copied().find(|&c| c as i32 != here)
}

fn other_cpu() -> Option<usize> {
    other_than_here(&usable_cpus())
}

fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t with one CPU set; sched_setaffinity on ourselves.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Lets a sandboxed attacker's trapped calls run until it switches back.
fn answering(mut ev: lwc::Result<lwc::Switched>) -> lwc::Result<lwc::Switched> {
    while let Ok(lwc::Switched { trap: Some(t), .. }) = ev {
        ev = lwc::answer(t, lwc::Answer::Run);
    }
    ev
}

/// Words passed with a switch: `x[i] ^ m[i]`, formed only at the switch.
struct Words {
    x: [u64; 4],
    m: [u64; 4],
}

impl Words {
    fn new() -> Words {
        let mut b = [0u8; 64];
        random(&mut b);
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Words {
            x: [w(0), w(1), w(2), w(3)],
            m: [w(4), w(5), w(6), w(7)],
        }
    }

    fn args(&self) -> Args {
        let f = |i: usize| std::hint::black_box(self.x[i]) ^ std::hint::black_box(self.m[i]);
        Args([f(0), f(1), f(2), f(3), 0, 0])
    }

    /// Whether `v` is one of the words.
    fn is(&self, v: u64) -> bool {
        (0..4).any(|i| v ^ self.m[i] == self.x[i])
    }
}

/// The readable shared mappings of this process.
fn shared_readable() -> Vec<Mapping> {
    mappings()
        .into_iter()
        .filter(|m| m.shared && m.readable)
        .collect()
}

/// Scans `maps` once for one of the words.
fn scan_shared(words: &Words, maps: &[Mapping]) -> bool {
    maps.iter().any(|m| {
        (m.start..m.end).step_by(8).any(|a| {
            // SAFETY: an aligned word inside a readable mapping of ours.
            words.is(unsafe { &*(a as *const AtomicU64) }.load(Ordering::Relaxed))
        })
    })
}

/// The sniffer: a plain fork of the attacker on the other CPU. It watches the target's mailbox
/// (where the layout puts it) and scans every shared page it maps, until it sees one of the
/// words or is killed; it writes 1 to `out` when it does. It makes no system call before that
/// (a sandbox's fork would trap to the monitor): `maps` was listed before the fork.
fn sniffer(words: &Words, maps: &[Mapping], base: Option<usize>, target: u32, out: i32) -> ! {
    let mut n = 0u64;
    loop {
        // Where a mailbox is, watch it (a scan takes long enough to miss every window), and
        // scan now and then; else scan all the time.
        let seen = match base {
            Some(b) => {
                (0..4).any(|i| words.is(arg_at(b, target, i).load(Ordering::Relaxed)))
                    || (n % (1 << 22) == (1 << 22) - 1 && scan_shared(words, maps))
            }
            None => scan_shared(words, maps),
        };
        if seen {
            // SAFETY: writes one byte from a live buffer to our pipe.
            unsafe { libc::write(out, [1u8].as_ptr().cast(), 1) };
            // SAFETY: ends the fork without running the test's exit handlers.
            unsafe { libc::_exit(0) };
        }
        n += 1;
        std::hint::spin_loop();
    }
}

/// An attacker (made before the receiver, so it holds no right to it; plain, or a
/// `Systrap::only` sandbox with its read-only view of the board) forks a sniffer onto the
/// other CPU while root passes words to the receiver 2,000 times. Guards against words that sit,
/// even briefly, on a page the attacker maps.
fn sniff(who: Who, attacker_opts: Options) {
    become_(who);
    // Listed before the group pins us to one CPU; the sniffer takes one the group is not on.
    let cpus = usable_cpus();
    start();
    let cpu = other_than_here(&cpus).expect("two CPUs");
    let words = Words::new();
    // SAFETY: single-threaded test process.
    let attacker = match unsafe { lwc::create(&Spec::new(), &attacker_opts) }.expect("create") {
        Created::Parent(a) => a,
        Created::Child { caller, args } => {
            let (target, me) = (args.0[0] as u32, args.0[1] as u32);
            let mut fds = [0i32; 2];
            // SAFETY: pipe2 fills two descriptors into a live array.
            let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
            assert_eq!(r, 0, "pipe");
            let maps = shared_readable();
            // The layout check reads the board as the sandbox may (it is mapped read-only).
            let base = maps
                .iter()
                .find(|m| m.name.contains("lwc-switchboard"))
                .map(|m| m.start)
                .filter(|&b| {
                    // SAFETY: no memory effects.
                    let pid = unsafe { libc::getpid() } as u32;
                    word_at(b, me, PID).load(Ordering::Acquire) == pid
                });
            // SAFETY: a plain fork of a single-threaded lwC; the child only reads memory,
            // pins itself and writes to its pipe.
            let sniffer_pid = unsafe { libc::fork() };
            if sniffer_pid == 0 {
                pin_to(cpu);
                sniffer(&words, &maps, base, target, fds[1]);
            }
            let found = lwc::switch(&caller, one(sniffer_pid as u64))
                .map(|_| {
                    let mut b = [0u8; 1];
                    // SAFETY: reads at most one byte into a live buffer (non-blocking).
                    (unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) } == 1) as u64
                })
                .unwrap_or(2);
            // SAFETY: ends our own fork.
            unsafe { libc::kill(sniffer_pid, libc::SIGKILL) };
            loop {
                lwc::switch(&caller, one(found)).expect("report");
            }
        }
    };
    // SAFETY: single-threaded test process.
    let receiver = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(r) => r,
        Created::Child { caller, mut args } => loop {
            let ok = words.is(args.0[0]) as u64;
            args = lwc::switch(&caller, one(ok)).expect("switch back").args;
        },
    };
    let started = answering(lwc::switch(
        &attacker,
        Args([receiver.id() as u64, attacker.id() as u64, 0, 0, 0, 0]),
    ))
    .expect("start the sniffer");
    let sniffer_pid = started.args.0[0] as i32;
    assert!(sniffer_pid > 0, "the sniffer runs");
    // Let the sniffer reach its loop on the other CPU.
    std::thread::sleep(Duration::from_millis(20));
    for round in 0..2000 {
        let back = lwc::switch(&receiver, words.args()).expect("switch to the receiver");
        assert_eq!(back.args.0[0], 1, "the receiver got the words");
        if round % 20 == 0 {
            // Spread the rounds over the sniffer's watching and scanning.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let report = answering(lwc::switch(&attacker, Args::NONE)).expect("ask the attacker");
    assert_eq!(
        report.args.0[0], 0,
        "a plain fork of the attacker read the words"
    );
}

// ---- finding 5: half a right ---------------------------------------------------------------

/// Finds our end of the control socket whose peer is `pid` (the kernel names the peer).
fn control_socket_to(pid: i32) -> Option<i32> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .find(|&fd| {
            let mut cred = libc::ucred {
                pid: 0,
                uid: 0,
                gid: 0,
            };
            let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
            // SAFETY: getsockopt into a live ucred of the given length.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_PEERCRED,
                    (&mut cred as *mut libc::ucred).cast(),
                    &mut len,
                )
            };
            r == 0 && cred.pid == pid
        })
}

/// Sends the eight words of a request, raw, on `fd`.
fn send_raw(fd: i32, words: [u64; 8]) {
    let mut b = [0u8; 64];
    for (i, w) in words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    // SAFETY: sends 64 bytes from a live buffer.
    let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), 0) };
    assert_eq!(n, 64, "send the raw request");
}

/// Root keeps one service right and drops the other, then sends the dropped one's request raw
/// on the control socket it kept (an overlay of the child's private page; a getuid system
/// call) and has the child serve its socket with a legitimate request of the right it kept.
/// Guards against a target that serves whatever arrives on the socket.
fn raw_request_after_restrict(who: Who) {
    become_(who);
    start();
    let mut page = lwc::Pages::new(4096).expect("pages");
    let addr = page.as_slice().as_ptr() as usize;
    for (kept, raw, legit) in [
        (
            lwc::Rights::SWITCH | lwc::Rights::SYSCALL,
            [2, addr as u64, 4096, 0, 0, 0, 0, 0], // overlay (copy) of the child's page
            libc::SYS_getpid,
        ),
        (
            lwc::Rights::SWITCH | lwc::Rights::OVERLAY,
            [1, libc::SYS_getpid as u64, 0, 0, 0, 0, 0, 0], // a system call
            -1,
        ),
    ] {
        // SAFETY: single-threaded test process.
        let child = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
            Created::Parent(c) => c,
            Created::Child { caller, .. } => {
                page.as_mut_slice()[..8].copy_from_slice(&0x005E_C2E7_u64.to_le_bytes());
                loop {
                    lwc::switch(&caller, Args::NONE).expect("switch back");
                }
            }
        };
        lwc::switch(&child, Args::NONE).expect("the child writes its page");
        let pid = lwc::syscall(&child, libc::SYS_getpid, [0; 6]).expect("getpid there") as i32;
        lwc::restrict(&child, kept).expect("restrict");
        let fd = control_socket_to(pid).expect("we keep a control socket to the child");
        send_raw(fd, raw);
        // Make the child serve its socket with the right we kept: the first reply that comes
        // back is the raw request's. A child that serves it answers with success (0 and a memfd
        // of its page for the overlay, its pid for the system call, which the legitimate
        // overlay then finds carries no memfd); one that refuses answers EPERM.
        let r = if legit >= 0 {
            lwc::syscall(&child, legit, [0; 6]).map(|_| ())
        } else {
            lwc::overlay(&child, page.region(), lwc::Overlay::Copy)
        };
        let refused = matches!(&r, Err(lwc::Error::Os { source, .. })
            if source.raw_os_error() == Some(libc::EPERM));
        assert!(
            refused,
            "the child served a raw request for a right we gave up: {r:?}"
        );
        lwc::close(child).expect("close");
    }
}
