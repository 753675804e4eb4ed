//! Requests one lwC makes of another through the target's control socket: run a system call
//! there (`syscall`), hand over memory (`overlay`). Also descriptor upkeep: `restrict`,
//! `close`.
//!
//! Each lwC serves requests on its end of a SOCK_SEQPACKET connection with its creator, made on
//! the creator's first request (`connect_control`; a sandbox's is made at creation). Only the
//! holder of the other end (its creator, unless it restricted the rights away) can send to it:
//! the OVERLAY and SYSCALL rights are kernel objects, not flags in shared memory; and the
//! target serves only the rights its creator still holds (see `serve`).

use crate::local::{self, check_right};
use crate::serve::{
    control_name, decode, encode, OP_OVERLAY_COPY, OP_OVERLAY_SHARE, OP_RESTRICT, OP_SYSCALL,
};
use crate::switch::{claim_for_close, current, terminate_parked};
use crate::sys::mem::{self, SharedMapping};
use crate::sys::{fd, process, raw_syscall};
use crate::turn::{hand_and_wait, Wake};
use crate::types::{Args, Kind, Lwc, Region, Rights};
use crate::{systrap, Error, Result};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How [`overlay`] brings memory over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// A private copy-on-write copy of the target's bytes as they are now.
    Copy,
    /// The same memory (the target range must lie in a [`crate::SharedRegion`]).
    Share,
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
    let r = if *target == current() {
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
    send_and_run(op, target, monitor, w)
}

/// Sends `w` on `target`'s control socket (connecting it first if need be), has the target
/// serve it, and returns the reply.
fn send_and_run(
    op: &'static str,
    target: &Lwc,
    monitor: bool,
    w: &[u64; 8],
) -> Result<([u64; 8], Vec<OwnedFd>)> {
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
        await_service_done(op, target, Kind::Service, Args::NONE)?;
    }
    let mut buf = [0u8; 64];
    let (n, fds) = fd::recv(&ctl, &mut buf, false)?;
    Ok((decode(&buf[..n.min(64)]), fds))
}

/// Narrows what our descriptor `l` allows to `rights` (never widens). The target learns which
/// rights we keep and refuses the others from then on, whatever reaches it; dropping both
/// OVERLAY and SYSCALL also closes our end of `l`'s control socket, and dropping every right
/// unmaps our link with `l`, so the kernel refuses from then on.
///
/// # Errors
/// [`Error::Dead`] when we hold no descriptor for `l`.
pub fn restrict(l: &Lwc, rights: Rights) -> Result<()> {
    const OP: &str = "lwc::restrict";
    let (changed, ours, monitor, kept) = local::with(|loc| {
        let e = loc
            .entry_mut(l.id, l.gen)
            .ok_or(Error::Dead { op: OP, lwc: l.id })?;
        let before = e.rights;
        e.rights = before.intersection(rights);
        Ok::<_, Error>((
            e.rights != before,
            e.child_pid.is_some(),
            e.monitor.is_some(),
            e.rights,
        ))
    })?;
    if changed && ours {
        // Tell the child which rights we keep (a child that is gone needs no telling).
        if monitor {
            let w = [OP_RESTRICT, kept.bits(), 0, 0, 0, 0, 0, 0];
            let _ = send_and_run(OP, l, true, &w);
        } else {
            match await_service_done(OP, l, Kind::Revoke, Args([kept.bits(), 0, 0, 0, 0, 0])) {
                Ok(()) | Err(Error::Dead { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    local::with(|loc| {
        if let Some(e) = loc.entry_mut(l.id, l.gen) {
            if !kept.any_service() {
                e.control = None;
            }
            // Without the switch right, a link serves only to ask for services: gone with the
            // last right (a link to our creator serves nothing else).
            if kept == Rights::NONE || (!ours && !kept.contains(Rights::SWITCH)) {
                e.link = None;
            }
        }
    });
    Ok(())
}

/// Connects the control socket of our child `target` (pid `pid`): we listen on a fresh
/// abstract name, ask the child to connect, and keep the connection whose peer the kernel says
/// is the child. The child in turn checks that the listener is ours.
fn connect_control(op: &'static str, target: &Lwc, pid: libc::pid_t) -> Result<Arc<OwnedFd>> {
    let nonce = fd::random_u64()?;
    let me = local::ME.pid.load(Ordering::Relaxed);
    let listener = fd::seqpacket_listen(&control_name(me, nonce))?;
    await_service_done(op, target, Kind::Connect, Args([nonce, 0, 0, 0, 0, 0]))?;
    // Anyone may connect to an abstract name; only the child's connection is kept.
    while let Some(sock) = fd::accept_now(&listener) {
        if fd::peer_pid(&sock)? == pid {
            let sock = Arc::new(sock);
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

/// Hands `target` a runtime request and parks until it hands control back.
fn await_service_done(op: &'static str, target: &Lwc, kind: Kind, args: Args) -> Result<()> {
    match hand_and_wait(op, target, kind, args)? {
        Wake::ServiceDone => Ok(()),
        other => Err(other.unexpected(op)),
    }
}

/// Drops our descriptor for `l`; if we created `l`, the lwC is destroyed (it must be parked).
///
/// # Errors
/// [`Error::Dead`] when we hold no descriptor for `l`, [`Error::NotParked`] for ourselves.
pub fn close(l: Lwc) -> Result<()> {
    const OP: &str = "lwc::close";
    if l == current() {
        return Err(Error::NotParked { op: OP, lwc: l.id });
    }
    let pid = local::with(|loc| loc.entry(l.id, l.gen).map(|e| e.child_pid))
        .ok_or(Error::Dead { op: OP, lwc: l.id })?;
    let Some(pid) = pid else {
        local::with(|loc| loc.take_entry(l.id, l.gen));
        return Ok(());
    };
    let monitor = local::with(|loc| loc.entry_mut(l.id, l.gen).and_then(|e| e.monitor.take()));
    let asked = match &monitor {
        Some(m) => {
            claim_for_close(&l) && {
                systrap::terminate(m);
                true
            }
        }
        None => terminate_parked(&l),
    };
    if !asked {
        process::kill(pid, libc::SIGKILL);
    }
    process::wait_child(pid, true);
    drop(monitor);
    local::with(|loc| loc.take_entry(l.id, l.gen));
    Ok(())
}
