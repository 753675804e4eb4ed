//! Isolation, attacked: an lwC without the right tries every route we know to read a secret
//! that only another lwC holds. Every attempt must fail, as root and as an unprivileged user.

use crate::common::{become_nobody, one, random, start};
use lwc::{Args, Created, Options, Pages, SharedRegion, Spec};

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
            "isolation::no_lwc_keeps_cap_sys_ptrace_permitted",
            no_cap_sys_ptrace_permitted,
        ),
        (
            "isolation::unmapping_a_shared_region_keeps_the_others_private",
            unmap_keeps_other_regions_private,
        ),
        (
            "isolation::a_grandchild_gets_a_private_copy_of_a_shared_region",
            grandchild_gets_a_private_copy,
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

/// Plays the attacker against `victim`, which holds `secret` at `addr` and descriptor `fd`, and
/// returns its report for the test (see [`Report`]).
fn attack(victim: i32, addr: usize, fd: i32, secret: &Secret, control: &Secret) -> Args {
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
    let scan = scan_self(secret, control);
    if scan.secret {
        won |= SCAN;
    }
    Report { won, scan }.args()
}

/// An attacker's report, sent back in a switch: which attacks worked, and what its scan of its
/// own address space saw, so the test can tell a scan that ran from one that read nothing.
struct Report {
    won: u64,
    scan: Scan,
}

impl Report {
    fn args(&self) -> Args {
        Args([self.won, self.scan.bytes, self.scan.control as u64, 0, 0, 0])
    }

    /// Checks a report: no attack worked, and the scan read memory and found the control.
    ///
    /// Guards against a scan that cannot read (as once, when /proc/self/mem was closed to a
    /// non-dumpable nobody and every scan returned at once): it must read at least a MiB (the
    /// test binary's own code is more) and find the control secret, which *is* mapped.
    fn check(back: Args) {
        let [won, bytes, control, ..] = back.0;
        assert_eq!(won, 0, "attacks that worked (bits): {won:#b}");
        assert!(bytes >= 1 << 20, "the scan read only {bytes} bytes");
        assert_eq!(
            control, 1,
            "the scan missed the control secret ({bytes} bytes read)"
        );
    }
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

/// What a scan of our own address space saw.
struct Scan {
    /// The secret under attack was found.
    secret: bool,
    /// The control secret (one that is mapped here) was found.
    control: bool,
    /// Bytes read.
    bytes: u64,
}

/// Reads every readable mapping of this process, looking for `secret` and `control`.
///
/// It reads with process_vm_readv on itself, which the kernel allows between threads of one
/// process whatever the dumpable flag: /proc/self/mem of a non-dumpable process belongs to
/// root, so an unprivileged lwC (every lwC is non-dumpable) could not open it, and a scan
/// through it would read nothing.
fn scan_self(secret: &Secret, control: &Secret) -> Scan {
    let mut scan = Scan {
        secret: false,
        control: false,
        bytes: 0,
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return scan;
    };
    // SAFETY: no memory effects.
    let me = unsafe { libc::getpid() };
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
            let local = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: n,
            };
            let remote = libc::iovec {
                iov_base: a as *mut libc::c_void,
                iov_len: n,
            };
            // SAFETY: reads our own memory into our own buffer; the kernel checks the range.
            let got = unsafe { libc::process_vm_readv(me, &local, 1, &remote, 1, 0) };
            if got <= 0 {
                a += 4096; // an unreadable page (a file mapping past its end): skip it
                continue;
            }
            let got = got as usize;
            scan.bytes += got as u64;
            for w in chunk[..got].windows(LEN) {
                scan.secret |= secret.matches(w);
                scan.control |= control.matches(w);
            }
            // Overlap windows across chunk edges.
            a += got.saturating_sub(LEN).max(1);
        }
    }
    scan
}

/// A secret written into pages that stay mapped in every lwC created after this: the
/// positive control a scan must find.
fn control() -> (Secret, Pages) {
    let control = Secret::new();
    let mut pages = Pages::new(4096).expect("pages");
    control.write_into(&mut pages);
    (control, pages)
}

/// Guards against a child that keeps the parent's UNMAP range (its munmap left out), an lwC
/// left dumpable or holding CAP_SYS_PTRACE, and a descriptor the Close list leaves open.
fn unmapped_secret(as_nobody: bool) {
    if as_nobody {
        become_nobody();
    }
    start();
    let secret = Secret::new();
    let (control, _control_pages) = control();
    let mut pages = Pages::new(4096).expect("pages");
    secret.write_into(&mut pages);
    let addr = pages.as_slice().as_ptr() as usize;
    // A descriptor of ours that the spec closes in the child: the child must not get it back
    // from us.
    let exe = std::fs::File::open("/proc/self/exe").expect("an fd of ours");
    use std::os::fd::AsRawFd;
    let fd = exe.as_raw_fd();
    // SAFETY: no memory effects.
    let my_pid = unsafe { libc::getpid() };
    let spec = Spec::new()
        .unmap(pages.region())
        .files(lwc::Files::Close(vec![fd]));
    // SAFETY: single-threaded; the child never touches `pages`.
    match unsafe { lwc::create(&spec, &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            Report::check(back.args);
            // The secret is intact and ours.
            assert!(secret.matches(pages.as_slice()));
        }
        Created::Child { caller, .. } => {
            let report = attack(my_pid, addr, fd, &secret, &control);
            panic!("{}", lwc::discard_switch(&caller, report));
        }
    }
}

fn unmapped_secret_root() {
    unmapped_secret(false)
}

fn unmapped_secret_nobody() {
    unmapped_secret(true)
}

/// Guards against lwCs left dumpable (or holding CAP_SYS_PTRACE) towards each other, and
/// memory or descriptors shared between siblings.
fn sibling(as_nobody: bool) {
    if as_nobody {
        become_nobody();
    }
    start();
    let secret = Secret::new();
    let (control, _control_pages) = control();
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
            Report::check(back.args);
            let ok = lwc::switch(&holder, Args::NONE).expect("holder").args.0[0];
            assert_eq!(ok, 1, "the holder still has its secret");
        }
        Created::Child { caller, .. } => {
            let report = attack(holder_pid, addr, holder_fd, &secret, &control);
            panic!("{}", lwc::discard_switch(&caller, report));
        }
    }
}

/// The switchboard is shared by every (non-sandboxed) lwC of a group. Words passed in a switch
/// sit in the target's mailbox until it reads them; after that they must be gone, or any lwC
/// that gets control later could read what two others exchanged. Guards against a mailbox
/// (or a sandbox monitor) that leaves the words behind.
fn args_do_not_stay(receiver_opts: Options) {
    start();
    let secret = Secret::new();
    let (control, _control_pages) = control();
    // The attacker exists before the secret is ever formed (its copy of our memory holds only
    // the two halves).
    // SAFETY: single-threaded.
    let attacker = match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(a) => a,
        Created::Child { caller, .. } => {
            let scan = scan_self(&secret, &control);
            let won = if scan.secret { SCAN } else { 0 };
            panic!(
                "{}",
                lwc::discard_switch(&caller, Report { won, scan }.args())
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
    // A SCAN bit: the attacker found the words on the board.
    Report::check(report.args);
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

/// A shared region the spec does not name is a private copy in the child (the paper's COPY
/// default), also when the spec unmaps another shared region. Guards against the runtime's
/// list of shared regions losing the wrong entries when one is unmapped: a region left off it
/// is never made private, and the child's writes reach its creator.
fn unmap_keeps_other_regions_private() {
    start();
    let gone = SharedRegion::new(4096).expect("region");
    let kept = SharedRegion::new(4096).expect("region");
    // SAFETY: single-threaded; the child never touches `gone`.
    match unsafe { lwc::create(&Spec::new().unmap(gone.region()), &Options::new()) }
        .expect("create")
    {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[0], 1, "the child wrote its copy");
            let mut b = [0u8; 1];
            kept.read(0, &mut b).expect("read");
            assert_eq!(
                b,
                [0],
                "the child's write to a region it was not given reached us"
            );
        }
        Created::Child { caller, .. } => {
            kept.write(0, &[9]).expect("write");
            let mut b = [0u8; 1];
            kept.read(0, &mut b).expect("read");
            panic!("{}", lwc::discard_switch(&caller, one((b == [9]) as u64)));
        }
    }
}

/// A child given a shared region passes on a private copy of it to its own children unless
/// their spec shares it too. Guards against the child's list of shared regions losing the
/// regions it was given once the others were made private: the grandchild would then share
/// the region with the whole family.
fn grandchild_gets_a_private_copy() {
    start();
    let region = SharedRegion::new(4096).expect("region");
    // A second region, not shared with the child: the child's list holds one region it copied
    // and one it shares, and must keep the second.
    let _copied = SharedRegion::new(4096).expect("region");
    // SAFETY: single-threaded.
    match unsafe { lwc::create(&Spec::new().share(&region), &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[0], 1, "the grandchild ran");
            let mut b = [0u8; 2];
            region.read(0, &mut b).expect("read");
            assert_eq!(b[0], 1, "the child's write is shared with us");
            assert_eq!(b[1], 0, "the grandchild's write to its copy reached us");
        }
        Created::Child { caller, .. } => {
            region.write(0, &[1]).expect("write");
            // SAFETY: single-threaded.
            match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
                Created::Parent(grandchild) => {
                    let back = lwc::switch(&grandchild, Args::NONE).expect("switch");
                    panic!("{}", lwc::discard_switch(&caller, back.args));
                }
                Created::Child { caller, .. } => {
                    region.write(1, &[2]).expect("write");
                    panic!("{}", lwc::discard_switch(&caller, one(1)));
                }
            }
        }
    }
}

/// CAP_SYS_PTRACE in the permitted and effective sets of this process, from /proc/self/status.
fn cap_sys_ptrace() -> (bool, bool) {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let set = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << 19) != 0)
    };
    (set("CapPrm:"), set("CapEff:"))
}

/// A program that holds CAP_SYS_PTRACE permitted but not effective could raise it again at
/// any time: lwc must drop it from every set. Guards against dropping it only when it is in
/// both sets (or in the effective one).
fn no_cap_sys_ptrace_permitted() {
    if !crate::common::is_root() {
        return; // nothing to drop
    }
    // Lower the effective set only: CAP_SYS_PTRACE stays permitted.
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset read and write the live locals given; they change only our own
    // capabilities.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()), 0);
        d[0].effective &= !(1 << 19);
        assert_eq!(libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()), 0);
    }
    assert_eq!(cap_sys_ptrace(), (true, false), "set up: permitted only");
    start();
    assert_eq!(cap_sys_ptrace(), (false, false), "the first lwC kept it");
    // SAFETY: single-threaded.
    match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(back.args.0[0], 0, "a child lwC holds CAP_SYS_PTRACE");
        }
        Created::Child { caller, .. } => {
            let (p, e) = cap_sys_ptrace();
            panic!("{}", lwc::discard_switch(&caller, one((p || e) as u64)));
        }
    }
}
