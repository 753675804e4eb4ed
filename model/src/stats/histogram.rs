//! HdrHistogram V2 encoding of a metric's values (deflate-compressed, base64: the `HISTF...` form).
//!
//! Values are recorded as the integers `round(value * scale)`, where `scale` is a power of ten
//! chosen so the smallest positive value keeps three significant digits.
//!
//! # References
//! <https://github.com/HdrHistogram/HdrHistogram/blob/master/Encoding.md>.

use super::error::StatsError;
use crate::samples::EncodedHistogram;
use base64::Engine as _;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Significant decimal digits the histogram keeps.
pub const HISTOGRAM_SIGFIG: u8 = 3;

/// A power of ten that gives the smallest positive value at least 1000 histogram units (3
/// significant digits survive the rounding to integers), kept within `[1, 1e9]` and so that the
/// largest value stays below 1e15 units.
pub fn scale_for(sorted: &[f64]) -> f64 {
    let max = sorted.last().copied().unwrap_or(0.0).max(0.0);
    let min_pos = sorted.iter().copied().find(|&x| x > 0.0);
    let mut k = match min_pos {
        Some(m) => (1000.0 / m).log10().ceil().clamp(0.0, 9.0) as i32,
        None => 0,
    };
    while k > 0 && max * 10f64.powi(k) > 1e15 {
        k -= 1;
    }
    10f64.powi(k)
}

/// An empty histogram with [`HISTOGRAM_SIGFIG`] digits.
pub fn new_histogram() -> Result<Histogram<u64>, StatsError> {
    Histogram::<u64>::new(HISTOGRAM_SIGFIG).map_err(|e| StatsError::Histogram(format!("{e:?}")))
}

/// Records every value of `values` (negative ones as 0) times `scale`.
pub fn record_all(hist: &mut Histogram<u64>, values: &[f64], scale: f64) -> Result<(), StatsError> {
    for &x in values {
        let v = (x.max(0.0) * scale).round() as u64;
        hist.record(v)
            .map_err(|e| StatsError::Histogram(format!("record {v}: {e:?}")))?;
    }
    Ok(())
}

/// Encodes a histogram of values recorded at `scale`.
pub fn encode(hist: &Histogram<u64>, scale: f64) -> Result<EncodedHistogram, StatsError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut bytes)
        .map_err(|e| StatsError::Histogram(format!("encode: {e:?}")))?;
    Ok(EncodedHistogram {
        encoded: base64::engine::general_purpose::STANDARD.encode(bytes),
        scale,
    })
}

/// Encodes `values` as a histogram at the scale [`scale_for`] picks (for a run that reports a
/// histogram instead of its samples).
pub fn encode_values(values: &[f64]) -> Result<EncodedHistogram, StatsError> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let scale = scale_for(&sorted);
    let mut hist = new_histogram()?;
    record_all(&mut hist, &sorted, scale)?;
    encode(&hist, scale)
}

/// Decodes an encoded histogram back into a histogram of scaled integers.
pub fn decode_histogram(encoded: &str) -> Result<Histogram<u64>, StatsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| StatsError::Histogram(format!("base64: {e}")))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| StatsError::Histogram(format!("decode: {e:?}")))
}
