//! Starting and stopping a server: the listening socket, one pinned worker process per CPU
//! (each the root of its own lwC group in the lwC modes), and their counters when they stop.
//!
//! ```text
//!   caller (single-threaded) ── bind + listen ── fork ─► worker 0 (CPU a) ─► event loop
//!       │  one control socket per worker          fork ─► worker 1 (CPU b) ─► event loop
//!       └─ stop: shut down each control socket ─► workers end their sessions, send their
//!          counters (one line), exit ─► reaped (SIGKILL after a grace period)
//! ```
//!
//! Workers inherit the listener and accept from it in turn. A worker dies with its parent
//! (`PR_SET_PDEATHSIG`), and so does every session context under it: the lwC runtime ends a
//! group with its root, a `process` session dies with its worker.

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::{Pid, Signal, WaitOptions};

use super::config::{Config, ConfigError};
use super::event_loop;
use super::isolation::Ctx;
use super::protocol::Responses;
use super::stats::Stats;
use crate::sys;

/// Connections the kernel queues before a worker accepts them.
const BACKLOG: i32 = 4096;

/// How long a stopping worker gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Why a server could not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A system call failed.
    #[error("{op}: {source}")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A worker ended before it was asked to.
    #[error("worker {index} (pid {pid}) ended by itself: {status}")]
    WorkerDied {
        /// Its index.
        index: usize,
        /// Its pid.
        pid: i32,
        /// How it ended.
        status: String,
    },
    /// A worker stopped without sending its counters.
    #[error("worker {index}: no counters at stop: {why}")]
    NoStats {
        /// Its index.
        index: usize,
        /// What went wrong.
        why: String,
    },
}

fn os(op: &'static str) -> impl FnOnce(io::Error) -> ServerError {
    move |source| ServerError::Os { op, source }
}

struct Worker {
    pid: Pid,
    cpu: usize,
    control: UnixStream,
    reaped: bool,
}

/// A running server. Dropping it kills its workers; [`Server::stop`] stops them in order.
pub struct Server {
    addr: SocketAddr,
    workers: Vec<Worker>,
}

/// A listening TCP socket with `SO_REUSEADDR` and a deep backlog.
fn listen(cfg: &Config) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let sock = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    rustix::net::sockopt::set_socket_reuseaddr(&sock, true)?;
    rustix::net::bind(&sock, &addr)?;
    rustix::net::listen(&sock, BACKLOG)?;
    Ok(TcpListener::from(sock))
}

/// The CPUs this process may run on.
fn usable_cpus() -> io::Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok((0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect())
}

/// A worker process: pins itself, starts an lwC group in the lwC modes, runs the event loop,
/// and sends its counters when told to stop. Returns its exit code.
fn worker_main(
    cpu: usize,
    parent: Pid,
    listener: &TcpListener,
    control: UnixStream,
    cfg: &Config,
    others: &[i32],
) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    if rustix::process::getppid() != Some(parent) {
        return 1;
    }
    sys::close_inherited(others);
    if let Err(e) = sys::worker_signals() {
        eprintln!("worker: signals: {e}");
        return 1;
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("worker: pin to CPU {cpu}: {e}");
        return 1;
    }
    if cfg.isolation.uses_lwc() {
        let group = lwc::GroupConfig {
            cpus: vec![cpu],
            ..lwc::GroupConfig::default()
        };
        if let Err(e) = lwc::init(&group) {
            eprintln!("worker: lwc::init: {e}");
            return 1;
        }
    }
    let ctx = Ctx {
        cfg: cfg.clone(),
        responses: Responses::new(cfg),
        worker_fds: Vec::new(),
    };
    let result = listener
        .try_clone()
        .and_then(|l| control.try_clone().map(|c| (l, c)))
        .and_then(|(l, c)| event_loop::run(l, c, ctx));
    match result {
        Ok(stats) => {
            use std::io::Write;
            let _ = control.set_nonblocking(false);
            let _ = writeln!(&control, "{stats}");
            0
        }
        Err(e) => {
            eprintln!("worker: {e}");
            1
        }
    }
}

impl Server {
    /// Binds, forks the workers, and returns once they run (connections queue in the backlog
    /// until a worker accepts them). The calling process must be single-threaded.
    pub fn start(cfg: &Config) -> Result<Server, ServerError> {
        cfg.validate()?;
        sys::ensure_single_threaded().map_err(os("start the server"))?;
        sys::ignore_sigpipe();
        let listener = listen(cfg).map_err(os("listen"))?;
        let addr = listener.local_addr().map_err(os("local address"))?;
        let cpus = if cfg.cpus.is_empty() {
            usable_cpus().map_err(os("sched_getaffinity"))?
        } else {
            cfg.cpus.clone()
        };
        if cpus.is_empty() {
            return Err(ServerError::Config(ConfigError("no CPU to run on".into())));
        }
        let parent = rustix::process::getpid();
        let mut server = Server {
            addr,
            workers: Vec::with_capacity(cfg.workers),
        };
        for i in 0..cfg.workers {
            let cpu = cpus[i % cpus.len()];
            let (ours, theirs) = UnixStream::pair().map_err(os("socketpair"))?;
            let mut others: Vec<i32> = server
                .workers
                .iter()
                .map(|w| w.control.as_raw_fd())
                .collect();
            others.push(ours.as_raw_fd());
            let pid = sys::fork(true, || {
                worker_main(cpu, parent, &listener, theirs, cfg, &others)
            })
            .map_err(os("fork a worker"))?;
            server.workers.push(Worker {
                pid,
                cpu,
                control: ours,
                reaped: false,
            });
        }
        Ok(server)
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The pid and CPU of each worker.
    pub fn workers(&self) -> Vec<(i32, usize)> {
        self.workers
            .iter()
            .map(|w| (w.pid.as_raw_nonzero().get(), w.cpu))
            .collect()
    }

    /// An error if some worker has ended (the server no longer serves all its share).
    pub fn check(&mut self) -> Result<(), ServerError> {
        for (index, w) in self.workers.iter_mut().enumerate() {
            if w.reaped {
                continue;
            }
            if let Ok(Some((_, status))) =
                rustix::process::waitpid(Some(w.pid), WaitOptions::NOHANG)
            {
                w.reaped = true;
                return Err(ServerError::WorkerDied {
                    index,
                    pid: w.pid.as_raw_nonzero().get(),
                    status: format!("{status:?}"),
                });
            }
        }
        Ok(())
    }

    /// Stops every worker in order and returns their counters (the sessions still open are
    /// closed). A worker that does not stop within a grace period is killed.
    pub fn stop(mut self) -> Result<Vec<Stats>, ServerError> {
        for w in &self.workers {
            let _ = w.control.shutdown(std::net::Shutdown::Write);
        }
        let mut all = Vec::with_capacity(self.workers.len());
        let mut first_err = None;
        for (index, w) in self.workers.iter_mut().enumerate() {
            let _ = w.control.set_read_timeout(Some(STOP_GRACE));
            let mut line = String::new();
            let read = BufReader::new(&w.control).read_line(&mut line);
            let got = match read {
                Ok(_) if line.trim().is_empty() => Err(ServerError::NoStats {
                    index,
                    why: "it ended without sending them".into(),
                }),
                Ok(_) => line
                    .trim()
                    .parse::<Stats>()
                    .map_err(|why| ServerError::NoStats { index, why }),
                Err(e) => Err(ServerError::NoStats {
                    index,
                    why: e.to_string(),
                }),
            };
            match got {
                Ok(s) => all.push(s),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        self.reap_all();
        match first_err {
            Some(e) => Err(e),
            None => Ok(all),
        }
    }

    /// Waits for every worker up to the grace period, then kills and reaps what is left.
    fn reap_all(&mut self) {
        let deadline = Instant::now() + STOP_GRACE;
        for w in &mut self.workers {
            while !w.reaped {
                match rustix::process::waitpid(Some(w.pid), WaitOptions::NOHANG) {
                    Ok(Some(_)) | Err(_) => w.reaped = true,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = rustix::process::kill_process(w.pid, Signal::KILL);
                        let _ = rustix::process::waitpid(Some(w.pid), WaitOptions::empty());
                        w.reaped = true;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for w in &self.workers {
            if !w.reaped {
                let _ = rustix::process::kill_process(w.pid, Signal::KILL);
            }
        }
        for w in &mut self.workers {
            if !w.reaped {
                let _ = rustix::process::waitpid(Some(w.pid), WaitOptions::empty());
                w.reaped = true;
            }
        }
    }
}
