//! The profile's types: one file read, the merged profile, the output
//! format, and how profile files are named.

use std::fmt;
use std::path::{Path, PathBuf};

use lockgraph_core::profile::pipeline::{PipelineReport, PipelineSums};
use lockgraph_core::profile::{Counters, ProfileReport};

use crate::error::Error;
/// The profile format version this reader understands.
pub const PROFILE_VERSION: u64 = 1;

/// The largest profile file accepted (1 GiB, as for record files).
pub const MAX_FILE_BYTES: u64 = crate::reader::MAX_FILE_BYTES;

/// The file name prefix of profile files in a directory.
pub const FILE_PREFIX: &str = "lockgraph-profile-";

/// The file name suffix of profile files in a directory.
pub const FILE_SUFFIX: &str = ".json";

/// One profile file, read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileFile {
    /// The file.
    pub path: PathBuf,
    /// The process id (0 when the file does not say).
    pub pid: u64,
    /// The executable (`""` when the file does not say).
    pub exe: String,
    /// One entry per class, as written.
    pub classes: Vec<Counters>,
    /// The backpressure profile's sums, when the process counted a queue.
    pub pipeline: Option<PipelineSums>,
}

/// The merged profile of many files.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Profile {
    /// The files read, sorted.
    pub files: Vec<PathBuf>,
    /// Distinct process ids among them.
    pub processes: usize,
    /// The merged counters, one entry per class id, in the report's order.
    pub counters: Vec<Counters>,
    /// The runtime's report of the merged counters (hottest first, with advice).
    pub report: ProfileReport,
    /// The runtime's backpressure report of the files' queues, merged
    /// (queues and stages of one name added up), when any file has one.
    pub pipeline: Option<PipelineReport>,
    /// Warnings about the input as a whole (no profile files).
    pub warnings: Vec<String>,
}

/// How `lockgraph profile` renders a [`Profile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileFormat {
    /// The runtime's table and advice, then a summary line.
    #[default]
    Text,
    /// A JSON object: `classes`, an array of [`Row`](super::Row)s, hottest
    /// first; `pipeline`, the backpressure profile, or `null`.
    Json,
}

impl fmt::Display for ProfileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProfileFormat::Text => "text",
            ProfileFormat::Json => "json",
        })
    }
}

/// Whether a directory entry is named like a profile file.
pub fn is_profile_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|name| {
        name.len() > FILE_PREFIX.len() + FILE_SUFFIX.len()
            && name.starts_with(FILE_PREFIX)
            && name.ends_with(FILE_SUFFIX)
    })
}

/// A profile file's error: `path`, where in it, and what is wrong.
pub(super) fn invalid(
    path: &Path,
    position: Option<(usize, usize)>,
    message: impl Into<String>,
) -> Error {
    Error::Profile {
        path: path.to_path_buf(),
        position,
        message: message.into(),
    }
}
