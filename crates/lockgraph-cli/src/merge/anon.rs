//! The stable keys of anonymous classes (`anon:<pid>:<id>`, a lock of no
//! class, whose id differs in every process): where the records say the lock
//! is, so that baselines tell two anonymous locks apart.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ClassInfo, MergedEdge, StrId, NO_STR};

/// The function of a stack frame (`app::work (src/app.rs:11)`), without
/// its file and line.
fn frame_function(frame: &str) -> &str {
    match frame.rfind(" (") {
        Some(i) if frame.ends_with(')') => &frame[..i],
        _ => frame,
    }
}

/// Gives every anonymous class of `classes` its stable key: `anon@` and,
/// of what the records say of where the lock is, the first that exists:
///
/// 1. its creation site, when its description names one;
/// 2. else the least (in byte order) of the sites where it was taken: the
///    `held_at` of edges leaving it, the `requested_at` of edges into it;
/// 3. else the least of the functions that requested it: the innermost
///    frame of the stacks of edges into it (without file and line).
///
/// So two anonymous locks taken at different places have different keys,
/// and the same program gives the same keys in every run and on every
/// machine (the pid, the lock's id and the executable play no part). A
/// class with none of these keeps `anon`. Only the kept origins of each
/// edge ([`super::ORIGIN_CAP`]) are looked at.
pub(super) fn anonymous_keys(
    classes: &mut [ClassInfo],
    edges: &[MergedEdge],
    strings: &[Arc<str>],
    stacks: &[Arc<[Arc<str>]>],
) {
    if !classes.iter().any(ClassInfo::is_anonymous) {
        return;
    }
    let anonymous: Vec<bool> = classes.iter().map(ClassInfo::is_anonymous).collect();
    let mut sites: HashMap<usize, &str> = HashMap::new();
    let mut functions: HashMap<usize, &str> = HashMap::new();
    fn least<'s>(best: &mut HashMap<usize, &'s str>, class: usize, s: &'s str) {
        best.entry(class)
            .and_modify(|b| *b = (*b).min(s))
            .or_insert(s);
    }
    let text = |id: StrId| {
        (id != NO_STR)
            .then(|| strings.get(id as usize))
            .flatten()
            .map(|s| &**s)
    };
    for e in edges {
        let (from, to) = (anonymous[e.from], anonymous[e.to]);
        if !from && !to {
            continue;
        }
        for o in e.origins() {
            if from {
                if let Some(s) = text(o.held_at) {
                    least(&mut sites, e.from, s);
                }
            }
            if to {
                if let Some(s) = text(o.requested_at) {
                    least(&mut sites, e.to, s);
                }
                let innermost = stacks.get(o.backtrace as usize).and_then(|f| f.first());
                if let Some(f) = innermost {
                    least(&mut functions, e.to, frame_function(f));
                }
            }
        }
    }
    let keys: Vec<(usize, String)> = (0..classes.len())
        .filter(|&i| anonymous[i])
        .filter_map(|i| {
            let place = classes[i]
                .site()
                .or_else(|| sites.get(&i).copied())
                .or_else(|| functions.get(&i).copied())?;
            Some((i, format!("anon@{place}")))
        })
        .collect();
    for (i, key) in keys {
        classes[i].set_anonymous_key(key);
    }
}
