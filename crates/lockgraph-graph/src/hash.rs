//! [`FastHasher`]: a multiply-rotate hasher for integer keys and trusted strings.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hasher for small integer and pointer keys (node
/// indices, lock ids, addresses) and for strings one trusts, where the
/// standard hasher's resistance to chosen keys is not needed and its cost
/// is: the search's tables here, lockgraph's own indexes of lock ids and
/// classes, and the CLI's interned strings of record files.
///
/// ```
/// use std::collections::HashMap;
/// let mut ids: HashMap<u64, u32, lockgraph_graph::FastBuildHasher> = HashMap::default();
/// ids.insert(7, 1);
/// assert_eq!(ids.get(&7), Some(&1));
/// ```
#[derive(Default, Clone, Copy, Debug)]
pub struct FastHasher(u64);

/// Builds [`FastHasher`]s (for `HashMap::default()`).
pub type FastBuildHasher = BuildHasherDefault<FastHasher>;

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Eight bytes at a time (strings: the CLI's interned names, sites and
    /// frames), the length of a short tail mixed in with it.
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, FastBuildHasher>;

/// A hasher for a pair of node indices packed in one `u64` (`from << 32 |
/// to`): [`FastHasher`]'s multiply carries a word's high half into no low
/// bit, and a table picks its bucket by the low bits, so every edge into
/// one node would share a bucket; the high half is folded down.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e_37_79_b9_7f_4a_7c_15);
    }
}

/// Edges by their two nodes ([`PairHasher`]).
pub(crate) type PairMap<V> = HashMap<u64, V, BuildHasherDefault<PairHasher>>;
