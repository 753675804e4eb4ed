//! The `tlb` findings: the extra cost per switch of separate address spaces (processes, lwCs)
//! over threads at the same W, and the ring size K at which that cost per hop steps up.

use super::p50;
use crate::document::Point;
use model::unit::human;
use model::{Counter, Unit};

/// The backend of one address space, the baseline of every difference.
const THREADS: &str = "thread-futex";
/// The backends of an address space per context, in the order the sentences name them.
const SEPARATE: &[&str] = &["process-futex", "lwc"];

/// The sentences.
pub fn findings(points: &[Point]) -> Vec<String> {
    let mut out = Vec::new();
    for size in ["4k", "2m"] {
        if let Some(line) = pages_line(points, size) {
            out.push(line);
        }
    }
    out.extend(ring_lines(points));
    if let Some(line) = dtlb_line(points) {
        out.push(line);
    }
    out
}

/// The median ns per switch of `backend` at this point's position in a sweep.
fn at(
    points: &[Point],
    backend: &str,
    sweep: &str,
    pages: i64,
    parties: i64,
    size: &str,
) -> Option<f64> {
    points
        .iter()
        .find(|p| {
            p.id.backend == backend
                && p.text_param("sweep") == Some(sweep)
                && p.int_param("pages") == Some(pages)
                && p.int_param("parties") == Some(parties)
                && p.text_param("page_size") == Some(size)
        })
        .and_then(|p| p50(p, None, &Unit::Ns))
}

fn signed(ns: f64) -> String {
    let sign = if ns < 0.0 { "−" } else { "+" };
    format!("{sign}{}", human(ns.abs(), &Unit::Ns))
}

/// `W = 1: process-futex +520 ns, lwc +810 ns; W = 1024: …` for the `pages` sweep.
fn pages_line(points: &[Point], size: &str) -> Option<String> {
    let mut ws: Vec<i64> = points
        .iter()
        .filter(|p| {
            p.text_param("sweep") == Some("pages") && p.text_param("page_size") == Some(size)
        })
        .filter_map(|p| p.int_param("pages"))
        .collect();
    ws.sort_unstable();
    ws.dedup();
    let parts: Vec<String> = ws
        .iter()
        .filter_map(|&w| {
            let base = at(points, THREADS, "pages", w, 2, size)?;
            let extra: Vec<String> = SEPARATE
                .iter()
                .filter_map(|b| {
                    let v = at(points, b, "pages", w, 2, size)?;
                    Some(format!("{b} {}", signed(v - base)))
                })
                .collect();
            (!extra.is_empty()).then(|| {
                format!(
                    "W = {w}: {} (threads {})",
                    extra.join(", "),
                    human(base, &Unit::Ns)
                )
            })
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let pages = if size == "4k" {
        "4 KiB pages"
    } else {
        "2 MiB pages (THP)"
    };
    Some(format!(
        "Extra cost per switch over threads when the resumed context touches W pages of its own, \
         {pages}: {}.",
        parts.join("; ")
    ))
}

/// Per separate-address-space backend: its extra cost per hop over threads at each K, and the
/// K where it rises most.
fn ring_lines(points: &[Point]) -> Vec<String> {
    let pages = points
        .iter()
        .find(|p| p.text_param("sweep") == Some("ring"))
        .and_then(|p| p.int_param("pages"));
    let Some(pages) = pages else {
        return Vec::new();
    };
    let mut ks: Vec<i64> = points
        .iter()
        .filter(|p| p.text_param("sweep") == Some("ring"))
        .filter_map(|p| p.int_param("parties"))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let mut out = Vec::new();
    for b in SEPARATE {
        let extra: Vec<(i64, f64)> = ks
            .iter()
            .filter_map(|&k| {
                let base = at(points, THREADS, "ring", pages, k, "4k")?;
                Some((k, at(points, b, "ring", pages, k, "4k")? - base))
            })
            .collect();
        if extra.len() < 2 {
            continue;
        }
        let listed: Vec<String> = extra
            .iter()
            .map(|(k, e)| format!("K = {k}: {}", signed(*e)))
            .collect();
        // A ring of 2 schedules differently from one of 3 or more: the step is looked for from
        // K = 3 on when the sweep has it.
        let from = extra.iter().position(|(k, _)| *k >= 3).unwrap_or(0);
        let step = extra[from..]
            .windows(2)
            .map(|w| (w[0], w[1]))
            .max_by(|a, b| (a.1 .1 - a.0 .1).total_cmp(&(b.1 .1 - b.0 .1)));
        let step = match step {
            Some(((k0, e0), (k1, e1))) if e1 > e0 => format!(
                "; it steps up most from K = {k0} to K = {k1} ({} to {} per hop)",
                signed(e0),
                signed(e1)
            ),
            _ => "; it does not rise with K here".to_owned(),
        };
        out.push(format!(
            "Ring of K contexts on one CPU, {pages} pages touched per hop: {b}'s extra cost per \
             hop over threads is {}{step}.",
            listed.join(", ")
        ));
    }
    out
}

/// dTLB load misses per switch at the largest W, or why there are none.
fn dtlb_line(points: &[Point]) -> Option<String> {
    let key = "dtlb_load_misses_per_op";
    let mut reason = None;
    let mut values = Vec::new();
    for p in points
        .iter()
        .filter(|p| p.text_param("sweep") == Some("pages"))
    {
        match p.counters.get(key) {
            Some(Counter::Value(v)) => values.push((p, *v)),
            Some(Counter::Unavailable { unavailable }) => {
                reason.get_or_insert(unavailable.clone());
            }
            None => {}
        }
    }
    if values.is_empty() {
        return reason.map(|r| format!("dTLB misses per switch: not counted here ({r})."));
    }
    let w = values
        .iter()
        .filter_map(|(p, _)| p.int_param("pages"))
        .max()?;
    let parts: Vec<String> = values
        .iter()
        .filter(|(p, _)| p.int_param("pages") == Some(w) && p.text_param("page_size") == Some("4k"))
        .map(|(p, v)| format!("{} {v:.1}", p.id.backend))
        .collect();
    Some(format!(
        "dTLB load misses per switch at W = {w} (4 KiB pages; counted in the measuring context, \
         one party of the two): {}.",
        parts.join(", ")
    ))
}
