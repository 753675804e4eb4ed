//! The result files a report draws from, each with the machine label its series carry.

use crate::document::{Point, ResultDocument};
use model::unit::convert;
use model::Unit;

/// One result document and the label of its machine.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The document.
    pub doc: &'a ResultDocument,
    /// Index among the sources: picks the marker shape.
    pub index: usize,
    /// Short machine label (`AMD EPYC 9R14, Linux 6.18.0`), unique among the sources.
    pub machine: &'a str,
}

/// A short label for each document's machine; documents from the same machine get `#2`, `#3`
/// after the first so every series stays apart.
pub fn machine_labels(docs: &[ResultDocument]) -> Vec<String> {
    let plain: Vec<String> = docs.iter().map(machine_label).collect();
    plain
        .iter()
        .enumerate()
        .map(
            |(i, l)| match plain[..i].iter().filter(|p| *p == l).count() {
                0 => l.clone(),
                same => format!("{l} #{}", same + 1),
            },
        )
        .collect()
}

fn machine_label(doc: &ResultDocument) -> String {
    let m = &doc.machine;
    let cpu = m.cpu_model.as_deref().unwrap_or("unknown CPU");
    // "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz" -> "Intel Xeon Platinum 8375C".
    let cpu = cpu.split(" @ ").next().unwrap_or(cpu);
    let cpu: Vec<&str> = cpu
        .split_whitespace()
        .filter(|w| !matches!(*w, "CPU" | "Processor" | "processor"))
        .collect();
    let cpu = cpu.join(" ").replace("(R)", "").replace("(TM)", "");
    match &m.kernel_release {
        Some(k) => format!("{cpu}, Linux {}", k.split('-').next().unwrap_or(k)),
        None => cpu,
    }
}

/// The sources for `docs`, labelled.
pub fn sources<'a>(docs: &'a [ResultDocument], labels: &'a [String]) -> Vec<Source<'a>> {
    docs.iter()
        .zip(labels)
        .enumerate()
        .map(|(index, (doc, machine))| Source {
            doc,
            index,
            machine,
        })
        .collect()
}

/// A measured point of one source, its median and CI in the figure's unit.
pub(super) struct Row<'a> {
    /// Index of its source.
    pub source: usize,
    /// The point.
    pub point: &'a Point,
    /// Median, in the figure's unit.
    pub value: f64,
    /// 95% CI of the median, in the figure's unit.
    pub ci: Option<(f64, f64)>,
    /// The 99th percentile, in the figure's unit.
    pub p99: Option<f64>,
}

/// Every measured point of `experiment` in `sources`, its headline metric converted to `unit`;
/// unmeasured points and metrics whose unit does not convert are left out.
pub(super) fn rows<'a>(sources: &[Source<'a>], experiment: &str, unit: &Unit) -> Vec<Row<'a>> {
    metric_rows(sources, experiment, None, unit)
}

/// [`rows`] of the metric called `metric` (the headline when `None`).
pub(super) fn metric_rows<'a>(
    sources: &[Source<'a>],
    experiment: &str,
    metric: Option<&str>,
    unit: &Unit,
) -> Vec<Row<'a>> {
    let mut out = Vec::new();
    for s in sources {
        for point in s.doc.points().filter(|p| p.id.experiment == experiment) {
            if !point.status.measured() {
                continue;
            }
            let found = match metric {
                Some(name) => point.metric(name),
                None => point.headline(),
            };
            let Some(metric) = found else {
                continue;
            };
            let Some(summary) = &metric.summary else {
                continue;
            };
            let from = &metric.spec.unit;
            let Some(value) = convert(summary.p50, from, unit) else {
                continue;
            };
            let ci = summary
                .ci95
                .and_then(|ci| Some((convert(ci.low, from, unit)?, convert(ci.high, from, unit)?)));
            out.push(Row {
                source: s.index,
                point,
                value,
                ci,
                p99: convert(summary.p99, from, unit),
            });
        }
    }
    out
}

/// The backends of `rows`, once each, in the order of `order` (others after, by name).
pub(super) fn ordered_backends(rows: &[Row<'_>], order: &[&str]) -> Vec<String> {
    let mut backends: Vec<String> = rows.iter().map(|r| r.point.id.backend.clone()).collect();
    backends.sort_by_key(|b| {
        (
            order.iter().position(|o| o == b).unwrap_or(order.len()),
            b.clone(),
        )
    });
    backends.dedup();
    backends
}
