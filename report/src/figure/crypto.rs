//! The crypto figure: full TLS handshakes/s per key home, one panel per key type and client
//! concurrency, with the paper's result (the signing lwC at ~0.6% below the key in the serving
//! process) drawn as a mark at 0.994 × our in-process median.

use super::source::{rows, Row, Source};
use super::spec::{Axis, Datum, Figure, Mark, Panel, Reference, Scale, Series, SeriesStyle};
use crate::document::Point;
use crate::paper::{PaperReference, Rule};
use model::{Param, Unit};

/// Key homes in row order: the usual, the paper's, then the comparisons.
const ORDER: &[&str] = &["in-process", "lwc", "process", "thread"];
/// Key types in panel order.
const KEYS: &[&str] = &["rsa2048", "p256"];

fn key(p: &Point) -> String {
    match p.id.params.get("key") {
        Some(Param::Text(k)) => k.clone(),
        Some(other) => other.to_string(),
        None => "-".to_owned(),
    }
}

fn conns(p: &Point) -> i64 {
    match p.id.params.get("conns") {
        Some(Param::Int(c)) => *c,
        _ => 0,
    }
}

/// The paper's ratio for the lwc home (`crypto.openssl`), when the reference has it.
fn paper_ratio(paper: Option<&PaperReference>) -> Option<f64> {
    let claim = paper?
        .claims
        .iter()
        .find(|c| c.experiment == "crypto" && matches!(c.judge, Some(Rule::Ratio { .. })))?;
    claim.paper.as_ref().map(|v| v.value)
}

/// The crypto figure, or `None` when no source has a measured crypto point.
pub fn figure(sources: &[Source<'_>], paper: Option<&PaperReference>) -> Option<Figure> {
    let points = rows(sources, "crypto", &Unit::per_second("handshakes"));
    if points.is_empty() {
        return None;
    }
    let mut homes: Vec<String> = points.iter().map(|r| r.point.id.backend.clone()).collect();
    homes.sort_by_key(|b| {
        (
            ORDER.iter().position(|o| o == b).unwrap_or(ORDER.len()),
            b.clone(),
        )
    });
    homes.dedup();
    let mut panels_of: Vec<(String, i64)> = points
        .iter()
        .map(|r| (key(r.point), conns(r.point)))
        .collect();
    panels_of.sort_by_key(|(k, c)| {
        (
            KEYS.iter().position(|o| o == k).unwrap_or(KEYS.len()),
            k.clone(),
            *c,
        )
    });
    panels_of.dedup();
    let many = sources.len() > 1;
    let offset = |machine: usize| {
        if many {
            (machine as f64 - (sources.len() as f64 - 1.0) / 2.0) * (0.6 / sources.len() as f64)
        } else {
            0.0
        }
    };
    let ratio = paper_ratio(paper);
    let panels = panels_of
        .iter()
        .map(|(k, c)| {
            let in_panel = |r: &&Row<'_>| key(r.point) == *k && conns(r.point) == *c;
            let mut series = Vec::new();
            let mut references = Vec::new();
            for (i, home) in homes.iter().enumerate() {
                for s in sources {
                    let data: Vec<Datum> = points
                        .iter()
                        .filter(in_panel)
                        .filter(|r| r.source == s.index && &r.point.id.backend == home)
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
                            format!("{home} · {}", s.machine)
                        } else {
                            home.clone()
                        },
                        backend: home.clone(),
                        machine: s.index,
                        points: data,
                        style: SeriesStyle::Markers,
                    });
                }
            }
            // The paper's lwc result, scaled to our own in-process median (first source).
            let lwc_row = homes.iter().position(|h| h == "lwc");
            let base = points
                .iter()
                .filter(in_panel)
                .find(|r| r.source == 0 && r.point.id.backend == "in-process");
            if let (Some(ratio), Some(row), Some(base)) = (ratio, lwc_row, base) {
                references.push(Reference {
                    label: "paper: signing lwC at ~0.6% below in-process (nginx + OpenSSL)"
                        .to_owned(),
                    at: Mark::Point {
                        x: base.value * ratio,
                        y: row as f64,
                    },
                });
            }
            Panel {
                title: format!(
                    "{}, {c} connection{}",
                    match k.as_str() {
                        "rsa2048" => "RSA-2048 (RSA-PSS-SHA256)",
                        "p256" => "ECDSA P-256",
                        other => other,
                    },
                    if *c == 1 { "" } else { "s" }
                ),
                x: Axis {
                    label: "full TLS 1.3 handshakes per second".to_owned(),
                    unit: "handshakes/s".to_owned(),
                    scale: Scale::Linear,
                    categories: Vec::new(),
                },
                y: Axis {
                    label: "where the private key lives".to_owned(),
                    unit: String::new(),
                    scale: Scale::Linear,
                    categories: homes.clone(),
                },
                references,
                series,
            }
        })
        .collect();
    Some(Figure {
        id: "crypto".to_owned(),
        title: format!(
            "TLS handshakes with the private key in each home{}",
            if many {
                ", by machine".to_owned()
            } else {
                format!(" ({})", sources[0].machine)
            }
        ),
        panels,
        notes: vec![
            "Each point is the median over runs of handshakes/s (every run a fresh worker, server \
             and signer on one CPU, the client on the other); the bar is the 95% confidence \
             interval of that median."
                .to_owned(),
            "◇ marks the paper's result on the lwc row: 0.994 × our in-process median (the paper \
             measured ~0.6% lower throughput with OpenSSL's key in a signing lwC inside nginx, 24 \
             clients). RSA signing is slow, so a hand-off per signature is noise; P-256 signing \
             is fast, so the hand-off shows."
                .to_owned(),
        ],
        width: 1200,
        panel_height: 260,
        share_x: false,
        machines: if many {
            sources.iter().map(|s| s.machine.to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}
