//! Development aid: tight fork and create + switch + discard loops to profile (`perf stat`,
//! `perf record`). Arguments: iterations, then `fork` or `lwc` to run only one loop.
#![allow(unsafe_code)]
use lwc::{Args, Created, GroupConfig, Options, Spec};
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let only = std::env::args().nth(2);
    let t = std::time::Instant::now();
    for _ in 0..if only.as_deref() == Some("lwc") { 0 } else { n } {
        // SAFETY: single-threaded; the child exits at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: reaps our child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
    println!(
        "{:.1} us per fork+_exit+waitpid",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    if only.as_deref() == Some("fork") {
        return;
    }
    lwc::init(&GroupConfig {
        cpus: vec![0],
        ..Default::default()
    })
    .expect("init");
    let t = std::time::Instant::now();
    let mut in_create = std::time::Duration::ZERO;
    for _ in 0..n {
        let t0 = std::time::Instant::now();
        // SAFETY: single-threaded.
        match unsafe { lwc::create(&Spec::new(), &Options::new()) }.expect("create") {
            Created::Parent(c) => {
                in_create += t0.elapsed();
                lwc::switch(&c, Args::NONE).expect("switch");
            }
            Created::Child { caller, .. } => panic!("{}", lwc::discard_switch(&caller, Args::NONE)),
        }
    }
    println!(
        "{:.1} us per create+switch+discard, of which create {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        in_create.as_secs_f64() * 1e6 / n as f64
    );
}
