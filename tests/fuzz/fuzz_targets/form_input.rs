//! The form contract on any bytes, as the handler meets them: decoded as a
//! plain form (`application/x-www-form-urlencoded`) and as JSON into both
//! forms' inputs, then validated and normalized. Nothing may panic, and
//! whatever is accepted must already be in its normal form (the name's
//! comparison key too), with no display control in any text (bidi marks
//! and tag characters included; a line break only in a many-line field).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutualaid_forms::{DonateInput, FormInput, SignupInput, normalize, zips};

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_html_form::from_bytes::<SignupInput>(data) {
        signup(input);
    }
    if let Ok(input) = serde_json::from_slice::<SignupInput>(data) {
        signup(input);
    }
    if let Ok(input) = serde_html_form::from_bytes::<DonateInput>(data) {
        donation(input);
    }
    if let Ok(input) = serde_json::from_slice::<DonateInput>(data) {
        donation(input);
    }
});

fn signup(input: SignupInput) {
    let _ = (input.page().is_bot(), input.page().lang());
    let Ok(s) = input.validate_and_normalize() else {
        return;
    };
    assert!(zips::find(&s.zip).is_some(), "an accepted ZIP is in the county");
    assert!(s.email.is_some() || s.phone.is_some(), "a way to reach them");
    if let Some(email) = &s.email {
        assert_eq!(&normalize::email(email), email, "email already normal");
    }
    if let Some(phone) = &s.phone {
        assert_eq!(normalize::phone_e164(phone).as_ref(), Some(phone), "phone already E.164");
    }
    assert!(!s.name.is_empty() && s.name == s.name.trim(), "name trimmed, not empty");
    assert!(!s.roles.is_empty(), "at least one role");
    for line in [Some(&s.name), s.email.as_ref(), s.phone.as_ref(), Some(&s.zip), s.neighborhood.as_ref(), s.availability.as_ref()].into_iter().flatten() {
        shows_itself(line, false);
    }
    s.languages.iter().for_each(|l| shows_itself(l, false));
    s.notes.iter().for_each(|n| shows_itself(n, true));
    name_key_is_stable(&s.name);
}

fn donation(input: DonateInput) {
    let _ = (input.page().is_bot(), input.page().lang());
    let Ok(d) = input.validate_and_normalize() else {
        return;
    };
    assert_eq!(normalize::email(&d.email), d.email, "email already normal");
    if let Some(phone) = &d.phone {
        assert_eq!(normalize::phone_e164(phone).as_ref(), Some(phone), "phone already E.164");
    }
    assert!(!d.name.is_empty() && d.name == d.name.trim(), "name trimmed, not empty");
    for line in [Some(&d.name), Some(&d.email), d.phone.as_ref(), d.amount.as_ref()].into_iter().flatten() {
        shows_itself(line, false);
    }
    d.message.iter().for_each(|m| shows_itself(m, true));
    name_key_is_stable(&d.name);
}

/// An accepted text carries no character that only steers display: no bidi
/// mark, tag character or control; a line break only where `many_lines`.
fn shows_itself(text: &str, many_lines: bool) {
    for c in text.chars() {
        if many_lines && c == '\n' {
            continue;
        }
        assert!(!normalize::is_display_control(c), "{c:?} kept in an accepted text");
    }
}

/// The name two submissions are compared on is its own normal form: it does
/// not change when normalized again, and it has no edge spaces.
fn name_key_is_stable(name: &str) {
    let key = normalize::name_key(name);
    assert_eq!(normalize::name_key(&key), key, "a name key is already normal");
    assert_eq!(key.trim(), key, "no edge spaces");
}
