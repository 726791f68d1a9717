//! The answers a person gives about a case on their own page: the
//! volunteer's "Yes, I can shop for them" / "Not this time" to an offer and
//! their "Can't connect?" once matched; the requester's "Did you get your
//! groceries?" ("Yes, thank you" / "Not yet") and "Can't connect?".
//!
//! A box shows only on a page opened by a link of the record's confirmed
//! email (never a held page), only to a side of the case, and names no one:
//! the offer's details are in the email. Each button is a POST bound to the
//! version of the case it showed (`cv`): after the case moved (the other
//! answer, an organizer, the answer time ran out) it is refused with 409,
//! and nothing changes. The step itself is [`crate::cases::act`], recorded
//! as the person's.

use axum::http::StatusCode;
use mutualaid_site::strings::Strings;

use super::case_pages::{esc, fill};
use crate::cases::{self, Act};
use crate::store::{Actor, Case, CaseDesk, CaseKind, CaseState, Person, StoreError, Timestamp};

/// A button about a case, as posted.
pub(super) struct CaseAnswer {
    case_id: String,
    version: u64,
    answer: Answer,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    NotThisTime,
    CantConnect,
    GotIt,
    NotYet,
}

impl Answer {
    fn from_name(name: &str) -> Option<Answer> {
        Some(match name {
            "yes" => Answer::Yes,
            "not_this_time" => Answer::NotThisTime,
            "cant_connect" => Answer::CantConnect,
            "got_it" => Answer::GotIt,
            "not_yet" => Answer::NotYet,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::NotThisTime => "not_this_time",
            Answer::CantConnect => "cant_connect",
            Answer::GotIt => "got_it",
            Answer::NotYet => "not_yet",
        }
    }
}

/// `do=case` with `case`, `cv` and `answer`, if the fields hold them.
pub(super) fn asked(value: impl Fn(&str) -> Option<String>) -> Option<CaseAnswer> {
    Some(CaseAnswer {
        case_id: value("case")?,
        version: value("cv")?.parse().ok()?,
        answer: Answer::from_name(&value("answer")?)?,
    })
}

/// Which side of `case` `person` is.
fn side(case: &Case, person: &Person) -> Option<Side> {
    if case.volunteer_id.as_deref() == Some(person.id.as_str()) {
        Some(Side::Volunteer)
    } else if case.person_id == person.id {
        Some(Side::Requester)
    } else {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Volunteer,
    Requester,
}

/// The buttons `person` has about `case` as it is now (none: nothing to answer).
fn answers(case: &Case, person: &Person) -> Vec<Answer> {
    if case.kind != CaseKind::Delivery {
        return Vec::new();
    }
    match (side(case, person), case.state) {
        (Some(Side::Volunteer), CaseState::Offered) => vec![Answer::Yes, Answer::NotThisTime],
        (Some(Side::Volunteer), CaseState::Matched) => vec![Answer::CantConnect],
        (Some(Side::Requester), CaseState::Matched) => {
            vec![Answer::GotIt, Answer::NotYet, Answer::CantConnect]
        }
        _ => Vec::new(),
    }
}

/// The boxes of `person`'s page: their own matched delivery case, and the
/// case `asked_case` (from the email's link) if they are its volunteer.
pub(super) async fn boxes<S: CaseDesk>(
    store: &S,
    person: &Person,
    asked_case: Option<&str>,
    token: &str,
    lang: &str,
    strings: &Strings,
    date: &(dyn Fn(Timestamp) -> String + Sync),
) -> Result<String, StoreError> {
    let mut cases: Vec<Case> = store
        .cases_of(&person.id)
        .await?
        .into_iter()
        .filter(|c| c.state == CaseState::Matched)
        .collect();
    if let Some(id) = asked_case
        && let Some(case) = store.case(id).await?
        && case.person_id != person.id
    {
        cases.push(case);
    }
    let t = &strings.pairing;
    let mut html = String::new();
    // Opened from an email about a case that no longer waits for this
    // person's answer (answered, run out, closed, gone): said, in words
    // that tell nothing of it.
    let asked_is_answerable = asked_case.is_some_and(|id| {
        cases
            .iter()
            .any(|c| c.id == id && !answers(c, person).is_empty())
    });
    if asked_case.is_some() && !asked_is_answerable {
        html.push_str(&format!("<p>{}</p>", esc(&t.offer_gone)));
    }
    for case in &cases {
        let buttons = answers(case, person);
        if buttons.is_empty() {
            continue;
        }
        let (title, text) = match (side(case, person), case.state) {
            (Some(Side::Volunteer), CaseState::Offered) => (&t.offer_title, None),
            (Some(Side::Volunteer), _) => (&t.shopping_title, Some(&t.shopping_text)),
            _ => (&t.your_volunteer_title, Some(&t.your_volunteer_text)),
        };
        // One box of each: a person's own request, and the one case their
        // email's link names (the emails link to these anchors).
        let anchor = match (side(case, person), case.state) {
            (Some(Side::Volunteer), CaseState::Offered) => "answer",
            (Some(Side::Volunteer), _) => "shopping",
            _ => "checkin",
        };
        html.push_str(&format!("<h2 id=\"{anchor}\">{}</h2>", esc(title)));
        // The offer as the email told it: no name, no note, no contact.
        if case.state == CaseState::Offered
            && let Some(requester) = store.person(&case.person_id).await?
        {
            let context = crate::offers::CaseContext {
                case: case.clone(),
                requester,
                volunteer: Some(person.clone()),
                network_pays: false,
            };
            for line in crate::offers::offer_lines(strings, lang, &context, &date(case.opened_at)) {
                html.push_str(&format!("<p>{}</p>", esc(&line)));
            }
        }
        if side(case, person) == Some(Side::Requester) {
            html.push_str(&format!("<p>{}</p>", esc(&t.checkin_question)));
        }
        for answer in buttons {
            if answer == Answer::CantConnect
                && let Some(text) = text
            {
                html.push_str(&format!("<p>{}</p>", esc(text)));
            }
            let label = match answer {
                Answer::Yes => &t.btn_yes,
                Answer::NotThisTime => &t.btn_not_this_time,
                Answer::CantConnect => &t.btn_cant_connect,
                Answer::GotIt => &t.btn_got_it,
                Answer::NotYet => &t.btn_not_yet,
            };
            html.push_str(&format!(
                "<form method=\"post\" action=\"me\"><input type=\"hidden\" name=\"t\" value=\"{}\"><input type=\"hidden\" name=\"lang\" value=\"{}\"><input type=\"hidden\" name=\"do\" value=\"case\"><input type=\"hidden\" name=\"case\" value=\"{}\"><input type=\"hidden\" name=\"cv\" value=\"{}\"><input type=\"hidden\" name=\"answer\" value=\"{}\"><p><button type=\"submit\">{}</button></p></form>",
                esc(token),
                esc(lang),
                esc(&case.id),
                case.version,
                answer.name(),
                esc(label),
            ));
        }
    }
    Ok(html)
}

/// What an answer came to: the page's status and its one paragraph.
pub(super) struct Answered {
    /// 200 done; 409 nothing changed.
    pub status: StatusCode,
    /// What to say.
    pub said: String,
}

/// Carries out `asked` for `person`: only a button their page could show
/// for the case as it was at the version shown.
#[allow(clippy::too_many_arguments)]
pub(super) async fn answer<S: CaseDesk>(
    store: &S,
    person: &Person,
    asked: &CaseAnswer,
    strings: &Strings,
    discord_url: &str,
    now: Timestamp,
    date: &(dyn Fn(Timestamp) -> String + Sync),
) -> Result<Answered, StoreError> {
    let t = &strings.pairing;
    let gone = || Answered {
        status: StatusCode::CONFLICT,
        said: t.offer_gone.clone(),
    };
    // A replay after the case moved: what changed, and when.
    let moved = |case: &Case| Answered {
        status: StatusCode::CONFLICT,
        said: fill(&t.answer_moved, &[("date", &date(case.changed_at))]),
    };
    let Some(case) = store.case(&asked.case_id).await? else {
        return Ok(gone());
    };
    if side(&case, person).is_none() {
        return Ok(gone());
    }
    if case.version != asked.version || !answers(&case, person).contains(&asked.answer) {
        return Ok(moved(&case));
    }
    let volunteer = side(&case, person) == Some(Side::Volunteer);
    let (act, said) = match asked.answer {
        Answer::Yes => (Act::Accept, t.accepted_done.clone()),
        Answer::NotThisTime => (Act::Refuse { no_answer: false }, t.refused_done.clone()),
        Answer::CantConnect if volunteer => (
            Act::CantConnect { volunteer: true },
            t.volunteer_cant_connect_done.clone(),
        ),
        Answer::CantConnect => (
            Act::CantConnect { volunteer: false },
            t.requester_cant_connect_done.clone(),
        ),
        Answer::GotIt => (
            Act::CheckIn { got_it: true },
            fill(&t.got_it_done, &[("url", discord_url)]),
        ),
        Answer::NotYet => (
            Act::CheckIn { got_it: false },
            fill(&t.not_yet_done, &[("url", discord_url)]),
        ),
    };
    // Refused while the case is as the page showed it: something beside it
    // changed at the same moment (the volunteer's standing, their load);
    // decided again, a few times, before the answer is said to be moved.
    for _ in 0..3 {
        let acted = cases::act(
            store,
            &case.id,
            Some(asked.version),
            act.clone(),
            now,
            usize::MAX,
            Actor::Person,
        )
        .await?;
        if acted.is_ok() {
            return Ok(Answered {
                status: StatusCode::OK,
                said,
            });
        }
        match store.case(&case.id).await? {
            Some(now_case) if now_case.version == asked.version => continue,
            Some(now_case) => return Ok(moved(&now_case)),
            None => return Ok(gone()),
        }
    }
    Ok(moved(&case))
}
