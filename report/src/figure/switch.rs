//! The switch figure: one-way switch time per backend, same core and two cores side by side.

use super::source::{rows, Source};
use super::spec::{Axis, Datum, Figure, Mark, Panel, Reference, Scale, Series, SeriesStyle};
use crate::document::Point;
use crate::paper::{PaperReference, Rule, Statistic};
use model::unit::convert;
use model::{Param, Unit};

/// Backends in the order they are listed (rows), so every switch figure reads the same way:
/// lwC first, then what it is built from, then what it is compared with.
const ORDER: &[&str] = &[
    "lwc",
    "lwc-spin",
    "process-spin",
    "process-futex",
    "process-pipe",
    "thread-futex",
    "thread-condvar",
    "coroutine",
];

/// Placements in the order of the panels.
const PLACEMENTS: &[&str] = &["same-core", "two-cores"];

fn placement(p: &Point) -> String {
    match p.id.params.get("cores") {
        Some(Param::Text(c)) => c.clone(),
        Some(other) => other.to_string(),
        None => "-".to_owned(),
    }
}

/// The switch figure, or `None` when no source has a measured switch point.
pub fn figure(sources: &[Source<'_>], paper: Option<&PaperReference>) -> Option<Figure> {
    let points = rows(sources, "switch", &Unit::Ns);
    if points.is_empty() {
        return None;
    }
    let mut backends: Vec<String> = points.iter().map(|r| r.point.id.backend.clone()).collect();
    backends.sort_by_key(|b| {
        (
            ORDER.iter().position(|o| o == b).unwrap_or(ORDER.len()),
            b.clone(),
        )
    });
    backends.dedup();
    let mut placements: Vec<String> = points.iter().map(|r| placement(r.point)).collect();
    placements.sort_by_key(|c| {
        (
            PLACEMENTS
                .iter()
                .position(|o| o == c)
                .unwrap_or(PLACEMENTS.len()),
            c.clone(),
        )
    });
    placements.dedup();
    let many = sources.len() > 1;
    // Several machines: their points of one backend sit a little apart inside its row.
    let offset = |machine: usize| {
        if many {
            (machine as f64 - (sources.len() as f64 - 1.0) / 2.0) * (0.6 / sources.len() as f64)
        } else {
            0.0
        }
    };
    let panels = placements
        .iter()
        .map(|cores| {
            let mut series = Vec::new();
            for (i, backend) in backends.iter().enumerate() {
                for s in sources {
                    let data: Vec<Datum> = points
                        .iter()
                        .filter(|r| {
                            r.source == s.index
                                && &r.point.id.backend == backend
                                && &placement(r.point) == cores
                        })
                        .map(|r| Datum {
                            x: r.value,
                            y: i as f64 + offset(s.index),
                            x_band: r.ci,
                            y_band: None,
                        })
                        .collect();
                    if data.is_empty() {
                        continue;
                    }
                    series.push(Series {
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
            Panel {
                title: match cores.as_str() {
                    "same-core" => "Same core: both parties pinned to one CPU".to_owned(),
                    "two-cores" => "Two cores: one CPU each".to_owned(),
                    other => format!("cores={other}"),
                },
                x: Axis {
                    label: "time per one-way switch (log scale)".to_owned(),
                    unit: "ns".to_owned(),
                    scale: Scale::Log { base: 10.0 },
                    categories: Vec::new(),
                },
                y: Axis {
                    label: "backend".to_owned(),
                    unit: String::new(),
                    scale: Scale::Linear,
                    categories: backends.clone(),
                },
                references: paper
                    .map(|p| references(p, cores, &backends))
                    .unwrap_or_default(),
                series,
            }
        })
        .collect();
    let title = if many {
        "One-way switch: lwC against processes, threads and coroutines, by machine".to_owned()
    } else {
        format!(
            "One-way switch: lwC against processes, threads and coroutines ({})",
            sources[0].machine
        )
    };
    Some(Figure {
        id: "switch".to_owned(),
        title,
        panels,
        notes: vec![
            "Each point is the median over runs (every run a fresh worker process); the bar is \
             the 95% confidence interval of that median."
                .to_owned(),
            "◇ marks the paper's number (2 × Xeon X5650, FreeBSD 11.0; unverified). The lwC row \
             has two: 2.01 µs read as a one-way switch, and half of it, if 2.01 µs was a round \
             trip."
                .to_owned(),
        ],
        width: 1200,
        panel_height: 420,
        share_x: true,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}

/// The paper's numbers for the rows of one placement, with every reading of each.
fn references(paper: &PaperReference, cores: &str, backends: &[String]) -> Vec<Reference> {
    let mut out = Vec::new();
    for claim in &paper.claims {
        let (Some(Rule::Absolute { of, .. }), Some(value)) = (&claim.judge, &claim.paper) else {
            continue;
        };
        if of.experiment != "switch" || of.statistic != Statistic::P50 {
            continue;
        }
        if of
            .params
            .get("cores")
            .is_some_and(|c| c != &Param::Text(cores.to_owned()))
        {
            continue;
        }
        let Some(row) = backends.iter().position(|b| b == &of.backend) else {
            continue;
        };
        let Some(ns) = convert(value.value, &Unit::parse(&value.unit), &Unit::Ns) else {
            continue;
        };
        let scales: Vec<f64> = if value.readings.is_empty() {
            vec![1.0]
        } else {
            value.readings.iter().map(|r| r.scale).collect()
        };
        for scale in scales {
            out.push(Reference {
                label: "paper (2 × Xeon X5650, FreeBSD 11.0)".to_owned(),
                at: Mark::Point {
                    x: ns * scale,
                    y: row as f64,
                },
            });
        }
    }
    out
}
