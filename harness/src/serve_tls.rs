//! `lwcbench serve-tls`: the `crypto` experiment's TLS server on its own, until interrupted.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use apps::tls::{serve::serve_until_interrupted, KeySource, ServeOptions};

use crate::cli::ServeTlsArgs;

/// Serves on 127.0.0.1 with the key where `args` says.
pub fn main(args: &ServeTlsArgs) -> anyhow::Result<()> {
    let opts = ServeOptions {
        home: args.home,
        key_type: args.key_type,
        source: KeySource::Generate,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        cpu: None,
        limits: Default::default(),
    };
    serve_until_interrupted(&opts, args.cert_out.as_deref()).with_context(|| {
        format!(
            "serve TLS with the key {} ({})",
            args.home.name(),
            args.key_type.name()
        )
    })
}
