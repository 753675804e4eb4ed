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

## Beside the paper

*Light-Weight Contexts: An OS Abstraction for Safety and Performance*, OSDI '16 (12th USENIX Symposium on Operating Systems Design and Implementation), 2016; measured on 2 × Intel Xeon X5650, FreeBSD 11.0. Numbers not yet verified against the paper's PDF are marked †.

| claim                                      |      paper |    ours | ours / paper | from                                                 |
| ------------------------------------------ | ---------: | ------: | -----------: | ---------------------------------------------------- |
| lwC switch                                 |  2.01 µs † |       - |            - | not measured in this run                             |
| process switch                             |  4.25 µs † | 2.50 µs |        0.588 | cores=same-core                                      |
| kernel-thread switch                       |  4.12 µs † |       - |            - | not measured in this run                             |
| user-thread switch                         |  1.71 µs † | 20.0 ns |       0.0117 | cores=same-core                                      |
| lwC creation, no page written (fixed cost) |  87.7 µs † |  100 µs |         1.14 | least squares over pages_written, 3 points, r² 1.000 |
| lwC creation, extra cost per CoW fault     | ~3.00 µs † | 2.00 µs |        0.667 | least squares over pages_written, 3 points, r² 1.000 |
"#;
