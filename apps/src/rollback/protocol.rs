//! What the driver and the handler say to each other: fixed 16-byte messages on a
//! `SOCK_SEQPACKET` socket pair (one message per packet, so no framing).
//!
//! ```text
//!   driver                                   handler
//!     ◄──────────── Ready ─────────────────── (state built, or rolled back)
//!     ── Request{seed} ─►  ◄── Value(digest)
//!     ── Mark / Peek / Checksum ─► ◄── Value
//!     ── EndSession ─────────────────────────► rollback …
//!     ◄──────────── Ready ───────────────────
//!     ── Quit ──────────────────────────────► exits
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::{
    recv, send, socketpair, sockopt, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};

use super::RollbackError;

/// From the driver to the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Serve one request.
    Request {
        /// Picks what the request reads and writes.
        seed: u64,
    },
    /// The session is over: return to the pristine state, then say [`Reply::Ready`].
    EndSession,
    /// Write a marker into the state (heap and statics).
    Mark {
        /// The marker.
        value: u64,
    },
    /// Where is this marker seen (bit 0 heap, bit 1 statics)?
    Peek {
        /// The marker.
        value: u64,
    },
    /// The checksum of the whole state.
    Checksum,
    /// Leave.
    Quit,
}

/// From the handler to the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Ready for a session.
    Ready,
    /// The answer to a request, mark, peek or checksum.
    Value(u64),
}

const MESSAGE_BYTES: usize = 16;

impl Message {
    fn encode(self) -> [u8; MESSAGE_BYTES] {
        let (tag, v) = match self {
            Message::Request { seed } => (1, seed),
            Message::EndSession => (2, 0),
            Message::Mark { value } => (3, value),
            Message::Peek { value } => (4, value),
            Message::Checksum => (5, 0),
            Message::Quit => (6, 0),
        };
        words(tag, v)
    }

    fn decode(b: [u8; MESSAGE_BYTES]) -> Result<Message, RollbackError> {
        let (tag, v) = unwords(b);
        Ok(match tag {
            1 => Message::Request { seed: v },
            2 => Message::EndSession,
            3 => Message::Mark { value: v },
            4 => Message::Peek { value: v },
            5 => Message::Checksum,
            6 => Message::Quit,
            t => return Err(RollbackError::Protocol(format!("unknown message tag {t}"))),
        })
    }
}

impl Reply {
    fn encode(self) -> [u8; MESSAGE_BYTES] {
        match self {
            Reply::Ready => words(1, 0),
            Reply::Value(v) => words(2, v),
        }
    }

    fn decode(b: [u8; MESSAGE_BYTES]) -> Result<Reply, RollbackError> {
        match unwords(b) {
            (1, _) => Ok(Reply::Ready),
            (2, v) => Ok(Reply::Value(v)),
            (t, _) => Err(RollbackError::Protocol(format!("unknown reply tag {t}"))),
        }
    }
}

fn words(tag: u64, v: u64) -> [u8; MESSAGE_BYTES] {
    let mut b = [0; MESSAGE_BYTES];
    b[..8].copy_from_slice(&tag.to_le_bytes());
    b[8..].copy_from_slice(&v.to_le_bytes());
    b
}

fn unwords(b: [u8; MESSAGE_BYTES]) -> (u64, u64) {
    let mut tag = [0; 8];
    let mut v = [0; 8];
    tag.copy_from_slice(&b[..8]);
    v.copy_from_slice(&b[8..]);
    (u64::from_le_bytes(tag), u64::from_le_bytes(v))
}

/// One end of the socket pair.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair: (the driver's end, the handler's end). Receives on either end give up
    /// after `timeout`, so neither side waits forever for a peer that died.
    pub fn pair(timeout: Duration) -> Result<(Channel, Channel), RollbackError> {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| RollbackError::os("socketpair", e.into()))?;
        for fd in [&a, &b] {
            sockopt::set_socket_timeout(fd, sockopt::Timeout::Recv, Some(timeout))
                .map_err(|e| RollbackError::os("setsockopt(SO_RCVTIMEO)", e.into()))?;
        }
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    fn put(&self, b: [u8; MESSAGE_BYTES], what: &'static str) -> Result<(), RollbackError> {
        loop {
            match send(self.fd.as_fd(), &b, SendFlags::NOSIGNAL) {
                Ok(MESSAGE_BYTES) => return Ok(()),
                Ok(n) => return Err(RollbackError::Protocol(format!("{what}: sent {n} bytes"))),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(RollbackError::os(what, e.into())),
            }
        }
    }

    fn get(&self, what: &'static str) -> Result<[u8; MESSAGE_BYTES], RollbackError> {
        let mut b = [0; MESSAGE_BYTES];
        loop {
            match recv(self.fd.as_fd(), &mut b, RecvFlags::empty()) {
                Ok((MESSAGE_BYTES, _)) => return Ok(b),
                Ok((0, _)) => return Err(RollbackError::Died(format!("{what}: the peer left"))),
                Ok((n, _)) => {
                    return Err(RollbackError::Protocol(format!("{what}: got {n} bytes")))
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    return Err(RollbackError::Died(format!(
                        "{what}: no answer within the time-out"
                    )))
                }
                Err(e) => return Err(RollbackError::os(what, e.into())),
            }
        }
    }

    /// Sends a message (driver).
    pub fn send_message(&self, m: Message) -> Result<(), RollbackError> {
        self.put(m.encode(), "sending a message to the handler")
    }

    /// Receives a message (handler).
    pub fn recv_message(&self) -> Result<Message, RollbackError> {
        Message::decode(self.get("receiving a message from the driver")?)
    }

    /// Sends a reply (handler).
    pub fn send_reply(&self, r: Reply) -> Result<(), RollbackError> {
        self.put(r.encode(), "sending a reply to the driver")
    }

    /// Receives a reply (driver).
    pub fn recv_reply(&self) -> Result<Reply, RollbackError> {
        Reply::decode(self.get("receiving a reply from the handler")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        // Guards against two messages sharing a tag, or a value lost on the wire.
        let all = [
            Message::Request { seed: u64::MAX },
            Message::EndSession,
            Message::Mark { value: 3 },
            Message::Peek { value: 4 },
            Message::Checksum,
            Message::Quit,
        ];
        for m in all {
            assert_eq!(Message::decode(m.encode()).expect("decode"), m);
        }
        for r in [Reply::Ready, Reply::Value(9)] {
            assert_eq!(Reply::decode(r.encode()).expect("decode"), r);
        }
        assert!(Message::decode(words(77, 0)).is_err());
    }

    #[test]
    fn channel_carries_messages_and_times_out() {
        let (driver, handler) = Channel::pair(Duration::from_millis(50)).expect("pair");
        driver
            .send_message(Message::Request { seed: 5 })
            .expect("send");
        assert_eq!(
            handler.recv_message().expect("recv"),
            Message::Request { seed: 5 }
        );
        handler.send_reply(Reply::Value(6)).expect("reply");
        assert_eq!(driver.recv_reply().expect("recv"), Reply::Value(6));
        // Guards against a driver that waits forever on a handler that stopped answering.
        assert!(matches!(driver.recv_reply(), Err(RollbackError::Died(_))));
        drop(handler);
        assert!(matches!(driver.recv_reply(), Err(RollbackError::Died(_))));
    }
}
