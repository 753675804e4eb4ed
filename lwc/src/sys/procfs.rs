//! /proc/self files the in-place engine reads while it may not allocate: `maps` parsed into
//! [`Vma`]s, `status` for `VmPin`, and a whole-file read into a caller's buffer.
//!
//! # Safety
//! open(2), lseek(2) and read(2) into buffers exclusively borrowed.
//!
//! # References
//! proc_pid_maps(5), proc_pid_status(5).
#![allow(unsafe_code)]

use crate::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::errno;

/// Opens /proc/self/maps, kept open so each rollback reads it without an open(2).
pub(crate) fn open_maps() -> Result<OwnedFd> {
    open_proc(c"/proc/self/maps", "open /proc/self/maps")
}

pub(crate) fn open_proc(path: &std::ffi::CStr, op: &'static str) -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated path; open returns a new fd or -1.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os(op));
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---------------------------------------------------------------------------------------------
// /proc/self/maps
// ---------------------------------------------------------------------------------------------
/// [`Vma::kind`]: anonymous memory without a name (or `[anon:…]`).
pub(crate) const KIND_ANON: u8 = 0;
/// [`Vma::kind`]: a file mapping.
pub(crate) const KIND_FILE: u8 = 1;
/// [`Vma::kind`]: the brk heap.
pub(crate) const KIND_HEAP: u8 = 2;
/// [`Vma::kind`]: the main thread's stack.
pub(crate) const KIND_STACK: u8 = 3;
/// [`Vma::kind`]: a kernel-provided mapping (`[vvar]`, `[vdso]`, `[vsyscall]`, …).
pub(crate) const KIND_SPECIAL: u8 = 4;
/// [`Vma::kind`]: the rings of an io_uring (`anon_inode:[io_uring]`), through which the kernel
/// may hold pages of the process pinned (registered buffers) and write them without a fault.
pub(crate) const KIND_IO_RING: u8 = 5;

/// One line of /proc/self/maps, without the path.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Vma {
    /// First byte.
    pub(crate) start: usize,
    /// One past the last byte.
    pub(crate) end: usize,
    /// File offset (for anonymous mappings, the kernel's page offset).
    pub(crate) offset: u64,
    /// Device of the file, `major << 32 | minor`.
    pub(crate) dev: u64,
    /// Inode of the file, 0 when anonymous.
    pub(crate) inode: u64,
    /// `PROT_READ | PROT_WRITE | PROT_EXEC` bits.
    pub(crate) prot: u8,
    /// MAP_SHARED (`s`) rather than private (`p`).
    pub(crate) shared: bool,
    /// One of the `KIND_*` constants.
    pub(crate) kind: u8,
}

impl Vma {
    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }
    /// Writable.
    pub(crate) fn writable(&self) -> bool {
        self.prot & libc::PROT_WRITE as u8 != 0
    }
    /// Anonymous (heap, stack, anonymous mmap).
    pub(crate) fn anonymous(&self) -> bool {
        matches!(self.kind, KIND_ANON | KIND_HEAP | KIND_STACK)
    }
    /// Whether `[start, end)` intersects this mapping.
    pub(crate) fn overlaps(&self, start: usize, end: usize) -> bool {
        self.start < end && start < self.end
    }
}

/// Why a maps listing could not be parsed into the buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapsError {
    /// A line did not have the documented format.
    Malformed,
    /// More mappings than the buffer holds.
    TooMany,
}

/// Parses /proc/self/maps text into `out`, leaving out mappings that intersect one of `skip`
/// (the snapshot's own arena and pristine copy); returns how many were written. Allocation-free,
/// so rollback can call it while the heap is being rewritten.
pub(crate) fn parse_maps(
    text: &[u8],
    skip: &[(usize, usize)],
    out: &mut [Vma],
) -> std::result::Result<usize, MapsError> {
    let mut n = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let v = parse_line(line).ok_or(MapsError::Malformed)?;
        if skip.iter().any(|&(s, e)| v.overlaps(s, e)) {
            continue;
        }
        let slot = out.get_mut(n).ok_or(MapsError::TooMany)?;
        *slot = v;
        n += 1;
    }
    Ok(n)
}

/// `start-end perms offset major:minor inode [path]`.
///
/// One pass over the bytes with a cursor: rollback parses every line of the listing each time,
/// and splitting into fields first cost several times the parse itself (~9 µs for 33 lines).
fn parse_line(line: &[u8]) -> Option<Vma> {
    let mut c = Cursor { s: line, at: 0 };
    let start = c.hex(b'-')? as usize;
    let end = c.hex(b' ')? as usize;
    c.spaces();
    let perms = c.field(b' ')?;
    c.spaces();
    let offset = c.hex(b' ')?;
    c.spaces();
    let major = c.hex(b':')?;
    let minor = c.hex(b' ')?;
    c.spaces();
    let inode = c.dec()?;
    // The path may contain spaces: it is everything after the inode, trimmed.
    c.spaces();
    let name = line.get(c.at..)?;
    let p = |i: usize, ch: u8| perms.get(i) == Some(&ch);
    let mut prot = 0u8;
    if p(0, b'r') {
        prot |= libc::PROT_READ as u8;
    }
    if p(1, b'w') {
        prot |= libc::PROT_WRITE as u8;
    }
    if p(2, b'x') {
        prot |= libc::PROT_EXEC as u8;
    }
    let shared = p(3, b's');
    let kind = if name == b"[heap]" {
        KIND_HEAP
    } else if name == b"[stack]" {
        KIND_STACK
    } else if name.starts_with(b"[anon:") || (name.is_empty() && inode == 0) {
        KIND_ANON
    } else if name == b"anon_inode:[io_uring]" {
        KIND_IO_RING
    } else if name.starts_with(b"[") {
        KIND_SPECIAL
    } else {
        KIND_FILE
    };
    Some(Vma {
        start,
        end,
        offset,
        dev: (major << 32) | minor,
        inode,
        prot,
        shared,
        kind,
    })
}

/// A read position in one maps line.
struct Cursor<'a> {
    /// The line.
    s: &'a [u8],
    /// The next byte to read.
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Skips spaces (fields are separated by one space, the path is padded by several).
    fn spaces(&mut self) {
        while self.s.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }
    /// The bytes up to `sep` (not empty), consuming `sep` when present; the end of the line
    /// also ends a field.
    fn field(&mut self, sep: u8) -> Option<&'a [u8]> {
        let s: &'a [u8] = self.s;
        let rest = s.get(self.at..)?;
        let n = rest.iter().position(|&b| b == sep).unwrap_or(rest.len());
        self.at += n + usize::from(n < rest.len());
        rest.get(..n).filter(|f| !f.is_empty())
    }
    /// A hexadecimal field ended by `sep` (at most 16 digits).
    fn hex(&mut self, sep: u8) -> Option<u64> {
        let f = self.field(sep)?;
        if f.len() > 16 {
            return None;
        }
        f.iter().try_fold(0u64, |acc, &ch| {
            let d = match ch {
                b'0'..=b'9' => ch - b'0',
                b'a'..=b'f' => ch - b'a' + 10,
                b'A'..=b'F' => ch - b'A' + 10,
                _ => return None,
            };
            Some((acc << 4) | u64::from(d))
        })
    }
    /// A decimal field ended by a space or the end of the line.
    fn dec(&mut self) -> Option<u64> {
        let f = self.field(b' ')?;
        f.iter().try_fold(0u64, |acc, &ch| {
            let d = ch.checked_sub(b'0').filter(|&d| d < 10)?;
            acc.checked_mul(10)?.checked_add(u64::from(d))
        })
    }
}

/// Reads the whole of an open /proc file from its start into `buf`; returns the length.
/// Allocation-free. EOVERFLOW when `buf` is too small.
pub(crate) fn read_proc(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::result::Result<usize, i32> {
    // SAFETY: lseek has no memory effects.
    if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(errno());
    }
    let mut len = 0;
    loop {
        let Some(rest) = buf.get_mut(len..) else {
            return Err(libc::EOVERFLOW);
        };
        if rest.is_empty() {
            return Err(libc::EOVERFLOW);
        }
        // SAFETY: read writes at most rest.len() bytes into `rest`, exclusively borrowed.
        let n = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        match n {
            0 => return Ok(len),
            n if n > 0 => len += n as usize,
            _ if errno() == libc::EINTR => continue,
            _ => return Err(errno()),
        }
    }
}

/// Opens /proc/self/status, kept open so a rollback reads `VmPin` without an open(2).
pub(crate) fn open_status() -> Result<OwnedFd> {
    open_proc(c"/proc/self/status", "open /proc/self/status")
}

/// Pinned memory of the process in KiB: `VmPin` of /proc/self/status, read through `fd` into
/// `buf` (allocation-free). Pages pinned for I/O (io_uring registered buffers, RDMA) are
/// written by the kernel without page faults, so write-protect does not see those writes.
/// `ENODATA` when the line is missing.
pub(crate) fn pinned_kib(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::result::Result<u64, i32> {
    let n = read_proc(fd, buf)?;
    let text = buf.get(..n).unwrap_or(&[]);
    let key = b"VmPin:";
    let at = text
        .windows(key.len())
        .position(|w| w == key)
        .ok_or(libc::ENODATA)?;
    let rest = text.get(at + key.len()..).unwrap_or(&[]);
    let digits = rest
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit());
    Ok(digits.fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_maps_line() {
        let text =
            b"5581e3a00000-5581e3a21000 rw-p 00000000 00:00 0                          [heap]\n\
7f1c2a000000-7f1c2a021000 r-xp 0001c000 fd:01 1234567                    /usr/lib/a file.so\n\
7f1c2b000000-7f1c2b001000 rw-s 00000000 00:05 99                         /memfd:x (deleted)\n\
7f1c2c000000-7f1c2c001000 rw-p 00000000 00:00 0                          [anon:glibc]\n\
7f1c2d000000-7f1c2d001000 rw-p 00000000 00:00 0 \n\
7ffd1000000-7ffd1021000 rw-p 00000000 00:00 0                          [stack]\n\
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";
        let mut out = [Vma::default(); 8];
        let n = parse_maps(text, &[(0x7f1c_2b00_0000, 0x7f1c_2b00_1000)], &mut out);
        assert_eq!(n, Ok(6));
        let kinds: Vec<u8> = out.iter().take(6).map(|v| v.kind).collect();
        let want = [
            KIND_HEAP,
            KIND_FILE,
            KIND_ANON,
            KIND_ANON,
            KIND_STACK,
            KIND_SPECIAL,
        ];
        assert_eq!(kinds, want);
        let lib = out[1];
        assert_eq!((lib.start, lib.end), (0x7f1c_2a00_0000, 0x7f1c_2a02_1000));
        assert_eq!(lib.offset, 0x1c000);
        assert_eq!(lib.dev, (0xfd << 32) | 1);
        assert_eq!(lib.inode, 1_234_567);
        assert_eq!(lib.prot, (libc::PROT_READ | libc::PROT_EXEC) as u8);
        assert!(!lib.shared);
        assert_eq!(out[0].prot, (libc::PROT_READ | libc::PROT_WRITE) as u8);
        assert_eq!(out[5].start, 0xffff_ffff_ff60_0000);
    }

    #[test]
    fn rejects_malformed_lines_and_overflow() {
        let mut out = [Vma::default(); 1];
        for bad in [
            &b"zz-1000 rw-p 00000000 00:00 0\n"[..],
            b"1000 rw-p 00000000 00:00 0\n",
            b"1000-2000 rw-p 00000000 0000 0\n",
            b"1000-2000 rw-p 00000000 00:00 1x\n",
            b"1000-2000 rw-p\n",
            b"11111111111111111-2000 rw-p 00000000 00:00 0\n",
        ] {
            assert_eq!(parse_maps(bad, &[], &mut out), Err(MapsError::Malformed));
        }
        let two = b"1000-2000 rw-p 00000000 00:00 0\n3000-4000 rw-p 00000000 00:00 0\n";
        assert_eq!(parse_maps(two, &[], &mut out), Err(MapsError::TooMany));
    }
}
