//! `create`: µs per create for lwC, fork, posix_spawn and thread, swept over the parent's resident
//! memory and the pages the child writes after creation.
//!
//! | backend | one operation |
//! |---|---|
//! | `lwc` | `lwc::create` + first `switch` into the child + the child's `discard_switch` back |
//! | `fork` | `fork` + child `_exit` + `waitpid` |
//! | `spawn` | `posix_spawn("/bin/true")` + `waitpid` |
//! | `thread` | `std::thread` spawn + join |
//!
//! Before timing, the worker maps `resident_bytes` of private memory with 4 KiB pages
//! (`MADV_NOHUGEPAGE`) and writes every page. The new context then writes one byte in each of
//! the first `pages_written` pages (a copy-on-write fault for `lwc` and `fork`; a plain store
//! for `thread`; `spawn` runs another program, so it is planned with `pages_written` = 0 only).
//! Everything runs pinned to one CPU. Fitting `a + b * pages_written` over the points gives the
//! fixed cost `a` and the cost per CoW fault `b` (paper: 87.7 µs and about 3 µs).

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use super::{int_param, point, wanted};
use crate::backend::lwc as lwc_backend;
use crate::backend::mock::mock_samples;
use crate::experiment::{os, Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};
use crate::measure::{self, AffinityGuard, Metric, Placement, SamplePlan};
use crate::sys;

/// The `create` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Create;

/// Unit of the samples.
pub const UNIT: &str = "us";
/// What one sample is, per backend.
pub fn metric(backend: &str) -> &'static str {
    match backend {
        "lwc" => "create + first switch + discard",
        "fork" => "fork + _exit + waitpid",
        "spawn" => "posix_spawn /bin/true + waitpid",
        "thread" => "thread create + join",
        _ => "create (fake)",
    }
}

/// The backends, in plan order (`mock` only when asked for).
pub const BACKENDS: [&str; 4] = ["lwc", "fork", "spawn", "thread"];

/// The program `spawn` starts.
pub const SPAWN_PROGRAM: &std::ffi::CStr = c"/bin/true";

/// Bytes per page the sweep assumes (x86_64 base pages).
pub const PAGE_BYTES: i64 = 4096;

const MIB: i64 = 1 << 20;

/// The `resident_bytes` values for a setting.
pub fn resident_sizes(setting: Setting) -> Vec<i64> {
    match setting {
        Setting::Smoke => vec![MIB],
        Setting::Quick => vec![MIB, 64 * MIB],
        Setting::Full => vec![MIB, 16 * MIB, 64 * MIB, 256 * MIB, 1024 * MIB],
    }
}

/// The `pages_written` values for a setting (those that fit in the resident size are planned).
pub fn pages_written(setting: Setting) -> Vec<i64> {
    match setting {
        Setting::Smoke => vec![0, 16],
        Setting::Quick => vec![0, 256],
        Setting::Full => vec![0, 16, 256, 4096],
    }
}

/// Runs per point for a setting.
pub fn runs(setting: Setting) -> u32 {
    match setting {
        Setting::Smoke => 3,
        Setting::Quick => 5,
        Setting::Full => 7,
    }
}

/// How much one run measures for a setting.
pub fn sample_plan(setting: Setting) -> SamplePlan {
    match setting {
        Setting::Smoke => SamplePlan {
            warmup: Duration::ZERO,
            max_samples: 5,
            min_samples: 2,
            budget: Duration::from_millis(20),
        },
        Setting::Quick => SamplePlan {
            warmup: Duration::from_millis(20),
            max_samples: 300,
            min_samples: 10,
            budget: Duration::from_millis(200),
        },
        Setting::Full => SamplePlan {
            warmup: Duration::from_millis(200),
            max_samples: 5_000,
            min_samples: 30,
            budget: Duration::from_secs(3),
        },
    }
}

impl Experiment for Create {
    fn id(&self) -> &'static str {
        "create"
    }

    fn describe(&self) -> &'static str {
        "µs per create (lwC, fork, posix_spawn, thread) vs parent resident memory and pages written"
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let mut out = Vec::new();
        for backend in BACKENDS.iter().copied().chain(["mock"]) {
            if !wanted(backend, backends) {
                continue;
            }
            for &resident in &resident_sizes(setting) {
                for &pages in &pages_written(setting) {
                    if pages * PAGE_BYTES > resident || (backend == "spawn" && pages > 0) {
                        continue;
                    }
                    out.push(point(
                        "create",
                        backend,
                        [
                            ("pages_written", Param::Int(pages)),
                            ("resident_bytes", Param::Int(resident)),
                        ],
                        UNIT,
                        metric(backend),
                        runs(setting),
                    ));
                }
            }
        }
        out
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        let resident = int_param(point, "resident_bytes")?;
        let pages = int_param(point, "pages_written")?;
        let (Ok(resident), Ok(pages)) = (usize::try_from(resident), usize::try_from(pages)) else {
            return Err(MeasureError::BadPoint(format!(
                "resident_bytes = {resident}, pages_written = {pages}: must not be negative"
            )));
        };
        let page = rustix::param::page_size();
        if pages * page > resident {
            return Err(MeasureError::BadPoint(format!(
                "pages_written = {pages} does not fit in resident_bytes = {resident}"
            )));
        }
        let plan = sample_plan(setting);
        match point.backend.as_str() {
            "lwc" => lwc_backend::create_run(resident, pages, &plan),
            "fork" | "spawn" | "thread" => {
                let mut creator = Creator::new(&point.backend, resident, pages)?;
                measure::run_timed(&plan, Metric::OP_US, |k| creator.create(k))
            }
            "mock" => Ok(RunSamples {
                samples: mock_samples(
                    50.0 + 30.0 * (resident as f64 / (1 << 20) as f64) + 2.5 * pages as f64,
                    plan.max_samples.clamp(1, 1000),
                ),
                batch: 1,
                counters: Default::default(),
            }),
            other => Err(MeasureError::BadPoint(format!("unknown backend {other}"))),
        }
    }
}

/// Writes one byte in each of the first `pages` pages of `bytes`.
pub(crate) fn write_pages(bytes: &mut [u8], pages: usize) {
    let page = rustix::param::page_size();
    for chunk in bytes.chunks_mut(page).take(pages) {
        chunk[0] = chunk[0].wrapping_add(1);
    }
    std::hint::black_box(bytes);
}

/// A parent ready to create contexts of one kind (`fork`, `spawn` or `thread`): pinned to one
/// CPU, with its resident memory populated. `lwc` creates need a group of their own: see
/// [`crate::backend::lwc::time_creates`].
pub struct Creator {
    kind: Kind,
    region: sys::Region,
    pages_written: usize,
    _pin: AffinityGuard,
}

enum Kind {
    /// Checked single-threaded once, when the creator was made: not at every timed fork.
    Fork(sys::SingleThreaded),
    Spawn,
    Thread,
}

impl Creator {
    /// Pins the calling thread to one CPU (until the creator is dropped) and maps and writes
    /// `resident_bytes` of private memory.
    pub fn new(
        backend: &str,
        resident_bytes: usize,
        pages_written: usize,
    ) -> Result<Self, MeasureError> {
        let kind = match backend {
            "fork" => {
                Kind::Fork(sys::SingleThreaded::check().map_err(|e| os("check for one thread", e))?)
            }
            "spawn" => Kind::Spawn,
            "thread" => Kind::Thread,
            other => {
                return Err(MeasureError::BadPoint(format!(
                    "Creator handles fork, spawn and thread, not {other}"
                )))
            }
        };
        if matches!(kind, Kind::Spawn) {
            if pages_written > 0 {
                return Err(MeasureError::BadPoint(
                    "spawn runs another program: pages_written must be 0".into(),
                ));
            }
            let program = std::ffi::OsStr::from_bytes(SPAWN_PROGRAM.to_bytes());
            if !std::path::Path::new(program).exists() {
                return Err(MeasureError::Unavailable(format!(
                    "{} does not exist",
                    program.display()
                )));
            }
        }
        let (cpu, _) = Placement::SameCore.cpus()?;
        let pin = AffinityGuard::pin(cpu)?;
        let region =
            sys::Region::populated(resident_bytes).map_err(|e| os("mmap (resident memory)", e))?;
        Ok(Self {
            kind,
            region,
            pages_written,
            _pin: pin,
        })
    }

    /// Creates (and finishes) `k` contexts, one after the other.
    pub fn create(&mut self, k: u64) -> Result<(), MeasureError> {
        for _ in 0..k {
            match &self.kind {
                Kind::Fork(single) => fork_once(single, &mut self.region, self.pages_written)?,
                Kind::Spawn => spawn_once()?,
                Kind::Thread => thread_once(&mut self.region, self.pages_written)?,
            }
        }
        Ok(())
    }
}

fn check_exit(op: &'static str, code: std::io::Result<i32>) -> Result<(), MeasureError> {
    match code {
        Ok(0) => Ok(()),
        Ok(c) => Err(os(
            op,
            std::io::Error::other(format!("child exited with status {c}")),
        )),
        Err(e) => Err(os(op, e)),
    }
}

fn fork_once(
    single: &sys::SingleThreaded,
    region: &mut sys::Region,
    pages: usize,
) -> Result<(), MeasureError> {
    let pid = sys::fork_while(single, || {
        write_pages(region.bytes_mut(), pages);
        0
    })
    .map_err(|e| os("fork", e))?;
    check_exit("waitpid (fork child)", sys::wait_exit_code(pid))
}

fn spawn_once() -> Result<(), MeasureError> {
    check_exit("posix_spawn /bin/true", sys::spawn_and_wait(SPAWN_PROGRAM))
}

fn thread_once(region: &mut sys::Region, pages: usize) -> Result<(), MeasureError> {
    let bytes = region.bytes_mut();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .spawn_scoped(s, || write_pages(bytes, pages))
            .map_err(|e| os("thread spawn", e))?
            .join()
            .map_err(|_| os("thread join", std::io::Error::other("the thread panicked")))
    })
}
