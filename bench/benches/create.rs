//! Create + finish of one context with 1 MiB of resident memory and no page written: fork,
//! posix_spawn, thread, lwC. One criterion iteration is one create.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
mod common;

use common::{config, or_exit, skip_if_unavailable};
use workloads::backend::lwc::time_creates;
use workloads::experiments::create::Creator;

const RESIDENT_BYTES: usize = 1 << 20;

fn benches(c: &mut Criterion) {
    for backend in ["fork", "spawn", "thread"] {
        let id = format!("create/{backend}/1MiB");
        let creator = Creator::new(backend, RESIDENT_BYTES, 0);
        if skip_if_unavailable(&id, &creator) {
            continue;
        }
        let mut creator = or_exit(&id, creator);
        c.bench_function(&id, |bench| {
            bench.iter_custom(|iters| {
                let t0 = Instant::now();
                or_exit("create", creator.create(black_box(iters)));
                t0.elapsed()
            })
        });
    }
    let id = "create/lwc/1MiB";
    let probe = time_creates(RESIDENT_BYTES, 0, 1);
    if !skip_if_unavailable(id, &probe) {
        or_exit(id, probe);
        c.bench_function(id, |bench| {
            bench.iter_custom(|iters| or_exit("lwc create", time_creates(RESIDENT_BYTES, 0, iters)))
        });
    }
}

criterion_group! { name = create; config = config(); targets = benches }
criterion_main!(create);
