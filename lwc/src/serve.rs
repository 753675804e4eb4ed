//! The target's side of the runtime's requests: what an lwC does, in its own context, when its
//! creator asks it to run a system call or hand over memory (through its control socket), to
//! connect that socket, or to narrow what it accepts; and reaping discarded children.
//!
//! Every request arrives on our link with our creator (the only lwC holding it), and we serve
//! only what our creator's remaining rights allow, whatever bytes reach the socket: dropping a
//! right with `restrict` tells us, and no later request can undo that.

use crate::board::Slot;
use crate::deliver::hand_to;
use crate::local;
use crate::sys::{fd, mem, process, raw_syscall};
use crate::types::{Args, Kind, Lwc, Region, Rights, State};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;

/// Request: run a system call (`nr`, six arguments).
pub(crate) const OP_SYSCALL: u64 = 1;
/// Request: a memfd holding a copy of a range.
pub(crate) const OP_OVERLAY_COPY: u64 = 2;
/// Request: the memfd of the shared region holding a range.
pub(crate) const OP_OVERLAY_SHARE: u64 = 3;
/// Request: accept only these rights from now on (a monitor tells its sandbox).
pub(crate) const OP_RESTRICT: u64 = 4;

/// A request's eight words on the wire.
pub(crate) fn encode(words: &[u64; 8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    for (i, w) in words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// The eight words of a request or reply.
pub(crate) fn decode(b: &[u8]) -> [u64; 8] {
    let mut w = [0u64; 8];
    for (i, c) in b.chunks_exact(8).take(8).enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        w[i] = u64::from_le_bytes(a);
    }
    w
}

/// Whether `from` is our creator (the only lwC whose requests we serve).
pub(crate) fn is_creator(from: &Lwc) -> bool {
    from_creator(from)
}

fn from_creator(from: &Lwc) -> bool {
    local::with(|l| l.served.creator == Some(*from))
}

/// Whether `from` may switch into us: our creator only while it keeps the switch right.
pub(crate) fn may_switch(from: &Lwc) -> bool {
    local::with(|l| l.served.creator != Some(*from) || l.served.rights.contains(Rights::SWITCH))
}

/// Serves one queued request (in the target lwC), then hands control back to `requester`.
pub(crate) fn serve(requester: &Lwc) {
    if from_creator(requester) {
        execute_request();
    }
    hand_back(requester, Kind::ServiceDone);
}

/// Hands control back to `requester` after a runtime request, and parks.
pub(crate) fn hand_back(requester: &Lwc, kind: Kind) {
    if hand_to("serve", requester, kind, Args::NONE, State::Parked).is_err() {
        // The requester vanished: keep waiting for whoever comes next.
        local::set_state(State::Parked);
    }
}

/// Reads one request from our control socket, runs it if our creator still holds the right it
/// needs, and sends the reply. A wake-up with no request queued is ignored.
pub(crate) fn execute_request() {
    // Borrowed for the request, not duplicated: a sandbox's monitor lets through only the
    // system calls a request needs (see `systrap`), and a dup is none of them.
    let Some(ctl) = local::with(|l| l.served.socket.take()) else {
        return;
    };
    serve_on(&ctl);
    local::with(|l| {
        // A restrict that dropped both service rights closed the socket for good.
        if l.served.rights.any_service() {
            l.served.socket.get_or_insert(ctl);
        }
    });
}

fn serve_on(ctl: &OwnedFd) {
    let mut buf = [0u8; 64];
    let Ok((n, _)) = fd::recv(ctl, &mut buf, false) else {
        return;
    };
    let w = decode(&buf[..n.min(64)]);
    let allowed = local::with(|l| l.served.rights);
    let needs = match w[0] {
        OP_SYSCALL => Rights::SYSCALL,
        OP_OVERLAY_COPY | OP_OVERLAY_SHARE => Rights::OVERLAY,
        _ => Rights::NONE,
    };
    let mut reply = [0u64; 8];
    match w[0] {
        _ if !allowed.contains(needs) => reply[0] = (-(libc::EPERM as i64)) as u64,
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
        OP_RESTRICT => narrow(Rights::from_bits(w[1])),
        _ => reply[0] = (-(libc::ENOSYS as i64)) as u64,
    }
    let _ = fd::send(ctl, &encode(&reply), &[]);
}

/// Accepts only `rights` from our creator from now on; without either service right, no
/// control socket either (we close ours and accept no other).
fn narrow(rights: Rights) {
    local::with(|l| {
        let s = &mut l.served;
        s.rights = s.rights.intersection(rights);
        if !s.rights.any_service() {
            s.peer = None;
            s.socket = None;
        }
    });
}

/// Connects our control socket to our creator's listener, if the request is our creator's
/// (the kernel's record of the listener's pid decides), then hands control back.
pub(crate) fn accept_connect(caller: &Lwc, nonce: u64) {
    if let Some((creator, pid)) = local::with(|l| l.served.peer) {
        if creator == *caller {
            if let Ok(sock) = fd::seqpacket_connect(&control_name(pid, nonce)) {
                if fd::peer_pid(&sock).is_ok_and(|p| p == pid) {
                    local::with(|l| l.served.socket = Some(sock));
                }
            }
        }
    }
    hand_back(caller, Kind::ServiceDone);
}

/// The abstract socket name a creator listens on for its child's control connection.
pub(crate) fn control_name(creator_pid: libc::pid_t, nonce: u64) -> String {
    format!("lwc-control-{creator_pid}-{nonce:016x}")
}

/// Our creator narrowed its rights on us to `rights`: accept no more than that from now on.
pub(crate) fn revoke(caller: &Lwc, rights: Rights) {
    if from_creator(caller) {
        narrow(rights);
    }
    hand_back(caller, Kind::ServiceDone);
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
                || matches!(s.state.load(), State::Free | State::Dead);
            if gone && process::wait_child(pid, false).is_some() {
                *e = None;
            }
        }
    });
}
