//! What a form sends, as sent: the wire structs with their `validator` derives.
//!
//! Every scalar arrives as text (an HTML form knows nothing else); the JSON
//! path may send numbers and booleans, and repeatable fields as one value or
//! an array. Decoding is therefore lenient ([`wire`]) and validation is strict,
//! so a wrong type becomes a field error a person can fix, never a decode
//! failure without a field.
//!
//! Decoding also tidies, so each field's rule stands at its declaration:
//! [`wire::text`] trims a one-line answer to one line, [`wire::text_block`]
//! keeps a many-line answer's line breaks, [`wire::texts`] tidies each of a
//! repeatable field's values; what is left empty is "not given".

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::validate::{FieldErrors, Lang};

use crate::spec::{
    AMOUNT_MAX_LEN, AVAILABILITY_MAX, CONTACT_METHODS, EMAIL_MAX, FREQUENCIES, FormId, HOUSEHOLDS,
    LANGUAGES, NAME_MAX, NEIGHBORHOOD_MAX, NOTES_MAX, PHONE_MAX, ROLES,
};

/// A sign-up as submitted. Wire names are the field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(default)]
pub struct SignupInput {
    /// The person's name.
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), length(max = NAME_MAX, code = "too_long"))]
    pub name: Option<String>,
    /// Email address (this or `phone` is needed).
    #[serde(deserialize_with = "wire::text")]
    #[validate(length(max = EMAIL_MAX, code = "too_long"), email(code = "invalid"))]
    pub email: Option<String>,
    /// Phone number as typed (this or `email` is needed).
    #[serde(deserialize_with = "wire::text")]
    #[validate(length(max = PHONE_MAX, code = "too_long"), custom(function = checks::phone))]
    pub phone: Option<String>,
    /// `email`, `phone` or `text`.
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), custom(function = checks::contact_method))]
    pub contact_method: Option<String>,
    /// A San Diego County ZIP code.
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), custom(function = checks::zip))]
    pub zip: Option<String>,
    /// Optional community name.
    #[serde(deserialize_with = "wire::text")]
    #[validate(length(max = NEIGHBORHOOD_MAX, code = "too_long"))]
    pub neighborhood: Option<String>,
    /// One or more of `shopper`, `delivery`, `money`.
    #[serde(deserialize_with = "wire::texts")]
    #[validate(length(min = 1, code = "required"), custom(function = checks::roles))]
    pub roles: Vec<String>,
    /// Languages spoken.
    #[serde(deserialize_with = "wire::texts")]
    #[validate(custom(function = checks::languages))]
    pub languages: Vec<String>,
    /// When a volunteer shopper is free.
    #[serde(deserialize_with = "wire::text")]
    #[validate(length(max = AVAILABILITY_MAX, code = "too_long"))]
    pub availability: Option<String>,
    /// Whether a volunteer shopper has a car (a checkbox).
    #[serde(deserialize_with = "wire::text")]
    #[validate(custom(function = checks::checkbox))]
    pub has_car: Option<String>,
    /// How many households a volunteer shopper can shop for at once.
    #[serde(deserialize_with = "wire::text")]
    #[validate(custom(function = checks::households))]
    pub households: Option<String>,
    /// How many people live in the home of someone asking for help.
    #[serde(deserialize_with = "wire::text")]
    #[validate(custom(function = checks::household_size))]
    pub household_size: Option<String>,
    /// Dietary needs, access, anything else.
    #[serde(deserialize_with = "wire::text_block")]
    #[validate(length(max = NOTES_MAX, code = "too_long"))]
    pub notes: Option<String>,
    /// Consent to be contacted and to the data policy (a checkbox).
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), custom(function = checks::consent))]
    pub consent: Option<String>,
    /// What the page adds: its language and the honeypot.
    #[serde(flatten)]
    pub page: PageFields,
}

/// A donation-interest form as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(default)]
pub struct DonateInput {
    /// The person's name.
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), length(max = NAME_MAX, code = "too_long"))]
    pub name: Option<String>,
    /// Email address.
    #[serde(deserialize_with = "wire::text")]
    #[validate(
        required(code = "required"),
        length(max = EMAIL_MAX, code = "too_long"),
        email(code = "invalid")
    )]
    pub email: Option<String>,
    /// Optional phone number.
    #[serde(deserialize_with = "wire::text")]
    #[validate(length(max = PHONE_MAX, code = "too_long"), custom(function = checks::phone))]
    pub phone: Option<String>,
    /// `once` or `monthly`.
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), custom(function = checks::frequency))]
    pub frequency: Option<String>,
    /// A rough amount, as the person writes it.
    #[serde(deserialize_with = "wire::text")]
    #[validate(length(max = AMOUNT_MAX_LEN, code = "too_long"))]
    pub amount: Option<String>,
    /// A message to the organizers.
    #[serde(deserialize_with = "wire::text_block")]
    #[validate(length(max = NOTES_MAX, code = "too_long"))]
    pub message: Option<String>,
    /// Consent to be contacted and to the data policy (a checkbox).
    #[serde(deserialize_with = "wire::text")]
    #[validate(required(code = "required"), custom(function = checks::consent))]
    pub consent: Option<String>,
    /// What the page adds: its language and the honeypot.
    #[serde(flatten)]
    pub page: PageFields,
}

/// What the page adds to either form, beside the person's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageFields {
    /// The page's language (a code of the site's), set by the page.
    #[serde(deserialize_with = "wire::text")]
    pub lang: Option<String>,
    /// The honeypot: people never see it, bots fill it.
    #[serde(deserialize_with = "wire::text")]
    pub website: Option<String>,
}

impl PageFields {
    /// Whether a bot filled the honeypot.
    pub fn is_bot(&self) -> bool {
        self.website
            .as_deref()
            .is_some_and(|w| !w.trim().is_empty())
    }

    /// The language of the page it was sent from.
    pub fn lang(&self) -> Lang {
        Lang::from_code(self.lang.as_deref())
    }
}

/// Either form's wire struct: what the handler needs of it.
pub trait FormInput: serde::de::DeserializeOwned {
    /// Which form it is.
    const FORM: FormId;
    /// What it is once valid and normalized.
    type Valid;
    /// Its page's language and honeypot.
    fn page(&self) -> &PageFields;
    /// Validates and normalizes; on failure, every problem in field order.
    /// Expects the input as decoded (decoding tidies each field): a value
    /// built by hand is taken as it is, untrimmed.
    fn validate_and_normalize(self) -> Result<Self::Valid, FieldErrors>;
}

/// Reads a checkbox value: `Some(true)` for ticked, `Some(false)` for
/// explicitly unticked, `None` for something no checkbox sends.
pub fn checkbox_value(raw: Option<&str>) -> Option<bool> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "off" | "no") => Some(false),
        Some("on" | "true" | "1" | "yes") => Some(true),
        Some(_) => None,
    }
}

/// Parses a whole number as a person types it ("3", " 20 ", "1,000", "$50").
pub fn whole_number(raw: &str) -> Option<u64> {
    let digits: String = raw
        .trim()
        .trim_start_matches('$')
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let digits = digits.strip_suffix(".00").unwrap_or(&digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

mod checks {
    //! The `custom` validators. Each returns an error whose code is one of
    //! the field's codes in [`crate::spec`].

    use super::*;
    use crate::spec::{HOUSEHOLD_MAX, HOUSEHOLD_MIN};

    fn one_of(value: &str, options: &[&str]) -> Result<(), ValidationError> {
        if options.contains(&value) {
            Ok(())
        } else {
            Err(ValidationError::new("invalid"))
        }
    }

    pub fn contact_method(value: &str) -> Result<(), ValidationError> {
        one_of(value, CONTACT_METHODS)
    }

    pub fn households(value: &str) -> Result<(), ValidationError> {
        one_of(value, HOUSEHOLDS)
    }

    pub fn frequency(value: &str) -> Result<(), ValidationError> {
        one_of(value, FREQUENCIES)
    }

    pub fn roles(values: &[String]) -> Result<(), ValidationError> {
        values.iter().try_for_each(|v| one_of(v, ROLES))
    }

    pub fn languages(values: &[String]) -> Result<(), ValidationError> {
        values.iter().try_for_each(|v| one_of(v, LANGUAGES))
    }

    pub fn phone(value: &str) -> Result<(), ValidationError> {
        match crate::normalize::phone_e164(value) {
            Some(_) => Ok(()),
            None => Err(ValidationError::new("invalid")),
        }
    }

    pub fn zip(value: &str) -> Result<(), ValidationError> {
        if value.len() != 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
            Err(ValidationError::new("invalid"))
        } else if crate::zips::find(value).is_none() {
            Err(ValidationError::new("not_in_county"))
        } else {
            Ok(())
        }
    }

    pub fn checkbox(value: &str) -> Result<(), ValidationError> {
        match checkbox_value(Some(value)) {
            Some(_) => Ok(()),
            None => Err(ValidationError::new("invalid")),
        }
    }

    pub fn consent(value: &str) -> Result<(), ValidationError> {
        match checkbox_value(Some(value)) {
            Some(true) => Ok(()),
            _ => Err(ValidationError::new("required")),
        }
    }

    fn number_in(value: &str, min: u64, max: u64) -> Result<(), ValidationError> {
        match whole_number(value) {
            None => Err(ValidationError::new("invalid")),
            Some(n) if n < min || n > max => Err(ValidationError::new("out_of_range")),
            Some(_) => Ok(()),
        }
    }

    pub fn household_size(value: &str) -> Result<(), ValidationError> {
        number_in(value, HOUSEHOLD_MIN, HOUSEHOLD_MAX)
    }
}

pub mod wire {
    //! Lenient decoding of one field: any JSON scalar becomes text, and a
    //! repeatable field takes one value or a list. Objects and nested lists are
    //! refused (the caller reports a malformed body).

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use std::fmt;

    use crate::normalize;

    struct Text;

    impl<'de> Visitor<'de> for Text {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Text)
        }
        /// A plain HTML form may repeat a single-valued field; the last one wins,
        /// as in most form parsers.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut last = None;
            while let Some(item) = seq.next_element_seed(TextSeed)? {
                last = item;
            }
            Ok(last)
        }
    }

    struct TextSeed;

    impl<'de> de::DeserializeSeed<'de> for TextSeed {
        type Value = Option<String>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Scalar)
        }
    }

    /// Like [`Text`], without accepting a list.
    struct Scalar;

    impl<'de> Visitor<'de> for Scalar {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Text.visit_str(v)
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Text.visit_bool(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Text.visit_i64(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Text.visit_u64(v)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Text.visit_f64(v)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    struct Texts;

    impl<'de> Visitor<'de> for Texts {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut all = Vec::new();
            while let Some(item) = seq.next_element_seed(TextSeed)? {
                all.extend(item);
            }
            Ok(all)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(vec![v])
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Texts)
        }
    }

    /// One line of text: on one line, trimmed, `None` when nothing is left.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(tidied(d.deserialize_any(Text)?, normalize::single_line))
    }

    /// A many-line text (notes, a message): line breaks kept, one `\n` each.
    pub fn text_block<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(tidied(d.deserialize_any(Text)?, normalize::multi_line))
    }

    /// A repeatable field: each value as [`text`], the empty ones dropped.
    pub fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let values = d.deserialize_any(Texts)?;
        Ok(values
            .iter()
            .map(|v| normalize::single_line(v))
            .filter(|v| !v.is_empty())
            .collect())
    }

    fn tidied(value: Option<String>, clean: fn(&str) -> String) -> Option<String> {
        value.map(|v| clean(&v)).filter(|v| !v.is_empty())
    }
}
