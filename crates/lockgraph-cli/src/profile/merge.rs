//! Adding the counters of many files, class by class, refusing a sum
//! that would overflow.

use std::collections::HashMap;

use lockgraph_core::profile::Counters;

use super::types::{invalid, ProfileFile};
use crate::error::Error;

/// The additive counters of `a` and `b` that would overflow when summed.
fn overflowing(a: &Counters, b: &Counters) -> Option<&'static str> {
    [
        ("acquisitions", a.acquisitions, b.acquisitions),
        ("contended", a.contended, b.contended),
        ("wait_ns", a.wait_ns, b.wait_ns),
        ("reads", a.reads, b.reads),
        ("hold_samples", a.hold_samples, b.hold_samples),
        ("hold_ns", a.hold_ns, b.hold_ns),
        ("waiting_threads", a.waiting_threads, b.waiting_threads),
        ("blocking_calls", a.blocking_calls, b.blocking_calls),
        ("blocking_ns", a.blocking_ns, b.blocking_ns),
    ]
    .into_iter()
    .find(|(_, x, y)| x.checked_add(*y).is_none())
    .map(|(name, _, _)| name)
}

/// Merges the files' classes by class id and kind (with [`Counters::merge`],
/// in file order); a sum that overflows is an error naming the file that
/// made it.
pub fn merge(files: &[ProfileFile]) -> Result<Vec<Counters>, Error> {
    // By class and kind, as each process's own profile.
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut merged: Vec<Counters> = Vec::new();
    for f in files {
        for c in &f.classes {
            match index.get(&(c.class.clone(), c.kind.clone())) {
                Some(&i) => {
                    if let Some(field) = overflowing(&merged[i], c) {
                        return Err(invalid(
                            &f.path,
                            None,
                            format!(
                                "`{field}` of class `{}` overflows when added to the other entries",
                                c.class
                            ),
                        ));
                    }
                    merged[i].merge(c);
                }
                None => {
                    index.insert((c.class.clone(), c.kind.clone()), merged.len());
                    merged.push(c.clone());
                }
            }
        }
    }
    Ok(merged)
}
