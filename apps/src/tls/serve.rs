//! Serving on its own until interrupted: what `lwcbench serve-tls` and the `tls-server` binary
//! run.

use std::io::Write;
use std::path::Path;

use super::{start, ServeOptions, StartError};

/// Starts a server, writes its certificate (PEM) to `cert_out`, prints its URL on stdout and
/// what it is made of on stderr, and serves until the process is killed or interrupted.
pub fn serve_until_interrupted(
    opts: &ServeOptions,
    cert_out: Option<&Path>,
) -> Result<(), StartError> {
    let mut started = start(opts)?;
    let io = |op: &'static str| move |source| StartError::Io { op, source };
    if let Some(path) = cert_out {
        write_atomically(path, super::key::cert_pem(&started.cert).as_bytes())
            .map_err(io("write the certificate"))?;
    }
    let addr = started.server.local_addr().map_err(io("local address"))?;
    eprintln!(
        "serve-tls: key {} ({}), serving pid {}, signer {}; certificate {}",
        opts.home.name(),
        opts.key_type.name(),
        started.serving_pid,
        started
            .signer
            .pid()
            .map_or_else(|| "in this process".to_owned(), |p| format!("pid {p}")),
        cert_out.map_or_else(|| "not written".to_owned(), |p| p.display().to_string()),
    );
    println!("https://{addr}/");
    std::io::stdout().flush().map_err(io("write to stdout"))?;
    started
        .server
        .run_for(None)
        .map(|_| ())
        .map_err(io("serve"))
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
