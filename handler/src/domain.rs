//! The domain: what happens to a valid submission, with no HTTP inside.
//!
//! **Same person** = the same name as written
//! ([`mutualaid_forms::normalize::name_key`]: NFKC, case folded, whitespace
//! collapsed; no mark removed) **and** the same email or phone, on the
//! same form. A rule never decides more than that. [`accept`] looks the
//! submission's identity keys up (and, while the store may still hold keys
//! of the rule before, their legacy twins — a record found by one is the
//! same person only if its name is this one as written, and the update
//! re-keys it):
//!
//! - nobody holds them → a **new record** (even if another record shares the
//!   phone or email: a household or a borrowed phone stays two people, and
//!   the digest shows the link). If that record's Latin name differs from
//!   the new one's only in accents, the new record's standing asks "maybe
//!   the same person?" — written with it — until an organizer answers
//!   "merge" or "two people";
//! - a record holds one (the email's holder first, if the email and the
//!   phone point at two records) → an **update** of that record with
//!   [`Submission::merged_onto`] (an optional field left empty keeps its
//!   earlier value); identical content is **unchanged** and writes nothing
//!   but the log entry. An identity key another record holds stays with it.
//!
//! No submission rewrites or releases another record. Every accepted
//! submission gets a random reference and a log entry. Concurrent writes
//! are retried, so two first submissions of one person at once give one
//! record.
//!
//! **Cases**: each kind of help a submission asks for (groceries delivered,
//! money for groceries) opens a case unless the person already has one of
//! that kind that is not closed — written in the same atomic operation. A
//! person who asks again after their case was closed gets a new case, which
//! remembers when the last one closed.

use mutualaid_forms::normalize::{differ_only_in_accents, name_key};

use crate::store::message::{
    LinkedMessage, MessageKind, RECEIPT_WINDOW, RECEIPTS_PER_ADDRESS, Receipt, tally_key,
};
use crate::store::{
    Admission, Case, CaseAction, CaseKind, Change, FIELDS, IntakeStore, LogEntry, Outcome,
    PendingContact, Person, Standing, StoreError, Submission, SubmissionWrite, Timestamp, plan,
};

/// The answer to an accepted submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// This submission's reference (random; not the record's id).
    pub reference: String,
    /// The record it landed on (for the log and tests; never sent back).
    pub person_id: String,
    /// Created, updated or unchanged (for the counters; never sent back).
    pub outcome: Outcome,
}

/// How long a record is kept: from the latest of its last submission and
/// its last case change, and never while it has a case that is not closed
/// (SQLite's purge asks that; on DynamoDB a case change and each digest
/// move the TTL).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Days.
    pub days: u32,
}

/// Attempts before giving up on a record that keeps changing under us.
const ATTEMPTS: usize = 8;

/// Crockford's base-32 alphabet: no I, L, O or U, so a reference read over
/// the phone is not misheard.
const REFERENCE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new submission reference: 60 random bits as `XXXX-XXXX-XXXX`. Random,
/// so it tells nothing about the person, their record or when they first
/// signed up.
pub fn new_reference() -> String {
    let bits = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .expect("8 bytes"),
    );
    let chars: Vec<char> = (0..12)
        .map(|i| REFERENCE_ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

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

/// The cases `submission` opens for `person_id`, given their cases so far.
fn new_cases(
    person_id: &str,
    submission: &Submission,
    earlier: &[Case],
    now: Timestamp,
    expires_at: Timestamp,
) -> Vec<Case> {
    CaseKind::ALL
        .into_iter()
        .filter(|kind| submission.asks_for(*kind))
        .filter(|kind| {
            !earlier
                .iter()
                .any(|c| c.kind == *kind && c.state.is_active())
        })
        .map(|kind| {
            let last_closed = earlier
                .iter()
                .filter(|c| c.kind == kind)
                .filter_map(|c| c.closed.map(|(at, _)| at))
                .max();
            Case::open(person_id, kind, now, last_closed, expires_at)
        })
        .collect()
}

/// Stores a valid submission: created, updated or unchanged. Returns only
/// after the store has durably accepted the write (the log entry, at least).
pub async fn accept<S: IntakeStore>(
    store: &S,
    submission: Submission,
    now: Timestamp,
    retention: Retention,
) -> Result<Accepted, StoreError> {
    let wanted = submission.identity_keys();
    let legacy = if store.may_hold_legacy_identities().await? {
        submission.legacy_identity_keys()
    } else {
        Vec::new()
    };
    let own_name = name_key(submission.name());
    let expires_at = now + i64::from(retention.days) * 86_400;
    for _ in 0..ATTEMPTS {
        let reference = new_reference();
        let holders = store.holders(&[&wanted[..], &legacy[..]].concat()).await?;
        // The email's holder first: `wanted` is in contact order, email first.
        // A legacy key's holder is this person only under their name as written.
        let holder_of = |key: &String| holders.iter().find(|(k, _)| k == key);
        let target = (0..wanted.len())
            .find_map(|at| {
                holder_of(&wanted[at]).or_else(|| {
                    legacy
                        .get(at)
                        .and_then(holder_of)
                        .filter(|(_, p)| name_key(p.submission.name()) == own_name)
                })
            })
            .map(|(_, p)| p.clone());
        let log = |person: &Person, outcome| LogEntry {
            reference: reference.clone(),
            person_id: person.id.clone(),
            at: now,
            form: submission.form(),
            outcome,
            version: person.version,
        };
        let result = match target {
            None => {
                let person = Person {
                    id: uuid::Uuid::now_v7().to_string(),
                    submission: submission.clone(),
                    identities: wanted.clone(),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    reported_version: 0,
                    expires_at,
                    former_contacts: Vec::new(),
                    pending_contact: None,
                    verified_email: None,
                };
                let entry = log(&person, Outcome::Created);
                let cases = new_cases(&person.id, &submission, &[], now, expires_at);
                let question = maybe_same_person(store, &submission)
                    .await?
                    .map(|other| Standing {
                        person_id: person.id.clone(),
                        maybe_same_as: Some(other),
                        version: 1,
                        changed_at: now,
                        expires_at,
                        ..Standing::default()
                    });
                let receipt = receipt_for(store, &person, &submission, None, &entry, now).await?;
                let write = SubmissionWrite {
                    person: &person,
                    log: &entry,
                    new_cases: &cases,
                    standing: question.as_ref(),
                    receipt: receipt.as_ref(),
                    notice: None,
                    security: None,
                };
                store.carry_out(&plan::create(write)).await.map(|()| entry)
            }
            Some(existing) => {
                // Contacts the record has not confirmed wait beside it.
                let sent = submission.merged_onto(&existing.submission);
                let (merged, pending) = held_contacts(&existing, &sent, now);
                let earlier = store.cases_of(&existing.id).await?;
                if merged == existing.submission && pending == existing.pending_contact {
                    let entry = log(&existing, Outcome::Unchanged);
                    let cases =
                        new_cases(&existing.id, &merged, &earlier, now, existing.expires_at);
                    let write = SubmissionWrite {
                        person: &existing,
                        log: &entry,
                        new_cases: &cases,
                        standing: None,
                        receipt: None,
                        notice: None,
                        security: None,
                    };
                    store
                        .carry_out(&plan::unchanged(write))
                        .await
                        .map(|()| entry)
                } else {
                    // Keys of the merged record and of the contacts it waits
                    // on: its own, or free; never another's.
                    let mut keys = merged.identity_keys();
                    for key in sent.identity_keys() {
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                    let identities = own_or_free(store, &existing, keys, &holders).await?;
                    let person = Person {
                        former_contacts: existing.former_contacts_after(&merged, now),
                        submission: merged,
                        identities,
                        updated_at: now,
                        version: existing.version + 1,
                        expires_at,
                        pending_contact: pending,
                        ..existing.clone()
                    };
                    let entry = log(&person, Outcome::Updated);
                    let cases =
                        new_cases(&person.id, &person.submission, &earlier, now, expires_at);
                    let receipt =
                        receipt_for(store, &person, &submission, Some(&existing), &entry, now)
                            .await?;
                    // A contact the record did not have, from the public
                    // form: its confirmed email is told, organizers call —
                    // once per new contact, not again for each resend of it
                    // with other notes (outside the receipts' caps, a
                    // notice must not be a way to flood an inbox).
                    let contacts = |p: &Option<crate::store::PendingContact>| {
                        p.as_ref().map(|p| (p.email.clone(), p.phone.clone()))
                    };
                    let changed =
                        contacts(&person.pending_contact) != contacts(&existing.pending_contact);
                    let notice = changed.then(|| CaseAction::email_changed(&person, now));
                    let security = if changed {
                        security_notice(store, &person, &entry, now).await?
                    } else {
                        None
                    };
                    let write = SubmissionWrite {
                        person: &person,
                        log: &entry,
                        new_cases: &cases,
                        standing: None,
                        receipt: receipt.as_ref(),
                        notice: notice.as_ref(),
                        security: security.as_ref(),
                    };
                    store
                        .carry_out(&plan::update(write, &existing))
                        .await
                        .map(|()| entry)
                }
            }
        };
        match result {
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
            Ok(entry) => {
                return Ok(Accepted {
                    reference: entry.reference,
                    person_id: entry.person_id,
                    outcome: entry.outcome,
                });
            }
        }
    }
    Err(StoreError::Unavailable(
        "the record kept changing; gave up after retries".into(),
    ))
}

/// `sent` (a submission merged onto `existing`'s record) split into what
/// the record becomes and the contacts it waits on: an email or phone the
/// record has not confirmed stays **pending** beside the confirmed one
/// (whoever sent the form may know only the person's name and one
/// contact), with the kept version it would replace. Contacts already
/// pending and not sent again stay pending.
pub fn held_contacts(
    existing: &Person,
    sent: &Submission,
    now: Timestamp,
) -> (Submission, Option<PendingContact>) {
    let confirmed = &existing.submission;
    let before = existing.pending_contact.as_ref();
    let new_email = sent
        .email()
        .filter(|e| Some(*e) != confirmed.email())
        .map(str::to_owned);
    let new_phone = sent
        .phone()
        .filter(|p| Some(*p) != confirmed.phone())
        .map(str::to_owned);
    let brought = new_email.is_some() || new_phone.is_some();
    let email = new_email.or_else(|| before.and_then(|p| p.email.clone()));
    let phone = new_phone.or_else(|| before.and_then(|p| p.phone.clone()));
    let merged = sent.with_contacts(confirmed.email(), confirmed.phone());
    if email.is_none() && phone.is_none() {
        return (merged, None);
    }
    let pending = match before {
        Some(p) => PendingContact {
            email,
            phone,
            // A submission with confirmed contacts only is the person's own.
            after: if brought {
                merged.clone()
            } else {
                p.after.clone()
            },
            ..p.clone()
        },
        None => PendingContact {
            email,
            phone,
            since: now,
            before: confirmed.clone(),
            after: merged.clone(),
        },
    };
    (merged, Some(pending))
}

/// Of `keys`, those `existing` may hold: its own, or held by nobody (`read`
/// holds what was read of some already). Never another record's.
pub(crate) async fn own_or_free<S: IntakeStore>(
    store: &S,
    existing: &Person,
    keys: Vec<String>,
    read: &[(String, Person)],
) -> Result<Vec<String>, StoreError> {
    let unknown: Vec<String> = keys
        .iter()
        .filter(|k| !read.iter().any(|(h, _)| h == *k))
        .cloned()
        .collect();
    let mut held = read.to_vec();
    if !unknown.is_empty() {
        held.extend(store.holders(&unknown).await?);
    }
    Ok(keys
        .into_iter()
        .filter(|k| {
            held.iter()
                .find(|(h, _)| h == k)
                .is_none_or(|(_, p)| p.id == existing.id)
        })
        .collect())
}

/// The receipt a submission (`sent`, stored as `entry` on `person`) sends
/// to the address it gave: "we got your sign-up" for a new record, "we got
/// your change" to a record's confirmed email; none without an email, for
/// an unchanged resubmission, or when the address has had its
/// [`RECEIPTS_PER_ADDRESS`] for the day. It carries ids only, and its
/// address's tally is written with it, over the version read (a receipt to
/// the same address between is a conflict: read again).
///
/// Nothing goes to an address that said "this wasn't me".
///
/// An update that brings an email the record has not confirmed (`before`'s)
/// gets the receipt of a first sign-up, word for word, with a **held**
/// link: whoever typed that address may be someone who knows a neighbour's
/// name and phone, and must learn nothing a first sign-up would not show —
/// not even that the neighbour is on record.
async fn receipt_for<S: IntakeStore>(
    store: &S,
    person: &Person,
    sent: &Submission,
    before: Option<&Person>,
    entry: &LogEntry,
    now: Timestamp,
) -> Result<Option<Receipt>, StoreError> {
    let Some(to) = sent.email() else {
        return Ok(None);
    };
    let known_address = before.and_then(|p| p.submission.email()) == Some(to);
    let kind = match entry.outcome {
        Outcome::Updated if known_address => MessageKind::ChangeReceipt,
        Outcome::Created | Outcome::Updated => MessageKind::Receipt,
        Outcome::Unchanged => return Ok(None),
    };
    if suppressed(store, to).await? {
        return Ok(None);
    }
    let key = tally_key(to);
    let tally = match store
        .rate_ring(&key)
        .await?
        .admit(now, RECEIPTS_PER_ADDRESS, RECEIPT_WINDOW)
    {
        Admission::Admitted(tally) => tally,
        Admission::Limited { .. } => return Ok(None),
    };
    // Held: an address new to an existing record (see `page_link`); its
    // page shows what this form asked, never what the record asks later.
    let held = before.is_some() && !known_address;
    let mut mail = LinkedMessage::new(person, to, kind, &entry.reference, held, now);
    if let Some(page) = &mut mail.link.held {
        page.sent = true;
        page.delivery = sent.asks_for(crate::store::CaseKind::Delivery);
        page.funding = sent.asks_for(crate::store::CaseKind::Funding);
        page.shopper = sent.has_role(mutualaid_forms::Role::Shopper);
    }
    Ok(Some(Receipt {
        mail,
        tally_key: key,
        tally,
    }))
}

/// Whether `address` said "this wasn't me": it gets nothing more, from any
/// form or message kind.
pub(crate) async fn suppressed<S: IntakeStore>(
    store: &S,
    address: &str,
) -> Result<bool, StoreError> {
    let address_key = store.address_key().await?;
    store.suppressed(&address_key.hash(address)).await
}

/// The security notice to `person`'s confirmed email when the public form
/// brought a contact it has not confirmed: "the contact on your sign-up was
/// changed", with a new link to their page, where "Yes, that was me" and
/// "I didn't make this change" wait. Outside the receipts' caps; none
/// without a confirmed email (the digest says whom to call) or to an
/// address that said "this wasn't me".
async fn security_notice<S: IntakeStore>(
    store: &S,
    person: &Person,
    entry: &LogEntry,
    now: Timestamp,
) -> Result<Option<LinkedMessage>, StoreError> {
    let Some(to) = person.submission.email() else {
        return Ok(None);
    };
    if suppressed(store, to).await? {
        return Ok(None);
    }
    Ok(Some(LinkedMessage::new(
        person,
        to,
        MessageKind::ContactChanged,
        &entry.reference,
        false,
        now,
    )))
}

/// The record that `submission` (about to be a new record) may be the same
/// person as: one that shares its phone or email on the same form and whose
/// Latin name differs from its name only in accents
/// ([`differ_only_in_accents`]). An organizer decides; until then the new
/// record's requests are not suggested for pairing.
async fn maybe_same_person<S: IntakeStore>(
    store: &S,
    submission: &Submission,
) -> Result<Option<String>, StoreError> {
    let mut seen: Vec<String> = Vec::new();
    for (_, id) in store.sharing(&submission.contact_keys()).await? {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id.clone());
        match store.person(&id).await {
            Ok(Some(other))
                if differ_only_in_accents(other.submission.name(), submission.name()) =>
            {
                return Ok(Some(id));
            }
            Ok(_) | Err(StoreError::Unreadable { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The UTC day of a timestamp, `YYYY-MM-DD`, for counters.
pub fn day(now: Timestamp) -> String {
    jiff::Timestamp::from_second(now)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_random_readable_and_unambiguous() {
        let a = new_reference();
        let b = new_reference();
        assert_ne!(a, b);
        assert_eq!(a.len(), 14);
        assert!(
            a.chars()
                .all(|c| c == '-' || REFERENCE_ALPHABET.contains(&(c as u8)))
        );
        assert!(!a.contains(['I', 'L', 'O', 'U']));
    }
}
