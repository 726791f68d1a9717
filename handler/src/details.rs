//! "Change my details": a person's own change of their record, from their
//! page (the private link proves who they are, so the name may change
//! too, and a new phone is theirs at once).
//!
//! The form is empty: a field left empty keeps its value ([`apply`]). A
//! change that would give the record another record's identity — a
//! housemate's name on the shared phone — applies nothing and is recorded
//! for the digest ([`ActionKind::IdentityClash`]); the person is answered
//! as for any change, so the page never tells whether that other person
//! signed up, and a person's page never merges records.

use mutualaid_forms::normalize::phone_e164;
use mutualaid_forms::spec::{HOUSEHOLD_MAX, HOUSEHOLD_MIN};
use mutualaid_forms::{FormId, zips};

use crate::domain::own_or_free;
use crate::store::{
    ActionKind, Actor, CaseAction, IntakeStore, Person, StoreError, Submission, Timestamp, plan,
};

/// The fields a person may change on their page, per form, in the form's
/// order (their email changes by sending the form again: the old address
/// is asked first).
pub fn changeable(form: FormId) -> &'static [&'static str] {
    match form {
        FormId::Signup => &[
            "name",
            "phone",
            "zip",
            "neighborhood",
            "availability",
            "households",
            "household_size",
            "notes",
        ],
        FormId::Donate => &["name", "phone", "amount", "message"],
    }
}

/// A field that cannot take what was typed: its wire name and the error
/// code the form's texts have a message for.
pub type Problem = (&'static str, &'static str);

/// `current` with every non-empty `posted` field of [`changeable`] in
/// place of its value; the problems, in field order, if any value is not
/// one the form would take.
pub fn apply(
    current: &Submission,
    posted: &[(String, String)],
) -> Result<Submission, Vec<Problem>> {
    let mut next = current.clone();
    let mut problems = Vec::new();
    for &field in changeable(current.form()) {
        let Some(value) = posted
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        if let Err(code) = set(&mut next, field, value) {
            problems.push((field, code));
        }
    }
    if problems.is_empty() {
        Ok(next)
    } else {
        Err(problems)
    }
}

/// `value` if the form's contract takes it for `field` (its longest).
fn within(form: FormId, field: &str, value: &str) -> Result<String, &'static str> {
    let max = form
        .fields()
        .iter()
        .find(|f| f.name == field)
        .and_then(|f| f.max_len)
        .unwrap_or(u64::MAX);
    if value.chars().count() as u64 > max {
        Err("too_long")
    } else {
        Ok(value.to_owned())
    }
}

fn set(next: &mut Submission, field: &'static str, value: &str) -> Result<(), &'static str> {
    let form = next.form();
    let text = || within(form, field, value);
    let phone = || {
        within(form, field, value)?;
        phone_e164(value).ok_or("invalid")
    };
    match next {
        Submission::Signup(s) => match field {
            "name" => s.name = text()?,
            "phone" => s.phone = Some(phone()?),
            "zip" => {
                if value.len() != 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("invalid");
                }
                if zips::find(value).is_none() {
                    return Err("not_in_county");
                }
                s.zip = value.to_owned();
            }
            "neighborhood" => s.neighborhood = Some(text()?),
            "availability" => s.availability = Some(text()?),
            "household_size" => {
                let n = mutualaid_forms::input::whole_number(value).ok_or("invalid")?;
                if !(HOUSEHOLD_MIN..=HOUSEHOLD_MAX).contains(&n) {
                    return Err("out_of_range");
                }
                s.household_size = u8::try_from(n).ok();
            }
            "notes" => s.notes = Some(text()?),
            "households" => {
                if !mutualaid_forms::spec::HOUSEHOLDS.contains(&value) {
                    return Err("invalid");
                }
                s.households = value.parse().ok();
            }
            _ => {}
        },
        Submission::Donate(d) => match field {
            "name" => d.name = text()?,
            "phone" => d.phone = Some(phone()?),
            "amount" => d.amount = Some(text()?),
            "message" => d.message = Some(text()?),
            _ => {}
        },
    }
    Ok(())
}

/// What came of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// Saved as the record's next version.
    Saved,
    /// It changed nothing.
    Nothing,
    /// It would have given the record another record's identity: nothing
    /// applied, the digest told.
    Clash,
    /// The record changed since the version the page showed (or is gone).
    Moved,
}

/// Saves `next` as record `person`'s details, over the version read: its
/// identity keys claimed (a key another record holds: [`Changed::Clash`]),
/// its contacts listed, the change recorded as the person's.
pub async fn change<S: IntakeStore>(
    store: &S,
    person: &Person,
    next: Submission,
    now: Timestamp,
) -> Result<Changed, StoreError> {
    if next == person.submission {
        return Ok(Changed::Nothing);
    }
    let keys = next.identity_keys();
    let held = store.holders(&keys).await?;
    if held.iter().any(|(_, other)| other.id != person.id) {
        let action =
            CaseAction::about_record(person, ActionKind::IdentityClash, Actor::Person, now);
        let plan = crate::store::Plan {
            writes: vec![crate::store::Write::Action(action)],
        };
        store.carry_out(&plan).await?;
        return Ok(Changed::Clash);
    }
    let identities = own_or_free(store, person, keys, &held).await?;
    let after = Person {
        former_contacts: person.former_contacts_after(&next, now),
        submission: next,
        identities,
        updated_at: now,
        version: person.version + 1,
        ..person.clone()
    };
    let action = CaseAction::about_record(&after, ActionKind::DetailsChanged, Actor::Person, now);
    match store
        .carry_out(&plan::record_change(&after, person, None, Some(&action)))
        .await
    {
        Ok(()) => Ok(Changed::Saved),
        Err(StoreError::Conflict) => Ok(Changed::Moved),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maria() -> Submission {
        Submission::Signup(mutualaid_forms::Signup {
            name: "Maria Abuela".into(),
            email: Some("maria@example.org".into()),
            phone: Some("+16195550199".into()),
            contact_method: mutualaid_forms::ContactMethod::Phone,
            zip: "92105".into(),
            neighborhood: None,
            roles: vec![mutualaid_forms::Role::Delivery],
            languages: vec![],
            availability: None,
            has_car: false,
            households: None,
            household_size: Some(2),
            notes: Some("3rd floor".into()),
            lang: mutualaid_forms::Lang::EN,
        })
    }

    fn posted(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_empty_field_keeps_its_value_and_a_filled_one_replaces_it() {
        let next = apply(
            &maria(),
            &posted(&[
                ("zip", "92115"),
                ("notes", "  "),
                ("name", ""),
                ("phone", "619 555 0100"),
            ]),
        )
        .expect("valid");
        let Submission::Signup(s) = next else {
            panic!("a sign-up")
        };
        assert_eq!(s.zip, "92115");
        assert_eq!(s.notes.as_deref(), Some("3rd floor"));
        assert_eq!(s.name, "Maria Abuela");
        assert_eq!(s.phone.as_deref(), Some("+16195550100"));
    }

    #[test]
    fn values_the_form_would_refuse_are_named_in_field_order() {
        let problems = apply(
            &maria(),
            &posted(&[("household_size", "40"), ("zip", "10001"), ("phone", "12")]),
        )
        .expect_err("refused");
        assert_eq!(
            problems,
            [
                ("phone", "invalid"),
                ("zip", "not_in_county"),
                ("household_size", "out_of_range")
            ]
        );
    }
}
