//! The reference monitor's policy, enforced by every mechanism, attacked from inside the
//! sandbox with raw system calls, as root and as an unprivileged user (uid 65534, dumpable as
//! an ordinary program is).
//!
//! The tests fork (and start lwC groups), so they run one at a time on the main thread
//! (libtest-mimic, one test thread); every test runs in a forked child of its own, and the test
//! process is a child subreaper, so any process a test leaves behind comes to it: after each
//! test it checks that none is left. Compatible with cargo-nextest (one process per test).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use apps::monitor::{
    run_sandboxed, Call, Files, Mechanism, Mix, MonitorError, PathArg, Sandbox, ALLOWED_TEXT,
    DATA_LEN, SECRET_TEXT,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::{Deserialize, Serialize};
use workloads::isolate::run_isolated;
use workloads::MeasureError;

/// Who the sandbox runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Root,
    Nobody,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Root => "root",
            Who::Nobody => "nobody",
        }
    }
}

/// Runs `f` in a forked child as `who`; its error text, or a panic's exit, comes back as the
/// failure.
fn as_user(who: Who, f: impl FnOnce() -> Result<(), String>) -> Result<(), Failed> {
    let r = run_isolated(move || {
        if who == Who::Nobody {
            become_nobody().map_err(MeasureError::Failed)?;
        }
        f().map_err(MeasureError::Failed)
    });
    let r = r.map_err(|e| Failed::from(e.to_string()));
    no_process_left()?;
    r
}

/// uid/gid 65534, no supplementary groups, and dumpable again (setuid from root clears it; an
/// ordinary unprivileged program is dumpable, so that is the case to test).
fn become_nobody() -> Result<(), String> {
    use rustix::process::{Gid, Uid};
    let nobody_gid = Gid::from_raw(65534);
    let nobody_uid = Uid::from_raw(65534);
    rustix::thread::set_thread_groups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    rustix::thread::set_thread_res_gid(nobody_gid, nobody_gid, nobody_gid)
        .map_err(|e| format!("setresgid: {e}"))?;
    rustix::thread::set_thread_res_uid(nobody_uid, nobody_uid, nobody_uid)
        .map_err(|e| format!("setresuid: {e}"))?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::Dumpable)
        .map_err(|e| format!("PR_SET_DUMPABLE: {e}"))
}

/// Fails if a process a test made is still there (it would have come to us: we are a
/// subreaper). Zombies are reaped; a live one gets a second to go.
fn no_process_left() -> Result<(), Failed> {
    use rustix::process::{waitpid, WaitOptions};
    let start = Instant::now();
    loop {
        match waitpid(None, WaitOptions::NOHANG) {
            Err(rustix::io::Errno::CHILD) => return Ok(()),
            Ok(Some(_)) => continue, // a zombie reparented to us: gone now
            Ok(None) if start.elapsed() < Duration::from_secs(1) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return Err(format!("a process was left behind: {other:?}").into()),
        }
    }
}

/// What the sandbox saw of each call the policy rules on.
#[derive(Debug, Serialize, Deserialize)]
struct Observed {
    getppid: Result<i32, i32>,
    monitor_pid: i32,
    /// Contents read through a descriptor the open gave (or its errno).
    allowed: Result<Vec<u8>, i32>,
    denied: Result<Vec<u8>, i32>,
    traversal: Result<Vec<u8>, i32>,
    allowed_for_writing: Result<(), i32>,
    /// The allowed path, from the sandbox's private memory instead of the window.
    outside_window: Result<(), i32>,
    getpid: Result<(), i32>,
    socket: Result<(), i32>,
    file_mmap: Result<(), i32>,
    /// Whether 4 KiB and 64 KiB reads of the data file gave its bytes.
    reads: Result<bool, String>,
}

/// Opens `path` read-only, reads it whole, closes it.
fn slurp(sb: &Sandbox, path: u64) -> Result<Vec<u8>, i32> {
    let fd = sb.openat(path, libc::O_RDONLY | libc::O_CLOEXEC)?;
    let mut buf = vec![0u8; 256];
    let n = sb.pread(fd, &mut buf);
    sb.close(fd)?;
    buf.truncate(n?);
    Ok(buf)
}

/// Makes every call the policy rules on; `allowed` is the allowed file's path, which the
/// sandbox also passes from its own private memory.
fn observe(sb: Sandbox, allowed: PathBuf) -> Observed {
    use std::os::unix::ffi::OsStrExt;
    let unit = |r: Result<i64, i32>| r.map(drop);
    let mut private_path = allowed.as_os_str().as_bytes().to_vec();
    private_path.push(0);
    let mix = Mix::new(sb, false).map_err(|e| e.to_string());
    let data_fd = sb
        .openat(sb.path(PathArg::Data), libc::O_RDONLY | libc::O_CLOEXEC)
        .unwrap_or(-1);
    Observed {
        getppid: sb.getppid(),
        monitor_pid: sb.monitor_pid(),
        allowed: slurp(&sb, sb.path(PathArg::Allowed)),
        denied: slurp(&sb, sb.path(PathArg::Denied)),
        traversal: slurp(&sb, sb.path(PathArg::Traversal)),
        allowed_for_writing: sb
            .openat(sb.path(PathArg::Allowed), libc::O_WRONLY)
            .and_then(|fd| sb.close(fd)),
        outside_window: sb
            .openat(private_path.as_ptr() as u64, libc::O_RDONLY)
            .and_then(|fd| sb.close(fd)),
        getpid: unit(sb.call(libc::SYS_getpid, [0; 6])),
        socket: unit(sb.call(
            libc::SYS_socket,
            [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
        )),
        file_mmap: unit(sb.call(
            libc::SYS_mmap,
            [
                0,
                4096,
                libc::PROT_READ as u64,
                libc::MAP_PRIVATE as u64,
                data_fd as u64,
                0,
            ],
        )),
        reads: mix.and_then(|mut m| {
            m.once(Call::Read4k)?;
            m.once(Call::Read64k)?;
            let mut buf = vec![0u8; DATA_LEN];
            let n = sb
                .pread(data_fd, &mut buf)
                .map_err(|e| format!("pread: {e}"))?;
            Ok(n == DATA_LEN && buf.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8))
        }),
    }
}

/// Asserts one field: a helpful error when it differs.
fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: &T, want: &T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// The policy's verdicts, with the errnos it gives, seen from inside the sandbox.
fn policy_test(mechanism: Mechanism, who: Who) -> Trial {
    Trial::test(
        format!("policy::{}::{}", mechanism.name(), who.name()),
        move || {
            let files = Files::create().map_err(|e| e.to_string())?;
            as_user(who, || {
                let allowed = files.path(PathArg::Allowed);
                let o = run_sandboxed(mechanism, &files, |sb| observe(sb, allowed))
                    .map_err(|e| e.to_string())?;
                check(mechanism, &o).map_err(|e| format!("{e}\n{o:#?}"))
            })
        },
    )
}

fn check(m: Mechanism, o: &Observed) -> Result<(), String> {
    // Guards against a monitor that denies what the policy allows, or runs it wrongly.
    expect("getppid", &o.getppid, &Ok(o.monitor_pid))?;
    expect("allowed open", &o.allowed, &Ok(ALLOWED_TEXT.to_vec()))?;
    expect("reads", &o.reads, &Ok(true))?;
    if !m.enforces() {
        // The control: with no filter, every attempt below is possible.
        expect(
            "denied open (no filter)",
            &o.denied,
            &Ok(SECRET_TEXT.to_vec()),
        )?;
        return expect("getpid (no filter)", &o.getpid, &Ok(()));
    }
    // Guards against a filter or monitor that lets a call outside the policy run.
    expect("getpid", &o.getpid, &Err(libc::EPERM))?;
    expect("socket", &o.socket, &Err(libc::EPERM))?;
    expect("mmap of a file", &o.file_mmap, &Err(libc::EPERM))?;
    expect(
        "open for writing",
        &o.allowed_for_writing,
        &Err(libc::EACCES),
    )?;
    if m.enforces_paths() {
        // Guards against a path check that is missing, matches by prefix only, or reads a
        // path the monitor cannot see.
        expect("denied open", &o.denied, &Err(libc::EACCES))?;
        expect("open by ../", &o.traversal, &Err(libc::EACCES))?;
        expect(
            "path outside the window",
            &o.outside_window,
            &Err(libc::EFAULT),
        )
    } else {
        // seccomp-bpf cannot read a path: what it lets through is exactly the documented hole.
        expect(
            "denied open (bpf sees no path)",
            &o.denied,
            &Ok(SECRET_TEXT.to_vec()),
        )?;
        expect("open by ../ (bpf)", &o.traversal, &Ok(SECRET_TEXT.to_vec()))?;
        expect("path outside the window (bpf)", &o.outside_window, &Ok(()))
    }
}

/// A sandbox tries to create a file through the 32-bit entry (`int 0x80`), which number
/// checks written for x86_64 would misread (i386's 5 is `open`, x86_64's 5 is `fstat`).
fn int80_test(mechanism: Mechanism, who: Who) -> Trial {
    Trial::test(
        format!("escape::int80::{}::{}", mechanism.name(), who.name()),
        move || {
            let files = Files::create().map_err(|e| e.to_string())?;
            let target: PathBuf = files.path(PathArg::Escape);
            as_user(who, || {
                let t = target.clone();
                let r = run_sandboxed(mechanism, &files, move |sb| {
                    sb.open_via_int80(&t).map_err(|e| e.to_string())
                });
                let made = target.exists();
                match (mechanism.enforces(), r) {
                    // The control: the attack works where nothing filters.
                    (false, Ok(Ok(fd))) if fd >= 0 && made => Ok(()),
                    // Guards against a filter without the ABI guard: the sandbox must be
                    // killed before the kernel runs anything.
                    (true, Err(MonitorError::SandboxDied(_))) if !made => Ok(()),
                    (_, r) => Err(format!("int 0x80 open: {r:?}, file made: {made}")),
                }
            })
        },
    )
}

/// A sandbox tries a call with the x32 bit set (`0x4000_0000 | openat`), which slips past
/// checks of the plain number.
fn x32_test(mechanism: Mechanism, who: Who) -> Trial {
    Trial::test(
        format!("escape::x32::{}::{}", mechanism.name(), who.name()),
        move || {
            let files = Files::create().map_err(|e| e.to_string())?;
            let target = files.path(PathArg::Escape);
            as_user(who, || {
                let r = run_sandboxed(mechanism, &files, |sb| {
                    sb.openat_via_x32(sb.path(PathArg::Escape))
                })
                .map_err(|e| e.to_string())?;
                let made = target.exists();
                match (mechanism.enforces(), r) {
                    // Without a filter the kernel decides (this one has no x32 ABI: ENOSYS).
                    (false, Err(libc::ENOSYS)) if !made => Ok(()),
                    (false, Ok(_)) if made => Ok(()),
                    // Guards against a filter without the x32 guard: ENOSYS from the guard,
                    // not EPERM from the policy's default, and nothing made.
                    (true, Err(libc::ENOSYS)) if !made => Ok(()),
                    (_, r) => Err(format!("x32 openat: {r:?}, file made: {made}")),
                }
            })
        },
    )
}

/// Every call of the mix runs, and gives its expected result, under every mechanism (what the
/// experiment times).
fn mix_test(mechanism: Mechanism) -> Trial {
    Trial::test(format!("mix::{}", mechanism.name()), move || {
        let files = Files::create().map_err(|e| e.to_string())?;
        as_user(Who::Root, || {
            run_sandboxed(mechanism, &files, move |sb| -> Result<(), String> {
                let mut mix = Mix::new(sb, mechanism.enforces_paths())?;
                for _ in 0..3 {
                    for call in Call::ALL {
                        mix.once(call)?;
                    }
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?
        })
    })
}

/// One request on a fresh connection (`Connection: close`): the status and the counter that
/// starts every body.
fn get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, u64), String> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut text = String::new();
    c.read_to_string(&mut text)
        .map_err(|e| format!("receive: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no response: {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let counter = body
        .get(..10)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(u64::MAX);
    Ok((status, counter))
}

/// A monitored web session (`--isolation lwc --monitor`) tries to open a file for writing:
/// the open must fail with EPERM inside the session and the file stay as it was; the control
/// (the same server unmonitored) shows the attempt works when nothing checks it.
fn web_touch_test(monitor: bool, who: Who) -> Trial {
    let name = if monitor { "monitored" } else { "unmonitored" };
    Trial::test(format!("web::touch::{name}::{}", who.name()), move || {
        use std::os::unix::fs::PermissionsExt;
        let files = Files::create().map_err(|e| e.to_string())?;
        let dir = files
            .path(PathArg::Escape)
            .parent()
            .map(PathBuf::from)
            .ok_or("no dir")?;
        let target = dir.join(apps::http::TOUCH_FILE);
        std::fs::write(&target, "untouched\n").map_err(|e| e.to_string())?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| e.to_string())?;
        as_user(who, || {
            std::env::set_current_dir(&dir).map_err(|e| e.to_string())?;
            let cfg = apps::http::Config {
                isolation: apps::http::Isolation::Lwc,
                monitor,
                test_paths: true,
                ..Default::default()
            };
            let server = apps::http::Server::start(&cfg).map_err(|e| e.to_string())?;
            let ask = || -> Result<(), String> {
                // Guards against a policy that breaks the session itself (its reads and
                // writes on its socket must run).
                expect("plain GET", &get(server.addr(), "/")?, &(200, 1))?;
                let (status, errno) = get(server.addr(), "/probe/touch")?;
                expect("touch status", &status, &200)?;
                let content = std::fs::read_to_string(&target).map_err(|e| e.to_string())?;
                if monitor {
                    // Guards against a monitor that runs (or lets the kernel run) the open.
                    expect("errno in the session", &errno, &(libc::EPERM as u64))?;
                    expect("file", &content.as_str(), &"untouched\n")
                } else {
                    expect("errno (no monitor)", &errno, &0)?;
                    expect("file (no monitor)", &content.as_str(), &"touched\n")
                }
            };
            let asked = ask();
            let stopped = server.stop().map(drop).map_err(|e| e.to_string());
            asked.and(stopped)
        })
    })
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        eprintln!("PR_SET_CHILD_SUBREAPER: {e}");
        std::process::exit(1);
    }
    let mut tests = Vec::new();
    for m in Mechanism::ALL {
        tests.push(mix_test(m));
        for who in [Who::Root, Who::Nobody] {
            tests.push(policy_test(m, who));
            tests.push(int80_test(m, who));
            tests.push(x32_test(m, who));
        }
    }
    for who in [Who::Root, Who::Nobody] {
        tests.push(web_touch_test(true, who));
        tests.push(web_touch_test(false, who));
    }
    libtest_mimic::run(&args, tests).exit();
}
