//! What a process uses (`/proc/self/smaps_rollup`, `/proc/self/status`), what the machine has
//! left (`MemAvailable`), and the guard that stops a sweep before it would take too much.

use crate::experiment::{os, MeasureError};

/// The memory of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Proportional set size: private pages plus a share of each shared one, bytes.
    pub pss_bytes: u64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Page tables (`VmPTE`), bytes.
    pub page_table_bytes: u64,
}

/// The value in bytes of the `name:` line (in kB) of a `/proc` text.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// Parses `smaps_rollup` and `status` texts.
pub fn parse_usage(smaps_rollup: &str, status: &str) -> Option<Usage> {
    Some(Usage {
        pss_bytes: kib_field(smaps_rollup, "Pss")?,
        rss_bytes: kib_field(smaps_rollup, "Rss")?,
        page_table_bytes: kib_field(status, "VmPTE")?,
    })
}

/// The calling process's memory.
pub fn own_usage() -> Result<Usage, MeasureError> {
    let read = |path: &'static str| std::fs::read_to_string(path).map_err(|e| os(path, e));
    let (rollup, status) = (read("/proc/self/smaps_rollup")?, read("/proc/self/status")?);
    parse_usage(&rollup, &status).ok_or_else(|| {
        os(
            "/proc/self/smaps_rollup",
            std::io::Error::other("no Pss, Rss or VmPTE line"),
        )
    })
}

/// `MemAvailable` of `/proc/meminfo`, bytes.
pub fn mem_available() -> Result<u64, MeasureError> {
    let text = std::fs::read_to_string("/proc/meminfo").map_err(|e| os("/proc/meminfo", e))?;
    kib_field(&text, "MemAvailable").ok_or_else(|| {
        os(
            "/proc/meminfo",
            std::io::Error::other("no MemAvailable line"),
        )
    })
}

/// Share of `MemAvailable` (at the start of a run) a scale run may take.
pub const SAFE_SHARE: f64 = 0.5;

/// How much more memory a scale run may take, and what it has taken so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// The most the run may take, bytes.
    pub ceiling_bytes: u64,
    /// What the ceiling is, in words (`half of MemAvailable (11.2 GiB)`), for the reason.
    pub ceiling_is: &'static str,
    /// `MemAvailable` when the run started, bytes.
    start_available: u64,
}

impl Guard {
    /// [`SAFE_SHARE`] of what the machine has available now.
    pub fn machine() -> Result<Self, MeasureError> {
        let available = mem_available()?;
        Ok(Guard {
            ceiling_bytes: (available as f64 * SAFE_SHARE) as u64,
            ceiling_is: "half of MemAvailable at the start",
            start_available: available,
        })
    }

    /// A fixed ceiling (tests force a tiny one).
    pub fn fixed(ceiling_bytes: u64) -> Result<Self, MeasureError> {
        Ok(Guard {
            ceiling_bytes,
            ceiling_is: "the configured ceiling",
            start_available: mem_available()?,
        })
    }

    /// Checks the next step before it runs: `made` sessions exist, `next` more are to come,
    /// each of them holding at least `floor_bytes`. The estimate per session is what the
    /// machine lost per session so far (`MemAvailable`), at least `floor_bytes`; the step may
    /// go when what was taken plus the estimate for `next` stays under the ceiling. `Err`
    /// (unavailable) says why the sweep stops, in numbers.
    pub fn check(&self, made: usize, next: usize, floor_bytes: u64) -> Result<(), MeasureError> {
        let now = mem_available()?;
        let taken = self.start_available.saturating_sub(now);
        let per = if made == 0 {
            floor_bytes
        } else {
            (taken / made as u64).max(floor_bytes)
        };
        let need = per.saturating_mul(next as u64);
        if taken.saturating_add(need) <= self.ceiling_bytes {
            return Ok(());
        }
        Err(MeasureError::Unavailable(format!(
            "memory guard: stopped after {made} sessions: the next {next} would need about {} \
             ({} each, estimated from the sessions so far), and with the {} taken that passes \
             {} ({})",
            mib(need),
            kib(per),
            mib(taken),
            mib(self.ceiling_bytes),
            self.ceiling_is
        )))
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
}

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_in_bytes() {
        // Guards against kB read as bytes, or Pss taken from the Pss_Anon line.
        let rollup = "00400000-7fff rw-p 0 00:00 0 [rollup]\nRss:      400 kB\nPss:      \
                      100 kB\nPss_Anon:  80 kB\n";
        let status = "Name:\tx\nVmPTE:\t      12 kB\n";
        assert_eq!(
            parse_usage(rollup, status),
            Some(Usage {
                pss_bytes: 100 * 1024,
                rss_bytes: 400 * 1024,
                page_table_bytes: 12 * 1024
            })
        );
        assert_eq!(parse_usage("Rss: 1 kB\n", status), None);
    }

    #[test]
    fn own_usage_and_available_memory_are_read() {
        let u = own_usage().expect("usage");
        assert!(u.rss_bytes > 0 && u.pss_bytes > 0 && u.pss_bytes <= u.rss_bytes);
        assert!(mem_available().expect("available") > 0);
    }

    #[test]
    fn the_guard_stops_a_step_that_would_pass_the_ceiling() {
        // Guards against a sweep that goes on past its memory ceiling (here 1 MiB, and the next
        // step needs at least 64 × 64 KiB = 4 MiB).
        let guard = Guard::fixed(1 << 20).expect("guard");
        let stop = guard.check(0, 64, 64 << 10).expect_err("must stop");
        assert!(
            matches!(&stop, MeasureError::Unavailable(m) if m.contains("memory guard")),
            "{stop}"
        );
        let roomy = Guard::fixed(u64::MAX).expect("guard");
        roomy.check(10, 10, 64 << 10).expect("fits");
    }
}
