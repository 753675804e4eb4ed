//! The two-sided Mann–Whitney U test (exact distribution for small samples, normal approximation
//! for large ones). `compare` applies it to the run medians of a baseline and a current point:
//! with 5 runs a side the smallest p-value is 2/252 = 0.0079, reached only when every run of one
//! side is slower than every run of the other; with 3 runs a side it is 0.1.
//!
//! # References
//! Mann and Whitney (1947); Abramowitz and Stegun 7.1.26 for the normal tail.

/// Two-sided p-value of the Mann–Whitney U test of samples `x` and `y` (ties count one half);
/// `None` when either is empty.
pub fn mann_whitney_p(x: &[f64], y: &[f64]) -> Option<f64> {
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return None;
    }
    let u: f64 = x
        .iter()
        .map(|a| {
            y.iter()
                .map(|b| match a.total_cmp(b) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>()
        })
        .sum();
    let nm = n * m;
    let p = if nm <= 400 {
        // Exact: counts[k] = arrangements of n + m values with U = k, by dynamic programming
        // over (i of x, j of y): the largest value is an x (adds j to U) or a y.
        let mut table = vec![vec![vec![0.0_f64; nm + 1]; m + 1]; n + 1];
        for row in table[0].iter_mut() {
            row[0] = 1.0;
        }
        for i in 1..=n {
            table[i][0][0] = 1.0;
            for j in 1..=m {
                for k in 0..=i * j {
                    let with_x = if k >= j { table[i - 1][j][k - j] } else { 0.0 };
                    let with_y = table[i][j - 1][k];
                    table[i][j][k] = with_x + with_y;
                }
            }
        }
        let counts = &table[n][m];
        let total: f64 = counts.iter().sum();
        // Conservative with ties: round U away from the centre of each tail.
        let lower: f64 = counts[..=(u.ceil() as usize).min(nm)].iter().sum::<f64>() / total;
        let upper: f64 = counts[(u.floor() as usize).min(nm)..].iter().sum::<f64>() / total;
        2.0 * lower.min(upper)
    } else {
        let (nf, mf) = (n as f64, m as f64);
        let mean = nf * mf / 2.0;
        let sd = (nf * mf * (nf + mf + 1.0) / 12.0).sqrt();
        let z = ((u - mean).abs() - 0.5).max(0.0) / sd;
        2.0 * normal_upper_tail(z)
    };
    Some(p.min(1.0))
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_known_values() {
        // Complete separation, 5 against 5: 2 / C(10, 5) = 2 / 252.
        let p = mann_whitney_p(&[6.0, 7.0, 8.0, 9.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((p.unwrap_or(0.0) - 2.0 / 252.0).abs() < 1e-12);
        // 3 against 3: 2 / 20.
        let p = mann_whitney_p(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]);
        assert!((p.unwrap_or(0.0) - 0.1).abs() < 1e-12);
        // Identical samples: nothing to see.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
        assert_eq!(p, Some(1.0));
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
        // Large samples use the normal approximation: separated, tiny p.
        let x: Vec<f64> = (0..30).map(|i| 100.0 + f64::from(i)).collect();
        let y: Vec<f64> = (0..30).map(f64::from).collect();
        assert!(mann_whitney_p(&x, &y).unwrap_or(1.0) < 1e-6);
        assert!(mann_whitney_p(&x, &x).unwrap_or(0.0) > 0.9);
    }

    #[test]
    fn normal_tail_is_accurate() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-6);
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
    }
}
