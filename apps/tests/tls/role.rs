//! The serving role: a server started from the test's key files, which attacks its own signer
//! from the serving context and then serves.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use apps::tls::key::KeyType;
use apps::tls::signer::{policy, KeyHome, SignError};
use apps::tls::{start, KeySource, ServeOptions};

/// The environment variable that selects the role.
pub const ROLE: &str = "LWCBENCH_TLS_TEST_ROLE";

/// Runs the role if this process was started in it; returns its exit code.
pub fn run_if_asked() -> Option<i32> {
    let role = std::env::var(ROLE).ok()?;
    Some(match role.as_str() {
        "serve" => match serve() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("serving role: {e}");
                1
            }
        },
        other => {
            eprintln!("unknown role {other}");
            2
        }
    })
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// Becomes uid/gid 65534 and dumpable again, as an ordinary unprivileged program is (setresuid
/// from root clears the dumpable flag).
fn become_nobody() -> Result<(), String> {
    // SAFETY: plain system calls with integer arguments and an empty group list.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(65534, 65534, 65534) != 0
            || libc::setresuid(65534, 65534, 65534) != 0
            || libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) != 0
        {
            return Err(format!(
                "drop to nobody: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn serve() -> Result<(), String> {
    let home = KeyHome::parse(&env("TLS_HOME")?).ok_or("bad TLS_HOME")?;
    let key_type = KeyType::parse(&env("TLS_KEY_TYPE")?).ok_or("bad TLS_KEY_TYPE")?;
    let dir = PathBuf::from(env("TLS_DIR")?);
    if env("TLS_USER")? == "nobody" {
        become_nobody()?;
    }
    let opts = ServeOptions {
        home,
        key_type,
        source: KeySource::Files {
            key: dir.join("key.der"),
            cert: dir.join("cert.der"),
        },
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cpu: None,
        limits: Default::default(),
    };
    // Mapped before the signer exists, so the signer has it at the same address.
    let bait = lwc::Pages::new(4096).map_err(|e| e.to_string())?;
    let mut started = start(&opts).map_err(|e| e.to_string())?;
    let mut report = String::new();
    let port = started
        .server
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let _ = writeln!(report, "port {port}");
    let _ = writeln!(report, "serving {}", started.serving_pid);
    if let Some(pid) = started.signer.pid() {
        let _ = writeln!(report, "signer {pid}");
        for line in super::attack::all(pid, started.signer.lwc(), bait.region()) {
            let _ = writeln!(report, "attack {line}");
        }
    }
    // Requests that are not a transcript hash of the right length.
    let probes: [(&str, Vec<u8>); 4] = [
        ("empty", vec![]),
        ("31 bytes", vec![1; policy::HASH_LEN - 1]),
        ("33 bytes", vec![1; policy::HASH_LEN + 1]),
        (
            "a whole CertificateVerify content",
            policy::certificate_verify_content(&[1; policy::HASH_LEN]),
        ),
    ];
    for (name, message) in probes {
        let line = match started.signer.sign_hash(&message) {
            Err(SignError::Refused(why)) => format!("{name}: refused ({why})"),
            Err(e) => format!("{name}: FAILED OTHERWISE ({e})"),
            Ok(_) => format!("{name}: SIGNED"),
        };
        let _ = writeln!(report, "refusal {line}");
    }
    let hash: Vec<u8> = (0..policy::HASH_LEN as u8).collect();
    let signature = started.signer.sign_hash(&hash).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("hash"), &hash).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("signature"), &signature).map_err(|e| e.to_string())?;
    let tmp = dir.join("ready.tmp");
    std::fs::write(&tmp, report).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, dir.join("ready")).map_err(|e| e.to_string())?;
    // Bounded: the test kills it long before.
    started
        .server
        .run_for(Some(Duration::from_secs(120)))
        .map(|_| ())
        .map_err(|e| e.to_string())
}
