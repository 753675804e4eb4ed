//! Units of measured values, which direction is better for each, and their display.
//!
//! A unit travels as its symbol (`"ns"`, `"us"`, `"req/s"`); parsing it once gives a [`Unit`]
//! that knows whether lower or higher is better, so no reader guesses from the spelling.
//!
//! ```
//! use model::{Better, Unit};
//! assert_eq!(Unit::parse("us"), Unit::Us);
//! assert_eq!(Unit::Us.better(), Some(Better::Lower));
//! assert_eq!(Unit::per_second("req").better(), Some(Better::Higher));
//! assert_eq!(Unit::parse("req/s").symbol(), "req/s");
//! assert_eq!(model::unit::human(2010.0, &Unit::Ns), "2.01 µs");
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which way a change of a value is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller is better (times, bytes).
    Lower,
    /// Larger is better (rates).
    Higher,
}

/// The unit of a metric's values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Nanoseconds (lower is better).
    Ns,
    /// Microseconds, written `us` (`µs` is read too); lower is better.
    Us,
    /// Milliseconds (lower is better).
    Ms,
    /// Seconds (lower is better).
    S,
    /// Bytes (memory per context; lower is better).
    Bytes,
    /// Events per second, `<what>/s` (`req/s`, `handshakes/s`); higher is better.
    PerSecond(String),
    /// A unit this version does not know (read from a file); it has no known better direction.
    Other(String),
}

impl Unit {
    /// A rate of `what` per second (`Unit::per_second("req")` is `req/s`).
    pub fn per_second(what: &str) -> Unit {
        Unit::PerSecond(what.to_owned())
    }

    /// Parses a unit symbol; an unknown symbol becomes [`Unit::Other`].
    pub fn parse(symbol: &str) -> Unit {
        match symbol {
            "ns" => Unit::Ns,
            "us" | "µs" => Unit::Us,
            "ms" => Unit::Ms,
            "s" => Unit::S,
            "bytes" | "B" => Unit::Bytes,
            s => match s.strip_suffix("/s") {
                Some(what) if !what.is_empty() => Unit::PerSecond(what.to_owned()),
                _ => Unit::Other(s.to_owned()),
            },
        }
    }

    /// The symbol written in JSON and tables.
    pub fn symbol(&self) -> String {
        match self {
            Unit::Ns => "ns".to_owned(),
            Unit::Us => "us".to_owned(),
            Unit::Ms => "ms".to_owned(),
            Unit::S => "s".to_owned(),
            Unit::Bytes => "bytes".to_owned(),
            Unit::PerSecond(what) => format!("{what}/s"),
            Unit::Other(s) => s.clone(),
        }
    }

    /// Which direction is better; `None` for a unit this version does not know.
    pub fn better(&self) -> Option<Better> {
        match self {
            Unit::Ns | Unit::Us | Unit::Ms | Unit::S | Unit::Bytes => Some(Better::Lower),
            Unit::PerSecond(_) => Some(Better::Higher),
            Unit::Other(_) => None,
        }
    }

    /// Nanoseconds in one unit, for the time units; `None` for any other unit.
    pub fn ns_per_unit(&self) -> Option<f64> {
        match self {
            Unit::Ns => Some(1.0),
            Unit::Us => Some(1e3),
            Unit::Ms => Some(1e6),
            Unit::S => Some(1e9),
            _ => None,
        }
    }

    /// True for `ns`, `us`, `ms` and `s`.
    pub fn is_time(&self) -> bool {
        self.ns_per_unit().is_some()
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.symbol())
    }
}

impl Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.symbol())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Unit::parse(&s))
    }
}

/// Converts `value` from unit `from` to unit `to`: between time units, or the identity when both
/// are the same unit; `None` otherwise.
pub fn convert(value: f64, from: &Unit, to: &Unit) -> Option<f64> {
    if from == to {
        return Some(value);
    }
    Some(value * from.ns_per_unit()? / to.ns_per_unit()?)
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
/// `1.97 ms`), bytes to binary multiples (`385 KiB`, `1.20 MiB`); anything else keeps its unit.
pub fn human(value: f64, unit: &Unit) -> String {
    if *unit == Unit::Bytes {
        let a = value.abs();
        return match a {
            _ if a < 1024.0 => format!("{} B", sig3(value)),
            _ if a < 1024.0 * 1024.0 => format!("{} KiB", sig3(value / 1024.0)),
            _ if a < 1024.0 * 1024.0 * 1024.0 => format!("{} MiB", sig3(value / 1048576.0)),
            _ => format!("{} GiB", sig3(value / 1073741824.0)),
        };
    }
    let Some(ns) = unit.ns_per_unit().map(|f| value * f) else {
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
    fn bytes_read_in_binary_multiples() {
        // Guards against a memory per session shown as a raw count of bytes.
        assert_eq!(human(512.0, &Unit::Bytes), "512 B");
        assert_eq!(human(393_984.0, &Unit::Bytes), "385 KiB");
        assert_eq!(human(1.5 * 1048576.0, &Unit::Bytes), "1.50 MiB");
    }

    #[test]
    fn symbols_round_trip() {
        for u in [
            Unit::Ns,
            Unit::Us,
            Unit::Ms,
            Unit::S,
            Unit::Bytes,
            Unit::per_second("req"),
            Unit::Other("widgets".into()),
        ] {
            assert_eq!(Unit::parse(&u.symbol()), u);
            let json = serde_json::to_string(&u).expect("json");
            assert_eq!(serde_json::from_str::<Unit>(&json).expect("back"), u);
        }
        assert_eq!(Unit::parse("µs"), Unit::Us);
        assert_eq!(Unit::parse("/s"), Unit::Other("/s".into()));
    }

    #[test]
    fn directions() {
        assert_eq!(Unit::Ns.better(), Some(Better::Lower));
        assert_eq!(Unit::Bytes.better(), Some(Better::Lower));
        assert_eq!(Unit::parse("handshakes/s").better(), Some(Better::Higher));
        assert_eq!(Unit::Other("x".into()).better(), None);
    }

    #[test]
    fn converts_between_time_units() {
        assert_eq!(convert(2010.0, &Unit::Ns, &Unit::Us), Some(2.01));
        assert_eq!(convert(1.5, &Unit::Ms, &Unit::Us), Some(1500.0));
        assert_eq!(convert(1.0, &Unit::per_second("req"), &Unit::Us), None);
        let rps = Unit::per_second("req");
        assert_eq!(convert(7.0, &rps, &rps), Some(7.0));
    }

    #[test]
    fn human_picks_a_readable_unit() {
        assert_eq!(human(812.4, &Unit::Ns), "812 ns");
        assert_eq!(human(2010.0, &Unit::Ns), "2.01 µs");
        assert_eq!(human(87.7, &Unit::Us), "87.7 µs");
        assert_eq!(human(1970.0, &Unit::Us), "1.97 ms");
        assert_eq!(human(12.0, &Unit::per_second("req")), "12.0 req/s");
        assert_eq!(human(99.99, &Unit::Us), "100 µs");
        assert_eq!(sig3(9.999), "10.0");
    }
}
