//! The whole report: page, summary and figure files, from fixture documents.

use crate::common::quick_like;
use report::export::bundle::{build, ReportError, INDEX, SUMMARY};
use report::figure;
use report::PaperReference;

fn file<'a>(files: &'a [report::export::bundle::ReportFile], name: &str) -> &'a [u8] {
    &files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name} in the report"))
        .bytes
}

#[test]
fn the_page_holds_every_figure_and_every_claim() {
    // Guards against a figure drawn but left off the page, a page that needs the network or a
    // script, and claims missing from it.
    let paper = PaperReference::bundled().expect("paper");
    let docs = [quick_like("Test CPU")];
    let files = build(&docs, Some(&paper), &["switch", "create"]).expect("report");
    let html = String::from_utf8(file(&files, INDEX).to_vec()).expect("utf-8");
    for fig in figure::all(&docs, Some(&paper)) {
        let png = format!("{}.png", fig.id);
        let svg = format!("{}.svg", fig.id);
        assert!(html.contains(&format!("href=\"{png}\"")), "{png}");
        assert!(html.contains(&format!("href=\"{svg}\"")), "{svg}");
        assert!(html.contains(&format!("id=\"fig-{}\"", fig.id)));
        let svg_text = String::from_utf8(file(&files, &svg).to_vec()).expect("svg utf-8");
        roxmltree::Document::parse(&svg_text).expect("svg is XML");
        // Inline: the figure's own SVG is in the page.
        assert!(html.contains(&svg_text), "{svg} not inline");
        assert!(!file(&files, &png).is_empty());
    }
    assert!(html.matches("<svg").count() >= 2);
    assert!(!html.contains("<script"), "no script needed");
    // Nothing is fetched: no external stylesheet, image, font or frame (an SVG namespace
    // is not a fetch).
    for fetch in ["<link", "src=", "url(", "@import", "href=\"http"] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
    for claim in &paper.claims {
        let shown = report::export::table::escape(&claim.statement);
        assert!(html.contains(&shown), "claim {} missing", claim.id);
    }
    assert!(
        html.contains("running in a virtual machine"),
        "warnings shown"
    );
    let md = String::from_utf8(file(&files, SUMMARY).to_vec()).expect("utf-8");
    assert!(md.contains("![One-way switch"), "{md}");
    assert!(md.contains("(create.png)"));
    assert!(md.contains("## Claims of the paper"));
}

#[test]
fn several_files_make_one_report() {
    let docs = [quick_like("AMD EPYC 9R14"), quick_like("Intel Xeon")];
    let files = build(&docs, None, &["switch", "create"]).expect("report");
    let html = String::from_utf8(file(&files, INDEX).to_vec()).expect("utf-8");
    assert!(html.contains("<h3>AMD EPYC 9R14, Linux 6.18.0</h3>"));
    assert!(html.contains("<h3>Intel Xeon, Linux 6.18.0</h3>"));
    assert!(matches!(
        build(&[], None, &[]),
        Err(ReportError::NoDocuments)
    ));
}
