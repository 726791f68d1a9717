//! The domain: what happens to a valid submission, with no HTTP inside.
//!
//! [`accept`] finds the person by their normalised email or phone and decides:
//! **created** (nobody had those contacts), **unchanged** (the same content
//! again: nothing written, nothing new in the digest) or **updated** (the
//! changes are kept for the digest). It retries on a concurrent write, so two
//! first submissions by one person at once give one record.

use serde::Serialize;

use crate::store::{Change, Counter, FIELDS, Person, Store, StoreError, Submission, Timestamp};

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

/// What changed between two submissions, field by field, as text.
pub fn changes(old: &Submission, new: &Submission) -> Vec<Change> {
    if old.form() != new.form() {
        return vec![Change {
            field: "form".into(),
            from: old.form().key().into(),
            to: new.form().key().into(),
        }];
    }
    FIELDS
        .iter()
        .zip(old.field_texts())
        .zip(new.field_texts())
        .filter(|((_, from), to)| from != to)
        .map(|((field, from), to)| Change {
            field: (*field).to_owned(),
            from,
            to,
        })
        .collect()
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
