//! One-way switch latency per backend and placement. One criterion iteration is one one-way
//! switch: each `iter_custom` call times `iters` round trips and reports half their time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
mod common;

use common::{available, config, or_exit};
use workloads::backend::{self, lwc::Lwc, lwc::LwcSpin, Backend};
use workloads::measure::{AffinityGuard, Placement};
use workloads::MeasureError;

fn in_process(c: &mut Criterion, b: &dyn Backend, placement: Placement) {
    let id = format!("switch/{}/{}", b.name(), placement.label());
    let Some(cpus) = available(&id, placement.cpus()) else {
        return;
    };
    let pin = or_exit(&id, AffinityGuard::pin(cpus.0));
    let Some(mut session) = available(&id, b.open(cpus)) else {
        return;
    };
    c.bench_function(&id, |bench| {
        bench.iter_custom(|iters| {
            let t0 = Instant::now();
            or_exit("round trips", session.round_trips(black_box(iters)));
            t0.elapsed() / 2
        })
    });
    drop(session);
    drop(pin);
}

/// Times `iters` round trips in a fresh lwC group: `Lwc::time_round_trips` or `LwcSpin`'s.
type LwcTimer = fn(Placement, u64) -> Result<Duration, MeasureError>;

fn lwc_group(c: &mut Criterion, name: &str, placement: Placement, time: LwcTimer) {
    let id = format!("switch/{name}/{}", placement.label());
    if available(&id, time(placement, 1)).is_none() {
        return;
    }
    c.bench_function(&id, |bench| {
        bench.iter_custom(|iters| or_exit("lwc round trips", time(placement, iters)) / 2)
    });
}

fn benches(c: &mut Criterion) {
    for b in backend::all() {
        for &p in b.placements() {
            match b.name() {
                "lwc" => lwc_group(c, b.name(), p, |p, n| Lwc.time_round_trips(p, n)),
                "lwc-spin" => lwc_group(c, b.name(), p, |p, n| LwcSpin.time_round_trips(p, n)),
                _ => in_process(c, b, p),
            }
        }
    }
}

criterion_group! { name = switch; config = config(); targets = benches }
criterion_main!(switch);
