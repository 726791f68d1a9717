//! What organizers do with cases, with no HTTP inside: confirm a suggested
//! pairing (an offer to the volunteer, who says yes first: [`crate::offers`]),
//! record the volunteer's answer, decline it, mark a funding case funded, close a case, reopen
//! it, say a long match is still going, pause a volunteer, merge two records
//! of one person. The command line
//! (`mutualaid cases`) and the signed links in the digest both come here.
//!
//! An action acts only on the case as the organizer saw it: with an
//! expected version (a link carries the version its digest showed), a case
//! that moved on since — another organizer clicked first, an old digest's
//! link — is refused with what changed and when. A confirmation also needs
//! the volunteer to be under the cap; the store checks both atomically, so
//! of two concurrent confirmations one wins.

use mutualaid_forms::Role;

use crate::store::message::MessageKind;
use crate::store::{
    ActionKind, Actor, CarriedCase, Case, CaseAction, CaseChange, CaseDesk, CaseKind, CaseState,
    CloseReason, ClosedCase, Flag, FlagReason, Introduced, MergeChange, MergedRecords, Offer,
    Person, Planner, Standing, StoreError, Timestamp, UnmergeChange, Write, plan,
};

/// An action on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Pair the case with this volunteer shopper (a suggestion confirmed).
    Confirm {
        /// The volunteer's record id.
        volunteer: String,
    },
    /// Never suggest this volunteer for this case again.
    Decline {
        /// The volunteer's record id.
        volunteer: String,
    },
    /// Close the case.
    Close(CloseReason),
    /// The network pays (a funding case).
    Fund,
    /// Open a closed case again.
    Reopen,
    /// A long match is still going: it keeps its volunteer, asked again later.
    Keep,
    /// The volunteer said yes to the offer: matched, and both introduced.
    Accept,
    /// The volunteer said "not this time" (`no_answer`: the offer ran out
    /// unanswered): the case waits again, that pair never suggested again.
    Refuse {
        /// The answer time ran out.
        no_answer: bool,
    },
    /// "Can't connect?" on a matched case: the volunteer's puts it back to
    /// waiting; the requester's asks an organizer to step in.
    CantConnect {
        /// Pressed by the volunteer (else the requester).
        volunteer: bool,
    },
    /// The requester's answer to "Did you get your groceries?".
    CheckIn {
        /// "Yes, thank you" (else "Not yet").
        got_it: bool,
    },
}

impl Act {
    /// The kind of action, as recorded.
    pub fn kind(&self) -> ActionKind {
        match self {
            Act::Confirm { .. } => ActionKind::Confirm,
            Act::Decline { .. } => ActionKind::Decline,
            Act::Close(_) => ActionKind::Close,
            Act::Fund => ActionKind::Fund,
            Act::Reopen => ActionKind::Reopen,
            Act::Keep => ActionKind::Keep,
            Act::Accept => ActionKind::Accept,
            Act::Refuse { .. } => ActionKind::Refuse,
            Act::CantConnect { .. } => ActionKind::CantConnect,
            Act::CheckIn { .. } => ActionKind::CheckIn,
        }
    }

    fn volunteer(&self) -> Option<&str> {
        match self {
            Act::Confirm { volunteer } | Act::Decline { volunteer } => Some(volunteer),
            _ => None,
        }
    }
}

/// Why an action did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such case (or it has expired).
    NoCase,
    /// No such volunteer shopper.
    NoVolunteer,
    /// The case is not where the organizer saw it: it is now in `state`
    /// since `changed_at`.
    Moved {
        /// Where it is now.
        state: CaseState,
        /// Since when.
        changed_at: Timestamp,
    },
    /// The volunteer already holds `load` matches, the cap.
    AtCapacity {
        /// Their matches.
        load: usize,
        /// The cap.
        cap: usize,
    },
    /// The person has another case of this kind that is not closed.
    AlreadyOpen,
    /// No such record (or it has expired).
    NoRecord,
    /// The two records are already merged, or one was merged elsewhere.
    AlreadyMerged,
    /// Only records that share a phone or email, on one form, are merged.
    NotLinked,
    /// The record to merge away holds matches as a volunteer shopper.
    MergedAwayHelps,
    /// A record's standing is not where the organizer saw it: a pause, an
    /// unpause, a merge or its undo since `changed_at` (0: before times
    /// were kept).
    StandingMoved {
        /// When it last changed.
        changed_at: Timestamp,
    },
    /// The record is not merged (the merge was undone already).
    NotMerged,
    /// This action does not apply to this case (say which in the message).
    NotApplicable(&'static str),
}

impl Refusal {
    /// The case is not where the organizer saw it: where `case` is now.
    fn moved(case: &Case) -> Refusal {
        Refusal::Moved {
            state: case.state,
            changed_at: case.changed_at,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoCase => write!(f, "there is no such case (it may have expired)"),
            Refusal::NoVolunteer => write!(f, "there is no such volunteer shopper"),
            Refusal::Moved { state, changed_at } => write!(
                f,
                "the case changed since: it is {} since {}",
                state.name(),
                crate::export::time(*changed_at)
            ),
            Refusal::AtCapacity { load, cap } => write!(
                f,
                "the volunteer already has {load} people (the cap is {cap})"
            ),
            Refusal::AlreadyOpen => write!(
                f,
                "the person has another case of this kind that is not closed"
            ),
            Refusal::NoRecord => write!(f, "there is no such record (it may have expired)"),
            Refusal::AlreadyMerged => write!(
                f,
                "these records are already merged, or one of them was merged into another"
            ),
            Refusal::NotLinked => write!(
                f,
                "only records that share a phone or email, on the same form, are merged"
            ),
            Refusal::MergedAwayHelps => write!(
                f,
                "the record to merge away helps people as a volunteer shopper: close those matches first, or merge the other way"
            ),
            Refusal::StandingMoved { changed_at } => write!(
                f,
                "the record changed since (paused, unpaused, merged or unmerged) on {}",
                crate::export::time(*changed_at)
            ),
            Refusal::NotMerged => write!(
                f,
                "this record is not merged into another (the merge was undone already)"
            ),
            Refusal::NotApplicable(why) => write!(f, "{why}"),
        }
    }
}

/// What an action came to.
pub type Acted = Result<Case, Refusal>;

/// How many delivery cases are offered or matched to `volunteer` (the store's counter).
pub async fn load<S: CaseDesk>(store: &S, volunteer: &str) -> Result<usize, StoreError> {
    let loads = store.loads(&[volunteer.to_owned()]).await?;
    let n = loads.first().map_or(0, |(_, n)| *n);
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Acts on a case. `expected_version`: the version the organizer saw
/// (`None`: whatever it is now, as on the command line). `by`: `link` or
/// `cli`. Returns the case as it now is, or why nothing changed.
pub async fn act<S: CaseDesk>(
    store: &S,
    case_id: &str,
    expected_version: Option<u64>,
    act: Act,
    now: Timestamp,
    cap: usize,
    by: Actor,
) -> Result<Acted, StoreError> {
    let Some(case) = store.case(case_id).await? else {
        return Ok(Err(Refusal::NoCase));
    };
    let expected = expected_version.unwrap_or(case.version);
    if case.version != expected {
        return Ok(Err(Refusal::moved(&case)));
    }
    if let Some(volunteer) = act.volunteer() {
        let person = store.person(volunteer).await?;
        if !person
            .as_ref()
            .is_some_and(|p| p.submission.has_role(Role::Shopper))
            || volunteer == case.person_id
        {
            return Ok(Err(Refusal::NoVolunteer));
        }
    }
    let mut next = Case {
        version: case.version + 1,
        changed_at: now,
        ..case.clone()
    };
    let mut cap_check = None;
    let mut mails = Vec::new();
    let mut detail = String::new();
    let mut standing: Option<Option<Standing>> = None;
    let not = |why| Ok(Err(Refusal::NotApplicable(why)));
    match &act {
        Act::Confirm { volunteer } => {
            if case.kind != CaseKind::Delivery {
                return not("only a delivery case is paired with a volunteer shopper");
            }
            if case.state != CaseState::Open {
                return Ok(Err(Refusal::moved(&case)));
            }
            // Their record, read once: their own number, if smaller than
            // the network's cap, and their email for the offer (one that
            // does not decode counts as the cap, and stops the offer below).
            let person = match store.person(volunteer).await {
                Ok(person) => Ok(person),
                Err(e @ StoreError::Unreadable { .. }) => Err(e),
                Err(e) => return Err(e),
            };
            let cap = match &person {
                Ok(Some(v)) => v.shopping_cap(cap),
                _ => cap,
            };
            let held = load(store, volunteer).await?;
            if held >= cap {
                return Ok(Err(Refusal::AtCapacity { load: held, cap }));
            }
            // Not someone who paused, was merged into another record or
            // asks for groceries themselves since the digest suggested them
            // (an old link, or the command line).
            if let Some(s) = standing_of(store, volunteer).await?
                && (s.paused_at(now) || s.merged_into.is_some())
            {
                return Ok(Err(Refusal::StandingMoved {
                    changed_at: s.changed_at,
                }));
            }
            if store
                .cases_of(volunteer)
                .await?
                .iter()
                .any(|c| c.kind == CaseKind::Delivery && c.state.is_active())
            {
                return not("this volunteer is asking for groceries themselves");
            }
            // An offer first: the volunteer says yes before anyone's
            // contact is shared. By email if they can be reached so, else
            // an organizer calls them (the digest says so).
            next.state = CaseState::Offered;
            next.volunteer_id = Some(volunteer.clone());
            let person = person?;
            let reached = match &person {
                Some(p) => crate::offers::reachable_email(store, p).await?,
                None => None,
            };
            let mail = match (&person, reached) {
                (Some(p), Some(to)) => Some(crate::offers::case_mail(
                    p,
                    &to,
                    MessageKind::Offer,
                    &case,
                    now,
                )),
                _ => None,
            };
            next.offer = Some(Offer {
                at: now,
                message: mail.as_ref().map(|m| m.message.id.clone()),
                undelivered: false,
            });
            mails.extend(mail);
            cap_check = Some(cap as u64);
        }
        Act::Accept => {
            if case.state != CaseState::Offered {
                return Ok(Err(Refusal::moved(&case)));
            }
            let Some(volunteer_id) = case.volunteer_id.clone() else {
                return Ok(Err(Refusal::moved(&case)));
            };
            next.state = CaseState::Matched;
            next.matched_at = Some(now);
            next.offer = None;
            // The introductions: each side reachable by email gets the
            // other's confirmed contacts; the other side is a call.
            let requester = store.person(&case.person_id).await?;
            let volunteer = store.person(&volunteer_id).await?;
            let mut by_email = [false, false];
            for (i, side) in [&requester, &volunteer].into_iter().enumerate() {
                let Some(p) = side else { continue };
                if let Some(to) = crate::offers::reachable_email(store, p).await? {
                    mails.push(crate::offers::case_mail(
                        p,
                        &to,
                        MessageKind::Introduction,
                        &case,
                        now,
                    ));
                    by_email[i] = true;
                }
            }
            next.introduced = Some(Introduced {
                at: now,
                requester_by_email: by_email[0],
                volunteer_by_email: by_email[1],
            });
            detail = format!(
                "requester:{} volunteer:{}",
                if by_email[0] { "email" } else { "call" },
                if by_email[1] { "email" } else { "call" }
            );
            if let Some(v) = &volunteer {
                standing = Some(answered(store, v, now, false).await?);
            }
        }
        Act::Refuse { no_answer } => {
            if case.state != CaseState::Offered {
                return Ok(Err(Refusal::moved(&case)));
            }
            let Some(volunteer_id) = case.volunteer_id.clone() else {
                return Ok(Err(Refusal::moved(&case)));
            };
            // Waiting again from its original date; that pair never again.
            next = case.waiting_again(now);
            if !next.declined.contains(&volunteer_id) {
                next.declined.push(volunteer_id.clone());
            }
            let volunteer = match store.person(&volunteer_id).await {
                Ok(volunteer) => volunteer,
                // The volunteer's record does not decode: the request does
                // not wait on it (their answer is not counted on their
                // standing; the digest names the record).
                Err(StoreError::Unreadable { .. }) => None,
                Err(e) => return Err(e),
            };
            if let Some(v) = volunteer {
                let after = answered(store, &v, now, *no_answer).await?;
                let pauses = after
                    .as_ref()
                    .is_some_and(|s| s.unanswered == crate::store::UNANSWERED_PAUSES);
                if *no_answer {
                    detail = if pauses {
                        "no_answer_paused"
                    } else {
                        "no_answer"
                    }
                    .into();
                }
                standing = Some(after);
            } else if *no_answer {
                detail = "no_answer".into();
            }
        }
        Act::CantConnect { volunteer: true } => {
            if case.state != CaseState::Matched {
                return Ok(Err(Refusal::moved(&case)));
            }
            let volunteer_id = case.volunteer_id.clone().unwrap_or_default();
            next = case.waiting_again(now);
            if !next.declined.contains(&volunteer_id) {
                next.declined.push(volunteer_id);
            }
            detail = "volunteer".into();
        }
        Act::CantConnect { volunteer: false } | Act::CheckIn { got_it: false } => {
            if case.state != CaseState::Matched {
                return Ok(Err(Refusal::moved(&case)));
            }
            let (reason, said) = match &act {
                Act::CantConnect { .. } => (FlagReason::CantConnect, "requester"),
                _ => (FlagReason::NotYet, "not_yet"),
            };
            next.flag = Some(Flag { at: now, reason });
            next.changed_at = case.changed_at;
            detail = said.into();
        }
        Act::CheckIn { got_it: true } => {
            if case.state != CaseState::Matched {
                return Ok(Err(Refusal::moved(&case)));
            }
            next.state = CaseState::Closed;
            next.closed = Some((now, CloseReason::Done));
            next.flag = None;
            detail = "got_it".into();
            // One thank-you to the volunteer, if reachable by email.
            if let Some(v) = match &case.volunteer_id {
                Some(id) => store.person(id).await?,
                None => None,
            } && let Some(to) = crate::offers::reachable_email(store, &v).await?
            {
                mails.push(crate::offers::case_mail(
                    &v,
                    &to,
                    MessageKind::ThankYou,
                    &case,
                    now,
                ));
            }
        }
        Act::Decline { volunteer } => {
            if case.state != CaseState::Open {
                return Ok(Err(Refusal::moved(&case)));
            }
            if !next.declined.contains(volunteer) {
                next.declined.push(volunteer.clone());
            }
            next.changed_at = case.changed_at; // still open, as it was
        }
        Act::Close(reason) => {
            if case.state == CaseState::Closed {
                return Ok(Err(Refusal::moved(&case)));
            }
            next.state = CaseState::Closed;
            next.closed = Some((now, *reason));
        }
        Act::Fund => {
            if case.kind != CaseKind::Funding {
                return not("only a funding case is marked funded");
            }
            if case.state != CaseState::Open {
                return Ok(Err(Refusal::moved(&case)));
            }
            next.state = CaseState::Funded;
            next.matched_at = Some(now);
        }
        Act::Reopen => {
            if case.state != CaseState::Closed {
                return Ok(Err(Refusal::moved(&case)));
            }
            next.state = CaseState::Open;
            next.volunteer_id = None;
            next.matched_at = None;
            next.closed = None;
            // What the closed match left (its offer, introductions, an
            // answer asking for an organizer) is not the reopened request's.
            next.offer = None;
            next.introduced = None;
            next.flag = None;
        }
        Act::Keep => {
            if case.state != CaseState::Matched {
                return Ok(Err(Refusal::moved(&case)));
            }
            next.matched_at = Some(now);
            next.changed_at = case.changed_at;
            // An organizer looked: the flag is answered.
            next.flag = None;
        }
    }
    let action = CaseAction {
        id: uuid::Uuid::now_v7().to_string(),
        at: now,
        kind: act.kind(),
        case_id: Some(case.id.clone()),
        volunteer_id: act
            .volunteer()
            .map(str::to_owned)
            .or_else(|| case.volunteer_id.clone()),
        by,
        detail: match &act {
            Act::Close(reason) => reason.name().to_owned(),
            _ => detail,
        },
        version: next.version,
        merged: None,
        expires_at: CaseAction::kept_until(case.expires_at, now),
    };
    let change = CaseChange {
        cap: cap_check,
        ..CaseChange::new(&case, next.clone())
    };
    let mut planner = Planner::new();
    planner.change(&change).write(Write::Action(action));
    for mail in &mails {
        planner.mail(mail);
    }
    if let Some(Some(standing)) = standing {
        planner.write(Write::Standing {
            standing,
            merging_into: None,
        });
    }
    match store.carry_out(&planner.plan()).await {
        Ok(()) => Ok(Ok(next)),
        Err(StoreError::Conflict) => {
            // Say what changed: the case moved, the volunteer filled up, or another case is open.
            let now_case = store.case(case_id).await?;
            Ok(Err(match now_case {
                None => Refusal::NoCase,
                Some(c) if c.version != expected => Refusal::moved(&c),
                Some(_) => match &act {
                    Act::Confirm { volunteer } => Refusal::AtCapacity {
                        load: load(store, volunteer).await?,
                        cap: cap_check.map_or(cap, |c| c as usize),
                    },
                    Act::Reopen => Refusal::AlreadyOpen,
                    _ => Refusal::NotApplicable("the store refused the change; try again"),
                },
            }))
        }
        Err(e) => Err(e),
    }
}

/// The volunteer's standing after they answered an offer (`no_answer`:
/// the time ran out), if it changes: an answer starts the count of
/// unanswered offers again; one more unanswered offer counts, and at
/// [`crate::store::UNANSWERED_PAUSES`] they are paused until they say
/// "I'm back". Written over the version read, in the answer's plan.
async fn answered<S: CaseDesk>(
    store: &S,
    volunteer: &Person,
    now: Timestamp,
    no_answer: bool,
) -> Result<Option<Standing>, StoreError> {
    let standing = standing_of(store, &volunteer.id).await?.unwrap_or_default();
    let unanswered = if no_answer {
        standing.unanswered + 1
    } else {
        0
    };
    Ok((unanswered != standing.unanswered).then(|| Standing {
        unanswered,
        ..standing.next(volunteer, now)
    }))
}

/// Pauses a volunteer for `days` (0: unpauses): not offered to anyone
/// until then. `expected`: the version of their standing the organizer saw
/// (a link: refused if it changed since; `None`: whatever it is now, as on
/// the command line).
pub async fn pause<S: CaseDesk>(
    store: &S,
    volunteer: &str,
    days: u32,
    now: Timestamp,
    by: Actor,
    expected: Option<u64>,
) -> Result<Result<Standing, Refusal>, StoreError> {
    change_standing(
        store,
        volunteer,
        expected,
        Refusal::NoVolunteer,
        |person, standing| {
            if !person.submission.has_role(Role::Shopper) || standing.merged_into.is_some() {
                return Err(Refusal::NoVolunteer);
            }
            let state = Standing {
                paused_until: (days > 0).then(|| now + i64::from(days) * 86_400),
                // "I'm back" (or any pause) starts the count of unanswered offers again.
                unanswered: 0,
                ..standing.next(person, now)
            };
            let action = CaseAction {
                kind: ActionKind::Pause,
                volunteer_id: Some(volunteer.to_owned()),
                detail: days.to_string(),
                ..standing_action(&state, now, by)
            };
            Ok((state, action))
        },
    )
    .await
}

/// Answers "maybe the same person?" for `record` with "two people": its
/// standing's question is cleared (its requests are suggested for pairing
/// again) and the answer recorded. `expected`: the standing's version the
/// organizer saw (`None`: as it is now).
pub async fn two_people<S: CaseDesk>(
    store: &S,
    record: &str,
    now: Timestamp,
    by: Actor,
    expected: Option<u64>,
) -> Result<Result<Standing, Refusal>, StoreError> {
    change_standing(
        store,
        record,
        expected,
        Refusal::NoRecord,
        |person, standing| {
            let Some(other) = standing.maybe_same_as.clone() else {
                return Err(Refusal::NotApplicable(
                    "no question is open about this record: it was answered already",
                ));
            };
            let state = Standing {
                maybe_same_as: None,
                ..standing.next(person, now)
            };
            let action = CaseAction {
                kind: ActionKind::TwoPeople,
                volunteer_id: Some(other),
                detail: record.to_owned(),
                ..standing_action(&state, now, by)
            };
            Ok((state, action))
        },
    )
    .await
}

/// One change of record `id`'s standing: `decide` reads the record and its
/// standing as they are and gives the standing to write and the action to
/// record, or why not. Written only at the version read — after a conflict
/// (a merge, another pause) it reads again and decides again — and, for a
/// link (`expected`), only if the standing is still where the digest showed
/// it. `missing`: the refusal when the record is gone.
async fn change_standing<S: CaseDesk>(
    store: &S,
    id: &str,
    expected: Option<u64>,
    missing: Refusal,
    decide: impl Fn(&Person, &Standing) -> Result<(Standing, CaseAction), Refusal>,
) -> Result<Result<Standing, Refusal>, StoreError> {
    for _ in 0..5 {
        let Some(person) = store.person(id).await? else {
            return Ok(Err(missing));
        };
        let standing = standing_of(store, id).await?.unwrap_or_default();
        if expected.is_some_and(|v| v != standing.version) {
            return Ok(Err(Refusal::StandingMoved {
                changed_at: standing.changed_at,
            }));
        }
        let (state, action) = match decide(&person, &standing) {
            Ok(decided) => decided,
            Err(refusal) => return Ok(Err(refusal)),
        };
        match store.carry_out(&plan::standing(&state, &action)).await {
            Ok(()) => return Ok(Ok(state)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// The action that records a change of a standing (`state`, just decided).
fn standing_action(state: &Standing, now: Timestamp, by: Actor) -> CaseAction {
    CaseAction {
        id: uuid::Uuid::now_v7().to_string(),
        at: now,
        kind: ActionKind::Pause,
        case_id: None,
        volunteer_id: None,
        by,
        detail: String::new(),
        version: state.version,
        merged: None,
        expires_at: CaseAction::kept_until(state.expires_at, now),
    }
}

/// Record `id`'s standing, if it has one.
pub async fn standing_of<S: CaseDesk>(store: &S, id: &str) -> Result<Option<Standing>, StoreError> {
    store.standing(id).await
}

/// Merges the record `from` into `into`: an organizer says they are one
/// person (a second sign-up with another spelling or contact, a form sent
/// for them by family). Only records on the same form that share a phone
/// or email are merged.
///
/// For each kind of request, `from`'s active case is carried on by `into`:
/// if `into` has none, as a case of `into` with the same dates, state and
/// volunteer; if it has one, that case keeps the earlier of the two dates
/// (the person's wait counts from their first ask) and, if it was still
/// open, takes on `from`'s match or funding. `from`'s cases are closed as
/// merged (a reopen link in the next digest undoes a mistaken merge), and
/// `from` is marked merged: never offered as a volunteer. What `from` sends
/// later still opens cases (shown under its own name), so nobody is hidden.
/// Neither record is rewritten.
///
/// Each try reads both records' cases and writes everything in one atomic
/// store operation; a case that changed meanwhile (a confirmation, a new
/// request) means read again and decide again.
pub async fn merge<S: CaseDesk>(
    store: &S,
    from: &str,
    into: &str,
    now: Timestamp,
    by: Actor,
    expected: Option<StandingVersions>,
) -> Result<Result<MergedRecords, Refusal>, StoreError> {
    let asked = MergeAsked {
        from,
        into,
        now,
        by,
        expected,
    };
    for _ in 0..5 {
        match try_merge(store, asked).await {
            Err(StoreError::Conflict) => continue,
            other => return other,
        }
    }
    Err(StoreError::Conflict)
}

/// The versions of two records' standings an organizer saw (a merge link
/// is bound to both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandingVersions {
    /// The record merged away.
    pub from: u64,
    /// The record kept.
    pub into: u64,
}

/// Record `id`'s standing among `standings` (default: never written).
fn standing_in(standings: &[Standing], id: &str) -> Standing {
    standings
        .iter()
        .find(|s| s.person_id == id)
        .cloned()
        .unwrap_or_default()
}

/// Why a link on two records is refused, if either standing moved since its
/// digest showed them (`expected`; `None`: as they are now, nothing moved).
fn moved_since(
    expected: Option<StandingVersions>,
    from: &Standing,
    into: &Standing,
) -> Option<Refusal> {
    let seen = expected?;
    [(from, seen.from), (into, seen.into)]
        .into_iter()
        .find(|(now_at, saw)| now_at.version != *saw)
        .map(|(now_at, _)| Refusal::StandingMoved {
            changed_at: now_at.changed_at,
        })
}

/// A merge as an organizer asked it: `from` into `into`, at `now`, by `by`,
/// on the standings as they saw them (`None`: as they are now).
#[derive(Clone, Copy)]
struct MergeAsked<'a> {
    from: &'a str,
    into: &'a str,
    now: Timestamp,
    by: Actor,
    expected: Option<StandingVersions>,
}

/// One try of [`merge`]: read, decide, write at once.
async fn try_merge<S: CaseDesk>(
    store: &S,
    asked: MergeAsked<'_>,
) -> Result<Result<MergedRecords, Refusal>, StoreError> {
    let MergeAsked {
        from,
        into,
        now,
        by,
        expected,
    } = asked;
    if from == into {
        return Ok(Err(Refusal::AlreadyMerged));
    }
    let (Some(merged), Some(kept)) = (store.person(from).await?, store.person(into).await?) else {
        return Ok(Err(Refusal::NoRecord));
    };
    let shared = merged
        .submission
        .contact_keys()
        .iter()
        .any(|k| kept.submission.contact_keys().contains(k));
    if !shared {
        return Ok(Err(Refusal::NotLinked));
    }
    let standings = store.standings().await?;
    let standing = |id: &str| standing_in(&standings, id);
    let (from_standing, into_standing) = (standing(from), standing(into));
    let merged_into = |id: &str| standing(id).merged_into;
    let from_cases = store.cases_of(from).await?;
    let into_cases = store.cases_of(into).await?;
    let active_of = |cases: &[Case], kind| {
        cases
            .iter()
            .find(|c| c.kind == kind && c.state.is_active())
            .cloned()
    };
    let carried: Vec<Case> = CaseKind::ALL
        .into_iter()
        .filter_map(|kind| active_of(&from_cases, kind))
        .collect();
    if merged_into(into).is_some()
        || merged_into(from).is_some_and(|other| other != into)
        || (merged_into(from).is_some() && carried.is_empty())
    {
        return Ok(Err(Refusal::AlreadyMerged));
    }
    // A link acts only on the standings its digest showed: a replay after
    // the merge was undone (or either record paused, merged, unmerged) is
    // refused, saying when.
    if let Some(moved) = moved_since(expected, &from_standing, &into_standing) {
        return Ok(Err(moved));
    }
    let helps = store
        .active_cases()
        .await?
        .cases
        .iter()
        .any(|c| c.holds_volunteer() == Some(from));
    if helps {
        return Ok(Err(Refusal::MergedAwayHelps));
    }
    let mut change = MergeChange {
        changed: Vec::new(),
        opened: Vec::new(),
        standing: Standing {
            person_id: from.to_owned(),
            paused_until: from_standing.paused_until,
            merged_into: Some(into.to_owned()),
            // The question "maybe the same person?" is answered.
            maybe_same_as: None,
            carried: from_standing.carried.clone(),
            unanswered: from_standing.unanswered,
            version: from_standing.version + 1,
            changed_at: now,
            expires_at: merged.expires_at,
        },
        into_version: into_standing.version,
        action: CaseAction {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            kind: ActionKind::Merge,
            case_id: None,
            volunteer_id: None,
            by,
            detail: String::new(),
            version: 0,
            merged: None,
            expires_at: CaseAction::kept_until(kept.expires_at, now),
        },
    };
    let mut closed = Vec::new();
    let mut carried_on = Vec::new();
    for old in carried {
        let kept_case = active_of(&into_cases, old.kind);
        // Whether the kept case takes on this one's match or funding.
        let takes_on = kept_case
            .as_ref()
            .is_some_and(|k| k.state == CaseState::Open && old.state != CaseState::Open);
        let closing = Case {
            state: CaseState::Closed,
            closed: Some((now, CloseReason::Merged)),
            changed_at: now,
            version: old.version + 1,
            ..old.clone()
        };
        closed.push(ClosedCase {
            id: closing.id.clone(),
            version: closing.version,
        });
        // Its volunteer's load moves with the match, if the kept case takes
        // it on (the plan sums the moves).
        change.changed.push(CaseChange::new(&old, closing));
        match kept_case {
            Some(k) => {
                carried_on.push(CarriedCase {
                    from_case: old.id.clone(),
                    from_state: old.state,
                    into_case: k.id.clone(),
                    into_before: Some(k.clone()),
                });
                let mut next = Case {
                    opened_at: k.opened_at.min(old.opened_at),
                    version: k.version + 1,
                    ..k.clone()
                };
                for v in &old.declined {
                    if !next.declined.contains(v) {
                        next.declined.push(v.clone());
                    }
                }
                if takes_on {
                    next.state = old.state;
                    next.volunteer_id = old.volunteer_id.clone();
                    next.matched_at = old.matched_at;
                    next.offer = carried_offer(&old);
                    next.introduced = old.introduced;
                    next.changed_at = now;
                }
                change.changed.push(CaseChange::new(&k, next));
            }
            None => {
                let fresh = Case::open(into, old.kind, now, None, kept.expires_at);
                carried_on.push(CarriedCase {
                    from_case: old.id.clone(),
                    from_state: old.state,
                    into_case: fresh.id.clone(),
                    into_before: None,
                });
                change.opened.push(Case {
                    id: fresh.id,
                    person_id: into.to_owned(),
                    version: 1,
                    changed_at: now,
                    expires_at: kept.expires_at,
                    offer: carried_offer(&old),
                    ..old.clone()
                });
            }
        }
    }
    let record = MergedRecords {
        from: from.to_owned(),
        into: into.to_owned(),
        closed,
        carried: carried_on,
    };
    change
        .standing
        .carried
        .extend(record.carried.iter().cloned());
    change.action.merged = Some(record.clone());
    store.carry_out(&change.plan()).await?;
    Ok(Ok(record))
}

/// An offer carried by a merge onto another case: its email answers the
/// case it was sent about (closed by the merge), so from here the offer is
/// a call an organizer makes (the digest says so), never an answer that
/// cannot come.
fn carried_offer(old: &Case) -> Option<Offer> {
    old.offer.as_ref().map(|offer| Offer {
        message: None,
        ..offer.clone()
    })
}

/// Undoes the merge of `record` into the record it was merged into: it is
/// its own person again — its standing its own (a volunteer can be offered
/// again), each request the merge carried on given back with its dates (its
/// case reopened; the kept record's case that carried it closed, or put
/// back as it was before), and a match that moved with a request moved back
/// (as it is now, so a match made since the merge is kept). A request the
/// kept record has closed since is left closed: it was answered. Works for
/// as long as both records exist. `expected`: both standings' versions as
/// the organizer saw them (a link; `None`: as they are now). `by`: `link`,
/// `cli`, or `request` (the kept record is being deleted at its person's
/// request: the next digest says so without naming them).
pub async fn unmerge<S: CaseDesk>(
    store: &S,
    record: &str,
    now: Timestamp,
    by: Actor,
    expected: Option<StandingVersions>,
) -> Result<Result<MergedRecords, Refusal>, StoreError> {
    for _ in 0..5 {
        match try_unmerge(store, record, now, by, expected).await {
            Err(StoreError::Conflict) => continue,
            other => return other,
        }
    }
    Err(StoreError::Conflict)
}

/// One try of [`unmerge`]: read, decide, write at once.
async fn try_unmerge<S: CaseDesk>(
    store: &S,
    record: &str,
    now: Timestamp,
    by: Actor,
    expected: Option<StandingVersions>,
) -> Result<Result<MergedRecords, Refusal>, StoreError> {
    let standings = store.standings().await?;
    let standing = |id: &str| standing_in(&standings, id);
    let from_standing = standing(record);
    let Some(into) = from_standing.merged_into.clone() else {
        return Ok(Err(Refusal::NotMerged));
    };
    let into_standing = standing(&into);
    if let Some(moved) = moved_since(expected, &from_standing, &into_standing) {
        return Ok(Err(moved));
    }
    let (Some(merged), Some(kept)) = (store.person(record).await?, store.person(&into).await?)
    else {
        return Ok(Err(Refusal::NoRecord));
    };
    // What every merge since the last undo carried on (kept on the
    // standing); for merges made before that, the merge actions still kept.
    let mut recorded: Vec<CarriedCase> = from_standing.carried.clone();
    if recorded.is_empty() {
        let actions = store.actions_since(0).await?;
        let since_undo = actions
            .iter()
            .rposition(|a| {
                a.kind == ActionKind::Unmerge && a.merged.as_ref().is_some_and(|m| m.from == record)
            })
            .map_or(0, |at| at + 1);
        recorded = actions[since_undo..]
            .iter()
            .filter(|a| a.kind == ActionKind::Merge)
            .filter_map(|a| a.merged.as_ref())
            .filter(|m| m.from == record && m.into == into)
            .flat_map(|m| m.carried.iter().cloned())
            .collect();
    }
    let from_cases = store.cases_of(record).await?;
    let into_cases = store.cases_of(&into).await?;
    let mut changed = Vec::new();
    let mut given_back = Vec::new();
    // One request of a kind given back, and each case changed once (two
    // merges may have carried requests of one kind onto one case).
    let mut given: Vec<CaseKind> = Vec::new();
    let mut touched: Vec<&str> = Vec::new();
    for carried in &recorded {
        let Some(own) = from_cases.iter().find(|c| c.id == carried.from_case) else {
            continue;
        };
        if given.contains(&own.kind) || touched.contains(&carried.into_case.as_str()) {
            continue;
        }
        let carrier = into_cases
            .iter()
            .find(|c| c.id == carried.into_case && c.state.is_active());
        // Reopened by hand since, or asked again: that request already
        // waits. A case the merge opened on the kept record for it goes, its
        // match or funding to the waiting case if that one is still open.
        if let Some(waiting) = from_cases
            .iter()
            .find(|c| c.kind == own.kind && c.state.is_active())
        {
            if let Some(carrier) = carrier.filter(|_| carried.into_before.is_none()) {
                let moves = carrier.state != CaseState::Open && waiting.state == CaseState::Open;
                // A match moves to the waiting case, or its volunteer is
                // freed (the plan sums the loads).
                changed.push(CaseChange::new(
                    carrier,
                    Case {
                        state: CaseState::Closed,
                        closed: Some((now, CloseReason::Unmerged)),
                        changed_at: now,
                        version: carrier.version + 1,
                        ..carrier.clone()
                    },
                ));
                if moves {
                    changed.push(CaseChange::new(
                        waiting,
                        Case {
                            state: carrier.state,
                            volunteer_id: carrier.volunteer_id.clone(),
                            matched_at: carrier.matched_at,
                            offer: carried_offer(carrier),
                            introduced: carrier.introduced,
                            changed_at: now,
                            version: waiting.version + 1,
                            ..waiting.clone()
                        },
                    ));
                }
                touched.push(&carrier.id);
            }
            given.push(own.kind);
            continue;
        }
        given.push(own.kind);
        let mut back = own.waiting_again(now);
        let carrier = into_cases.iter().find(|c| c.id == carried.into_case);
        if let Some(carrier) = carrier {
            if !carrier.state.is_active() {
                continue; // answered since: it stays closed
            }
            touched.push(&carrier.id);
            // Whether the kept record's case carries this request's match.
            let carries_match = carried.into_before.as_ref().is_none_or(|before| {
                before.state == CaseState::Open && carried.from_state != CaseState::Open
            });
            if carries_match {
                back.state = carrier.state;
                back.volunteer_id = carrier.volunteer_id.clone();
                back.matched_at = carrier.matched_at;
                back.offer = carried_offer(carrier);
                back.introduced = carrier.introduced;
            }
            for v in &carrier.declined {
                if !back.declined.contains(v) {
                    back.declined.push(v.clone());
                }
            }
            let restored = match &carried.into_before {
                None => Case {
                    state: CaseState::Closed,
                    closed: Some((now, CloseReason::Unmerged)),
                    changed_at: now,
                    version: carrier.version + 1,
                    ..carrier.clone()
                },
                Some(before) => {
                    let mut restored = Case {
                        opened_at: before.opened_at,
                        version: carrier.version + 1,
                        ..carrier.clone()
                    };
                    if carries_match {
                        restored.state = CaseState::Open;
                        restored.volunteer_id = None;
                        restored.matched_at = None;
                        restored.changed_at = now;
                    }
                    restored
                }
            };
            changed.push(CaseChange::new(carrier, restored));
        }
        given_back.push(ClosedCase {
            id: back.id.clone(),
            version: back.version,
        });
        changed.push(CaseChange::new(own, back));
    }
    if recorded.is_empty() {
        // A merge recorded before what it carried was kept: each request it
        // closed waits again, unless the kept record still carries one of
        // that kind (and is not being deleted).
        for kind in CaseKind::ALL {
            if from_cases
                .iter()
                .any(|c| c.kind == kind && c.state.is_active())
                || (by != Actor::Request
                    && into_cases
                        .iter()
                        .any(|c| c.kind == kind && c.state.is_active()))
            {
                continue;
            }
            let Some(own) = from_cases
                .iter()
                .filter(|c| c.kind == kind)
                .filter(|c| matches!(c.closed, Some((_, CloseReason::Merged))))
                .max_by_key(|c| c.changed_at)
            else {
                continue;
            };
            let back = own.waiting_again(now);
            given_back.push(ClosedCase {
                id: back.id.clone(),
                version: back.version,
            });
            changed.push(CaseChange::new(own, back));
        }
    }
    let record = MergedRecords {
        from: record.to_owned(),
        into: into.clone(),
        closed: given_back,
        carried: Vec::new(),
    };
    let change = UnmergeChange {
        changed,
        standing: Standing {
            merged_into: None,
            carried: Vec::new(),
            version: from_standing.version + 1,
            changed_at: now,
            expires_at: merged.expires_at,
            ..from_standing
        },
        into_version: into_standing.version,
        action: CaseAction {
            id: uuid::Uuid::now_v7().to_string(),
            at: now,
            kind: ActionKind::Unmerge,
            case_id: None,
            volunteer_id: None,
            by,
            detail: String::new(),
            version: from_standing.version + 1,
            merged: Some(record.clone()),
            expires_at: CaseAction::kept_until(merged.expires_at.max(kept.expires_at), now),
        },
    };
    store.carry_out(&change.plan()).await?;
    Ok(Ok(record))
}
