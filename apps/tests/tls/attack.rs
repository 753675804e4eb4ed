//! The attacks on the signer, run from inside the serving context: every route we know by
//! which one process reads another's memory or takes its descriptors, and, for the lwc home,
//! the lwC calls that would (overlay, syscall).

/// Runs every attack on the signer `pid`; one line each, `name: blocked (why)` or
/// `name: SUCCEEDED (what)`. `bait` is a page mapped before the signer was made, so it is
/// mapped at the same address in the signer too.
pub fn all(pid: u32, signer: Option<lwc::Lwc>, bait: lwc::Region) -> Vec<String> {
    let at = bait.addr;
    let mut lines = vec![
        process_vm_readv(pid, at),
        ptrace_attach(pid),
        proc_mem(pid, at),
        pidfd_getfd(pid),
    ];
    if let Some(l) = signer {
        lines.push(lwc_overlay(l, bait));
        lines.push(lwc_syscall(l));
    }
    lines
}

fn blocked(name: &str, why: impl std::fmt::Display) -> String {
    format!("{name}: blocked ({why})")
}

fn succeeded(name: &str, what: impl std::fmt::Display) -> String {
    format!("{name}: SUCCEEDED ({what})")
}

fn process_vm_readv(pid: u32, at: usize) -> String {
    let mut buf = [0u8; 64];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: at as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: one local iovec over our own buffer; the remote one is only read by the kernel.
    let n = unsafe { libc::process_vm_readv(pid as i32, &local, 1, &remote, 1, 0) };
    if n < 0 {
        blocked("process_vm_readv", std::io::Error::last_os_error())
    } else {
        succeeded("process_vm_readv", format!("{n} bytes"))
    }
}

fn ptrace_attach(pid: u32) -> String {
    // SAFETY: PTRACE_ATTACH with integer arguments; on success we detach at once.
    let r = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid as i32, 0, 0) };
    if r < 0 {
        return blocked("ptrace attach", std::io::Error::last_os_error());
    }
    let mut status = 0;
    // SAFETY: wait for the attach stop of the traced process, then let it go.
    unsafe {
        libc::waitpid(pid as i32, &mut status, libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, pid as i32, 0, 0);
    }
    succeeded("ptrace attach", "attached")
}

fn proc_mem(pid: u32, at: usize) -> String {
    use std::os::unix::fs::FileExt;
    match std::fs::File::open(format!("/proc/{pid}/mem")) {
        Err(e) => blocked("/proc/PID/mem", e),
        Ok(f) => {
            let mut buf = [0u8; 64];
            match f.read_at(&mut buf, at as u64) {
                Ok(n) => succeeded("/proc/PID/mem", format!("read {n} bytes")),
                Err(e) => blocked("/proc/PID/mem", format!("opened, read refused: {e}")),
            }
        }
    }
}

fn pidfd_getfd(pid: u32) -> String {
    let Some(target) = rustix::process::Pid::from_raw(pid as i32) else {
        return blocked("pidfd_getfd", "no such pid");
    };
    let pidfd = match rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(e) => return blocked("pidfd_getfd", format!("pidfd_open: {e}")),
    };
    let mut errors = Vec::new();
    for fd in 0..64 {
        match rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty()) {
            Ok(_) => return succeeded("pidfd_getfd", format!("took fd {fd}")),
            Err(e) => errors.push(e),
        }
    }
    errors.dedup();
    blocked("pidfd_getfd", format!("fds 0..64: {errors:?}"))
}

fn lwc_overlay(signer: lwc::Lwc, bait: lwc::Region) -> String {
    match lwc::overlay(&signer, bait, lwc::Overlay::Copy) {
        Err(e) => blocked("lwc::overlay", e),
        Ok(()) => succeeded("lwc::overlay", "copied a page of the signer"),
    }
}

fn lwc_syscall(signer: lwc::Lwc) -> String {
    match lwc::syscall(&signer, libc::SYS_getpid, [0; 6]) {
        Err(e) => blocked("lwc::syscall", e),
        Ok(v) => succeeded("lwc::syscall", format!("getpid in the signer returned {v}")),
    }
}
