//! Machine fingerprint: what the numbers of a run depend on, read from `/proc` and `/sys`.
//!
//! Every probe is best effort: a file that cannot be read leaves its fact `None`, and a counter
//! the kernel refuses is recorded as `unavailable: <reason>`, never as zero.

use report::machine::{Machine, Smt, Thp, Virtualization};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

/// Takes the fingerprint of this machine now, with warnings about what makes numbers noisy.
pub fn detect() -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let mut m = Machine::unknown(env!("CARGO_PKG_VERSION"), &crate::output::now_rfc3339());
    m.hostname = read_trim("/proc/sys/kernel/hostname");
    m.rustc_version = option_env!("LWCBENCH_RUSTC_VERSION").map(str::to_owned);
    let flags = cpuinfo.as_deref().map(first_flags).unwrap_or_default();
    if let Some(info) = &cpuinfo {
        m.cpu_model = cpuinfo_field(info, "model name");
        for f in ["pcid", "invpcid", "pku", "ospke", "hypervisor"] {
            m.cpu_flags.insert(f.to_owned(), flags.contains(f));
        }
        m.physical_cores = physical_cores(info);
    }
    let online = read_trim("/sys/devices/system/cpu/online")
        .map(|s| parse_cpu_list(&s))
        .unwrap_or_default();
    m.logical_cpus = if online.is_empty() {
        std::thread::available_parallelism().map_or(0, |n| n.get() as u32)
    } else {
        online.len() as u32
    };
    m.smt = Smt {
        active: read_trim("/sys/devices/system/cpu/smt/active").map(|s| s == "1"),
        control: read_trim("/sys/devices/system/cpu/smt/control"),
        cpu0_siblings: read_trim("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list"),
    };
    m.cpus_allowed = read("/proc/self/status").and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_owned())
    });
    m.cpus_isolated = read_trim("/sys/devices/system/cpu/isolated");
    m.kernel_release = read_trim("/proc/sys/kernel/osrelease");
    m.kernel_version = read_trim("/proc/sys/kernel/version");
    m.mitigations = read_dir_values("/sys/devices/system/cpu/vulnerabilities");
    m.virtualization = virtualization(cpuinfo.is_some(), flags.contains("hypervisor"));
    m.governors = governors();
    m.boost = boost();
    m.thp = Thp {
        enabled: read("/sys/kernel/mm/transparent_hugepage/enabled").and_then(|s| selected(&s)),
        defrag: read("/sys/kernel/mm/transparent_hugepage/defrag").and_then(|s| selected(&s)),
    };
    m.counters = counters();
    m.warnings = warnings(&m, &online, &busy_cpus(Duration::from_millis(150)));
    m
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_trim(path: &str) -> Option<String> {
    read(path)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn cpuinfo_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_owned())
    })
}

/// The flags of the first processor in `/proc/cpuinfo`.
fn first_flags(info: &str) -> BTreeSet<String> {
    cpuinfo_field(info, "flags")
        .map(|f| f.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Distinct `(physical id, core id)` pairs; `None` when the file does not list them.
fn physical_cores(info: &str) -> Option<u32> {
    let mut cores = BTreeSet::new();
    for block in info.split("\n\n") {
        let phys = cpuinfo_field(block, "physical id");
        let core = cpuinfo_field(block, "core id");
        if let (Some(p), Some(c)) = (phys, core) {
            cores.insert((p, c));
        }
    }
    (!cores.is_empty()).then_some(cores.len() as u32)
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.trim().parse() {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Every file of a directory as `name -> trimmed content`.
fn read_dir_values(dir: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if let Ok(v) = std::fs::read_to_string(e.path()) {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                v.trim().to_owned(),
            );
        }
    }
    out
}

/// The bracketed choice of a sysfs multiple-choice file (`always [madvise] never`).
fn selected(s: &str) -> Option<String> {
    let start = s.find('[')?;
    let end = s[start..].find(']')? + start;
    Some(s[start + 1..end].to_owned())
}

const VM_VENDORS: &[&str] = &[
    "qemu",
    "kvm",
    "vmware",
    "xen",
    "innotek",
    "virtualbox",
    "amazon ec2",
    "google",
    "microsoft corporation",
    "firecracker",
    "bochs",
    "parallels",
];

fn virtualization(cpuinfo_read: bool, hypervisor_flag: bool) -> Virtualization {
    // `--vm`: a container (docker, lxc) is not a virtual machine; its CPU is the host's.
    let detect = Command::new("systemd-detect-virt")
        .arg("--vm")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty());
    let vendor = read_trim("/sys/class/dmi/id/sys_vendor");
    let product = read_trim("/sys/class/dmi/id/product_name");
    let sys_hypervisor = read_trim("/sys/hypervisor/type");
    let dmi_says_vm = [&vendor, &product].iter().any(|v| {
        v.as_deref().is_some_and(|v| {
            let v = v.to_lowercase();
            VM_VENDORS.iter().any(|k| v.contains(k))
        })
    });
    let virtual_machine = if hypervisor_flag
        || sys_hypervisor.is_some()
        || dmi_says_vm
        || detect.as_deref().is_some_and(|d| d != "none")
    {
        Some(true)
    } else if cpuinfo_read || detect.as_deref() == Some("none") {
        Some(false)
    } else {
        None
    };
    Virtualization {
        hypervisor_flag,
        sys_hypervisor,
        systemd_detect_virt: detect,
        dmi_sys_vendor: vendor,
        dmi_product_name: product,
        virtual_machine,
    }
}

fn governors() -> Vec<String> {
    let mut set = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu") {
        for e in entries.flatten() {
            let path = e.path().join("cpufreq/scaling_governor");
            if let Ok(g) = std::fs::read_to_string(&path) {
                set.insert(g.trim().to_owned());
            }
        }
    }
    set.into_iter().collect()
}

fn boost() -> Option<bool> {
    if let Some(b) = read_trim("/sys/devices/system/cpu/cpufreq/boost") {
        return Some(b == "1");
    }
    read_trim("/sys/devices/system/cpu/intel_pstate/no_turbo").map(|v| v == "0")
}

/// Tries to open each counter lwcbench may use (those of `workloads::counters`), by perf's
/// name for it: `available` or `unavailable: <reason>`.
fn counters() -> BTreeMap<String, String> {
    workloads::counters::availability()
        .into_iter()
        .map(|(kind, ok)| {
            let state = match ok {
                Ok(()) => "available".to_owned(),
                Err(why) => format!("unavailable: {why}"),
            };
            (kind.perf_name().to_owned(), state)
        })
        .collect()
}

/// CPUs that were more than 25% busy over `window` (other load on the machine), with their
/// busy fraction.
fn busy_cpus(window: Duration) -> Vec<(String, f64)> {
    let snap = || -> BTreeMap<String, (u64, u64)> {
        read("/proc/stat")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let name = it.next()?.to_owned();
                let v: Vec<u64> = it.filter_map(|x| x.parse().ok()).collect();
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                Some((name, (total, idle)))
            })
            .collect()
    };
    let a = snap();
    std::thread::sleep(window);
    let b = snap();
    b.iter()
        .filter_map(|(cpu, (t1, i1))| {
            let (t0, i0) = a.get(cpu)?;
            let dt = t1.checked_sub(*t0)?;
            let di = i1.checked_sub(*i0)?;
            if dt == 0 {
                return None;
            }
            let busy = 1.0 - di as f64 / dt as f64;
            (busy > 0.25).then(|| (cpu.clone(), busy))
        })
        .collect()
}

fn warnings(m: &Machine, online: &[u32], busy: &[(String, f64)]) -> Vec<String> {
    let mut w = Vec::new();
    let allowed = m.cpus_allowed.as_deref().map(parse_cpu_list);
    let isolated = m
        .cpus_isolated
        .as_deref()
        .map(parse_cpu_list)
        .unwrap_or_default();
    let restricted = allowed
        .as_ref()
        .is_some_and(|a| !online.is_empty() && a.len() < online.len());
    if !restricted && isolated.is_empty() {
        w.push(format!(
            "not pinned: lwcbench may run on every CPU ({}) and no CPU is isolated (isolcpus); \
             other tasks can share the measured CPUs (the experiments pin their own contexts)",
            m.cpus_allowed.as_deref().unwrap_or("?")
        ));
    }
    if m.governors.is_empty() {
        w.push("CPU frequency governor unknown (no cpufreq in /sys)".to_owned());
    } else if m.governors.iter().any(|g| g != "performance") {
        w.push(format!(
            "CPU frequency governor is {} (not performance): frequency scaling adds noise",
            m.governors.join(", ")
        ));
    }
    if m.boost == Some(true) {
        w.push("frequency boost (turbo) is on: results depend on temperature and load".to_owned());
    }
    if m.smt.active == Some(true) {
        w.push(format!(
            "SMT is on (CPU 0 siblings: {}): a busy sibling thread slows the measured one",
            m.smt.cpu0_siblings.as_deref().unwrap_or("?")
        ));
    }
    for (cpu, frac) in busy {
        w.push(format!(
            "{cpu} was {:.0}% busy while lwcbench was idle: other load on the machine",
            frac * 100.0
        ));
    }
    if m.virtualization.virtual_machine == Some(true) {
        let what = m
            .virtualization
            .systemd_detect_virt
            .clone()
            .filter(|d| d != "none")
            .or_else(|| m.virtualization.dmi_product_name.clone())
            .unwrap_or_else(|| "hypervisor flag set".to_owned());
        w.push(format!(
            "running in a virtual machine ({what}): switch and fault costs include \
             virtualization overhead; not comparable with bare metal"
        ));
    }
    // One line per distinct reason: `cycles, instructions: <reason>`.
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &m.counters {
        if let Some(reason) = v.strip_prefix("unavailable: ") {
            by_reason.entry(reason).or_default().push(k);
        }
    }
    for (reason, names) in by_reason {
        w.push(format!(
            "performance counters unavailable: {}: {reason}",
            names.join(", ")
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("5"), vec![5]);
    }

    #[test]
    fn picks_the_selected_choice() {
        assert_eq!(selected("always [madvise] never\n"), Some("madvise".into()));
        assert_eq!(selected("none"), None);
    }

    #[test]
    fn counts_physical_cores() {
        let info = "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 0\n\
                    core id: 0\n\nprocessor: 2\nphysical id: 0\ncore id: 1\n";
        assert_eq!(physical_cores(info), Some(2));
        assert_eq!(physical_cores("processor: 0\n"), None);
    }

    #[test]
    fn detect_never_reports_a_counter_as_zero() {
        let m = detect();
        assert!(m.logical_cpus > 0);
        for (name, state) in &m.counters {
            assert!(
                state == "available" || state.starts_with("unavailable: "),
                "{name}: {state}"
            );
        }
    }
}
