//! The domain: what happens to a valid submission, with no HTTP inside.
//!
//! [`accept`] finds the person by their normalised email or phone and decides:
//! **created** (nobody had those contacts), **unchanged** (the same content
//! again: nothing written, nothing new in the digest) or **updated** (the
//! changes are kept for the digest). It retries on a concurrent write, so two
//! first submissions by one person at once give one record.

use mutualaid_forms::{Donation, Signup};
use serde::Serialize;

use crate::store::{Change, Counter, Person, Store, StoreError, Submission, Timestamp};

/// What became of an accepted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new person.
    Created,
    /// A person's details changed.
    Updated,
    /// The same as what was stored.
    Unchanged,
}

impl Outcome {
    /// The counter this outcome adds to.
    pub fn counter(self) -> Counter {
        match self {
            Outcome::Created => Counter::Created,
            Outcome::Updated => Counter::Updated,
            Outcome::Unchanged => Counter::Unchanged,
        }
    }
}

/// The answer to an accepted submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The person's record id.
    pub id: String,
    /// created, updated or unchanged.
    pub status: Outcome,
}

/// How long a record is kept, from its last change.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Days.
    pub days: u32,
}

/// Attempts before giving up on a record that keeps changing under us.
const ATTEMPTS: usize = 8;

fn text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn push(changes: &mut Vec<Change>, field: &str, from: String, to: String) {
    if from != to {
        changes.push(Change {
            field: field.to_owned(),
            from,
            to,
        });
    }
}

fn signup_changes(old: &Signup, new: &Signup) -> Vec<Change> {
    let mut c = Vec::new();
    push(&mut c, "name", old.name.clone(), new.name.clone());
    push(
        &mut c,
        "email",
        text(old.email.as_ref()),
        text(new.email.as_ref()),
    );
    push(
        &mut c,
        "phone",
        text(old.phone.as_ref()),
        text(new.phone.as_ref()),
    );
    push(
        &mut c,
        "contact_method",
        format!("{:?}", old.contact_method).to_lowercase(),
        format!("{:?}", new.contact_method).to_lowercase(),
    );
    push(&mut c, "zip", old.zip.clone(), new.zip.clone());
    push(
        &mut c,
        "neighborhood",
        text(old.neighborhood.as_ref()),
        text(new.neighborhood.as_ref()),
    );
    push(&mut c, "roles", old.roles.join(", "), new.roles.join(", "));
    push(
        &mut c,
        "languages",
        old.languages.join(", "),
        new.languages.join(", "),
    );
    push(
        &mut c,
        "availability",
        text(old.availability.as_ref()),
        text(new.availability.as_ref()),
    );
    push(
        &mut c,
        "has_car",
        old.has_car.to_string(),
        new.has_car.to_string(),
    );
    push(
        &mut c,
        "household_size",
        text(old.household_size),
        text(new.household_size),
    );
    push(
        &mut c,
        "notes",
        text(old.notes.as_ref()),
        text(new.notes.as_ref()),
    );
    push(
        &mut c,
        "lang",
        old.lang.code().to_owned(),
        new.lang.code().to_owned(),
    );
    c
}

fn donation_changes(old: &Donation, new: &Donation) -> Vec<Change> {
    let mut c = Vec::new();
    push(&mut c, "name", old.name.clone(), new.name.clone());
    push(&mut c, "email", old.email.clone(), new.email.clone());
    push(
        &mut c,
        "phone",
        text(old.phone.as_ref()),
        text(new.phone.as_ref()),
    );
    push(
        &mut c,
        "frequency",
        format!("{:?}", old.frequency).to_lowercase(),
        format!("{:?}", new.frequency).to_lowercase(),
    );
    push(&mut c, "amount", text(old.amount), text(new.amount));
    push(
        &mut c,
        "message",
        text(old.message.as_ref()),
        text(new.message.as_ref()),
    );
    push(
        &mut c,
        "lang",
        old.lang.code().to_owned(),
        new.lang.code().to_owned(),
    );
    c
}

/// What changed between two submissions of the same form.
pub fn changes(old: &Submission, new: &Submission) -> Vec<Change> {
    match (old, new) {
        (Submission::Signup(a), Submission::Signup(b)) => signup_changes(a, b),
        (Submission::Donate(a), Submission::Donate(b)) => donation_changes(a, b),
        _ => vec![Change {
            field: "form".into(),
            from: old.form().key().into(),
            to: new.form().key().into(),
        }],
    }
}

/// Stores a valid submission: created, updated or unchanged. Returns only
/// after the store has durably accepted the write (or found nothing to write).
pub async fn accept<S: Store>(
    store: &S,
    submission: Submission,
    now: Timestamp,
    retention: Retention,
) -> Result<Accepted, StoreError> {
    let contacts = submission.contact_keys();
    let expires_at = now + i64::from(retention.days) * 86_400;
    for _ in 0..ATTEMPTS {
        let found = store.find(&contacts).await?;
        // Contacts another person owns stay theirs (email and phone may point at two records).
        let owned_elsewhere: Vec<String> = found
            .iter()
            .skip(1)
            .flat_map(|p| p.contacts.iter().cloned())
            .collect();
        let result = match found.into_iter().next() {
            None => {
                let person = Person {
                    id: uuid::Uuid::now_v7().to_string(),
                    submission: submission.clone(),
                    contacts: contacts.clone(),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    changes: Vec::new(),
                    expires_at,
                };
                store.create(&person).await.map(|()| Accepted {
                    id: person.id,
                    status: Outcome::Created,
                })
            }
            Some(existing) if existing.submission == submission => {
                return Ok(Accepted {
                    id: existing.id,
                    status: Outcome::Unchanged,
                });
            }
            Some(existing) => {
                let wanted: Vec<String> = contacts
                    .iter()
                    .filter(|c| !owned_elsewhere.contains(c))
                    .cloned()
                    .collect();
                let released: Vec<String> = existing
                    .contacts
                    .iter()
                    .filter(|c| !wanted.contains(c))
                    .cloned()
                    .collect();
                let claimed: Vec<String> = wanted
                    .iter()
                    .filter(|c| !existing.contacts.contains(c))
                    .cloned()
                    .collect();
                let person = Person {
                    changes: changes(&existing.submission, &submission),
                    submission: submission.clone(),
                    contacts: wanted,
                    updated_at: now,
                    version: existing.version + 1,
                    expires_at,
                    ..existing
                };
                store
                    .replace(&person, person.version - 1, &released, &claimed)
                    .await
                    .map(|()| Accepted {
                        id: person.id,
                        status: Outcome::Updated,
                    })
            }
        };
        match result {
            Err(StoreError::Conflict) => continue,
            other => return other,
        }
    }
    Err(StoreError::Unavailable(
        "the record kept changing; gave up after retries".into(),
    ))
}

/// The UTC day of a timestamp, `YYYY-MM-DD`, for counters.
pub fn day(now: Timestamp) -> String {
    jiff::Timestamp::from_second(now)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}
