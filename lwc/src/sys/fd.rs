//! File descriptors: control sockets that carry fds (SCM_RIGHTS), epoll, and the fd-table
//! edits a resource spec asks for.

use crate::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A connected pair of close-on-exec SOCK_SEQPACKET unix sockets (message boundaries kept).
pub(crate) fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: a valid two-element out-array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::last_os("socketpair"));
    }
    // SAFETY: two fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message with up to 4 descriptors attached.
pub(crate) fn send(sock: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut cbuf = [0u64; 8]; // room for a cmsg of 4 fds, u64-aligned
                              // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let n = fds.len().min(4);
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE((n * std::mem::size_of::<RawFd>()) as u32) };
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as usize;
        // SAFETY: msg_control points at `cbuf`, large enough for one header of `n` fds.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((n * std::mem::size_of::<RawFd>()) as u32) as usize;
            let data = libc::CMSG_DATA(c) as *mut RawFd;
            for (i, fd) in fds.iter().take(n).enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    super::retry_eintr("sendmsg", || {
        // SAFETY: `msg` references live buffers for the duration of the call.
        unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) as i64 }
    })?;
    Ok(())
}

/// Receives one message into `buf`; returns its length and the descriptors that came with it.
/// With `wait == false`, fails with EAGAIN when no message is queued.
pub(crate) fn recv(sock: &OwnedFd, buf: &mut [u8], wait: bool) -> Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let flags = libc::MSG_CMSG_CLOEXEC | if wait { 0 } else { libc::MSG_DONTWAIT };
    let n = super::retry_eintr("recvmsg", || {
        // SAFETY: `msg` references live buffers for the duration of the call.
        unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) as i64 }
    })? as usize;
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control; the CMSG macros walk it within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count =
                    ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if n == 0 && fds.is_empty() {
        return Err(Error::errno("recvmsg: peer closed", libc::EPIPE));
    }
    Ok((n, fds))
}

/// Bytes queued for reading on `sock` (SIOCINQ: for a SOCK_SEQPACKET unix socket, the sum
/// over every message waiting, not only the next).
///
/// # References
/// unix(7) (SIOCINQ).
pub(crate) fn queued_bytes(sock: &OwnedFd) -> Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD (SIOCINQ) writes one int to a live local.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::FIONREAD, &mut n) } != 0 {
        return Err(Error::last_os("ioctl SIOCINQ"));
    }
    Ok(n.max(0) as usize)
}

/// The descriptors open in this process.
pub(crate) fn open_fds() -> Result<Vec<RawFd>> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| Error::Os {
        op: "read /proc/self/fd",
        source: e,
    })?;
    let mut fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    // The directory's own descriptor was open while listing; drop any that is closed now.
    // SAFETY: F_GETFD only queries the descriptor table.
    fds.retain(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1);
    Ok(fds)
}

/// Closes raw descriptor `fd` of this process's table (a FILES spec entry).
///
/// Called in a new child, before user code runs, for descriptors the spec says the child must
/// not have; any `OwnedFd` the child's copied memory holds for it becomes stale, exactly as
/// after close(2) in C, which is what the spec asked for.
pub(crate) fn close_raw(fd: RawFd) {
    // SAFETY: closing a descriptor number; no memory effects.
    unsafe { libc::close(fd) };
}

/// Writes `len` bytes of this process's memory starting at `addr` into `fd`, all of it.
/// The kernel checks the range: unmapped memory gives EFAULT, never a crash.
pub(crate) fn write_memory_to(fd: &OwnedFd, addr: usize, len: usize) -> Result<()> {
    let mut done = 0;
    while done < len {
        // SAFETY: write(2) reads from our own address space and validates the range itself.
        let r = unsafe {
            libc::write(
                fd.as_raw_fd(),
                (addr + done) as *const libc::c_void,
                len - done,
            )
        };
        if r <= 0 {
            return Err(Error::last_os("write region to memfd"));
        }
        done += r as usize;
    }
    Ok(())
}

/// An epoll instance (the supervisor watches every lwC's pidfd with it).
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// A new close-on-exec epoll instance.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no memory effects; the fd is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last_os("epoll_create1"));
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Watches `fd` for readability, tagging its events with `token`.
    pub(crate) fn add(&self, fd: &OwnedFd, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: a valid epoll_event for the duration of the call.
        if unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        } != 0
        {
            return Err(Error::last_os("epoll_ctl"));
        }
        Ok(())
    }

    /// Stops watching `fd`.
    pub(crate) fn remove(&self, fd: &OwnedFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: EPOLL_CTL_DEL with a valid (ignored) event pointer.
        unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
    }

    /// Waits up to `timeout_ms` (-1: forever) for events; returns the tokens of the ready
    /// descriptors (none on timeout).
    pub(crate) fn wait(&self, out: &mut Vec<u64>, timeout_ms: i32) -> Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
        let n = super::retry_eintr("epoll_wait", || {
            // SAFETY: a valid array of 64 events.
            unsafe {
                libc::epoll_wait(self.fd.as_raw_fd(), evs.as_mut_ptr(), 64, timeout_ms) as i64
            }
        })? as usize;
        out.clear();
        out.extend(evs[..n].iter().map(|e| e.u64));
        Ok(())
    }
}

/// The `sockaddr_un` of an abstract-namespace name (no file on disk; `name` without the NUL).
fn abstract_addr(name: &str) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; zero is a valid empty address.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = name.as_bytes();
    if bytes.len() + 1 > addr.sun_path.len() {
        return Err(Error::Invalid {
            op: "abstract socket name",
            reason: format!("{name} is too long"),
        });
    }
    for (dst, src) in addr.sun_path[1..].iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + bytes.len();
    Ok((addr, len as libc::socklen_t))
}

fn seqpacket_socket(nonblocking: bool) -> Result<OwnedFd> {
    let flags = libc::SOCK_SEQPACKET
        | libc::SOCK_CLOEXEC
        | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: no memory effects; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, flags, 0) };
    if fd < 0 {
        return Err(Error::last_os("socket"));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A non-blocking SOCK_SEQPACKET listener bound to abstract name `name`.
pub(crate) fn seqpacket_listen(name: &str) -> Result<OwnedFd> {
    let sock = seqpacket_socket(true)?;
    let (addr, len) = abstract_addr(name)?;
    // SAFETY: a valid sockaddr_un of `len` bytes.
    if unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } != 0
    {
        return Err(Error::last_os("bind control listener"));
    }
    // SAFETY: no memory effects.
    if unsafe { libc::listen(sock.as_raw_fd(), 8) } != 0 {
        return Err(Error::last_os("listen control listener"));
    }
    Ok(sock)
}

/// Connects a SOCK_SEQPACKET socket to abstract name `name` (queued at once on a listener).
pub(crate) fn seqpacket_connect(name: &str) -> Result<OwnedFd> {
    let sock = seqpacket_socket(false)?;
    let (addr, len) = abstract_addr(name)?;
    // SAFETY: a valid sockaddr_un of `len` bytes.
    if unsafe {
        libc::connect(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } != 0
    {
        return Err(Error::last_os("connect control channel"));
    }
    Ok(sock)
}

/// Accepts one queued connection, if any.
pub(crate) fn accept_now(listener: &OwnedFd) -> Option<OwnedFd> {
    // SAFETY: no address out-pointers; the fd is owned below.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The pid of the process at the other end of a connected unix socket, as the kernel recorded
/// it (at connect or listen time): it cannot be forged by the peer.
pub(crate) fn peer_pid(sock: &OwnedFd) -> Result<libc::pid_t> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a valid ucred out-buffer and its length.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(Error::last_os("getsockopt(SO_PEERCRED)"));
    }
    Ok(cred.pid)
}

/// 64 random bits from the kernel.
pub(crate) fn random_u64() -> Result<u64> {
    let mut v = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into `v`.
    let n = unsafe { libc::getrandom((&mut v as *mut u64).cast(), 8, 0) };
    if n != 8 {
        return Err(Error::last_os("getrandom"));
    }
    Ok(v)
}
