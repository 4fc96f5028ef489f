//! Making strings from record files safe to show.
//!
//! Class names, thread names, executables, sites and stack frames come from
//! files anyone can write. Shown raw, an escape sequence in a lock's name
//! could clear the terminal, retitle it or forge lines of the report. Text
//! output shows every control character (and the Unicode bidirectional
//! overrides, which reorder what is displayed) as an escape instead:
//! `\n`, `\r`, `\t`, `\u{1b}`.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` would do something other than print itself.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character and bidirectional override escaped.
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`text`] as an owned string (for `format!` arguments).
pub(crate) fn t(s: &str) -> String {
    text(s).into_owned()
}

/// `s` cut to at most `max` characters, its last one an ellipsis (`…`)
/// when anything was cut (the runtime's report tables' rule).
pub(crate) use lockgraph_core::__private::cut;

/// `s` escaped for HTML text and attribute values (after [`text`]).
pub(crate) fn html(s: &str) -> String {
    entities(&text(s))
}

/// `s` with HTML's special characters as entities, nothing else changed
/// (for text already made safe, newlines kept).
pub(crate) fn entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_escapes() {
        assert!(matches!(text("plain `name` é ✓"), Cow::Borrowed(_)));
        assert_eq!(
            text("a\u{1b}[2Jb\u{0}c\nd\te\u{7f}"),
            "a\\u{1b}[2Jb\\u{0}c\\nd\\te\\u{7f}"
        );
        assert_eq!(text("x\u{202e}gnp.exe"), "x\\u{202e}gnp.exe");
        assert_eq!(text("C:\\src\\a.rs"), "C:\\src\\a.rs");
        assert_eq!(
            html("<a href=\"x\">&'\u{1b}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\\u{1b}"
        );
    }

    #[test]
    fn cut_keeps_short_strings_and_ends_long_ones_with_an_ellipsis() {
        assert!(matches!(cut("abcd", 4), Cow::Borrowed("abcd")));
        assert_eq!(cut("abcde", 4), "abc…");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut("", 0), "");
    }
}
