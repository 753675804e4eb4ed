//! One-way switch latency per backend and placement. One criterion iteration is one one-way
//! switch: each `iter_custom` call times the context layer's ring of two parties
//! (`Backend::time_switches`; the lwC backends make a fresh group for it).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
mod common;

use common::{available, config, or_exit};
use workloads::experiments::switch::{SwitchBackend, BACKENDS};
use workloads::measure::Placement;

fn bench(c: &mut Criterion, b: &SwitchBackend, placement: Placement) {
    let id = format!("switch/{}/{}", b.info.name, placement.label());
    let Some(cpus) = available(&id, placement.ring(2)) else {
        return;
    };
    if available(&id, b.context.time_switches(&cpus, 2)).is_none() {
        return;
    }
    c.bench_function(&id, |bench| {
        bench.iter_custom(|iters| {
            or_exit("switches", b.context.time_switches(&cpus, black_box(iters)))
        })
    });
}

fn benches(c: &mut Criterion) {
    for b in BACKENDS.iter().filter(|b| b.info.default) {
        for &p in b.placements {
            bench(c, b, p);
        }
    }
}

criterion_group! { name = switch; config = config(); targets = benches }
criterion_main!(switch);
