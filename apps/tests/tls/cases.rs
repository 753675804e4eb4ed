//! The tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use apps::tls::client::{client_config, drive, DriveOptions, Verify};
use apps::tls::key::KeyType;
use apps::tls::signer::{policy, KeyHome};
use libtest_mimic::{Failed, Trial};

use super::scan;
use super::support::{identity, process_exists, Server, User};

type Outcome = Result<(), Failed>;

/// Every test, in order.
pub fn trials() -> Vec<Trial> {
    let mut t = Vec::new();
    for home in KeyHome::ALL {
        for key_type in KeyType::ALL {
            t.push(Trial::test(
                format!(
                    "{}_{}_serves_verified_handshakes",
                    home.name(),
                    key_type.name()
                ),
                move || handshakes(home, key_type),
            ));
        }
    }
    for home in [KeyHome::Lwc, KeyHome::Process] {
        for (user, tag) in [(User::Root, "root"), (User::Nobody, "unprivileged")] {
            for key_type in KeyType::ALL {
                t.push(Trial::test(
                    format!("{}_{}_{tag}_key_out_of_reach", home.name(), key_type.name()),
                    move || key_out_of_reach(home, key_type, user),
                ));
            }
        }
    }
    t.push(Trial::test(
        "in_process_scan_finds_the_key",
        in_process_scan_finds_the_key,
    ));
    for home in [KeyHome::Lwc, KeyHome::Process, KeyHome::Thread] {
        t.push(Trial::test(
            format!(
                "{}_signer_refuses_what_is_not_a_transcript_hash",
                home.name()
            ),
            move || refuses(home),
        ));
    }
    for home in [KeyHome::InProcess, KeyHome::Lwc] {
        t.push(Trial::test(
            format!("{}_bad_input_costs_one_connection", home.name()),
            move || bad_input(home),
        ));
    }
    let openssl = which("openssl");
    if !openssl {
        eprintln!("SKIPPED: openssl_s_client_verifies: no `openssl` on PATH");
    }
    t.push(Trial::test("openssl_s_client_verifies", openssl_verifies).with_ignored_flag(!openssl));
    t
}

fn which(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(msg().into())
    }
}

/// Guards against a key home whose signatures rustls or the client reject (a hook that signs
/// the wrong content, a signer that answers for the wrong scheme), and against one that breaks
/// after the first handshake.
fn handshakes(home: KeyHome, key_type: KeyType) -> Outcome {
    let server = Server::start(home, key_type, User::Root);
    let config = client_config(&server.cert(), Verify::Full)?;
    let report = drive(
        server.addr(),
        config,
        DriveOptions {
            connections: 4,
            max_handshakes: 16,
            duration: Duration::from_secs(20),
        },
    )?;
    check(report.completed == 16 && report.failed == 0, || {
        format!("{report:?}")
    })?;
    verify_signature(&server)
}

/// Guards against a signer whose signature does not verify with the certificate's key (the
/// wrong key, the wrong content built around the hash).
fn verify_signature(server: &Server) -> Outcome {
    let cert = server.cert();
    let ee = webpki::EndEntityCert::try_from(&cert).map_err(|e| format!("{e:?}"))?;
    let alg: &dyn rustls::pki_types::SignatureVerificationAlgorithm = match server.key_type {
        KeyType::Rsa2048 => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        KeyType::P256 => webpki::ring::ECDSA_P256_SHA256,
    };
    let content = policy::certificate_verify_content(&server.ready.hash);
    ee.verify_signature(alg, &content, &server.ready.signature)
        .map_err(|e| format!("the signer's signature does not verify: {e:?}").into())
}

/// Guards against a serving context that still holds the key after the signer started (a copy
/// not wiped, a key parsed on the serving side, a leftover of generation), and against a
/// signer that any route (ptrace, process_vm_readv, /proc/PID/mem, pidfd_getfd, lwC overlay or
/// syscall) lets the serving context read.
fn key_out_of_reach(home: KeyHome, key_type: KeyType, user: User) -> Outcome {
    let mut server = Server::start(home, key_type, user);
    let needles = scan::needles(&scan::secrets(key_type, identity(key_type)));
    let (hits, read) = scan::scan(server.ready.serving_pid, &needles);
    check(read > 1 << 20, || {
        format!("the scan read only {read} bytes")
    })?;
    check(hits.is_empty(), || {
        format!("the key is in the serving context's memory: {hits:?}")
    })?;
    let expected = if home == KeyHome::Lwc { 6 } else { 4 };
    check(server.ready.attacks.len() == expected, || {
        format!("attacks run: {:?}", server.ready.attacks)
    })?;
    let worked: Vec<_> = server
        .ready
        .attacks
        .iter()
        .filter(|a| !a.contains(": blocked ("))
        .collect();
    check(worked.is_empty(), || {
        format!("attacks that worked: {worked:?}")
    })?;
    let signer = server.ready.signer_pid.ok_or("no signer pid")?;
    check(process_exists(signer), || {
        "the signer is not running".into()
    })?;
    // Positive control: the same scan finds the key in the signer (we are root here). Only for
    // RSA: the signer wiped the document, and ring keeps an RSA key's primes as plain limbs
    // but a P-256 scalar in another form (`in_process_scan_finds_the_key` covers P-256).
    if user == User::Root && key_type == KeyType::Rsa2048 {
        let (in_signer, _) = scan::scan(signer, &needles);
        check(!in_signer.is_empty(), || {
            "the scan does not find the key even in the signer".into()
        })?;
    }
    check(server.alive(), || "the server died".into())?;
    drop(server);
    // Nothing outlives the server.
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !process_exists(signer)
    });
    check(gone, || format!("the signer {signer} outlived its server"))
}

/// Guards against a scan that cannot find a key at all (so the tests above would pass
/// vacuously): in the in-process home the key is in the serving context, and must be found.
fn in_process_scan_finds_the_key() -> Outcome {
    let server = Server::start(KeyHome::InProcess, KeyType::P256, User::Root);
    let needles = scan::needles(&scan::secrets(KeyType::P256, identity(KeyType::P256)));
    let (hits, _) = scan::scan(server.ready.serving_pid, &needles);
    check(!hits.is_empty(), || {
        "the in-process key was not found".into()
    })
}

/// Guards against a signer that signs any bytes it is sent (so whoever holds the serving
/// context could have it sign a certificate or another protocol's message).
fn refuses(home: KeyHome) -> Outcome {
    let server = Server::start(home, KeyType::P256, User::Root);
    let r = &server.ready.refusals;
    check(
        r.len() == 4 && r.iter().all(|l| l.contains(": refused (")),
        || format!("{r:?}"),
    )
}

/// Guards against a server that one bad client can stop or stall: garbage instead of a
/// ClientHello, a client that stops mid-handshake, a client that never speaks.
fn bad_input(home: KeyHome) -> Outcome {
    let mut server = Server::start(home, KeyType::P256, User::Root);
    let mut garbage = TcpStream::connect(server.addr())?;
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff junk")?;
    garbage.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut sink = Vec::new();
    // The server answers with an alert (or nothing) and closes: read to the end.
    let _ = garbage.read_to_end(&mut sink);
    // A ClientHello cut in the middle, left hanging; and a connection that says nothing.
    let mut hello = Vec::new();
    let mut conn = rustls::ClientConnection::new(
        client_config(&server.cert(), Verify::Full)?,
        "localhost".try_into()?,
    )?;
    conn.write_tls(&mut hello)?;
    let mut stalled = TcpStream::connect(server.addr())?;
    stalled.write_all(&hello[..hello.len() / 2])?;
    let _silent = TcpStream::connect(server.addr())?;
    let report = drive(
        server.addr(),
        client_config(&server.cert(), Verify::Full)?,
        DriveOptions {
            connections: 2,
            max_handshakes: 6,
            duration: Duration::from_secs(20),
        },
    )?;
    check(report.completed == 6 && report.failed == 0, || {
        format!("good clients after bad ones: {report:?}")
    })?;
    check(server.alive(), || "the server died".into())
}

/// Guards against a server that only our own client can talk to: OpenSSL's client must
/// complete a verified TLS 1.3 handshake with the lwc-held RSA key.
fn openssl_verifies() -> Outcome {
    let server = Server::start(KeyHome::Lwc, KeyType::Rsa2048, User::Root);
    let pem = server.dir.path("cert.pem");
    std::fs::write(
        &pem,
        apps::tls::key::cert_pem(&identity(KeyType::Rsa2048).cert),
    )?;
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(server.addr().to_string())
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(&pem)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    check(
        text.contains("Verify return code: 0 (ok)") && text.contains("lwcbench over TLS"),
        || {
            format!(
                "openssl s_client said:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        },
    )
}
