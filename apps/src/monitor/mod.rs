//! The in-process reference monitor, and the ways Linux users build one today.
//!
//! A sandboxed context makes system calls from a mix ([`Call`]: `getppid`, `openat` + `close`
//! of an allowed and of a denied file, 4 KiB and 64 KiB `pread64`s), under one [`Policy`]
//! (read-only opens in one directory, reads and writes on its own descriptors, the allocator's
//! memory calls, nothing else), enforced by one of five [`Mechanism`]s:
//!
//! | mechanism | who decides | sees paths |
//! |---|---|---|
//! | `lwc-systrap` | the parent lwC (SYSTRAP: seccomp user notification under the lwC runtime) | yes |
//! | `seccomp-unotify` | a raw supervisor process on the same listener, no runtime | yes |
//! | `ptrace` | a tracer woken by `SECCOMP_RET_TRACE` | yes |
//! | `seccomp-bpf` | the kernel, running the policy as a BPF filter | no: integers only |
//! | `none` | nobody | — |
//!
//! Every filter starts with lwc's guard against other system-call ABIs
//! ([`lwc::seccomp::native_abi_only`]): an `int 0x80` call kills the sandbox, an x32 number
//! fails with `ENOSYS`, so no sandbox leaves its monitor's view through them.
//!
//! [`SessionPolicy`] is the policy of a monitored web session (`lwcbench serve --monitor`): its
//! own socket and the allocator, nothing else.
//!
//! ```no_run
//! use apps::monitor::{run_sandboxed, Files, Mechanism, PathArg};
//! let files = Files::create().unwrap();
//! let errno = run_sandboxed(Mechanism::SeccompUnotify, &files, |sb| {
//!     sb.openat(sb.path(PathArg::Denied), libc::O_RDONLY).err()
//! })
//! .unwrap();
//! assert_eq!(errno, Some(libc::EACCES));
//! ```

mod mechanism;
mod policy;
mod sandbox;
mod session;
mod supervisor;
mod sys;
mod systrap;
mod tracer;

pub use mechanism::{run_sandboxed, Mechanism, MonitorError};
pub use policy::{
    allocator_call, kernel_policy, trap_all, Policy, Verdict, Window, ARG_AREA, READ_ONLY_FLAGS,
};
pub use sandbox::{Call, Files, Mix, PathArg, Sandbox, ALLOWED_TEXT, DATA_LEN, SECRET_TEXT};
pub use session::SessionPolicy;
