//! The TLS server and its key homes, end to end, and the attacks on the key.
//!
//! Every server runs in a process of its own: this binary re-executes itself in the *serving
//! role* (`role`), which starts the server from key files this process made, plays the
//! attacker from inside the serving context (`attack`), and reports what it got. This process
//! knows the key, so it can look for it in the serving context's memory (`scan`), drives
//! handshakes with a verifying rustls client and checks the signer's signatures. Nothing here
//! forks inside this multi-threaded process: servers are spawned with `Command`, and each test
//! kills its server's whole tree when it ends, also on failure.
#![allow(unsafe_code)]

#[path = "tls/attack.rs"]
mod attack;
#[path = "tls/cases.rs"]
mod cases;
#[path = "tls/role.rs"]
mod role;
#[path = "tls/scan.rs"]
mod scan;
#[path = "tls/support.rs"]
mod support;

fn main() {
    if let Some(code) = role::run_if_asked() {
        std::process::exit(code);
    }
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1);
    libtest_mimic::run(&args, cases::trials()).exit()
}
