//! Figures: one per experiment, drawn with plotters as SVG (always) and PNG (bitmap backend,
//! bundled font), from one or more result files.
//!
//! - [`spec`]: what a figure shows (panels, axes, series with bands, the paper's marks);
//! - [`switch`], [`create`], [`tlb`], [`scale`], [`web`], [`rollback`], [`monitor`]: build the
//!   experiments' figures from result documents;
//! - [`source`]: the result files and their machine labels (several files, one figure);
//! - `draw`, `palette`, `font`: drawing, one colour per backend, the bundled font.
//!
//! ```
//! use report::figure::{self, spec::*};
//!
//! let fig = Figure {
//!     id: "demo".into(),
//!     title: "A demo".into(),
//!     panels: vec![Panel {
//!         title: "one panel".into(),
//!         x: Axis { label: "x".into(), unit: String::new(), scale: Scale::Linear, categories: vec![] },
//!         y: Axis { label: "ns".into(), unit: "ns".into(), scale: Scale::Log { base: 10.0 }, categories: vec![] },
//!         series: vec![Series {
//!             label: "lwc".into(), backend: "lwc".into(), machine: 0,
//!             points: vec![Datum::at(1.0, 10.0), Datum::at(2.0, 1000.0)],
//!             style: SeriesStyle::Line,
//!         }],
//!         references: vec![],
//!     }],
//!     notes: vec![],
//!     width: 400,
//!     panel_height: 300,
//!     share_x: false,
//!     machines: vec![],
//! };
//! let svg = figure::render_svg(&fig).unwrap();
//! assert!(svg.starts_with("<svg"));
//! let png = figure::render_png(&fig).unwrap();
//! assert_eq!(&png.bytes[1..4], b"PNG");
//! ```

pub mod create;
mod draw;
mod font;
pub mod monitor;
pub mod palette;
pub mod rollback;
pub mod scale;
pub mod source;
pub mod spec;
pub mod switch;
pub mod tlb;
pub mod web;

use crate::document::ResultDocument;
use crate::paper::PaperReference;
use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use spec::Figure;

/// A figure could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// The bundled font is unusable.
    #[error("figure font: {0}")]
    Font(String),
    /// plotters failed.
    #[error("drawing figure {figure}: {message}")]
    Draw {
        /// The figure's id.
        figure: String,
        /// What plotters said.
        message: String,
    },
    /// PNG encoding failed.
    #[error("encoding figure {figure} as PNG: {source}")]
    Png {
        /// The figure's id.
        figure: String,
        /// The encoder's error.
        #[source]
        source: png::EncodingError,
    },
}

/// A figure as a PNG.
#[derive(Debug, Clone)]
pub struct Png {
    /// The PNG file.
    pub bytes: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Every figure the documents have data for, in experiment order; several documents share each
/// figure, their series labelled by machine.
pub fn all(docs: &[ResultDocument], paper: Option<&PaperReference>) -> Vec<Figure> {
    let labels = source::machine_labels(docs);
    let sources = source::sources(docs, &labels);
    [
        switch::figure(&sources, paper),
        create::figure(&sources, paper),
        tlb::figure(&sources),
        scale::figure(&sources),
        web::figure(&sources, paper),
        rollback::figure(&sources, paper),
        monitor::figure(&sources, paper),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Pixel size of `fig` (its legend included).
pub fn size(fig: &Figure) -> Result<(u32, u32), FigureError> {
    font::ensure_registered().map_err(FigureError::Font)?;
    Ok((fig.width, draw::total_height(fig, &draw::legend(fig))))
}

/// Draws `fig` as SVG text.
pub fn render_svg(fig: &Figure) -> Result<String, FigureError> {
    let size = size(fig)?;
    let legend = draw::legend(fig);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw::draw(&root, fig, &legend).map_err(|message| draw_error(fig, message))?;
        root.present().map_err(|e| draw_error(fig, e.to_string()))?;
    }
    Ok(out)
}

/// Draws `fig` as a PNG (RGB, 8 bits).
pub fn render_png(fig: &Figure) -> Result<Png, FigureError> {
    let (width, height) = size(fig)?;
    let legend = draw::legend(fig);
    let mut pixels = vec![0_u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw::draw(&root, fig, &legend).map_err(|message| draw_error(fig, message))?;
        root.present().map_err(|e| draw_error(fig, e.to_string()))?;
    }
    let png_error = |source| FigureError::Png {
        figure: fig.id.clone(),
        source,
    };
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
    }
    Ok(Png {
        bytes,
        width,
        height,
    })
}

fn draw_error(fig: &Figure, message: String) -> FigureError {
    FigureError::Draw {
        figure: fig.id.clone(),
        message,
    }
}
