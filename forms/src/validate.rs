//! From what was sent to what is kept: tidy, validate (the derives plus the
//! rules between fields), normalize. The result is either a clean
//! [`Signup`] / [`Donation`] or [`FieldErrors`] in the form's field order.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationErrors};

use crate::input::{DonateInput, FormInput, PageFields, SignupInput, checkbox_value, whole_number};
use crate::normalize;
use crate::spec::{FormId, LANGUAGES, ROLES};

/// The language a person used the site in: an ISO 639 code of two or
/// three lowercase letters (`en`, `es`, `ar`, `fil`). Which languages a site
/// has is data — `languages` in `config.toml` and a file in `content/i18n/` —
/// not code; the handler answers a language its site lacks in the site's
/// default. Stored and sent as its code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang {
    letters: [u8; 3],
    len: u8,
}

impl Lang {
    /// English, the default.
    pub const EN: Lang = Lang {
        letters: *b"en ",
        len: 2,
    };
    /// Spanish.
    pub const ES: Lang = Lang {
        letters: *b"es ",
        len: 2,
    };

    /// A language code of two or three lowercase ASCII letters, if it is one.
    pub fn parse(code: &str) -> Option<Lang> {
        let bytes = code.as_bytes();
        if !(2..=3).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_lowercase) {
            return None;
        }
        let mut letters = *b"   ";
        letters[..bytes.len()].copy_from_slice(bytes);
        Some(Lang {
            letters,
            len: bytes.len() as u8,
        })
    }

    /// From the hidden `lang` field: anything that is not a language code
    /// is English.
    pub fn from_code(code: Option<&str>) -> Lang {
        code.and_then(|c| Lang::parse(c.trim())).unwrap_or_default()
    }

    /// Its code: `en`, `es`, `ar`.
    pub fn code(&self) -> &str {
        // Only ASCII letters are ever stored (`parse`).
        std::str::from_utf8(&self.letters[..usize::from(self.len)]).unwrap_or("en")
    }
}

impl Default for Lang {
    fn default() -> Lang {
        Lang::EN
    }
}

impl std::fmt::Debug for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lang({})", self.code())
    }
}

impl Serialize for Lang {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Lang, D::Error> {
        let code = String::deserialize(deserializer)?;
        Lang::parse(&code).ok_or_else(|| {
            serde::de::Error::custom(format!("{code:?} is not a language code like \"en\""))
        })
    }
}

/// One field's problems, as codes from [`crate::spec::Field::errors`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The wire name of the field.
    pub field: &'static str,
    /// Its error codes, most important first.
    pub codes: Vec<&'static str>,
}

/// Every problem with a submission, in the order the fields are shown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Whether there is nothing to fix.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first (most important) code for a field, if it has a problem.
    pub fn first_code(&self, field: &str) -> Option<&'static str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .and_then(|e| e.codes.first().copied())
    }

    /// Collects the derive's errors and extra `(field, code)` pairs, keeping
    /// the form's field order and each field's code order from the spec.
    fn collect(form: FormId, derived: Option<&ValidationErrors>, extra: &[(&str, &str)]) -> Self {
        let mut out = Vec::new();
        for field in form.fields() {
            let mut found: Vec<&str> = Vec::new();
            if let Some(errors) = derived
                && let Some(list) = errors.field_errors().get(field.name)
            {
                found.extend(list.iter().map(|e| e.code.as_ref()));
            }
            found.extend(
                extra
                    .iter()
                    .filter(|(f, _)| *f == field.name)
                    .map(|(_, c)| *c),
            );
            let codes: Vec<&'static str> = field
                .errors
                .iter()
                .copied()
                .filter(|code| found.contains(code))
                .collect();
            if !codes.is_empty() {
                out.push(FieldError {
                    field: field.name,
                    codes,
                });
            }
        }
        FieldErrors(out)
    }
}

/// How a person wants to be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactMethod {
    /// By email.
    Email,
    /// By phone call.
    Phone,
    /// By text message.
    Text,
}

impl ContactMethod {
    /// Its wire name (`email`, `phone`, `text`: [`crate::spec::CONTACT_METHODS`]).
    pub fn as_str(self) -> &'static str {
        match self {
            ContactMethod::Email => "email",
            ContactMethod::Phone => "phone",
            ContactMethod::Text => "text",
        }
    }
}

/// What a person signs up for (stored and sent by its wire name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Volunteers to shop for neighbors.
    Shopper,
    /// Wants groceries delivered.
    Delivery,
    /// Wants money for groceries.
    Money,
}

impl Role {
    /// Every role, in the contract's order ([`crate::spec::ROLES`]).
    pub const ALL: [Role; 3] = [Role::Shopper, Role::Delivery, Role::Money];

    /// Its wire name (`shopper`, `delivery`, `money`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Shopper => "shopper",
            Role::Delivery => "delivery",
            Role::Money => "money",
        }
    }

    /// The role of a wire name.
    pub fn from_wire(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether it asks for help (a request an organizer answers), rather
    /// than offering it.
    pub fn asks_for_help(self) -> bool {
        !matches!(self, Role::Shopper)
    }
}

impl PartialEq<&str> for Role {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A valid, normalized sign-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signup {
    /// The name, trimmed.
    pub name: String,
    /// Lowercased email, if given.
    pub email: Option<String>,
    /// E.164 phone, if given.
    pub phone: Option<String>,
    /// How they want to be contacted (a way they gave).
    pub contact_method: ContactMethod,
    /// A San Diego County ZIP code.
    pub zip: String,
    /// Their community name, if given.
    pub neighborhood: Option<String>,
    /// Their roles, in the contract's order, without repeats.
    pub roles: Vec<Role>,
    /// Languages spoken, in the contract's order, without repeats.
    pub languages: Vec<String>,
    /// When a shopper is free.
    pub availability: Option<String>,
    /// Whether a shopper has a car.
    pub has_car: bool,
    /// How many households a shopper can shop for at the same time (1–3);
    /// none: not said (the network's cap counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub households: Option<u8>,
    /// Household size of someone asking for help.
    pub household_size: Option<u8>,
    /// Notes.
    pub notes: Option<String>,
    /// The language they used.
    pub lang: Lang,
}

/// How often someone wants to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// One time.
    Once,
    /// Every month.
    Monthly,
}

impl Frequency {
    /// Its wire name (`once`, `monthly`).
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Once => "once",
            Frequency::Monthly => "monthly",
        }
    }
}

/// A valid, normalized donation interest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Donation {
    /// The name, trimmed.
    pub name: String,
    /// Lowercased email.
    pub email: String,
    /// E.164 phone, if given.
    pub phone: Option<String>,
    /// One-time or monthly.
    pub frequency: Frequency,
    /// A rough amount, as written ("20.50", "$20", "20-50", "about 20"), if
    /// given. (A record stored when it was a whole number reads as its text.)
    #[serde(default, deserialize_with = "crate::input::wire::text")]
    pub amount: Option<String>,
    /// Their message.
    pub message: Option<String>,
    /// The language they used.
    pub lang: Lang,
}

/// The chosen options, in the contract's order, each once.
fn canonical(chosen: &[String], options: &'static [&'static str]) -> Vec<String> {
    options
        .iter()
        .filter(|o| chosen.iter().any(|c| c == *o))
        .map(|o| (*o).to_owned())
        .collect()
}

impl FormInput for SignupInput {
    const FORM: FormId = FormId::Signup;
    type Valid = Signup;

    fn page(&self) -> &PageFields {
        &self.page
    }

    fn validate_and_normalize(mut self) -> Result<Signup, FieldErrors> {
        if let Some(email) = &mut self.email {
            *email = normalize::email(email);
        }
        let derived = self.validate().err();
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if self.email.is_none() && self.phone.is_none() {
            extra.push(("email", "email_or_phone"));
        }
        match self.contact_method.as_deref() {
            Some("email") if self.email.is_none() => extra.push(("contact_method", "needs_email")),
            Some("phone" | "text") if self.phone.is_none() => {
                extra.push(("contact_method", "needs_phone"))
            }
            _ => {}
        }
        let errors = FieldErrors::collect(Self::FORM, derived.as_ref(), &extra);
        if !errors.is_empty() {
            return Err(errors);
        }
        let lang = self.page.lang();
        Ok(Signup {
            name: self.name.unwrap_or_default(),
            phone: self.phone.as_deref().and_then(normalize::phone_e164),
            email: self.email,
            contact_method: match self.contact_method.as_deref() {
                Some("phone") => ContactMethod::Phone,
                Some("text") => ContactMethod::Text,
                _ => ContactMethod::Email,
            },
            zip: self.zip.unwrap_or_default(),
            neighborhood: self.neighborhood,
            roles: canonical(&self.roles, ROLES)
                .iter()
                .filter_map(|r| Role::from_wire(r))
                .collect(),
            languages: canonical(&self.languages, LANGUAGES),
            availability: self.availability,
            has_car: checkbox_value(self.has_car.as_deref()) == Some(true),
            households: self.households.as_deref().and_then(|n| n.parse().ok()),
            household_size: self
                .household_size
                .as_deref()
                .and_then(whole_number)
                .and_then(|n| u8::try_from(n).ok()),
            notes: self.notes,
            lang,
        })
    }
}

impl FormInput for DonateInput {
    const FORM: FormId = FormId::Donate;
    type Valid = Donation;

    fn page(&self) -> &PageFields {
        &self.page
    }

    fn validate_and_normalize(mut self) -> Result<Donation, FieldErrors> {
        if let Some(email) = &mut self.email {
            *email = normalize::email(email);
        }
        if let Err(derived) = self.validate() {
            return Err(FieldErrors::collect(Self::FORM, Some(&derived), &[]));
        }
        let lang = self.page.lang();
        Ok(Donation {
            name: self.name.unwrap_or_default(),
            email: self.email.unwrap_or_default(),
            phone: self.phone.as_deref().and_then(normalize::phone_e164),
            frequency: match self.frequency.as_deref() {
                Some("monthly") => Frequency::Monthly,
                _ => Frequency::Once,
            },
            amount: self.amount,
            message: self.message,
            lang,
        })
    }
}
