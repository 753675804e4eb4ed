//! Test scaffolding: every test body runs in a freshly forked child process, so tests that start
//! lwC groups (which fork) never run inside a multi-threaded process, and a hang or crash fails
//! one test instead of the binary.
#![allow(dead_code, unsafe_code)]

use std::time::{Duration, Instant};

/// How long one test's child process may run before it is killed and the test fails.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `body` in a forked child; the test passes if the child exits with status 0 within
/// [`TEST_TIMEOUT`]. A panic in the child makes it exit non-zero. The child's process group is
/// killed afterwards, so nothing the test started outlives it.
pub fn in_child(body: fn()) -> Result<(), libtest_mimic::Failed> {
    // SAFETY: the test binary runs its tests on the main thread only (one test thread), so the
    // process is single-threaded here and the child may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()).into());
    }
    if pid == 0 {
        // New process group: the parent can kill everything the test started.
        // SAFETY: setpgid on ourselves has no memory effects.
        unsafe { libc::setpgid(0, 0) };
        let code = match std::panic::catch_unwind(body) {
            Ok(()) => 0,
            Err(_) => 101,
        };
        // SAFETY: _exit ends the child without running the parent's atexit handlers twice.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + TEST_TIMEOUT;
    let mut status = 0;
    let outcome = loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                Ok(())
            } else if libc::WIFEXITED(status) {
                Err(format!(
                    "test process exited with status {}",
                    libc::WEXITSTATUS(status)
                ))
            } else {
                Err(format!(
                    "test process killed by signal {}",
                    libc::WTERMSIG(status)
                ))
            };
        }
        if Instant::now() > deadline {
            // SAFETY: kill of our own child's process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            break Err(format!("test timed out after {TEST_TIMEOUT:?} (hang)"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // Whatever the test left in its process group goes too.
    // SAFETY: kill of the test's process group; ESRCH when it is already empty.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    reap_children();
    outcome.map_err(Into::into)
}

/// Reaps every exited child (lwCs reparented to us when a test's group ended).
pub fn reap_children() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG and a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            break;
        }
    }
}

/// Builds the libtest-mimic trial list from `(name, body)` pairs and runs it with one thread.
pub fn run_tests(tests: Vec<(&'static str, fn())>) -> ! {
    run_tests_unless(tests, &[])
}

/// A test's name and a check that returns why it cannot run on this machine, or None.
pub type Need = (&'static str, fn() -> Option<String>);

/// Like [`run_tests`], where some tests need what this machine may lack: `needs` pairs a test's
/// name with a check that returns why it cannot run here, or None. Such a test is reported as
/// ignored, with the reason on stderr, instead of passing without checking anything.
pub fn run_tests_unless(tests: Vec<(&'static str, fn())>, needs: &[Need]) -> ! {
    for (name, _) in needs {
        assert!(
            tests.iter().any(|(t, _)| t == name),
            "a precondition names no test: {name}"
        );
    }
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1);
    let trials = tests
        .into_iter()
        .map(|(name, body)| {
            let cannot = needs
                .iter()
                .filter(|(n, _)| *n == name)
                .find_map(|(_, check)| check());
            if let Some(why) = &cannot {
                eprintln!("{name}: ignored here: {why}");
            }
            libtest_mimic::Trial::test(name, move || in_child(body))
                .with_ignored_flag(cannot.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}
