//! Isolation, attacked: an lwC without the right tries every route we know to read a secret
//! that only another lwC holds. Every attempt must fail, as root and as an unprivileged user.

use crate::common::{become_nobody, one, random, start};
use lwc::{Args, Created, Options, Pages, Spec};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "isolation::child_cannot_read_unmapped_parent_secret_as_root",
            unmapped_secret_root,
        ),
        (
            "isolation::child_cannot_read_unmapped_parent_secret_as_nobody",
            unmapped_secret_nobody,
        ),
        (
            "isolation::sibling_cannot_read_sibling_secret_as_root",
            sibling_root,
        ),
        (
            "isolation::sibling_cannot_read_sibling_secret_as_nobody",
            sibling_nobody,
        ),
        (
            "isolation::parent_fd_unreachable_from_child",
            parent_fd_unreachable,
        ),
        (
            "isolation::switch_args_do_not_stay_on_the_board",
            args_do_not_stay_plain,
        ),
        (
            "isolation::switch_args_to_a_sandbox_do_not_stay_on_the_board",
            args_do_not_stay_sandboxed,
        ),
    ]
}

const LEN: usize = 32;

/// The secret is `x ^ m`; it is only ever formed byte by byte inside the secret's pages, so
/// no other memory of the test holds it (a scan for it would otherwise find our own copy).
struct Secret {
    x: [u8; LEN],
    m: [u8; LEN],
}

impl Secret {
    fn new() -> Self {
        let mut s = Secret {
            x: [0; LEN],
            m: [0; LEN],
        };
        random(&mut s.x);
        random(&mut s.m);
        s
    }

    fn write_into(&self, pages: &mut Pages) {
        let out = pages.as_mut_slice();
        for (i, byte) in out.iter_mut().take(LEN).enumerate() {
            // SAFETY: volatile store of one byte into our own page.
            unsafe { std::ptr::write_volatile(byte, self.x[i] ^ self.m[i]) };
        }
    }

    /// Whether `window` equals the secret (compared without forming the secret).
    fn matches(&self, window: &[u8]) -> bool {
        window.len() >= LEN && (0..LEN).all(|i| window[i] ^ self.m[i] == self.x[i])
    }
}

/// Bits of the attack report: each set bit is an attack that worked.
const VM_READV: u64 = 1;
const PTRACE: u64 = 2;
const PROC_MEM: u64 = 4;
const PIDFD_GETFD: u64 = 8;
const PROC_FD: u64 = 16;
const SCAN: u64 = 32;

fn attack(victim: i32, addr: usize, fd: i32, secret: &Secret) -> u64 {
    let mut won = 0;
    let mut buf = [0u8; LEN];
    // 1. process_vm_readv
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: LEN,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: LEN,
    };
    // SAFETY: reads into our own buffer; the kernel checks access to the victim.
    let n = unsafe { libc::process_vm_readv(victim, &local, 1, &remote, 1, 0) };
    if n >= 0 {
        won |= VM_READV; // any read of the victim's memory is a breach, secret or not
    }
    // 2. ptrace attach
    // SAFETY: ptrace attach to the victim; on success we detach at once.
    let r = unsafe { libc::ptrace(libc::PTRACE_ATTACH, victim, 0, 0) };
    if r == 0 {
        won |= PTRACE;
        // SAFETY: undo the attach.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, victim, 0, 0) };
    }
    // 3. /proc/PID/mem
    if let Ok(f) = std::fs::File::open(format!("/proc/{victim}/mem")) {
        use std::os::unix::fs::FileExt;
        if f.read_at(&mut buf, addr as u64).is_ok() {
            won |= PROC_MEM;
        }
    }
    // 4, 5. the victim's descriptor
    won |= steal_fd(victim, fd);
    // 6. our own address space: every readable mapping.
    if scan_self(secret) {
        won |= SCAN;
    }
    won
}

/// Tries to take descriptor `fd` of process `victim`; returns the attack bits that worked.
fn steal_fd(victim: i32, fd: i32) -> u64 {
    let mut won = 0;
    // pidfd_getfd
    // SAFETY: plain syscalls; the descriptors are closed if they were made.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, victim, 0) as i32;
        if pidfd >= 0 {
            let got = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
            if got >= 0 {
                won |= PIDFD_GETFD;
                libc::close(got);
            }
            libc::close(pidfd);
        }
    }
    // /proc/PID/fd/N
    if std::fs::File::open(format!("/proc/{victim}/fd/{fd}")).is_ok() {
        won |= PROC_FD;
    }
    won
}

/// Reads every readable mapping of this process through /proc/self/mem, looking for the secret.
fn scan_self(secret: &Secret) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return false;
    };
    let Ok(mem) = std::fs::File::open("/proc/self/mem") else {
        return false;
    };
    let mut chunk = vec![0u8; 1 << 16];
    for line in maps.lines() {
        let mut it = line.split_whitespace();
        let (Some(range), Some(perms)) = (it.next(), it.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.contains("[vvar") || line.contains("[vsyscall]") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(mut a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        else {
            continue;
        };
        while a < b {
            let n = (b - a).min(chunk.len());
            let Ok(got) = mem.read_at(&mut chunk[..n], a as u64) else {
                break;
            };
            if got == 0 {
                break;
            }
            if chunk[..got].windows(LEN).any(|w| secret.matches(w)) {
                return true;
            }
            // Overlap windows across chunk edges.
            a += got.saturating_sub(LEN).max(1);
        }
    }
    false
}

fn unmapped_secret(as_nobody: bool) {
    if as_nobody {
        become_nobody();
    }
    start();
    let secret = Secret::new();
    let mut pages = Pages::new(4096).expect("pages");
    secret.write_into(&mut pages);
    let addr = pages.as_slice().as_ptr() as usize;
    // A descriptor only we hold: a memfd with the secret's pages mapped from it.
    let memfd = std::fs::File::open("/proc/self/exe").expect("an fd of ours");
    use std::os::fd::AsRawFd;
    let fd = memfd.as_raw_fd();
    // SAFETY: no memory effects.
    let my_pid = unsafe { libc::getpid() };
    let spec = Spec::new()
        .unmap(pages.region())
        .files(lwc::Files::Close(vec![fd]));
    // SAFETY: single-threaded; the child never touches `pages`.
    match unsafe { lwc::create(&spec, &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(
                back.args.0[0], 0,
                "attacks that worked (bits): {:#b}",
                back.args.0[0]
            );
            assert_eq!(back.args.0[1], 1, "the scan ran");
            // The secret is intact and ours.
            assert!(secret.matches(pages.as_slice()));
        }
        Created::Child { caller, .. } => {
            let won = attack(my_pid, addr, fd, &secret);
            panic!(
                "{}",
                lwc::discard_switch(&caller, Args([won, 1, 0, 0, 0, 0]))
            );
        }
    }
}

fn unmapped_secret_root() {
    unmapped_secret(false)
}

fn unmapped_secret_nobody() {
    unmapped_secret(true)
}

fn sibling(as_nobody: bool) {
    if as_nobody {
        become_nobody();
    }
    start();
    let secret = Secret::new();
    let mut pages = Pages::new(4096).expect("pages");
    let addr = pages.as_slice().as_ptr() as usize;
    // SAFETY: single-threaded.
    let holder = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(h) => h,
        Created::Child { caller, .. } => {
            // The holder writes the secret into its own private copy of the pages, and opens a
            // descriptor nobody else has.
            secret.write_into(&mut pages);
            let f = std::fs::File::open("/proc/self/exe").expect("fd");
            use std::os::fd::IntoRawFd;
            let fd = f.into_raw_fd();
            // SAFETY: no memory effects.
            let pid = unsafe { libc::getpid() } as u64;
            lwc::switch(&caller, Args([pid, fd as u64, 0, 0, 0, 0])).expect("switch");
            loop {
                let ok = secret.matches(pages.as_slice()) as u64;
                lwc::switch(&caller, one(ok)).expect("switch");
            }
        }
    };
    let info = lwc::switch(&holder, Args::NONE).expect("switch").args;
    let (holder_pid, holder_fd) = (info.0[0] as i32, info.0[1] as i32);
    // SAFETY: single-threaded.
    match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create attacker") {
        Created::Parent(attacker) => {
            let back = lwc::switch(&attacker, Args::NONE).expect("switch");
            assert_eq!(
                back.args.0[0], 0,
                "attacks that worked (bits): {:#b}",
                back.args.0[0]
            );
            let ok = lwc::switch(&holder, Args::NONE).expect("holder").args.0[0];
            assert_eq!(ok, 1, "the holder still has its secret");
        }
        Created::Child { caller, .. } => {
            let won = attack(holder_pid, addr, holder_fd, &secret);
            panic!("{}", lwc::discard_switch(&caller, one(won)));
        }
    }
}

/// The switchboard is shared by every (non-sandboxed) lwC of a group. Words passed in a switch
/// sit in the target's mailbox until it reads them; after that they must be gone, or any lwC
/// that gets control later could read what two others exchanged.
fn args_do_not_stay(receiver_opts: Options) {
    start();
    let secret = Secret::new();
    // The attacker exists before the secret is ever formed (its copy of our memory holds only
    // the two halves).
    // SAFETY: single-threaded.
    let attacker = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(a) => a,
        Created::Child { caller, .. } => {
            let won = scan_self(&secret) as u64;
            panic!(
                "{}",
                lwc::discard_switch(&caller, Args([won, 1, 0, 0, 0, 0]))
            );
        }
    };
    // SAFETY: single-threaded.
    let receiver = match unsafe { lwc::create(&Spec::new(), &receiver_opts) }.expect("create") {
        Created::Parent(r) => r,
        Created::Child { caller, args } => {
            let mut got = [0u8; LEN];
            for (chunk, w) in got.chunks_mut(8).zip(args.0) {
                chunk.copy_from_slice(&w.to_ne_bytes());
            }
            let ok = secret.matches(&got) as u64;
            loop {
                lwc::switch(&caller, one(ok)).expect("switch back");
            }
        }
    };
    let mut words = [0u64; 6];
    for (i, w) in words.iter_mut().take(LEN / 8).enumerate() {
        let mut b = [0u8; 8];
        for (j, byte) in b.iter_mut().enumerate() {
            *byte = secret.x[i * 8 + j] ^ secret.m[i * 8 + j];
        }
        *w = u64::from_ne_bytes(b);
    }
    let back = lwc::switch(&receiver, Args(words)).expect("switch to the receiver");
    words = [0; 6];
    std::hint::black_box(&words);
    assert_eq!(back.args.0[0], 1, "the receiver got the secret");
    let report = lwc::switch(&attacker, Args::NONE).expect("switch to the attacker");
    assert_eq!(report.args.0[1], 1, "the scan ran");
    assert_eq!(
        report.args.0[0], 0,
        "the attacker found the words on the board"
    );
}

fn args_do_not_stay_plain() {
    args_do_not_stay(Options::new())
}

/// A sandbox's view of the board is read-only: its monitor wipes the words for it.
fn args_do_not_stay_sandboxed() {
    args_do_not_stay(Options::new().systrap(lwc::Systrap::only(&[libc::SYS_openat])))
}

fn sibling_root() {
    sibling(false)
}

fn sibling_nobody() {
    sibling(true)
}

fn parent_fd_unreachable() {
    start();
    // SAFETY: single-threaded.
    match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            // Opened after the child was made: only we have it.
            let f = std::fs::File::open("/proc/self/exe").expect("fd");
            use std::os::fd::AsRawFd;
            // SAFETY: no memory effects.
            let pid = unsafe { libc::getpid() } as u64;
            let back =
                lwc::switch(&child, Args([pid, f.as_raw_fd() as u64, 0, 0, 0, 0])).expect("switch");
            assert_eq!(
                back.args.0[0], 0,
                "the child reached our fd: {:?}",
                back.args
            );
        }
        Created::Child { caller, args } => {
            let won = steal_fd(args.0[0] as i32, args.0[1] as i32);
            panic!("{}", lwc::discard_switch(&caller, one(won)));
        }
    }
}
