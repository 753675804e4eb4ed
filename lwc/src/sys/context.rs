//! The CPU context of the calling thread, saved and restored like `setjmp`/`longjmp`, and calls
//! made on a private stack.
//!
//! In-place rollback rewrites the calling thread's own stack, so the code that restores memory
//! cannot run on it: it runs on a private *restore stack* (a mapping excluded from tracking), and
//! when memory is back to the snapshot, [`resume`] loads the registers saved by
//! [`save_and_call`] and jumps to its return address, so that call returns a second time.
//!
//! ```text
//!   caller stack (tracked)            restore stack (untracked)
//!   ┌───────────────────────┐         ┌──────────────────────────┐
//!   │ frames of the caller  │         │ take: protect + copy     │  save_and_call runs `f` here
//!   │ save_and_call's ret ◄─┼── rip   │ rollback: scan + restore │  call_on_stack runs `f` here
//!   └───────────────────────┘  rsp    └──────────────────────────┘
//! ```
//!
//! Saved: the System V callee-saved registers (rbx, rbp, r12–r15), rsp and rip at the return of
//! [`save_and_call`], MXCSR and the x87 control word (both callee-saved by the ABI). Caller-saved
//! registers are clobbered by any call, so the compiler keeps nothing in them across it.
//!
//! # Safety
//!
//! [`save_and_call`] returns twice and [`resume`] never returns; both are `unsafe fn`s whose
//! contracts the in-place snapshot engine (`snapshot::in_place`) upholds: the second return happens only
//! after every byte of the tracked memory (the stack included) has been put back as it was when
//! `save_and_call` was entered, so the caller's frame is exactly as the first return left it.
//! [`call_on_stack`] switches to a stack the caller owns and switches back before returning.
//! The assembly follows the System V AMD64 ABI: the stack is 16-byte aligned at every call.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use core::arch::naked_asm;

/// The registers that survive a call under the System V AMD64 ABI, plus where to return.
///
/// The field offsets are used by the assembly below; keep them in sync.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Context {
    /// rbx (offset 0).
    rbx: u64,
    /// rbp (offset 8).
    rbp: u64,
    /// r12 (offset 16).
    r12: u64,
    /// r13 (offset 24).
    r13: u64,
    /// r14 (offset 32).
    r14: u64,
    /// r15 (offset 40).
    r15: u64,
    /// Stack pointer after the saving call returns (offset 48).
    rsp: u64,
    /// Return address of the saving call (offset 56).
    rip: u64,
    /// SSE control and status register (offset 64).
    mxcsr: u32,
    /// x87 FPU control word (offset 68).
    fpu_cw: u16,
}

/// Signature of the functions run by [`save_and_call`] and [`call_on_stack`].
pub(crate) type StackFn = extern "C" fn(arg: *mut core::ffi::c_void) -> u64;

/// `save_and_call(ctx, f, arg, stack_top) -> u64`: saves the caller's context into `ctx`, then runs
/// `f(arg)` on the stack that ends at `stack_top` and returns its value. A later
/// [`resume`]`(ctx, v)` makes this call return `v` a second time.
///
/// # Safety
/// `ctx` must stay valid (and must not be tracked memory) until the last `resume` through it.
/// `stack_top` must be the 16-byte aligned top of a writable stack that nothing else uses while
/// `f` runs and that is large enough for `f`. The second return must only happen when the
/// caller's stack (at and above the saved rsp) holds exactly what it held at the first entry.
///
/// # References
/// setjmp(3); System V AMD64 ABI §3.2.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn save_and_call(
    ctx: *mut Context,
    f: StackFn,
    arg: *mut core::ffi::c_void,
    stack_top: *mut u8,
) -> u64 {
    // rdi = ctx, rsi = f, rdx = arg, rcx = stack_top.
    naked_asm!(
        "mov [rdi], rbx",
        "mov [rdi + 8], rbp",
        "mov [rdi + 16], r12",
        "mov [rdi + 24], r13",
        "mov [rdi + 32], r14",
        "mov [rdi + 40], r15",
        // rsp as it will be after `ret`, and the return address.
        "lea rax, [rsp + 8]",
        "mov [rdi + 48], rax",
        "mov rax, [rsp]",
        "mov [rdi + 56], rax",
        "stmxcsr dword ptr [rdi + 64]",
        "fnstcw word ptr [rdi + 68]",
        // Keep the caller's stack in rbp (callee-saved, so `f` preserves it), run `f` on the
        // private stack. After the push rsp is 16-byte aligned; stack_top is too.
        "push rbp",
        "mov rbp, rsp",
        "mov rsp, rcx",
        "mov rdi, rdx",
        "call rsi",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
    )
}

/// `call_on_stack(f, arg, stack_top) -> u64`: runs `f(arg)` on the stack that ends at
/// `stack_top`, then switches back and returns its value.
///
/// # Safety
/// `stack_top` must be the 16-byte aligned top of a writable stack that nothing else uses while
/// `f` runs and that is large enough for `f`.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn call_on_stack(
    f: StackFn,
    arg: *mut core::ffi::c_void,
    stack_top: *mut u8,
) -> u64 {
    // rdi = f, rsi = arg, rdx = stack_top.
    naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "mov rsp, rdx",
        "mov rax, rdi",
        "mov rdi, rsi",
        "call rax",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
    )
}

/// `resume(ctx, value) -> !`: loads the context saved by [`save_and_call`] and returns from that
/// call (again) with `value`.
///
/// # Safety
/// `ctx` must hold a context saved by [`save_and_call`], and the stack it points into must hold
/// what it held when that context was saved (see [`save_and_call`]). Nothing on the current
/// stack is used afterwards.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn resume(ctx: *const Context, value: u64) -> ! {
    naked_asm!(
        "mov rbx, [rdi]",
        "mov rbp, [rdi + 8]",
        "mov r12, [rdi + 16]",
        "mov r13, [rdi + 24]",
        "mov r14, [rdi + 32]",
        "mov r15, [rdi + 40]",
        "ldmxcsr dword ptr [rdi + 64]",
        "fldcw word ptr [rdi + 68]",
        "mov rsp, [rdi + 48]",
        "mov rax, rsi",
        "jmp qword ptr [rdi + 56]",
    )
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    // The assembly hard-codes these offsets.
    #[test]
    fn offsets_match_the_assembly() {
        assert_eq!(core::mem::offset_of!(Context, rsp), 48);
        assert_eq!(core::mem::offset_of!(Context, rip), 56);
        assert_eq!(core::mem::offset_of!(Context, mxcsr), 64);
        assert_eq!(core::mem::offset_of!(Context, fpu_cw), 68);
    }
}

/// Other architectures: in-place rollback reports itself unavailable before reaching these.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe extern "C" fn save_and_call(
    _ctx: *mut Context,
    _f: StackFn,
    _arg: *mut core::ffi::c_void,
    _stack_top: *mut u8,
) -> u64 {
    // SAFETY: abort ends the process; never reached (probe() refuses this architecture).
    unsafe { libc::abort() }
}

/// Other architectures: see [`save_and_call`].
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe extern "C" fn call_on_stack(
    _f: StackFn,
    _arg: *mut core::ffi::c_void,
    _stack_top: *mut u8,
) -> u64 {
    // SAFETY: as above.
    unsafe { libc::abort() }
}

/// Other architectures: see [`save_and_call`].
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe extern "C" fn resume(_ctx: *const Context, _value: u64) -> ! {
    // SAFETY: as above.
    unsafe { libc::abort() }
}
