//! Normal forms used to recognize the same person: a lowercased email, an
//! E.164 phone number and a name key. And what every text a person types is
//! cleaned of before it is kept: characters that change how *other* text
//! displays ([`is_display_control`]), so a name cannot reverse itself in
//! the organizers' digest or start a fake line.
//!
//! **Same person** (the handler's rule): the same [`name_key`] *and* the same
//! email or phone, on the same form. Two people who share a phone (a household,
//! a borrowed phone) have different names, so they stay two records.

use phonenumber::{Mode, country};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Whether a character only steers how text displays, never shows itself:
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), the line and paragraph separators (U+2028, U+2029), and
/// the control characters (C0, DEL, C1: NUL, CR, LF, tab, …).
pub fn is_display_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        || c.is_control()
}

/// A one-line field as it is kept: every line break, separator or tab a
/// space, every other display control removed, trimmed.
pub fn single_line(raw: &str) -> String {
    raw.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                Some(' ')
            }
            c if is_display_control(c) => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A many-line field (notes, a message) as it is kept: every line break
/// (CR LF, CR, U+2028, U+2029, NEL) one `\n`, a tab a space, every other
/// display control removed, trimmed.
pub fn multi_line(raw: &str) -> String {
    let unified = raw.replace("\r\n", "\n");
    unified
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => Some('\n'),
            '\t' => Some(' '),
            c if is_display_control(c) => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Parses a phone number as a person in San Diego types it ("619 555 0123",
/// "(619) 555-0123", "+52 664 123 4567") into E.164 ("+16195550123"), or
/// `None` if it is not a valid number.
pub fn phone_e164(raw: &str) -> Option<String> {
    let number = phonenumber::parse(Some(country::Id::US), raw).ok()?;
    phonenumber::is_valid(&number).then(|| number.format().mode(Mode::E164).to_string())
}

/// Trims and lowercases an email address. (The local part is technically
/// case-sensitive; no provider people use treats it so, and treating it so
/// would make duplicates.)
pub fn email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// The form of a name two submissions are compared on: Unicode NFKC
/// (compatibility forms such as full-width letters become plain ones), case
/// folded (full Unicode folding: "STRASSE" = "straße"), accents removed
/// (decomposed, then every combining mark dropped: "María" = "maria"), and
/// whitespace collapsed to single spaces, trimmed. So "María  Abuela" and
/// "maria abuela" are one name; "Maria A." and "Maria Abuela" are two.
pub fn name_key(name: &str) -> String {
    let compatible: String = name.nfkc().collect();
    let folded = caseless::default_case_fold_str(&compatible);
    let unaccented: String = folded.nfd().filter(|c| !is_combining_mark(*c)).collect();
    unaccented.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case_accents_width_or_extra_spaces() {
        for (a, b) in [
            ("María  Abuela", "maria abuela"),
            ("  JOSÉ\tPÉREZ ", "jose perez"),
            ("Ｍａｒｉａ", "maria"),
            ("STRASSE", "straße"),
            ("Zoë Ñúñez", "ZOE NUNEZ"),
        ] {
            assert_eq!(name_key(a), name_key(b), "{a:?} = {b:?}");
        }
        assert_eq!(name_key("María  Abuela"), "maria abuela");
        for (a, b) in [
            ("Maria A.", "Maria Abuela"),
            ("Jose", "Josefa"),
            ("Ana", "Anna"),
        ] {
            assert_ne!(name_key(a), name_key(b), "{a:?} ≠ {b:?}");
        }
    }

    #[test]
    fn phones_as_people_type_them_become_e164() {
        for typed in [
            "619 555 0123",
            "(619) 555-0123",
            "619.555.0123",
            "+1 619-555-0123",
            "1 619 555 0123",
        ] {
            assert_eq!(
                phone_e164(typed).as_deref(),
                Some("+16195550123"),
                "{typed}"
            );
        }
        assert_eq!(
            phone_e164("+52 664 123 4567").as_deref(),
            Some("+526641234567")
        );
    }

    #[test]
    fn non_numbers_are_refused() {
        for typed in ["12", "call me", "555-0123", "+1 000 000 0000", ""] {
            assert_eq!(phone_e164(typed), None, "{typed}");
        }
    }

    #[test]
    fn display_tricks_and_controls_are_removed_and_line_breaks_kept_only_in_notes() {
        assert_eq!(single_line("Carol\u{202E}lorac"), "Carollorac");
        assert_eq!(
            single_line("Ana\u{2028}- fake line\u{0}"),
            "Ana - fake line"
        );
        assert_eq!(single_line(" Jo\r\nBo\t\u{2066}x\u{2069} "), "Jo  Bo x");
        assert_eq!(
            multi_line("line 1\r\nline 2\rline 3\u{2029}\u{202D}end\u{7}"),
            "line 1\nline 2\nline 3\nend"
        );
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{0}', '\u{9F}',
        ] {
            assert!(is_display_control(c), "{c:?}");
        }
        for c in ['a', 'ñ', 'ا', ' ', '\u{200D}'] {
            assert!(!is_display_control(c), "{c:?}");
        }
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(email("  Ana.Lopez@Example.ORG "), "ana.lopez@example.org");
    }
}
