//! Runs the switch and create experiments without the harness, each run in a forked child, and
//! prints one line per point: `cargo run --release -p workloads --example suite -- quick [BACKEND...]`.
//!
//! For development only: the real suite is the `lwcbench` binary.

use std::time::Instant;

use model::stats;
use workloads::{isolate, Setting};

fn main() {
    let mut args = std::env::args().skip(1);
    let setting = match args.next().as_deref() {
        Some("smoke") => Setting::Smoke,
        Some("full") => Setting::Full,
        _ => Setting::Quick,
    };
    let backends: Vec<String> = args.collect();
    let start = Instant::now();
    for e in workloads::all() {
        for p in e.plan(setting, &backends) {
            let t0 = Instant::now();
            let mut runs = Vec::new();
            let mut failure = None;
            for _ in 0..p.runs {
                match isolate::run_isolated(|| e.measure(&p, setting)) {
                    Ok(r) => runs.push(r),
                    Err(err) => {
                        failure = Some(err.to_string());
                        break;
                    }
                }
            }
            let params: Vec<String> =
                p.id.params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
            let metric = &p.metrics[0];
            let values: Vec<_> = runs
                .iter()
                .filter_map(|r| r.series(&metric.name))
                .map(|s| &s.values)
                .collect();
            let line = match (failure, stats::summarize(&values)) {
                (Some(f), _) => format!("FAILED: {f}"),
                (None, Ok(s)) => format!(
                    "p50 {:.3} {} {:?} p99 {:.3} n={} batch={} {:?}",
                    s.p50,
                    metric.unit,
                    s.ci95.map(|c| (c.low, c.high)),
                    s.p99,
                    s.count,
                    runs[0].series[0].batch,
                    runs[0]
                        .counters
                        .iter()
                        .filter(|(k, _)| k.ends_with("_per_op"))
                        .filter_map(|(k, v)| v.value().map(|v| format!("{k}={v:.2}")))
                        .collect::<Vec<_>>()
                ),
                (None, Err(err)) => format!("FAILED: {err}"),
            };
            println!(
                "{:7} {:15} {:45} {:>6.2}s  {line}",
                e.id(),
                p.id.backend,
                params.join(" "),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!("total {:.1}s", start.elapsed().as_secs_f64());
}
