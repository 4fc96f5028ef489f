//! The lines of a record file as types: the header, an edge line and its
//! lock classes and modes, a stack line. Strings borrow from the line when
//! they have no escapes. `docs/record-format.md` is the contract; reading a
//! file, with its errors and limits, is `mod.rs`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// The header on line 1 of every record file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The format version (1 to [`FORMAT_VERSION`] once accepted).
    pub lockgraph_record: u64,
    /// The process id.
    #[serde(default)]
    pub pid: u64,
    /// The executable's path, or `""`.
    #[serde(default)]
    pub exe: String,
    /// The command-line arguments after the executable.
    #[serde(default)]
    pub args: Vec<String>,
    /// When the file was created, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub started_unix_ms: u64,
}

/// How the lock at the start of an edge was held.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum HoldMode {
    /// Write lock, mutex, reentrant mutex.
    Exclusive,
    /// Read or recursive read (and, before format version 3, an
    /// upgradable read).
    Shared,
    /// An upgradable read (format version 3 on): no plain read waits for it.
    Upgradable,
}

/// How the lock at the end of an edge was requested.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RequestMode {
    /// `lock`, `write`, `upgrade` (and, before format version 3,
    /// `upgradable_read`).
    Exclusive,
    /// `read`: can queue behind a waiting writer.
    Read,
    /// `read_recursive`: never waits for another reader.
    RecursiveRead,
    /// `upgradable_read` (format version 3 on): to the rules an exclusive
    /// request, which waits for every hold; named for what it was.
    Upgradable,
}

impl HoldMode {
    /// Every mode, in the format's order.
    pub const ALL: [HoldMode; 3] = [HoldMode::Exclusive, HoldMode::Shared, HoldMode::Upgradable];

    /// The word used in the format.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldMode::Exclusive => "exclusive",
            HoldMode::Shared => "shared",
            HoldMode::Upgradable => "upgradable",
        }
    }

    /// The graph crate's view of it.
    pub fn to_graph(self) -> lockgraph_graph::Hold {
        match self {
            HoldMode::Exclusive => lockgraph_graph::Hold::Exclusive,
            HoldMode::Shared => lockgraph_graph::Hold::Shared,
            HoldMode::Upgradable => lockgraph_graph::Hold::Upgradable,
        }
    }
}

impl RequestMode {
    /// Every mode, in the format's order.
    pub const ALL: [RequestMode; 4] = [
        RequestMode::Exclusive,
        RequestMode::Read,
        RequestMode::RecursiveRead,
        RequestMode::Upgradable,
    ];

    /// The word used in the format.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestMode::Exclusive => "exclusive",
            RequestMode::Read => "read",
            RequestMode::RecursiveRead => "recursive_read",
            RequestMode::Upgradable => "upgradable",
        }
    }

    /// The graph crate's view of it.
    pub fn to_graph(self) -> lockgraph_graph::Request {
        match self {
            RequestMode::Exclusive | RequestMode::Upgradable => lockgraph_graph::Request::Exclusive,
            RequestMode::Read => lockgraph_graph::Request::Read,
            RequestMode::RecursiveRead => lockgraph_graph::Request::RecursiveRead,
        }
    }
}

impl<'de> Deserialize<'de> for HoldMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, &HoldMode::ALL, HoldMode::as_str)
    }
}

impl<'de> Deserialize<'de> for RequestMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, &RequestMode::ALL, RequestMode::as_str)
    }
}

/// One of `all`, by its word: a string, whose error lists the words (serde's
/// derived enums say only `expected value` to serde_json for a number, as
/// if the line were not JSON).
pub(super) fn one_of<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    all: &'static [T],
    word: fn(T) -> &'static str,
) -> Result<T, D::Error> {
    struct V<T: 'static>(&'static [T], fn(T) -> &'static str);
    impl<'de, T: Copy> Visitor<'de> for V<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("one of ")?;
            for (i, &t) in self.0.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}\"{}\"", (self.1)(t))?;
            }
            Ok(())
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            let found = self.0.iter().copied().find(|&t| (self.1)(t) == v);
            found.ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_str(V(all, word))
}

/// A string borrowed from the line when it has no escapes, owned otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A lock class as written in an edge line.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "lock class", expecting = "a lock class (an object)")]
#[non_exhaustive]
pub struct ClassRef<'a> {
    /// The class identity compared across processes.
    #[serde(borrow)]
    pub class: Str<'a>,
    /// The name, for named classes.
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    /// `Mutex`, `RwLock`, `ReentrantMutex`, `Condvar` or `lock`.
    #[serde(borrow)]
    pub kind: Str<'a>,
    /// The creation site, for site classes.
    #[serde(borrow, default)]
    pub site: Option<Str<'a>>,
}

/// One `"type":"edge"` line: holding `from`, thread `thread` requested `to`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "edge record", expecting = "an edge record (an object)")]
#[non_exhaustive]
pub struct EdgeLine<'a> {
    /// The record kind (`"edge"` for every value handed out by the reader).
    #[serde(rename = "type", borrow)]
    pub ty: Str<'a>,
    /// The held lock.
    #[serde(borrow)]
    pub from: ClassRef<'a>,
    /// The requested lock.
    #[serde(borrow)]
    pub to: ClassRef<'a>,
    /// How `from` was held.
    pub hold: HoldMode,
    /// How `to` was requested.
    pub request: RequestMode,
    /// Locks held exclusively at the time, as `"<pid>:<lock id>"`.
    #[serde(borrow)]
    pub gates: Vec<Str<'a>>,
    /// The recording thread's name or id.
    #[serde(borrow)]
    pub thread: Str<'a>,
    /// The process id.
    pub pid: u64,
    /// The executable's path.
    #[serde(borrow)]
    pub exe: Str<'a>,
    /// Where `from` was taken.
    #[serde(borrow, default)]
    pub held_at: Option<Str<'a>>,
    /// Where `to` was requested.
    #[serde(borrow, default)]
    pub requested_at: Option<Str<'a>>,
    /// Program frames of the first occurrence, innermost first.
    #[serde(borrow)]
    pub backtrace: Vec<Str<'a>>,
    /// The key of the `stack` line that holds the frames, when the writer
    /// resolved them after writing the edge (see [`FileSummary::stacks`]).
    #[serde(borrow, default)]
    pub stack: Option<Str<'a>>,
    /// The format version of the file it was read from (its header's).
    #[serde(skip)]
    pub version: u64,
}

impl EdgeLine<'_> {
    /// The dependency kind the graph crate's rules give this line: its
    /// hold and request, read as the line's format version meant them.
    /// Before version 3 no hold was written as an upgradable read (those
    /// were `shared`), and a `read` request is taken as an exclusive one,
    /// which waits for every hold: a plain read waits for no upgradable
    /// read, and an old record cannot say which of its shared holds were
    /// (an extra finding, never a missed one).
    pub fn kind(&self) -> lockgraph_graph::EdgeKinds {
        let request = match self.request {
            RequestMode::Read if self.version < 3 => lockgraph_graph::Request::Exclusive,
            r => r.to_graph(),
        };
        lockgraph_graph::EdgeKinds::of(self.hold.to_graph(), request)
    }
}

/// One `"type":"stack"` line: the frames of the edges whose `stack` is
/// `stack`, resolved (`backtrace`) or raw (`modules` and `raw`: addresses
/// in the files the process ran, resolved by `crate::symbols`).
#[derive(Deserialize)]
pub(super) struct StackLine<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) ty: Str<'a>,
    #[serde(borrow)]
    pub(super) stack: Str<'a>,
    #[serde(borrow, default)]
    pub(super) backtrace: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    pub(super) modules: Option<Vec<RawModule<'a>>>,
    /// `[module index, address in that module's file]`, innermost first.
    #[serde(default)]
    pub(super) raw: Option<Vec<(u64, u64)>>,
}

/// A file a raw stack line names: its path, and its size and modification
/// time (nanoseconds since the epoch) when the process listed it.
#[derive(Deserialize)]
pub(super) struct RawModule<'a> {
    #[serde(borrow)]
    pub(super) path: Str<'a>,
    pub(super) size: u64,
    pub(super) mtime_ns: i64,
}

#[derive(Deserialize)]
pub(super) struct TypeOnly<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) ty: Option<Str<'a>>,
}
