//! Records the compiler version for the machine fingerprint (`rustc_version`).

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    if let Ok(out) = std::process::Command::new(rustc).arg("-V").output() {
        let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !v.is_empty() {
            println!("cargo:rustc-env=LWCBENCH_RUSTC_VERSION={v}");
        }
    }
    println!("cargo:rerun-if-env-changed=RUSTC");
}
