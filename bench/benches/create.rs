//! Create + finish of one context with 1 MiB of resident memory and no page written: every
//! backend of the `create` experiment's table (fork, posix_spawn, thread, lwC). One criterion
//! iteration is one create.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
mod common;

use common::{available, config, or_exit};
use workloads::experiments::create::{time_lwc_creates, CreateBackend, Creates, Creator, BACKENDS};

const RESIDENT_BYTES: usize = 1 << 20;

fn bench_creator(c: &mut Criterion, id: &str, b: &CreateBackend) {
    let Some(mut creator) = available(id, Creator::new(b.creates, RESIDENT_BYTES, 0)) else {
        return;
    };
    c.bench_function(id, |bench| {
        bench.iter_custom(|iters| {
            let t0 = Instant::now();
            or_exit("create", creator.create(black_box(iters)));
            t0.elapsed()
        })
    });
}

fn bench_lwc(c: &mut Criterion, id: &str) {
    if available(id, time_lwc_creates(RESIDENT_BYTES, 0, 1)).is_none() {
        return;
    }
    c.bench_function(id, |bench| {
        bench.iter_custom(|iters| or_exit("lwc create", time_lwc_creates(RESIDENT_BYTES, 0, iters)))
    });
}

fn benches(c: &mut Criterion) {
    for b in BACKENDS.iter().filter(|b| b.info.default) {
        let id = format!("create/{}/1MiB", b.info.name);
        match b.creates {
            Creates::Lwc => bench_lwc(c, &id),
            Creates::Fork | Creates::Spawn | Creates::Thread => bench_creator(c, &id, b),
            Creates::Mock => {}
        }
    }
}

criterion_group! { name = create; config = config(); targets = benches }
criterion_main!(create);
