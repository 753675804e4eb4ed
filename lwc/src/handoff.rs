//! The hand-off mechanism: where a switch's message lives and how its target is woken.
//!
//! Rights to switch are pages. A creator maps two MAP_SHARED pages of a memfd (and closes the
//! descriptor) before it forks a child: the child's **inbox** (its doorbell) and the **link** of the pair
//! (a message slot in each direction). Such pages can be shared only by inheritance, and every
//! other lwC forked later drops its copy before any of its code runs (`create`), so exactly the
//! creator and the child hold them, plus the child's own children, which hold its inbox (they
//! may switch to it) but not the link. To switch, an lwC writes its half of the link and rings
//! the target's inbox; the target reads the half of the link the doorbell names and takes the
//! message only if that half really holds one, so a doorbell rung by another holder of the
//! inbox finds nothing and the caller the target sees is the one that owns that link: **who
//! wrote is implied by where**.
//!
//! ```text
//!   birth pages of lwC K (made by its creator C):
//!     page 0  inbox(K)   word: 0 idle · 1 rung · 2 sleeping · 3 spinning   from: link hint
//!     page 1  link(C,K)  half[0] C → K   half[1] K → C   (seq, kind, args[6]: one line each)
//!
//!   post:  half.args, half.kind, half.seq += 1; fence;
//!          unless inbox.word == SPINNING { inbox.from = my id; ring }
//!   ring:  if inbox.word.swap(WOKEN) == SLEEPING { futex_wake(inbox.word) }
//!   park:  spin:  word = SPINNING (for good); until a link's seq moved or notice changed: spin
//!          block: until a link's seq moved or notice changed:
//!                 word IDLE → SLEEPING; fence; re-check; futex_waitv(word, notice)
//!   take:  if half.seq != seen (our private count) { read; seen = seq }
//! ```
//!
//! A spinning lwC watches its links' lines, and nobody writes its inbox: a hop between two
//! spinning lwCs moves the one line the poster wrote, as a raw spin hand-off does. (The
//! fences make a post that skipped the ring and a park that starts sleeping see each other.)
//! Words stay on the link until the next message overwrites them: only the two ends of the
//! link map it, and both know them.
//!
//! An lwC that holds no pages of a pair has no address at which to read or write its messages
//! or ring its doorbell: the kernel's page tables enforce the right. A parked lwC sleeps on
//! two words at once (futex_waitv): its inbox, and its notice on the supervisor's read-only
//! notice board (deaths).

use crate::sys::mem::{SharedPages, SharedZeroed};
use crate::sys::page::page_size;
use crate::sys::{futex, process};
use crate::types::{Handoff, Kind};
use std::cell::Cell;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Inbox-word values.
mod word {
    pub(super) const IDLE: u32 = 0;
    pub(super) const WOKEN: u32 = 1;
    pub(super) const SLEEPING: u32 = 2;
    /// The owner spins on its links: a poster need not ring.
    pub(super) const SPINNING: u32 = 3;
}

/// An lwC's doorbell (the first line of its inbox page).
#[repr(C, align(64))]
pub(crate) struct Inbox {
    word: AtomicU32,
    /// The slot id under which the ringer's link is known to the owner: where to look first.
    from: AtomicU32,
}

/// One direction of a link: one cache line, written by its sender only.
#[repr(C, align(64))]
pub(crate) struct Half {
    /// Messages sent on this half so far.
    seq: AtomicU32,
    kind: AtomicU32,
    args: [AtomicU64; 6],
}

/// The page of a link.
#[repr(C)]
pub(crate) struct LinkPage {
    halves: [Half; 2],
}

/// A message taken from a link.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message {
    /// Why (None for a kind this runtime does not know: ignored).
    pub(crate) kind: Option<Kind>,
    pub(crate) args: [u64; 6],
}

/// The pages a creator makes for a new lwC, before fork.
pub(crate) struct BirthPages {
    /// The new lwC's inbox (none for a sandbox: it is never rung, and rings nobody).
    pub(crate) inbox: Option<SharedPages>,
    /// The link between creator and new lwC.
    pub(crate) link: SharedPages,
    /// For a sandbox: the link's sealed memfd, from which it maps its view read-only (it only
    /// reads its monitor's words there; no page of the runtime is writable in a sandbox).
    pub(crate) sealed: Option<std::os::fd::OwnedFd>,
}

impl BirthPages {
    /// Maps both pages (one memfd, one mapping).
    pub(crate) fn new() -> crate::Result<BirthPages> {
        let p = page_size();
        let (inbox, link) = SharedPages::new("lwc-link", 2 * p)?.split(p);
        Ok(BirthPages {
            inbox: Some(inbox),
            link,
            sealed: None,
        })
    }

    /// As [`BirthPages::new`], keeping the memfd: a snapshot pool's factory hands it to the
    /// lwC that rolls back into the new copy ([`BirthPages::handed`]), which did not inherit it.
    pub(crate) fn handable() -> crate::Result<(BirthPages, std::os::fd::OwnedFd)> {
        let p = page_size();
        let (pages, memfd) = SharedPages::new_handable("lwc-link", 2 * p)?;
        let (inbox, link) = pages.split(p);
        Ok((
            BirthPages {
                inbox: Some(inbox),
                link,
                sealed: None,
            },
            memfd,
        ))
    }

    /// Maps birth pages made by [`BirthPages::handable`] in another process: the new lwC's
    /// inbox and the link with its creator.
    pub(crate) fn handed(
        memfd: &std::os::fd::OwnedFd,
    ) -> crate::Result<(SharedPages, SharedPages)> {
        let p = page_size();
        Ok(SharedPages::map(memfd, 2 * p)?.split(p))
    }

    /// The link of a sandbox, sealed.
    pub(crate) fn sandbox() -> crate::Result<BirthPages> {
        let (link, fd) = SharedPages::new_sealed("lwc-sandbox-link", page_size())?;
        Ok(BirthPages {
            inbox: None,
            link,
            sealed: Some(fd),
        })
    }
}

/// Maps a lone inbox (the group's first lwC, which has no creator).
pub(crate) fn first_inbox() -> crate::Result<SharedPages> {
    SharedPages::new("lwc-link", page_size())
}

// SAFETY: atomics only; all-zero is an idle inbox with no hint.
#[allow(unsafe_code)]
unsafe impl SharedZeroed for Inbox {}
// SAFETY: atomics only; all-zero is a link with nothing posted.
#[allow(unsafe_code)]
unsafe impl SharedZeroed for LinkPage {}

/// This lwC's end of a link with a peer: the link page, which half we write, the peer's inbox
/// (None where we never ring it: a sandbox and its monitor use seccomp notifications instead),
/// and the id the peer knows the link by (ours, except in snapshot copies, which speak for the
/// lwC that took the snapshot).
#[derive(Debug)]
pub(crate) struct Link {
    page: SharedPages,
    out: usize,
    peer_inbox: Option<SharedPages>,
    known_as: u32,
    /// The peer's messages we have taken (its half's seq when we last took one).
    seen: Cell<u32>,
}

impl Link {
    /// Our end of the fresh link `page`: we write half `out`, ring `peer_inbox`, and are known
    /// as `known_as` to the peer.
    pub(crate) fn new(
        page: SharedPages,
        out: usize,
        peer_inbox: Option<SharedPages>,
        known_as: u32,
    ) -> Link {
        // A fresh link: nothing taken yet (the peer may have posted already).
        Link {
            page,
            out: out & 1,
            peer_inbox,
            known_as,
            seen: Cell::new(0),
        }
    }

    fn out_half(&self) -> &Half {
        &self.page.get::<LinkPage>().halves[self.out]
    }

    fn in_half(&self) -> &Half {
        &self.page.get::<LinkPage>().halves[self.out ^ 1]
    }

    /// Writes a message for the peer, without ringing (a monitor answers its sandbox's marker
    /// call instead).
    #[inline]
    pub(crate) fn write(&self, kind: Kind, args: &[u64; 6]) {
        let h = self.out_half();
        for (a, v) in h.args.iter().zip(args) {
            a.store(*v, Ordering::Relaxed);
        }
        h.kind.store(kind as u32, Ordering::Relaxed);
        let n = h.seq.load(Ordering::Relaxed).wrapping_add(1);
        h.seq.store(n, Ordering::Release);
    }

    /// Writes a message for the peer and rings its inbox. False when we hold no inbox of it.
    #[inline]
    pub(crate) fn post(&self, kind: Kind, args: &[u64; 6]) -> bool {
        let Some(inbox) = &self.peer_inbox else {
            return false;
        };
        self.write(kind, args);
        let inbox = inbox.get::<Inbox>();
        // Pairs with the fence of a park that starts sleeping (see `block`).
        fence(Ordering::SeqCst);
        if inbox.word.load(Ordering::Relaxed) != word::SPINNING {
            inbox.from.store(self.known_as, Ordering::Relaxed);
            ring(inbox);
        }
        true
    }

    /// Makes our view of the link read-only for good (a sandbox's; see [`BirthPages::sandbox`]).
    pub(crate) fn remap_read_only(&self, memfd: &std::os::fd::OwnedFd) -> crate::Result<()> {
        self.page.remap_read_only(memfd)
    }

    /// Whether the peer posted a message we have not taken.
    #[inline]
    pub(crate) fn pending(&self) -> bool {
        self.in_half().seq.load(Ordering::Acquire) != self.seen.get()
    }

    /// Takes the peer's message, if it posted one we have not taken.
    #[inline]
    pub(crate) fn take(&self) -> Option<Message> {
        let h = self.in_half();
        let seq = h.seq.load(Ordering::Acquire);
        if seq == self.seen.get() {
            return None;
        }
        let mut args = [0u64; 6];
        for (v, a) in args.iter_mut().zip(&h.args) {
            *v = a.load(Ordering::Relaxed);
        }
        let kind = Kind::from_word(h.kind.load(Ordering::Relaxed));
        self.seen.set(seq);
        Some(Message { kind, args })
    }
}

/// The doorbell of our own inbox.
pub(crate) fn hint(inbox: &SharedPages) -> u32 {
    inbox.get::<Inbox>().from.load(Ordering::Relaxed)
}

#[inline]
fn ring(inbox: &Inbox) {
    // Anything but a value that says the owner is awake may hide a sleeper (the other holders
    // of the inbox can write it): wake then.
    let prev = inbox.word.swap(word::WOKEN, Ordering::AcqRel);
    if !matches!(prev, word::IDLE | word::WOKEN) {
        futex::wake(&inbox.word, 1);
    }
}

/// Waits until `pending` (a message on one of our links) or `notice` moves past `seen`.
#[inline]
pub(crate) fn park(
    inbox: &SharedPages,
    notice: &AtomicU32,
    seen: u32,
    mode: Handoff,
    pending: impl Fn() -> bool,
) {
    let inbox = inbox.get::<Inbox>();
    let ready = || pending() || notice.load(Ordering::Acquire) != seen;
    match mode {
        Handoff::Block => block(inbox, notice, seen, &ready),
        Handoff::Spin => {
            // For good: posters stop ringing (a write to our inbox line per hop).
            if inbox.word.load(Ordering::Relaxed) != word::SPINNING {
                inbox.word.store(word::SPINNING, Ordering::Relaxed);
            }
            fence(Ordering::SeqCst);
            let mut n = 0u32;
            while !ready() {
                std::hint::spin_loop();
                n = n.wrapping_add(1);
                if n.is_multiple_of(SPINS_BETWEEN_CHECKS) {
                    leave_if_group_gone();
                }
            }
        }
        Handoff::Adaptive { spin } => {
            inbox.word.store(word::SPINNING, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let start = Instant::now();
            let mut n = 0u32;
            while !ready() {
                std::hint::spin_loop();
                n = n.wrapping_add(1);
                if n.is_multiple_of(128) && start.elapsed() >= spin {
                    inbox.word.store(word::IDLE, Ordering::Relaxed);
                    block(inbox, notice, seen, &ready);
                    break;
                }
            }
            inbox.word.store(word::IDLE, Ordering::Relaxed);
        }
    }
}

/// How long a parked lwC sleeps before it checks that its group still stands. A group ends
/// by killing its lwCs; this is for the ending that leaves nobody to do it (the guardian
/// and then the supervisor SIGKILLed), so a parked lwC does not wait forever.
const GROUP_CHECK_EVERY: Duration = Duration::from_secs(1);
/// The same for a spinning lwC, in spins (some tens of milliseconds).
const SPINS_BETWEEN_CHECKS: u32 = 1 << 24;

/// Ends this lwC if its group's supervisor is gone.
#[cold]
fn leave_if_group_gone() {
    if process::supervisor_gone() {
        process::exit_now(1);
    }
}

/// Sleeps until `ready`: the word goes IDLE → SLEEPING, and a poster that saw it not SLEEPING
/// either rang (WOKEN: we see it) or wrote its message before our fence (we see that).
fn block(inbox: &Inbox, notice: &AtomicU32, seen: u32, ready: &dyn Fn() -> bool) {
    while !ready() {
        match inbox.word.compare_exchange(
            word::IDLE,
            word::SLEEPING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) | Err(word::SLEEPING) => {
                fence(Ordering::SeqCst);
                if ready() {
                    break;
                }
                let bound = process::needs_supervisor_checks().then_some(GROUP_CHECK_EVERY);
                if futex::wait_either(&inbox.word, word::SLEEPING, notice, seen, bound) {
                    leave_if_group_gone();
                }
            }
            // Rung (or a stale mode): consume it and look again.
            Err(_) => inbox.word.store(word::IDLE, Ordering::Release),
        }
    }
    inbox.word.store(word::IDLE, Ordering::Release);
}
