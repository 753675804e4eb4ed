//! The web figure: the HTTP server's requests/s per isolation mode relative to `none` against
//! session length (the paper's nginx figure), with the paper's curve; absolute requests/s; and
//! the p99 latency the paper did not give.

use super::source::{rows, Row, Source};
use super::spec::{Axis, Datum, Figure, Mark, Panel, Reference, Scale, Series, SeriesStyle};
use crate::document::Point;
use crate::paper::PaperReference;
use model::unit::convert;
use model::{Param, Unit};

const ID: &str = "web";
/// Modes in legend order: the baseline, then lwC, then what lwC is compared with.
const ORDER: &[&str] = &[
    "none",
    "lwc",
    "lwc-monitor",
    "lwc-pool",
    "process",
    "thread",
];
/// Session lengths in axis order.
const SESSIONS: &[&str] = &["1", "4", "16", "64", "256", "inf"];
/// The paper's default concurrency and document size.
const PAPER_CONNECTIONS: i64 = 128;
const PAPER_BODY: i64 = 45;
/// The paper's nginx-with-lwCs curve relative to stock nginx, read from its plot (PAPER.md:
/// up to 22% lower at 4-request sessions, ~6% at 16, no significant difference at 256).
const PAPER_CURVE: &[(&str, f64)] = &[("4", 0.78), ("16", 0.94), ("256", 1.0)];

fn text(p: &Point, name: &str) -> Option<String> {
    match p.id.params.get(name) {
        Some(Param::Text(t)) => Some(t.clone()),
        Some(Param::Int(v)) => Some(v.to_string()),
        None => None,
    }
}

fn int(p: &Point, name: &str) -> Option<i64> {
    match p.id.params.get(name) {
        Some(Param::Int(v)) => Some(*v),
        _ => None,
    }
}

/// The closed-loop points of the session sweep: 128 connections and 45 B where measured, else
/// the largest concurrency and smallest body there are (a smoke run uses fewer connections).
fn sweep<'a>(all: &'a [Row<'a>]) -> (Vec<&'a Row<'a>>, i64, i64) {
    let closed: Vec<&Row> = all
        .iter()
        .filter(|r| text(r.point, "load").as_deref() == Some("closed"))
        .collect();
    let conns: Vec<i64> = closed
        .iter()
        .filter_map(|r| int(r.point, "connections"))
        .collect();
    let c = if conns.contains(&PAPER_CONNECTIONS) {
        PAPER_CONNECTIONS
    } else {
        conns.iter().copied().max().unwrap_or(0)
    };
    let bodies: Vec<i64> = closed
        .iter()
        .filter_map(|r| int(r.point, "body_bytes"))
        .collect();
    let b = if bodies.contains(&PAPER_BODY) {
        PAPER_BODY
    } else {
        bodies.iter().copied().min().unwrap_or(0)
    };
    let rows = closed
        .into_iter()
        .filter(|r| int(r.point, "connections") == Some(c) && int(r.point, "body_bytes") == Some(b))
        .collect();
    (rows, c, b)
}

/// Where a session length goes on the x axis (log base 4): its requests, `inf` at 1024.
fn category(session: &str) -> Option<f64> {
    match session {
        "inf" => Some(INF_AT),
        n => n.parse().ok(),
    }
}

/// The x position of `inf` (one connection for the whole run).
const INF_AT: f64 = 1024.0;

/// The p99 latency of a point in µs.
fn p99_us(p: &Point) -> Option<f64> {
    let m = p.metric("latency")?;
    convert(m.summary.as_ref()?.p99, &m.spec.unit, &Unit::Us)
}

/// The web figure, or `None` when no source has a measured web point.
pub fn figure(sources: &[Source<'_>], paper: Option<&PaperReference>) -> Option<Figure> {
    let all = rows(sources, ID, &Unit::per_second("req"));
    if all.is_empty() {
        return None;
    }
    let (rows, connections, body) = sweep(&all);
    if rows.is_empty() {
        return None;
    }
    let mut modes: Vec<String> = rows.iter().map(|r| r.point.id.backend.clone()).collect();
    modes.sort_by_key(|b| {
        (
            ORDER.iter().position(|o| o == b).unwrap_or(ORDER.len()),
            b.clone(),
        )
    });
    modes.dedup();
    let many = sources.len() > 1;
    let label = |mode: &str, source: usize| {
        if many {
            format!("{mode} · {}", sources[source].machine)
        } else {
            mode.to_owned()
        }
    };
    let find = |source: usize, mode: &str, session: &str| {
        rows.iter().find(|r| {
            r.source == source
                && r.point.id.backend == mode
                && text(r.point, "session").as_deref() == Some(session)
        })
    };
    let (mut relative, mut absolute, mut tails) = (Vec::new(), Vec::new(), Vec::new());
    for mode in &modes {
        for s in sources {
            let (mut rel, mut abs, mut p99) = (Vec::new(), Vec::new(), Vec::new());
            for session in SESSIONS {
                let (Some(x), Some(r)) = (category(session), find(s.index, mode, session)) else {
                    continue;
                };
                abs.push(Datum {
                    x,
                    y: r.value,
                    x_band: None,
                    y_band: r.ci,
                });
                if let Some(y) = p99_us(r.point) {
                    p99.push(Datum::at(x, y));
                }
                if let Some(base) = find(s.index, "none", session).filter(|b| b.value > 0.0) {
                    let band = match (r.ci, base.ci) {
                        (Some((lo, hi)), Some((blo, bhi))) if blo > 0.0 => {
                            Some((lo / bhi, hi / blo))
                        }
                        _ => None,
                    };
                    rel.push(Datum {
                        x,
                        y: r.value / base.value,
                        x_band: None,
                        y_band: band,
                    });
                }
            }
            for (data, out) in [
                (rel, &mut relative),
                (abs, &mut absolute),
                (p99, &mut tails),
            ] {
                if !data.is_empty() {
                    out.push(Series {
                        label: label(mode, s.index),
                        backend: mode.clone(),
                        machine: s.index,
                        points: data,
                        style: SeriesStyle::Line,
                    });
                }
            }
        }
    }
    let has_paper =
        paper.is_some_and(|p| p.claims.iter().any(|c| c.id == "web.nginx.short_sessions"));
    let references: Vec<Reference> = if has_paper {
        PAPER_CURVE
            .iter()
            .filter_map(|(session, y)| {
                Some(Reference {
                    label: "paper: nginx with an lwC per connection, over stock nginx (read from its plot)"
                        .to_owned(),
                    at: Mark::Point { x: category(session)?, y: *y },
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let x = Axis {
        label: "requests per session (log scale; 1024 stands for inf: one connection per client)"
            .to_owned(),
        unit: String::new(),
        scale: Scale::Log { base: 4.0 },
        categories: Vec::new(),
    };
    let mut panels = vec![
        Panel {
            title: format!("Requests/s relative to none ({connections} connections, {body} B)"),
            x: x.clone(),
            y: Axis {
                label: "requests/s over none's at the same point".to_owned(),
                unit: String::new(),
                scale: Scale::Log { base: 10.0 },
                categories: Vec::new(),
            },
            series: relative,
            references,
        },
        Panel {
            title: "Requests/s".to_owned(),
            x: x.clone(),
            y: Axis {
                label: "requests/s (log scale)".to_owned(),
                unit: "req/s".to_owned(),
                scale: Scale::Log { base: 10.0 },
                categories: Vec::new(),
            },
            series: absolute,
            references: Vec::new(),
        },
    ];
    if !tails.is_empty() {
        panels.push(Panel {
            title: "p99 latency (all runs' requests)".to_owned(),
            x,
            y: Axis {
                label: "µs (log scale)".to_owned(),
                unit: "us".to_owned(),
                scale: Scale::Log { base: 10.0 },
                categories: Vec::new(),
            },
            series: tails,
            references: Vec::new(),
        });
    }
    let title = if many {
        "Session isolation in an HTTP server, by machine".to_owned()
    } else {
        format!(
            "Session isolation in an HTTP server ({})",
            sources[0].machine
        )
    };
    Some(Figure {
        id: ID.to_owned(),
        title,
        panels,
        notes: vec![
            "One worker on one CPU, the load generator (closed loop) on another; medians over \
             runs, the band the 95% confidence interval of the median (of a ratio: from the two \
             intervals). The paper measured nginx over 1 Gbit Ethernet on other hardware; ours \
             is our server over loopback: compare the shapes."
                .to_owned(),
        ],
        width: 1500,
        panel_height: 440,
        share_x: true,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}
