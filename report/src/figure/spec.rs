//! What a figure shows, independent of how it is drawn: panels side by side, each with two axes,
//! series of points (with a CI or percentile band) and reference marks for the paper's numbers.
//!
//! The builders ([`super::switch`], [`super::create`]) fill these from result documents; the
//! drawing code ([`super::draw`]) knows nothing of experiments.

/// One figure: a title over panels side by side, and one legend under them.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem (`switch`, `create`).
    pub id: String,
    /// What is compared, in words.
    pub title: String,
    /// Panels, left to right.
    pub panels: Vec<Panel>,
    /// Sentences shown under the figure in the report (what the band is, where numbers come
    /// from).
    pub notes: Vec<String>,
    /// Width in pixels (of the PNG, and the SVG's view box).
    pub width: u32,
    /// Height of the panels in pixels; the title and legend add to it.
    pub panel_height: u32,
    /// All panels use one x range (the union of theirs), so they compare at a glance.
    pub share_x: bool,
    /// With several result files: their machine labels, by [`Series::machine`] index. The
    /// legend then shows each backend's colour once and each machine's marker once.
    pub machines: Vec<String>,
}

/// One plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption above the plot.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// The data.
    pub series: Vec<Series>,
    /// The paper's numbers.
    pub references: Vec<Reference>,
}

/// An axis: numeric (values in `unit`, linear or log) or categorical (`categories` at positions
/// 0, 1, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Label, with the unit (`ns per one-way switch`).
    pub label: String,
    /// Unit of the values, for tick labels: a time unit (`ns`, `us`), `bytes`, or anything else
    /// (shown as plain numbers).
    pub unit: String,
    /// How values map onto the axis.
    pub scale: Scale,
    /// Non-empty: a categorical axis, category `i` at position `i`.
    pub categories: Vec<String>,
}

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Evenly.
    Linear,
    /// Logarithmically, with ticks at powers of `base` (10, or 2 for sizes).
    Log {
        /// 10 or 2.
        base: f64,
    },
}

/// A backend's (and machine's) points in one panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Backend: picks the colour, the same in every figure.
    pub backend: String,
    /// Index of the machine (result file) it comes from: picks the marker shape.
    pub machine: usize,
    /// The points, in drawing order.
    pub points: Vec<Datum>,
    /// How the points are joined.
    pub style: SeriesStyle,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    /// Markers with error bars, no line.
    Markers,
    /// Markers joined by a solid line; a y band is a shaded area.
    Line,
    /// A dashed line without markers (a fitted line).
    Dashed,
}

/// One point and its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datum {
    /// Horizontal value (axis units, or category position).
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Interval along x (95% CI of the median when x is the measured value).
    pub x_band: Option<(f64, f64)>,
    /// Interval along y.
    pub y_band: Option<(f64, f64)>,
}

impl Datum {
    /// A point without bands.
    pub fn at(x: f64, y: f64) -> Self {
        Datum {
            x,
            y,
            x_band: None,
            y_band: None,
        }
    }
}

/// A number of the paper drawn into a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Legend text (`paper: lwC create + destroy 87.7 µs`).
    pub label: String,
    /// Where.
    pub at: Mark,
}

/// Where a reference goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A hollow diamond at a point.
    Point {
        /// x.
        x: f64,
        /// y.
        y: f64,
    },
    /// A dashed line across the panel at this y.
    HorizontalLine {
        /// y.
        y: f64,
    },
    /// A dashed straight line (in data units) from one point to another.
    Line {
        /// Start.
        from: (f64, f64),
        /// End.
        to: (f64, f64),
    },
}
