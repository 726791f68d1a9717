//! The pairing reaching the people: an organizer's confirmation **offers** a
//! case to a volunteer ([`crate::cases::Act::Confirm`]), who says yes or
//! "not this time" on their own page; a yes introduces both sides; some
//! days later the requester is asked whether the groceries came.
//!
//! Every step is a plan of [`crate::cases::act`] with the messages it causes
//! (written with it, rendered when sent, from ids only: see
//! [`crate::store::message`]); this module holds what those steps share —
//! who can be reached by email, the messages about a case, and the
//! timers the sender carries out on its schedule ([`run_out`]).
//!
//! **Reachable by email** means a confirmed email the person verified on
//! their own page ("Yes, this is my email"), whose mail was not stopped
//! (unsubscribed, refused) and that did not say "this wasn't me". A side
//! that is not becomes a call in the digest, never silence.

use mutualaid_forms::FormId;
use mutualaid_site::strings::Strings;

use crate::cases::{self, Act};
use crate::digest::render::fill;
use crate::store::message::{LinkedMessage, Message, MessageKind, MessageState};
use crate::store::{
    Actor, Case, CaseDesk, CaseKind, CaseState, Person, Records, SenderStore, StoreError, Timestamp,
};

/// The address `person` can be reached at by email, if any (see the
/// module's doc).
pub async fn reachable_email<S: SenderStore>(
    store: &S,
    person: &Person,
) -> Result<Option<String>, StoreError> {
    if !person.email_verified() {
        return Ok(None);
    }
    let Some(email) = person.submission.email() else {
        return Ok(None);
    };
    if store.mail_stop(&person.id, email).await?.is_some() {
        return Ok(None);
    }
    let key = store.address_key().await?;
    if store.suppressed(&key.hash(email)).await? {
        return Ok(None);
    }
    Ok(Some(email.to_owned()))
}

/// A message of `kind` about `case` to `person` at `to`, with a new link
/// to their page (where its buttons are).
pub fn case_mail(
    person: &Person,
    to: &str,
    kind: MessageKind,
    case: &Case,
    now: Timestamp,
) -> LinkedMessage {
    let mut mail = LinkedMessage::new(person, to, kind, &case.id, false, now);
    mail.message.case_id = Some(case.id.clone());
    mail
}

/// What a message about a case is rendered from, read when it is sent.
#[derive(Debug, Clone)]
pub struct CaseContext {
    /// The case as it is now.
    pub case: Case,
    /// Who asked.
    pub requester: Person,
    /// The volunteer, if still on record.
    pub volunteer: Option<Person>,
    /// The network pays the groceries (the requester's money request is
    /// funded).
    pub network_pays: bool,
}

/// The case `message` is about, if it is still where the message speaks
/// of it: an offer still waiting for this very email's answer, an
/// introduction or a check-in of a match still going, a thank-you of a
/// case closed. None: the message is not sent (the case moved on, or
/// either side was deleted).
pub async fn context_of<S: Records>(
    store: &S,
    message: &Message,
) -> Result<Option<CaseContext>, StoreError> {
    let Some(case_id) = &message.case_id else {
        return Ok(None);
    };
    let Some(case) = store.case(case_id).await? else {
        return Ok(None);
    };
    let current = match message.kind {
        MessageKind::Offer => {
            case.state == CaseState::Offered
                && case.offer.as_ref().and_then(|o| o.message.as_deref()) == Some(&message.id)
        }
        // Only about the match it was written for: one made since (after
        // "can't connect", a close and reopen) has its own, and a former
        // volunteer is no longer a side of the case.
        MessageKind::Introduction | MessageKind::CheckIn => {
            case.state == CaseState::Matched
                && case.matched_at.is_some_and(|at| message.created_at >= at)
                && (message.person_id == case.person_id
                    || case.volunteer_id.as_deref() == Some(message.person_id.as_str()))
        }
        MessageKind::ThankYou => case.state == CaseState::Closed,
        _ => false,
    };
    if !current {
        return Ok(None);
    }
    let Some(requester) = store.person(&case.person_id).await? else {
        return Ok(None);
    };
    let volunteer = match &case.volunteer_id {
        Some(id) => store.person(id).await?,
        None => None,
    };
    if volunteer.is_none() && message.kind != MessageKind::CheckIn {
        return Ok(None);
    }
    let network_pays = store
        .cases_of(&case.person_id)
        .await?
        .iter()
        .any(|c| c.kind == CaseKind::Funding && c.state == CaseState::Funded);
    Ok(Some(CaseContext {
        case,
        requester,
        volunteer,
        network_pays,
    }))
}

/// The timer an offer email starts once the mail service accepted it: due
/// `offer_hours` later, under the requester's record (it goes with it).
pub fn offer_timer(
    offer: &Message,
    context: &CaseContext,
    accepted_at: Timestamp,
    offer_hours: u32,
) -> Message {
    let due = accepted_at + i64::from(offer_hours) * 3_600;
    Message {
        case_id: Some(context.case.id.clone()),
        state: MessageState::Waiting {
            attempts: 0,
            next_at: due,
        },
        ..Message::new(
            &context.requester.id,
            "",
            offer.lang,
            MessageKind::OfferRunsOut,
            &offer.id,
            accepted_at,
            context.requester.expires_at,
        )
    }
}

/// The check-in an introduction to the requester starts once the mail
/// service accepted it: "Did you get your groceries?", due `checkin_days`
/// later, with a new link to their page.
pub fn check_in(
    introduction: &Message,
    context: &CaseContext,
    accepted_at: Timestamp,
    checkin_days: u32,
) -> LinkedMessage {
    let mut mail = case_mail(
        &context.requester,
        &introduction.to,
        MessageKind::CheckIn,
        &context.case,
        accepted_at,
    );
    mail.message.state = MessageState::Waiting {
        attempts: 0,
        next_at: accepted_at + i64::from(checkin_days) * 86_400,
    };
    mail
}

/// An offer's time ran out ([`MessageKind::OfferRunsOut`] came due): if
/// the case is still offered by that email, the offer ends as "no answer"
/// (the case waits again; two in a row pause the volunteer). Returns
/// whether the timer is done (false: the store refused the change; it is
/// tried again).
pub async fn run_out<S: CaseDesk>(
    store: &S,
    timer: &Message,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(case_id) = &timer.case_id else {
        return Ok(true);
    };
    let Some(case) = store.case(case_id).await? else {
        return Ok(true);
    };
    let still_waiting = case.state == CaseState::Offered
        && case
            .offer
            .as_ref()
            .is_some_and(|o| o.by_email() && o.message.as_deref() == Some(&timer.about));
    if !still_waiting {
        return Ok(true);
    }
    let acted = cases::act(
        store,
        case_id,
        Some(case.version),
        Act::Refuse { no_answer: true },
        now,
        usize::MAX,
        Actor::Store,
    )
    .await?;
    Ok(acted.is_ok())
}

/// A person's first name, as they wrote it (the first word of their name).
pub fn first_name(person: &Person) -> &str {
    person
        .submission
        .name()
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

/// What an offer says of the neighbour, naming no one: that someone near
/// needs groceries, their area and how far, their household, the
/// languages they speak, and since when (`since`, a spoken date).
pub fn offer_lines(
    strings: &Strings,
    lang: &str,
    context: &CaseContext,
    since: &str,
) -> Vec<String> {
    let t = &strings.pairing;
    let requester = &context.requester;
    let miles = context
        .volunteer
        .as_ref()
        .and_then(|v| distance(v, requester))
        .map_or_else(String::new, |m| format!("{m:.1}"));
    let mut lines = vec![
        t.offer_text.clone(),
        fill(
            &t.offer_area,
            &[("area", &area_of(requester)), ("miles", &miles)],
        ),
    ];
    lines.extend(household_line(strings, lang, requester));
    lines.push(languages_line(strings, requester));
    lines.push(fill(&t.offer_since, &[("date", since)]));
    lines
}

/// "92113 Barrio Logan": a sign-up's ZIP and its area.
pub fn area_of(person: &Person) -> String {
    match &person.submission {
        crate::store::Submission::Signup(s) => crate::digest::render::area_name(&s.zip),
        crate::store::Submission::Donate(_) => String::new(),
    }
}

/// "Household: 4 people.", if the sign-up says.
pub fn household_line(strings: &Strings, lang: &str, person: &Person) -> Option<String> {
    match &person.submission {
        crate::store::Submission::Signup(s) => s
            .household_size
            .map(|n| strings.pairing.household.of(lang, u64::from(n))),
        crate::store::Submission::Donate(_) => None,
    }
}

/// "Languages they speak: …", each named in the reader's words (the
/// sign-up form's own labels).
pub fn languages_line(strings: &Strings, person: &Person) -> String {
    let codes: &[String] = match &person.submission {
        crate::store::Submission::Signup(s) => &s.languages,
        crate::store::Submission::Donate(_) => &[],
    };
    let names: Vec<String> = codes
        .iter()
        .map(|code| {
            strings
                .form(FormId::Signup)
                .fields
                .get("languages")
                .and_then(|f| f.options.get(code))
                .cloned()
                .unwrap_or_else(|| code.clone())
        })
        .collect();
    fill(
        &strings.pairing.languages,
        &[("languages", &names.join(", "))],
    )
}

/// Miles between two sign-ups' ZIP areas, if both are known.
fn distance(a: &Person, b: &Person) -> Option<f64> {
    let zip = |p: &Person| match &p.submission {
        crate::store::Submission::Signup(s) => mutualaid_forms::zips::find(&s.zip),
        crate::store::Submission::Donate(_) => None,
    };
    let (a, b) = (zip(a)?, zip(b)?);
    Some(crate::digest::pairing::miles(
        (a.lat, a.lon),
        (b.lat, b.lon),
    ))
}
