//! Perf counters around measured code: one counter group, opened on the measuring thread and
//! inherited by what it creates, read as totals per operation.
//!
//! ```text
//!   software group: task-clock ── context-switches · page-faults · cpu-migrations
//!   hardware group: cycles ── instructions · dTLB-load-misses · iTLB-load-misses  (where the
//!                                                                  kernel has a PMU)
//!   reset + enable (one ioctl per leader) ─► measured code ─► disable ─► one read per group
//! ```
//!
//! A group is scheduled onto the PMU as a whole, so its counts cover the same stretch of time and
//! their ratios (misses per switch, instructions per cycle) are coherent. When the kernel
//! multiplexes the group with other users of the PMU, it ran for `time_running` of the
//! `time_enabled` nanoseconds, and every count is scaled up by `time_enabled / time_running`.
//! The software events have a group of their own ([`Counters`]): a PMU too busy to take the
//! hardware group then costs the hardware counts only (a software event in a hardware group is
//! scheduled with it).
//!
//! Each member is added where the kernel allows it; one it refuses is recorded with the kernel's
//! reason ([`reason`]: ENOENT without a PMU, as in most virtual machines; EACCES/EPERM under
//! `kernel.perf_event_paranoid`) and reported as [`Counter::Unavailable`], never as zero. Kernel
//! mode is counted where allowed (switches and faults happen there), else user mode only.
//!
//! The counters observe the measuring thread, and the processes and threads it creates while
//! they are enabled (`inherit`): the children a `create` run makes are counted; the partners of
//! a ring, started before the counters, are not (a ring's counts are those of party 0).
//!
//! The group is built on `perf-event-open-sys` (the system-call layer of the `perf-event`
//! crate), because `perf_event::Group` leads with a dummy event that cannot be inherited, and a
//! group whose leader is not inherited is counted in the calling thread only.
//!
//! # References
//! perf_event_open(2): `PERF_FORMAT_GROUP`, `inherit`, `PERF_EVENT_IOC_*`.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use perf_event_open_sys::bindings as pb;

use crate::experiment::Counter;
use crate::sys::{self, PerfGroupOp};

/// A counter the suite asks the kernel for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// CPU time of the counted tasks, ns (the group's leader).
    TaskClock,
    /// Context switches.
    ContextSwitches,
    /// Page faults (minor and major).
    PageFaults,
    /// Migrations to another CPU.
    CpuMigrations,
    /// CPU cycles (hardware).
    Cycles,
    /// Instructions retired (hardware).
    Instructions,
    /// Data-TLB load misses (hardware cache event).
    DtlbLoadMisses,
    /// Instruction-TLB misses (hardware cache event).
    ItlbLoadMisses,
}

impl Kind {
    /// Every counter, the group's leader first.
    pub const ALL: [Kind; 8] = [
        Kind::TaskClock,
        Kind::ContextSwitches,
        Kind::PageFaults,
        Kind::CpuMigrations,
        Kind::Cycles,
        Kind::Instructions,
        Kind::DtlbLoadMisses,
        Kind::ItlbLoadMisses,
    ];

    /// The counter's name in results (`<name>_per_op`) and in the machine fingerprint.
    pub fn name(self) -> &'static str {
        match self {
            Kind::TaskClock => "task_clock_ns",
            Kind::ContextSwitches => "context_switches",
            Kind::PageFaults => "page_faults",
            Kind::CpuMigrations => "cpu_migrations",
            Kind::Cycles => "cycles",
            Kind::Instructions => "instructions",
            Kind::DtlbLoadMisses => "dtlb_load_misses",
            Kind::ItlbLoadMisses => "itlb_load_misses",
        }
    }

    /// The event's name as `perf` spells it (`dtlb-load-misses`), for the machine fingerprint.
    pub fn perf_name(self) -> &'static str {
        match self {
            Kind::TaskClock => "task-clock",
            Kind::ContextSwitches => "context-switches",
            Kind::PageFaults => "page-faults",
            Kind::CpuMigrations => "cpu-migrations",
            Kind::Cycles => "cycles",
            Kind::Instructions => "instructions",
            Kind::DtlbLoadMisses => "dtlb-load-misses",
            Kind::ItlbLoadMisses => "itlb-load-misses",
        }
    }

    /// True for the counters only a hardware PMU provides.
    pub fn hardware(self) -> bool {
        !matches!(
            self,
            Kind::TaskClock | Kind::ContextSwitches | Kind::PageFaults | Kind::CpuMigrations
        )
    }

    /// `(type, config)` of `perf_event_attr`.
    fn event(self) -> (u32, u64) {
        let cache = |which: u32| {
            let read = u64::from(pb::PERF_COUNT_HW_CACHE_OP_READ) << 8;
            let miss = u64::from(pb::PERF_COUNT_HW_CACHE_RESULT_MISS) << 16;
            (pb::PERF_TYPE_HW_CACHE, u64::from(which) | read | miss)
        };
        let sw = |c: u32| (pb::PERF_TYPE_SOFTWARE, u64::from(c));
        let hw = |c: u32| (pb::PERF_TYPE_HARDWARE, u64::from(c));
        match self {
            Kind::TaskClock => sw(pb::PERF_COUNT_SW_TASK_CLOCK),
            Kind::ContextSwitches => sw(pb::PERF_COUNT_SW_CONTEXT_SWITCHES),
            Kind::PageFaults => sw(pb::PERF_COUNT_SW_PAGE_FAULTS),
            Kind::CpuMigrations => sw(pb::PERF_COUNT_SW_CPU_MIGRATIONS),
            Kind::Cycles => hw(pb::PERF_COUNT_HW_CPU_CYCLES),
            Kind::Instructions => hw(pb::PERF_COUNT_HW_INSTRUCTIONS),
            Kind::DtlbLoadMisses => cache(pb::PERF_COUNT_HW_CACHE_DTLB),
            Kind::ItlbLoadMisses => cache(pb::PERF_COUNT_HW_CACHE_ITLB),
        }
    }

    /// Opens this counter, disabled (a leader) or following its group's leader, for the calling
    /// thread and what it creates; kernel mode included where allowed.
    fn open(self, leader: Option<&OwnedFd>) -> std::io::Result<OwnedFd> {
        let (type_, config) = self.event();
        let attempt = |exclude_kernel: bool| {
            let mut attr = pb::perf_event_attr {
                type_,
                config,
                ..Default::default()
            };
            attr.set_disabled(u64::from(leader.is_none()));
            attr.set_inherit(1);
            attr.set_exclude_hv(1);
            attr.set_exclude_kernel(u64::from(exclude_kernel));
            if leader.is_none() {
                attr.read_format = u64::from(
                    pb::PERF_FORMAT_GROUP
                        | pb::PERF_FORMAT_ID
                        | pb::PERF_FORMAT_TOTAL_TIME_ENABLED
                        | pb::PERF_FORMAT_TOTAL_TIME_RUNNING,
                );
            }
            sys::perf_event_open(&mut attr, leader.map(|l| l.as_fd()))
        };
        attempt(false).or_else(|e| match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM) => attempt(true),
            _ => Err(e),
        })
    }
}

/// The kernel's reason for refusing a counter, in words.
pub fn reason(e: &std::io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(libc::ENOENT) => "the kernel has no such event (no hardware PMU, as in most VMs)",
        Some(libc::EACCES | libc::EPERM) => "not permitted (see kernel.perf_event_paranoid)",
        Some(libc::EOPNOTSUPP | libc::ENODEV) => "not supported by this CPU or kernel",
        Some(libc::EINVAL) => "refused in one group with the other counters",
        _ => "",
    };
    if why.is_empty() {
        format!("perf_event_open: {e}")
    } else {
        format!("perf_event_open: {e}: {why}")
    }
}

/// Whether each counter of [`Kind::ALL`] can be opened here: `Ok` or the kernel's reason.
pub fn availability() -> Vec<(Kind, Result<(), String>)> {
    Kind::ALL
        .into_iter()
        .map(|k| (k, k.open(None).map(drop).map_err(|e| reason(&e))))
        .collect()
}

/// One counter group: its leader, the members the kernel accepted (with their ids), and the
/// reasons for those it refused.
#[derive(Debug)]
pub struct CounterGroup {
    leader: Option<(Kind, OwnedFd, u64)>,
    members: Vec<(Kind, OwnedFd, u64)>,
    refused: Vec<(Kind, String)>,
}

impl CounterGroup {
    /// Opens the group of `kinds` (the first leads) for the calling thread and what it creates
    /// from now on, disabled. Never fails: a counter the kernel refuses is recorded with the
    /// reason (every one of them, when it refuses the leader).
    pub fn open(kinds: &[Kind]) -> Self {
        Self::open_with(kinds, Kind::open)
    }

    /// [`CounterGroup::open`] with `opener` in place of `perf_event_open` (tests make it refuse).
    fn open_with(
        kinds: &[Kind],
        opener: impl Fn(Kind, Option<&OwnedFd>) -> std::io::Result<OwnedFd>,
    ) -> Self {
        let mut group = CounterGroup {
            leader: None,
            members: Vec::new(),
            refused: Vec::new(),
        };
        let Some((&first, rest)) = kinds.split_first() else {
            return group;
        };
        match opener(first, None).and_then(|fd| sys::perf_event_id(fd.as_fd()).map(|id| (fd, id))) {
            Ok((fd, id)) => group.leader = Some((first, fd, id)),
            Err(e) => {
                let why = format!("{} (the group's leader, {})", reason(&e), first.name());
                group.refused = kinds.iter().map(|&k| (k, why.clone())).collect();
                return group;
            }
        }
        for &kind in rest {
            let leader = group.leader.as_ref().map(|(_, fd, _)| fd);
            match opener(kind, leader)
                .and_then(|fd| sys::perf_event_id(fd.as_fd()).map(|id| (fd, id)))
            {
                Ok((fd, id)) => group.members.push((kind, fd, id)),
                Err(e) => group.refused.push((kind, reason(&e))),
            }
        }
        group
    }

    /// Zeroes and starts every counter of the group at once.
    pub fn start(&mut self) -> std::io::Result<()> {
        if let Some((_, fd, _)) = &self.leader {
            sys::perf_group_ioctl(fd.as_fd(), PerfGroupOp::Reset)?;
            sys::perf_group_ioctl(fd.as_fd(), PerfGroupOp::Enable)?;
        }
        Ok(())
    }

    /// Stops the group and returns each counter as `<name>_per_op` = scaled total / `ops`;
    /// one the kernel refused, that could not be read or never ran is unavailable, with the
    /// reason.
    pub fn finish(&mut self, ops: u64) -> BTreeMap<String, Counter> {
        let unavailable = |why: String| Counter::Unavailable { unavailable: why };
        let mut out: BTreeMap<String, Counter> = self
            .refused
            .iter()
            .map(|(k, why)| (per_op(*k), unavailable(why.clone())))
            .collect();
        let Some((leader_kind, leader, leader_id)) = &mut self.leader else {
            return out;
        };
        let members: Vec<(Kind, u64)> = std::iter::once((*leader_kind, *leader_id))
            .chain(self.members.iter().map(|(k, _, id)| (*k, *id)))
            .collect();
        let read = sys::perf_group_ioctl(leader.as_fd(), PerfGroupOp::Disable)
            .and_then(|()| read_group(leader, members.len()));
        for (kind, id) in members {
            let value = match &read {
                Err(e) => unavailable(format!("reading the counter group: {e}")),
                Ok(g) => g.per_op(id, ops).unwrap_or_else(unavailable),
            };
            out.insert(per_op(kind), value);
        }
        out
    }
}

/// The counters of a measured phase: the software events in one group, the hardware ones in
/// another.
#[derive(Debug)]
pub struct Counters {
    groups: Vec<CounterGroup>,
}

impl Counters {
    /// Opens both groups of [`Kind::ALL`] (see [`CounterGroup::open`]).
    pub fn all() -> Self {
        let (hardware, software): (Vec<Kind>, Vec<Kind>) =
            Kind::ALL.into_iter().partition(|k| k.hardware());
        Counters {
            groups: vec![CounterGroup::open(&software), CounterGroup::open(&hardware)],
        }
    }

    /// Zeroes and starts every group.
    pub fn start(&mut self) -> std::io::Result<()> {
        self.groups.iter_mut().try_for_each(CounterGroup::start)
    }

    /// Every counter of every group, as [`CounterGroup::finish`] gives them.
    pub fn finish(&mut self, ops: u64) -> BTreeMap<String, Counter> {
        self.groups.iter_mut().flat_map(|g| g.finish(ops)).collect()
    }
}

fn per_op(kind: Kind) -> String {
    format!("{}_per_op", kind.name())
}

/// One read of a group (`PERF_FORMAT_GROUP | ID | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRead {
    /// ns the group was enabled.
    pub time_enabled: u64,
    /// ns it was on the PMU.
    pub time_running: u64,
    /// `(id, count)` per member.
    pub counts: Vec<(u64, u64)>,
}

impl GroupRead {
    /// Parses the kernel's words: `nr, time_enabled, time_running, (value, id) × nr`.
    pub fn parse(words: &[u64]) -> Option<Self> {
        let (&nr, rest) = words.split_first()?;
        let (&time_enabled, rest) = rest.split_first()?;
        let (&time_running, rest) = rest.split_first()?;
        let nr = usize::try_from(nr).ok()?;
        let pairs = rest.get(..nr.checked_mul(2)?)?;
        Some(GroupRead {
            time_enabled,
            time_running,
            counts: pairs.chunks_exact(2).map(|p| (p[1], p[0])).collect(),
        })
    }

    /// The count of member `id`, scaled by enabled / running time, per operation; or why not.
    pub fn per_op(&self, id: u64, ops: u64) -> Result<Counter, String> {
        let &(_, count) = self
            .counts
            .iter()
            .find(|(i, _)| *i == id)
            .ok_or("the group read has no value for this counter")?;
        if self.time_running == 0 {
            return Err("the kernel never scheduled the counter group".into());
        }
        if ops == 0 {
            return Err("no operation was counted".into());
        }
        let scale = self.time_enabled as f64 / self.time_running as f64;
        Ok(Counter::Value(count as f64 * scale / ops as f64))
    }
}

fn read_group(leader: &OwnedFd, members: usize) -> std::io::Result<GroupRead> {
    let mut bytes = vec![0u8; (3 + 2 * members) * 8];
    let mut file = std::fs::File::from(leader.try_clone()?);
    let n = file.read(&mut bytes)?;
    let words: Vec<u64> = bytes[..n]
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    GroupRead::parse(&words)
        .ok_or_else(|| std::io::Error::other(format!("short group read ({n} bytes)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplexed_counts_are_scaled_by_enabled_over_running() {
        // Guards against reporting the raw count of a counter the kernel ran only part of the
        // time (here a quarter: the count must be scaled by 4).
        let g = GroupRead::parse(&[2, 400, 100, 10, 7, 30, 9]).expect("parse");
        assert_eq!(g.counts, vec![(7, 10), (9, 30)]);
        assert_eq!(g.per_op(9, 2), Ok(Counter::Value(60.0)));
        assert_eq!(g.per_op(7, 1), Ok(Counter::Value(40.0)));
    }

    #[test]
    fn a_group_that_never_ran_or_counted_nothing_is_no_number() {
        // Guards against a zero (or a division by zero) presented as a measurement.
        let idle = GroupRead::parse(&[1, 400, 0, 0, 7]).expect("parse");
        assert!(idle.per_op(7, 10).is_err());
        let ran = GroupRead::parse(&[1, 400, 400, 5, 7]).expect("parse");
        assert!(ran.per_op(7, 0).is_err());
        assert!(ran.per_op(8, 1).is_err(), "an id not in the read");
        assert!(GroupRead::parse(&[3, 1, 1, 5, 7]).is_none(), "short read");
    }

    #[test]
    fn refused_counters_carry_the_kernels_reason() {
        // Guards against an unavailable counter without its reason (ENOENT: no PMU).
        let enoent = reason(&std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(enoent.contains("no hardware PMU"), "{enoent}");
        let eacces = reason(&std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(eacces.contains("perf_event_paranoid"), "{eacces}");
    }

    #[test]
    fn refused_counters_are_unavailable_with_the_reason_never_zero() {
        // The unavailable path on any machine: an opener that refuses every hardware counter
        // with ENOENT (no PMU) must give those counters as unavailable with that reason while
        // the software ones still count; one that refuses the leader makes every counter
        // unavailable. Guards against a refused counter reported as 0 or silently left out.
        let no_pmu = |k: Kind, leader: Option<&OwnedFd>| {
            if k.hardware() {
                Err(std::io::Error::from_raw_os_error(libc::ENOENT))
            } else {
                k.open(leader)
            }
        };
        let mut group = CounterGroup::open_with(&Kind::ALL, no_pmu);
        group.start().expect("start");
        std::hint::black_box(vec![1u8; 1 << 20]);
        let out = group.finish(1);
        assert_eq!(out.len(), Kind::ALL.len(), "{out:?}");
        if availability()
            .iter()
            .any(|(k, ok)| *k == Kind::PageFaults && ok.is_ok())
        {
            assert!(
                matches!(out["page_faults_per_op"], Counter::Value(v) if v > 0.0),
                "{out:?}"
            );
        }
        for k in Kind::ALL.into_iter().filter(|k| k.hardware()) {
            match &out[&per_op(k)] {
                Counter::Unavailable { unavailable } => {
                    assert!(unavailable.contains("no hardware PMU"), "{unavailable}")
                }
                other => panic!("{k:?}: {other:?}"),
            }
        }
        let denied = |_: Kind, _: Option<&OwnedFd>| -> std::io::Result<OwnedFd> {
            Err(std::io::Error::from_raw_os_error(libc::EACCES))
        };
        let mut group = CounterGroup::open_with(&Kind::ALL, denied);
        group.start().expect("start of an empty group");
        let out = group.finish(1);
        assert_eq!(out.len(), Kind::ALL.len());
        assert!(out.values().all(|c| matches!(c,
            Counter::Unavailable { unavailable } if unavailable.contains("perf_event_paranoid"))));
    }

    #[test]
    fn software_counters_count_and_hardware_ones_are_value_or_reason() {
        // The available path: task-clock and page faults count real work here (software events
        // need no PMU); every hardware counter is a value or unavailable with a reason, and
        // what `availability` refuses is never reported as a number.
        let av = availability();
        let mut group = Counters::all();
        group.start().expect("start");
        let mut pages = vec![0u8; 64 * 4096];
        for p in pages.chunks_mut(4096) {
            p[0] = 1;
        }
        std::hint::black_box(&pages);
        let out = group.finish(4);
        for (kind, ok) in av {
            let c = out.get(&per_op(kind)).expect("every counter reported");
            match (ok, c) {
                (Err(_), Counter::Value(v)) => panic!("{kind:?} refused but reported {v}"),
                (Err(_), Counter::Unavailable { unavailable }) => {
                    assert!(!unavailable.is_empty(), "{kind:?}")
                }
                // An accepted hardware counter may still never be scheduled (a busy PMU).
                (Ok(()), Counter::Unavailable { unavailable }) => {
                    assert!(kind.hardware(), "software counter {kind:?}: {unavailable}")
                }
                (Ok(()), Counter::Value(v)) => assert!(v.is_finite() && *v >= 0.0, "{kind:?}"),
            }
        }
        if let Some(Counter::Value(t)) = out.get("task_clock_ns_per_op") {
            assert!(*t > 0.0, "task clock counted nothing");
        }
    }
}
