//! `lwcbench list` and `lwcbench env`.

use anyhow::{Context, Result};
use std::io::Write;
use workloads::Experiment;

/// Prints every experiment with its description and backends.
pub fn list() -> Result<()> {
    let mut out = std::io::stdout().lock();
    let default = crate::suite::all();
    let hidden = crate::suite::hidden();
    let width = default
        .iter()
        .chain(hidden.iter())
        .map(|e| e.id().len())
        .max()
        .unwrap_or(0);
    writeln!(out, "Experiments (the default suite, in order):")?;
    if default.is_empty() {
        writeln!(out, "  (none built in)")?;
    }
    for e in &default {
        describe(&mut out, *e, width)?;
    }
    writeln!(out, "\nRun only when named:")?;
    for e in &hidden {
        describe(&mut out, *e, width)?;
    }
    Ok(())
}

/// An experiment and the backends it declares (the same list `run --backend` is checked
/// against).
fn describe(out: &mut impl Write, e: &'static dyn Experiment, width: usize) -> Result<()> {
    let backends = e.backends();
    let names = |default: bool| -> Vec<&str> {
        backends
            .iter()
            .filter(|b| b.default == default)
            .map(|b| b.name)
            .collect()
    };
    writeln!(out, "  {:width$}  {}", e.id(), e.describe())?;
    writeln!(out, "  {:width$}  backends: {}", "", names(true).join(", "))?;
    for b in backends.iter().filter(|b| !b.default) {
        writeln!(
            out,
            "  {:width$}  only when named: {} ({})",
            "", b.name, b.about
        )?;
    }
    Ok(())
}

/// Prints the machine fingerprint, as text or JSON.
pub fn env(json: bool) -> Result<()> {
    let m = crate::fingerprint::detect();
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&m).context("serialising the fingerprint")?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".to_owned());
    let flags: Vec<String> = m
        .cpu_flags
        .iter()
        .map(|(k, v)| format!("{k} {}", if *v { "yes" } else { "no" }))
        .collect();
    let virt = &m.virtualization;
    let rows: Vec<(&str, String)> = vec![
        ("host", opt(&m.hostname)),
        ("cpu", opt(&m.cpu_model)),
        ("cpu flags", flags.join(", ")),
        (
            "cpus",
            format!(
                "{} logical, {} physical cores",
                m.logical_cpus,
                m.physical_cores
                    .map_or_else(|| "unknown".to_owned(), |c| c.to_string())
            ),
        ),
        (
            "smt",
            format!(
                "active {}, control {}, cpu0 siblings {}",
                m.smt
                    .active
                    .map_or("unknown", |a| if a { "yes" } else { "no" }),
                opt(&m.smt.control),
                opt(&m.smt.cpu0_siblings)
            ),
        ),
        ("cpus allowed", opt(&m.cpus_allowed)),
        (
            "cpus isolated",
            m.cpus_isolated.clone().unwrap_or_else(|| "none".to_owned()),
        ),
        (
            "kernel",
            format!("{} {}", opt(&m.kernel_release), opt(&m.kernel_version)),
        ),
        (
            "virtualization",
            format!(
                "{} (hypervisor flag {}, systemd-detect-virt {}, dmi {} / {}, /sys/hypervisor {})",
                match virt.virtual_machine {
                    Some(true) => "virtual machine",
                    Some(false) => "bare metal",
                    None => "unknown",
                },
                if virt.hypervisor_flag { "yes" } else { "no" },
                opt(&virt.systemd_detect_virt),
                opt(&virt.dmi_sys_vendor),
                opt(&virt.dmi_product_name),
                opt(&virt.sys_hypervisor)
            ),
        ),
        (
            "governor",
            if m.governors.is_empty() {
                "unknown (no cpufreq)".to_owned()
            } else {
                m.governors.join(", ")
            },
        ),
        (
            "boost",
            m.boost
                .map_or("unknown", |b| if b { "on" } else { "off" })
                .to_owned(),
        ),
        (
            "thp",
            format!(
                "enabled {}, defrag {}",
                opt(&m.thp.enabled),
                opt(&m.thp.defrag)
            ),
        ),
        ("rustc", opt(&m.rustc_version)),
        ("lwcbench", m.lwcbench_version.clone()),
        ("time", m.timestamp.clone()),
    ];
    for (k, v) in rows {
        writeln!(out, "{k:15} {v}")?;
    }
    writeln!(out, "counters")?;
    for (k, v) in &m.counters {
        writeln!(out, "  {k:20} {v}")?;
    }
    writeln!(out, "mitigations")?;
    for (k, v) in &m.mitigations {
        writeln!(out, "  {k:28} {v}")?;
    }
    if m.warnings.is_empty() {
        writeln!(out, "warnings        none")?;
    } else {
        writeln!(out, "warnings")?;
        for w in &m.warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    Ok(())
}
