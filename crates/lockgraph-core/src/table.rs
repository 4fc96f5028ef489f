//! Text tables of reports: cells cut to a width and padded by hand.
//!
//! A format width (`{:<w$}`) panics past 65,535, and a lock's name, a
//! thread's or a queue's can be longer: a table cell goes through [`cut`]
//! and [`padded`] instead (the lines around a table name things whole).

use std::borrow::Cow;

/// `s` cut to `max` characters, the last an ellipsis when it was longer.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
            out.push('…');
            Cow::Owned(out)
        }
    }
}

/// `s` and spaces up to `width` characters.
pub fn padded(s: &str, width: usize) -> String {
    let mut out = String::from(s);
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(s.chars().count()),
    ));
    out
}

/// The width in characters of the widest of `cells`.
pub fn width<'a>(cells: impl IntoIterator<Item = &'a str>) -> usize {
    cells
        .into_iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_with_an_ellipsis_and_padded_by_characters() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(padded("é", 3), "é  ");
        assert_eq!(padded("abcd", 2), "abcd");
        let long = "x".repeat(70_000);
        assert_eq!(padded(&cut(&long, 40), 50).chars().count(), 50);
        assert_eq!(width(["a", "ééé", "bb"]), 3);
    }
}
