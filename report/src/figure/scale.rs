//! The scale figure: memory per session (PSS), µs per create and ns per switch to a random
//! live session, against the number of live sessions N, per backend.

use super::source::{metric_rows, ordered_backends, Source};
use super::spec::{Axis, Datum, Figure, Panel, Scale, Series, SeriesStyle};
use model::{Param, Unit};

const ORDER: &[&str] = &["lwc", "process", "thread"];

/// The scale figure, or `None` when no source has a measured scale point.
pub fn figure(sources: &[Source<'_>]) -> Option<Figure> {
    let panels: Vec<Panel> = [
        (
            "pss",
            Unit::Bytes,
            "PSS per session (log scale)",
            "Memory per session",
        ),
        (
            "create",
            Unit::Us,
            "µs per create (log scale)",
            "Create + first switch",
        ),
        (
            "switch",
            Unit::Ns,
            "ns per one-way switch (log scale)",
            "Switch to a random live session",
        ),
    ]
    .into_iter()
    .filter_map(|(metric, unit, y_label, title)| panel(sources, metric, unit, y_label, title))
    .collect();
    if panels.is_empty() {
        return None;
    }
    let many = sources.len() > 1;
    let title = if many {
        "Many live sessions: lwCs against processes and threads, by machine".to_owned()
    } else {
        format!(
            "Many live sessions: lwCs against processes and threads ({})",
            sources[0].machine
        )
    };
    Some(Figure {
        id: "scale".to_owned(),
        title,
        panels,
        notes: vec![
            "Each session holds 64 KiB of state it wrote itself. PSS is each session process's \
             proportional set size (smaps_rollup), averaged; for threads, what the process grew \
             by, per thread. Medians over runs; the bars are the 95% confidence interval of the \
             median. The paper has no number for memory per lwC."
                .to_owned(),
        ],
        width: 1500,
        panel_height: 420,
        share_x: true,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}

fn panel(
    sources: &[Source<'_>],
    metric: &str,
    unit: Unit,
    y_label: &str,
    title: &str,
) -> Option<Panel> {
    let rows = metric_rows(sources, "scale", Some(metric), &unit);
    let backends = ordered_backends(&rows, ORDER);
    let many = sources.len() > 1;
    let mut series = Vec::new();
    for backend in &backends {
        for s in sources {
            let mut data: Vec<Datum> = rows
                .iter()
                .filter(|r| r.source == s.index && &r.point.id.backend == backend)
                .filter_map(|r| match r.point.id.params.get("sessions") {
                    Some(Param::Int(n)) => Some(Datum {
                        x: *n as f64,
                        y: r.value,
                        x_band: None,
                        y_band: r.ci,
                    }),
                    _ => None,
                })
                .collect();
            data.sort_by(|a, b| a.x.total_cmp(&b.x));
            if data.is_empty() {
                continue;
            }
            let machine = if many {
                format!(" · {}", s.machine)
            } else {
                String::new()
            };
            series.push(Series {
                label: format!("{backend}{machine}"),
                backend: backend.clone(),
                machine: s.index,
                points: data,
                style: SeriesStyle::Line,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    Some(Panel {
        title: title.to_owned(),
        x: Axis {
            label: "live sessions N (log scale)".to_owned(),
            unit: String::new(),
            scale: Scale::Log { base: 10.0 },
            categories: Vec::new(),
        },
        y: Axis {
            label: y_label.to_owned(),
            unit: unit.symbol(),
            scale: Scale::Log {
                base: if unit == Unit::Bytes { 2.0 } else { 10.0 },
            },
            categories: Vec::new(),
        },
        series,
        references: Vec::new(),
    })
}
