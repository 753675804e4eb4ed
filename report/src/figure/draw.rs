//! Draws a [`Figure`] with plotters onto any drawing backend (SVG text or an RGB bitmap).
//!
//! ```text
//! ┌───────────────────────── title ─────────────────────────┐
//! │ ┌──── panel 1 ────┐  ┌──── panel 2 ────┐                 │
//! │ │  axes, bands,   │  │                 │   panel_height  │
//! │ │  markers, refs  │  │                 │                 │
//! │ └─────────────────┘  └─────────────────┘                 │
//! │ legend: one row per few entries, under the panels, so it  │
//! │ never covers data                                        │
//! └──────────────────────────────────────────────────────────┘
//! ```
//!
//! Log axes are drawn on log-transformed values (so every scale is one coordinate type) with
//! tick labels transformed back; categorical axes put category `i` at position `i`, the first
//! category at the top.

use super::font::FAMILY;
use super::palette::{backend_colour, machine_marker, Marker};
use super::spec::{Axis, Datum, Figure, Mark, Panel, Scale, SeriesStyle};
use model::unit::{human, sig3};
use model::Unit;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Height of the title strip.
const TITLE_HEIGHT: u32 = 40;
/// Height of one legend row.
const LEGEND_ROW: u32 = 22;
/// Width of a legend entry's swatch and the gap after it.
const SWATCH: i32 = 34;
const LABEL_SIZE: u32 = 13;
const REFERENCE_COLOUR: RGBColor = RGBColor(40, 40, 40);
/// The markers that stand for machines in the legend.
const MACHINE_COLOUR: RGBColor = RGBColor(90, 90, 90);

/// One legend entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    label: String,
    colour: RGBColor,
    marker: Option<Marker>,
    line: Option<SeriesStyle>,
    reference: bool,
}

/// The legend's entries laid out in columns.
#[derive(Debug, Clone)]
pub struct Legend {
    entries: Vec<Entry>,
    columns: usize,
    column_width: u32,
}

impl Legend {
    /// Height the legend needs.
    pub fn height(&self) -> u32 {
        let rows = self.entries.len().div_ceil(self.columns.max(1)) as u32;
        rows * LEGEND_ROW + if rows > 0 { 16 } else { 0 }
    }
}

/// Total pixel height of `fig` with its legend.
pub fn total_height(fig: &Figure, legend: &Legend) -> u32 {
    TITLE_HEIGHT + fig.panel_height + legend.height()
}

fn text_width(text: &str, size: u32) -> u32 {
    let font: FontDesc = (FAMILY, size).into_font();
    // An estimate is good enough when the font cannot say (never with the bundled font).
    font.box_size(text)
        .map_or(text.chars().count() as u32 * size * 6 / 10, |(w, _)| w)
}

/// Collects the legend entries of every panel (a label once) and lays them out for `fig.width`.
pub fn legend(fig: &Figure) -> Legend {
    let mut entries: Vec<Entry> = Vec::new();
    // Several machines: a backend's colour once and a machine's marker once, rather than every
    // pair; a fitted line keeps its own label (its numbers are the machine's).
    let by_machine = fig.machines.len() > 1;
    for panel in &fig.panels {
        for s in &panel.series {
            let compact = by_machine && s.style != SeriesStyle::Dashed;
            let label = if compact { &s.backend } else { &s.label };
            if entries.iter().any(|e| &e.label == label) {
                continue;
            }
            entries.push(Entry {
                label: label.clone(),
                colour: backend_colour(&s.backend),
                marker: (s.style != SeriesStyle::Dashed && !compact)
                    .then(|| machine_marker(s.machine)),
                line: (s.style != SeriesStyle::Markers).then_some(s.style),
                reference: false,
            });
        }
    }
    if by_machine {
        for (i, machine) in fig.machines.iter().enumerate() {
            entries.push(Entry {
                label: machine.clone(),
                colour: MACHINE_COLOUR,
                marker: Some(machine_marker(i)),
                line: None,
                reference: true,
            });
        }
    }
    for panel in &fig.panels {
        for r in &panel.references {
            if entries.iter().any(|e| e.label == r.label) {
                continue;
            }
            let line = !matches!(r.at, Mark::Point { .. });
            entries.push(Entry {
                label: r.label.clone(),
                colour: REFERENCE_COLOUR,
                marker: None,
                line: line.then_some(SeriesStyle::Dashed),
                reference: !line,
            });
        }
    }
    let widest = entries
        .iter()
        .map(|e| text_width(&e.label, LABEL_SIZE))
        .max()
        .unwrap_or(0);
    let column_width = widest + SWATCH as u32 + 24;
    let columns = ((fig.width.saturating_sub(40)) / column_width.max(1)).max(1) as usize;
    Legend {
        entries,
        columns,
        column_width,
    }
}

/// Draws `fig` onto `root`, which must be `fig.width` × [`total_height`].
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    legend: &Legend,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (title, rest) = root.split_vertically(TITLE_HEIGHT);
    title
        .draw(&Text::new(
            fig.title.clone(),
            (fig.width as i32 / 2, 12),
            TextStyle::from((FAMILY, 19).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    let (panels, legend_area) = rest.split_vertically(fig.panel_height);
    let areas = panels.split_evenly((1, fig.panels.len().max(1)));
    let shared = fig.share_x.then(|| {
        let first = &fig.panels[0].x;
        range(first, fig.panels.iter().flat_map(xs))
    });
    for (area, panel) in areas.iter().zip(&fig.panels) {
        draw_panel(area, panel, shared)?;
    }
    draw_legend(&legend_area, legend).map_err(err)
}

/// Axis range in drawing coordinates, from the values it must show.
fn range(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    if !axis.categories.is_empty() {
        return (-0.6, axis.categories.len() as f64 - 0.4);
    }
    let (lo, hi) = values
        .filter_map(|v| transform(axis, v))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let (lo, hi) = if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

/// A value in drawing coordinates; `None` where the axis cannot show it (≤ 0 on a log axis).
fn transform(axis: &Axis, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if !axis.categories.is_empty() {
        // The first category at the top (or left): position i drawn at n - 1 - i.
        return Some(axis.categories.len() as f64 - 1.0 - v);
    }
    match axis.scale {
        Scale::Linear => Some(v),
        Scale::Log { base } => (v > 0.0).then(|| v.log(base)),
    }
}

/// A tick label: the value back from drawing coordinates, with its unit.
fn tick(axis: &Axis, v: f64) -> String {
    let value = match axis.scale {
        Scale::Linear => v,
        Scale::Log { base } => base.powf(v),
    };
    trim_zeros(&format_value(value, &axis.unit))
}

/// A value with its unit as a tick shows it (`1 MiB`, `2.5 µs`).
pub fn tick_text(value: f64, unit: &str) -> String {
    trim_zeros(&format_value(value, unit))
}

/// A value with its unit, three significant digits.
fn format_value(value: f64, unit: &str) -> String {
    if unit == "bytes" {
        let a = value.abs();
        for (size, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
            if a >= size as f64 {
                return format!("{} {name}", sig3(value / size as f64));
            }
        }
        return format!("{} B", sig3(value));
    }
    let unit = Unit::parse(unit);
    if unit.is_time() {
        return human(value, &unit);
    }
    sig3(value)
}

/// `1.00 µs` → `1 µs`, `2.50 ms` → `2.5 ms`: ticks need no trailing zeros.
fn trim_zeros(s: &str) -> String {
    let (number, rest) = s.split_once(' ').unwrap_or((s, ""));
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    };
    if rest.is_empty() {
        number.to_owned()
    } else {
        format!("{number} {rest}")
    }
}

fn xs(panel: &Panel) -> impl Iterator<Item = f64> + '_ {
    let data = panel.series.iter().flat_map(|s| &s.points).flat_map(|d| {
        let band = d.x_band.map_or([d.x, d.x], |(a, b)| [a, b]);
        [d.x, band[0], band[1]]
    });
    let refs = panel.references.iter().flat_map(|r| match r.at {
        Mark::Point { x, .. } => vec![x],
        Mark::HorizontalLine { .. } => vec![],
        Mark::Line { from, to } => vec![from.0, to.0],
    });
    data.chain(refs)
}

fn ys(panel: &Panel) -> impl Iterator<Item = f64> + '_ {
    let data = panel.series.iter().flat_map(|s| &s.points).flat_map(|d| {
        let band = d.y_band.map_or([d.y, d.y], |(a, b)| [a, b]);
        [d.y, band[0], band[1]]
    });
    let refs = panel.references.iter().flat_map(|r| match r.at {
        Mark::Point { y, .. } | Mark::HorizontalLine { y } => vec![y],
        Mark::Line { from, to } => vec![from.1, to.1],
    });
    data.chain(refs)
}

/// Tick count that puts log ticks on whole powers.
fn tick_count(axis: &Axis, (lo, hi): (f64, f64)) -> usize {
    match axis.scale {
        Scale::Log { .. } => ((hi - lo).floor() as usize + 1).clamp(2, 12),
        Scale::Linear => 8,
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    x_range: Option<(f64, f64)>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (x0, x1) = x_range.unwrap_or_else(|| range(&panel.x, xs(panel)));
    let (y0, y1) = range(&panel.y, ys(panel));
    let y_categorical = !panel.y.categories.is_empty();
    let y_label_width = if y_categorical {
        panel
            .y
            .categories
            .iter()
            .map(|c| text_width(c, LABEL_SIZE))
            .max()
            .unwrap_or(0)
            + 16
    } else {
        92
    };
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title.clone(), (FAMILY, 15))
        .margin(10)
        .margin_right(24)
        .x_label_area_size(50)
        .y_label_area_size(y_label_width)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let x_ticks = |v: &f64| tick(&panel.x, *v);
    let y_ticks = |v: &f64| {
        if y_categorical {
            String::new()
        } else {
            tick(&panel.y, *v)
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x.label.clone())
        .x_labels(tick_count(&panel.x, (x0, x1)))
        .y_labels(if y_categorical {
            panel.y.categories.len() + 1
        } else {
            tick_count(&panel.y, (y0, y1))
        })
        .x_label_formatter(&x_ticks)
        .y_label_formatter(&y_ticks)
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, LABEL_SIZE))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(244, 244, 244));
    if y_categorical {
        mesh.disable_y_mesh();
    } else {
        mesh.y_desc(panel.y.label.clone());
    }
    mesh.draw().map_err(err)?;

    // Category names, right-aligned beside the axis, at their rows.
    if y_categorical {
        let base = area.get_base_pixel();
        for (i, name) in panel.y.categories.iter().enumerate() {
            let Some(y) = transform(&panel.y, i as f64) else {
                continue;
            };
            let (px, py) = chart.backend_coord(&(x0, y));
            area.draw(&Text::new(
                name.clone(),
                (px - base.0 - 8, py - base.1),
                TextStyle::from((FAMILY, LABEL_SIZE).into_font())
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
    }

    let at = |d: &Datum| Some((transform(&panel.x, d.x)?, transform(&panel.y, d.y)?));
    for s in &panel.series {
        let colour = backend_colour(&s.backend);
        let pts: Vec<(f64, f64)> = s.points.iter().filter_map(at).collect();
        if s.style == SeriesStyle::Line {
            let band: Vec<(f64, f64)> = {
                let lows = s.points.iter().filter_map(|d| {
                    let (lo, _) = d.y_band?;
                    Some((transform(&panel.x, d.x)?, transform(&panel.y, lo)?))
                });
                let highs: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter_map(|d| {
                        let (_, hi) = d.y_band?;
                        Some((transform(&panel.x, d.x)?, transform(&panel.y, hi)?))
                    })
                    .collect();
                lows.chain(highs.into_iter().rev()).collect()
            };
            if band.len() >= 4 {
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        band,
                        colour.mix(0.15).filled(),
                    )))
                    .map_err(err)?;
            }
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(err)?;
        }
        if s.style == SeriesStyle::Dashed {
            chart
                .draw_series(DashedLineSeries::new(
                    pts.clone(),
                    7,
                    5,
                    colour.stroke_width(2),
                ))
                .map_err(err)?;
            continue;
        }
        // Error bars: the band of each point, both directions where given.
        for d in &s.points {
            let Some((x, y)) = at(d) else { continue };
            let mut bars = Vec::new();
            if let Some((lo, hi)) = d.x_band {
                if let (Some(a), Some(b)) = (transform(&panel.x, lo), transform(&panel.x, hi)) {
                    bars.push(((a, y), (b, y), true));
                }
            }
            if s.style == SeriesStyle::Markers {
                if let Some((lo, hi)) = d.y_band {
                    if let (Some(a), Some(b)) = (transform(&panel.y, lo), transform(&panel.y, hi)) {
                        bars.push(((x, a), (x, b), false));
                    }
                }
            }
            for (from, to, horizontal) in bars {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![from, to],
                        colour.stroke_width(2),
                    )))
                    .map_err(err)?;
                let cap = if horizontal {
                    vec![(0, -5), (0, 5)]
                } else {
                    vec![(-5, 0), (5, 0)]
                };
                for end in [from, to] {
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at(end)
                                + PathElement::new(cap.clone(), colour.stroke_width(2)),
                        ))
                        .map_err(err)?;
                }
            }
        }
        let marker = machine_marker(s.machine);
        for p in pts {
            draw_marker(&mut chart, p, marker, colour).map_err(err)?;
        }
    }
    for r in &panel.references {
        match r.at {
            Mark::Point { x, y } => {
                let (Some(x), Some(y)) = (transform(&panel.x, x), transform(&panel.y, y)) else {
                    continue;
                };
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((x, y))
                            + PathElement::new(diamond(7), REFERENCE_COLOUR.stroke_width(2)),
                    ))
                    .map_err(err)?;
            }
            Mark::HorizontalLine { y } => {
                let Some(y) = transform(&panel.y, y) else {
                    continue;
                };
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, y), (x1, y)],
                        9,
                        6,
                        REFERENCE_COLOUR.stroke_width(1),
                    ))
                    .map_err(err)?;
            }
            Mark::Line { from, to } => {
                // Straight in data units: sampled, so it bends correctly on a log axis.
                let pts: Vec<(f64, f64)> = (0..=32)
                    .filter_map(|i| {
                        let t = f64::from(i) / 32.0;
                        let x = from.0 + (to.0 - from.0) * t;
                        let y = from.1 + (to.1 - from.1) * t;
                        Some((transform(&panel.x, x)?, transform(&panel.y, y)?))
                    })
                    .collect();
                chart
                    .draw_series(DashedLineSeries::new(
                        pts,
                        9,
                        6,
                        REFERENCE_COLOUR.stroke_width(1),
                    ))
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

fn diamond(r: i32) -> Vec<(i32, i32)> {
    vec![(0, -r), (r, 0), (0, r), (-r, 0), (0, -r)]
}

fn draw_marker<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    at: (f64, f64),
    marker: Marker,
    colour: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let area = chart.plotting_area();
    match marker {
        Marker::Circle => area.draw(&Circle::new(at, 5, colour.filled())),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 6, colour.filled())),
        Marker::Square => {
            area.draw(&(EmptyElement::at(at) + Rectangle::new([(-4, -4), (4, 4)], colour.filled())))
        }
        Marker::Cross => area.draw(&Cross::new(at, 5, colour.stroke_width(2))),
    }
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &Legend,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (k, e) in legend.entries.iter().enumerate() {
        let row = (k / legend.columns) as i32;
        let col = (k % legend.columns) as i32;
        let x = 20 + col * legend.column_width as i32;
        let y = 8 + row * LEGEND_ROW as i32 + LEGEND_ROW as i32 / 2;
        match e.line {
            Some(SeriesStyle::Dashed) => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 8, y)],
                    e.colour.stroke_width(2),
                ))?;
                area.draw(&PathElement::new(
                    vec![(x + 14, y), (x + 24, y)],
                    e.colour.stroke_width(2),
                ))?;
            }
            Some(_) => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    e.colour.stroke_width(2),
                ))?;
            }
            None if !e.reference => {
                // An error bar behind the marker, as in the plot.
                area.draw(&PathElement::new(
                    vec![(x + 2, y), (x + 22, y)],
                    e.colour.stroke_width(2),
                ))?;
            }
            None => {}
        }
        let centre = (x + 12, y);
        match e.marker {
            Some(Marker::Circle) => area.draw(&Circle::new(centre, 5, e.colour.filled()))?,
            Some(Marker::Triangle) => {
                area.draw(&TriangleMarker::new(centre, 6, e.colour.filled()))?
            }
            Some(Marker::Square) => area.draw(&Rectangle::new(
                [(centre.0 - 4, centre.1 - 4), (centre.0 + 4, centre.1 + 4)],
                e.colour.filled(),
            ))?,
            Some(Marker::Cross) => area.draw(&Cross::new(centre, 5, e.colour.stroke_width(2)))?,
            None if e.reference => area.draw(&PathElement::new(
                diamond(7)
                    .into_iter()
                    .map(|(dx, dy)| (centre.0 + dx, centre.1 + dy))
                    .collect::<Vec<_>>(),
                e.colour.stroke_width(2),
            ))?,
            None => {}
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x + SWATCH, y),
            TextStyle::from((FAMILY, LABEL_SIZE).into_font())
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_without_trailing_zeros() {
        let log = Axis {
            label: String::new(),
            unit: "ns".to_owned(),
            scale: Scale::Log { base: 10.0 },
            categories: Vec::new(),
        };
        assert_eq!(tick(&log, 3.0), "1 µs");
        assert_eq!(tick(&log, 1.0), "10 ns");
        let bytes = Axis {
            unit: "bytes".to_owned(),
            scale: Scale::Log { base: 2.0 },
            ..log
        };
        assert_eq!(tick(&bytes, 26.0), "64 MiB");
        assert_eq!(tick(&bytes, 30.0), "1 GiB");
    }
}
