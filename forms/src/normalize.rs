//! Normal forms used to recognize the same person: a lowercased email, an
//! E.164 phone number and a name key. And what every text a person types is
//! cleaned of before it is kept: characters that change how *other* text
//! displays ([`is_display_control`]), so a name cannot reverse itself in
//! the organizers' digest or start a fake line.
//!
//! **Same person** (the handler's rule): the same [`name_key`] — the name as
//! written — *and* the same email or phone, on the same form. Two people who
//! share a phone (a household, a borrowed phone) have different names, so
//! they stay two records; two Latin names that differ only in accents
//! ([`differ_only_in_accents`]) are two records too, linked for an
//! organizer to decide.

use phonenumber::{Mode, country};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Whether a character only steers how text displays, never shows itself:
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), the bidirectional marks (U+200E, U+200F, U+061C), the
/// tag characters (U+E0000–U+E007F: invisible, they can hide text in a
/// name), the line and paragraph separators (U+2028, U+2029), and the
/// control characters (C0, DEL, C1: NUL, CR, LF, tab, …). The zero-width
/// joiner and non-joiner (U+200C, U+200D) are kept: Persian, the Indic
/// scripts and emoji need them to be written right.
pub fn is_display_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{2028}'
            | '\u{2029}'
    ) || c.is_control()
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

/// The form of a name two submissions are compared on — the name **as
/// written**: Unicode NFKC (compatibility forms such as full-width letters
/// become plain ones), full case folding ("STRASSE" = "straße"), and
/// whitespace collapsed to single spaces, trimmed. No mark is removed and
/// nothing is transliterated: in Devanagari, Bengali or Tamil the marks are
/// the vowels (राम and रमा are two names), in Vietnamese they tell names
/// apart (Hùng, Hưng), in Spanish Peña and Pena are two surnames. So
/// "MARÍA  García" and "maría garcía" are one name; "María" and "Maria" are
/// two ([`differ_only_in_accents`] says they may be one person, for an
/// organizer to decide).
pub fn name_key(name: &str) -> String {
    // A name stored before a control was refused still compares as shown.
    let shown: String = name
        .chars()
        .filter(|c| c.is_whitespace() || !is_display_control(*c))
        .collect();
    let compatible: String = shown.nfkc().collect();
    let folded: String = caseless::default_case_fold_str(&compatible)
        .nfkc()
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The name key of the rule before issue 23 ([`name_key`] with every
/// combining mark removed, so "María" = "Maria" and राम = रमा). Only to find
/// and re-key the identity keys stored under it; it never decides who is
/// the same person.
pub fn legacy_name_key(name: &str) -> String {
    let compatible: String = name.nfkc().collect();
    let folded = caseless::default_case_fold_str(&compatible);
    let unaccented: String = folded.nfd().filter(|c| !is_combining_mark(*c)).collect();
    unaccented.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether two names are two names ([`name_key`]) that differ only in the
/// accents of the Latin script: decomposed (NFD), with the combining marks
/// U+0300–U+036F removed, they are one (María / Maria, Peña / Pena, Hùng /
/// Hưng). Then the two may be one person, and an organizer decides. A name
/// with a letter of another script is never guessed at.
pub fn differ_only_in_accents(a: &str, b: &str) -> bool {
    let (a, b) = (name_key(a), name_key(b));
    if a == b || !is_latin(&a) || !is_latin(&b) {
        return false;
    }
    let base = |key: &str| -> String {
        key.nfd()
            .filter(|c| !('\u{0300}'..='\u{036F}').contains(c))
            .collect()
    };
    base(&a) == base(&b)
}

/// Whether every letter of `name` is a Latin one and every mark one of the
/// combining diacritical marks (U+0300–U+036F); spaces, digits and
/// punctuation may stand between.
fn is_latin(name: &str) -> bool {
    name.nfd().all(|c| {
        matches!(c,
            'a'..='z' | 'A'..='Z'
            | '\u{00C0}'..='\u{024F}'
            | '\u{1E00}'..='\u{1EFF}'
            | '\u{2C60}'..='\u{2C7F}'
            | '\u{A720}'..='\u{A7FF}'
            | '\u{AB30}'..='\u{AB6F}'
            | '\u{0300}'..='\u{036F}')
            || (!c.is_alphabetic() && !is_combining_mark(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_as_written_without_case_width_or_extra_spaces() {
        for (a, b) in [
            ("MARÍA  garcía", "maría garcía"),
            ("  JOSÉ\tPÉREZ ", "josé pérez"),
            ("Ｍａｒｉａ", "maria"),
            ("STRASSE", "straße"),
            // Precomposed and decomposed: one name.
            ("Mari\u{0301}a", "María"),
            // A mark stored before marks were refused: the name as shown.
            ("\u{200F}سارة\u{061C}", "سارة"),
        ] {
            assert_eq!(name_key(a), name_key(b), "{a:?} = {b:?}");
        }
        assert_eq!(name_key("MARÍA  Abuela"), "maría abuela");
        for (a, b) in [
            ("Maria A.", "Maria Abuela"),
            ("Jose", "Josefa"),
            ("Ana", "Anna"),
            ("María García", "Maria Garcia"),
            ("Peña", "Pena"),
            ("Nguyễn Văn Hùng", "Nguyễn Văn Hưng"),
            ("राम कुमार", "रमा कुमारी"),
            ("राम", "रमा"),
            ("অমল", "অমিল"),
            ("கமலா", "கமல்"),
        ] {
            assert_ne!(name_key(a), name_key(b), "{a:?} ≠ {b:?}");
        }
    }

    #[test]
    fn only_latin_names_that_differ_in_accents_may_be_one_person() {
        for (a, b) in [
            ("María García", "Maria Garcia"),
            ("Peña", "PENA"),
            ("Nguyễn Văn Hùng", "Nguyễn Văn Hưng"),
            ("Zoë O'Neil", "Zoe O'Neil"),
        ] {
            assert!(differ_only_in_accents(a, b), "{a:?} ~ {b:?}");
        }
        for (a, b) in [
            // One name: nothing to ask.
            ("MARÍA  garcía", "maría garcía"),
            // Two names.
            ("Maria", "Mario"),
            ("Ana", "Anna"),
            // Other scripts are never guessed at.
            ("राम कुमार", "रमा कुमारी"),
            ("राम", "रम"),
            ("Ελένη", "Ελενη"),
            ("Иосиф", "Йосиф"),
        ] {
            assert!(!differ_only_in_accents(a, b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn the_legacy_key_is_the_rule_before_issue_23() {
        assert_eq!(legacy_name_key("María  Abuela"), "maria abuela");
        assert_eq!(legacy_name_key("राम"), legacy_name_key("रम"));
        assert_ne!(name_key("María"), legacy_name_key("María"));
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
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{0}',
            '\u{9F}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{E0000}',
            '\u{E0041}',
            '\u{E007F}',
        ] {
            assert!(is_display_control(c), "{c:?}");
        }
        assert_eq!(
            single_line("\u{200F}Ana\u{061C} \u{E0041}\u{E0042}López\u{200E}"),
            "Ana López"
        );
        for c in ['a', 'ñ', 'ا', ' ', '\u{200C}', '\u{200D}'] {
            assert!(!is_display_control(c), "{c:?}");
        }
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(email("  Ana.Lopez@Example.ORG "), "ana.lopez@example.org");
    }
}
