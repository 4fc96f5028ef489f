//! A class recorded with more than one kind: the merged graph keeps the
//! kind of the first record of the class (in file order, so whatever the
//! number of threads), and each other kind is said in a warning that names
//! where it was read and where the kind kept was. Two locks of different
//! kinds given one class id (a `Mutex` and an `RwLock` named alike, both
//! `name:<name>`) are one class to the check; a record edited by hand can
//! say anything.

use std::path::PathBuf;
use std::sync::Arc;

use super::intern::FastMap;
use super::{ClassInfo, RecordFile};
use crate::reader::Warning;

/// Where each class was first read, and the other kinds records gave it.
#[derive(Default)]
pub(super) struct Kinds {
    /// Per class (its index in the merger's classes): the file and line of
    /// its first record.
    first: Vec<(u32, u32)>,
    /// Per class recorded with other kinds: each other kind, with the file
    /// and line that first gave it, in the order they were read.
    others: FastMap<usize, Vec<(Arc<str>, u32, u32)>>,
}

impl Kinds {
    /// A new class (the next index), first read at `file`:`line`.
    pub(super) fn first_read(&mut self, file: u32, line: u32) {
        self.first.push((file, line));
    }

    /// Class `class`, of kind `kept`, read as `kind` at `file`:`line`.
    pub(super) fn read_as(
        &mut self,
        class: usize,
        kept: &str,
        kind: &Arc<str>,
        file: u32,
        line: u32,
    ) {
        if **kind == *kept {
            return;
        }
        let others = self.others.entry(class).or_default();
        if !others.iter().any(|(k, _, _)| k == kind) {
            others.push((Arc::clone(kind), file, line));
        }
    }

    /// Takes in what a merger that read later files saw: `other`, whose
    /// class `j` is class `class_map[j]` here (`is_new`: added to this
    /// merger's classes from `other`'s) and whose file `f` is
    /// `f + file_base`. `kinds[j]` is `other`'s class `j`'s kind; `kept(id)`
    /// this merger's kind of class `id`.
    pub(super) fn absorb(
        &mut self,
        other: Kinds,
        class_map: &[(usize, bool)],
        kinds: &[Arc<str>],
        kept: impl Fn(usize) -> Arc<str>,
        file_base: u32,
    ) {
        for (j, &(id, is_new)) in class_map.iter().enumerate() {
            let (f, l) = other.first[j];
            if is_new {
                self.first_read(f + file_base, l);
            } else {
                self.read_as(id, &kept(id), &kinds[j], f + file_base, l);
            }
        }
        let mut others: Vec<_> = other.others.into_iter().collect();
        others.sort_unstable_by_key(|(j, _)| *j);
        for (j, list) in others {
            let id = class_map[j].0;
            for (kind, f, l) in list {
                self.read_as(id, &kept(id), &kind, f + file_base, l);
            }
        }
    }

    /// One warning for each other kind of each class, by class id.
    pub(super) fn warnings(&self, classes: &[ClassInfo], files: &[RecordFile]) -> Vec<Warning> {
        let mut ids: Vec<&usize> = self.others.keys().collect();
        ids.sort_unstable_by_key(|&&c| &classes[c].class);
        let mut out = Vec::new();
        for &c in ids {
            let class = &classes[c];
            let (ff, fl) = self.first[c];
            for (kind, f, l) in &self.others[&c] {
                out.push(Warning {
                    path: PathBuf::from(&*files[*f as usize].shown),
                    line: Some(u64::from(*l)),
                    message: format!(
                        "lock class `{}` is recorded as {kind} here, but as {} in its first \
                         record ({}:{fl}): the check keeps one kind per class, the first, and \
                         reports it as {} (locks of two kinds given one class id, such as a Mutex \
                         and an RwLock named alike, are one class to it)",
                        class.class, class.kind, files[ff as usize].shown, class.kind
                    ),
                });
            }
        }
        out
    }
}
