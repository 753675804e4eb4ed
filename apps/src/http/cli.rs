//! The command line of a server, shared by `lwcbench serve` and the `http-server` binary.

use std::net::IpAddr;
use std::time::Duration;

use super::config::{Config, ConfigError, Isolation, Limits};

/// Arguments of `lwcbench serve` (and of `http-server`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// How sessions are isolated: none, lwc, lwc-pool, process, thread.
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = parse_isolation)]
    pub isolation: Isolation,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Worker processes, each pinned to its own CPU.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// CPUs to pin the workers to, comma-separated (default: every usable CPU).
    #[arg(long, value_delimiter = ',', value_name = "CPU,...")]
    pub cpus: Vec<usize>,
    /// Response body size in bytes.
    #[arg(long, default_value_t = 45)]
    pub body_bytes: usize,
    /// Session lwCs an lwc-pool worker keeps ready.
    #[arg(long, default_value_t = 32)]
    pub pool_size: usize,
    /// Connections per worker; one more gets 503.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Largest request line and headers in bytes (431 beyond).
    #[arg(long, default_value_t = Limits::default().max_header_bytes)]
    pub max_header_bytes: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// A request not complete within this many milliseconds gets 408.
    #[arg(long, default_value_t = Limits::default().request_timeout.as_millis() as u64)]
    pub request_timeout_ms: u64,
    /// A keep-alive connection silent for this many milliseconds is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_millis() as u64)]
    pub idle_timeout_ms: u64,
    /// Sandbox each session lwC, the worker's root lwC its reference monitor: reads, writes and
    /// close on its own socket are run, every other system call fails with EPERM (with
    /// --isolation lwc).
    #[arg(long)]
    pub monitor: bool,
    /// Test paths: /crash/abort and /crash/segv crash the session, /probe/fds answers with the
    /// number of descriptors the session's context holds (for tests of session isolation).
    #[arg(long, hide = true)]
    pub test_paths: bool,
}

fn parse_isolation(s: &str) -> Result<Isolation, String> {
    Isolation::parse(s).ok_or_else(|| {
        let names: Vec<_> = Isolation::ALL.iter().map(|i| i.name()).collect();
        format!("unknown isolation {s} (one of {})", names.join(", "))
    })
}

impl ServeArgs {
    /// The server configuration these arguments ask for.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let cfg = Config {
            isolation: self.isolation,
            bind: self.bind,
            port: self.port,
            workers: self.workers,
            cpus: self.cpus.clone(),
            body_bytes: self.body_bytes,
            pool_size: self.pool_size,
            limits: Limits {
                max_connections: self.max_connections,
                max_header_bytes: self.max_header_bytes,
                max_body_bytes: self.max_body_bytes,
                request_timeout: Duration::from_millis(self.request_timeout_ms.max(1)),
                idle_timeout: Duration::from_millis(self.idle_timeout_ms.max(1)),
            },
            monitor: self.monitor,
            test_paths: self.test_paths,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
