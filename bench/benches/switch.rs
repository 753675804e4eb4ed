//! One-way switch latency per backend and placement. One criterion iteration is one one-way
//! switch: each `iter_custom` call times `iters` round trips and reports half their time.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
mod common;

use common::{config, or_exit, skip_if_unavailable};
use workloads::backend::{self, lwc::Lwc, lwc::LwcSpin, Backend};
use workloads::measure::{AffinityGuard, Placement};

fn in_process(c: &mut Criterion, b: &dyn Backend, placement: Placement) {
    let id = format!("switch/{}/{}", b.name(), placement.label());
    let cpus = placement.cpus();
    if skip_if_unavailable(&id, &cpus) {
        return;
    }
    let cpus = or_exit(&id, cpus);
    let pin = or_exit(&id, AffinityGuard::pin(cpus.0));
    let session = b.open(cpus);
    if skip_if_unavailable(&id, &session) {
        return;
    }
    let mut session = or_exit(&id, session);
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

fn lwc_group(c: &mut Criterion, name: &str, placement: Placement, spin: bool) {
    let id = format!("switch/{name}/{}", placement.label());
    let probe = if spin {
        LwcSpin.time_round_trips(placement, 1)
    } else {
        Lwc.time_round_trips(placement, 1)
    };
    if skip_if_unavailable(&id, &probe) {
        return;
    }
    or_exit(&id, probe);
    c.bench_function(&id, |bench| {
        bench.iter_custom(|iters| {
            let r = if spin {
                LwcSpin.time_round_trips(placement, iters)
            } else {
                Lwc.time_round_trips(placement, iters)
            };
            or_exit("lwc round trips", r) / 2
        })
    });
}

fn benches(c: &mut Criterion) {
    for b in backend::all() {
        for &p in b.placements() {
            match b.name() {
                "lwc" => lwc_group(c, "lwc", p, false),
                "lwc-spin" => lwc_group(c, "lwc-spin", p, true),
                _ => in_process(c, b, p),
            }
        }
    }
}

criterion_group! { name = switch; config = config(); targets = benches }
criterion_main!(switch);
