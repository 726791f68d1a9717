//! Erasure on request: a person asks (by email, or by phone) to have their
//! data deleted, and an organizer runs `mutualaid delete` (or invokes the
//! `digest` function with a delete event in AWS).
//!
//! The records holding that email or phone are listed first. A phone is
//! often shared — a household, a borrowed phone — so when more than one
//! record holds it, nothing is deleted until one is picked by id: Jose
//! asking to be deleted must not delete Maria. The record picked is deleted
//! with every version, its submission log entries, its identity keys,
//! contacts, cases and standing ([`remove_record`]). A case it was matched
//! to *as a volunteer* belongs to someone else: it goes back to open, and
//! the next digest says so. Anyone merged into it gets their own requests
//! back first (the merge undone). What stays: the organizers' action history,
//! which names records only by their random ids, and mail already sent.

use mutualaid_forms::FormId;
use mutualaid_forms::normalize;

use crate::store::{
    AdminStore, Case, CaseAction, CaseChange, ContactKind, Erased, Person, Planner, StoreError,
    Timestamp, Write, plan,
};

/// How the person asking is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// An email address, normalized.
    Email(String),
    /// A phone number, E.164.
    Phone(String),
}

impl Contact {
    /// An email as a person gives it.
    pub fn email(raw: &str) -> Option<Contact> {
        let email = normalize::email(raw);
        email.contains('@').then_some(Contact::Email(email))
    }

    /// A phone number as a person gives it, if it is one.
    pub fn phone(raw: &str) -> Option<Contact> {
        normalize::phone_e164(raw).map(Contact::Phone)
    }

    /// Its contact keys on every form.
    pub fn keys(&self) -> Vec<String> {
        FormId::ALL
            .iter()
            .map(|form| match self {
                Contact::Email(e) => ContactKind::Email.key(*form, e),
                Contact::Phone(p) => ContactKind::Phone.key(*form, p),
            })
            .collect()
    }
}

/// A record that holds the contact, as an organizer picks among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A record as stored, that gives the contact today.
    Record(Box<Person>),
    /// A record that gave the contact once and no longer does (a kept
    /// version still holds it), and until when: someone else may hold that
    /// contact now, so it is deleted only when picked.
    Former(Box<Person>, Timestamp),
    /// A record that is there but does not decode (a damaged item): named
    /// by its id only, and deleted like any other.
    Unreadable(String),
}

impl Holder {
    /// The record's id.
    pub fn id(&self) -> &str {
        match self {
            Holder::Record(p) | Holder::Former(p, _) => &p.id,
            Holder::Unreadable(id) => id,
        }
    }
}

/// Every record that holds `contact`: those that read and give it today,
/// oldest first; then those that gave it once (the former-contact index),
/// with until when; then any that does not decode (so that a damaged record
/// can still be deleted at its person's request).
pub async fn records_with<S: AdminStore>(
    store: &S,
    contact: &Contact,
) -> Result<Vec<Holder>, StoreError> {
    let mut ids: Vec<String> = store
        .sharing(&contact.keys())
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    ids.sort();
    ids.dedup();
    let mut people = Vec::new();
    let mut unreadable = Vec::new();
    for id in ids {
        match store.person(&id).await {
            Ok(Some(p)) => people.push(p),
            Ok(None) => {}
            Err(StoreError::Unreadable { .. }) => unreadable.push(Holder::Unreadable(id)),
            Err(e) => return Err(e),
        }
    }
    people.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    // Records that gave it once (the former-contact index: deletion only).
    let mut former: Vec<(String, Timestamp)> = Vec::new();
    for (_, id, until) in store.former_holders(&contact.keys()).await? {
        if people.iter().any(|p| p.id == id) || unreadable.iter().any(|h| h.id() == id) {
            continue; // it gives the contact today
        }
        match former.iter_mut().find(|(f, _)| *f == id) {
            Some((_, at)) => *at = (*at).max(until),
            None => former.push((id, until)),
        }
    }
    let mut before = Vec::new();
    for (id, until) in former {
        match store.person(&id).await {
            Ok(Some(p)) => before.push(Holder::Former(Box::new(p), until)),
            Ok(None) => {}
            Err(StoreError::Unreadable { .. }) => unreadable.push(Holder::Unreadable(id)),
            Err(e) => return Err(e),
        }
    }
    Ok(people
        .into_iter()
        .map(|p| Holder::Record(Box::new(p)))
        .chain(before)
        .chain(unreadable)
        .collect())
}

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The record's id.
    pub id: String,
    /// What went with it.
    pub removed: Erased,
    /// Cases it was matched to as a volunteer, open again.
    pub reopened: Vec<String>,
}

/// What a request to delete came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No record holds that contact.
    NoRecord,
    /// Several records hold it (a household, a shared phone), or the one
    /// that does cannot be read: pick one by id. Nothing was deleted.
    Choose(Vec<Holder>),
    /// The id picked is not one of the records holding the contact.
    NotAmong(Vec<Holder>),
    /// Deleted.
    Deleted(Erasure),
}

/// Deletes the record holding `contact` — the only one, or the one `pick`
/// names among them. `now`: when (the action recorded for the organizers).
pub async fn delete<S: AdminStore>(
    store: &S,
    contact: &Contact,
    pick: Option<&str>,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    let found = records_with(store, contact).await?;
    let id = match (pick, found.as_slice()) {
        (None, []) => return Ok(Outcome::NoRecord),
        // A record that does not read is never deleted unpicked: nobody has
        // seen whose it is (it may be a neighbour's request).
        (None, [Holder::Record(one)]) => one.id.clone(),
        (None, _) => return Ok(Outcome::Choose(found)),
        (Some(id), _) if found.iter().any(|h| h.id() == id) => id.to_owned(),
        (Some(_), _) => return Ok(Outcome::NotAmong(found)),
    };
    // The deletion's note for the organizers lasts as long as the record
    // would have (a record that does not read: as long as the digest needs).
    let expires_at = match found.iter().find(|h| h.id() == id) {
        Some(Holder::Record(p)) => p.expires_at,
        _ => now + 30 * 86_400,
    };
    erase(store, &id, now, expires_at)
        .await
        .map(Outcome::Deleted)
}

/// Opens again every case `id` holds as a volunteer, each recorded as an
/// action for the next digest (re-read after a conflict: an organizer
/// acting meanwhile). Their load goes down with each while their record is
/// there; once it is gone (`record_gone`), so is the load.
async fn reopen_held<S: AdminStore>(
    store: &S,
    id: &str,
    now: Timestamp,
    record_action: &CaseAction,
    record_gone: bool,
) -> Result<Vec<String>, StoreError> {
    let mut reopened = Vec::new();
    for _ in 0..5 {
        let held: Vec<Case> = store
            .active_cases()
            .await?
            .cases
            .into_iter()
            .filter(|c| c.holds_volunteer() == Some(id))
            .collect();
        if held.is_empty() {
            break;
        }
        for case in held {
            let open = case.waiting_again(now);
            let action = CaseAction {
                id: uuid::Uuid::now_v7().to_string(),
                case_id: Some(case.id.clone()),
                detail: "volunteer".into(),
                version: open.version,
                expires_at: CaseAction::kept_until(case.expires_at, now),
                ..record_action.clone()
            };
            let mut planner = Planner::new();
            planner
                .change(&CaseChange::new(&case, open))
                .write(Write::Action(action));
            if record_gone {
                planner.keep_load_of(id);
            }
            match store.carry_out(&planner.plan()).await {
                Ok(()) => reopened.push(case.id),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(reopened)
}

/// Undoes the merge of every record merged into `id` (about to be
/// deleted). Each undo is atomic; the deletion follows it, so a stop in
/// between leaves the merges undone and the record still there for the
/// deletion to be run again.
async fn give_back_merged<S: AdminStore>(
    store: &S,
    id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let merged: Vec<String> = store
        .standings()
        .await?
        .into_iter()
        .filter(|s| s.merged_into.as_deref() == Some(id))
        .map(|s| s.person_id)
        .collect();
    for from in merged {
        // Refused only if it was undone meanwhile, or the record is gone.
        let _ =
            crate::cases::unmerge(store, &from, now, crate::store::Actor::Request, None).await?;
    }
    Ok(())
}

/// Deletes one record by id, then opens again every case it was matched to
/// as a volunteer (each recorded as an action for the next digest).
pub async fn erase<S: AdminStore>(
    store: &S,
    id: &str,
    now: Timestamp,
    action_expires_at: Timestamp,
) -> Result<Erasure, StoreError> {
    let record_action = CaseAction::erasure(now, action_expires_at);
    // Whoever was merged into this record gets their own requests back
    // first (their cases reopened with their dates, their standing their
    // own), so nobody waits nowhere; the next digest says so without naming
    // the person deleted.
    // Cases they volunteered for go back to waiting first, so that no stop
    // halfway leaves a neighbour matched to nobody; again after, for a
    // confirmation that raced the deletion.
    let mut reopened = reopen_held(store, id, now, &record_action, false).await?;
    // The record's own deletion is recorded with it, named by nothing but
    // its id. A store that sees a merge into it land meanwhile refuses
    // (SQLite), and the merges are given back again.
    let mut tries = 0;
    let removed = loop {
        give_back_merged(store, id, now).await?;
        let erased = remove_record(store, id, &record_action).await;
        match erased {
            Err(StoreError::Conflict) if tries < 5 => tries += 1,
            other => break other?,
        }
    };
    // What landed beside the record between the read of what it keeps and
    // its deletion (a link mailed again, which checks that the record is
    // there, so nothing lands after): deleted too.
    let left = store.kept(id).await?;
    if !left.record {
        for plan in plan::leftovers(id, &left) {
            store.carry_out(&plan).await?;
        }
    }
    reopened.extend(reopen_held(store, id, now, &record_action, true).await?);
    Ok(Erasure {
        id: id.to_owned(),
        removed,
        reopened,
    })
}

/// Deletes record `id` and everything it keeps — every version, its
/// submission log lines, identity keys, contacts, cases (each giving its
/// volunteer the place back) and standing — by the plans of
/// [`plan::erasure`], one after the other, and records `action` with the
/// record's own deletion. Cases *it* holds as a volunteer stay for the
/// caller to reopen. A stop anywhere is finished by running it again: it
/// reads what is left and plans only that. Deleting a record that is gone
/// deletes what is left of it.
pub async fn remove_record<S: AdminStore>(
    store: &S,
    id: &str,
    action: &CaseAction,
) -> Result<Erased, StoreError> {
    let kept = store.kept(id).await?;
    let erased = Erased {
        record: kept.record,
        versions: kept.versions.len(),
        submissions: kept.log.len(),
        cases: kept.cases.len() + kept.unreadable_cases.len(),
    };
    for plan in plan::erasure(id, &kept, action) {
        store.carry_out(&plan).await?;
    }
    Ok(erased)
}
