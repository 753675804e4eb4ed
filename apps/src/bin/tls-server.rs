//! The TLS server on its own, for debugging (`lwcbench serve-tls` runs the same library code):
//!
//! ```text
//! tls-server [--key in-process|lwc|process|thread] [--key-type rsa2048|p256] [--port P]
//!            [--cert-out FILE] [--key-file KEY.der --cert-file CERT.der] [--cpu N]
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use apps::tls::key::KeyType;
use apps::tls::signer::KeyHome;
use apps::tls::{serve::serve_until_interrupted, KeySource, ServeOptions};

fn parse() -> Result<(ServeOptions, Option<PathBuf>), String> {
    let mut opts = ServeOptions {
        home: KeyHome::InProcess,
        key_type: KeyType::P256,
        source: KeySource::Generate,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
        cpu: None,
        limits: Default::default(),
    };
    let (mut cert_out, mut key_file, mut cert_file) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--key" => {
                let v = value()?;
                opts.home = KeyHome::parse(&v).ok_or_else(|| format!("unknown key home {v}"))?;
            }
            "--key-type" => {
                let v = value()?;
                opts.key_type =
                    KeyType::parse(&v).ok_or_else(|| format!("unknown key type {v}"))?;
            }
            "--port" => {
                let v = value()?;
                opts.addr
                    .set_port(v.parse().map_err(|_| format!("bad port {v}"))?);
            }
            "--cpu" => {
                let v = value()?;
                opts.cpu = Some(v.parse().map_err(|_| format!("bad CPU {v}"))?);
            }
            "--cert-out" => cert_out = Some(PathBuf::from(value()?)),
            "--key-file" => key_file = Some(PathBuf::from(value()?)),
            "--cert-file" => cert_file = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    opts.source = match (key_file, cert_file) {
        (Some(key), Some(cert)) => KeySource::Files { key, cert },
        (None, None) => KeySource::Generate,
        _ => return Err("--key-file and --cert-file go together".into()),
    };
    Ok((opts, cert_out))
}

fn main() -> ExitCode {
    let (opts, cert_out) = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tls-server: {e}");
            return ExitCode::from(2);
        }
    };
    match serve_until_interrupted(&opts, cert_out.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-server: {e}");
            ExitCode::from(1)
        }
    }
}
