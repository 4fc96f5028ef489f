//! The queue's live ends, for the watchdogs' reports: the sending ends
//! alive (tokio's strong count: every [`Sender`](super::Sender) and owned
//! permit, each holding one [`SenderEnd`]) and whether the receiver is,
//! said through the queue's [`QueueProbe`], registered with the watchdog
//! on the queue's first wait (a cold path). A receive that waits long is
//! then told how many Senders keep it open (`... and 2 Senders are
//! alive`), as a `lockgraph::mpsc` receive is.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use lockgraph_core::watchdog::{watch_queue, QueueProbe, QueueState};

use super::tracked::Chan;

/// One sending end of the queue (a `Sender`'s, or an owned permit's it
/// was moved into): counted while it lives.
pub(super) struct SenderEnd(Arc<Chan>);

impl SenderEnd {
    /// A new sending end of `chan` (the channel's first sender, or an
    /// upgraded weak one).
    pub(super) fn new(chan: Arc<Chan>) -> SenderEnd {
        chan.ends.senders.fetch_add(1, Ordering::Relaxed);
        SenderEnd(chan)
    }

    /// The queue, not counted as an end (for a future that only uses it).
    pub(super) fn chan(&self) -> &Arc<Chan> {
        &self.0
    }
}

impl Clone for SenderEnd {
    fn clone(&self) -> SenderEnd {
        SenderEnd::new(Arc::clone(&self.0))
    }
}

impl Drop for SenderEnd {
    fn drop(&mut self) {
        self.0.ends.senders.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Deref for SenderEnd {
    type Target = Chan;

    fn deref(&self) -> &Chan {
        &self.0
    }
}

/// The live ends of a queue, and its probe's registration.
pub(super) struct Ends {
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
    watched: AtomicBool,
    /// The queue itself, for its probe's registration.
    me: Weak<Chan>,
}

impl Ends {
    /// No end counted yet (the first sender counts itself), the receiver
    /// alive; `me`: the queue these are the ends of.
    pub(super) fn new(me: Weak<Chan>) -> Ends {
        Ends {
            senders: Default::default(),
            receiver_alive: AtomicBool::new(true),
            watched: Default::default(),
            me,
        }
    }

    /// The receiver was dropped.
    pub(super) fn receiver_dropped(&self) {
        self.receiver_alive.store(false, Ordering::Relaxed);
    }

    /// The queue's first wait (a cold path): its probe registered for
    /// both of its identities (a send's, a receive's), once.
    pub(super) fn watch(&self, chan: &Chan) {
        if self.watched.swap(true, Ordering::Relaxed) {
            return;
        }
        for meta in [&chan.queue, &chan.items] {
            let probe: Weak<dyn QueueProbe> = self.me.clone();
            watch_queue(meta, probe);
        }
    }
}

impl QueueProbe for Chan {
    fn state(&self) -> QueueState {
        QueueState::new(
            Some(self.capacity()),
            self.ends.senders.load(Ordering::Relaxed),
            self.ends.receiver_alive.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use lockgraph_core::watchdog::QueueProbe;

    use super::super::{channel_named, Sender};

    /// The ends the probe counts, as tokio counts them.
    fn counted(tx: &Sender<u32>) -> (usize, usize) {
        (tx.chan().state().senders, tx.strong_count())
    }

    /// The probe's count of Senders follows tokio's strong count through
    /// clones, weak upgrades, owned permits (a permit is a sending end)
    /// and drops; the receiver's drop is seen.
    #[test]
    fn the_probe_counts_the_ends_tokio_counts() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, rx) = channel_named::<u32>("ends-count", 2);
        assert_eq!(counted(&tx), (1, 1));
        let clone = tx.clone();
        let weak = tx.downgrade();
        let up = weak.upgrade().unwrap();
        assert_eq!(counted(&tx), (3, 3));
        drop(clone);
        let permit = up.try_reserve_owned().ok().unwrap();
        assert_eq!(counted(&tx), (2, 2));
        let back = permit.send(7);
        let permit = rt.block_on(back.reserve_owned()).unwrap();
        assert_eq!(counted(&tx), (2, 2));
        drop(permit.release());
        assert_eq!(counted(&tx), (1, 1));
        assert!(tx.chan().state().receiver_alive);
        drop(rx);
        assert!(!tx.chan().state().receiver_alive);
        assert_eq!(tx.chan().state().bound, Some(2));
    }
}
