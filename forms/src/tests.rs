//! The contract holds: every listed error code can happen, the derives use
//! the spec's limits, and a good answer comes out normalized.

use crate::spec::{FormId, Kind};
use crate::{DonateInput, FormInput, Lang, SignupInput};
use serde_json::{Value, json};

fn valid_signup() -> Value {
    json!({
        "name": "Ana López", "email": "Ana@Example.org", "phone": "(619) 555-0123",
        "contact_method": "text", "zip": "92105", "neighborhood": "City Heights",
        "roles": ["delivery", "shopper", "delivery"], "languages": "es",
        "availability": "Weekday evenings", "has_car": true, "households": 2, "household_size": "3",
        "notes": "No peanuts", "consent": "on", "lang": "es", "website": ""
    })
}

fn valid_donation() -> Value {
    json!({"name": "Bo", "email": "bo@example.org", "frequency": "monthly", "amount": "$1,000", "consent": true})
}

/// Validates a JSON body against a form, giving the codes of one field.
fn codes(form: FormId, body: Value, field: &str) -> Vec<&'static str> {
    let errors = match form {
        FormId::Signup => serde_json::from_value::<SignupInput>(body)
            .unwrap()
            .validate_and_normalize()
            .err(),
        FormId::Donate => serde_json::from_value::<DonateInput>(body)
            .unwrap()
            .validate_and_normalize()
            .err(),
    };
    errors
        .map(|e| {
            e.0.into_iter()
                .filter(|e| e.field == field)
                .flat_map(|e| e.codes)
                .collect()
        })
        .unwrap_or_default()
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

#[test]
fn a_valid_signup_is_normalized() {
    let signup: SignupInput = serde_json::from_value(valid_signup()).unwrap();
    let s = signup.validate_and_normalize().expect("valid");
    assert_eq!(s.email.as_deref(), Some("ana@example.org"));
    assert_eq!(s.phone.as_deref(), Some("+16195550123"));
    assert_eq!(s.roles, ["shopper", "delivery"]);
    assert_eq!(s.languages, ["es"]);
    assert!(s.has_car);
    assert_eq!(s.households, Some(2));
    assert_eq!(s.household_size, Some(3));
    assert_eq!(s.lang, Lang::ES);
}

#[test]
fn a_valid_donation_is_normalized() {
    let d: DonateInput = serde_json::from_value(valid_donation()).unwrap();
    let d = d.validate_and_normalize().expect("valid");
    assert_eq!(d.amount.as_deref(), Some("$1,000"));
    assert_eq!(d.lang, Lang::EN);
}

#[test]
fn an_amount_is_kept_as_people_write_it() {
    for (typed, kept) in [
        ("20.50", "20.50"),
        ("$20", "$20"),
        ("20-50", "20-50"),
        ("  about 20 ", "about 20"),
        ("unos 20 dólares", "unos 20 dólares"),
    ] {
        let mut input = valid_donation();
        input["amount"] = serde_json::json!(typed);
        let d: DonateInput = serde_json::from_value(input).unwrap();
        let d = d.validate_and_normalize().expect(typed);
        assert_eq!(d.amount.as_deref(), Some(kept), "{typed:?}");
    }
    let mut input = valid_donation();
    input["amount"] = serde_json::json!("9".repeat(41));
    let d: DonateInput = serde_json::from_value(input).unwrap();
    let errors = d.validate_and_normalize().expect_err("too long");
    assert_eq!(errors.first_code("amount"), Some("too_long"));
    // A donation stored when the amount was a whole number still reads.
    let old: crate::Donation = serde_json::from_value(serde_json::json!({
        "name": "Bo", "email": "bo@example.org", "phone": null, "frequency": "monthly",
        "amount": 25, "message": null, "lang": "en"
    }))
    .expect("an earlier record");
    assert_eq!(old.amount.as_deref(), Some("25"));
}

/// An input that gives `code` on `field`, for every code the spec lists.
fn breaking(form: FormId, field: &str, code: &str) -> Value {
    let base = match form {
        FormId::Signup => valid_signup(),
        FormId::Donate => valid_donation(),
    };
    let spec = form.field(field).unwrap();
    let too_long = || json!("x".repeat(spec.max_len.unwrap() as usize + 1));
    match (field, code) {
        (_, "required") if spec.kind == Kind::Checkboxes => with(base, field, json!([])),
        (_, "required") => with(base, field, json!("   ")),
        ("email", "too_long") => with(
            base,
            field,
            json!(format!("{}@example.org", "a".repeat(250))),
        ),
        (_, "too_long") => with(base, field, too_long()),
        ("email", "email_or_phone") => {
            let body = with(with(base, "email", Value::Null), "phone", json!(""));
            with(body, "contact_method", json!("email"))
        }
        ("contact_method", "needs_email") => {
            with(with(base, "email", json!("")), field, json!("email"))
        }
        ("contact_method", "needs_phone") => {
            with(with(base, "phone", json!("")), field, json!("phone"))
        }
        ("zip", "not_in_county") => with(base, field, json!("90012")),
        (_, "out_of_range") => with(base, field, json!("0")),
        (_, "invalid") if spec.kind == Kind::Checkboxes => with(base, field, json!(["banana"])),
        (_, "invalid") => with(base, field, json!("not valid @ all")),
        _ => panic!("no test input for {field}/{code}: add one"),
    }
}

#[test]
fn every_listed_error_code_can_happen() {
    for form in FormId::ALL {
        for field in form.fields() {
            for code in field.errors {
                let got = codes(form, breaking(form, field.name, code), field.name);
                assert!(
                    got.contains(code),
                    "{}.{}: expected {code}, got {got:?}",
                    form.key(),
                    field.name
                );
            }
        }
    }
}

#[test]
fn max_lengths_in_the_spec_are_what_the_validator_allows() {
    for form in FormId::ALL {
        for field in form.fields() {
            let Some(max) = field.max_len else { continue };
            if matches!(field.name, "email" | "zip") {
                continue; // their shape is checked too; covered above
            }
            let base = match form {
                FormId::Signup => valid_signup(),
                FormId::Donate => valid_donation(),
            };
            let at_max = if field.name == "phone" {
                json!(format!("{:>width$}", "619 555 0123", width = max as usize))
            } else {
                json!("x".repeat(max as usize))
            };
            assert!(
                codes(form, with(base, field.name, at_max), field.name).is_empty(),
                "{}.{} at max",
                form.key(),
                field.name
            );
        }
    }
}

#[test]
fn errors_come_in_field_order() {
    let body = json!({"consent": "", "zip": "1", "name": ""});
    let errors = serde_json::from_value::<SignupInput>(body)
        .unwrap()
        .validate_and_normalize()
        .unwrap_err();
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        ["name", "email", "contact_method", "zip", "roles", "consent"]
    );
}

#[test]
fn the_honeypot_tells_a_bot() {
    let bot: SignupInput =
        serde_json::from_value(with(valid_signup(), "website", json!("http://spam"))).unwrap();
    assert!(bot.page.is_bot());
    let person: SignupInput = serde_json::from_value(valid_signup()).unwrap();
    assert!(!person.page.is_bot());
}

#[test]
fn objects_where_text_belongs_are_a_decode_error() {
    assert!(serde_json::from_value::<SignupInput>(json!({"name": {"a": 1}})).is_err());
}

#[test]
fn each_typed_value_has_the_wire_name_the_contract_lists() {
    use crate::spec::{CONTACT_METHODS, FREQUENCIES, ROLES};
    use crate::validate::{ContactMethod, Frequency, Role};
    assert_eq!(Role::ALL.map(Role::as_str), ROLES);
    assert_eq!(
        [
            ContactMethod::Email,
            ContactMethod::Phone,
            ContactMethod::Text
        ]
        .map(ContactMethod::as_str),
        CONTACT_METHODS
    );
    assert_eq!(
        [Frequency::Once, Frequency::Monthly].map(Frequency::as_str),
        FREQUENCIES
    );
    for role in Role::ALL {
        let json = serde_json::to_string(&role).expect("serializes");
        assert_eq!(
            json,
            format!("\"{}\"", role.as_str()),
            "stored by its wire name"
        );
    }
}

#[test]
fn a_language_is_any_two_or_three_letter_code_stored_as_its_code() {
    use crate::validate::Lang;
    assert_eq!(
        Lang::parse("ar").map(|l| l.code().to_owned()),
        Some("ar".into())
    );
    assert_eq!(
        Lang::parse("fil").map(|l| l.code().to_owned()),
        Some("fil".into())
    );
    for bad in ["", "e", "EN", "pt-BR", "engl", "e1"] {
        assert_eq!(Lang::parse(bad), None, "{bad}");
    }
    assert_eq!(Lang::from_code(Some(" es ")), Lang::ES);
    assert_eq!(
        Lang::from_code(Some("<b>")),
        Lang::EN,
        "not a code: the default"
    );
    assert_eq!(serde_json::to_string(&Lang::ES).expect("json"), "\"es\"");
    let read: Lang = serde_json::from_str("\"ar\"").expect("a stored code reads back");
    assert_eq!(read.code(), "ar");
    assert!(serde_json::from_str::<Lang>("\"Arabic\"").is_err());
}

/// Each form's wire struct decoded from `body` and written back as JSON.
fn decoded(form: FormId, body: Result<Value, &str>) -> Value {
    fn back<T: serde::Serialize>(input: T) -> Value {
        serde_json::to_value(input).expect("serializes")
    }
    match (form, body) {
        (FormId::Signup, Ok(json)) => back(serde_json::from_value::<SignupInput>(json).unwrap()),
        (FormId::Donate, Ok(json)) => back(serde_json::from_value::<DonateInput>(json).unwrap()),
        (FormId::Signup, Err(plain)) => {
            back(serde_html_form::from_str::<SignupInput>(plain).unwrap())
        }
        (FormId::Donate, Err(plain)) => {
            back(serde_html_form::from_str::<DonateInput>(plain).unwrap())
        }
    }
}

#[test]
fn every_field_is_tidied_as_it_is_decoded_from_json_and_from_a_plain_form() {
    // A field added to the contract without its tidy rule fails here.
    for form in [FormId::Signup, FormId::Donate] {
        for field in form.fields() {
            let expected = match field.kind {
                Kind::Checkboxes => json!(["a b"]),
                Kind::Textarea => json!("a\nb"),
                _ => json!("a b"),
            };
            let nothing = match field.kind {
                Kind::Checkboxes => json!([]),
                _ => Value::Null,
            };
            let name = field.name;
            let json = decoded(form, Ok(json!({ name: " a\nb\t " })));
            assert_eq!(json[name], expected, "{name} from JSON");
            let plain = decoded(form, Err(&format!("{name}=+a%0Ab%09+")));
            assert_eq!(plain[name], expected, "{name} from a plain form");
            let blank = decoded(form, Err(&format!("{name}=+%09+&{name}=+")));
            assert_eq!(blank[name], nothing, "{name}: only spaces is not given");
        }
    }
}

#[test]
fn unknown_fields_are_passed_over_and_a_repeated_field_keeps_its_last_value_in_both_encodings() {
    // The page's fields sit in a flattened struct: what serde does there is
    // held here, for a plain form and for JSON.
    let plain = "name=Ana&name=Ana+L%C3%B3pez&utm_source=flyer&lang=en&lang=es&roles=shopper&roles=money&website=";
    let from_form: SignupInput = serde_html_form::from_str(plain).expect("decodes");
    assert_eq!(from_form.name.as_deref(), Some("Ana López"));
    assert_eq!(from_form.page.lang(), Lang::ES);
    assert_eq!(from_form.roles, ["shopper", "money"]);
    assert!(!from_form.page.is_bot());
    let json =
        json!({"name": "Ana", "utm_source": {"nested": [1, 2]}, "lang": "es", "website": null});
    let from_json: SignupInput = serde_json::from_value(json).expect("decodes");
    assert_eq!(from_json.page.lang(), Lang::ES);
    assert!(!from_json.page.is_bot());
}

#[test]
fn a_volunteers_number_of_households_is_one_two_or_three() {
    let mut input = valid_signup();
    input["households"] = json!("4");
    let signup: SignupInput = serde_json::from_value(input).unwrap();
    let errors = signup.validate_and_normalize().expect_err("refused");
    assert_eq!(errors.first_code("households"), Some("invalid"));
}
