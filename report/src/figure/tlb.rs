//! The tlb figure: ns per switch against the pages the resumed context touches (4 KiB and
//! 2 MiB pages), and per hop around a ring of K contexts on one CPU, with the extra cost of
//! separate address spaces over threads per K (where the tagged TLB stops helping).

use super::source::{ordered_backends, rows, Row, Source};
use super::spec::{Axis, Datum, Figure, Panel, Scale, Series, SeriesStyle};
use crate::document::Point;
use model::Unit;

/// Backends in legend order: lwC, the process floor, the one-address-space baseline.
const ORDER: &[&str] = &["lwc", "process-futex", "thread-futex"];
/// The baseline of the extra-cost panel.
const THREADS: &str = "thread-futex";

/// The points of one source and backend, as (x, datum) sorted by x.
fn line(
    rows: &[Row<'_>],
    source: usize,
    backend: &str,
    keep: impl Fn(&Point) -> Option<f64>,
) -> Vec<Datum> {
    let mut data: Vec<Datum> = rows
        .iter()
        .filter(|r| r.source == source && r.point.id.backend == backend)
        .filter_map(|r| {
            Some(Datum {
                x: keep(r.point)?,
                y: r.value,
                x_band: None,
                y_band: r.ci,
            })
        })
        .collect();
    data.sort_by(|a, b| a.x.total_cmp(&b.x));
    data
}

fn ns_axis(label: &str, scale: Scale) -> Axis {
    Axis {
        label: label.to_owned(),
        unit: "ns".to_owned(),
        scale,
        categories: Vec::new(),
    }
}

/// The tlb figure, or `None` when no source has a measured tlb point.
pub fn figure(sources: &[Source<'_>]) -> Option<Figure> {
    let rows = rows(sources, "tlb", &Unit::Ns);
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
    let pages_of = |size: &'static str| {
        move |p: &Point| {
            (p.text_param("sweep") == Some("pages") && p.text_param("page_size") == Some(size))
                .then(|| p.int_param("pages").map(|w| w as f64))
                .flatten()
        }
    };
    let parties = |p: &Point| {
        (p.text_param("sweep") == Some("ring"))
            .then(|| p.int_param("parties").map(|k| k as f64))
            .flatten()
    };
    let ring_pages = rows
        .iter()
        .find(|r| r.point.text_param("sweep") == Some("ring"))
        .and_then(|r| r.point.int_param("pages"));

    let (mut by_w, mut by_k, mut extra) = (Vec::new(), Vec::new(), Vec::new());
    for backend in &backends {
        for s in sources {
            for (size, style, what) in [
                ("4k", SeriesStyle::Line, ""),
                ("2m", SeriesStyle::Markers, ", 2 MiB pages"),
            ] {
                let data = line(&rows, s.index, backend, pages_of(size));
                if !data.is_empty() {
                    by_w.push(Series {
                        label: label(backend, s.index, what),
                        backend: backend.clone(),
                        machine: s.index,
                        points: data,
                        style,
                    });
                }
            }
            let ring = line(&rows, s.index, backend, parties);
            if ring.is_empty() {
                continue;
            }
            if backend != THREADS {
                let base = line(&rows, s.index, THREADS, parties);
                let over: Vec<Datum> = ring
                    .iter()
                    .filter_map(|d| {
                        let b = base.iter().find(|b| b.x == d.x)?;
                        Some(Datum::at(d.x, d.y - b.y))
                    })
                    .collect();
                if !over.is_empty() {
                    extra.push(Series {
                        label: label(backend, s.index, " − threads"),
                        backend: backend.clone(),
                        machine: s.index,
                        points: over,
                        style: SeriesStyle::Line,
                    });
                }
            }
            by_k.push(Series {
                label: label(backend, s.index, ""),
                backend: backend.clone(),
                machine: s.index,
                points: ring,
                style: SeriesStyle::Line,
            });
        }
    }
    let k_axis = Axis {
        label: "contexts in the ring (K), all on one CPU".to_owned(),
        unit: String::new(),
        scale: Scale::Linear,
        categories: Vec::new(),
    };
    let per_hop = ring_pages.map_or_else(String::new, |w| format!(", {w} pages touched per hop"));
    let mut panels = Vec::new();
    if !by_w.is_empty() {
        panels.push(Panel {
            title: "Ping-pong: the resumed context touches W pages of its own".to_owned(),
            x: Axis {
                label: "pages touched after each switch (W, 4 KiB each; log scale)".to_owned(),
                unit: String::new(),
                scale: Scale::Log { base: 2.0 },
                categories: Vec::new(),
            },
            y: ns_axis(
                "ns per switch, touches included (log scale)",
                Scale::Log { base: 10.0 },
            ),
            series: by_w,
            references: Vec::new(),
        });
    }
    if !by_k.is_empty() {
        panels.push(Panel {
            title: format!("Ring of K contexts{per_hop}"),
            x: k_axis.clone(),
            y: ns_axis("ns per hop", Scale::Linear),
            series: by_k,
            references: Vec::new(),
        });
    }
    if !extra.is_empty() {
        panels.push(Panel {
            title: "Extra cost per hop of an address space per context, over threads".to_owned(),
            x: k_axis,
            y: ns_axis("ns per hop over thread-futex", Scale::Linear),
            series: extra,
            references: Vec::new(),
        });
    }
    if panels.is_empty() {
        return None;
    }
    let title = if many {
        "TLB refills after a switch: threads against processes and lwCs, by machine".to_owned()
    } else {
        format!(
            "TLB refills after a switch: threads against processes and lwCs ({})",
            sources[0].machine
        )
    };
    Some(Figure {
        id: "tlb".to_owned(),
        title,
        panels,
        notes: vec![
            "After every switch the resumed context writes one byte in each of its W pages. \
             Threads share one address space; processes and lwCs have one each, so their TLB \
             entries survive a switch only as far as the CPU's tagged TLB (PCID) keeps them. \
             Medians over runs; the band and bars are the 95% confidence interval of the median."
                .to_owned(),
            "The paper has no TLB measurement: no paper marks.".to_owned(),
        ],
        width: 1500,
        panel_height: 440,
        share_x: false,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}
