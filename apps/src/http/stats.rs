//! What a worker counted, sent to the server's parent when it stops (one line of `key=value`).

use std::fmt;
use std::str::FromStr;

/// A worker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted and given a session.
    pub connections: u64,
    /// Requests answered with 200 by sessions that ended normally (sessions of the
    /// `process` and `thread` modes report none).
    pub requests: u64,
    /// Sessions whose context crashed (its connection was lost, nothing else).
    pub crashed: u64,
    /// Sessions ended by a time-out (slow or silent clients).
    pub timed_out: u64,
    /// Connections refused with 503 (over the connection limit).
    pub rejected: u64,
    /// Sessions that could not be started (their connection was closed).
    pub failed: u64,
    /// `lwc-pool`: sessions that got a pooled lwC.
    pub pool_hits: u64,
    /// `lwc-pool`: sessions that found the pool empty and got a fresh lwC.
    pub pool_misses: u64,
}

impl Stats {
    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("connections", self.connections),
            ("requests", self.requests),
            ("crashed", self.crashed),
            ("timed_out", self.timed_out),
            ("rejected", self.rejected),
            ("failed", self.failed),
            ("pool_hits", self.pool_hits),
            ("pool_misses", self.pool_misses),
        ]
    }

    fn field_mut(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "connections" => &mut self.connections,
            "requests" => &mut self.requests,
            "crashed" => &mut self.crashed,
            "timed_out" => &mut self.timed_out,
            "rejected" => &mut self.rejected,
            "failed" => &mut self.failed,
            "pool_hits" => &mut self.pool_hits,
            "pool_misses" => &mut self.pool_misses,
            _ => return None,
        })
    }

    /// The sum of several workers' counters.
    pub fn total<'a>(all: impl IntoIterator<Item = &'a Stats>) -> Stats {
        let mut sum = Stats::default();
        for s in all {
            for (name, v) in s.fields() {
                if let Some(f) = sum.field_mut(name) {
                    *f += v;
                }
            }
        }
        sum
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, v) in self.fields() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={v}")?;
        }
        Ok(())
    }
}

impl FromStr for Stats {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let mut s = Stats::default();
        for pair in line.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("not key=value: {pair}"))?;
            let v: u64 = v.parse().map_err(|_| format!("not a count: {pair}"))?;
            *s.field_mut(k)
                .ok_or_else(|| format!("unknown counter {k}"))? = v;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_round_trip_through_their_line() {
        // Guards against a counter that is written but not read back (or under another name).
        let s = Stats {
            connections: 1,
            requests: 2,
            crashed: 3,
            timed_out: 4,
            rejected: 5,
            failed: 6,
            pool_hits: 7,
            pool_misses: 8,
        };
        assert_eq!(s.to_string().parse::<Stats>(), Ok(s));
        assert_eq!(Stats::total([&s, &s]).crashed, 6);
        assert!("crashed=x".parse::<Stats>().is_err());
        assert!("nope=1".parse::<Stats>().is_err());
    }
}
