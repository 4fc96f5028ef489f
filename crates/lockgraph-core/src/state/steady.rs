//! The steady case of an acquisition with the lock-order graph on and
//! every other feature off: the lock taken again, at the same depth, the
//! same way, on the same held locks as an acquisition already recorded.
//! Then there is nothing to look up or record, and the slot the push lands
//! in already holds the lock's id, hold and request: the push is the site
//! and the new length.
//!
//! `primitive::acquire` asks [`LockMeta::steady`] (with the features' tag:
//! the test fails unless every feature but the graph is off) before the
//! raw operation and calls [`LockMeta::push_steady`] after it; anything
//! else (a new chain, another lock in the slot, a feature on) goes the
//! general way, which records, pushes and fills the slot as before.

use super::*;
use crate::watchdog::WaitMode;

impl LockMeta {
    /// Whether an acquisition of this lock in `mode` is steady (see the
    /// module docs): the depth its push will land at.
    ///
    /// At depth 0 nothing is below, so no edge is recorded: the slot's word
    /// must be the lock's id, no slow bit, the hold, request 0 (as the
    /// general push writes it at depth 0). Above, the slot must be below
    /// the stack's `verified` mark (every slot up to it pushed by a
    /// recorded acquisition and not changed since) and its word the lock's
    /// id with the mode's hold and request. Either way one compare of the
    /// slot's word with [`expect`]'s, or-ed with `tag`: the features' tag
    /// (`features::steady_tag`), 0 with the graph on and every other
    /// feature off, else a bit no slot's word has, so that no slot matches
    /// (the features' byte is not tested apart).
    #[inline(always)]
    pub(crate) fn steady(&self, mode: WaitMode, tag: u64) -> Option<usize> {
        let t = state();
        let len = t.stack.len.get();
        // The lock's word with its flags: an id never assigned (0) matches
        // no slot (an empty one has slow bits).
        let word = self.id.load(Ordering::Relaxed);
        let flags = mode_flags(mode);
        if len == 0 {
            // One compare: the slot's id, no slow bit, the hold, request 0.
            if t.stack.words[0].get() == expect(word, nibble(mode.hold(), 0, flags), 0) | tag {
                return Some(0);
            }
        } else if t.verified.get() > len {
            // SAFETY: `verified` is at most `MAX_HELD` (a push sets it to
            // its new length, at most `MAX_HELD`; everything else lowers
            // it), so `len < MAX_HELD` (and the thread is not busy, whose
            // `len` has the `BUSY` bit).
            unsafe { std::hint::assert_unchecked(len < MAX_HELD) };
            let req = mode.request() as u8 + 1;
            if t.stack.words[len].get() == expect(word, nibble(mode.hold(), req, flags), 0) | tag {
                return Some(len);
            }
        }
        None
    }

    /// The push of an acquisition [`steady`](Self::steady) said was steady
    /// at `depth`, once the lock is held.
    #[inline(always)]
    pub(crate) fn push_steady(&self, depth: usize, site: Option<&'static Location<'static>>) {
        let t = state();
        t.stack.sites[depth].set(match site {
            Some(s) => Some(s),
            None => t.pending_site.take(),
        });
        #[cfg(feature = "send_guard")]
        t.stamps[depth].set(moved::stamp());
        t.stack.len.set(depth + 1);
    }
}
