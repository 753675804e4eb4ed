//! The rollback figure: what returning a handler to its pristine state after every session
//! costs, by strategy.
//!
//! Panels: sessions/s against the session length; the same relative to `none` (stock prefork),
//! with the paper's Apache marks (MPM forksnap against prefork); rollback latency (median, and
//! p99 dashed) against the session length; and, where the result sweeps them (the full
//! setting), rollback latency against the state size and against the pages written per request.

use super::source::{metric_rows, Row, Source};
use super::spec::{Axis, Datum, Figure, Mark, Panel, Reference, Scale, Series, SeriesStyle};
use crate::document::Point;
use crate::paper::PaperReference;
use model::{Param, Unit};
use std::collections::BTreeMap;

const EXPERIMENT: &str = "rollback";
const SESSIONS: &str = "sessions";
const ROLLBACK: &str = "rollback";
const S: &str = "requests_per_session";
const PAGES: &str = "pages_per_request";
const STATE: &str = "state_bytes";
/// The baseline of the relative panel: reusing the dirty state.
const NONE: &str = "none";
/// Strategies in legend order: the upper bound, then from cheapest to dearest rollback.
const ORDER: &[&str] = &[
    "none",
    "lwc-inplace",
    "lwc-pool",
    "lwc-snapshot",
    "fork",
    "reinit",
];
/// The paper's Apache claims, by session length: forksnap over prefork.
const APACHE: &[(&str, f64)] = &[
    ("rollback.apache", 1.0),
    ("rollback.apache.16", 16.0),
    ("rollback.apache.256", 256.0),
];

fn int(p: &Point, name: &str) -> Option<i64> {
    match p.id.params.get(name) {
        Some(Param::Int(v)) => Some(*v),
        _ => None,
    }
}

/// The most frequent value of `name` among `rows` (the sweep's centre lies on every axis);
/// ties go to the smaller value.
fn centre(rows: &[Row<'_>], name: &str) -> Option<i64> {
    let mut count: BTreeMap<i64, usize> = BTreeMap::new();
    for r in rows {
        if let Some(v) = int(r.point, name) {
            *count.entry(v).or_default() += 1;
        }
    }
    let most = count.values().copied().max()?;
    count.into_iter().find(|(_, n)| *n == most).map(|(v, _)| v)
}

/// The rows on the axis of `x`: every other parameter at its centre.
fn on_axis<'r, 'a>(
    rows: &'r [Row<'a>],
    x: &str,
    centres: &[(&str, Option<i64>)],
) -> Vec<&'r Row<'a>> {
    rows.iter()
        .filter(|r| {
            centres
                .iter()
                .filter(|(name, _)| *name != x)
                .all(|(name, c)| int(r.point, name) == *c)
        })
        .collect()
}

/// One series per backend and source, from `rows` on the axis of `x`, `y` from `value`.
fn series_of(
    rows: &[&Row<'_>],
    backends: &[String],
    sources: &[Source<'_>],
    x: &str,
    style: SeriesStyle,
    suffix: &str,
    value: impl Fn(&Row<'_>) -> Option<(f64, Option<(f64, f64)>)>,
) -> Vec<Series> {
    let many = sources.len() > 1;
    let mut out = Vec::new();
    for backend in backends {
        for s in sources {
            let mut data: Vec<Datum> = rows
                .iter()
                .filter(|r| r.source == s.index && &r.point.id.backend == backend)
                .filter_map(|r| {
                    let (y, band) = value(r)?;
                    Some(Datum {
                        x: int(r.point, x)? as f64,
                        y,
                        x_band: None,
                        y_band: band,
                    })
                })
                .collect();
            if data.is_empty() {
                continue;
            }
            data.sort_by(|a, b| a.x.total_cmp(&b.x));
            let machine = if many {
                format!(" · {}", s.machine)
            } else {
                String::new()
            };
            out.push(Series {
                label: format!("{backend}{suffix}{machine}"),
                backend: backend.clone(),
                machine: s.index,
                points: data,
                style,
            });
        }
    }
    out
}

fn axis(label: &str, unit: &str, base: f64) -> Axis {
    Axis {
        label: label.to_owned(),
        unit: unit.to_owned(),
        scale: Scale::Log { base },
        categories: Vec::new(),
    }
}

/// The rollback figure, or `None` when no source has a measured rollback point.
pub fn figure(sources: &[Source<'_>], paper: Option<&PaperReference>) -> Option<Figure> {
    let sessions = metric_rows(
        sources,
        EXPERIMENT,
        Some(SESSIONS),
        &Unit::per_second("sessions"),
    );
    if sessions.is_empty() {
        return None;
    }
    let latency = metric_rows(sources, EXPERIMENT, Some(ROLLBACK), &Unit::Us);
    let mut backends: Vec<String> = sessions
        .iter()
        .map(|r| r.point.id.backend.clone())
        .collect();
    backends.sort_by_key(|b| {
        (
            ORDER.iter().position(|o| o == b).unwrap_or(ORDER.len()),
            b.clone(),
        )
    });
    backends.dedup();
    let centres = [
        (S, centre(&sessions, S)),
        (PAGES, centre(&sessions, PAGES)),
        (STATE, centre(&sessions, STATE)),
    ];
    let shown = |name: &str| {
        let v = centres
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v);
        match (name, v) {
            (_, None) => "-".to_owned(),
            (STATE, Some(b)) => super::draw::tick_text(b as f64, "bytes"),
            (_, Some(v)) => v.to_string(),
        }
    };
    let s_axis = axis("requests per session (log scale)", "", 2.0);
    let per_s = axis("sessions/s (log scale)", "", 10.0);
    let us = axis("µs from session end to ready (log scale)", "us", 10.0);
    let by_s = on_axis(&sessions, S, &centres);
    let lat_by_s = on_axis(&latency, S, &centres);
    let fixed = format!("{} pages/request, {} state", shown(PAGES), shown(STATE));

    let mut panels = vec![Panel {
        title: format!("Throughput ({fixed})"),
        x: s_axis.clone(),
        y: per_s,
        series: series_of(&by_s, &backends, sources, S, SeriesStyle::Line, "", |r| {
            Some((r.value, r.ci))
        }),
        references: Vec::new(),
    }];

    // Relative to `none` of the same source and shape.
    let none_of = |r: &Row<'_>| {
        sessions
            .iter()
            .find(|n| {
                n.source == r.source
                    && n.point.id.backend == NONE
                    && n.point.id.params == r.point.id.params
            })
            .map(|n| n.value)
            .filter(|v| *v > 0.0)
    };
    let relative = series_of(&by_s, &backends, sources, S, SeriesStyle::Line, "", |r| {
        let base = none_of(r)?;
        Some((r.value / base, r.ci.map(|(lo, hi)| (lo / base, hi / base))))
    });
    let apache: Vec<Reference> = APACHE
        .iter()
        .filter_map(|(id, x)| {
            let c = paper?.claims.iter().find(|c| c.id == *id)?;
            let v = c.paper.as_ref()?;
            Some(Reference {
                label: format!(
                    "paper, S={x}: Apache forksnap / prefork {}",
                    c.paper_shown()
                ),
                at: Mark::Point { x: *x, y: v.value },
            })
        })
        .collect();
    if !relative.is_empty() {
        panels.push(Panel {
            title: "Throughput relative to none (stock prefork)".to_owned(),
            x: s_axis.clone(),
            y: axis("sessions/s over none's (log scale)", "", 10.0),
            series: relative,
            references: apache,
        });
    }

    let mut by_s_latency = series_of(
        &lat_by_s,
        &backends,
        sources,
        S,
        SeriesStyle::Line,
        "",
        |r| Some((r.value, r.ci)),
    );
    by_s_latency.extend(series_of(
        &lat_by_s,
        &backends,
        sources,
        S,
        SeriesStyle::Dashed,
        " p99",
        |r| Some((r.p99?, None)),
    ));
    if !by_s_latency.is_empty() {
        panels.push(Panel {
            title: "Rollback latency: median, p99 dashed".to_owned(),
            x: s_axis,
            y: us.clone(),
            series: by_s_latency,
            references: Vec::new(),
        });
    }
    for (x, label, base, unit) in [
        (STATE, "state built at start-up (log scale)", 4.0, "bytes"),
        (PAGES, "pages written per request (0 drawn at 1/2)", 2.0, ""),
    ] {
        let rows = on_axis(&latency, x, &centres);
        let distinct: std::collections::BTreeSet<i64> =
            rows.iter().filter_map(|r| int(r.point, x)).collect();
        if distinct.len() < 2 {
            continue;
        }
        let mut series = series_of(&rows, &backends, sources, x, SeriesStyle::Line, "", |r| {
            Some((r.value, r.ci))
        });
        // A log axis has no 0: no page written sits at one half.
        for s in &mut series {
            for d in &mut s.points {
                if d.x <= 0.0 {
                    d.x = 0.5;
                }
            }
        }
        panels.push(Panel {
            title: format!(
                "Rollback latency against {} (S = {})",
                if x == STATE {
                    "state size"
                } else {
                    "pages written"
                },
                shown(S)
            ),
            x: axis(label, unit, base),
            y: us.clone(),
            series,
            references: Vec::new(),
        });
    }
    let many = sources.len() > 1;
    let title = if many {
        "Returning to a pristine state after every session, by strategy and machine".to_owned()
    } else {
        format!(
            "Returning to a pristine state after every session, by strategy ({})",
            sources[0].machine
        )
    };
    Some(Figure {
        id: EXPERIMENT.to_owned(),
        title,
        width: 440 * panels.len() as u32,
        panels,
        notes: vec![
            "A handler with a costly start-up state serves sessions of S requests; between \
             sessions it returns to its pristine state (reinit: rebuild; fork: a fresh worker \
             forked from a pristine parent; lwc-snapshot, lwc-pool, lwc-inplace: lwC \
             rollback; none: reuse the dirty state, the unsafe upper bound). Driver and handler \
             share one CPU: sessions/s is the throughput at saturation."
                .to_owned(),
            "Medians over runs; bands are the 95% confidence interval of the median (relative: \
             divided by none's median). Rollback latency is the time from a session's end to \
             the handler ready again; its p99 is over every session of every run."
                .to_owned(),
            "The paper's marks (◇) are Apache with MPM forksnap over stock prefork, read from \
             its plots; its PHP result (2.7× over restarting without snapshots) is in the \
             claims table."
                .to_owned(),
        ],
        panel_height: 440,
        share_x: false,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}
