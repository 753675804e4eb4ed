//! The `scale` findings: memory per session and sessions per GiB at the largest N each backend
//! reached, how create and switch time change from the smallest to the largest N, and where the
//! memory guard stopped the sweep.

use super::p50;
use crate::document::{Point, PointStatus};
use model::unit::human;
use model::Unit;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The sentences.
pub fn findings(points: &[Point]) -> Vec<String> {
    let mut backends: Vec<&str> = points.iter().map(|p| p.id.backend.as_str()).collect();
    backends.dedup();
    let mut out = Vec::new();
    for b in backends {
        let mine: Vec<&Point> = points.iter().filter(|p| p.id.backend == b).collect();
        let measured = |p: &&&Point| p50(p, Some("pss"), &Unit::Bytes).is_some();
        let first = mine
            .iter()
            .filter(measured)
            .min_by_key(|p| p.int_param("sessions"));
        let last = mine
            .iter()
            .filter(measured)
            .max_by_key(|p| p.int_param("sessions"));
        if let (Some(first), Some(last)) = (first, last) {
            out.push(line(b, first, last));
        }
        for p in mine.iter().filter(|p| p.status == PointStatus::Unavailable) {
            if let Some(why) = p.error.as_deref().filter(|e| e.contains("memory guard")) {
                out.push(format!(
                    "{b}: N = {} was not reached: {why}.",
                    p.int_param("sessions").unwrap_or(0)
                ));
            }
        }
    }
    out
}

fn line(backend: &str, first: &Point, last: &Point) -> String {
    let n = last.int_param("sessions").unwrap_or(0);
    let bytes = |p: &Point, m: &str| p50(p, Some(m), &Unit::Bytes);
    let pss = bytes(last, "pss").unwrap_or(f64::NAN);
    let mut s = format!(
        "{backend}, N = {n} live: {} PSS per session (RSS {}, page tables {}), about {:.0} \
         sessions per GiB",
        human(pss, &Unit::Bytes),
        bytes(last, "rss").map_or("-".into(), |v| human(v, &Unit::Bytes)),
        bytes(last, "page_tables").map_or("-".into(), |v| human(v, &Unit::Bytes)),
        GIB / pss
    );
    let n0 = first.int_param("sessions").unwrap_or(0);
    if n0 != n {
        let time = |p: &Point, m: &str, u: Unit| p50(p, Some(m), &u).map(|v| human(v, &u));
        if let (Some(c0), Some(c1)) = (
            time(first, "create", Unit::Us),
            time(last, "create", Unit::Us),
        ) {
            s.push_str(&format!("; create {c0} at N = {n0}, {c1} at N = {n}"));
        }
        if let (Some(w0), Some(w1)) = (
            time(first, "switch", Unit::Ns),
            time(last, "switch", Unit::Ns),
        ) {
            s.push_str(&format!(
                "; switch to a random session {w0} at N = {n0}, {w1} at N = {n}"
            ));
        }
    }
    s.push('.');
    s
}
