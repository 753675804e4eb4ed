//! Requests one lwC makes of another through the target's control socket: run a system call
//! there (`syscall`), hand over memory (`overlay`). Also descriptor upkeep: `restrict`,
//! `close`, reaping.
//!
//! Each lwC serves requests on its end of a SOCK_SEQPACKET connection with its creator, made on
//! the creator's first request (`connect_control`; a sandbox's is made at creation). Only the
//! holder of the other end (its creator, unless it restricted the rights away) can send to it:
//! the OVERLAY and SYSCALL rights are kernel objects, not flags in shared memory.

use crate::board::{kind, state, Slot};
use crate::local;
use crate::spec::{Region, Rights};
use crate::switch::{self, check_right, hand_to, wait_turn, Args, Lwc, Wake};
use crate::sys::mem::{self, SharedMapping};
use crate::sys::{fd, process, raw_syscall};
use crate::{systrap, Error, Result};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) const OP_SYSCALL: u64 = 1;
pub(crate) const OP_OVERLAY_COPY: u64 = 2;
pub(crate) const OP_OVERLAY_SHARE: u64 = 3;

/// How [`overlay`] brings memory over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// A private copy-on-write copy of the target's bytes as they are now.
    Copy,
    /// The same memory (the target range must lie in a [`crate::SharedRegion`]).
    Share,
}

fn encode(words: &[u64; 8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    for (i, w) in words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    b
}

fn decode(b: &[u8]) -> [u64; 8] {
    let mut w = [0u64; 8];
    for (i, c) in b.chunks_exact(8).take(8).enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        w[i] = u64::from_le_bytes(a);
    }
    w
}

/// Runs system call `nr` with `args` inside lwC `target` (its memory, its fd table, its
/// credentials) and returns the call's value. `target` is parked; it runs only the call.
///
/// ```no_run
/// # fn demo(child: lwc::Lwc) -> lwc::Result<()> {
/// let pid_there = lwc::syscall(&child, libc::SYS_getpid, [0; 6])?;
/// # let _ = pid_there; Ok(()) }
/// ```
///
/// # Errors
/// [`Error::NoRight`] without the syscall right, [`Error::Dead`] when the target is gone, and
/// [`Error::Os`] carrying the call's errno when the call itself failed there.
///
/// # References
/// Litton et al., OSDI '16, §3 (lwSyscall).
pub fn syscall(target: &Lwc, nr: i64, args: [u64; 6]) -> Result<i64> {
    const OP: &str = "lwc::syscall";
    let r = if *target == switch::current() {
        raw_syscall(nr, args)
    } else {
        let w = [
            OP_SYSCALL, nr as u64, args[0], args[1], args[2], args[3], args[4], args[5],
        ];
        request(OP, target, Rights::SYSCALL, &w)?.0[0] as i64
    };
    if r < 0 {
        Err(Error::errno(OP, -r as i32))
    } else {
        Ok(r)
    }
}

/// Brings `region` of lwC `from` into the caller at the same addresses, replacing what the
/// caller had there: a private copy ([`Overlay::Copy`]) or the same memory
/// ([`Overlay::Share`], for shared regions).
///
/// # Errors
/// [`Error::NoRight`] without the overlay right; [`Error::Invalid`] for a malformed region or a
/// Share of private memory; [`Error::Os`] (EFAULT) when the range is not mapped in `from`.
///
/// # References
/// Litton et al., OSDI '16, §3 (lwOverlay).
pub fn overlay(from: &Lwc, region: Region, how: Overlay) -> Result<()> {
    const OP: &str = "lwc::overlay";
    region.validate(OP)?;
    let op = match how {
        Overlay::Copy => OP_OVERLAY_COPY,
        Overlay::Share => OP_OVERLAY_SHARE,
    };
    let w = [op, region.addr as u64, region.len as u64, 0, 0, 0, 0, 0];
    let (reply, fds) = request(OP, from, Rights::OVERLAY, &w)?;
    let r = reply[0] as i64;
    if r < 0 {
        return Err(if -r as i32 == libc::EINVAL && how == Overlay::Share {
            Error::Invalid {
                op: OP,
                reason: format!(
                    "{:#x}+{:#x} is not inside a shared region of lwC {}",
                    region.addr, region.len, from.id
                ),
            }
        } else {
            Error::errno(OP, -r as i32)
        });
    }
    let memfd = fds.into_iter().next().ok_or(Error::Unsupported {
        op: OP,
        reason: "the target answered without a memory object",
    })?;
    mem::map_fd_fixed(
        region.addr,
        region.len,
        &memfd,
        reply[1],
        how == Overlay::Share,
    )?;
    if how == Overlay::Share {
        local::register_region(Arc::new(SharedMapping::mapped(
            region.addr,
            region.len,
            memfd,
        )));
    }
    Ok(())
}

/// Sends request `w` to `target` and runs it there; returns the reply words and fds.
fn request(
    op: &'static str,
    target: &Lwc,
    right: Rights,
    w: &[u64; 8],
) -> Result<([u64; 8], Vec<OwnedFd>)> {
    let monitor = check_right(op, target, right)?;
    let (ctl, child_pid) = local::with(|l| {
        l.entry(target.id, target.gen)
            .map(|e| (e.control.clone(), e.child_pid))
    })
    .ok_or(Error::Dead { op, lwc: target.id })?;
    let ctl = match (ctl, child_pid) {
        (Some(c), _) => c,
        (None, Some(pid)) if !monitor => connect_control(op, target, pid)?,
        _ => {
            return Err(Error::NoRight {
                op,
                lwc: target.id,
                right: "overlay/syscall",
            })
        }
    };
    fd::send(&ctl, &encode(w), &[])?;
    if monitor {
        systrap::monitor_service(target, w)?;
    } else {
        hand_to(op, target, kind::SERVICE, Args::NONE, state::PARKED)?;
        await_service_done(op)?;
    }
    let mut buf = [0u8; 64];
    let (n, fds) = fd::recv(&ctl, &mut buf, false)?;
    Ok((decode(&buf[..n.min(64)]), fds))
}

/// Serves one queued request (in the target lwC), then hands control back to `requester`.
pub(crate) fn serve(requester: &Lwc) {
    execute_request();
    hand_back(requester);
}

/// Hands control back to `requester` after a runtime request, and parks.
fn hand_back(requester: &Lwc) {
    let back = hand_to(
        "serve",
        requester,
        kind::SERVICE_DONE,
        Args::NONE,
        state::PARKED,
    );
    if back.is_err() {
        // The requester vanished: keep waiting for whoever comes next.
        if let Some(b) = local::board() {
            b.slot(local::me().0)
                .state
                .store(state::PARKED, Ordering::Release);
        }
    }
}

/// Reads one request from our control socket, runs it and sends the reply. A wake-up with no
/// request queued (nobody holding the right sent one) is ignored.
pub(crate) fn execute_request() {
    // Borrowed for the request, not duplicated: a sandbox's monitor lets through only the
    // system calls a request needs (see `systrap`), and a dup is none of them.
    let Some(ctl) = local::with(|l| l.service.take()) else {
        return;
    };
    serve_on(&ctl);
    local::with(|l| {
        l.service.get_or_insert(ctl);
    });
}

fn serve_on(ctl: &OwnedFd) {
    let mut buf = [0u8; 64];
    let Ok((n, _)) = fd::recv(ctl, &mut buf, false) else {
        return;
    };
    let w = decode(&buf[..n.min(64)]);
    let mut reply = [0u64; 8];
    match w[0] {
        OP_SYSCALL => {
            reply[0] = raw_syscall(w[1] as i64, [w[2], w[3], w[4], w[5], w[6], w[7]]) as u64;
        }
        OP_OVERLAY_COPY => {
            let (addr, len) = (w[1] as usize, w[2] as usize);
            match mem::memfd("lwc-overlay")
                .and_then(|m| fd::write_memory_to(&m, addr, len).map(|_| m))
            {
                Ok(m) => {
                    let _ = fd::send(ctl, &encode(&reply), &[m.as_fd()]);
                    return;
                }
                Err(e) => reply[0] = (-(e.as_errno() as i64)) as u64,
            }
        }
        OP_OVERLAY_SHARE => {
            let want = Region {
                addr: w[1] as usize,
                len: w[2] as usize,
            };
            let found = local::with(|l| {
                l.regions
                    .iter()
                    .find(|m| m.region().contains(&want))
                    .cloned()
            });
            if let Some(m) = found {
                reply[1] = (want.addr - m.addr) as u64;
                if m.with_fd(|f| fd::send(ctl, &encode(&reply), &[f]))
                    .is_some()
                {
                    return;
                }
            }
            reply[0] = (-(libc::EINVAL as i64)) as u64;
        }
        _ => reply[0] = (-(libc::ENOSYS as i64)) as u64,
    }
    let _ = fd::send(ctl, &encode(&reply), &[]);
}

/// Narrows what our descriptor `l` allows to `rights` (never widens). Dropping both OVERLAY
/// and SYSCALL closes our end of `l`'s control socket, so the kernel refuses them from then on.
///
/// # Errors
/// [`Error::Dead`] when we hold no descriptor for `l`.
pub fn restrict(l: &Lwc, rights: Rights) -> Result<()> {
    let tell_child = local::with(|loc| {
        let e = loc.entry_mut(l.id, l.gen).ok_or(Error::Dead {
            op: "lwc::restrict",
            lwc: l.id,
        })?;
        let had = e.rights.contains(Rights::OVERLAY) || e.rights.contains(Rights::SYSCALL);
        e.rights = e.rights.intersection(rights);
        let dropped = !e.rights.contains(Rights::OVERLAY) && !e.rights.contains(Rights::SYSCALL);
        if dropped {
            e.control = None;
        }
        Ok(had && dropped && e.child_pid.is_some() && e.monitor.is_none())
    })?;
    if tell_child {
        // The child would otherwise still accept a control socket from us: tell it never to.
        // (A child that is gone needs no telling.)
        if hand_to("lwc::restrict", l, kind::REVOKE, Args::NONE, state::PARKED).is_ok() {
            await_service_done("lwc::restrict")?;
        }
    }
    Ok(())
}

/// Connects the control socket of our child `target` (pid `pid`): we listen on a fresh
/// abstract name, ask the child to connect, and keep the connection whose peer the kernel says
/// is the child. The child in turn checks that the listener is ours.
fn connect_control(
    op: &'static str,
    target: &Lwc,
    pid: libc::pid_t,
) -> Result<std::sync::Arc<OwnedFd>> {
    let nonce = fd::random_u64()?;
    let me = local::ME.pid.load(Ordering::Relaxed);
    let listener = fd::seqpacket_listen(&control_name(me, nonce))?;
    hand_to(
        op,
        target,
        kind::CONNECT,
        Args([nonce, 0, 0, 0, 0, 0]),
        state::PARKED,
    )?;
    await_service_done(op)?;
    // Anyone may connect to an abstract name; only the child's connection is kept.
    while let Some(sock) = fd::accept_now(&listener) {
        if fd::peer_pid(&sock)? == pid {
            let sock = std::sync::Arc::new(sock);
            local::with(|l| {
                if let Some(e) = l.entry_mut(target.id, target.gen) {
                    e.control = Some(sock.clone());
                }
            });
            return Ok(sock);
        }
    }
    Err(Error::Unsupported {
        op,
        reason: "the lwC did not connect its control socket",
    })
}

/// Parks until the lwC we asked for a runtime service hands control back.
fn await_service_done(op: &'static str) -> Result<()> {
    match wait_turn(op)? {
        Wake::ServiceDone => Ok(()),
        other => Err(other.unexpected(op)),
    }
}

fn control_name(creator_pid: libc::pid_t, nonce: u64) -> String {
    format!("lwc-control-{creator_pid}-{nonce:016x}")
}

/// In a child: connects our control socket to our creator's listener, if the request is our
/// creator's (the kernel's record of the listener's pid decides), then hands control back.
pub(crate) fn accept_connect(caller: &Lwc, nonce: u64) {
    if let Some((creator, pid)) = local::with(|l| l.service_peer) {
        if creator == *caller {
            if let Ok(sock) = fd::seqpacket_connect(&control_name(pid, nonce)) {
                if fd::peer_pid(&sock).is_ok_and(|p| p == pid) {
                    local::with(|l| l.service = Some(sock));
                }
            }
        }
    }
    hand_back(caller);
}

/// In a child: our creator gave up its overlay and syscall rights; accept no control socket
/// from now on, and close the one we have.
pub(crate) fn revoke(caller: &Lwc) {
    local::with(|l| {
        if l.service_peer
            .is_some_and(|(creator, _)| creator == *caller)
        {
            l.service_peer = None;
            l.service = None;
        }
    });
    hand_back(caller);
}

/// Drops our descriptor for `l`; if we created `l`, the lwC is destroyed (it must be parked).
///
/// # Errors
/// [`Error::Dead`] when we hold no descriptor for `l`, [`Error::NotParked`] for ourselves.
pub fn close(l: Lwc) -> Result<()> {
    const OP: &str = "lwc::close";
    if l == switch::current() {
        return Err(Error::NotParked { op: OP, lwc: l.id });
    }
    let entry =
        local::with(|loc| loc.take_entry(l.id, l.gen)).ok_or(Error::Dead { op: OP, lwc: l.id })?;
    let Some(pid) = entry.child_pid else {
        return Ok(());
    };
    let asked = match &entry.monitor {
        Some(m) => {
            switch::claim_for_close(&l) && {
                systrap::terminate(m);
                true
            }
        }
        None => switch::terminate_parked(&l),
    };
    if !asked {
        process::kill(pid, libc::SIGKILL);
    }
    process::wait_child(pid, true);
    drop(entry);
    Ok(())
}

/// Reaps our discarded child `caller` (it just switched to us and exited).
pub(crate) fn reap_if_child(caller: &Lwc) {
    let pid = local::with(|l| l.take_entry(caller.id, caller.gen)).and_then(|e| e.child_pid);
    if let Some(pid) = pid {
        process::wait_child(pid, true);
    }
}

/// Reaps children of ours that died while we were parked.
pub(crate) fn reap_children(mine: &Slot) {
    mine.zombies.store(0, Ordering::Release);
    let Some(board) = local::board() else { return };
    local::with(|l| {
        for (id, e) in l.table.iter_mut().enumerate() {
            let Some(entry) = e else { continue };
            let Some(pid) = entry.child_pid else { continue };
            let s = board.slot(id as u32);
            let gone = s.gen.load(Ordering::Acquire) != entry.gen
                || matches!(s.state.load(Ordering::Acquire), state::FREE | state::DEAD);
            if gone && process::wait_child(pid, false).is_some() {
                *e = None;
            }
        }
    });
}
