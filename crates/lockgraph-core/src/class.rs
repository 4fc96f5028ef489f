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
        }
    }
}

/// A lock class. Lock-order edges between classes catch an inversion between
/// two *different* pairs of locks of the same two kinds, as lockdep does.
#[derive(Clone, Copy, Debug)]
pub enum Class {
    /// Every lock created at this source location (`Mutex::new`).
    Site(&'static Location<'static>),
    /// Every lock created with this name (`Mutex::named`).
    Named(&'static str),
    /// A class of its own per lock: locks made through `lock_api`'s `INIT`
    /// without a location.
    Anonymous,
}

impl Class {
    /// The class of the caller's location.
    #[track_caller]
    pub const fn here() -> Class {
        Class::Site(Location::caller())
    }

    /// Where locks of this class are created, when known.
    pub fn site(&self) -> Option<Site> {
        match self {
            Class::Site(l) => Some(Site::from(*l)),
            _ => None,
        }
    }

    /// The content key used to merge classes in the graph.
    pub(crate) fn key(&self, instance: u64) -> ClassKey {
        match self {
            Class::Site(l) => ClassKey::Site(l.file(), l.line(), l.column()),
            Class::Named(n) => ClassKey::Named(n),
            Class::Anonymous => ClassKey::Anonymous(instance),
        }
    }
}

/// Class identity by content (two `Location` statics of one site are one class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClassKey {
    Site(&'static str, u32, u32),
    Named(&'static str),
    Anonymous(u64),
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
