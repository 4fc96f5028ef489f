//! The `stack` lines of one record file, by key. A key is unique in a file
//! the runtime writes (`"<pid>:<n>"`); a second line with a key already
//! read, and other frames, is a contradiction the file's edges cannot
//! settle: the last line's frames are kept (a later line corrects an
//! earlier one, as a file appended to does), and a warning names both
//! lines. A repeat with the same frames is no news.

use std::collections::HashMap;
use std::path::Path;

use super::line::StackLine;
use super::Warning;

/// Stack lines with other frames named one by one per file; the rest are
/// counted.
const NAMED_CONFLICTS: usize = 3;

/// The stack lines read so far.
#[derive(Default)]
pub(super) struct StackLines {
    /// Each key with its frames, in the order first read.
    stacks: Vec<(String, Vec<String>)>,
    /// Each key: its index in `stacks`, and the line its frames are from.
    by_key: HashMap<String, (usize, u64)>,
    conflicts: Vec<Warning>,
    unnamed: usize,
}

impl StackLines {
    /// Reads the stack line `st`, line `line` of `path`.
    pub(super) fn add(&mut self, path: &Path, line: u64, st: &StackLine<'_>) {
        let frames: Vec<String> = st.backtrace.iter().map(|f| f.to_string()).collect();
        let Some(&(i, earlier)) = self.by_key.get(&*st.stack) else {
            self.by_key
                .insert(st.stack.to_string(), (self.stacks.len(), line));
            self.stacks.push((st.stack.to_string(), frames));
            return;
        };
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
        self.by_key.insert(st.stack.to_string(), (i, line));
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
