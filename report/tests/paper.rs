//! The paper reference file and the comparison with our numbers.

use crate::common::sample;
use report::paper::Statistic;
use report::{Comparison, PaperReference};

/// The comparison of the claim with this id.
fn by_claim<'a>(cmp: &'a [Comparison], id: &str) -> &'a Comparison {
    cmp.iter()
        .find(|c| c.claim_id == id)
        .unwrap_or_else(|| panic!("no comparison for {id}"))
}

#[test]
fn bundled_paper_reference_parses_and_keeps_provenance() {
    let paper = PaperReference::bundled().expect("results/paper.json");
    assert_eq!(paper.hardware.os, "FreeBSD 11.0");
    let ids: Vec<&str> = paper.claims.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "switch.lwc",
        "switch.process",
        "switch.kernel_thread",
        "switch.user_thread",
        "create.lwc.fixed",
        "create.lwc.per_cow_fault",
    ] {
        assert!(ids.contains(&id), "missing claim {id}");
    }
    for c in &paper.claims {
        assert!(!c.provenance.is_empty(), "{} has no provenance", c.id);
        if !c.verified {
            assert!(c.provenance.contains("to be verified"), "{}", c.id);
        }
    }
    let lwc = paper
        .claims
        .iter()
        .find(|c| c.id == "switch.lwc")
        .expect("claim");
    assert_eq!((lwc.value, lwc.unit.symbol().as_str()), (2.01, "us"));
}

#[test]
fn direct_claims_convert_units() {
    let paper = PaperReference::bundled().expect("paper");
    let cmp = paper.compare(&sample());
    let process = by_claim(&cmp, "switch.process");
    // 2500 ns = 2.5 µs against the paper's 4.25 µs.
    assert_eq!(process.ours, Some(2.5));
    let ratio = process.ratio.expect("ratio");
    assert!((ratio - 2.5 / 4.25).abs() < 1e-12);
    // The lwc point failed: no number, and the comparison says so.
    let lwc = by_claim(&cmp, "switch.lwc");
    assert_eq!(lwc.ours, None);
    assert!(lwc.context.contains("not measured"), "{}", lwc.context);
}

#[test]
fn create_costs_come_from_a_least_squares_line() {
    let paper = PaperReference::bundled().expect("paper");
    let cmp = paper.compare(&sample());
    // Points (0, 100), (16, 132), (256, 612): exactly 100 + 2 x.
    let fixed = by_claim(&cmp, "create.lwc.fixed");
    let slope = by_claim(&cmp, "create.lwc.per_cow_fault");
    assert!((fixed.ours.expect("intercept") - 100.0).abs() < 1e-9);
    assert!((slope.ours.expect("slope") - 2.0).abs() < 1e-9);
    assert!(slope.context.contains("pages_written"), "{}", slope.context);
    assert!(slope.approximate);
}

#[test]
fn claims_of_experiments_not_run_are_left_out() {
    let paper = PaperReference::bundled().expect("paper");
    let cmp = paper.compare(&sample());
    assert!(cmp.iter().all(|c| !c.claim_id.starts_with("crypto.")));
    // The crypto claims match no experiment at all, so the line above holds even without the
    // check for experiments not run; the create claims do match one: with create left out of
    // the run, they must be left out of the comparison.
    let mut switch_only = sample();
    switch_only.experiments.retain(|e| e.id == "switch");
    let cmp = paper.compare(&switch_only);
    assert!(cmp.iter().any(|c| c.claim_id.starts_with("switch.")));
    assert!(
        cmp.iter().all(|c| !c.claim_id.starts_with("create.")),
        "{cmp:?}"
    );
    let stats: Vec<Statistic> = paper
        .claims
        .iter()
        .filter_map(|c| c.matcher.as_ref().map(|m| m.statistic))
        .collect();
    assert!(stats.contains(&Statistic::FitSlope));
}

#[test]
fn unknown_paper_schema_is_refused() {
    let err = PaperReference::from_json_str(r#"{"schema":"x"}"#, "p.json").unwrap_err();
    assert!(err.to_string().contains("unknown schema version"), "{err}");
}
