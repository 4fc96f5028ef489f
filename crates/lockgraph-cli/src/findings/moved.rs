//! A new cycle that a stale baseline entry names but for where its `new`
//! locks are made: a lock made with `new` is classed by its constructor's
//! file, line and column (`site:src/a.rs:41:17:app::Model`), so a line
//! added above the constructor gives it a new class, and the baselined
//! cycle comes back as new while its entry is no longer found. The
//! finding then says which entry it was.

/// Keys of this many classes or more are not compared.
const MAX_CLASSES: usize = 64;

/// A class id with the line and column of its site blanked
/// (`site:src/a.rs:*:*:app::Model`); other ids as they are.
fn loose(class: &str) -> String {
    let Some(rest) = class.strip_prefix("site:") else {
        return class.to_string();
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (1..parts.len().saturating_sub(1)).find(|&i| digits(parts[i]) && digits(parts[i + 1])) {
        Some(i) => {
            let mut p: Vec<&str> = parts.clone();
            p[i] = "*";
            p[i + 1] = "*";
            format!("site:{}", p.join(":"))
        }
        None => class.to_string(),
    }
}

/// A cycle key's classes, loosened, in the rotation that sorts first (a
/// key starts at the class id that sorts first, which moved lines can
/// change).
fn shape(key: &str) -> Option<Vec<String>> {
    let classes: Vec<String> = key
        .strip_prefix("cycle:")?
        .split(" -> ")
        .map(loose)
        .collect();
    (0..classes.len())
        .map(|r| {
            let mut c = classes.clone();
            c.rotate_left(r);
            c
        })
        .min()
}

/// The note for a new cycle `key` that one of the `stale` baseline keys
/// names but for the lines and columns of its locks' sites.
pub(super) fn moved_note(key: &str, stale: &[String]) -> Option<String> {
    // Each shape is every rotation of a key: only short keys, and only
    // stale ones of the same length, are compared.
    let len = |k: &str| k.matches(" -> ").count();
    if len(key) >= MAX_CLASSES || !key.contains("site:") {
        return None;
    }
    let mine = shape(key)?;
    let entry = stale
        .iter()
        .filter(|s| len(s) == len(key))
        .find(|s| shape(s).as_ref() == Some(&mine))?;
    Some(format!(
        "the baseline's entry `{entry}`, no longer found, is this cycle but for the lines \
         where its locks are made: a lock made with `new` is classed by its constructor's \
         file, line and column, so an edit above the constructor gives it a new class. \
         Write the baseline again (`lockgraph baseline`), or give these locks names \
         (`Mutex::named`), which stay the same across edits"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_constructor_is_recognised() {
        let stale = vec![
            "cycle:name:x -> name:y".to_string(),
            "cycle:site:src/a.rs:4:28:u32 -> site:src/a.rs:5:28:u64".to_string(),
        ];
        // Two lines added above both constructors.
        let n = moved_note(
            "cycle:site:src/a.rs:6:28:u32 -> site:src/a.rs:7:28:u64",
            &stale,
        );
        assert!(n.unwrap().contains("site:src/a.rs:4:28:u32"));
        // Lines moved so that the other lock sorts first.
        let n = moved_note(
            "cycle:site:src/a.rs:3:28:u64 -> site:src/a.rs:9:28:u32",
            &stale,
        );
        assert!(n.is_some());
        // Another type, another file, or names: not the same cycle.
        for key in [
            "cycle:site:src/a.rs:6:28:u32 -> site:src/a.rs:7:28:i64",
            "cycle:site:src/b.rs:6:28:u32 -> site:src/a.rs:7:28:u64",
            "cycle:name:x -> name:y",
        ] {
            assert!(moved_note(key, &stale).is_none(), "{key}");
        }
    }
}
