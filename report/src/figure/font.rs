//! The bundled font (DejaVu Sans, `assets/fonts/`), registered from bytes for plotters' ab_glyph
//! text: no system fonts, no fontconfig.

use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The family name every figure's text uses.
pub const FAMILY: &str = "sans-serif";

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the font once per process; an error when the bundled bytes are not a font.
pub fn ensure_registered() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the bundled DejaVu Sans font does not parse".to_owned())
    })
    .clone()
}
