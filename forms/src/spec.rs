//! The field specifications: what each form asks, in order, with the HTML
//! constraints the site renders and the error codes the validator can give.
//!
//! The numbers here are the single source: the `validator` derives in
//! [`crate::input`] use the same constants, and a test proves every error
//! code listed here can actually be produced.

/// Longest name accepted.
pub const NAME_MAX: u64 = 100;
/// Longest email address accepted (RFC 5321 path limit).
pub const EMAIL_MAX: u64 = 254;
/// Longest phone number accepted, as typed (spaces, dashes and brackets included).
pub const PHONE_MAX: u64 = 30;
/// Longest neighbourhood name.
pub const NEIGHBORHOOD_MAX: u64 = 100;
/// Longest availability text.
pub const AVAILABILITY_MAX: u64 = 200;
/// Longest free-text note or message.
pub const NOTES_MAX: u64 = 1000;
/// Smallest household.
pub const HOUSEHOLD_MIN: u64 = 1;
/// Largest household.
pub const HOUSEHOLD_MAX: u64 = 20;
/// The longest donation amount, free text as people write it ("20.50",
/// "$20", "20-50", "about 20").
pub const AMOUNT_MAX_LEN: u64 = 40;
/// ZIP codes are five digits.
pub const ZIP_LEN: u64 = 5;
/// The HTML `pattern` for a San Diego County ZIP code (all are 919xx–921xx);
/// the validator checks the full list.
pub const ZIP_PATTERN: &str = "9[12][0-9]{3}";

/// The two forms.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FormId {
    /// Volunteer shoppers and people who need groceries or money for groceries.
    Signup,
    /// People interested in giving money.
    Donate,
}

impl FormId {
    /// Every form, in a stable order.
    pub const ALL: [FormId; 2] = [FormId::Signup, FormId::Donate];

    /// The form's key: in content (`[forms.signup]`), in front matter
    /// (`form = "signup"`) and in the API path (`/api/signup`).
    pub fn key(self) -> &'static str {
        match self {
            FormId::Signup => "signup",
            FormId::Donate => "donate",
        }
    }

    /// Parses a form key.
    pub fn from_key(key: &str) -> Option<FormId> {
        FormId::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The form's fields, in the order they are shown.
    pub fn fields(self) -> &'static [Field] {
        match self {
            FormId::Signup => SIGNUP_FIELDS,
            FormId::Donate => DONATE_FIELDS,
        }
    }

    /// Headings that split the form into parts (sign-up only), in order.
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            FormId::Signup => &[
                "you",
                "contact",
                "area",
                "roles",
                "shopper",
                "recipient",
                "consent",
            ],
            FormId::Donate => &[],
        }
    }

    /// The field with this wire name.
    pub fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }
}

/// How a field is shown and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text.
    Text,
    /// An email address.
    Email,
    /// A phone number.
    Tel,
    /// A whole number. Rendered as text with a numeric keyboard (as GOV.UK
    /// advises: `type="number"` changes values on scroll and refuses "$50").
    Number,
    /// Several lines of text.
    Textarea,
    /// Exactly one of [`Field::options`].
    Radio,
    /// Any of [`Field::options`]; the field repeats on the wire.
    Checkboxes,
    /// A yes/no box.
    Checkbox,
    /// Set by the page, not the person (the page language).
    Hidden,
    /// A trap for bots: hidden from people, must stay empty.
    Honeypot,
}

impl Kind {
    /// The HTML `type` of the `<input>`, if the field is an `<input>`.
    pub fn input_type(self) -> Option<&'static str> {
        match self {
            Kind::Text | Kind::Number | Kind::Honeypot => Some("text"),
            Kind::Email => Some("email"),
            Kind::Tel => Some("tel"),
            Kind::Radio => Some("radio"),
            Kind::Checkboxes | Kind::Checkbox => Some("checkbox"),
            Kind::Hidden => Some("hidden"),
            Kind::Textarea => None,
        }
    }

    /// Whether the field may appear more than once on the wire.
    pub fn repeatable(self) -> bool {
        self == Kind::Checkboxes
    }
}

/// One field of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The wire name: a public API, never renamed.
    pub name: &'static str,
    /// How it is shown.
    pub kind: Kind,
    /// Whether a person must fill it (for checkbox groups: choose at least one).
    pub required: bool,
    /// Longest value, in characters.
    pub max_len: Option<u64>,
    /// Smallest and largest number, for [`Kind::Number`].
    pub range: Option<(u64, u64)>,
    /// HTML `pattern`.
    pub pattern: Option<&'static str>,
    /// HTML `autocomplete` token.
    pub autocomplete: Option<&'static str>,
    /// HTML `inputmode`, where the keyboard should differ from the type's.
    pub inputmode: Option<&'static str>,
    /// The allowed values, for radios and checkbox groups.
    pub options: &'static [&'static str],
    /// The heading this field sits under (see [`FormId::groups`]).
    pub group: Option<&'static str>,
    /// Every error code the validator can give for this field; content has a
    /// message for each, in each language.
    pub errors: &'static [&'static str],
}

impl Field {
    /// Whether people see and fill this field (not the page language, not the honeypot).
    pub fn is_for_people(&self) -> bool {
        !matches!(self.kind, Kind::Hidden | Kind::Honeypot)
    }
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        max_len: None,
        range: None,
        pattern: None,
        autocomplete: None,
        inputmode: None,
        options: &[],
        group: None,
        errors: &[],
    }
}

/// Values of `contact_method`.
pub const CONTACT_METHODS: &[&str] = &["email", "phone", "text"];
/// Values of `roles`: volunteer shopper, get groceries delivered, receive monetary support.
pub const ROLES: &[&str] = &["shopper", "delivery", "money"];
/// Values of `languages` (ISO 639-1 codes, and `other`).
pub const LANGUAGES: &[&str] = &["en", "es", "tl", "vi", "zh", "ar", "so", "other"];
/// Values of `households`: how many households a volunteer shopper can shop
/// for at the same time.
pub const HOUSEHOLDS: &[&str] = &["1", "2", "3"];
/// Values of `frequency`.
pub const FREQUENCIES: &[&str] = &["once", "monthly"];
/// A person's name, on both forms.
const NAME: Field = Field {
    required: true,
    max_len: Some(NAME_MAX),
    autocomplete: Some("name"),
    errors: &["required", "too_long"],
    ..field("name", Kind::Text)
};

/// A phone number, optional on both forms.
const PHONE: Field = Field {
    max_len: Some(PHONE_MAX),
    autocomplete: Some("tel"),
    errors: &["invalid", "too_long"],
    ..field("phone", Kind::Tel)
};

/// Consent to be contacted and to the data policy, needed on both forms.
const CONSENT: Field = Field {
    required: true,
    errors: &["required"],
    ..field("consent", Kind::Checkbox)
};

/// The page's language (any of the site's: `languages` in config.toml).
const LANG: Field = field("lang", Kind::Hidden);

/// The honeypot: people never see it, bots fill it.
const HONEYPOT: Field = Field {
    autocomplete: Some("off"),
    ..field("website", Kind::Honeypot)
};

/// The sign-up form.
pub static SIGNUP_FIELDS: &[Field] = &[
    Field {
        group: Some("you"),
        ..NAME
    },
    Field {
        max_len: Some(EMAIL_MAX),
        autocomplete: Some("email"),
        group: Some("contact"),
        errors: &["invalid", "too_long", "email_or_phone"],
        ..field("email", Kind::Email)
    },
    Field {
        group: Some("contact"),
        ..PHONE
    },
    Field {
        required: true,
        options: CONTACT_METHODS,
        group: Some("contact"),
        errors: &["required", "invalid", "needs_email", "needs_phone"],
        ..field("contact_method", Kind::Radio)
    },
    Field {
        required: true,
        max_len: Some(ZIP_LEN),
        pattern: Some(ZIP_PATTERN),
        autocomplete: Some("postal-code"),
        inputmode: Some("numeric"),
        group: Some("area"),
        errors: &["required", "invalid", "not_in_county"],
        ..field("zip", Kind::Text)
    },
    Field {
        max_len: Some(NEIGHBORHOOD_MAX),
        autocomplete: Some("address-level3"),
        group: Some("area"),
        errors: &["too_long"],
        ..field("neighborhood", Kind::Text)
    },
    Field {
        required: true,
        options: ROLES,
        group: Some("roles"),
        errors: &["required", "invalid"],
        ..field("roles", Kind::Checkboxes)
    },
    Field {
        options: LANGUAGES,
        group: Some("roles"),
        errors: &["invalid"],
        ..field("languages", Kind::Checkboxes)
    },
    Field {
        max_len: Some(AVAILABILITY_MAX),
        group: Some("shopper"),
        errors: &["too_long"],
        ..field("availability", Kind::Text)
    },
    Field {
        group: Some("shopper"),
        errors: &["invalid"],
        ..field("has_car", Kind::Checkbox)
    },
    Field {
        options: HOUSEHOLDS,
        group: Some("shopper"),
        errors: &["invalid"],
        ..field("households", Kind::Radio)
    },
    Field {
        range: Some((HOUSEHOLD_MIN, HOUSEHOLD_MAX)),
        inputmode: Some("numeric"),
        group: Some("recipient"),
        errors: &["invalid", "out_of_range"],
        ..field("household_size", Kind::Number)
    },
    Field {
        max_len: Some(NOTES_MAX),
        group: Some("recipient"),
        errors: &["too_long"],
        ..field("notes", Kind::Textarea)
    },
    Field {
        group: Some("consent"),
        ..CONSENT
    },
    LANG,
    HONEYPOT,
];

/// The donation-interest form.
pub static DONATE_FIELDS: &[Field] = &[
    NAME,
    Field {
        required: true,
        max_len: Some(EMAIL_MAX),
        autocomplete: Some("email"),
        errors: &["required", "invalid", "too_long"],
        ..field("email", Kind::Email)
    },
    PHONE,
    Field {
        required: true,
        options: FREQUENCIES,
        errors: &["required", "invalid"],
        ..field("frequency", Kind::Radio)
    },
    Field {
        max_len: Some(AMOUNT_MAX_LEN),
        errors: &["too_long"],
        ..field("amount", Kind::Text)
    },
    Field {
        max_len: Some(NOTES_MAX),
        errors: &["too_long"],
        ..field("message", Kind::Textarea)
    },
    CONSENT,
    LANG,
    HONEYPOT,
];
