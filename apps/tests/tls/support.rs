//! Scaffolding: key files, a server in the serving role, cleanup.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use apps::tls::key::{generate_plain, KeyType, PlainIdentity};
use apps::tls::signer::KeyHome;

/// One key per type for the whole binary (RSA generation is slow).
pub fn identity(key_type: KeyType) -> &'static PlainIdentity {
    static RSA: OnceLock<PlainIdentity> = OnceLock::new();
    static P256: OnceLock<PlainIdentity> = OnceLock::new();
    let cell = match key_type {
        KeyType::Rsa2048 => &RSA,
        KeyType::P256 => &P256,
    };
    cell.get_or_init(|| generate_plain(key_type).expect("generate a test key"))
}

/// A directory removed at drop, readable by the unprivileged user too.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("lwcbench-tls-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the serving role reported once it was up.
#[derive(Debug, Clone)]
pub struct Ready {
    pub port: u16,
    pub serving_pid: u32,
    pub signer_pid: Option<u32>,
    /// One line per attack: `name: blocked (...)` or `name: SUCCEEDED (...)`.
    pub attacks: Vec<String>,
    /// One line per refusal probe: `name: refused (...)` or `name: SIGNED`.
    pub refusals: Vec<String>,
    /// A hash the signer signed, and the signature.
    pub hash: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A server in the serving role; dropping it kills its whole tree.
pub struct Server {
    child: Child,
    pub ready: Ready,
    pub dir: TempDir,
    pub key_type: KeyType,
}

/// Whether the serving role drops to an unprivileged user first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Root,
    Nobody,
}

impl Server {
    pub fn start(home: KeyHome, key_type: KeyType, user: User) -> Server {
        let dir = TempDir::new(home.name());
        let id = identity(key_type);
        for (name, bytes) in [("key.der", &id.pkcs8), ("cert.der", &id.cert)] {
            std::fs::write(dir.path(name), bytes).expect("write a key file");
            std::fs::set_permissions(dir.path(name), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
        let child = Command::new(std::env::current_exe().expect("own path"))
            .env(super::role::ROLE, "serve")
            .env("TLS_HOME", home.name())
            .env("TLS_KEY_TYPE", key_type.name())
            .env("TLS_DIR", &dir.0)
            .env(
                "TLS_USER",
                if user == User::Nobody {
                    "nobody"
                } else {
                    "root"
                },
            )
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the serving role");
        let mut server = Server {
            child,
            ready: Ready {
                port: 0,
                serving_pid: 0,
                signer_pid: None,
                attacks: vec![],
                refusals: vec![],
                hash: vec![],
                signature: vec![],
            },
            dir,
            key_type,
        };
        server.ready = server.wait_ready();
        server
    }

    fn wait_ready(&mut self) -> Ready {
        let path = self.dir.path("ready");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the serving role exited before it was ready: {status}");
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                return parse_ready(&text, &self.dir.0);
            }
            assert!(
                Instant::now() < deadline,
                "the serving role never got ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.ready.port))
    }

    pub fn cert(&self) -> rustls::pki_types::CertificateDer<'static> {
        rustls::pki_types::CertificateDer::from(identity(self.key_type).cert.clone())
    }

    /// Whether the serving role is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn parse_ready(text: &str, dir: &Path) -> Ready {
    let mut ready = Ready {
        port: 0,
        serving_pid: 0,
        signer_pid: None,
        attacks: vec![],
        refusals: vec![],
        hash: vec![],
        signature: vec![],
    };
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "port" => ready.port = value.parse().expect("port"),
            "serving" => ready.serving_pid = value.parse().expect("pid"),
            "signer" => ready.signer_pid = value.parse().ok(),
            "attack" => ready.attacks.push(value.to_owned()),
            "refusal" => ready.refusals.push(value.to_owned()),
            _ => {}
        }
    }
    let read = |name: &str| {
        let mut v = Vec::new();
        if let Ok(mut f) = std::fs::File::open(dir.join(name)) {
            f.read_to_end(&mut v).expect("read");
        }
        v
    };
    ready.hash = read("hash");
    ready.signature = read("signature");
    ready
}

impl Drop for Server {
    fn drop(&mut self) {
        // The spawned process is the lwC group's guardian in the lwc home: its death ends the
        // group; a signer process dies with its parent (PDEATHSIG).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a process with `pid` exists (and is not a zombie).
pub fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}
