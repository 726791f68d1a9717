//! The organizers' action pages, behind the digest's signed links.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /api/case?<signed link>` | `200`: who and what, and one button (a form posting the same link); **changes nothing** (mail scanners follow links) |
//! | `POST /api/case` (the button) | `200` done; `409` nothing changed, and why (the case moved on since the digest, the volunteer is at the cap, the records are already merged, …) |
//! | an altered link, or signed with a key no longer in use | `403`, saying which |
//! | an expired link | `403`, saying when it expired |
//! | no keys configured | `404` |
//!
//! Every page is in the organizers' language (the link carries it), sends
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, is not
//! indexed, and never logs the link (the request log has no query string).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mutualaid_forms::zips;
use mutualaid_site::strings::{DigestTexts, Strings};

use super::App;
use crate::cases::{self, Act, Refusal};
use crate::links::{ActionLink, KeySource, LinkError};
use crate::store::{
    ActionKind, Actor, Case, CaseDesk, CaseKind, CaseState, CloseReason, Person, StoreError,
    Timestamp,
};

/// What organizer actions need: the keys links are signed with, and the cap.
#[derive(Debug, Clone)]
pub struct OrganizerActions {
    /// Where the keys come from.
    pub keys: KeySource,
    /// The most people one volunteer helps at once.
    pub cap: usize,
    /// The organizers' time zone, for dates on the pages.
    pub time_zone: String,
}

pub(super) fn esc(value: &str) -> String {
    html_escape::encode_quoted_attribute(value).into_owned()
}

pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

pub(super) fn date(t: Timestamp, tz: &str) -> String {
    jiff::Timestamp::from_second(t)
        .ok()
        .and_then(|ts| jiff::tz::TimeZone::get(tz).ok().map(|z| ts.to_zoned(z)))
        .map(|z| z.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn page(status: StatusCode, lang: &str, title: &str, body: &str) -> Response {
    page_with(status, lang, "ltr", title, body, "no-referrer")
}

/// A small page of its own (no script, not indexed, never cached), sent
/// with `referrer` as its `Referrer-Policy`.
pub(super) fn page_with(
    status: StatusCode,
    lang: &str,
    dir: &str,
    title: &str,
    body: &str,
    referrer: &'static str,
) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"{dir}><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>body{{font-family:system-ui,sans-serif;line-height:1.5;max-width:40rem;margin:1rem auto;padding:0 1rem;color:#1a1a1a;background:#fff}}button{{font:inherit;font-weight:bold;padding:.75rem 1.25rem;border:0;border-radius:.25rem;background:#0b5394;color:#fff;cursor:pointer}}button:focus{{outline:3px solid #f0b400;outline-offset:2px}}</style></head><body><main><h1>{title}</h1>{body}</main></body></html>",
        lang = esc(lang),
        dir = if dir == "rtl" { " dir=\"rtl\"" } else { "" },
        title = esc(title),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, referrer),
            (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        ],
        html,
    )
        .into_response()
}

/// The organizers' words in `lang` (or the first language there is).
fn words<'a, S>(app: &'a App<S>, lang: &str) -> (&'a Strings, String) {
    match app.site.strings.get(lang) {
        Some(s) => (s, lang.to_owned()),
        None => {
            let (code, s) = app
                .site
                .strings
                .iter()
                .next()
                .expect("the site has at least one language");
            (s, code.clone())
        }
    }
}

/// The language a query asks for, even before it is verified.
fn asked_lang(query: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "l")
        .map(|(_, v)| v.into_owned())
        .filter(|l| l.len() <= 8 && l.chars().all(|c| c.is_ascii_alphabetic()))
        .unwrap_or_default()
}

fn unusable<S>(app: &App<S>, query: &str, error: LinkError, tz: &str) -> Response {
    let (strings, lang) = words(app, &asked_lang(query));
    let t = &strings.digest;
    let why = match error {
        LinkError::Altered => t.link_altered.clone(),
        LinkError::UnknownKey => t.link_unknown_key.clone(),
        LinkError::Expired { at } => fill(&t.link_expired, &[("date", &date(at, tz))]),
    };
    page(
        StatusCode::FORBIDDEN,
        &lang,
        &t.page_unusable,
        &format!("<p>{}</p>", esc(&why)),
    )
}

fn name(p: &Person) -> &str {
    p.submission.name()
}

fn area(p: &Person) -> String {
    match &p.submission {
        crate::store::Submission::Signup(s) => match zips::find(&s.zip) {
            Some(z) => format!("{} {}", z.code, z.neighborhood.unwrap_or(z.city)),
            None => s.zip.clone(),
        },
        crate::store::Submission::Donate(_) => String::new(),
    }
}

fn state_word(state: CaseState, t: &DigestTexts) -> &str {
    match state {
        CaseState::Open => &t.state_open,
        CaseState::Offered => &t.state_offered,
        CaseState::Matched => &t.state_matched,
        CaseState::Funded => &t.state_funded,
        CaseState::Closed => &t.state_closed,
    }
}

/// What the link is about, read now.
struct Subject {
    case: Option<Case>,
    person: Option<Person>,
    volunteer: Option<Person>,
}

/// A record or case read for a page: one that does not decode is shown as
/// unknown ("—"); a store that cannot be read fails the page (503), never
/// shows nobody.
fn readable<T>(read: Result<Option<T>, StoreError>) -> Result<Option<T>, StoreError> {
    match read {
        Err(StoreError::Unreadable { .. }) => Ok(None),
        other => other,
    }
}

async fn subject<S: CaseDesk>(app: &App<S>, link: &ActionLink) -> Result<Subject, StoreError> {
    if matches!(
        link.action,
        ActionKind::Merge | ActionKind::TwoPeople | ActionKind::Unmerge
    ) {
        // The record merged away or asked about (`detail`) and the other (`volunteer`).
        let read = |id: &str| {
            let id = id.to_owned();
            async move { readable(app.store.person(&id).await) }
        };
        return Ok(Subject {
            case: None,
            person: read(link.record()).await?,
            volunteer: read(link.volunteer.as_deref().unwrap_or("")).await?,
        });
    }
    let case = match &link.case {
        Some(id) => readable(app.store.case(id).await)?,
        None => None,
    };
    let person = match &case {
        Some(c) => readable(app.store.person(&c.person_id).await)?,
        None => None,
    };
    let volunteer = match link
        .volunteer
        .as_deref()
        .or_else(|| case.as_ref().and_then(|c| c.volunteer_id.as_deref()))
    {
        Some(id) => readable(app.store.person(id).await)?,
        None => None,
    };
    Ok(Subject {
        case,
        person,
        volunteer,
    })
}

/// The answer when the store cannot be read: try again.
fn store_unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "store could not be read for an action page");
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

/// The action in words: the page's title, which the button repeats.
fn what(link: &ActionLink, s: &Subject, t: &DigestTexts) -> String {
    let person = s.person.as_ref().map(name).unwrap_or("—");
    let volunteer = s.volunteer.as_ref().map(name).unwrap_or("—");
    let template = match (link.action, link.close_reason()) {
        (ActionKind::Confirm, _) => &t.page_confirm,
        (ActionKind::Decline, _) => &t.page_decline,
        (ActionKind::Close, CloseReason::Done) => &t.page_done,
        (ActionKind::Close, _) => &t.page_close,
        (ActionKind::Fund, _) => &t.page_fund,
        (ActionKind::Reopen, _) => &t.page_reopen,
        (ActionKind::Keep, _) => &t.page_keep,
        (ActionKind::Pause, _) => &t.page_pause,
        (ActionKind::Merge, _) => &t.page_merge,
        (ActionKind::TwoPeople, _) => &t.page_two_people,
        (ActionKind::Unmerge, _) => &t.page_unmerge,
        (ActionKind::Accept, _) => &t.page_accept,
        (ActionKind::Refuse, _) => &t.page_refuse,
        // Never signed into a link (`ActionKind::made_from_a_link`).
        _ => &t.refused_other,
    };
    fill(
        template,
        &[
            ("person", person),
            ("volunteer", volunteer),
            ("days", &link.days().to_string()),
        ],
    )
}

/// The link a page was opened or a button pressed with, checked at `now`;
/// or the answer to give instead (the keys unreadable, the link unusable).
async fn verified<S>(
    app: &App<S>,
    actions: &OrganizerActions,
    signed: &str,
    now: Timestamp,
) -> Result<ActionLink, Response> {
    let keys = match actions.keys.keys().await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e, "no link keys");
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    keys.verify(signed, now)
        .map_err(|e| unusable(app, signed, e, &actions.time_zone))
}

/// `GET /api/case`: the page with one button. Changes nothing.
pub(super) async fn show<S: CaseDesk>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(actions) = &app.config.organizer_actions else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let query = query.unwrap_or_default();
    let tz = &actions.time_zone;
    let link = match verified(&app, actions, &query, (app.clock)()).await {
        Ok(link) => link,
        Err(answer) => return answer,
    };
    let (strings, lang) = words(&app, &link.lang);
    let t = &strings.digest;
    let s = match subject(&app, &link).await {
        Ok(s) => s,
        Err(e) => return store_unavailable(&e),
    };
    let title = what(&link, &s, t);
    let mut body = String::new();
    if let (Some(case), Some(person)) = (&s.case, &s.person) {
        let kind = match case.kind {
            CaseKind::Delivery => &t.kind_delivery,
            CaseKind::Funding => &t.kind_funding,
        };
        let line = fill(
            &t.page_case,
            &[
                ("kind", kind),
                ("person", name(person)),
                ("area", &area(person)),
                ("state", state_word(case.state, t)),
                ("date", &date(case.changed_at, tz)),
            ],
        );
        body.push_str(&format!("<p>{}</p>", esc(&line)));
    }
    if matches!(
        link.action,
        ActionKind::Merge | ActionKind::TwoPeople | ActionKind::Unmerge
    ) {
        for p in s.person.iter().chain(s.volunteer.iter()) {
            let line = fill(
                &t.page_record,
                &[
                    ("person", name(p)),
                    ("area", &area(p)),
                    ("date", &date(p.created_at, tz)),
                ],
            );
            body.push_str(&format!("<p>{}</p>", esc(&line)));
        }
        if link.action == ActionKind::Merge {
            body.push_str(&format!("<p>{}</p>", esc(&t.page_merge_note)));
        }
    } else if let Some(v) = &s.volunteer {
        let load = match cases::load(&app.store, &v.id).await {
            Ok(load) => load,
            Err(e) => return store_unavailable(&e),
        };
        let load = t.people.of(&t.lang, load as u64);
        let line = fill(
            &t.page_volunteer,
            &[("volunteer", name(v)), ("area", &area(v)), ("load", &load)],
        );
        body.push_str(&format!("<p>{}</p>", esc(&line)));
    }
    body.push_str(&format!("<p>{}</p>", esc(&t.page_note)));
    // The button posts the link itself: the POST verifies it again.
    body.push_str("<form method=\"post\" action=\"\">");
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(&k),
            esc(&v)
        ));
    }
    body.push_str(&format!(
        "<button type=\"submit\">{}</button></form>",
        esc(&title)
    ));
    tracing::info!(action = link.action.name(), status = 200, "action page");
    page(StatusCode::OK, &lang, &title, &body)
}

/// `POST /api/case`: the button. Acts only on the case as the link saw it.
pub(super) async fn act<S: CaseDesk>(State(app): State<Arc<App<S>>>, body: Bytes) -> Response {
    let Some(actions) = &app.config.organizer_actions else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let form = String::from_utf8_lossy(&body).into_owned();
    let tz = &actions.time_zone;
    let now = (app.clock)();
    let link = match verified(&app, actions, &form, now).await {
        Ok(link) => link,
        Err(answer) => return answer,
    };
    let (strings, lang) = words(&app, &link.lang);
    let t = &strings.digest;
    let before = match subject(&app, &link).await {
        Ok(s) => s,
        Err(e) => return store_unavailable(&e),
    };
    let title = what(&link, &before, t);
    let outcome = match link.action {
        kind if !kind.made_from_a_link() => Ok(Err(Refusal::NotApplicable(
            "a deletion, or what the store found, is not made from a link",
        ))),
        ActionKind::Merge => {
            let into = link.volunteer.as_deref().unwrap_or("");
            let seen = cases::StandingVersions {
                from: link.version,
                into: link.other_version.unwrap_or(0),
            };
            cases::merge(
                &app.store,
                link.record(),
                into,
                now,
                Actor::Link,
                Some(seen),
            )
            .await
            .map(|done| done.map(drop))
        }
        ActionKind::Unmerge => {
            let seen = cases::StandingVersions {
                from: link.version,
                into: link.other_version.unwrap_or(0),
            };
            cases::unmerge(&app.store, link.record(), now, Actor::Link, Some(seen))
                .await
                .map(|done| done.map(drop))
        }
        ActionKind::TwoPeople => cases::two_people(
            &app.store,
            link.record(),
            now,
            Actor::Link,
            Some(link.version),
        )
        .await
        .map(|done| done.map(drop)),
        ActionKind::Pause => {
            let days = link.days();
            let volunteer = link.volunteer.as_deref().unwrap_or("");
            cases::pause(
                &app.store,
                volunteer,
                days,
                now,
                Actor::Link,
                Some(link.version),
            )
            .await
            .map(|done| done.map(drop))
        }
        kind => {
            let volunteer = link.volunteer.clone().unwrap_or_default();
            let act = match kind {
                ActionKind::Confirm => Act::Confirm { volunteer },
                ActionKind::Decline => Act::Decline { volunteer },
                ActionKind::Close => Act::Close(link.close_reason()),
                ActionKind::Fund => Act::Fund,
                ActionKind::Reopen => Act::Reopen,
                ActionKind::Accept => Act::Accept,
                ActionKind::Refuse => Act::Refuse { no_answer: false },
                // Keep; the others are answered above.
                _ => Act::Keep,
            };
            let case = link.case.as_deref().unwrap_or("");
            cases::act(
                &app.store,
                case,
                Some(link.version),
                act,
                now,
                actions.cap,
                Actor::Link,
            )
            .await
            .map(|done| done.map(drop))
        }
    };
    let result: Result<(), Refusal> = match outcome {
        Ok(result) => result,
        Err(e) => return store_unavailable(&e),
    };
    tracing::info!(
        action = link.action.name(),
        acted = result.is_ok(),
        "organizer action"
    );
    match result {
        Ok(()) => page(
            StatusCode::OK,
            &lang,
            &t.page_acted,
            &format!(
                "<p>{}</p>",
                esc(&fill(&t.page_acted_text, &[("what", &title)]))
            ),
        ),
        Err(refusal) => {
            let after = match subject(&app, &link).await {
                Ok(s) => s,
                Err(e) => return store_unavailable(&e),
            };
            let person = after.person.as_ref().map(name).unwrap_or("—");
            let volunteer = after.volunteer.as_ref().map(name).unwrap_or("—");
            let why = match refusal {
                Refusal::Moved { state, changed_at } => fill(
                    &t.refused_moved,
                    &[
                        ("state", state_word(state, t)),
                        ("date", &date(changed_at, tz)),
                    ],
                ),
                Refusal::AtCapacity { load, cap } => fill(
                    &t.refused_capacity,
                    &[
                        ("volunteer", volunteer),
                        ("load", &t.people.of(&t.lang, load as u64)),
                        ("cap", &cap.to_string()),
                    ],
                ),
                Refusal::NoCase => t.refused_no_case.clone(),
                Refusal::NoVolunteer => t.refused_no_volunteer.clone(),
                Refusal::AlreadyOpen => fill(&t.refused_already_open, &[("person", person)]),
                Refusal::NoRecord => t.refused_no_record.clone(),
                Refusal::AlreadyMerged => t.refused_merged.clone(),
                Refusal::NotLinked => t.refused_not_linked.clone(),
                Refusal::MergedAwayHelps => fill(&t.refused_merge_volunteer, &[("person", person)]),
                Refusal::StandingMoved { changed_at } => fill(
                    &t.refused_standing_moved,
                    &[("date", &date(changed_at, tz))],
                ),
                Refusal::NotMerged => t.refused_not_merged.clone(),
                Refusal::NotApplicable(_) => t.refused_other.clone(),
            };
            page(
                StatusCode::CONFLICT,
                &lang,
                &t.page_refused,
                &format!("<p>{}</p><p>{}</p>", esc(&title), esc(&why)),
            )
        }
    }
}
