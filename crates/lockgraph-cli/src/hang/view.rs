//! A thread's latest view, and the labels and places `hang` shows, read
//! from one record (a report or a dump).

use std::borrow::Cow;

use serde_json::Value;

use super::*;

/// One thread's latest view, from a report or a dump.
pub(super) struct ThreadView {
    pub(super) tid: u64,
    pub(super) name: String,
    pub(super) state: String,
    pub(super) at: Option<String>,
    pub(super) stack: Vec<String>,
}

pub(super) fn label_of(f: &read::File, many_hosts: bool) -> String {
    let host = match (&f.host, many_hosts) {
        (Some(h), true) => format!(" on {h}"),
        _ => String::new(),
    };
    match f.rank {
        Some(r) => format!("rank {r} (pid {}{host})", f.pid),
        None => format!("pid {}{host}", f.pid),
    }
}

pub(super) fn first_line(rec: &Value) -> Option<String> {
    rec.get("text")?
        .as_str()?
        .lines()
        .next()
        .map(str::to_string)
}

/// `src/loader.rs:88:5` -> `src/loader.rs:88`.
pub(super) fn without_column(site: &str) -> String {
    match site.rsplit_once(':') {
        Some((head, col)) if head.contains(':') && col.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_string()
        }
        _ => site.to_string(),
    }
}

/// `f (/abs/src/loader.rs:88)` -> `/abs/src/loader.rs:88`.
pub(super) fn frame_place(frame: &str) -> Option<String> {
    let open = frame.rfind(" (")?;
    let inner = frame[open + 2..].strip_suffix(')')?;
    Some(inner.to_string())
}

/// The place of the innermost frame of the program's own code in `stack`
/// (innermost first): frames of dependencies (sources under cargo's
/// registry or git checkouts, which the runtime's filter may keep: tokio's
/// `block_on` above the program's `blocking_lock()` call) and of the
/// standard library (`/rustc/...`) are passed over; the innermost frame
/// when no frame is the program's.
pub(super) fn innermost_place(stack: &[String]) -> Option<String> {
    let places: Vec<String> = stack.iter().filter_map(|f| frame_place(f)).collect();
    let own = places.iter().find(|p| {
        // `site` rewrites exactly the paths of dependency sources.
        let dependency = matches!(lockgraph_core::site_key::site(p), Cow::Owned(_));
        !dependency && !p.starts_with("/rustc/")
    });
    own.or(places.first()).cloned()
}

/// `place` (`/abs/src/main.rs:299`) as one of `files` names its file
/// (`src/main.rs:299`), where one of them is a suffix of its path at a
/// directory boundary; else as it is (found by an outside test: "blocked
/// ... at /work/app/src/main.rs:299" beside "taken at src/main.rs:295").
pub(super) fn relative_place(place: &str, files: &[String]) -> String {
    let Some((path, line)) = place.rsplit_once(':') else {
        return place.to_string();
    };
    files
        .iter()
        .filter(|f| path.ends_with(&format!("/{f}")))
        .max_by_key(|f| f.len())
        .map_or_else(|| place.to_string(), |f| format!("{f}:{line}"))
}

pub(super) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// A thread of a report or dump as its state, place and stack; why not,
/// when the entry lacks its `tid` or `name` or has them of another type.
pub(super) fn thread_view(t: &Value) -> Result<ThreadView, String> {
    let tid = (t.get("tid").and_then(Value::as_u64))
        .ok_or_else(|| format!("its `tid` is {}, not a thread id", shown(t.get("tid"))))?;
    let name = (t.get("name").and_then(Value::as_str))
        .ok_or_else(|| format!("its `name` is {}, not a string", shown(t.get("name"))))?
        .to_string();
    let now = t
        .get("now")
        .and_then(|n| n.get("description"))
        .and_then(Value::as_str);
    let (state, site, stack) = match t.get("waiting").filter(|w| w.is_object()) {
        Some(w) => {
            let label = w["lock"]["label"].as_str().unwrap_or("?");
            let state = if w["lock"]["resource"] == true {
                format!("waiting in {label}")
            } else {
                match w["request"].as_str() {
                    Some("condvar") => format!("waiting for a notification on {label}"),
                    Some("upgrade") => format!("waiting to upgrade {label}"),
                    _ => format!("waiting on {label}"),
                }
            };
            (
                state,
                w["site"].as_str().map(without_column),
                strings(&w["stack"]),
            )
        }
        None => {
            // Each hold with the site that took it: that is where the lock
            // was taken, not where the thread is now (its place is its
            // stack's, below).
            let held: Vec<String> = t["held"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| {
                    let label = h["lock"]["label"].as_str()?;
                    Some(match h["site"].as_str() {
                        Some(site) => format!("{label} (taken at {})", without_column(site)),
                        None => label.to_string(),
                    })
                })
                .collect();
            let state = match (held.is_empty(), now) {
                (false, Some(n)) => format!("holding {}, {n}", held.join(", ")),
                (false, None) => format!("holding {}", held.join(", ")),
                (true, Some(n)) => n.to_string(),
                (true, None) => "state unknown".to_string(),
            };
            // A frame's place in the program's own files, as the holds'
            // sites name them (relative), not the build machine's path.
            let files: Vec<String> = (t["held"].as_array().into_iter().flatten())
                .filter_map(|h| h["site"].as_str().map(without_column))
                .filter_map(|s| s.rsplit_once(':').map(|(file, _)| file.to_string()))
                .collect();
            let place = innermost_place(&strings(&t["stack_now"]["frames"]))
                .map(|p| relative_place(&p, &files));
            (state, place, strings(&t["stack_now"]["frames"]))
        }
    };
    // Where the thread is: where its wait asked, else its stack's innermost
    // frame of the program's own code; never where it took a lock it holds.
    let at = site.or_else(|| innermost_place(&stack));
    Ok(ThreadView {
        tid,
        name,
        state,
        at,
        stack,
    })
}

/// A field's value for a message: missing, or its JSON cut to 40 bytes.
fn shown(v: Option<&Value>) -> String {
    match v {
        None => "missing".to_string(),
        Some(v) => {
            let text = v.to_string();
            match text.char_indices().nth(40) {
                Some((i, _)) => format!("{}...", &text[..i]),
                None => text,
            }
        }
    }
}
