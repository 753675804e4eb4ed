//! Shared regions, attacked: a child created without SHARE for a `SharedRegion` gets a private
//! copy (or nothing), and must hold no descriptor through which it could map the creator's live
//! pages. The child plays the attacker: it tries to map every descriptor number it has.

use crate::common::{become_nobody, start};
use lwc::{Args, Created, Files, Options, SharedRegion, Spec, Systrap};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "attack_regions::copy_default_child_cannot_map_the_creators_pages_as_root",
            copy_default_root,
        ),
        (
            "attack_regions::copy_default_child_cannot_map_the_creators_pages_as_nobody",
            copy_default_nobody,
        ),
        (
            "attack_regions::copy_entry_child_cannot_map_the_creators_pages",
            copy_entry,
        ),
        (
            "attack_regions::unmap_entry_child_cannot_map_the_creators_pages",
            unmap_entry,
        ),
        (
            "attack_regions::partly_unmapped_region_is_private_in_the_child",
            partly_unmapped,
        ),
        (
            "attack_regions::systrap_only_sandbox_cannot_map_the_creators_pages",
            sandbox_only,
        ),
        (
            "attack_regions::files_only_leaves_no_dangling_region_descriptor",
            files_only_no_double_close,
        ),
    ]
}

const LEN: usize = 2 * 4096;
const BEFORE: &[u8; 8] = b"copied!!";
const LIVE: &[u8; 8] = b"live now";
const FORGED: &[u8; 8] = b"FORGED!!";

/// In the child: maps every descriptor it holds, shared, and counts those that show the
/// creator's live bytes; writes FORGED into each such mapping. Only raw calls, as an attacker
/// would (no /proc: a sandbox may not open files).
fn map_every_fd() -> u64 {
    let mut hits = 0;
    for fd in 0..1024 {
        // SAFETY: a fresh shared mapping of descriptor `fd` (the kernel refuses what it is not).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            continue;
        }
        let mut head = [0u8; 8];
        // SAFETY: the mapping is LEN bytes long; reads may only fault past the file's end,
        // and a memfd of a region is at least LEN bytes.
        unsafe { std::ptr::copy_nonoverlapping(p as *const u8, head.as_mut_ptr(), 8) };
        if &head == LIVE {
            hits += 1;
            // SAFETY: as above, for writing.
            unsafe { std::ptr::copy_nonoverlapping(FORGED.as_ptr(), (p as *mut u8).add(64), 8) };
        }
        // SAFETY: our own mapping.
        unsafe { libc::munmap(p, LEN) };
    }
    hits
}

/// Makes a region, creates a child with `spec` (built from the region) and `opts`, writes LIVE
/// into the region after the child set itself up, runs the child's attack and checks it found
/// nothing and changed nothing.
fn run(spec: fn(&SharedRegion) -> Spec, opts: Options, check_private_copy: bool) {
    let region = SharedRegion::new(LEN).expect("region");
    region.write(0, BEFORE).expect("write");
    region.write(64, BEFORE).expect("write");
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&spec(&region), &opts) }.expect("create") {
        Created::Parent(child) => {
            region.write(0, LIVE).expect("write");
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert!(back.trap.is_none(), "no trapped call expected");
            let [hits, private_ok, ..] = back.args.0;
            let mut at64 = [0u8; 8];
            region.read(64, &mut at64).expect("read");
            assert_eq!(
                hits, 0,
                "the child mapped the creator's live pages through {hits} descriptor(s)"
            );
            assert_eq!(&at64, BEFORE, "the child wrote the creator's region");
            if check_private_copy {
                assert_eq!(private_ok, 1, "the child's copy is private and as it was");
            }
        }
        Created::Child { caller, .. } => {
            let hits = map_every_fd();
            let mut head = [1u8; 8];
            let private_ok = if check_private_copy {
                // The child's own view of the region: a copy of the bytes at creation.
                read_at(&region, &mut head);
                u64::from(&head == BEFORE)
            } else {
                0
            };
            let _ = lwc::switch(&caller, Args([hits, private_ok, 0, 0, 0, 0]));
            unreachable!("the creator never switches back");
        }
    }
}

pub fn read_at(region: &SharedRegion, out: &mut [u8; 8]) {
    region.read(0, out).expect("read own copy");
}

fn copy_default_root() {
    start();
    run(|_| Spec::new(), Options::new(), true);
}

fn copy_default_nobody() {
    become_nobody();
    start();
    run(|_| Spec::new(), Options::new(), true);
}

fn copy_entry() {
    start();
    run(|r| Spec::new().copy(r.region()), Options::new(), true);
}

fn unmap_entry() {
    start();
    run(|r| Spec::new().unmap(r.region()), Options::new(), false);
}

/// Guards against unmapping part of a region and leaving the rest mapped shared, live.
fn partly_unmapped() {
    start();
    run(
        |r| {
            let rest = lwc::Region {
                addr: r.region().addr + 4096,
                len: LEN - 4096,
            };
            Spec::new().unmap(rest)
        },
        Options::new(),
        true,
    );
}

fn sandbox_only() {
    start();
    run(
        |_| Spec::new(),
        Options::new().systrap(Systrap::only(&[libc::SYS_openat])),
        true,
    );
}

/// `Files::Only` closes descriptors the runtime holds for regions the child does not share;
/// if the region's handle still owned its number, dropping it would close whatever the child
/// opened there since. The child opens many files, drops its handle, and checks they are all
/// still open.
fn files_only_no_double_close() {
    start();
    let region = SharedRegion::new(LEN).expect("region");
    let spec = Spec::new().files(Files::Only(vec![0, 1, 2]));
    // SAFETY: single-threaded test process.
    match unsafe { lwc::create(&spec, &Options::new()) }.expect("create") {
        Created::Parent(child) => {
            let back = lwc::switch(&child, Args::NONE).expect("switch");
            assert_eq!(
                back.args.0[0], 0,
                "dropping the region's handle closed {} descriptor(s) the child had opened",
                back.args.0[0]
            );
        }
        Created::Child { caller, .. } => {
            let opened: Vec<i32> = (0..64)
                // SAFETY: a NUL-terminated path; the descriptors are checked below.
                .map(|_| unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) })
                .collect();
            drop(region);
            let closed = opened
                .iter()
                // SAFETY: F_GETFD only queries the descriptor table.
                .filter(|&&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1)
                .count() as u64;
            let _ = lwc::switch(&caller, Args([closed, 0, 0, 0, 0, 0]));
            unreachable!("the creator never switches back");
        }
    }
}
