//! Resource specs: what a new lwC gets from its creator, and what a descriptor allows.

use crate::sys::mem::SharedMapping;
use crate::types::Region;
use crate::{Error, Result};
use std::os::fd::RawFd;
use std::sync::Arc;

/// Memory that lwCs can truly share: a memfd mapped MAP_SHARED. A child created with
/// [`Spec::share`] sees and makes the same writes as its creator; without it, the child gets
/// a private copy (the paper's default, COPY).
///
/// ```no_run
/// let shared = lwc::SharedRegion::new(4096).unwrap();
/// let spec = lwc::Spec::new().share(&shared);
/// # let _ = spec;
/// ```
#[derive(Debug, Clone)]
pub struct SharedRegion {
    pub(crate) map: Arc<SharedMapping>,
}

impl SharedRegion {
    /// Creates `len` bytes (rounded up to whole pages) of zeroed shareable memory.
    pub fn new(len: usize) -> Result<Self> {
        let map = Arc::new(SharedMapping::new(len)?);
        crate::local::register_region(map.clone());
        Ok(SharedRegion { map })
    }

    /// The address range.
    pub fn region(&self) -> Region {
        self.map.region()
    }

    /// A raw pointer to the first byte (the memory is shared with other lwCs and processes, so
    /// Rust references to it would be unsound: use atomics or volatile access).
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.addr as *mut u8
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Always false: a region has at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads `buf.len()` bytes at `offset` (a copy; other lwCs may write concurrently only when
    /// they hold the thread of control, so a read between switches is consistent).
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        crate::sys::mem::copy_from(self.map.addr + offset, buf);
        Ok(())
    }

    /// Writes `data` at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check(offset, data.len())?;
        crate::sys::mem::copy_to(self.map.addr + offset, data);
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.map.len => Ok(()),
            _ => Err(Error::Invalid {
                op: "SharedRegion access",
                reason: format!("{offset}+{len} is outside the {} byte region", self.map.len),
            }),
        }
    }
}

/// What a memory entry of a spec does in the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOp {
    /// Copy-on-write copy (the default for everything not named).
    Copy,
    /// Same memory in both (only for a [`SharedRegion`]).
    Share,
    /// Gone in the child: reading it faults.
    Unmap,
}

/// Which file descriptors the child gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Files {
    /// A copy of the whole descriptor table (the default, like fork).
    #[default]
    Copy,
    /// Only these descriptors; every other one is closed in the child.
    Only(Vec<RawFd>),
    /// Everything except these.
    Close(Vec<RawFd>),
}

/// Credentials for the child (needs root in the creator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// Real, effective and saved user id.
    pub uid: u32,
    /// Real, effective and saved group id (supplementary groups are dropped).
    pub gid: u32,
}

/// The resource spec of `create`: the paper's list of (resource, option) entries.
///
/// `Spec::new()` copies everything, like fork. Each call adds an entry:
/// ```no_run
/// # let secret = lwc::Pages::new(4096).unwrap();
/// # let shared = lwc::SharedRegion::new(4096).unwrap();
/// let spec = lwc::Spec::new()
///     .unmap(secret.region())            // the child never sees the secret
///     .share(&shared)                    // both see each other's writes here
///     .files(lwc::Files::Only(vec![0, 1, 2]));
/// # let _ = spec;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub(crate) memory: Vec<(Region, MemoryOp)>,
    pub(crate) files: Files,
    pub(crate) credentials: Option<Credentials>,
}

impl Spec {
    /// Copy everything (CoW memory, the whole fd table, the same credentials).
    pub fn new() -> Self {
        Self::default()
    }

    /// Share a region made with [`SharedRegion::new`].
    pub fn share(mut self, region: &SharedRegion) -> Self {
        self.memory.push((region.region(), MemoryOp::Share));
        self
    }

    pub(crate) fn share_region(mut self, region: Region) -> Self {
        self.memory.push((region, MemoryOp::Share));
        self
    }

    /// Unmap `region` in the child (whole pages).
    pub fn unmap(mut self, region: Region) -> Self {
        self.memory.push((region, MemoryOp::Unmap));
        self
    }

    /// Copy `region` (the default; useful to make a shared region private in the child).
    pub fn copy(mut self, region: Region) -> Self {
        self.memory.push((region, MemoryOp::Copy));
        self
    }

    /// Which descriptors the child gets.
    pub fn files(mut self, files: Files) -> Self {
        self.files = files;
        self
    }

    /// Run the child as `uid`/`gid`.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for (r, op) in &self.memory {
            r.validate("lwc::create spec")?;
            if *op == MemoryOp::Share && !crate::local::is_shared_region(r) {
                return Err(Error::Invalid {
                    op: "lwc::create spec",
                    reason: format!(
                        "SHARE needs a SharedRegion; {:#x}+{:#x} is private memory (private \
                         pages cannot be shared after the fact on Linux)",
                        r.addr, r.len
                    ),
                });
            }
        }
        let fds = match &self.files {
            Files::Copy => &[][..],
            Files::Only(v) | Files::Close(v) => &v[..],
        };
        if let Some(fd) = fds.iter().find(|&&fd| fd < 0) {
            return Err(Error::Invalid {
                op: "lwc::create spec",
                reason: format!("negative file descriptor {fd}"),
            });
        }
        Ok(())
    }
}
