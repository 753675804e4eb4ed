//! `crypto`: full TLS handshakes per second with the private key in each key home (the
//! paper's OpenSSL key in a signing lwC), per key type and client concurrency.
//!
//! ```text
//!   worker (client CPU) ──fork──► server (server CPU): tls::start (the home; lwc::init for lwc)
//!     │                             time signatures through the home (no TLS) ─┐
//!     │  ◄── pipe: port, µs per signature ─────────────────────────────────────┘
//!     │                             serve
//!     ├─ drive: warm-up, then slices of closed-loop full handshakes with C connections
//!     └─ kill the server's tree, wait
//! ```
//!
//! Metrics: `handshakes` (handshakes/s, one value per slice), `latency` (µs from connect to
//! handshake done, every connection), `sign` (µs per signature through the home, in the serving
//! context with no TLS around it: `1e6 / sign` is the signer's signatures/s, and `sign` minus
//! `in-process`'s `sign` is the hand-off per signature). The driver pins the certificate and
//! verifies one handshake signature in 16, so it does not measure its own verification.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use model::{Param, PerSetting};
use workloads::experiment::{MetricSpec, PointId, Unit};
use workloads::{BackendInfo, Experiment, MeasureError, PointSpec, RunSamples, Setting};

use crate::tls::client::{client_config, drive, DriveOptions, Verify};
use crate::tls::key::KeyType;
use crate::tls::signer::KeyHome;
use crate::tls::sys::{self, Forked};
use crate::tls::{start, KeySource, ServeOptions};

/// The `crypto` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Crypto;

/// The id.
pub const ID: &str = "crypto";
/// Series: handshakes/s.
pub const HANDSHAKES: &str = "handshakes";
/// Series: handshake latency.
pub const LATENCY: &str = "latency";
/// Series: µs per signature through the key home.
pub const SIGN: &str = "sign";

/// The metrics of every point.
pub fn metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new(
            HANDSHAKES,
            Unit::per_second("handshakes"),
            "full TLS 1.3 handshakes (with one GET each)",
        ),
        MetricSpec::new(LATENCY, Unit::Us, "connect to handshake done"),
        MetricSpec::new(SIGN, Unit::Us, "one signature through the key home, no TLS"),
    ]
}

/// How much one setting measures.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// Runs per point.
    pub runs: u32,
    /// Client concurrencies.
    pub connections: &'static [usize],
    /// Driven before measuring.
    pub warmup: Duration,
    /// Measured slices per run, and the length of each.
    pub slices: u32,
    /// Length of one slice.
    pub slice: Duration,
    /// Signatures timed through the home.
    pub signatures: u32,
}

/// The sweep of each setting (the paper: 24 concurrent clients).
pub const SWEEPS: PerSetting<Sweep> = PerSetting {
    smoke: Sweep {
        runs: 1,
        connections: &[24],
        warmup: Duration::from_millis(30),
        slices: 2,
        slice: Duration::from_millis(50),
        signatures: 10,
    },
    quick: Sweep {
        runs: 3,
        connections: &[24],
        warmup: Duration::from_millis(100),
        slices: 4,
        slice: Duration::from_millis(100),
        signatures: 50,
    },
    full: Sweep {
        runs: 10,
        connections: &[1, 24],
        warmup: Duration::from_millis(500),
        slices: 10,
        slice: Duration::from_millis(300),
        signatures: 500,
    },
};

/// A point, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoPoint {
    /// Where the key lives.
    pub home: KeyHome,
    /// The key type.
    pub key_type: KeyType,
    /// Client connections at once.
    pub connections: usize,
}

fn about(home: KeyHome) -> &'static str {
    match home {
        KeyHome::InProcess => "the key in the serving process (the usual server)",
        KeyHome::Lwc => "the key in a signing lwC (the paper)",
        KeyHome::Process => "the key in a signer process over a socketpair (privilege separation)",
        KeyHome::Thread => "the key in a signer thread over a socketpair (hand-off, no isolation)",
    }
}

impl CryptoPoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: self.home.name().to_owned(),
                params: model::params([
                    ("key", Param::Text(self.key_type.name().into())),
                    ("conns", Param::Int(self.connections as i64)),
                ]),
            },
            metrics: metrics(),
            runs,
        }
    }

    /// Parses a point spec once.
    pub fn parse(spec: &PointSpec) -> Result<CryptoPoint, MeasureError> {
        let bad = |m: String| MeasureError::BadPoint(m);
        let home = KeyHome::parse(&spec.id.backend)
            .ok_or_else(|| bad(format!("unknown backend {}", spec.id.backend)))?;
        let key_type = match spec.id.params.get("key") {
            Some(Param::Text(k)) => KeyType::parse(k).ok_or_else(|| bad(format!("key = {k}")))?,
            other => return Err(bad(format!("key = {other:?}"))),
        };
        let connections = match spec.id.params.get("conns") {
            Some(Param::Int(c)) if *c >= 1 && *c <= 1024 => *c as usize,
            other => return Err(bad(format!("conns = {other:?}"))),
        };
        Ok(CryptoPoint {
            home,
            key_type,
            connections,
        })
    }

    /// Measures one run (forks the server; call in a single-threaded worker).
    pub fn measure(&self, sweep: &Sweep) -> Result<RunSamples, MeasureError> {
        let allowed = rustix::thread::sched_getaffinity(None)
            .map_err(|e| MeasureError::Failed(format!("sched_getaffinity: {e}")))?;
        let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|c| allowed.is_set(*c))
            .collect();
        let client_cpu = *cpus
            .first()
            .ok_or_else(|| MeasureError::Failed("no CPU".into()))?;
        let server_cpu = *cpus.last().unwrap_or(&client_cpu);
        let (read_end, write_end) =
            rustix::pipe::pipe().map_err(|e| MeasureError::Failed(format!("pipe: {e}")))?;
        let budget = sweep.warmup + sweep.slice * sweep.slices + Duration::from_secs(30);
        let pid = match sys::fork().map_err(|e| MeasureError::Failed(format!("fork: {e}")))? {
            Forked::Child => {
                drop(read_end);
                server_child(self, server_cpu, sweep.signatures, budget, write_end)
            }
            Forked::Parent(pid) => pid,
        };
        drop(write_end);
        let result = self.drive_server(read_end, client_cpu, sweep);
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
        }
        result
    }

    fn drive_server(
        &self,
        from_server: OwnedFd,
        client_cpu: usize,
        sweep: &Sweep,
    ) -> Result<RunSamples, MeasureError> {
        let mut set = rustix::thread::CpuSet::new();
        set.set(client_cpu);
        rustix::thread::sched_setaffinity(None, &set)
            .map_err(|e| MeasureError::Failed(format!("pin the client: {e}")))?;
        // Up to the `end` line, not to end of file: in the lwc home the group's guardian and
        // supervisor hold copies of the pipe's write end while the server lives.
        let mut hello = String::new();
        let mut reader = std::io::BufReader::new(std::fs::File::from(from_server));
        loop {
            let mut line = String::new();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| MeasureError::Failed(format!("read from the server: {e}")))?;
            if n == 0 || line == "end\n" || line.starts_with("error ") {
                hello.push_str(&line);
                break;
            }
            hello.push_str(&line);
        }
        let (port, sign_us, cert) = parse_hello(&hello)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let config = client_config(&cert, Verify::Pinned { every: 16 })
            .map_err(|e| MeasureError::Failed(format!("client config: {e}")))?;
        let run = |duration: Duration| {
            drive(
                addr,
                config.clone(),
                DriveOptions {
                    connections: self.connections,
                    max_handshakes: u64::MAX,
                    duration,
                },
            )
            .map_err(|e| MeasureError::Failed(format!("drive: {e}")))
            .and_then(|r| match (r.failed, &r.first_failure) {
                (0, _) => Ok(r),
                (n, why) => Err(MeasureError::Failed(format!(
                    "{n} of {} connections failed: {}",
                    n + r.completed,
                    why.as_deref().unwrap_or("?")
                ))),
            })
        };
        run(sweep.warmup)?;
        let mut rates = Vec::new();
        let mut latencies = Vec::new();
        for _ in 0..sweep.slices {
            let r = run(sweep.slice)?;
            rates.push(r.per_second());
            latencies.extend(r.latencies_us);
        }
        let series = |name: &str, values: Vec<f64>| model::Series {
            name: name.to_owned(),
            batch: 1,
            values: model::Values::Samples(values),
        };
        Ok(RunSamples {
            series: vec![
                series(HANDSHAKES, rates),
                series(LATENCY, latencies),
                series(SIGN, sign_us),
            ],
            counters: Default::default(),
        })
    }
}

/// The hello the server child sends: `port P`, `sign v1 v2 ...`, `cert HEX`.
fn parse_hello(
    text: &str,
) -> Result<(u16, Vec<f64>, rustls::pki_types::CertificateDer<'static>), MeasureError> {
    let mut port = None;
    let mut sign = Vec::new();
    let mut cert = Vec::new();
    for line in text.lines() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "port" => port = rest.parse().ok(),
            "sign" => sign = rest.split(' ').filter_map(|v| v.parse().ok()).collect(),
            "cert" => {
                cert = (0..rest.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&rest[2 * i..2 * i + 2], 16).ok())
                    .collect()
            }
            "error" => return Err(MeasureError::Failed(format!("server: {rest}"))),
            _ => {}
        }
    }
    match port {
        Some(p) if !cert.is_empty() => Ok((p, sign, cert.into())),
        _ => Err(MeasureError::Failed(format!(
            "the server did not start (it said {text:?})"
        ))),
    }
}

/// The forked server: start, time signatures through the home, say hello, serve until killed.
fn server_child(
    point: &CryptoPoint,
    cpu: usize,
    signatures: u32,
    budget: Duration,
    to_parent: OwnedFd,
) -> ! {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let mut out = std::fs::File::from(to_parent);
    let opts = ServeOptions {
        home: point.home,
        key_type: point.key_type,
        source: KeySource::Generate,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cpu: Some(cpu),
        limits: Default::default(),
    };
    let mut started = match start(&opts) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "error {e}");
            sys::exit_now(1)
        }
    };
    let mut hello = String::new();
    let port = started.server.local_addr().map(|a| a.port()).unwrap_or(0);
    hello.push_str(&format!("port {port}\nsign"));
    let hash = [0x5a; crate::tls::signer::policy::HASH_LEN];
    for _ in 0..signatures {
        let t = Instant::now();
        if let Err(e) = started.signer.sign_hash(&hash) {
            let _ = writeln!(out, "error sign: {e}");
            sys::exit_now(1)
        }
        hello.push_str(&format!(" {}", t.elapsed().as_secs_f64() * 1e6));
    }
    hello.push_str("\ncert ");
    for b in started.cert.iter() {
        hello.push_str(&format!("{b:02x}"));
    }
    hello.push_str("\nend\n");
    let _ = out.write_all(hello.as_bytes());
    drop(out);
    match started.server.run_for(Some(budget)) {
        Ok(_) => sys::exit_now(0),
        Err(e) => {
            eprintln!("crypto: the {} server stopped: {e}", point.home.name());
            sys::exit_now(1)
        }
    }
}

impl Experiment for Crypto {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "full TLS handshakes/s with the private key in-process, in a signing lwC, a signer process or thread"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        KeyHome::ALL
            .iter()
            .map(|h| BackendInfo {
                name: h.name(),
                about: about(*h),
                default: true,
            })
            .collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let sweep = SWEEPS.get(setting);
        let mut points = Vec::new();
        for key_type in KeyType::ALL {
            for &connections in sweep.connections {
                for home in KeyHome::ALL {
                    let wanted = backends.is_empty() || backends.iter().any(|b| b == home.name());
                    if wanted {
                        points.push(
                            CryptoPoint {
                                home,
                                key_type,
                                connections,
                            }
                            .spec(sweep.runs),
                        );
                    }
                }
            }
        }
        points
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        CryptoPoint::parse(point)?.measure(SWEEPS.get(setting))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planned_point_parses_back() {
        // Guards against a plan whose parameters `measure` cannot read.
        for setting in [Setting::Smoke, Setting::Quick, Setting::Full] {
            let plan = Crypto.plan(setting, &[]);
            assert_eq!(plan.len(), 8 * SWEEPS.get(setting).connections.len());
            for p in &plan {
                let typed = CryptoPoint::parse(p).expect("parses");
                assert_eq!(typed.spec(p.runs), *p);
            }
        }
        assert_eq!(Crypto.plan(Setting::Quick, &["lwc".into()]).len(), 2);
    }
}
