//! `lockgraph profile`: merges the contention and backpressure profiles of
//! many processes.
//!
//! With `LOCKGRAPH_RECORD=<dir>` and profiling on (`LOCKGRAPH_PROFILE=1`), each
//! process writes `<dir>/lockgraph-profile-<pid>.json` at exit (format: the
//! "Profile files" section of `docs/record-format.md`). This module reads those
//! files into the runtime's own [`Counters`], checking for counters whose sum
//! would overflow, and builds a [`ProfileReport`] from them, so the merge, the
//! ranking and the advice rules are the runtime's.
//!
//! ```no_run
//! let profile = lockgraph_cli::profile::load(&["target/lockgraph".into()])?;
//! print!("{}", profile.report);
//! # Ok::<(), lockgraph_cli::Error>(())
//! ```
//!
//! Cut in five: `types` (the files, the merged profile, the format, the
//! names of profile files), `parse` (reading and checking one file),
//! `merge` (adding files' counters), `pipeline` (a file's backpressure
//! sums, read and added), `rows` (the merged profile as rows, text and
//! JSON); this module lists the files and loads them.

mod merge;
mod parse;
mod pipeline;
mod rows;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use lockgraph_core::profile::{Counters, ProfileReport};

use crate::error::Error;
use crate::shown::ShowPath as _;

pub use merge::merge;
pub use parse::{parse, read_file};
pub use rows::{PipelineRows, ProfileJson, QueueRow, Row, StageRow};
pub use types::{
    is_profile_name, Profile, ProfileFile, ProfileFormat, FILE_PREFIX, FILE_SUFFIX, MAX_FILE_BYTES,
    PROFILE_VERSION,
};

/// Lists the profile files among `paths`: a directory contributes its
/// `lockgraph-profile-*.json` regular files (not recursively), any other
/// path must be a regular file and is taken as a profile file. Sorted,
/// without duplicates. Matching entries that are not regular files (a FIFO
/// would block the reader) are skipped with a warning.
pub fn collect_files(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<String>), Error> {
    let listed = crate::files::list(paths, is_profile_name)?;
    Ok((listed.files, listed.warnings))
}

/// Reads, merges and ranks the profile files among `paths` (see
/// [`collect_files`]). No files at all is not an error: the profile is empty
/// and a warning says so.
pub fn load(paths: &[PathBuf]) -> Result<Profile, Error> {
    let (paths_read, mut warnings) = collect_files(paths)?;
    let mut files = paths_read
        .iter()
        .map(|p| read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    // Counters that cannot be (a file written while its threads still
    // counted, or by hand) are shown made consistent, and said so.
    for f in &mut files {
        for (i, c) in f.classes.iter_mut().enumerate() {
            if let Some(why) = c.inconsistency() {
                warnings.push(format!(
                    "{}: classes[{i}]: {why}; shown made consistent",
                    f.path.shown()
                ));
                *c = c.clone().consistent();
            }
        }
    }
    if files.is_empty() {
        let list: Vec<String> = paths.iter().map(|p| p.shown().to_string()).collect();
        warnings.push(format!(
            "no profile files ({FILE_PREFIX}*{FILE_SUFFIX}) in {}: a process writes one at \
             normal exit when LOCKGRAPH_RECORD is set and profiling is on (LOCKGRAPH_PROFILE=1), \
             in builds with lock tracking (debug, or lockgraph's `track-in-release` feature), \
             once it has taken a lockgraph lock or made a lockgraph queue; a process that \
             leaves by `_exit` or a signal writes none",
            list.join(", ")
        ));
    }
    let processes = files
        .iter()
        .filter(|f| f.pid != 0)
        .map(|f| f.pid)
        .collect::<HashSet<_>>()
        .len()
        + files.iter().filter(|f| f.pid == 0).count();
    let merged = merge(&files)?;
    let pipeline = pipeline::merge(&files)?.map(|p| p.report());
    let mut report = ProfileReport::from_counters(merged.clone());
    if report.classes.is_empty() {
        // Not the process's reasons (`lockgraph::profile::report()`'s):
        // the files were read, or there were none.
        report.empty_because = Some(if files.is_empty() {
            "no profile file was read"
        } else {
            "the profile files hold no lock class"
        });
    }
    // The counters in the report's order (a class may have a row per kind).
    let mut by_class: HashMap<(String, String), Counters> = merged
        .into_iter()
        .map(|c| ((c.class.clone(), c.kind.clone()), c))
        .collect();
    let counters = report
        .classes
        .iter()
        .filter_map(|p| by_class.remove(&(p.class.clone(), p.kind.name().to_string())))
        .collect();
    Ok(Profile {
        files: paths_read,
        processes,
        counters,
        report,
        pipeline,
        warnings,
    })
}
