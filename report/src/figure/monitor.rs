//! The monitor figure: µs per sandboxed system call, per call and mechanism, and each over the
//! same call with no filter (`none`).

use super::source::{rows, Row, Source};
use super::spec::{Axis, Datum, Figure, Panel, Scale, Series, SeriesStyle};
use crate::document::Point;
use crate::paper::PaperReference;
use model::{Param, Unit};

/// Mechanisms in the order they are listed: lwC first, then its floor, then the others.
const ORDER: &[&str] = &[
    "lwc-systrap",
    "seccomp-unotify",
    "ptrace",
    "seccomp-bpf",
    "none",
];

/// Calls in the order of the rows.
const CALLS: &[&str] = &[
    "getppid",
    "open-allowed",
    "open-denied",
    "read-4k",
    "read-64k",
];

fn call(p: &Point) -> String {
    match p.id.params.get("call") {
        Some(Param::Text(c)) => c.clone(),
        Some(other) => other.to_string(),
        None => "-".to_owned(),
    }
}

fn ordered(mut names: Vec<String>, order: &[&str]) -> Vec<String> {
    names.sort_by_key(|n| {
        (
            order.iter().position(|o| o == n).unwrap_or(order.len()),
            n.clone(),
        )
    });
    names.dedup();
    names
}

/// The monitor figure, or `None` when no source has a measured monitor point. The paper has
/// no per-call number, so no reference is drawn.
pub fn figure(sources: &[Source<'_>], _paper: Option<&PaperReference>) -> Option<Figure> {
    let points = rows(sources, "monitor", &Unit::Us);
    if points.is_empty() {
        return None;
    }
    let backends = ordered(
        points.iter().map(|r| r.point.id.backend.clone()).collect(),
        ORDER,
    );
    let calls = ordered(points.iter().map(|r| call(r.point)).collect(), CALLS);
    let many = sources.len() > 1;
    // Each mechanism (and machine) sits a little apart inside its call's row.
    let slots = backends.len() * sources.len();
    let offset = |b: usize, machine: usize| {
        let slot = (b * sources.len() + machine) as f64;
        (slot - (slots as f64 - 1.0) / 2.0) * (0.7 / slots as f64)
    };
    let none_of = |source: usize, c: &str| {
        points
            .iter()
            .find(|r| r.source == source && r.point.id.backend == "none" && call(r.point) == c)
            .map(|r| r.value)
    };
    let series_of = |relative: bool| {
        let mut out = Vec::new();
        for (b, backend) in backends.iter().enumerate() {
            for s in sources {
                let mine = |r: &&Row<'_>| r.source == s.index && &r.point.id.backend == backend;
                let data: Vec<Datum> = points
                    .iter()
                    .filter(mine)
                    .filter_map(|r| {
                        let c = call(r.point);
                        let row = calls.iter().position(|x| x == &c)? as f64;
                        let (x, band) = if relative {
                            let base = none_of(s.index, &c).filter(|v| *v > 0.0)?;
                            (r.value / base, r.ci.map(|(l, h)| (l / base, h / base)))
                        } else {
                            (r.value, r.ci)
                        };
                        Some(Datum {
                            x,
                            y: row + offset(b, s.index),
                            x_band: band,
                            y_band: None,
                        })
                    })
                    .collect();
                if data.is_empty() {
                    continue;
                }
                out.push(Series {
                    label: if many {
                        format!("{backend} · {}", s.machine)
                    } else {
                        backend.clone()
                    },
                    backend: backend.clone(),
                    machine: s.index,
                    points: data,
                    style: SeriesStyle::Markers,
                });
            }
        }
        out
    };
    let rows_axis = Axis {
        label: "system call".to_owned(),
        unit: String::new(),
        scale: Scale::Linear,
        categories: calls.clone(),
    };
    let panels = vec![
        Panel {
            title: "Time per call, in the sandbox".to_owned(),
            x: Axis {
                label: "time per call (log scale; open: openat + close)".to_owned(),
                unit: "us".to_owned(),
                scale: Scale::Log { base: 10.0 },
                categories: Vec::new(),
            },
            y: rows_axis.clone(),
            series: series_of(false),
            references: Vec::new(),
        },
        Panel {
            title: "Over the same call with no filter (none = 1)".to_owned(),
            x: Axis {
                label: "× none (log scale)".to_owned(),
                unit: "ratio".to_owned(),
                scale: Scale::Log { base: 10.0 },
                categories: Vec::new(),
            },
            y: rows_axis,
            series: series_of(true),
            references: Vec::new(),
        },
    ];
    let what = "Reference monitor: time per sandboxed system call, by mechanism";
    Some(Figure {
        id: "monitor".to_owned(),
        title: if many {
            format!("{what}, by machine")
        } else {
            format!("{what} ({})", sources[0].machine)
        },
        panels,
        notes: vec![
            "Each point is the median over runs (every run a fresh worker process, all parties on \
             one CPU); the bar is the 95% confidence interval of that median. Right: the same \
             divided by the median of `none` for that call on that machine."
                .to_owned(),
            "One policy for all: read-only opens in one directory, reads and writes on the \
             sandbox's descriptors, the allocator's calls. seccomp-bpf cannot read a path, so \
             it lets every read-only open through: its open-denied row opens the file, as \
             none's does. The paper gives no per-call cost (only that interposition pays for \
             short calls and wins for large reads)."
                .to_owned(),
        ],
        width: 1200,
        panel_height: 420,
        share_x: false,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}
