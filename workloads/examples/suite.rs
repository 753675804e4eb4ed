//! Runs the switch and create experiments without the harness, each run in a forked child, and
//! prints one line per point: `cargo run --release -p workloads --example suite -- quick [BACKEND...]`.
//!
//! For development only: the real suite is the `lwcbench` binary.

use std::time::Instant;

use workloads::{isolate, stats, Setting};

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
            let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            let line = match (failure, stats::try_summarize(&runs, &p.unit)) {
                (Some(f), _) => format!("FAILED: {f}"),
                (None, Ok(s)) => format!(
                    "p50 {:.3} {} [{:.3}, {:.3}] p99 {:.3} n={} batch={} {:?}",
                    s.p50,
                    s.unit,
                    s.ci95_low.unwrap_or(f64::NAN),
                    s.ci95_high.unwrap_or(f64::NAN),
                    s.p99,
                    s.count,
                    runs[0].batch,
                    runs[0]
                        .counters
                        .iter()
                        .filter(|(k, _)| k.ends_with("_per_op"))
                        .map(|(k, v)| format!("{k}={v:.2}"))
                        .collect::<Vec<_>>()
                ),
                (None, Err(err)) => format!("FAILED: {err}"),
            };
            println!(
                "{:7} {:15} {:45} {:>6.2}s  {line}",
                e.id(),
                p.backend,
                params.join(" "),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!("total {:.1}s", start.elapsed().as_secs_f64());
}
