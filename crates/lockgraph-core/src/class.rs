//! Lock classes: what makes two locks "the same kind of lock".

use std::fmt;
use std::panic::Location;

/// What sort of primitive a lock is; shown in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockKind {
    /// `Mutex` (parking_lot or std flavour).
    Mutex,
    /// `RwLock`.
    RwLock,
    /// `ReentrantMutex`.
    ReentrantMutex,
    /// `Condvar`, tracked as a pseudo-lock: waiting on it holds it, notifying
    /// needs the locks the notifier holds.
    Condvar,
    /// Anything else (a raw lock used through lock_api directly).
    Other,
    /// A CUDA stream (or a stream's wait on an event), a node of the CUDA model
    /// (`lockgraph-cuda`).
    Stream,
    /// A CUDA event, a node of the CUDA model.
    Event,
    /// The host-function executor of a CUDA context, which host functions of
    /// different streams may share.
    HostExecutor,
    /// A host function enqueued on a stream.
    HostFn,
    /// A signal (flag, channel, condition) a host function waits on.
    Signal,
    /// A `Once`, tracked as a lock held by the thread running its closure
    /// and requested by every thread that calls it before it completes.
    Once,
    /// A `FairMutex` (parking_lot's eventually fair mutex).
    FairMutex,
    /// A bounded queue (a channel), as the resource its senders wait on:
    /// held by its consumers between two receives (`docs/pipelines.md`).
    Queue,
    /// A counting semaphore: held by each permit holder.
    Semaphore,
    /// A barrier: held by each party between two waits.
    Barrier,
    /// A thread that can be joined: held by the thread while it runs.
    Thread,
    /// `lockgraph::tokio::Mutex` (tokio's async mutex), held by a task.
    AsyncMutex,
    /// `lockgraph::tokio::RwLock` (tokio's fair async read-write lock).
    AsyncRwLock,
    /// `lockgraph::tokio::Semaphore`: a resource of N permits, each permit
    /// a shared hold, each acquisition an exclusive request.
    AsyncSemaphore,
}

impl LockKind {
    /// The kind named `name` (as [`LockKind::name`] writes it); `Other` if unknown.
    pub fn from_name(name: &str) -> LockKind {
        match name {
            "Mutex" => LockKind::Mutex,
            "RwLock" => LockKind::RwLock,
            "ReentrantMutex" => LockKind::ReentrantMutex,
            "Condvar" => LockKind::Condvar,
            "Stream" => LockKind::Stream,
            "Event" => LockKind::Event,
            "HostExecutor" => LockKind::HostExecutor,
            "HostFn" => LockKind::HostFn,
            "Signal" => LockKind::Signal,
            "Once" => LockKind::Once,
            "FairMutex" => LockKind::FairMutex,
            "Queue" => LockKind::Queue,
            "Semaphore" => LockKind::Semaphore,
            "Barrier" => LockKind::Barrier,
            "Thread" => LockKind::Thread,
            "AsyncMutex" => LockKind::AsyncMutex,
            "AsyncRwLock" => LockKind::AsyncRwLock,
            "AsyncSemaphore" => LockKind::AsyncSemaphore,
            _ => LockKind::Other,
        }
    }

    /// The type name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            LockKind::Mutex => "Mutex",
            LockKind::RwLock => "RwLock",
            LockKind::ReentrantMutex => "ReentrantMutex",
            LockKind::Condvar => "Condvar",
            LockKind::Other => "lock",
            LockKind::Stream => "Stream",
            LockKind::Event => "Event",
            LockKind::HostExecutor => "HostExecutor",
            LockKind::HostFn => "HostFn",
            LockKind::Signal => "Signal",
            LockKind::Once => "Once",
            LockKind::FairMutex => "FairMutex",
            LockKind::Queue => "Queue",
            LockKind::Semaphore => "Semaphore",
            LockKind::Barrier => "Barrier",
            LockKind::Thread => "Thread",
            LockKind::AsyncMutex => "AsyncMutex",
            LockKind::AsyncRwLock => "AsyncRwLock",
            LockKind::AsyncSemaphore => "AsyncSemaphore",
        }
    }

    /// Whether its holds are *roles* rather than critical sections: a
    /// queue's consumer between two receives, a barrier's party between two
    /// waits, a running thread (`docs/pipelines.md`). Such a hold orders the
    /// locks taken under it like any hold, but the lock profile does not
    /// time it (it is not a lock held).
    pub fn is_role(self) -> bool {
        matches!(self, LockKind::Queue | LockKind::Barrier | LockKind::Thread)
    }

    /// Whether a hold of this kind, kept while `target` is requested, is
    /// an order edge "this -> target". Every hold is, except the two roles
    /// that are a guess about the future (a consumer "between receives", a
    /// party "on its way to the next wait": after its last receive or wait
    /// it is neither) held while joining a thread or waiting at a barrier,
    /// which is how such a thread typically ends its part: counted, they
    /// make the false cycle "consumer joins the producer it drained"
    /// (`docs/pipelines.md`).
    pub fn orders(self, target: LockKind) -> bool {
        !(matches!(self, LockKind::Queue | LockKind::Barrier)
            && matches!(target, LockKind::Thread | LockKind::Barrier))
    }

    /// Whether a condvar notified while this is held gets "condvar ->
    /// this". Not a thread's own pseudo-lock: held for its whole run, it
    /// orders nothing against the notification (`docs/pipelines.md`,
    /// "Condvars"); a consumer's, a party's (rounds) and a permit do.
    pub fn orders_notification(self) -> bool {
        self != LockKind::Thread
    }
}

/// The type of the value a lock protects, as a function that names it:
/// `std::any::type_name::<T>` (not callable in a `const fn` on stable Rust,
/// but a pointer to it is), or [`no_type`] for a lock without a value.
pub type TypeNameFn = fn() -> &'static str;

/// The [`TypeNameFn`] of a lock that protects no value (a `Condvar`, a
/// pseudo-lock): its class is its site alone.
pub fn no_type() -> &'static str {
    ""
}

/// A lock class. Lock-order edges between classes catch an inversion between
/// two *different* pairs of locks of the same two kinds, as lockdep does.
///
/// A class made by `Mutex::new` (or `Default`, `From`, a generic helper) is
/// its creation site *and* the type of the value the lock protects: one
/// `#[derive(Default)]` or one generic constructor makes locks of several
/// classes, one per value type, so two fields of different types stay two
/// classes. Locks of one type made at one site (two `Mutex<u32>` fields of
/// one derived struct) are still one class; reports say so ("one site, many
/// fields"). A named class is its name alone.
#[derive(Clone, Copy)]
pub enum Class {
    /// Every lock created at this source location protecting this type
    /// (`Mutex::new`).
    Site(&'static Location<'static>, TypeNameFn),
    /// Every lock created with this name (`Mutex::named`).
    Named(&'static str),
    /// A class of its own per lock: locks made through `lock_api`'s `INIT`
    /// without a location.
    Anonymous,
}

impl fmt::Debug for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::Site(l, t) => f
                .debug_tuple("Site")
                .field(&Site::from(*l))
                .field(&t())
                .finish(),
            Class::Named(n) => f.debug_tuple("Named").field(n).finish(),
            Class::Anonymous => f.write_str("Anonymous"),
        }
    }
}

impl Class {
    /// The class of the caller's location, for a lock without a value (a
    /// condition variable): the site alone.
    #[track_caller]
    pub const fn here() -> Class {
        Class::Site(Location::caller(), no_type)
    }

    /// The class of the caller's location and the protected type `T`.
    #[track_caller]
    pub const fn here_of<T: ?Sized>() -> Class {
        Class::Site(Location::caller(), std::any::type_name::<T>)
    }

    /// Where locks of this class are created, when known.
    pub fn site(&self) -> Option<Site> {
        match self {
            Class::Site(l, _) => Some(Site::from(*l)),
            _ => None,
        }
    }

    /// The type of the value locks of this class protect, when it is part of
    /// the class (site classes of locks with a value).
    pub fn value_type(&self) -> Option<&'static str> {
        match self {
            Class::Site(_, t) => Some(t()).filter(|t| !t.is_empty()),
            _ => None,
        }
    }

    /// The content key used to merge classes in the graph.
    pub(crate) fn key(&self, instance: u64) -> ClassKey {
        match self {
            Class::Site(l, t) => ClassKey::Site(Site::from(*l), t()),
            Class::Named(n) => ClassKey::Named(n),
            Class::Anonymous => ClassKey::Anonymous(instance),
        }
    }

    /// The class's identity by address (its location and type function, or
    /// its name's address and length): equal addresses are one class, so the
    /// graph looks a class up by these two words before it hashes the
    /// content ([`Class::key`]). `None` for an anonymous class.
    #[inline]
    pub(crate) fn identity(&self) -> Option<(usize, usize)> {
        match self {
            Class::Site(l, t) => Some((*l as *const Location<'static> as usize, *t as usize)),
            // The length with the top bit set: never a function's address.
            Class::Named(n) => Some((n.as_ptr() as usize, n.len() | (1 << (usize::BITS - 1)))),
            Class::Anonymous => None,
        }
    }

    /// The per-thread key of a site class: its location's address and its
    /// type function's address, mixed with a rotation (two pointers into
    /// different sections: distinct pairs do not collide in practice, and a
    /// collision only costs the chain cache precision). Equal for every lock
    /// made at one site with one type.
    #[inline(always)]
    pub(crate) fn site_hot_key(l: &'static Location<'static>, t: TypeNameFn) -> u64 {
        (l as *const Location<'static> as usize as u64) ^ (t as usize as u64).rotate_left(32)
    }
}

/// Class identity by content (two `Location` statics of one site, or two
/// copies of one `type_name` instance, are one class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClassKey {
    Site(Site, &'static str),
    Named(&'static str),
    Anonymous(u64),
}

/// A type name as reports show it: every path shortened to its last segment
/// (`alloc::vec::Vec<core::option::Option<u8>>` becomes `Vec<Option<u8>>`).
pub fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the identifier being written started in `out`.
    let mut ident_start = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.truncate(ident_start);
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            ident_start = out.len();
        }
    }
    out
}

/// A source location: where a lock was created, taken or requested.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Site {
    /// Source file, as the compiler names it.
    pub file: &'static str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl From<&'static Location<'static>> for Site {
    fn from(l: &'static Location<'static>) -> Site {
        Site {
            file: l.file(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A 64-bit FNV-1a hash, usable in `const` context (named classes hash their
/// name once, at construction).
pub(crate) const fn fnv(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

// The word form of a class and a kind, for what is copied by another
// thread than the one that wrote it (the held-lock stacks the watchdog
// reads, the task watchdog's held sets).

/// A class as three words: 0 anonymous, 1 site (`a` = `&Location`, `b` =
/// the type name fn), 2 name (`a`, `b` = ptr, len).
pub(crate) fn encode_class(class: Class) -> (u8, usize, usize) {
    match class {
        Class::Anonymous => (0, 0, 0),
        Class::Site(l, t) => (1, l as *const Location<'static> as usize, t as usize),
        Class::Named(n) => (2, n.as_ptr() as usize, n.len()),
    }
}

/// The class [`encode_class`] gave three words for.
///
/// # Safety
/// The words must be one call's of [`encode_class`] (not torn), so the
/// pointers are `'static`.
pub(crate) unsafe fn decode_class(tag: u8, a: usize, b: usize) -> Class {
    match tag {
        1 => Class::Site(
            // SAFETY: the word is a `&'static Location` (caller's contract).
            unsafe { &*(a as *const Location<'static>) },
            // SAFETY: the word is a `fn() -> &'static str` (caller's contract).
            unsafe { std::mem::transmute::<usize, crate::class::TypeNameFn>(b) },
        ),
        2 => {
            // SAFETY: ptr and len of a `&'static str` (caller's contract).
            let bytes = unsafe { std::slice::from_raw_parts(a as *const u8, b) };
            // SAFETY: the bytes were a `str`.
            Class::Named(unsafe { std::str::from_utf8_unchecked(bytes) })
        }
        _ => Class::Anonymous,
    }
}

/// A lock kind as a byte.
pub(crate) fn encode_kind(k: LockKind) -> u8 {
    match k {
        LockKind::Mutex => 0,
        LockKind::RwLock => 1,
        LockKind::ReentrantMutex => 2,
        LockKind::Condvar => 3,
        LockKind::Other => 4,
        LockKind::Stream => 5,
        LockKind::Event => 6,
        LockKind::HostExecutor => 7,
        LockKind::HostFn => 8,
        LockKind::Signal => 9,
        LockKind::Once => 10,
        LockKind::FairMutex => 11,
        LockKind::Queue => 12,
        LockKind::Semaphore => 13,
        LockKind::Barrier => 14,
        LockKind::Thread => 15,
        LockKind::AsyncMutex => 20,
        LockKind::AsyncRwLock => 21,
        LockKind::AsyncSemaphore => 22,
    }
}

/// The kind [`encode_kind`] gave a byte for.
pub(crate) fn decode_kind(k: u8) -> LockKind {
    match k {
        0 => LockKind::Mutex,
        1 => LockKind::RwLock,
        2 => LockKind::ReentrantMutex,
        3 => LockKind::Condvar,
        5 => LockKind::Stream,
        6 => LockKind::Event,
        7 => LockKind::HostExecutor,
        8 => LockKind::HostFn,
        9 => LockKind::Signal,
        10 => LockKind::Once,
        11 => LockKind::FairMutex,
        12 => LockKind::Queue,
        13 => LockKind::Semaphore,
        14 => LockKind::Barrier,
        15 => LockKind::Thread,
        20 => LockKind::AsyncMutex,
        21 => LockKind::AsyncRwLock,
        22 => LockKind::AsyncSemaphore,
        _ => LockKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names_keep_the_last_path_segment_of_every_path() {
        assert_eq!(short_type_name("u8"), "u8");
        assert_eq!(
            short_type_name("alloc::vec::Vec<core::option::Option<u8>>"),
            "Vec<Option<u8>>"
        );
        assert_eq!(
            short_type_name("std::collections::hash::map::HashMap<u8, alloc::string::String>"),
            "HashMap<u8, String>"
        );
        assert_eq!(
            short_type_name("(&'static str, [my_crate::Slot; 4], dyn core::fmt::Debug)"),
            "(&'static str, [Slot; 4], dyn Debug)"
        );
    }

    #[test]
    fn a_site_class_is_its_site_and_type() {
        let make = |c: Class| c.key(0);
        let (a, b) = (Class::here_of::<u8>(), Class::here_of::<u16>());
        assert_ne!(make(a), make(b), "same line, other column, other type");
        let at = |_: ()| Class::here_of::<u8>();
        assert_eq!(make(at(())), make(at(())));
        assert_ne!(make(at(())), make(Class::here_of::<u16>()));
        assert_eq!(at(()).value_type(), Some("u8"));
        assert_eq!(Class::here().value_type(), None);
        assert_eq!(Class::Named("n").value_type(), None);
    }

    /// Every kind, by a match that stops compiling when a kind is added.
    fn every_kind() -> Vec<LockKind> {
        let all = [
            LockKind::Mutex,
            LockKind::RwLock,
            LockKind::ReentrantMutex,
            LockKind::Condvar,
            LockKind::Other,
            LockKind::Stream,
            LockKind::Event,
            LockKind::HostExecutor,
            LockKind::HostFn,
            LockKind::Signal,
            LockKind::Once,
            LockKind::FairMutex,
            LockKind::Queue,
            LockKind::Semaphore,
            LockKind::Barrier,
            LockKind::Thread,
            LockKind::AsyncMutex,
            LockKind::AsyncRwLock,
            LockKind::AsyncSemaphore,
        ];
        for k in all {
            // A new kind is a compile error here: add it to `all` above.
            match k {
                LockKind::Mutex
                | LockKind::RwLock
                | LockKind::ReentrantMutex
                | LockKind::Condvar
                | LockKind::Other
                | LockKind::Stream
                | LockKind::Event
                | LockKind::HostExecutor
                | LockKind::HostFn
                | LockKind::Signal
                | LockKind::Once
                | LockKind::FairMutex
                | LockKind::Queue
                | LockKind::Semaphore
                | LockKind::Barrier
                | LockKind::Thread
                | LockKind::AsyncMutex
                | LockKind::AsyncRwLock
                | LockKind::AsyncSemaphore => {}
            }
        }
        all.to_vec()
    }

    /// A record's `kind` is [`LockKind::name`]: `docs/record-format.md`
    /// lists every one, and each name reads back as its kind.
    #[test]
    fn the_record_format_doc_lists_every_kind_name() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/record-format.md");
        let doc = std::fs::read_to_string(path).expect("docs/record-format.md");
        let row = doc
            .lines()
            .find(|l| l.starts_with("| `kind` |"))
            .expect("the `kind` row of the lock class table");
        for k in every_kind() {
            let name = k.name();
            assert!(
                row.contains(&format!("`{name}`")),
                "docs/record-format.md's `kind` row does not list `{name}`"
            );
            if k != LockKind::Other {
                assert_eq!(LockKind::from_name(name), k, "{name}");
            }
        }
    }
}
