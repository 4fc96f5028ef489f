//! Finding a value in a baseline's JSON text by the trail of fields and
//! list elements that leads to it (`cycles[2].key`), to place an error on
//! it: serde_json names only where it stopped.

/// One step of the way to a value in the file: a field (the `n`th of that
/// name in its object, counting from 0) or a list's element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Field(String, usize),
    Index(usize),
}

/// The byte offset of the value at `steps` in `text`, which is JSON at
/// least up to that value (serde_json read past it); `None` if it is not
/// there.
pub(super) fn locate(text: &str, steps: &[Step]) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = skip_space(b, 0);
    for step in steps {
        match step {
            Step::Field(name, nth) => {
                if b.get(i) != Some(&b'{') {
                    return None;
                }
                i = skip_space(b, i + 1);
                let mut seen = 0;
                loop {
                    let key_end = string_end(b, i)?;
                    let key: String = serde_json::from_str(&text[i..key_end]).ok()?;
                    i = skip_space(b, key_end);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i = skip_space(b, i + 1);
                    if key == *name {
                        if seen == *nth {
                            break;
                        }
                        seen += 1;
                    }
                    i = skip_space(b, value_end(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i = skip_space(b, i + 1);
                }
            }
            Step::Index(n) => {
                if b.get(i) != Some(&b'[') {
                    return None;
                }
                i = skip_space(b, i + 1);
                for _ in 0..*n {
                    i = skip_space(b, value_end(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i = skip_space(b, i + 1);
                }
            }
        }
    }
    (i < b.len()).then_some(i)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The offset just after the string that starts at `i`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The offset just after the value that starts at `i` (nested values are
/// skipped with a depth count, not recursion).
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}
