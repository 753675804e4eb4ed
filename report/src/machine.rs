//! The machine fingerprint recorded with every result.
//!
//! The harness detects these facts (`lwcbench env` prints them); this module only holds them.
//! Every fact the harness could not establish is `None` (or an `unavailable: <reason>` string for
//! counters), never a guess and never a zero.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything known about the machine a result was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Host name (`/proc/sys/kernel/hostname`).
    pub hostname: Option<String>,
    /// CPU model name (`model name` in `/proc/cpuinfo`).
    pub cpu_model: Option<String>,
    /// CPU flags that matter for context switches, by name (`pcid`, `invpcid`, `pku`), present or
    /// not.
    pub cpu_flags: BTreeMap<String, bool>,
    /// Logical CPUs online.
    pub logical_cpus: u32,
    /// Physical cores (distinct `(physical id, core id)` pairs), when `/proc/cpuinfo` tells.
    pub physical_cores: Option<u32>,
    /// Simultaneous multithreading state.
    pub smt: Smt,
    /// CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`).
    pub cpus_allowed: Option<String>,
    /// CPUs isolated from the scheduler (`/sys/devices/system/cpu/isolated`), empty when none.
    pub cpus_isolated: Option<String>,
    /// Kernel release (`uname -r`).
    pub kernel_release: Option<String>,
    /// Kernel build string (`uname -v`).
    pub kernel_version: Option<String>,
    /// CPU vulnerability mitigations, by vulnerability (`/sys/devices/system/cpu/vulnerabilities`).
    pub mitigations: BTreeMap<String, String>,
    /// Virtualization evidence.
    pub virtualization: Virtualization,
    /// Distinct cpufreq scaling governors in use (empty when cpufreq is absent, as in most VMs).
    pub governors: Vec<String>,
    /// Whether frequency boost (turbo) is on; `None` when the machine does not say.
    pub boost: Option<bool>,
    /// Transparent huge page settings.
    pub thp: Thp,
    /// Performance counters, by event name: `available` or `unavailable: <reason>`.
    pub counters: BTreeMap<String, String>,
    /// Version of the Rust compiler that built the harness (`rustc -V`).
    pub rustc_version: Option<String>,
    /// Version of the lwcbench harness.
    pub lwcbench_version: String,
    /// When the fingerprint was taken, RFC 3339 in UTC.
    pub timestamp: String,
    /// What may make numbers from this machine noisy or not comparable, one sentence each.
    pub warnings: Vec<String>,
}

/// Simultaneous multithreading (hyper-threading) state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smt {
    /// `/sys/devices/system/cpu/smt/active`: whether sibling threads are running.
    pub active: Option<bool>,
    /// `/sys/devices/system/cpu/smt/control` (`on`, `off`, `notsupported`, ...).
    pub control: Option<String>,
    /// Siblings of CPU 0 (`thread_siblings_list`).
    pub cpu0_siblings: Option<String>,
}

/// Evidence that the machine is (or is not) a virtual machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Virtualization {
    /// The `hypervisor` CPU flag is set.
    pub hypervisor_flag: bool,
    /// `/sys/hypervisor/type`, when present (Xen).
    pub sys_hypervisor: Option<String>,
    /// Output of `systemd-detect-virt` (`none`, `kvm`, ...), when the tool exists.
    pub systemd_detect_virt: Option<String>,
    /// DMI system vendor (`/sys/class/dmi/id/sys_vendor`), when readable.
    pub dmi_sys_vendor: Option<String>,
    /// DMI product name (`/sys/class/dmi/id/product_name`), when readable.
    pub dmi_product_name: Option<String>,
    /// Conclusion: `Some(true)` when any evidence says virtual machine, `Some(false)` when the
    /// evidence says bare metal, `None` when there is none either way.
    pub virtual_machine: Option<bool>,
}

/// Transparent huge page settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thp {
    /// `/sys/kernel/mm/transparent_hugepage/enabled`, the selected value (`always`, `madvise`,
    /// `never`).
    pub enabled: Option<String>,
    /// `/sys/kernel/mm/transparent_hugepage/defrag`, the selected value.
    pub defrag: Option<String>,
}

impl Machine {
    /// A fingerprint with nothing detected: for tests and for documents built by hand.
    pub fn unknown(lwcbench_version: &str, timestamp: &str) -> Self {
        Machine {
            hostname: None,
            cpu_model: None,
            cpu_flags: BTreeMap::new(),
            logical_cpus: 0,
            physical_cores: None,
            smt: Smt::default(),
            cpus_allowed: None,
            cpus_isolated: None,
            kernel_release: None,
            kernel_version: None,
            mitigations: BTreeMap::new(),
            virtualization: Virtualization::default(),
            governors: Vec::new(),
            boost: None,
            thp: Thp::default(),
            counters: BTreeMap::new(),
            rustc_version: None,
            lwcbench_version: lwcbench_version.to_owned(),
            timestamp: timestamp.to_owned(),
            warnings: Vec::new(),
        }
    }
}
