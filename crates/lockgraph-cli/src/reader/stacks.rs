//! The `stack` lines of one record file, by key. A key is unique in a file
//! the runtime writes (`"<pid>:<n>"`), but for a raw stack line, written
//! with the edge, and the resolved line of the same stack that the process
//! may append later: the resolved one is kept, whichever comes first. A
//! raw stack's frames are kept as [`RawFrame`] strings until
//! the merge resolves them. A second line of one kind with a key already
//! read, and other frames, is a contradiction the file's edges cannot
//! settle: the last line's frames are kept (a later line corrects an
//! earlier one, as a file appended to does), and a warning names both
//! lines. A repeat with the same frames is no news.

use std::collections::HashMap;
use std::path::Path;

use super::line::StackLine;
use super::raw_frame::{RawFrame, RAW_MARK};
use super::Warning;

/// A stack line's frames: its resolved ones (a frame that starts as a raw
/// frame's string does, which no resolved frame does, loses that mark), or
/// its raw ones as [`RawFrame`] strings (a parsed line's
/// module indices are valid).
fn frames_of(st: &StackLine<'_>) -> Vec<String> {
    if let Some(bt) = &st.backtrace {
        return bt
            .iter()
            .map(|f| match f.strip_prefix(RAW_MARK) {
                Some(rest) => format!("\u{FFFD}{rest}"),
                None => f.to_string(),
            })
            .collect();
    }
    let modules = st.modules.as_deref().unwrap_or_default();
    st.raw
        .iter()
        .flatten()
        .filter_map(|&(m, addr)| {
            let m = modules.get(usize::try_from(m).ok()?)?;
            Some(
                RawFrame {
                    path: &m.path,
                    size: m.size,
                    mtime_ns: m.mtime_ns,
                    addr,
                }
                .to_frame(),
            )
        })
        .collect()
}

/// Stack lines with other frames named one by one per file; the rest are
/// counted.
const NAMED_CONFLICTS: usize = 3;

/// The stack lines read so far.
#[derive(Default)]
pub(super) struct StackLines {
    /// Each key with its frames, in the order first read.
    stacks: Vec<(String, Vec<String>)>,
    /// Each key: its index in `stacks`, the line its frames are from, and
    /// whether they are raw.
    by_key: HashMap<String, (usize, u64, bool)>,
    conflicts: Vec<Warning>,
    unnamed: usize,
}

impl StackLines {
    /// Reads the stack line `st`, line `line` of `path`.
    pub(super) fn add(&mut self, path: &Path, line: u64, st: &StackLine<'_>) {
        let raw = st.backtrace.is_none();
        let frames = frames_of(st);
        let Some(&(i, earlier, earlier_raw)) = self.by_key.get(&*st.stack) else {
            self.by_key
                .insert(st.stack.to_string(), (self.stacks.len(), line, raw));
            self.stacks.push((st.stack.to_string(), frames));
            return;
        };
        if raw != earlier_raw {
            // The resolved line of a raw stack, or the raw line of a
            // resolved one: the resolved frames are kept.
            if !raw {
                self.stacks[i].1 = frames;
                self.by_key.insert(st.stack.to_string(), (i, line, raw));
            }
            return;
        }
        if self.stacks[i].1 == frames {
            return;
        }
        if self.conflicts.len() < NAMED_CONFLICTS {
            self.conflicts.push(Warning {
                path: path.to_path_buf(),
                line: Some(line),
                message: format!(
                    "stack line `{}` repeats the key of line {earlier} with other frames: the \
                     edges that name it get this line's frames (the last line of a key is kept)",
                    &*st.stack
                ),
            });
        } else {
            self.unnamed += 1;
        }
        self.stacks[i].1 = frames;
        self.by_key.insert(st.stack.to_string(), (i, line, raw));
    }

    /// The stacks (each key once, with the frames kept), and the warnings.
    pub(super) fn finish(mut self, path: &Path) -> (Vec<(String, Vec<String>)>, Vec<Warning>) {
        if self.unnamed > 0 {
            self.conflicts.push(Warning {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "{} more stack line{} repeat{} a key with other frames (the last line of each \
                     key is kept)",
                    self.unnamed,
                    if self.unnamed == 1 { "" } else { "s" },
                    if self.unnamed == 1 { "s" } else { "" },
                ),
            });
        }
        (self.stacks, self.conflicts)
    }
}
