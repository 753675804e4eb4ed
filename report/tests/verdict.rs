//! The claims verdicts as pure functions: one test per verdict, on hand-made claims.

use report::paper::{Claim, LinuxLimit, PaperValue, Reading, Rule, Selector, Statistic, Status};
use report::verdict::{judge, Measured, Ours};
use report::Verdict;

fn sel(backend: &str) -> Selector {
    Selector {
        experiment: "switch".to_owned(),
        backend: backend.to_owned(),
        params: Default::default(),
        metric: None,
        statistic: Statistic::P50,
        x_param: None,
        extreme: None,
    }
}

fn claim(paper: Option<PaperValue>, rule: Option<Rule>) -> Claim {
    Claim {
        id: "t".to_owned(),
        experiment: "switch".to_owned(),
        statement: "a claim".to_owned(),
        paper,
        shown: None,
        status: Status::Confirmed,
        sources: vec!["K".to_owned()],
        note: None,
        judge: rule,
    }
}

fn value(v: f64, unit: &str) -> PaperValue {
    PaperValue {
        value: v,
        unit: unit.to_owned(),
        approximate: false,
        shown: None,
        readings: Vec::new(),
    }
}

fn measured(v: f64, unit: &str, floor: Option<f64>) -> Ours {
    Ours::Measured(Measured {
        value: v,
        unit: unit.to_owned(),
        context: "lwc, cores=same-core".to_owned(),
        floor: floor.map(|f| (f, "process-futex".to_owned())),
    })
}

/// The paper's lwC switch: 2.01 µs, one-way or a round trip; Linux floor process-futex.
fn lwc_switch() -> Claim {
    let mut v = value(2.01, "us");
    v.readings = vec![
        Reading {
            name: "one-way".to_owned(),
            scale: 1.0,
        },
        Reading {
            name: "round trip".to_owned(),
            scale: 0.5,
        },
    ];
    claim(
        Some(v),
        Some(Rule::Absolute {
            of: sel("lwc"),
            within: 1.5,
            linux: Some(LinuxLimit {
                ratio_to: Some(sel("process-futex")),
                at_most: Some(1.1),
                reason: "an lwC on Linux is a process".to_owned(),
            }),
        }),
    )
}

/// lwC over process: the paper's ~0.5, reproduced at most 0.67, Linux's up to 1.1.
fn speedup() -> Claim {
    claim(
        Some(value(0.5, "ratio")),
        Some(Rule::Ratio {
            numerator: sel("lwc"),
            denominator: sel("process-futex"),
            reproduced_at_most: Some(0.67),
            reproduced_at_least: None,
            linux: Some(LinuxLimit {
                ratio_to: None,
                at_most: Some(1.1),
                reason: "an lwC on Linux is a process".to_owned(),
            }),
        }),
    )
}

#[test]
fn reproduced_only_under_every_reading() {
    // Guards against a verdict that silently picks the favourable reading of 2.01 µs.
    // 1.4 µs: 0.70× of 2.01 and 1.39× of 1.005: both within 1.5×.
    let j = judge(&lwc_switch(), &measured(1.4, "us", Some(2.0)));
    assert_eq!(j.verdict, Verdict::Reproduced, "{}", j.reason);
    assert!(j.reason.contains("read as one-way"), "{}", j.reason);
    assert!(j.reason.contains("read as round trip"), "{}", j.reason);
    // 2.2 µs fits the one-way reading only, and is twice the floor: not reproduced, and the
    // reason says which reading would fit.
    let j = judge(&lwc_switch(), &measured(2.2, "us", Some(2.0)));
    assert_eq!(j.verdict, Verdict::NotReproduced, "{}", j.reason);
    assert!(
        j.reason
            .contains("fits only if the paper's number is one-way"),
        "{}",
        j.reason
    );
    assert!(
        j.reason.contains("more than Linux explains"),
        "{}",
        j.reason
    );
}

#[test]
fn at_the_linux_floor_is_not_applicable() {
    // 4.09 µs, 1.02× the process-futex hand-off: Linux's, whatever the reading.
    let j = judge(&lwc_switch(), &measured(4.09, "us", Some(1.02)));
    assert_eq!(j.verdict, Verdict::NotApplicableOnLinux, "{}", j.reason);
    assert!(
        j.reason.contains("2.03× the paper's 2.01 µs"),
        "{}",
        j.reason
    );
    assert!(
        j.reason.contains("4.07× the paper's 1.00 µs"),
        "{}",
        j.reason
    );
    assert!(j.reason.contains("1.02× process-futex"), "{}", j.reason);
    // Without a measured floor the miss cannot be put on Linux.
    let j = judge(&lwc_switch(), &measured(4.09, "us", None));
    assert_eq!(j.verdict, Verdict::NotReproduced, "{}", j.reason);
}

#[test]
fn ratios_are_judged_against_bounds_and_the_linux_limit() {
    let j = judge(&speedup(), &measured(0.48, "ratio", None));
    assert_eq!(j.verdict, Verdict::Reproduced, "{}", j.reason);
    assert_eq!(j.ours, "0.480×");
    let j = judge(&speedup(), &measured(0.98, "ratio", None));
    assert_eq!(j.verdict, Verdict::NotApplicableOnLinux, "{}", j.reason);
    assert!(j.reason.contains("ours 0.980×"), "{}", j.reason);
    assert!(
        j.reason.contains("an lwC on Linux is a process"),
        "{}",
        j.reason
    );
    // Slower than the process switch it is built on: our own overhead, not Linux's.
    let j = judge(&speedup(), &measured(1.5, "ratio", None));
    assert_eq!(j.verdict, Verdict::NotReproduced, "{}", j.reason);
    assert!(j.reason.contains("above the 1.10×"), "{}", j.reason);
}

#[test]
fn not_measured_and_new() {
    let j = judge(
        &speedup(),
        &Ours::Unmeasured("the lwc point failed".to_owned()),
    );
    assert_eq!(j.verdict, Verdict::NotMeasuredYet);
    assert_eq!(j.reason, "the lwc point failed");
    assert_eq!(j.ours, "-");
    let new = claim(
        None,
        Some(Rule::New {
            numerator: sel("lwc"),
            denominator: sel("fork"),
            meaning: "lwC create over fork".to_owned(),
        }),
    );
    let j = judge(&new, &measured(1.3, "ratio", None));
    assert_eq!(j.verdict, Verdict::New);
    assert!(j.reason.contains("no number"), "{}", j.reason);
    assert_eq!(j.paper, "no number");
}
