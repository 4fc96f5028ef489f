//! Positions in an input file for error messages: 1-based lines and
//! columns counted in characters, as editors show them, whatever
//! serde_json (whose columns count bytes) said. The readers of baselines,
//! profiles and record lines all place their errors here, so that a line
//! with `caché` or `锁` before the error still points at the right
//! character.
//!
//! Text is taken as bytes: a record line or a profile need not be UTF-8.
//! A byte that is not part of a UTF-8 character counts as one character
//! (as `String::from_utf8_lossy` shows it).

/// The 1-based line and column (in characters) of byte `offset` in `text`:
/// the column of the character that starts there (or the one after the
/// last, at the end of a line or of the text).
pub(crate) fn line_col<T: AsRef<[u8]> + ?Sized>(text: &T, offset: usize) -> (usize, usize) {
    let text = text.as_ref();
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, chars(&before[start..]) + 1)
}

/// How many characters `bytes` holds; a character cut short at the end
/// counts as one.
fn chars(bytes: &[u8]) -> usize {
    String::from_utf8_lossy(bytes).chars().count()
}

/// serde_json's message for `e` without its " at line L column C" suffix.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    if e.line() == 0 {
        return full;
    }
    without_position(&full).to_string()
}

/// `text` without a trailing " at line L column C", the position serde_json
/// adds to its messages (also to one it wraps: an element's error, say).
pub(crate) fn without_position(text: &str) -> &str {
    const AT: &str = " at line ";
    let Some(i) = text.rfind(AT) else {
        return text;
    };
    match text[i + AT.len()..].split_once(" column ") {
        Some((l, c)) if l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok() => &text[..i],
        _ => text,
    }
}

/// The start of serde_json's message for a raw control character in a
/// string.
const CONTROL_CHARACTER: &str = "control character (\\u0000-\\u001F)";

/// The 1-based line and column (in characters) in `text` of the character
/// serde_json's error `e` names, `text` being what serde_json read; `None`
/// when `e` has no position (an error of a value built after parsing).
///
/// Where a text ends early, that is its end: just past its last
/// character, or the start of the line after it when it ends with a
/// newline (as an editor's cursor at the end of the file shows it).
pub(crate) fn json_error_at<T: AsRef<[u8]> + ?Sized>(
    text: &T,
    e: &serde_json::Error,
) -> Option<(usize, usize)> {
    if e.line() == 0 {
        return None;
    }
    if e.is_eof() {
        let text = text.as_ref();
        return Some(line_col(text, text.len()));
    }
    let control = e.to_string().starts_with(CONTROL_CHARACTER);
    Some(stopped_at(text.as_ref(), e.line(), e.column(), control))
}

/// The 1-based line and column of the character serde_json's error names.
/// Its column counts the bytes of the line up to and including that
/// character, so 0 means the newline that ended the line before; but for a
/// raw control character in a string (`control`) it counts them up to the
/// character when the string was skipped (an unknown field's value, or any
/// value a first reading that looks only at a version skips) and
/// including it when the string was read. The character is the one
/// serde_json stopped at: the byte before the count if that is a control
/// character, else the byte after it (before a control character there can
/// only be another character of the string, as one more would have stopped
/// serde_json first).
fn stopped_at(text: &[u8], line: usize, column: usize, control: bool) -> (usize, usize) {
    let start = if line <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    let end = (start + column).min(text.len());
    let is_control = |i: usize| text.get(i).is_some_and(|&c| c < 0x20);
    if control && !(end > 0 && is_control(end - 1)) && is_control(end) {
        return line_col(text, end);
    }
    if end == 0 {
        return (1, 1);
    }
    // The character that holds byte `end - 1`: the newline itself, or the
    // last (maybe cut short) of the characters up to `end`.
    if text[end - 1] == b'\n' {
        return line_col(text, end - 1);
    }
    let (line, col) = line_col(text, end);
    (line, col - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The lines of `text` (bytes), as [`line_col`] counts them.
    fn lines(text: &[u8]) -> Vec<&[u8]> {
        text.split(|&b| b == b'\n').collect()
    }

    proptest! {
        /// Whatever the bytes, an error's position is on a line of the text
        /// and at most one past that line's last character; nothing panics.
        #[test]
        fn any_error_is_placed_inside_the_text(
            text in proptest::collection::vec(
                prop_oneof![
                    Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'),
                    Just(b':'), Just(b','), Just(b'\n'), Just(b'\t'), Just(b'\\'),
                    Just(b'1'), Just(b'a'), Just(b' '), Just(0xc3), Just(0xa9),
                    Just(0xe9), Just(0x94), Just(0x81), Just(0xff), Just(0x01),
                ],
                0..40,
            )
        ) {
            let Err(e) = serde_json::from_slice::<serde_json::Value>(&text) else {
                return Ok(());
            };
            let _ = json_message(&e);
            let Some((line, col)) = json_error_at(&text, &e) else {
                return Ok(());
            };
            let lines = lines(&text);
            prop_assert!(line >= 1 && line <= lines.len(), "{line} of {}", lines.len());
            prop_assert!(col >= 1);
            prop_assert!(col <= chars(lines[line - 1]) + 1, "{col} on {:?}", lines[line - 1]);
        }
    }

    fn error_at(text: &str) -> (Option<(usize, usize)>, String) {
        let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        (json_error_at(text, &e), json_message(&e))
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("aé✓b", 0), (1, 1));
        assert_eq!(line_col("aé✓b", 6), (1, 4));
        assert_eq!(line_col("aé\n✓b", 7), (2, 2));
        // An offset inside a character: the character it is in counts.
        assert_eq!(line_col("é✓", 3), (1, 3));
        // Bytes that are not UTF-8 count one each.
        assert_eq!(line_col(&b"a\xff\xfeb"[..], 3), (1, 4));
        assert_eq!(line_col("ab", 10), (1, 3));
    }

    #[test]
    fn a_json_error_is_placed_on_its_character() {
        // A character where a value belongs, after two- and three-byte
        // characters: serde_json's column counts 13 bytes.
        let (at, msg) = error_at("{\"é✓\": 1 ✗}");
        assert_eq!((at, msg.as_str()), (Some((1, 10)), "expected `,` or `}`"));
        let (at, _) = error_at("[\"caché\",\n\"锁\" x]");
        assert_eq!(at, Some((2, 5)));
        // ASCII: serde_json's column.
        let (at, _) = error_at("{\"a\": 1 x}");
        assert_eq!(at, Some((1, 9)));
        // The end of the text: past its last character, or the next
        // line's start after a newline.
        assert_eq!(error_at("{\"é\":").0, Some((1, 6)));
        assert_eq!(error_at("{").0, Some((1, 2)));
        assert_eq!(error_at("{\n").0, Some((2, 1)));
        assert_eq!(error_at("").0, Some((1, 1)));
    }

    #[test]
    fn a_raw_control_character_is_placed_on_itself() {
        // Read (a value's string) and skipped (an ignored field's value).
        let (at, msg) = error_at("[\"é\u{1}\"]");
        assert!(msg.starts_with(CONTROL_CHARACTER), "{msg}");
        assert_eq!(at, Some((1, 4)));
        let e = serde_json::from_str::<serde::de::IgnoredAny>("[\"é\u{1}\"]").unwrap_err();
        assert_eq!(json_error_at("[\"é\u{1}\"]", &e), Some((1, 4)));
        // A newline in a string: on the line it ends.
        assert_eq!(error_at("[\"é\n\"]").0, Some((1, 4)));
    }

    #[test]
    fn a_message_loses_only_its_own_position() {
        let e = serde_json::from_str::<serde_json::Value>("[1 2]").unwrap_err();
        assert_eq!(json_message(&e), "expected `,` or `]`");
        let e = <serde_json::Error as serde::de::Error>::custom("at line 3 column 4");
        assert_eq!(json_message(&e), "at line 3 column 4");
    }
}
