//! The private working set a party of a ring touches each time it gets control (the `tlb`
//! experiment): W pages of its own memory, one byte written in each 4 KiB page, so a switch is
//! followed by W translations the TLB either still holds (same address space, or a tagged TLB
//! that kept the entries) or must walk the page tables for again.
//!
//! ```text
//!   party i:  wait for its turn ─► touch page 0, 1, …, W-1 of its own set ─► pass the turn on
//! ```
//!
//! With [`PageSize::Huge`] the same W × 4 KiB are mapped for transparent huge pages
//! (`MADV_HUGEPAGE`), so they need W / 512 TLB entries instead of W; whether the kernel really
//! backed them with huge pages is read back from `/proc/self/smaps` ([`WorkingSet::huge_bytes`]).

use crate::experiment::{os, MeasureError};
use crate::sys;

/// The page size a working set is mapped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 4 KiB pages (transparent huge pages turned off for the mapping).
    Base,
    /// 2 MiB transparent huge pages where the kernel grants them.
    Huge,
}

impl PageSize {
    /// Both, base pages first.
    pub const ALL: [PageSize; 2] = [PageSize::Base, PageSize::Huge];

    /// The value of the `page_size` parameter.
    pub fn label(self) -> &'static str {
        match self {
            PageSize::Base => "4k",
            PageSize::Huge => "2m",
        }
    }

    /// Parses a `page_size` parameter value.
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.label() == label)
    }
}

/// What every party does with its working set after each switch: touch `pages` 4 KiB pages,
/// mapped with `page_size`. `pages` = 0: nothing (a plain ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Touch {
    /// 4 KiB pages touched per switch (W).
    pub pages: usize,
    /// How they are mapped.
    pub page_size: PageSize,
}

impl Touch {
    /// Touch nothing.
    pub const NONE: Touch = Touch {
        pages: 0,
        page_size: PageSize::Base,
    };
}

/// One party's private working set.
pub struct WorkingSet {
    region: Option<sys::Region>,
    pages: usize,
}

impl WorkingSet {
    /// Maps and writes the set `touch` describes (nothing for `pages` = 0).
    pub fn new(touch: Touch) -> Result<Self, MeasureError> {
        if touch.pages == 0 {
            return Ok(WorkingSet {
                region: None,
                pages: 0,
            });
        }
        let bytes = touch.pages * rustix::param::page_size();
        let region = match touch.page_size {
            PageSize::Base => {
                sys::Region::populated(bytes).map_err(|e| os("mmap (working set)", e))?
            }
            PageSize::Huge => sys::Region::populated_huge(bytes).map_err(|e| {
                if e.raw_os_error() == Some(libc::EINVAL) {
                    MeasureError::Unavailable(format!(
                        "madvise(MADV_HUGEPAGE): {e}: this kernel has no transparent huge pages"
                    ))
                } else {
                    os("mmap (huge-page working set)", e)
                }
            })?,
        };
        Ok(WorkingSet {
            region: Some(region),
            pages: touch.pages,
        })
    }

    /// Writes one byte in each page of the set.
    pub fn touch(&mut self) {
        if let Some(r) = &mut self.region {
            r.write_pages(self.pages);
        }
    }

    /// Bytes of the set the kernel backs with huge pages (`AnonHugePages` of its mapping in
    /// `/proc/self/smaps`); `None` for an empty set or when smaps cannot be read.
    pub fn huge_bytes(&self) -> Option<u64> {
        let start = self.region.as_ref()?.start();
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        anon_huge_bytes(&smaps, start)
    }
}

/// `AnonHugePages` (bytes) of the mapping that starts at `start` in a smaps text.
fn anon_huge_bytes(smaps: &str, start: usize) -> Option<u64> {
    let head = format!("{start:x}-");
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
    lines.next()?;
    lines
        // Field lines (`Name: value`) until the next mapping's header.
        .take_while(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.ends_with(':'))
        })
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_labels_round_trip() {
        for p in PageSize::ALL {
            assert_eq!(PageSize::parse(p.label()), Some(p));
        }
        assert_eq!(PageSize::parse("1g"), None);
    }

    #[test]
    fn huge_bytes_are_read_from_the_right_mapping() {
        // Guards against reading the AnonHugePages of a neighbouring mapping.
        let smaps = "7f0000000000-7f0000400000 rw-p 00000000 00:00 0 \n\
                     Size:               4096 kB\nAnonHugePages:         0 kB\n\
                     7f0000400000-7f0000800000 rw-p 00000000 00:00 0 \n\
                     Size:               4096 kB\nAnonHugePages:      4096 kB\n";
        assert_eq!(anon_huge_bytes(smaps, 0x7f00_0040_0000), Some(4 << 20));
        assert_eq!(anon_huge_bytes(smaps, 0x7f00_0000_0000), Some(0));
        assert_eq!(anon_huge_bytes(smaps, 0x1000), None);
    }

    #[test]
    fn a_working_set_is_private_and_touched() {
        let mut set = WorkingSet::new(Touch {
            pages: 8,
            page_size: PageSize::Base,
        })
        .expect("set");
        set.touch();
        assert_eq!(set.huge_bytes(), Some(0), "4 KiB pages have no huge page");
        let none = WorkingSet::new(Touch::NONE).expect("empty");
        assert_eq!(none.huge_bytes(), None);
    }
}
