//! One colour per backend, the same in every figure, and one marker shape per machine.

use plotters::style::RGBColor;

/// The colour of a backend. Known backends have fixed colours (no two alike); another name gets
/// one of a fallback set chosen from its name, so it too is the same in every figure.
pub fn backend_colour(backend: &str) -> RGBColor {
    match backend {
        "lwc" => RGBColor(214, 39, 40),
        "lwc-spin" => RGBColor(255, 127, 14),
        "process-pipe" => RGBColor(31, 119, 180),
        "process-futex" => RGBColor(23, 160, 190),
        "process-spin" => RGBColor(255, 187, 120),
        "thread-futex" => RGBColor(44, 160, 44),
        "thread-condvar" => RGBColor(150, 150, 20),
        "coroutine" => RGBColor(148, 103, 189),
        "fork" => RGBColor(140, 86, 75),
        "spawn" => RGBColor(227, 119, 194),
        "thread" => RGBColor(0, 100, 60),
        "process" => RGBColor(60, 100, 220),
        "lwc-systrap" => RGBColor(190, 0, 70),
        "lwc-monitor" => RGBColor(255, 152, 150),
        "seccomp-unotify" => RGBColor(0, 60, 140),
        "ptrace" => RGBColor(188, 189, 34),
        "seccomp-bpf" => RGBColor(0, 170, 110),
        "none" => RGBColor(60, 60, 60),
        "lwc-snapshot" => RGBColor(235, 20, 20),
        "lwc-pool" => RGBColor(255, 160, 60),
        "lwc-inplace" => RGBColor(230, 85, 150),
        "reinit" => RGBColor(120, 120, 200),
        other => {
            const FALLBACK: [RGBColor; 6] = [
                RGBColor(90, 90, 90),
                RGBColor(0, 80, 160),
                RGBColor(160, 0, 100),
                RGBColor(100, 60, 0),
                RGBColor(0, 130, 130),
                RGBColor(120, 0, 200),
            ];
            // FNV-1a: stable across runs and platforms, unlike the std hasher.
            let h = other.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            FALLBACK[h as usize % FALLBACK.len()]
        }
    }
}

/// Marker shapes, one per machine (result file), in order; more machines reuse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Filled circle.
    Circle,
    /// Filled triangle.
    Triangle,
    /// Filled square.
    Square,
    /// Cross.
    Cross,
}

/// The marker of machine `index`.
pub fn machine_marker(index: usize) -> Marker {
    [
        Marker::Circle,
        Marker::Triangle,
        Marker::Square,
        Marker::Cross,
    ][index % 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_backends_have_distinct_colours() {
        let names = [
            "lwc",
            "lwc-spin",
            "process-pipe",
            "process-futex",
            "process-spin",
            "thread-futex",
            "thread-condvar",
            "coroutine",
            "fork",
            "spawn",
            "thread",
            "lwc-systrap",
            "lwc-monitor",
            "seccomp-unotify",
            "ptrace",
            "seccomp-bpf",
            "none",
            "lwc-snapshot",
            "lwc-pool",
            "lwc-inplace",
            "reinit",
        ];
        let colours: std::collections::BTreeSet<(u8, u8, u8)> = names
            .iter()
            .map(|n| {
                let c = backend_colour(n);
                (c.0, c.1, c.2)
            })
            .collect();
        assert_eq!(colours.len(), names.len());
        assert_eq!(backend_colour("new-one"), backend_colour("new-one"));
    }
}
