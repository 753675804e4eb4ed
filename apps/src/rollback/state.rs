//! The handler's costly start-up state, and what a request does to it.
//!
//! ```text
//!   heads[b]  ──► node i ──next──► node j ──next──► NIL      (a chained hash table)
//!   nodes[]   256 B each: key · next · len · payload[30]   (most of the state's bytes)
//!   log       this session's request seeds (heap, grows)
//!   STATICS   512 words in .bss (a per-process table requests write)
//! ```
//!
//! [`State::build`] is the framework boot: it derives a key per node, fills its payload and
//! threads it into its bucket's chain, so the state is pointer-rich (every lookup walks a chain)
//! and costs tens of milliseconds per 64 MiB. Every build with the same size gives the same
//! bytes, so the pristine [`State::checksum`] is known.
//!
//! A [`State::request`] reads: it looks up [`READS_PER_REQUEST`] keys, walking their chains; and
//! writes: one word in each of `pages` consecutive 4 KiB pages of the node array (from a place
//! the seed picks), a slot of [`STATICS`], and its seed on the session log. A marker
//! ([`State::mark`]) goes to a node and to a static, where [`State::peek`] looks for it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of one node.
pub const NODE_BYTES: usize = std::mem::size_of::<Node>();

/// Bytes of a page, as the request's writes count them.
pub const PAGE_BYTES: usize = 4096;

/// Keys one request looks up.
pub const READS_PER_REQUEST: u64 = 32;

/// Words of [`STATICS`].
pub const STATIC_WORDS: usize = 512;

/// The slot of [`STATICS`] a marker goes to (requests write the others).
const MARK_SLOT: usize = STATIC_WORDS - 1;

/// Node of the marker in the heap.
const MARK_NODE: usize = 0;

/// End of a chain.
const NIL: u32 = u32::MAX;

/// The seed of every build: the same size always gives the same state.
const SALT: u64 = 0x6c77_6362_656e_6368;

/// A per-process table in `.bss` that requests write (the statics of a real handler: counters,
/// caches); part of the state a rollback must restore.
pub static STATICS: [AtomicU64; STATIC_WORDS] = [const { AtomicU64::new(0) }; STATIC_WORDS];

/// One record of the parsed state.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Node {
    key: u64,
    next: u32,
    len: u32,
    payload: [u64; PAYLOAD_WORDS],
}

/// Words of a node's payload (a node is 256 bytes, 16 to a page).
const PAYLOAD_WORDS: usize = 30;

/// The state a handler builds at start and its sessions dirty.
#[derive(Debug)]
pub struct State {
    nodes: Vec<Node>,
    heads: Vec<u32>,
    log: Vec<u64>,
}

/// SplitMix64: a cheap, well-mixed function of a word.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key_of(i: usize) -> u64 {
    mix(i as u64 ^ SALT)
}

impl State {
    /// Builds a state of about `state_bytes` (nodes and the bucket table; at least one page of
    /// nodes), and resets [`STATICS`].
    pub fn build(state_bytes: usize) -> State {
        let n = (state_bytes / (NODE_BYTES + 4)).max(PAGE_BYTES / NODE_BYTES);
        let mut heads = vec![NIL; n];
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let key = key_of(i);
            let bucket = (key % n as u64) as usize;
            // The payload: an xorshift stream from the key (cheap, so the build's cost is the
            // memory it fills and the chains it threads, as a parser's would be).
            let mut payload = [0u64; PAYLOAD_WORDS];
            let mut w = key | 1;
            for p in &mut payload {
                w ^= w << 13;
                w ^= w >> 7;
                w ^= w << 17;
                *p = w;
            }
            nodes.push(Node {
                key,
                next: heads[bucket],
                len: (w % 48) as u32,
                payload,
            });
            heads[bucket] = i as u32;
        }
        for s in &STATICS {
            s.store(0, Ordering::Relaxed);
        }
        State {
            nodes,
            heads,
            log: Vec::new(),
        }
    }

    /// Pages of the node array (where requests write).
    pub fn node_pages(&self) -> usize {
        (self.nodes.len() * NODE_BYTES / PAGE_BYTES).max(1)
    }

    fn lookup(&self, key: u64) -> u64 {
        let mut i = self.heads[(key % self.heads.len() as u64) as usize];
        while i != NIL {
            let node = &self.nodes[i as usize];
            if node.key == key {
                return node.payload.iter().fold(u64::from(node.len), |a, p| a ^ p);
            }
            i = node.next;
        }
        0
    }

    /// Serves one request: reads [`READS_PER_REQUEST`] keys, writes one word in each of `pages`
    /// consecutive pages of the nodes (at most all of them), a static and the session log.
    /// Returns a digest of what it read.
    pub fn request(&mut self, seed: u64, pages: usize) -> u64 {
        let n = self.nodes.len();
        let mut digest = 0;
        for r in 0..READS_PER_REQUEST {
            let i = (mix(seed ^ r.wrapping_mul(0x1000_0000_01b3)) % n as u64) as usize;
            digest ^= self.lookup(key_of(i));
        }
        let node_pages = self.node_pages();
        let first = (mix(!seed) % node_pages as u64) as usize;
        let per_page = PAGE_BYTES / NODE_BYTES;
        for w in 0..pages.min(node_pages) {
            let i = ((first + w) % node_pages) * per_page;
            if let Some(node) = self.nodes.get_mut(i) {
                node.payload[PAYLOAD_WORDS - 1] ^= seed | 1;
            }
        }
        STATICS[(seed % MARK_SLOT as u64) as usize].fetch_add(seed | 1, Ordering::Relaxed);
        self.log.push(seed);
        digest
    }

    /// Writes `value` into a node and into a static.
    pub fn mark(&mut self, value: u64) {
        self.nodes[MARK_NODE].payload[0] = value;
        STATICS[MARK_SLOT].store(value, Ordering::Relaxed);
    }

    /// Where `value` is seen: bit 0 in the heap, bit 1 in the statics.
    pub fn peek(&self, value: u64) -> u64 {
        let heap = u64::from(self.nodes[MARK_NODE].payload[0] == value);
        let statics = u64::from(STATICS[MARK_SLOT].load(Ordering::Relaxed) == value);
        heap | statics << 1
    }

    /// What a worker reused without isolation does between sessions: drops the session's log
    /// (its memory stays with the process), and nothing else.
    pub fn end_session(&mut self) {
        self.log.clear();
    }

    /// A hash of every byte of the state: nodes, buckets, the session log and [`STATICS`].
    pub fn checksum(&self) -> u64 {
        let mut h = Fnv::default();
        for node in &self.nodes {
            h.word(node.key);
            h.word(u64::from(node.next) << 32 | u64::from(node.len));
            node.payload.iter().for_each(|&p| h.word(p));
        }
        for pair in self.heads.chunks(2) {
            h.word(pair.iter().fold(0, |a, &b| a << 32 | u64::from(b)));
        }
        h.word(self.log.len() as u64);
        self.log.iter().for_each(|&s| h.word(s));
        STATICS
            .iter()
            .for_each(|s| h.word(s.load(Ordering::Relaxed)));
        h.0
    }
}

/// FNV-1a over 64-bit words.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These tests share STATICS, so they run as one.
    #[test]
    fn state_behaves() {
        // Guards against a build that depends on anything but its size (the pristine checksum
        // would not be known).
        let a = State::build(1 << 20);
        let pristine = a.checksum();
        drop(a);
        let mut s = State::build(1 << 20);
        assert_eq!(s.checksum(), pristine);
        assert!(s.node_pages() >= 15);

        // Guards against lookups that never find a key (a request would read nothing).
        let i = 1234;
        assert_ne!(s.lookup(key_of(i)), 0);
        assert_eq!(s.lookup(1), 0);

        // Guards against a checksum blind to the writes a request makes: heap and statics.
        let before = s.nodes.clone();
        s.request(7, 4);
        let changed: Vec<usize> = (0..s.nodes.len())
            .filter(|&i| s.nodes[i].payload != before[i].payload)
            .map(|i| i * NODE_BYTES / PAGE_BYTES)
            .collect();
        assert_eq!(changed.len(), 4, "one word in each of 4 pages");
        assert_ne!(s.checksum(), pristine);

        let mut t = State::build(1 << 20);
        t.mark(99);
        assert_eq!(t.peek(99), 0b11);
        t.nodes[MARK_NODE].payload[0] = 0;
        assert_eq!(t.peek(99), 0b10, "the static alone is seen");
        let fresh = State::build(1 << 20);
        assert_eq!(fresh.peek(99), 0, "a build resets the statics");
        assert_eq!(fresh.checksum(), pristine);
        STATICS[3].store(1, Ordering::Relaxed);
        assert_ne!(fresh.checksum(), pristine, "statics are in the checksum");
    }
}
