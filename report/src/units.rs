//! Time units as they appear in result documents (`ns`, `us`, `ms`, `s`) and their display.

/// Nanoseconds in one `unit`, for the time units lwcbench writes (`ns`, `us` or `µs`, `ms`, `s`);
/// `None` for any other unit (counts, rates).
pub fn ns_per_unit(unit: &str) -> Option<f64> {
    match unit {
        "ns" => Some(1.0),
        "us" | "µs" => Some(1e3),
        "ms" => Some(1e6),
        "s" => Some(1e9),
        _ => None,
    }
}

/// Converts `value` from unit `from` to unit `to`; `None` when either is not a time unit.
pub fn convert(value: f64, from: &str, to: &str) -> Option<f64> {
    Some(value * ns_per_unit(from)? / ns_per_unit(to)?)
}

/// Three significant digits, without exponent for the magnitudes we meet (`0.0123`, `1.23`,
/// `12.3`, `123`, `1234`).
pub fn sig3(value: f64) -> String {
    // Decimals for three significant digits; a value that rounds up into the next decade
    // (99.96 -> "100.0") takes one decimal fewer.
    let decimals = |a: f64| -> usize {
        if a >= 100.0 || a == 0.0 {
            0
        } else if a >= 10.0 {
            1
        } else if a >= 1.0 {
            2
        } else if a >= 0.1 {
            3
        } else {
            4
        }
    };
    let d = decimals(value.abs());
    let s = format!("{value:.d$}");
    let rounded: f64 = s.parse().unwrap_or(value);
    let d2 = decimals(rounded.abs());
    if d2 < d {
        format!("{value:.d2$}")
    } else {
        s
    }
}

/// Displays a value of `unit`: a time is scaled to the unit that reads best (`812 ns`, `2.01 µs`,
/// `1.97 ms`); anything else keeps its unit.
pub fn human(value: f64, unit: &str) -> String {
    let Some(ns) = ns_per_unit(unit).map(|f| value * f) else {
        return format!("{} {unit}", sig3(value));
    };
    let a = ns.abs();
    if a < 1e3 {
        format!("{} ns", sig3(ns))
    } else if a < 1e6 {
        format!("{} µs", sig3(ns / 1e3))
    } else if a < 1e9 {
        format!("{} ms", sig3(ns / 1e6))
    } else {
        format!("{} s", sig3(ns / 1e9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_between_time_units() {
        assert_eq!(convert(2010.0, "ns", "us"), Some(2.01));
        assert_eq!(convert(1.5, "ms", "us"), Some(1500.0));
        assert_eq!(convert(1.0, "req/s", "us"), None);
    }

    #[test]
    fn human_picks_a_readable_unit() {
        assert_eq!(human(812.4, "ns"), "812 ns");
        assert_eq!(human(2010.0, "ns"), "2.01 µs");
        assert_eq!(human(87.7, "us"), "87.7 µs");
        assert_eq!(human(1970.0, "us"), "1.97 ms");
        assert_eq!(human(12.0, "req/s"), "12.0 req/s");
        assert_eq!(human(99.99, "us"), "100 µs");
        assert_eq!(sig3(9.999), "10.0");
    }
}
