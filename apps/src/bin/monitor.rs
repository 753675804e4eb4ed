//! Runs the `monitor` mix once per mechanism and call (smoke sampling) and prints the median µs
//! per call, for debugging: `cargo run -p apps --bin monitor [MECHANISM...]`.

use anyhow::{bail, Context};
use apps::experiments::monitor::{MonitorPoint, SWEEPS};
use apps::monitor::{Call, Mechanism};
use model::{Setting, Values};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("monitor: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut mechanisms = Vec::new();
    for a in std::env::args().skip(1) {
        match Mechanism::parse(&a) {
            Some(m) => mechanisms.push(m),
            None => bail!("unknown mechanism {a} (one of lwc-systrap, seccomp-unotify, ptrace, seccomp-bpf, none)"),
        }
    }
    if mechanisms.is_empty() {
        mechanisms = Mechanism::ALL.to_vec();
    }
    let plan = SWEEPS.get(Setting::Quick).1;
    println!("call\tmechanism\tmedian µs");
    for call in Call::ALL {
        for &mechanism in &mechanisms {
            let run = MonitorPoint { mechanism, call }
                .measure(&plan)
                .with_context(|| format!("{} {}", mechanism.name(), call.name()))?;
            let Some(Values::Samples(mut v)) = run.series.first().map(|s| s.values.clone()) else {
                bail!("no samples");
            };
            v.sort_by(f64::total_cmp);
            println!(
                "{}\t{}\t{:.3}",
                call.name(),
                mechanism.name(),
                v[v.len() / 2]
            );
        }
    }
    Ok(())
}
