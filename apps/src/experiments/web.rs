//! `web`: requests/s and latency of the HTTP server per isolation mode, swept over session
//! length, concurrency and response size (the paper's nginx experiment, plus latency
//! percentiles, open-loop load and a pooled lwC mode).
//!
//! One run: start the server with one worker pinned to one CPU (`Server::start`, from this
//! single-threaded worker process), drive it from this process with the load generator pinned
//! to another CPU (the same one when only one exists), stop it and read its counters.
//!
//! ```text
//!   harness worker ── Server::start (fork: worker on CPU b) ── loadgen::run (here, on CPU a)
//!                  └─ stop: the server's counters (crashed, pool hits) become run counters
//! ```
//!
//! On a 2-CPU machine the load generator takes one CPU and the server the other: every mode
//! pays the same client, and the server's work (event loop, session lwCs, the lwC runtime's
//! supervisor) stays on its CPU. The series: `requests` (req/s, one value per run) and
//! `latency` (µs, every request's, as a histogram). Ratios to `none` are drawn by the report.
//!
//! Backend `lwc-monitor` is `lwc` with `Config::monitor`: every session lwC sandboxed, the
//! worker's event loop its reference monitor (the paper's nginx with the reference monitor),
//! at the same points as `lwc`.

use std::time::Duration;

use workloads::experiment::{
    BackendInfo, Counter, Experiment, MeasureError, MetricSpec, Param, PerSetting, PointId,
    PointSpec, RunSamples, Setting, Unit,
};

use crate::http::{Config, Isolation, Server};
use crate::loadgen::{self, Load, Pace};

/// The backend of `lwc` sessions under the reference monitor.
pub const MONITORED: &str = "lwc-monitor";

/// The `web` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Web;

/// The id.
pub const ID: &str = "web";
/// Requests per second, one value per run (the headline metric).
pub const REQUESTS: &str = "requests";
/// Every request's latency, µs.
pub const LATENCY: &str = "latency";

/// A session length: requests per connection, or ∞ (one connection kept for the whole run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SessionLen {
    /// This many requests, then a new connection.
    Requests(u64),
    /// The connection is kept.
    Unbounded,
}

impl SessionLen {
    /// The parameter's value (`4`, `inf`).
    pub fn label(self) -> String {
        match self {
            SessionLen::Requests(n) => n.to_string(),
            SessionLen::Unbounded => "inf".into(),
        }
    }

    /// Parses a `session` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inf" => Some(SessionLen::Unbounded),
            n => n.parse().ok().filter(|&n| n > 0).map(SessionLen::Requests),
        }
    }

    fn requests(self) -> Option<u64> {
        match self {
            SessionLen::Requests(n) => Some(n),
            SessionLen::Unbounded => None,
        }
    }
}

/// A point of `web`, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebPoint {
    /// The isolation mode (the backend).
    pub isolation: Isolation,
    /// Requests per connection.
    pub session: SessionLen,
    /// Concurrent connections.
    pub connections: u32,
    /// Response body bytes.
    pub body_bytes: u32,
    /// Open-loop rate (req/s); `None`: closed loop.
    pub rate_per_s: Option<u32>,
    /// Session lwCs sandboxed, the event loop their monitor (backend [`MONITORED`]).
    pub monitor: bool,
}

/// How long one run measures, per setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Runs per point.
    pub runs: u32,
    /// Load before recording starts.
    pub warmup: Duration,
    /// The recorded window.
    pub window: Duration,
}

/// Runs and windows per setting.
pub const TIMING: PerSetting<Timing> = PerSetting {
    smoke: Timing {
        runs: 3,
        warmup: Duration::from_millis(20),
        window: Duration::from_millis(60),
    },
    // 400 ms: a round of 128 one-request sessions costs 128 lwC creates (~160 ms on the
    // development VM), so a shorter window can close before the first answer.
    quick: Timing {
        runs: 3,
        warmup: Duration::from_millis(60),
        window: Duration::from_millis(400),
    },
    full: Timing {
        runs: 5,
        warmup: Duration::from_millis(500),
        window: Duration::from_secs(2),
    },
};

/// The paper's axis of session lengths.
pub const PAPER_SESSIONS: [SessionLen; 6] = [
    SessionLen::Requests(1),
    SessionLen::Requests(4),
    SessionLen::Requests(16),
    SessionLen::Requests(64),
    SessionLen::Requests(256),
    SessionLen::Unbounded,
];

/// The paper's default concurrency.
pub const PAPER_CONNECTIONS: u32 = 128;

/// The paper's response sizes.
pub const PAPER_BODIES: [u32; 2] = [45, 900];

fn point(
    isolation: Isolation,
    session: SessionLen,
    connections: u32,
    body_bytes: u32,
    rate_per_s: Option<u32>,
) -> WebPoint {
    WebPoint {
        isolation,
        session,
        connections,
        body_bytes,
        rate_per_s,
        monitor: false,
    }
}

/// The points of one mode for a setting.
fn sweep(isolation: Isolation, setting: Setting) -> Vec<WebPoint> {
    use SessionLen::{Requests, Unbounded};
    match setting {
        Setting::Smoke => [Requests(4), Unbounded]
            .into_iter()
            .map(|s| point(isolation, s, 8, 45, None))
            .collect(),
        Setting::Quick => [
            Requests(1),
            Requests(4),
            Requests(16),
            Requests(256),
            Unbounded,
        ]
        .into_iter()
        .map(|s| point(isolation, s, PAPER_CONNECTIONS, 45, None))
        .collect(),
        Setting::Full => {
            let mut v = Vec::new();
            for body in PAPER_BODIES {
                for s in PAPER_SESSIONS {
                    v.push(point(isolation, s, PAPER_CONNECTIONS, body, None));
                }
            }
            // The paper's scaling axis (at 256-request sessions), on loopback.
            for c in [1, 16, 64, 256] {
                v.push(point(isolation, Requests(256), c, 45, None));
            }
            // Open loop: latency at fixed rates, corrected for coordinated omission.
            for rate in [5_000, 20_000] {
                v.push(point(
                    isolation,
                    Unbounded,
                    PAPER_CONNECTIONS,
                    45,
                    Some(rate),
                ));
                v.push(point(
                    isolation,
                    Requests(4),
                    PAPER_CONNECTIONS,
                    45,
                    Some(rate),
                ));
            }
            v
        }
    }
}

fn metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new(
            REQUESTS,
            Unit::per_second("req"),
            "requests answered per second",
        ),
        MetricSpec::new(
            LATENCY,
            Unit::Us,
            "request latency (open loop: from its intended send time)",
        ),
    ]
}

fn bad(m: String) -> MeasureError {
    MeasureError::BadPoint(m)
}

impl WebPoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        let mut params = model::params([
            ("session", Param::Text(self.session.label())),
            ("connections", Param::Int(self.connections.into())),
            ("body_bytes", Param::Int(self.body_bytes.into())),
            (
                "load",
                Param::Text(
                    if self.rate_per_s.is_some() {
                        "open"
                    } else {
                        "closed"
                    }
                    .into(),
                ),
            ),
        ]);
        if let Some(r) = self.rate_per_s {
            params.insert("rate_per_s".into(), Param::Int(r.into()));
        }
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: if self.monitor {
                    MONITORED.to_owned()
                } else {
                    self.isolation.name().to_owned()
                },
                params,
            },
            metrics: metrics(),
            runs,
        }
    }

    /// Parses a point spec once.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let monitor = spec.id.backend == MONITORED;
        let isolation = if monitor {
            Isolation::Lwc
        } else {
            Isolation::parse(&spec.id.backend)
                .ok_or_else(|| bad(format!("unknown backend {}", spec.id.backend)))?
        };
        let p = &spec.id.params;
        let text = |name: &str| match p.get(name) {
            Some(Param::Text(t)) => Ok(t.as_str()),
            other => Err(bad(format!("{name} = {other:?}"))),
        };
        let int = |name: &str| match p.get(name) {
            Some(Param::Int(v)) => u32::try_from(*v).map_err(|_| bad(format!("{name} = {v}"))),
            other => Err(bad(format!("{name} = {other:?}"))),
        };
        let session = SessionLen::parse(text("session")?)
            .ok_or_else(|| bad(format!("session = {:?}", p.get("session"))))?;
        let rate_per_s = match text("load")? {
            "closed" => None,
            "open" => Some(int("rate_per_s")?),
            other => return Err(bad(format!("load = {other}"))),
        };
        let connections = int("connections")?;
        let body_bytes = int("body_bytes")?;
        if connections == 0 || (body_bytes as usize) < crate::http::MIN_BODY_BYTES {
            return Err(bad(format!("connections {connections}, body {body_bytes}")));
        }
        Ok(WebPoint {
            monitor,
            ..point(isolation, session, connections, body_bytes, rate_per_s)
        })
    }

    /// Measures one run.
    pub fn measure(&self, setting: Setting) -> Result<RunSamples, MeasureError> {
        let timing = TIMING.get(setting);
        let (client_cpu, server_cpu) = placement()?;
        let cfg = Config {
            isolation: self.isolation,
            monitor: self.monitor,
            workers: 1,
            cpus: vec![server_cpu],
            body_bytes: self.body_bytes as usize,
            limits: crate::http::Limits {
                max_connections: self.connections as usize * 2 + 64,
                ..crate::http::Limits::default()
            },
            ..Config::default()
        };
        let server =
            Server::start(&cfg).map_err(|e| MeasureError::Failed(format!("server: {e}")))?;
        let load = Load {
            connections: self.connections as usize,
            session: self.session.requests(),
            pace: match self.rate_per_s {
                None => Pace::Closed,
                Some(r) => Pace::Open {
                    rate_per_s: f64::from(r),
                },
            },
            warmup: timing.warmup,
            duration: timing.window,
            max_requests: u64::MAX,
            cpu: Some(client_cpu),
            ..Load::new(server.addr())
        };
        let report = loadgen::run(&load);
        let stats = server
            .stop()
            .map_err(|e| MeasureError::Failed(format!("server stop: {e}")))?;
        let report = report.map_err(|e| MeasureError::Failed(format!("load: {e}")))?;
        if report.requests == 0 {
            return Err(MeasureError::Failed(format!(
                "no request answered ({} errors)",
                report.errors
            )));
        }
        let stats = crate::http::Stats::total(&stats);
        let latency = model::stats::histogram::encode(&report.latency_ns, 1000.0)
            .map_err(|e| MeasureError::Failed(format!("latency histogram: {e}")))?;
        let mut run = RunSamples::single(REQUESTS, vec![report.requests_per_s()], 1);
        run.series.push(model::Series {
            name: LATENCY.to_owned(),
            batch: 1,
            values: model::Values::Histogram(latency),
        });
        let value = |v: f64| Counter::Value(v);
        for (name, v) in [
            ("requests_answered", report.requests as f64),
            ("errors", report.errors as f64),
            ("connects", report.connects as f64),
            ("window_s", report.elapsed.as_secs_f64()),
            ("client_cpu", client_cpu as f64),
            ("server_cpu", server_cpu as f64),
            ("server_crashed", stats.crashed as f64),
            ("server_failed", stats.failed as f64),
            ("server_pool_hits", stats.pool_hits as f64),
            ("server_pool_misses", stats.pool_misses as f64),
        ] {
            run.counters.insert(name.into(), value(v));
        }
        Ok(run)
    }
}

/// (client CPU, server CPU): the two highest usable CPUs, or one CPU for both.
fn placement() -> Result<(usize, usize), MeasureError> {
    let set = rustix::thread::sched_getaffinity(None)
        .map_err(|e| MeasureError::Failed(format!("sched_getaffinity: {e}")))?;
    let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect();
    match cpus.as_slice() {
        [] => Err(MeasureError::Unavailable("no usable CPU".into())),
        [one] => Ok((*one, *one)),
        [.., a, b] => Ok((*a, *b)),
    }
}

impl Experiment for Web {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "HTTP/1.1 server, session isolation per mode: req/s and latency over session length, concurrency and body size"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        Isolation::ALL
            .iter()
            .map(|i| BackendInfo {
                name: i.name(),
                about: match i {
                    Isolation::None => "sessions in the worker's memory (the baseline)",
                    Isolation::Lwc => "an lwC per connection, created at accept",
                    Isolation::LwcPool => "an lwC per connection, from a pool refilled while idle",
                    Isolation::Process => "a forked process per connection",
                    Isolation::Thread => "a thread per connection (no memory isolation)",
                },
                default: true,
            })
            .chain([BackendInfo {
                name: MONITORED,
                about: "an lwC per connection, sandboxed, the event loop its reference monitor",
                default: true,
            }])
            .collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let runs = TIMING.get(setting).runs;
        let infos = self.backends();
        let modes = Isolation::ALL
            .iter()
            .map(|&i| (i, false))
            .chain([(Isolation::Lwc, true)]);
        modes
            .zip(infos)
            .filter(|(_, info)| info.wanted(backends))
            .flat_map(|((i, monitor), _)| {
                sweep(i, setting)
                    .into_iter()
                    .map(move |p| WebPoint { monitor, ..p })
            })
            .map(|p| p.spec(runs))
            .collect()
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        WebPoint::parse(point)?.measure(setting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_through_their_specs() {
        // Guards against a spec that parses into another point than the one planned.
        for s in Setting::ALL {
            let plan = Web.plan(s, &[]);
            assert!(!plan.is_empty());
            for spec in plan {
                let p = WebPoint::parse(&spec).expect("parse");
                assert_eq!(p.spec(spec.runs), spec);
            }
        }
    }

    #[test]
    fn quick_covers_the_closing_points_and_full_the_paper_grid() {
        let quick = Web.plan(Setting::Quick, &["lwc".into()]);
        let sessions: Vec<_> = quick
            .iter()
            .map(|p| p.id.params["session"].to_string())
            .collect();
        assert_eq!(sessions, ["1", "4", "16", "256", "inf"]);
        let full = Web.plan(Setting::Full, &[]);
        for b in PAPER_BODIES {
            for s in PAPER_SESSIONS {
                assert!(full
                    .iter()
                    .any(|p| p.id.params["session"] == Param::Text(s.label())
                        && p.id.params["body_bytes"] == Param::Int(b.into())));
            }
        }
        assert!(full
            .iter()
            .any(|p| p.id.params["load"] == Param::Text("open".into())));
    }

    #[test]
    fn the_monitored_mode_is_lwc_with_the_monitor_at_lwcs_points() {
        // Guards against a monitored backend that measures plain lwc, or other points.
        let lwc = Web.plan(Setting::Full, &["lwc".into()]);
        let monitored = Web.plan(Setting::Full, &[MONITORED.into()]);
        assert_eq!(lwc.len(), monitored.len());
        for (a, b) in lwc.iter().zip(&monitored) {
            assert_eq!(a.id.params, b.id.params);
            let p = WebPoint::parse(b).expect("parse");
            assert!(p.monitor && p.isolation == Isolation::Lwc);
            assert!(!WebPoint::parse(a).expect("parse").monitor);
        }
    }

    #[test]
    fn bad_points_are_refused() {
        let mut p = Web.plan(Setting::Smoke, &["none".into()])[0].clone();
        p.id.params
            .insert("session".into(), Param::Text("0".into()));
        assert!(matches!(
            WebPoint::parse(&p),
            Err(MeasureError::BadPoint(_))
        ));
        p.id.backend = "nope".into();
        assert!(matches!(
            WebPoint::parse(&p),
            Err(MeasureError::BadPoint(_))
        ));
    }
}
