//! Normal forms used to recognise the same person: a lowercased email, an
//! E.164 phone number and a name key.
//!
//! **Same person** (the handler's rule): the same [`name_key`] *and* the same
//! email or phone, on the same form. Two people who share a phone (a household,
//! a borrowed phone) have different names, so they stay two records.

use phonenumber::{Mode, country};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

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
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(email("  Ana.Lopez@Example.ORG "), "ana.lopez@example.org");
    }
}
