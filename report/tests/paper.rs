//! The paper reference file, and our side of each claim taken out of a result document.

use crate::common::{point, sample};
use model::Param;
use report::evidence::{judge_all, ours};
use report::paper::Status;
use report::verdict::Ours;
use report::{Judgement, PaperReference, Verdict};

const BUILT: &[&str] = &["switch", "create"];

/// The judgement of the claim with this id.
fn by_claim<'a>(rows: &'a [Judgement], id: &str) -> &'a Judgement {
    rows.iter()
        .find(|c| c.claim_id == id)
        .unwrap_or_else(|| panic!("no judgement for {id}"))
}

fn paper() -> PaperReference {
    PaperReference::bundled().expect("results/paper.json")
}

#[test]
fn bundled_paper_reference_keeps_provenance() {
    // Guards against a claim without a source, a source key that names nothing, or an
    // unverified number shown without its mark.
    let paper = paper();
    assert!(paper.hardware.os.contains("FreeBSD 11.0"));
    for c in &paper.claims {
        assert!(!c.sources.is_empty(), "{} has no source", c.id);
        for s in &c.sources {
            assert!(
                paper.sources.contains_key(s),
                "{}: unknown source {s}",
                c.id
            );
        }
        assert_eq!(
            c.paper_shown().contains('†'),
            c.status == Status::Unverified,
            "{}: {}",
            c.id,
            c.paper_shown()
        );
    }
    // The open question of the lwC switch: both readings are carried.
    let lwc = paper
        .claims
        .iter()
        .find(|c| c.id == "switch.lwc")
        .expect("claim");
    let value = lwc.paper.as_ref().expect("number");
    assert_eq!((value.value, value.unit.as_str()), (2.01, "us"));
    let readings: Vec<&str> = value.readings.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(readings, ["one-way", "round trip"]);
    assert_eq!(lwc.status, Status::Unverified);
}

#[test]
fn web_and_rollback_claims_say_what_the_paper_showed() {
    // Guards against the old summary's "no significant overhead" coming back: the paper showed
    // lower throughput at short sessions.
    let paper = paper();
    let nginx = paper
        .claims
        .iter()
        .find(|c| c.id == "web.nginx.short_sessions")
        .expect("nginx claim");
    assert_eq!(nginx.status, Status::Confirmed);
    assert!(
        nginx.paper_shown().contains("22% lower"),
        "{}",
        nginx.paper_shown()
    );
    let apache = paper
        .claims
        .iter()
        .find(|c| c.id == "rollback.apache")
        .expect("apache claim");
    assert!(
        apache.paper_shown().contains("80% lower"),
        "{}",
        apache.paper_shown()
    );
    let text = serde_json::to_string(&paper).expect("json");
    assert!(!text.contains("shows no significant overhead"));
}

#[test]
fn every_claim_is_listed_even_with_nothing_measured() {
    // Guards against claims of unbuilt experiments dropping out of the table.
    let paper = paper();
    let mut empty = sample();
    empty.experiments.clear();
    let rows = judge_all(&paper, &empty, BUILT);
    assert_eq!(rows.len(), paper.claims.len());
    assert!(rows.iter().all(|r| r.verdict == Verdict::NotMeasuredYet));
    assert!(
        by_claim(&rows, "web.nginx.short_sessions")
            .reason
            .contains("web experiment is not built yet"),
        "{:?}",
        by_claim(&rows, "web.nginx.short_sessions")
    );
    assert!(
        by_claim(&rows, "switch.speedup")
            .reason
            .contains("did not run"),
        "{:?}",
        by_claim(&rows, "switch.speedup")
    );
}

#[test]
fn a_failed_point_is_not_measured_with_its_reason() {
    let rows = judge_all(&paper(), &sample(), BUILT);
    let lwc = by_claim(&rows, "switch.lwc");
    assert_eq!(lwc.verdict, Verdict::NotMeasuredYet);
    assert!(lwc.reason.contains("SIGABRT"), "{}", lwc.reason);
}

#[test]
fn direct_claims_convert_units() {
    let rows = judge_all(&paper(), &sample(), BUILT);
    // 2500 ns = 2.5 µs against the paper's 4.25 µs: 0.588×, outside 1.5×.
    let process = by_claim(&rows, "switch.process");
    assert_eq!(process.ours, "2.50 µs");
    assert_eq!(process.verdict, Verdict::NotReproduced);
    assert!(process.reason.contains("0.588×"), "{}", process.reason);
}

#[test]
fn create_costs_come_from_a_least_squares_line() {
    let paper = paper();
    let doc = sample();
    // Points (0, 100), (16, 132), (256, 612): exactly 100 + 2 x.
    let claim = |id: &str| paper.claims.iter().find(|c| c.id == id).expect("claim");
    let Ours::Measured(fixed) = ours(claim("create.lwc"), &doc, BUILT) else {
        panic!("no fixed cost")
    };
    let Ours::Measured(slope) = ours(claim("create.per_cow_fault"), &doc, BUILT) else {
        panic!("no slope")
    };
    assert!((fixed.value - 100.0).abs() < 1e-9, "{fixed:?}");
    assert!((slope.value - 2.0).abs() < 1e-9, "{slope:?}");
    assert!(slope.context.contains("pages_written"), "{}", slope.context);
    // 2.0 µs against ~3 µs is 0.667×: within 1.5×.
    let rows = judge_all(&paper, &doc, BUILT);
    assert_eq!(
        by_claim(&rows, "create.per_cow_fault").verdict,
        Verdict::Reproduced
    );
}

#[test]
fn the_smallest_parent_is_chosen_and_fork_is_the_floor() {
    // Guards against the extreme filter picking the wrong end, or the fork floor not reaching
    // the verdict.
    let mut doc = sample();
    let create = &mut doc.experiments[1].points;
    create.clear();
    for (backend, resident, pages, us) in [
        ("lwc", 1_i64 << 20, 0_i64, 300.0),
        ("lwc", 1 << 20, 256, 812.0),
        ("lwc", 64 << 20, 0, 3000.0),
        ("lwc", 64 << 20, 256, 4000.0),
        ("fork", 1 << 20, 0, 280.0),
        ("fork", 1 << 20, 256, 800.0),
    ] {
        create.push(point(
            "create",
            backend,
            &[
                ("pages_written", Param::Int(pages)),
                ("resident_bytes", Param::Int(resident)),
            ],
            "us",
            us,
        ));
    }
    let rows = judge_all(&paper(), &doc, BUILT);
    // 300 µs is 3.42× the paper's 87.7 µs, but 1.07× fork: Linux's.
    let fixed = by_claim(&rows, "create.lwc");
    assert_eq!(fixed.ours, "300 µs");
    assert_eq!(
        fixed.verdict,
        Verdict::NotApplicableOnLinux,
        "{}",
        fixed.reason
    );
    assert!(fixed.reason.contains("1.07× fork"), "{}", fixed.reason);
    // 3000 / 300 = 10× with memory: not independent of it, and Linux's fork explains it.
    let memory = by_claim(&rows, "create.independent_of_memory");
    assert_eq!(memory.ours, "10.0×");
    assert_eq!(memory.verdict, Verdict::NotApplicableOnLinux);
    // The fork baseline is new: 300 / 280.
    let fork = by_claim(&rows, "create.fork_baseline");
    assert_eq!(fork.verdict, Verdict::New);
    assert_eq!(fork.ours, "1.07×");
}

#[test]
fn unknown_paper_schema_is_refused() {
    let err = PaperReference::from_json_str(r#"{"schema":"x"}"#, "p.json").unwrap_err();
    assert!(err.to_string().contains("unknown schema version"), "{err}");
    let v1 = r#"{"schema":"lwcbench/paper/v1"}"#;
    let err = PaperReference::from_json_str(v1, "p.json").unwrap_err();
    assert!(err.to_string().contains("paper/v2"), "{err}");
}

/// A document whose web points have `lwc` at `share` of `none` at every session length.
fn web_doc(share: f64) -> report::ResultDocument {
    let mut doc = sample();
    let mut web = doc.experiments[0].clone();
    web.id = "web".to_owned();
    web.points = Vec::new();
    for session in ["4", "256"] {
        for (backend, rps) in [("none", 1000.0), ("lwc", 1000.0 * share)] {
            web.points.push(point(
                "web",
                backend,
                &[
                    ("session", Param::Text(session.to_owned())),
                    ("connections", Param::Int(128)),
                    ("body_bytes", Param::Int(45)),
                    ("load", Param::Text("closed".to_owned())),
                ],
                "req/s",
                rps,
            ));
        }
    }
    doc.experiments.push(web);
    doc
}

#[test]
fn web_claims_are_judged_on_lwc_over_none() {
    // Guards against a web judge that reads the wrong points (another session length, the
    // baseline as numerator) or calls a big loss reproduced.
    let paper = paper();
    let built = ["switch", "create", "web"];
    let close = judge_all(&paper, &web_doc(0.8), &built);
    assert_eq!(
        by_claim(&close, "web.nginx.short_sessions").verdict,
        Verdict::Reproduced
    );
    assert_eq!(
        by_claim(&close, "web.nginx.scaling").verdict,
        Verdict::NotApplicableOnLinux
    );
    let far = judge_all(&paper, &web_doc(0.2), &built);
    let short = by_claim(&far, "web.nginx.short_sessions");
    assert_eq!(
        short.verdict,
        Verdict::NotApplicableOnLinux,
        "{}",
        short.reason
    );
    assert!(short.reason.contains("0.200×"), "{}", short.reason);
    let even = judge_all(&paper, &web_doc(1.0), &built);
    assert_eq!(
        by_claim(&even, "web.nginx.scaling").verdict,
        Verdict::Reproduced
    );
}
