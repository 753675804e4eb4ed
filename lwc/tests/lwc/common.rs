//! Helpers shared by the lwC tests.

use lwc::{Args, GroupConfig};

/// Starts a group for this test (single-threaded child process).
pub fn start() {
    lwc::init(&GroupConfig::default()).expect("start the lwC group");
}

/// Args with `a` in the first word.
pub fn one(a: u64) -> Args {
    Args([a, 0, 0, 0, 0, 0])
}

/// Drops this (forked test) process to the unprivileged `nobody` user, as an ordinary
/// unprivileged program: dumpable.
///
/// The kernel makes a process non-dumpable when setresuid changes its uids
/// (`fs.suid_dumpable` 0), which an ordinary program started as nobody is not. Left that way,
/// the kernel itself would block every attack of the `*_as_nobody` tests, and they would pass
/// with lwc's own non-dumpable setting removed; so the flag goes back to 1 here.
pub fn become_nobody() {
    // SAFETY: plain credential and prctl calls on our own process.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setresgid(65534, 65534, 65534), 0, "setresgid");
        assert_eq!(libc::setresuid(65534, 65534, 65534), 0, "setresuid");
        assert_eq!(libc::prctl(libc::PR_SET_DUMPABLE, 1), 0, "PR_SET_DUMPABLE");
        assert_eq!(libc::prctl(libc::PR_GET_DUMPABLE), 1, "dumpable again");
    }
}

/// Whether we run as root.
pub fn is_root() -> bool {
    // SAFETY: no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

/// The parent of process `pid`, from /proc (0 if unknown).
pub fn parent_of(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Processes whose parent is `ppid`, with their state letter.
pub fn children_of(ppid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let rest: Vec<&str> = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if rest.len() > 2 && rest[1].parse::<i32>().ok() == Some(ppid) {
                out.push((pid, rest[0].to_string()));
            }
        }
    }
    out
}

/// Fills `buf` from the kernel's random source.
pub fn random(buf: &mut [u8]) {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert_eq!(n as usize, buf.len());
}
