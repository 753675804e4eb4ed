//! Ordinary least-squares line through `(x, y)` points.
//!
//! Used to split lwC creation cost into a fixed part (the intercept: create with no page written)
//! and a per-CoW-fault part (the slope over `pages_written`), the two numbers the paper gives.

/// A fitted line `y = intercept + slope * x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// `y` at `x = 0`.
    pub intercept: f64,
    /// Change of `y` per unit of `x`.
    pub slope: f64,
    /// Coefficient of determination; `None` when every `y` is equal (undefined).
    pub r_squared: Option<f64>,
    /// Points the line was fitted to.
    pub n: usize,
}

/// Fits a least-squares line; `None` with fewer than two distinct `x` values or any non-finite
/// input.
pub fn least_squares(points: &[(f64, f64)]) -> Option<Line> {
    if points.len() < 2 || points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let syy: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    let r_squared = (syy > 0.0).then(|| {
        let ss_res: f64 = points
            .iter()
            .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
            .sum();
        1.0 - ss_res / syy
    });
    Some(Line {
        intercept,
        slope,
        r_squared,
        n: points.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_line() {
        let pts: Vec<(f64, f64)> = [0.0, 16.0, 256.0, 4096.0]
            .iter()
            .map(|&x| (x, 87.7 + 3.0 * x))
            .collect();
        let line = least_squares(&pts).expect("fit");
        assert!((line.intercept - 87.7).abs() < 1e-9);
        assert!((line.slope - 3.0).abs() < 1e-12);
        assert_eq!(line.r_squared, Some(1.0));
        assert_eq!(line.n, 4);
    }

    #[test]
    fn refuses_degenerate_input() {
        assert_eq!(least_squares(&[]), None);
        assert_eq!(least_squares(&[(1.0, 2.0)]), None);
        assert_eq!(least_squares(&[(1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(least_squares(&[(0.0, f64::NAN), (1.0, 3.0)]), None);
    }

    #[test]
    fn flat_line_has_undefined_r_squared() {
        let line = least_squares(&[(0.0, 5.0), (10.0, 5.0)]).expect("fit");
        assert_eq!(line.slope, 0.0);
        assert_eq!(line.r_squared, None);
    }
}
