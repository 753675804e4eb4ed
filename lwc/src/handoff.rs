//! The hand-off mechanism: where a switch's message lives and how its target is woken.
//!
//! Rights to switch are pages. A creator maps two anonymous MAP_SHARED pages (one mapping, no
//! file or descriptor behind it) before it forks a child: the child's **inbox** (its doorbell)
//! and the **link** of the pair
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
//!                 word IDLE → SLEEPING; b = bell; fence; re-check; futex_waitv(word, bell = b)
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
//! two words at once (futex_waitv, with no time bound): its inbox, and the group's bell on the
//! supervisor's read-only notice board, rung after a death notice and, by the kernel, when the
//! supervisor dies (see `board::Bell`).

use crate::board::Bell;
use crate::sys::mem::{SharedPages, SharedZeroed};
use crate::sys::page::page_size;
use crate::sys::{futex, process};
use crate::types::{Handoff, Kind};
use std::cell::Cell;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

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
pub(crate) enum BirthPages {
    /// The new lwC's inbox (first page) and the link between creator and new lwC (second
    /// page), in one mapping: the creator holds both until the pair ends and unmaps them at
    /// once.
    Pair(SharedPages),
    /// A sandbox's link, and the link's sealed memfd, from which the sandbox maps its view
    /// read-only (it only reads its monitor's words there; no page of the runtime is writable
    /// in a sandbox). A sandbox has no inbox: it is never rung, and rings nobody.
    Sandbox(SharedPages, std::os::fd::OwnedFd),
}

/// Where the inbox and the link lie in [`BirthPages::Pair`].
const INBOX_AT: usize = 0;
fn link_at() -> usize {
    page_size()
}

impl BirthPages {
    /// Maps both pages (one anonymous shared mapping, populated: one system call).
    pub(crate) fn new() -> crate::Result<BirthPages> {
        SharedPages::anonymous(2 * page_size()).map(BirthPages::Pair)
    }

    /// As [`BirthPages::new`], from a memfd that it keeps: a snapshot pool's factory hands it to the
    /// lwC that rolls back into the new copy ([`BirthPages::handed`]), which did not inherit it.
    pub(crate) fn handable() -> crate::Result<(BirthPages, std::os::fd::OwnedFd)> {
        let (pages, memfd) = SharedPages::new_handable("lwc-link", 2 * page_size())?;
        Ok((BirthPages::Pair(pages), memfd))
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
        Ok(BirthPages::Sandbox(link, fd))
    }

    /// The creator's end of the new link: it writes half 0, rings the new lwC's inbox (not a
    /// sandbox's) and is known to it as `known_as`.
    pub(crate) fn creators_end(self, known_as: u32) -> Link {
        match self {
            BirthPages::Pair(pages) => Link {
                pages,
                at: link_at(),
                out: 0,
                peer_inbox: PeerInbox::InPages(INBOX_AT),
                known_as,
                seen: Cell::new(0),
            },
            BirthPages::Sandbox(link, _) => Link::new(link, 0, None, known_as),
        }
    }

    /// The new lwC's side: its own inbox (none in a sandbox), its end of the link (it writes
    /// half 1, rings `peer_inbox`, its creator's, and is known as `known_as`), and a sandbox's
    /// sealed memfd.
    pub(crate) fn childs_end(
        self,
        peer_inbox: Option<SharedPages>,
        known_as: u32,
    ) -> (Option<SharedPages>, Link, Option<std::os::fd::OwnedFd>) {
        match self {
            BirthPages::Pair(pages) => {
                let (inbox, link) = pages.split(link_at());
                (Some(inbox), Link::new(link, 1, peer_inbox, known_as), None)
            }
            BirthPages::Sandbox(link, fd) => (None, Link::new(link, 1, None, known_as), Some(fd)),
        }
    }
}

/// Maps a lone inbox (the group's first lwC, which has no creator).
pub(crate) fn first_inbox() -> crate::Result<SharedPages> {
    SharedPages::anonymous(page_size())
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
    /// The mapping that holds the link page, at `at` (on a creator's side, the child's inbox
    /// too).
    pages: SharedPages,
    at: usize,
    out: usize,
    peer_inbox: PeerInbox,
    known_as: u32,
    /// The peer's messages we have taken (its half's seq when we last took one).
    seen: Cell<u32>,
}

/// Where a link's peer's inbox is mapped, if we hold it.
#[derive(Debug)]
enum PeerInbox {
    None,
    /// A mapping of its own.
    Own(SharedPages),
    /// In the link's own mapping, at this offset.
    InPages(usize),
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
            pages: page,
            at: 0,
            out: out & 1,
            peer_inbox: peer_inbox.map_or(PeerInbox::None, PeerInbox::Own),
            known_as,
            seen: Cell::new(0),
        }
    }

    fn page(&self) -> &LinkPage {
        self.pages.get_at::<LinkPage>(self.at)
    }

    fn out_half(&self) -> &Half {
        &self.page().halves[self.out]
    }

    fn in_half(&self) -> &Half {
        &self.page().halves[self.out ^ 1]
    }

    fn peer_inbox(&self) -> Option<&Inbox> {
        match &self.peer_inbox {
            PeerInbox::None => None,
            PeerInbox::Own(p) => Some(p.get::<Inbox>()),
            PeerInbox::InPages(at) => Some(self.pages.get_at::<Inbox>(*at)),
        }
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
        let Some(inbox) = self.peer_inbox() else {
            return false;
        };
        self.write(kind, args);
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
        self.pages.remap_read_only(memfd)
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

/// Waits until `pending` (a message on one of our links) or `notice` moves past `seen`; the
/// group's `bell` wakes a sleeper for the latter.
#[inline]
pub(crate) fn park(
    inbox: &SharedPages,
    bell: &Bell,
    notice: &AtomicU32,
    seen: u32,
    mode: Handoff,
    pending: impl Fn() -> bool,
) {
    let inbox = inbox.get::<Inbox>();
    let ready = || pending() || notice.load(Ordering::Acquire) != seen;
    match mode {
        Handoff::Block => block(inbox, bell, &ready),
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
                    leave_if_group_gone(bell);
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
                    block(inbox, bell, &ready);
                    break;
                }
            }
            inbox.word.store(word::IDLE, Ordering::Relaxed);
        }
    }
}

/// How often a spinning lwC checks that its group still stands, in spins (some tens of
/// milliseconds). A group ends by killing its lwCs; this is for the ending that leaves nobody
/// to do it (the guardian and then the supervisor SIGKILLed). A sleeping lwC needs no such
/// check: the kernel rings the bell when the supervisor dies.
const SPINS_BETWEEN_CHECKS: u32 = 1 << 24;

/// Ends this lwC if its group's supervisor is gone.
#[cold]
fn leave_if_group_gone(bell: &Bell) {
    if Bell::says_gone(bell.value()) || process::supervisor_gone() {
        leave_group(bell);
    }
}

/// Ends this lwC, whose supervisor died: first wakes every other sleeper on the bell (the
/// kernel woke only one).
#[cold]
fn leave_group(bell: &Bell) -> ! {
    futex::wake(&bell.word, i32::MAX as u32);
    process::exit_now(1)
}

/// Sleeps until `ready`: the word goes IDLE → SLEEPING, and a poster that saw it not SLEEPING
/// either rang (WOKEN: we see it) or wrote its message before our fence (we see that). The
/// bell is read before we look, so a ring after that read (a notice) makes the wait return.
fn block(inbox: &Inbox, bell: &Bell, ready: &dyn Fn() -> bool) {
    while !ready() {
        match inbox.word.compare_exchange(
            word::IDLE,
            word::SLEEPING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) | Err(word::SLEEPING) => {
                let rung = bell.value();
                fence(Ordering::SeqCst);
                if ready() {
                    break;
                }
                if Bell::says_gone(rung) {
                    leave_group(bell);
                }
                futex::wait_either(&inbox.word, word::SLEEPING, &bell.word, rung);
            }
            // Rung (or a stale mode): consume it and look again.
            Err(_) => inbox.word.store(word::IDLE, Ordering::Release),
        }
    }
    inbox.word.store(word::IDLE, Ordering::Release);
}
