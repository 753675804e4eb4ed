//! A server started as a child process (its own process group, killed with the group when a
//! test ends, also on failure), and a plain std-only HTTP client that reads responses byte for
//! byte.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every isolation mode.
pub const MODES: [&str; 5] = ["none", "lwc", "lwc-pool", "process", "thread"];

/// Modes in which a session is a context of its own that can crash alone.
pub const CRASH_ISOLATED: [&str; 3] = ["lwc", "lwc-pool", "process"];

/// How long a test waits for something that must happen (a bound, not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running `http-server`.
pub struct ServerProc {
    child: Option<Child>,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    pub pgid: i32,
}

impl ServerProc {
    /// Starts `http-server --isolation MODE ARGS...` and waits for its address line.
    pub fn start(mode: &str, args: &[&str]) -> ServerProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_http-server"))
            .arg("--isolation")
            .arg(mode)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("spawn http-server");
        let pgid = child.id() as i32;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("address line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no address in {line:?}"));
        ServerProc {
            child: Some(child),
            stdout,
            addr,
            pgid,
        }
    }

    /// Sends `signal` to the server and waits for it to exit; returns its status and the rest
    /// of its output (the counters).
    pub fn stop(mut self, signal: i32) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        // std has no way to send a signal but SIGKILL.
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).expect("pid"),
            rustix::process::Signal::from_named_raw(signal).expect("signal"),
        )
        .expect("signal the server");
        let status = wait_bounded(&mut child);
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        (status, rest)
    }

    /// Kills the server's parent alone with SIGKILL (its workers must follow).
    pub fn kill_parent(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        wait_bounded(&mut child)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_raw(self.pgid).expect("pgid"),
            rustix::process::Signal::KILL,
        );
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(Instant::now() < deadline, "the server did not exit in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Waits (bounded) until no process of group `pgid` is left; returns those still there.
pub fn wait_group_gone(pgid: i32) -> Vec<i32> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = group_members(pgid);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A response as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Every byte of the head, through the blank line.
    pub head: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
}

/// A client connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// A GET of `/` with keep-alive.
    pub fn get(&mut self) -> Response {
        self.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        self.response(false).expect("a response")
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Reads one response (`head_only`: a HEAD's, without body); `None` at end of stream.
    pub fn response(&mut self, head_only: bool) -> Option<Response> {
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill() {
                assert!(
                    self.buf.is_empty(),
                    "partial response {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
        };
        let head: Vec<u8> = self.buf.drain(..head_len).collect();
        let text = String::from_utf8(head.clone()).expect("ascii head");
        let status = text[9..12].parse().expect("status");
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(|v| v.trim().parse().expect("length"))
            .unwrap_or(0);
        let len = if head_only { 0 } else { len };
        while self.buf.len() < len {
            assert!(self.fill(), "body cut short");
        }
        let body = self.buf.drain(..len).collect();
        Some(Response { status, head, body })
    }

    /// True when the server closed the connection (end of stream, nothing more to read).
    pub fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }
}

/// The head of a 200 response with keep-alive (`close`: with `Connection: close`).
pub fn ok_head(body_bytes: usize, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("HTTP/1.1 200 OK\r\nServer: lwcbench\r\nContent-Type: text/plain\r\nContent-Length: {body_bytes}\r\n{connection}\r\n").into_bytes()
}

/// The body of a session's `n`-th response, written out independently of the server's code.
pub fn body(body_bytes: usize, n: u64) -> Vec<u8> {
    let mut b = format!("{n:>10} ").into_bytes();
    b.resize(body_bytes - 1, b'x');
    b.push(b'\n');
    b
}
