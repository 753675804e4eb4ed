//! The create figure: µs per create against the parent's memory, and against the pages written
//! after create with the fitted fixed cost and per-fault slope.

use super::source::{ordered_backends, rows, Source};
use super::spec::{Axis, Datum, Figure, Mark, Panel, Reference, Scale, Series, SeriesStyle};
use crate::paper::PaperReference;
use model::stats::least_squares;
use model::unit::human;
use model::Unit;

const RESIDENT: &str = "resident_bytes";
const PAGES: &str = "pages_written";
/// Backends whose cost follows pages written (copy-on-write): the fit panel shows these.
const COW: &[&str] = &["lwc", "fork"];
const ORDER: &[&str] = &["lwc", "fork", "spawn", "thread"];

/// The create figure, or `None` when no source has a measured create point.
pub fn figure(sources: &[Source<'_>], paper: Option<&PaperReference>) -> Option<Figure> {
    let rows = rows(sources, "create", &Unit::Us);
    if rows.is_empty() {
        return None;
    }
    let backends = ordered_backends(&rows, ORDER);
    let many = sources.len() > 1;
    let label = |backend: &str, source: usize, extra: &str| {
        let machine = if many {
            format!(" · {}", sources[source].machine)
        } else {
            String::new()
        };
        format!("{backend}{extra}{machine}")
    };
    let min_pages = rows.iter().filter_map(|r| r.point.int_param(PAGES)).min();
    let min_resident = rows
        .iter()
        .filter_map(|r| r.point.int_param(RESIDENT))
        .min();

    // Panel 1: nothing written after create, against parent memory.
    let mut memory = Vec::new();
    for backend in &backends {
        for s in sources {
            let mut data: Vec<Datum> = rows
                .iter()
                .filter(|r| {
                    r.source == s.index
                        && &r.point.id.backend == backend
                        && r.point.int_param(PAGES) == min_pages
                })
                .filter_map(|r| {
                    Some(Datum {
                        x: r.point.int_param(RESIDENT)? as f64,
                        y: r.value,
                        x_band: None,
                        y_band: r.ci,
                    })
                })
                .collect();
            data.sort_by(|a, b| a.x.total_cmp(&b.x));
            if !data.is_empty() {
                memory.push(Series {
                    label: label(backend, s.index, ""),
                    backend: backend.clone(),
                    machine: s.index,
                    points: data,
                    style: SeriesStyle::Line,
                });
            }
        }
    }
    let paper_fixed = paper.and_then(|p| p.claims.iter().find(|c| c.id == "create.lwc"));
    let paper_slope = paper.and_then(|p| p.claims.iter().find(|c| c.id == "create.per_cow_fault"));
    let fixed_us = paper_fixed.and_then(|c| c.paper.as_ref()).map(|v| v.value);
    let slope_us = paper_slope.and_then(|c| c.paper.as_ref()).map(|v| v.value);
    let memory_refs: Vec<Reference> = fixed_us
        .map(|y| Reference {
            label: format!("paper: lwC create + destroy, {}", human(y, &Unit::Us)),
            at: Mark::HorizontalLine { y },
        })
        .into_iter()
        .collect();

    // Panel 2: pages written after create, at the smallest parent, with the fitted lines.
    let mut faults = Vec::new();
    let mut max_pages = 0.0_f64;
    for backend in backends.iter().filter(|b| COW.contains(&b.as_str())) {
        for s in sources {
            let mut data: Vec<Datum> = rows
                .iter()
                .filter(|r| {
                    r.source == s.index
                        && &r.point.id.backend == backend
                        && r.point.int_param(RESIDENT) == min_resident
                })
                .filter_map(|r| {
                    Some(Datum {
                        x: r.point.int_param(PAGES)? as f64,
                        y: r.value,
                        x_band: None,
                        y_band: r.ci,
                    })
                })
                .collect();
            data.sort_by(|a, b| a.x.total_cmp(&b.x));
            if data.is_empty() {
                continue;
            }
            let xy: Vec<(f64, f64)> = data.iter().map(|d| (d.x, d.y)).collect();
            let first = data[0].x;
            let last = data[data.len() - 1].x;
            max_pages = max_pages.max(last);
            faults.push(Series {
                label: label(backend, s.index, ""),
                backend: backend.clone(),
                machine: s.index,
                points: data,
                style: SeriesStyle::Markers,
            });
            if let Some(line) = least_squares(&xy) {
                faults.push(Series {
                    label: label(
                        backend,
                        s.index,
                        &format!(
                            " fit: {} + {} per page",
                            human(line.intercept, &Unit::Us),
                            human(line.slope, &Unit::Us)
                        ),
                    ),
                    backend: backend.clone(),
                    machine: s.index,
                    points: vec![
                        Datum::at(first, line.intercept + line.slope * first),
                        Datum::at(last, line.intercept + line.slope * last),
                    ],
                    style: SeriesStyle::Dashed,
                });
            }
        }
    }
    let fault_refs: Vec<Reference> = match (fixed_us, slope_us) {
        (Some(fixed), Some(slope)) if max_pages > 0.0 => vec![Reference {
            label: format!(
                "paper: {} + ~{} per fault (unverified)",
                human(fixed, &Unit::Us),
                human(slope, &Unit::Us)
            ),
            at: Mark::Line {
                from: (0.0, fixed),
                to: (max_pages, fixed + slope * max_pages),
            },
        }],
        _ => Vec::new(),
    };
    let us_axis = Axis {
        label: "µs per create (log scale)".to_owned(),
        unit: "us".to_owned(),
        scale: Scale::Log { base: 10.0 },
        categories: Vec::new(),
    };
    let resident = min_resident.map_or_else(|| "-".to_owned(), |r| bytes(r as f64));
    let mut panels = vec![Panel {
        title: format!(
            "Parent memory ({} page{} written after create)",
            min_pages.unwrap_or(0),
            if min_pages == Some(1) { "" } else { "s" }
        ),
        x: Axis {
            label: "parent resident memory (log scale)".to_owned(),
            unit: "bytes".to_owned(),
            scale: Scale::Log { base: 2.0 },
            categories: Vec::new(),
        },
        y: us_axis.clone(),
        series: memory,
        references: memory_refs,
    }];
    if !faults.is_empty() {
        panels.push(Panel {
            title: format!(
                "Pages written after create ({resident} parent): fixed cost + per fault"
            ),
            x: Axis {
                label: "pages written by the child after create".to_owned(),
                unit: String::new(),
                scale: Scale::Linear,
                categories: Vec::new(),
            },
            y: us_axis,
            series: faults,
            references: fault_refs,
        });
    }
    let title = if many {
        "Creating an isolated context: lwC against fork, spawn and threads, by machine".to_owned()
    } else {
        format!(
            "Creating an isolated context: lwC against fork, spawn and threads ({})",
            sources[0].machine
        )
    };
    Some(Figure {
        id: "create".to_owned(),
        title,
        panels,
        notes: vec![
            "lwc: create + first switch + discard; fork: fork + exit + wait; spawn: posix_spawn \
             + wait; thread: create + join. Medians over runs; the band and bars are the 95% \
             confidence interval of the median."
                .to_owned(),
            "The dashed lines are least-squares fits of the median over pages written: the \
             intercept is the fixed cost, the slope the cost per copy-on-write fault."
                .to_owned(),
        ],
        width: 1200,
        panel_height: 440,
        share_x: false,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}

fn bytes(v: f64) -> String {
    super::draw::tick_text(v, "bytes")
}
