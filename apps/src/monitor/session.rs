//! The policy of a monitored web session (`lwcbench serve --isolation lwc --monitor`): a
//! session lwC may read, write and close its own connection's socket and use the allocator's
//! memory calls; everything else (`openat`, `connect`, `socket`, `execve`, `kill`, ...) fails
//! with `EPERM`.
//!
//! std's `TcpStream` reads with `recvfrom` and writes with `sendto`, so those count as reads and
//! writes; the descriptor is the first argument of each, and it must be the session's.

use super::policy::{allocator_call, Verdict};

/// The policy of one session: which descriptor is its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    socket: u64,
}

impl SessionPolicy {
    /// The policy of a session whose connection is descriptor `socket`.
    pub fn new(socket: std::os::fd::RawFd) -> Self {
        SessionPolicy {
            socket: socket as u64,
        }
    }

    /// The verdict on system call `nr` with arguments `a`.
    pub fn decide(&self, nr: i64, a: &[u64; 6]) -> Verdict {
        const ON_SOCKET: [i64; 7] = [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_recvfrom,
            libc::SYS_sendto,
            libc::SYS_readv,
            libc::SYS_writev,
            libc::SYS_close,
        ];
        if ON_SOCKET.contains(&nr) && a[0] == self.socket {
            return Verdict::Allow;
        }
        if allocator_call(nr, a) {
            return Verdict::Allow;
        }
        Verdict::Deny(libc::EPERM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sessions_socket() {
        // Guards against a policy that checks the call but not the descriptor (another
        // session's socket, stderr, a file) or lets opens and connects through.
        let p = SessionPolicy::new(7);
        let on = |nr, fd: u64| p.decide(nr, &[fd, 0, 0, 0, 0, 0]);
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_recvfrom,
            libc::SYS_sendto,
            libc::SYS_close,
        ] {
            assert_eq!(on(nr, 7), Verdict::Allow, "{nr}");
            assert_eq!(on(nr, 8), Verdict::Deny(libc::EPERM), "{nr}");
            assert_eq!(on(nr, 2), Verdict::Deny(libc::EPERM), "{nr}");
        }
        for nr in [
            libc::SYS_openat,
            libc::SYS_open,
            libc::SYS_connect,
            libc::SYS_socket,
            libc::SYS_execve,
            libc::SYS_kill,
        ] {
            assert_eq!(on(nr, 7), Verdict::Deny(libc::EPERM), "{nr}");
        }
        assert_eq!(on(libc::SYS_brk, 0), Verdict::Allow);
        let anon = [
            0,
            4096,
            3,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
            u64::MAX,
            0,
        ];
        assert_eq!(p.decide(libc::SYS_mmap, &anon), Verdict::Allow);
        let file = [0, 4096, 1, libc::MAP_SHARED as u64, 7, 0];
        assert_eq!(p.decide(libc::SYS_mmap, &file), Verdict::Deny(libc::EPERM));
    }
}
