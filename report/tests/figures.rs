//! Figures from fixture documents: every figure renders as SVG (valid XML) and PNG (decodes,
//! right size), with one colour per backend and several machines in one figure.

use crate::common::{quick_like, sample};
use report::figure;
use report::figure::spec::{Figure, SeriesStyle};
use report::PaperReference;

/// Where a test may leave its pictures for a person to look at (`LWCBENCH_FIGURE_DIR`).
fn keep(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("LWCBENCH_FIGURE_DIR") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), bytes);
    }
}

/// Renders `fig` both ways and checks what a reader's tools would: the SVG parses as XML with
/// the title in it, the PNG decodes at the size the figure says.
pub fn check_renders(fig: &Figure, stem: &str) {
    let svg = figure::render_svg(fig).expect("svg");
    let xml = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
    assert_eq!(xml.root_element().tag_name().name(), "svg");
    let texts: String = xml
        .descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(texts.contains(&fig.title), "{stem}: title missing");
    for panel in &fig.panels {
        assert!(texts.contains(&panel.title), "{stem}: panel title missing");
        for s in &panel.series {
            // With several machines the legend names each backend and each machine once.
            let compact = fig.machines.len() > 1 && s.style != SeriesStyle::Dashed;
            let label = if compact { &s.backend } else { &s.label };
            assert!(
                texts.contains(label.as_str()),
                "{stem}: legend lacks {label}"
            );
        }
    }
    for m in &fig.machines {
        assert!(
            texts.contains(m.as_str()),
            "{stem}: legend lacks machine {m}"
        );
    }
    let png = figure::render_png(fig).expect("png");
    let decoder = png::Decoder::new(std::io::Cursor::new(&png.bytes));
    let reader = decoder.read_info().expect("png header");
    let info = reader.info();
    assert_eq!((info.width, info.height), (png.width, png.height));
    assert_eq!(info.width, fig.width);
    assert!(
        info.height > fig.panel_height,
        "legend and title add height"
    );
    keep(&format!("{stem}.svg"), svg.as_bytes());
    keep(&format!("{stem}.png"), &png.bytes);
}

#[test]
fn every_figure_renders_from_a_fixture() {
    let paper = PaperReference::bundled().expect("paper");
    let figs = figure::all(&[quick_like("Test CPU")], Some(&paper));
    let ids: Vec<&str> = figs.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["switch", "create"]);
    for f in &figs {
        check_renders(f, &f.id);
    }
    // The switch figure: same core and two cores side by side, log time axis, the paper's
    // marks (the lwC row twice: one-way and round-trip readings).
    let switch = &figs[0];
    let titles: Vec<&str> = switch.panels.iter().map(|p| p.title.as_str()).collect();
    assert!(titles[0].starts_with("Same core") && titles[1].starts_with("Two cores"));
    assert!(matches!(
        switch.panels[0].x.scale,
        report::figure::spec::Scale::Log { .. }
    ));
    let marks = &switch.panels[0].references;
    assert_eq!(marks.len(), 5, "{marks:?}");
    // The create figure: against parent memory, then the fits with the fixed cost and slope.
    let create = &figs[1];
    assert_eq!(create.panels.len(), 2);
    let fit = create.panels[1]
        .series
        .iter()
        .find(|s| s.label.starts_with("lwc fit"))
        .expect("lwc fit");
    assert_eq!(fit.label, "lwc fit: 300 µs + 3.80 µs per page");
}

#[test]
fn a_document_without_points_has_no_figures() {
    let mut doc = sample();
    doc.experiments.clear();
    assert!(figure::all(&[doc], None).is_empty());
}

#[test]
fn several_files_share_one_figure_labelled_by_machine() {
    // Guards against a second file's series replacing the first's, or two machines' series
    // being told apart by nothing.
    let docs = [
        quick_like("AMD EPYC 9R14"),
        quick_like("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"),
    ];
    let figs = figure::all(&docs, None);
    assert_eq!(figs.len(), 2);
    let switch = &figs[0];
    let labels: Vec<&str> = switch.panels[0]
        .series
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    assert!(
        labels.contains(&"lwc · AMD EPYC 9R14, Linux 6.18.0"),
        "{labels:?}"
    );
    assert!(
        labels.contains(&"lwc · Intel Xeon Platinum 8375C, Linux 6.18.0"),
        "{labels:?}"
    );
    // Same backend, same colour; different machine, different marker.
    let lwc: Vec<_> = switch.panels[0]
        .series
        .iter()
        .filter(|s| s.backend == "lwc")
        .collect();
    assert_eq!(lwc.len(), 2);
    assert_ne!(lwc[0].machine, lwc[1].machine);
    assert_ne!(lwc[0].points[0].y, lwc[1].points[0].y, "rows apart");
    assert_eq!(
        switch.machines,
        [
            "AMD EPYC 9R14, Linux 6.18.0",
            "Intel Xeon Platinum 8375C, Linux 6.18.0"
        ]
    );
    for f in &figs {
        check_renders(f, &format!("{}-two-machines", f.id));
    }
    // The same machine twice is still two series.
    let same = [quick_like("X"), quick_like("X")];
    let labels = figure::source::machine_labels(&same);
    assert_eq!(labels, ["X, Linux 6.18.0", "X, Linux 6.18.0 #2"]);
}

/// A document with a `web` experiment: `none` at 1000 req/s everywhere, `lwc` at `lwc_share` of
/// it per session length, p99 latencies alongside.
fn with_web(lwc_share: &[(&str, f64)]) -> report::ResultDocument {
    use crate::common::{point, summary};
    use model::{MetricSpec, Param, Unit};
    let mut doc = sample();
    let mut points = Vec::new();
    for (session, share) in lwc_share {
        for (backend, rps) in [("none", 1000.0), ("lwc", 1000.0 * share)] {
            let mut p = point(
                "web",
                backend,
                &[
                    ("session", Param::Text((*session).to_owned())),
                    ("connections", Param::Int(128)),
                    ("body_bytes", Param::Int(45)),
                    ("load", Param::Text("closed".to_owned())),
                ],
                "req/s",
                rps,
            );
            p.metrics.push(model::MetricResult {
                spec: MetricSpec::new("latency", Unit::Us, "request latency"),
                summary: Some(summary(128.0e6 / rps)),
            });
            points.push(p);
        }
    }
    let mut web = doc.experiments[0].clone();
    web.id = "web".to_owned();
    web.points = points;
    doc.experiments.push(web);
    doc
}

#[test]
fn web_figure_shows_each_mode_over_none_beside_the_paper_curve() {
    // Guards against a ratio taken against the wrong baseline or session length, the paper's
    // curve missing, and latencies that never reach the figure.
    let paper = PaperReference::bundled().expect("paper");
    let doc = with_web(&[("1", 0.1), ("4", 0.5), ("256", 0.9), ("inf", 0.8)]);
    let figs = figure::all(std::slice::from_ref(&doc), Some(&paper));
    let web = figs.iter().find(|f| f.id == "web").expect("a web figure");
    let relative = &web.panels[0];
    let lwc = relative
        .series
        .iter()
        .find(|s| s.backend == "lwc")
        .expect("lwc");
    let at = |x: f64| lwc.points.iter().find(|d| d.x == x).map(|d| d.y);
    assert_eq!(at(4.0), Some(0.5));
    assert_eq!(at(256.0), Some(0.9));
    assert_eq!(at(1024.0), Some(0.8), "inf is drawn at 1024");
    let none = relative
        .series
        .iter()
        .find(|s| s.backend == "none")
        .expect("none");
    assert!(none.points.iter().all(|d| (d.y - 1.0).abs() < 1e-12));
    assert_eq!(
        relative.references.len(),
        3,
        "the paper's points at 4, 16 and 256"
    );
    let p99 = web
        .panels
        .iter()
        .find(|p| p.title.contains("p99"))
        .expect("p99 panel");
    assert!(p99.series.iter().all(|s| !s.points.is_empty()));
    check_renders(web, "web");
    // Without web points there is no web figure.
    assert!(figure::all(&[sample()], Some(&paper))
        .iter()
        .all(|f| f.id != "web"));
}

#[test]
fn monitor_figure_shows_each_mechanism_over_none() {
    // Guards against the right panel dividing by another call's (or another machine's) `none`,
    // and a mechanism dropped from a row.
    use crate::common::point;
    use model::Param;
    let mut doc = sample();
    let mut points = Vec::new();
    for (call, none_us) in [("getppid", 0.2), ("read-64k", 3.0)] {
        for (backend, factor) in [("lwc-systrap", 50.0), ("seccomp-bpf", 1.5), ("none", 1.0)] {
            points.push(point(
                "monitor",
                backend,
                &[("call", Param::Text(call.to_owned()))],
                "us",
                none_us * factor,
            ));
        }
    }
    doc.experiments.push(report::ExperimentResult {
        id: "monitor".to_owned(),
        description: "reference monitor".to_owned(),
        status: report::ExperimentStatus::Ok,
        error: None,
        points,
    });
    let figs = figure::all(&[doc], None);
    let fig = figs
        .iter()
        .find(|f| f.id == "monitor")
        .expect("monitor figure");
    assert_eq!(fig.panels.len(), 2);
    assert_eq!(fig.panels[0].y.categories, ["getppid", "read-64k"]);
    let lwc = |panel: usize| {
        fig.panels[panel]
            .series
            .iter()
            .find(|s| s.backend == "lwc-systrap")
            .expect("lwc-systrap series")
            .points
            .iter()
            .map(|d| d.x)
            .collect::<Vec<_>>()
    };
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    };
    assert!(close(&lwc(0), &[10.0, 150.0]), "{:?}", lwc(0));
    assert!(close(&lwc(1), &[50.0, 50.0]), "{:?}", lwc(1));
    assert_eq!(fig.panels[1].series.len(), 3);
    check_renders(fig, "monitor");
}
