//! Small text helpers shared by the value parsers.

use std::borrow::Cow;

/// Characters trimmed around values: ASCII blanks and the full-width space (U+3000) that
/// Japanese spreadsheets leave behind.
pub(crate) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{3000}')
}

/// Trims ASCII blanks and full-width spaces from both ends.
pub(crate) fn trim(s: &str) -> &str {
    // Fast path for the common case, checked on bytes: U+3000 is E3 80 80 in UTF-8.
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (None, _) => s,
        (Some(b' ' | b'\t' | 0xE3), _) | (_, Some(b' ' | b'\t' | 0x80)) => s.trim_matches(is_blank),
        _ => s,
    }
}

/// Maps full-width ASCII forms (U+FF01..=U+FF5E, e.g. "０１２", "Ｒ") to ASCII and the
/// full-width space to a space. Borrows when there is nothing to change, which is the common
/// case, so callers can use it on every value.
pub(crate) fn fullwidth_to_ascii(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(is_fullwidth_ascii) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '\u{3000}' => ' ',
                _ => c,
            })
            .collect(),
    )
}

fn is_fullwidth_ascii(c: char) -> bool {
    matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}')
}

/// Trim, then full-width to ASCII, then trim again (a full-width space becomes an ASCII one).
pub(crate) fn normalize_value(s: &str) -> Cow<'_, str> {
    match fullwidth_to_ascii(trim(s)) {
        Cow::Borrowed(b) => Cow::Borrowed(b),
        Cow::Owned(o) => {
            let t = trim(&o);
            if t.len() == o.len() { Cow::Owned(o) } else { Cow::Owned(t.to_owned()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_ascii_and_fullwidth_spaces() {
        assert_eq!(trim(" \u{3000}abc\t "), "abc");
        assert_eq!(trim("a b"), "a b");
        assert_eq!(trim("\u{3000}"), "");
        assert_eq!(trim("内科\u{3000}"), "内科");
        assert_eq!(trim("\u{3042}"), "\u{3042}"); // あ = E3 81 82: starts like U+3000
        assert_eq!(trim("\u{3000}\u{3000}x"), "x");
        assert_eq!(trim(""), "");
    }

    #[test]
    fn fullwidth_forms_become_ascii() {
        assert_eq!(fullwidth_to_ascii("００１２３"), "00123");
        assert_eq!(fullwidth_to_ascii("Ｒ７．４．１"), "R7.4.1");
        assert_eq!(fullwidth_to_ascii("令和７年"), "令和7年");
        assert!(matches!(fullwidth_to_ascii("0123"), Cow::Borrowed(_)));
        assert!(matches!(fullwidth_to_ascii("令和"), Cow::Borrowed(_)));
        assert_eq!(normalize_value("\u{3000}１２\u{3000}"), "12");
    }
}
