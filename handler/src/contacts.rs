//! Pending contacts, confirmed or dropped.
//!
//! A sign-up on the public form that matches a record but brings an email
//! or phone the record has not confirmed keeps it **pending** beside the
//! confirmed one ([`crate::domain::held_contacts`]): introductions, offers
//! and the private link use only confirmed contacts, the new address's
//! receipt opens a held page, and the confirmed email is asked "was this
//! you?". Here the answer is carried out, by the person on their own page
//! or by an organizer who reached them (`mutualaid contacts confirm|drop`,
//! the digest function's `{"contacts": {"confirm" | "drop": RECORD}}`):
//!
//! - **confirm**: the pending contacts become the record's; every link of
//!   the old email and every held link is thrown away, and a new confirmed
//!   email gets the first link to the page;
//! - **drop**: the pending contacts go, and what the unconfirmed changes
//!   replaced comes back from the kept version before them (a field the
//!   person changed since keeps its value); the held links of the pending
//!   address go with them, and a request those changes opened for help the
//!   record does not ask for is closed. Nothing is blocked or revoked for
//!   that address: it may simply have been mistyped.

use crate::domain::{own_or_free, suppressed};
use crate::store::message::{LinkedMessage, MessageKind};
use crate::store::{
    ActionKind, Actor, AdminStore, CaseAction, CloseReason, IntakeStore, Person, StoreError,
    Timestamp, plan,
};

/// An answer to "was this you?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// "Yes, that was me".
    Confirm,
    /// "I didn't make this change".
    Drop,
}

/// What came of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// Carried out.
    Done,
    /// The record has no pending contact (decided already, or none came).
    NothingPending,
    /// The record changed since the version the page showed: nothing done.
    Moved,
    /// No such record.
    NoRecord,
}

/// How often a decision is tried again when the record changes meanwhile
/// (only when no version was shown).
const ATTEMPTS: usize = 5;

/// Carries out `decision` on record `person_id`'s pending contact, by
/// `by` at `now` — only over `shown` (the version a page showed), if given.
pub async fn decide<S: IntakeStore + AdminStore>(
    store: &S,
    person_id: &str,
    shown: Option<u64>,
    decision: Decision,
    by: Actor,
    now: Timestamp,
) -> Result<Decided, StoreError> {
    for _ in 0..ATTEMPTS {
        let person = match store.person(person_id).await? {
            Some(person) => person,
            None => return Ok(Decided::NoRecord),
        };
        if shown.is_some_and(|v| v != person.version) {
            return Ok(Decided::Moved);
        }
        let Some(pending) = person.pending_contact.clone() else {
            return Ok(Decided::NothingPending);
        };
        let submission = match decision {
            Decision::Confirm => pending.applied_to(&person.submission),
            Decision::Drop => pending.undone_on(&person.submission),
        };
        let identities = own_or_free(store, &person, submission.identity_keys(), &[]).await?;
        // Verified belongs to one address: a new one starts unverified.
        let verified_email = person
            .verified_email
            .clone()
            .filter(|v| Some(v.as_str()) == submission.email());
        let next = Person {
            former_contacts: person.former_contacts_after(&submission, now),
            submission,
            identities,
            updated_at: now,
            version: person.version + 1,
            pending_contact: None,
            verified_email,
            ..person.clone()
        };
        let (kind, dropped, mail) = match decision {
            Decision::Confirm => {
                let new_email = next
                    .submission
                    .email()
                    .filter(|e| Some(*e) != person.submission.email());
                let mail = match new_email {
                    Some(to) if !suppressed(store, to).await? => Some(LinkedMessage::new(
                        &next,
                        to,
                        MessageKind::LinkAgain,
                        "",
                        false,
                        now,
                    )),
                    _ => None,
                };
                // Every held link, and every link of an address that is
                // not the confirmed email now.
                let dropped = links_where(store, &person.id, |held, address| {
                    held || Some(address) != next.submission.email()
                })
                .await?;
                (ActionKind::ContactConfirmed, dropped, mail)
            }
            Decision::Drop => {
                let pending_email = pending.email.as_deref();
                let dropped = links_where(store, &person.id, |held, address| {
                    held && Some(address) == pending_email
                })
                .await?;
                (ActionKind::ContactDropped, dropped, None)
            }
        };
        let action = CaseAction::about_record(&next, kind, by, now);
        let change = plan::record_change(&next, &person, mail.as_ref(), Some(&action));
        match store.carry_out(&change).await {
            Ok(()) => {}
            Err(StoreError::Conflict) if shown.is_some() => return Ok(Decided::Moved),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
        // After the change: a link of an address that is no longer the
        // record's confirmed email acts no more anyway.
        drop_links(store, &person.id, &dropped).await?;
        if decision == Decision::Drop {
            close_unasked(store, &next, pending.since, by, now).await?;
        }
        return Ok(Decided::Done);
    }
    Err(StoreError::Unavailable(
        "the record kept changing; gave up after retries".into(),
    ))
}

/// After a drop: closes (as withdrawn, by `by`) each request opened since
/// `since` — by a submission nobody confirmed — for help the record, put
/// back, does not ask for. A stranger's ticked box leaves no request
/// behind; a request the person asked for stays.
async fn close_unasked<S: IntakeStore + AdminStore>(
    store: &S,
    person: &Person,
    since: Timestamp,
    by: Actor,
    now: Timestamp,
) -> Result<(), StoreError> {
    for case in store.cases_of(&person.id).await? {
        if case.state.is_active()
            && case.opened_at >= since
            && !person.submission.asks_for(case.kind)
        {
            // A case that moved meanwhile is an organizer's to look at.
            let _ = crate::cases::act(
                store,
                &case.id,
                Some(case.version),
                crate::cases::Act::Close(CloseReason::Withdrawn),
                now,
                usize::MAX,
                by,
            )
            .await?;
        }
    }
    Ok(())
}

/// The hashes of record `person_id`'s links for which `which(held, address)`
/// says so.
async fn links_where<S: IntakeStore + AdminStore>(
    store: &S,
    person_id: &str,
    which: impl Fn(bool, &str) -> bool,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for hash in store.kept(person_id).await?.page_links {
        if let Some(link) = store.page_link(&hash).await?
            && which(link.held.is_some(), &link.address)
        {
            out.push(hash);
        }
    }
    Ok(out)
}

/// Revokes every private link of record `person_id` (`mutualaid link
/// revoke`): its pages open no more, held or not; "Email me my link
/// again" still mails its confirmed email a new one. Returns how many
/// there were, or `None` when there is no such record.
pub async fn revoke_links<S: IntakeStore + AdminStore>(
    store: &S,
    person_id: &str,
) -> Result<Option<usize>, StoreError> {
    let kept = store.kept(person_id).await?;
    if !kept.record {
        return Ok(None);
    }
    drop_links(store, person_id, &kept.page_links).await?;
    Ok(Some(kept.page_links.len()))
}

/// Throws away record `person_id`'s links `hashes`.
async fn drop_links<S: IntakeStore>(
    store: &S,
    person_id: &str,
    hashes: &[String],
) -> Result<(), StoreError> {
    for step in plan::dropped_links(person_id, hashes) {
        match store.carry_out(&step).await {
            // A link already gone is gone.
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
