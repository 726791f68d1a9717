//! Normal forms used to recognise the same person: a lowercased email and an
//! E.164 phone number.

use phonenumber::{Mode, country};

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

#[cfg(test)]
mod tests {
    use super::*;

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
