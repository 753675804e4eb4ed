//! Snapshot tests of the Markdown exporter: plain expected strings.
//!
//! On a deliberate change of the output, run the test, check the text printed under `--- got ---`
//! and paste it here.

use crate::common::sample;
use report::{MarkdownExporter, PaperReference};

fn check(got: &str, expected: &str) {
    assert_eq!(
        got, expected,
        "\n--- got ---\n{got}\n--- expected ---\n{expected}"
    );
}

#[test]
fn markdown_without_paper() {
    let md = MarkdownExporter::default().render(&sample());
    check(&md, WITHOUT_PAPER);
}

#[test]
fn markdown_with_paper() {
    let paper = PaperReference::bundled().expect("paper");
    let md = MarkdownExporter::with_paper(paper).render(&sample());
    check(&md, WITH_PAPER);
}

const WITHOUT_PAPER: &str = r#"# lwcbench results

Setting `quick`, started 2025-01-01T00:00:00Z. Test CPU, 2 logical CPUs, Linux 6.18.0, virtual machine, lwcbench 0.1.0.

Warnings:

- running in a virtual machine

## switch

ping-pong between two contexts

Sample: one-way switch.

| params          | backend      |     p50 |           95% CI of p50 |     p90 |     p99 | runs | × fastest | paper |
| --------------- | ------------ | ------: | ----------------------: | ------: | ------: | ---: | --------: | ----: |
| cores=same-core | coroutine    | 20.0 ns | 19.6 ns – 20.4 ns (75%) | 22.0 ns | 30.0 ns |  3/3 |      1.00 |       |
| cores=same-core | process-pipe | 2.50 µs | 2.45 µs – 2.55 µs (75%) | 2.75 µs | 3.75 µs |  3/3 |       125 |       |
| cores=same-core | lwc          |  failed |                         |         |         |  0/3 |           |       |

- `lwc` cores=same-core failed: worker exited with signal 6 (SIGABRT)

## create

create + first switch + discard

Sample: create + first switch + discard.

| params            | backend |    p50 |          95% CI of p50 |    p90 |    p99 | runs | × fastest | paper |
| ----------------- | ------- | -----: | ---------------------: | -----: | -----: | ---: | --------: | ----: |
| pages_written=0   | lwc     | 100 µs | 98.0 µs – 102 µs (75%) | 110 µs | 150 µs |  3/3 |      1.00 |       |
| pages_written=16  | lwc     | 132 µs |  129 µs – 135 µs (75%) | 145 µs | 198 µs |  3/3 |      1.00 |       |
| pages_written=256 | lwc     | 612 µs |  600 µs – 624 µs (75%) | 673 µs | 918 µs |  3/3 |      1.00 |       |
"#;

const WITH_PAPER: &str = r#"# lwcbench results

Setting `quick`, started 2025-01-01T00:00:00Z. Test CPU, 2 logical CPUs, Linux 6.18.0, virtual machine, lwcbench 0.1.0.

Warnings:

- running in a virtual machine

## switch

ping-pong between two contexts

Sample: one-way switch.

| params          | backend      |     p50 |           95% CI of p50 |     p90 |     p99 | runs | × fastest |   paper |
| --------------- | ------------ | ------: | ----------------------: | ------: | ------: | ---: | --------: | ------: |
| cores=same-core | coroutine    | 20.0 ns | 19.6 ns – 20.4 ns (75%) | 22.0 ns | 30.0 ns |  3/3 |      1.00 | 1.71 µs |
| cores=same-core | process-pipe | 2.50 µs | 2.45 µs – 2.55 µs (75%) | 2.75 µs | 3.75 µs |  3/3 |       125 | 4.25 µs |
| cores=same-core | lwc          |  failed |                         |         |         |  0/3 |           |         |

- `lwc` cores=same-core failed: worker exited with signal 6 (SIGABRT)

## create

create + first switch + discard

Sample: create + first switch + discard.

| params            | backend |    p50 |          95% CI of p50 |    p90 |    p99 | runs | × fastest | paper |
| ----------------- | ------- | -----: | ---------------------: | -----: | -----: | ---: | --------: | ----: |
| pages_written=0   | lwc     | 100 µs | 98.0 µs – 102 µs (75%) | 110 µs | 150 µs |  3/3 |      1.00 |       |
| pages_written=16  | lwc     | 132 µs |  129 µs – 135 µs (75%) | 145 µs | 198 µs |  3/3 |      1.00 |       |
| pages_written=256 | lwc     | 612 µs |  600 µs – 624 µs (75%) | 673 µs | 918 µs |  3/3 |      1.00 |       |

## Claims of the paper

*Light-Weight Contexts: An OS Abstraction for Safety and Performance*, OSDI '16 (12th USENIX Symposium on Operating Systems Design and Implementation), 2016; measured on 2 × Intel Xeon X5650 (2.66 GHz, 6 cores each), SMT off, frequency scaling off, FreeBSD 11.0 with lwCs in the kernel. A number marked † is unverified (only a source known to misstate results gives it); ~ marks a number read from a plot or given as approximate.

| claim                                                                                                   | paper                                                                                                                                                             |    ours | verdict          | why                                                                                                                             |
| ------------------------------------------------------------------------------------------------------- | ----------------------------------------------------------------------------------------------------------------------------------------------------------------- | ------: | ---------------- | ------------------------------------------------------------------------------------------------------------------------------- |
| An lwC switch is about 2× faster than a process switch through a kernel semaphore                       | 2× faster                                                                                                                                                         |       - | not measured yet | the lwc, cores=same-core point failed: worker exited with signal 6 (SIGABRT)                                                    |
| lwC switch time                                                                                         | 2.01 µs † (one-way or round trip)                                                                                                                                 |       - | not measured yet | the lwc, cores=same-core point failed: worker exited with signal 6 (SIGABRT)                                                    |
| Process switch time (pipe ping-pong, the lmbench baseline)                                              | 4.25 µs †                                                                                                                                                         | 2.50 µs | not reproduced   | ours 2.50 µs (process-pipe, cores=same-core) is 0.588× the paper's 4.25 µs, beyond 1.50× either way                             |
| Kernel-thread switch time                                                                               | 4.12 µs †                                                                                                                                                         |       - | not measured yet | no thread-futex, cores=same-core point in this result                                                                           |
| User-level thread switch time                                                                           | 1.71 µs †                                                                                                                                                         | 20.0 ns | not reproduced   | ours 20.0 ns (coroutine, cores=same-core) is 0.0117× the paper's 1.71 µs, beyond 1.50× either way                               |
| lwC create + immediate destroy                                                                          | 87.7 µs ≈ 233k cycles                                                                                                                                             |  100 µs | reproduced       | ours 100 µs (lwc; least squares over pages_written, 3 points, r² 1.000) is 1.14× the paper's 87.7 µs: within 1.50× either way   |
| Extra cost of creation per copy-on-write fault                                                          | ~3.00 µs †                                                                                                                                                        | 2.00 µs | reproduced       | ours 2.00 µs (lwc; least squares over pages_written, 3 points, r² 1.000) is 0.667× the paper's 3.00 µs: within 1.50× either way |
| lwC creation cost does not depend on the parent's memory size                                           | independent of memory size †                                                                                                                                      |   1.00× | reproduced       | ours 1.00× (lwc, pages_written=0 over lwc, pages_written=0) against the paper's ~1.00×: at most 1.50× counts as reproduced      |
| lwC creation against fork()                                                                             | no number                                                                                                                                                         |       - | not measured yet | no fork, pages_written=0 point in this result                                                                                   |
| Cost of TLB refills after a switch, with and without tagged TLBs (PCID)                                 | no number                                                                                                                                                         |       - | not measured yet | the tlb experiment is not built yet                                                                                             |
| Memory per lwC is proportional to the memory exclusive to the lwC                                       | proportional to exclusive memory, no number                                                                                                                       |       - | not measured yet | the scale experiment is not built yet                                                                                           |
| nginx with one lwC per connection has lower throughput than unmodified nginx at short sessions          | up to 22% lower at 4-request sessions, ~6% lower at 16                                                                                                            |       - | not measured yet | the web experiment is not built yet                                                                                             |
| nginx with lwCs at 256-request sessions as clients grow                                                 | no significant difference up to ~6,500 clients, then up to 19% (45 B) and 10% (900 B) lower at up to ~19,500 clients; peak ~180k req/s (45 B), ~95k req/s (900 B) |       - | not measured yet | the web experiment is not built yet                                                                                             |
| nginx with the lwC reference monitor                                                                    | "minimal" overhead †                                                                                                                                              |       - | not measured yet | the web experiment is not built yet                                                                                             |
| Apache rolled back per session by lwC snapshots (MPM forksnap) against stock prefork, at short sessions | ≥80% lower throughput at short sessions, ~16% lower at 16 requests, better at 256                                                                                 |       - | not measured yet | the rollback experiment is not built yet                                                                                        |
| Apache with MPM forksnap against stock prefork, at 16-request sessions                                  | ~16% lower throughput at 16-request sessions                                                                                                                      |       - | not measured yet | the rollback experiment is not built yet                                                                                        |
| Apache with MPM forksnap against stock prefork, at 256-request sessions                                 | better than stock prefork at 256-request sessions                                                                                                                 |       - | not measured yet | the rollback experiment is not built yet                                                                                        |
| lwCs isolate sessions with less overhead than process-based privilege separation                        | lower overhead than process-based privilege separation                                                                                                            |       - | not measured yet | the rollback experiment is not built yet                                                                                        |
| PHP (Zend framework app, PHP-FPM) restarted from a snapshot taken after start-up                        | 2.7× throughput without opcode cache, 1.3× with it                                                                                                                |       - | not measured yet | the rollback experiment is not built yet                                                                                        |
| OpenSSL private key in a signing lwC inside nginx (24 concurrent clients, 10,000 handshakes)            | ~0.6% lower throughput                                                                                                                                            |       - | not measured yet | the crypto experiment is not built yet                                                                                          |
| Reference monitor trapping open/read/write, against inlined checks and a multi-process Capsicum variant | inlined checks cheapest; interposition pays for short calls and wins for large reads/writes thanks to the mask                                                    |       - | not measured yet | the monitor experiment is not built yet                                                                                         |
| A trapped call costs relatively less as the call grows (64 KiB read)                                    | interposition wins for large reads thanks to the mask (no number)                                                                                                 |       - | not measured yet | the monitor experiment is not built yet                                                                                         |
| lwC SYSTRAP against a raw seccomp user-notification supervisor (its kernel floor)                       | no number                                                                                                                                                         |       - | not measured yet | the monitor experiment is not built yet                                                                                         |
| lwC SYSTRAP against a ptrace tracer (PTRACE_O_TRACESECCOMP)                                             | no number                                                                                                                                                         |       - | not measured yet | the monitor experiment is not built yet                                                                                         |
"#;
