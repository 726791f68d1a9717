//! Cases: every request stays open until an organizer closes it.
//!
//! Each role a person asks for is a [`Case`]: "to get groceries delivered" is
//! a **delivery** case (open → matched with a volunteer shopper → closed);
//! "to receive monetary support" is a **funding** case (open → funded →
//! closed), paid from the network's funds and never offered to a shopper. A
//! person has at most one *active* (not closed) case of each kind; one who
//! asks again after their case was closed gets a new case, marked with when
//! the last one closed.
//!
//! A delivery case is **offered** to a volunteer before it is matched: they
//! say yes first ([`CaseState::Offered`], [`Offer`]); a yes introduces the
//! two sides ([`Introduced`]), and a requester who asks for an organizer
//! while matched flags it ([`Flag`]).
//!
//! A volunteer's **load** is the number of delivery cases offered or
//! matched to them (an offer weighs as a match), kept as one counter that
//! only the plan changing a case moves ([`super::plan`]); pairing offers
//! each volunteer at most the cap minus their load. A
//! volunteer can be paused until a day. Every organizer action is recorded
//! ([`CaseAction`]) and listed in the next digest.
//!
//! Two records of one person (a second sign-up with another spelling, a
//! daughter's form for her mother) can be **merged** by an organizer: the
//! requests of one are carried on by the other, each keeping the earliest
//! date it was asked ([`MergedRecords`], [`Standing::merged_into`]).

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// What a case asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    /// Groceries delivered by a volunteer shopper.
    Delivery,
    /// Money for groceries, from the network's funds.
    Funding,
}

impl CaseKind {
    /// Both kinds.
    pub const ALL: [CaseKind; 2] = [CaseKind::Delivery, CaseKind::Funding];

    /// Its name in storage, the export and the command line.
    pub fn name(self) -> &'static str {
        match self {
            CaseKind::Delivery => "delivery",
            CaseKind::Funding => "funding",
        }
    }

    /// From [`Self::name`].
    pub fn from_name(name: &str) -> Option<CaseKind> {
        CaseKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The sign-up role that asks for it.
    pub fn role(self) -> mutualaid_forms::Role {
        match self {
            CaseKind::Delivery => mutualaid_forms::Role::Delivery,
            CaseKind::Funding => mutualaid_forms::Role::Money,
        }
    }
}

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseState {
    /// Waiting: for a volunteer (delivery) or for money (funding).
    Open,
    /// Offered to a volunteer shopper, who has not said yes yet (delivery):
    /// it weighs in their load as a match does.
    Offered,
    /// A volunteer shopper is helping (delivery).
    Matched,
    /// The network is paying for the groceries (funding).
    Funded,
    /// Done, withdrawn or closed by an organizer. A closed case stays closed.
    Closed,
}

impl CaseState {
    /// Its name in storage, the export and the command line.
    pub fn name(self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Offered => "offered",
            CaseState::Matched => "matched",
            CaseState::Funded => "funded",
            CaseState::Closed => "closed",
        }
    }

    /// Whether the case still counts (not closed).
    pub fn is_active(self) -> bool {
        self != CaseState::Closed
    }
}

/// Why a case was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseReason {
    /// The help was given.
    Done,
    /// The person no longer needs it.
    Withdrawn,
    /// An organizer closed it for another reason.
    Organizer,
    /// Its person's record was merged into another record of the same
    /// person, which carries the request on.
    Merged,
    /// Opened by a merge to carry another record's request on; the merge
    /// was undone, and that record's own case carries it again.
    Unmerged,
}

impl CloseReason {
    /// Every reason.
    pub const ALL: [CloseReason; 5] = [
        CloseReason::Done,
        CloseReason::Withdrawn,
        CloseReason::Organizer,
        CloseReason::Merged,
        CloseReason::Unmerged,
    ];

    /// From [`Self::name`].
    pub fn from_name(name: &str) -> Option<CloseReason> {
        CloseReason::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Done => "done",
            CloseReason::Withdrawn => "withdrawn",
            CloseReason::Organizer => "organizer",
            CloseReason::Merged => "merged",
            CloseReason::Unmerged => "unmerged",
        }
    }
}

/// One request of one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Stable id: the person's record id, a dot, and 8 random hex digits
    /// (so a store can find a case from its id alone).
    pub id: String,
    /// The person who asked.
    pub person_id: String,
    /// Delivery or funding.
    pub kind: CaseKind,
    /// Where it is.
    pub state: CaseState,
    /// The volunteer shopper, while matched (and after, once closed).
    pub volunteer_id: Option<String>,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// When its state last changed.
    pub changed_at: Timestamp,
    /// When it was matched or funded.
    pub matched_at: Option<Timestamp>,
    /// When it was closed, and why.
    pub closed: Option<(Timestamp, CloseReason)>,
    /// When this person's previous case of this kind was closed, if they
    /// asked again after one.
    pub asked_again_after: Option<Timestamp>,
    /// Volunteers an organizer declined for this case: never suggested again.
    #[serde(default)]
    pub declined: Vec<String>,
    /// While offered: when, and whether the volunteer was asked by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    /// Once the volunteer said yes: how each side was introduced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<Introduced>,
    /// Someone asked for an organizer while it is matched ("Can't
    /// connect?" from the requester, "Not yet" at the check-in): first in
    /// the next digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<Flag>,
    /// 1 when opened, +1 on each change.
    pub version: u64,
    /// When it is deleted (the person's retention).
    pub expires_at: Timestamp,
}

/// An offer of a case to a volunteer shopper, waiting for their answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// When an organizer made it.
    pub at: Timestamp,
    /// The offer email's id, if the volunteer was reachable by email then
    /// (none: an organizer calls them and records the answer).
    pub message: Option<String>,
    /// The offer email could not be delivered (given up, withheld): an
    /// organizer calls instead, and it never runs out as "no answer".
    #[serde(default)]
    pub undelivered: bool,
}

impl Offer {
    /// Whether the volunteer was asked by an email that was not refused.
    pub fn by_email(&self) -> bool {
        self.message.is_some() && !self.undelivered
    }
}

/// How the two sides of a match were introduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introduced {
    /// When.
    pub at: Timestamp,
    /// The requester got the volunteer's contact by email.
    pub requester_by_email: bool,
    /// The volunteer got the requester's details by email.
    pub volunteer_by_email: bool,
}

/// Why a matched case asks for an organizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    /// The requester pressed "Can't connect?".
    CantConnect,
    /// The requester answered the check-in with "Not yet".
    NotYet,
}

/// A matched case asking for an organizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: FlagReason,
}

impl Case {
    /// This case waiting again from `now`, at its next version: open, with
    /// no volunteer, no match and no close (its dates kept).
    pub fn waiting_again(&self, now: Timestamp) -> Case {
        Case {
            state: CaseState::Open,
            volunteer_id: None,
            matched_at: None,
            closed: None,
            offer: None,
            introduced: None,
            flag: None,
            changed_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// A new open case.
    pub fn open(
        person_id: &str,
        kind: CaseKind,
        now: Timestamp,
        asked_again_after: Option<Timestamp>,
        expires_at: Timestamp,
    ) -> Case {
        Case {
            id: format!(
                "{person_id}.{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            person_id: person_id.to_owned(),
            kind,
            state: CaseState::Open,
            volunteer_id: None,
            opened_at: now,
            changed_at: now,
            matched_at: None,
            closed: None,
            asked_again_after,
            declined: Vec::new(),
            offer: None,
            introduced: None,
            flag: None,
            version: 1,
            expires_at,
        }
    }

    /// The record id of the person, from the case id.
    pub fn person_of(case_id: &str) -> Option<&str> {
        case_id.rsplit_once('.').map(|(person, _)| person)
    }

    /// Whether it holds a volunteer's capacity (an offer weighs as a match).
    pub fn holds_volunteer(&self) -> Option<&str> {
        match self.state {
            CaseState::Offered | CaseState::Matched => self.volunteer_id.as_deref(),
            _ => None,
        }
    }
}

/// What an organizer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Confirmed a suggested pairing: the case is matched.
    Confirm,
    /// Declined a suggested pairing: never suggested again.
    Decline,
    /// Closed a case (done, withdrawn or for another reason).
    Close,
    /// Marked a funding case funded.
    Fund,
    /// Opened a closed case again.
    Reopen,
    /// Paused a volunteer for some days.
    Pause,
    /// Said a long match is still going (it keeps its volunteer).
    Keep,
    /// Merged two records of one person: the requests of one carried on by the other.
    Merge,
    /// Deleted a record at the person's request (a case it volunteered
    /// for is open again: that case is named).
    Erase,
    /// Answered "maybe the same person?" with "two people": the record
    /// (`detail`) stays its own, its requests offered for pairing again.
    TwoPeople,
    /// Undid a merge: the record merged away is its own person again, its
    /// requests back with their dates (`by` is `request` when the record
    /// it was merged into was deleted at its person's request).
    Unmerge,
    /// Not an organizer's: re-keying found a record (`detail`) the rule
    /// before issue 23 had folded under two names (its kept versions carry
    /// names that differ as written). The next digest lists it for an
    /// organizer to look at.
    SentUnderTwoNames,
    /// Mail to the record's email (`volunteer_id`) stopped: the person
    /// pressed their mail app's Unsubscribe (`by` person), or the mail
    /// service refused the address for good (`by` store, `detail`
    /// `refused`). Organizers reach them another way.
    MailStopped,
    /// Not an organizer's: a submission from the public form gave the
    /// record (`volunteer_id`) an email it did not have. The new address
    /// got a first sign-up's receipt and a held page; the old one's links
    /// stop. An organizer calls to check it was the person.
    EmailChanged,
    /// A pending contact of the record (`volunteer_id`) confirmed: by the
    /// person ("Yes, that was me"), or by an organizer who reached them.
    ContactConfirmed,
    /// A pending contact dropped and what it replaced restored: by the
    /// person ("I didn't make this change"), or by an organizer.
    ContactDropped,
    /// Not an organizer's: a person's own page gave their record a name
    /// or contact another record holds; nothing was applied.
    IdentityClash,
    /// A person changed their details on their own page (`by` person).
    DetailsChanged,
    /// The volunteer said yes to an offer (`by` person, or an organizer
    /// who called them): the case is matched and both sides introduced
    /// (`detail`: who was told by email, who is called).
    Accept,
    /// The volunteer said "not this time" (`by` person, or an organizer),
    /// or did not answer in time (`by` store, `detail` `no_answer`): the
    /// case waits again and that pair is never suggested again.
    Refuse,
    /// "Can't connect?": the volunteer's puts the case back to waiting;
    /// the requester's asks an organizer to step in (`detail` says whose).
    CantConnect,
    /// The requester answered the check-in (`detail` `got_it`: closed as
    /// done; `not_yet`: first in the next digest).
    CheckIn,
}

impl ActionKind {
    /// Its name in the command line, links and the export.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Confirm => "confirm",
            ActionKind::Decline => "decline",
            ActionKind::Close => "close",
            ActionKind::Fund => "fund",
            ActionKind::Reopen => "reopen",
            ActionKind::Pause => "pause",
            ActionKind::Keep => "keep",
            ActionKind::Merge => "merge",
            ActionKind::Erase => "erase",
            ActionKind::TwoPeople => "two_people",
            ActionKind::SentUnderTwoNames => "sent_under_two_names",
            ActionKind::Unmerge => "unmerge",
            ActionKind::MailStopped => "mail_stopped",
            ActionKind::EmailChanged => "email_changed",
            ActionKind::ContactConfirmed => "contact_confirmed",
            ActionKind::ContactDropped => "contact_dropped",
            ActionKind::IdentityClash => "identity_clash",
            ActionKind::DetailsChanged => "details_changed",
            ActionKind::Accept => "accept",
            ActionKind::Refuse => "refuse",
            ActionKind::CantConnect => "cant_connect",
            ActionKind::CheckIn => "check_in",
        }
    }

    /// Whether an organizer's signed link may carry it. The others are
    /// recorded by the store or asked for by the person (a deletion, what
    /// the store found, what a person did on their own page), never clicked.
    pub fn made_from_a_link(self) -> bool {
        match self {
            ActionKind::Confirm
            | ActionKind::Decline
            | ActionKind::Close
            | ActionKind::Fund
            | ActionKind::Reopen
            | ActionKind::Pause
            | ActionKind::Keep
            | ActionKind::Merge
            | ActionKind::TwoPeople
            | ActionKind::Unmerge
            | ActionKind::Accept
            | ActionKind::Refuse => true,
            ActionKind::Erase
            | ActionKind::SentUnderTwoNames
            | ActionKind::MailStopped
            | ActionKind::EmailChanged
            | ActionKind::ContactConfirmed
            | ActionKind::ContactDropped
            | ActionKind::IdentityClash
            | ActionKind::DetailsChanged
            | ActionKind::CantConnect
            | ActionKind::CheckIn => false,
        }
    }

    /// From [`Self::name`].
    pub fn from_name(name: &str) -> Option<ActionKind> {
        [
            ActionKind::Confirm,
            ActionKind::Decline,
            ActionKind::Close,
            ActionKind::Fund,
            ActionKind::Reopen,
            ActionKind::Pause,
            ActionKind::Keep,
            ActionKind::Merge,
            ActionKind::Erase,
            ActionKind::TwoPeople,
            ActionKind::SentUnderTwoNames,
            ActionKind::Unmerge,
            ActionKind::MailStopped,
            ActionKind::EmailChanged,
            ActionKind::ContactConfirmed,
            ActionKind::ContactDropped,
            ActionKind::IdentityClash,
            ActionKind::DetailsChanged,
            ActionKind::Accept,
            ActionKind::Refuse,
            ActionKind::CantConnect,
            ActionKind::CheckIn,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// An organizer, through a digest's link.
    Link,
    /// An organizer, on the command line.
    Cli,
    /// The person, asking to be deleted (the erasure, and the merges it
    /// gives back).
    Request,
    /// The store itself (re-keying found a record under two names).
    Store,
    /// The person, from their own page (withdrawn, paused, back).
    Person,
    /// Recorded by a version that knew someone this one does not.
    #[serde(other)]
    Other,
}

impl Actor {
    /// Its name in the export.
    pub fn name(self) -> &'static str {
        match self {
            Actor::Link => "link",
            Actor::Cli => "cli",
            Actor::Request => "request",
            Actor::Person => "person",
            Actor::Store => "store",
            Actor::Other => "other",
        }
    }
}

/// An organizer's action, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseAction {
    /// Stable id (time-ordered).
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: ActionKind,
    /// The case it acted on, if any (a pause acts on a volunteer).
    pub case_id: Option<String>,
    /// The volunteer involved, if any.
    pub volunteer_id: Option<String>,
    /// Who: an organizer by a link or on the command line, the person
    /// (an erasure), or the store.
    pub by: Actor,
    /// The reason a case was closed, the days of a pause, or the record
    /// an answer to "maybe the same person?" was about.
    pub detail: String,
    /// The case's version after the action (what a reopen link acts on).
    #[serde(default)]
    pub version: u64,
    /// For a merge: which record was merged into which, and the cases it closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedRecords>,
    /// When it is deleted.
    pub expires_at: Timestamp,
}

/// The least an organizer's action is kept from when it was taken: long
/// enough for the digests after it to list it, however long ago the case
/// it acts on was opened (a request waits as long as it must).
pub const ACTIONS_KEPT_AT_LEAST: Timestamp = 30 * 86_400;

impl CaseAction {
    /// When an action taken at `now` about something kept until
    /// `expires_at` expires: as long as that, and at least
    /// [`ACTIONS_KEPT_AT_LEAST`] — the same rule on every store.
    pub fn kept_until(expires_at: Timestamp, now: Timestamp) -> Timestamp {
        expires_at.max(now + ACTIONS_KEPT_AT_LEAST)
    }

    /// What a deletion at a person's request records at `now`, kept until
    /// `expires_at`: the record's deletion (its `detail` is `record`; the
    /// cases it reopens are recorded with `volunteer`), naming no one.
    pub fn erasure(now: Timestamp, expires_at: Timestamp) -> CaseAction {
        CaseAction {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            kind: ActionKind::Erase,
            case_id: None,
            volunteer_id: None,
            by: Actor::Request,
            detail: "record".into(),
            version: 0,
            merged: None,
            expires_at: CaseAction::kept_until(expires_at, now),
        }
    }

    /// Mail to record `person_id`'s email stopped at `now` (see
    /// [`ActionKind::MailStopped`]); `detail`: `unsubscribed` or `refused`.
    pub fn mail_stopped(
        person_id: &str,
        by: Actor,
        detail: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> CaseAction {
        CaseAction {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            kind: ActionKind::MailStopped,
            case_id: None,
            volunteer_id: Some(person_id.to_owned()),
            by,
            detail: detail.to_owned(),
            version: 0,
            merged: None,
            expires_at: CaseAction::kept_until(expires_at, now),
        }
    }

    /// A submission from the public form gave record `person` an email or
    /// phone it has not confirmed ([`ActionKind::EmailChanged`]).
    pub fn email_changed(person: &super::Person, now: Timestamp) -> CaseAction {
        CaseAction::about_record(person, ActionKind::EmailChanged, Actor::Store, now)
    }

    /// `kind`, done by `by` at `now` to record `person` (at its version
    /// then), naming no one.
    pub fn about_record(
        person: &super::Person,
        kind: ActionKind,
        by: Actor,
        now: Timestamp,
    ) -> CaseAction {
        CaseAction {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            kind,
            case_id: None,
            volunteer_id: Some(person.id.clone()),
            by,
            detail: String::new(),
            version: person.version,
            merged: None,
            expires_at: CaseAction::kept_until(person.expires_at, now),
        }
    }

    /// What re-keying records about `person`, whose kept versions carry
    /// names that differ as written: its id only (the names are read from
    /// the versions when the digest is made, so an erasure leaves none here).
    pub fn sent_under_two_names(person: &super::Person, now: Timestamp) -> CaseAction {
        CaseAction {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            kind: ActionKind::SentUnderTwoNames,
            case_id: None,
            volunteer_id: None,
            by: Actor::Store,
            detail: person.id.clone(),
            version: person.version,
            merged: None,
            expires_at: CaseAction::kept_until(person.expires_at, now),
        }
    }
}

/// What a merge did: `from`'s requests are carried on by `into`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedRecords {
    /// The record merged away (it stays, marked merged, until its retention ends).
    pub from: String,
    /// The record that carries on.
    pub into: String,
    /// `from`'s cases the merge closed, with their version after it (for an
    /// unmerge: the cases it gave back).
    #[serde(default)]
    pub closed: Vec<ClosedCase>,
    /// What became of each request the merge carried on, so that it can be
    /// undone (empty for an unmerge, and for merges recorded before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<CarriedCase>,
}

/// One request a merge carried on from the record merged away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedCase {
    /// The merged record's case the merge closed.
    pub from_case: String,
    /// Where that case was before (open, matched, funded).
    pub from_state: CaseState,
    /// The kept record's case that carries it on.
    pub into_case: String,
    /// That case as it was before the merge, if the kept record had one
    /// (none: the merge opened it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into_before: Option<Case>,
}

/// A case an action closed, and its version after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedCase {
    /// The case.
    pub id: String,
    /// Its version after the close.
    pub version: u64,
}

/// A record's standing with the organizers, beside the record (a
/// submission never writes it, but the first one may open it with a
/// question): a volunteer paused until when, a record merged into which,
/// a record that may be the same person as another.
///
/// Every write moves [`Self::version`] up by one, and is made only if the
/// stored standing is still at the version before (no standing: 0) — so an
/// organizer's link bound to the version its digest showed acts once, and a
/// replay after any change (a pause, an unpause, a merge, its undo) is
/// refused, saying when it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// Their record.
    pub person_id: String,
    /// Not offered to anyone before this time.
    pub paused_until: Option<Timestamp>,
    /// An organizer merged this record into that one (the same person):
    /// never offered as a volunteer; what they send later still opens cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// Maybe the same person as that record (a Latin name that differs from
    /// its name only in accents, on a shared phone or email), until an
    /// organizer says "merge" or "two people": meanwhile this record's
    /// requests are not suggested for pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maybe_same_as: Option<String>,
    /// While merged: what became of each request the merges into
    /// [`Self::merged_into`] carried on (every merge since the last undo),
    /// so an unmerge gives each back — kept here, as long as the record,
    /// not only in the action log, which expires earlier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<CarriedCase>,
    /// Offers this volunteer left unanswered in a row: at
    /// [`UNANSWERED_PAUSES`] they are paused until they say "I'm back".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unanswered: u32,
    /// 0 before the first write, then +1 on each.
    #[serde(default)]
    pub version: u64,
    /// When it was last written (0: before versions were kept).
    #[serde(default)]
    pub changed_at: Timestamp,
    /// When it is deleted.
    pub expires_at: Timestamp,
}

/// Offers left unanswered in a row that pause a volunteer until they say
/// "I'm back".
pub const UNANSWERED_PAUSES: u32 = 2;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Standing {
    /// Whether nobody is offered to them at `now`: paused until a later
    /// day, or after [`UNANSWERED_PAUSES`] unanswered offers until they
    /// come back.
    pub fn paused_at(&self, now: Timestamp) -> bool {
        self.paused_until.is_some_and(|until| until > now) || self.unanswered >= UNANSWERED_PAUSES
    }

    /// The version a write of `self` expects to find stored.
    pub fn expected_version(&self) -> u64 {
        self.version.saturating_sub(1)
    }

    /// This standing (as read; default if none) at its next version,
    /// written at `now`, lasting as long as `person`'s record.
    pub fn next(&self, person: &super::Person, now: Timestamp) -> Standing {
        Standing {
            person_id: person.id.clone(),
            version: self.version + 1,
            changed_at: now,
            expires_at: person.expires_at,
            ..self.clone()
        }
    }
}
