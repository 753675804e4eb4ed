//! Create + finish of one context with 1 MiB of resident memory and no page written: fork,
//! posix_spawn, thread, lwC. One criterion iteration is one create.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
mod common;

use common::{available, config, or_exit};
use workloads::experiments::create::{time_lwc_creates, Creates, Creator};

const RESIDENT_BYTES: usize = 1 << 20;

fn benches(c: &mut Criterion) {
    for (backend, creates) in [
        ("fork", Creates::Fork),
        ("spawn", Creates::Spawn),
        ("thread", Creates::Thread),
    ] {
        let id = format!("create/{backend}/1MiB");
        let Some(mut creator) = available(&id, Creator::new(creates, RESIDENT_BYTES, 0)) else {
            continue;
        };
        c.bench_function(&id, |bench| {
            bench.iter_custom(|iters| {
                let t0 = Instant::now();
                or_exit("create", creator.create(black_box(iters)));
                t0.elapsed()
            })
        });
    }
    let id = "create/lwc/1MiB";
    if available(id, time_lwc_creates(RESIDENT_BYTES, 0, 1)).is_some() {
        c.bench_function(id, |bench| {
            bench.iter_custom(|iters| {
                or_exit("lwc create", time_lwc_creates(RESIDENT_BYTES, 0, iters))
            })
        });
    }
}

criterion_group! { name = create; config = config(); targets = benches }
criterion_main!(create);
