//! Each person's own page, behind the private link in their receipt
//! ([`crate::store::page_link`]).
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /api/me?t=TOKEN[&lang=es]` | `200`: where they stand, in general words ("We are looking for a volunteer near you — 3 days so far"), none of their details, and the buttons; **changes nothing** (mail scanners open every link) |
//! | `GET /api/me?t=TOKEN&change=1` | "Change my details": an empty form of the fields a person may change; changes nothing |
//! | `GET /api/me?t=TOKEN&case=CASE` | the same page, with what the person can answer about that case if they are a side of it (the offer's "Yes, I can shop for them" / "Not this time", "Can't connect?", the check-in: `http::case_answers`); a requester's own matched request shows its buttons without `case` |
//! | `POST /api/me` (`do=case`, `case`, `cv`, `answer`) | an answer about a case, bound to the case's version `cv`: `200` done; `409` nothing changed, because the case moved (another answer, an organizer, the answer time ran out), saying when |
//! | `POST /api/me` (a button: `t`, `do`, `v`) | `200` done; `409` nothing changed, because the sign-up changed since the page showed version `v` (a second tab, an old page), with where it stands now; `422` a change with a value the form would refuse, named beside its field |
//! | an unknown, revoked or expired link, or one whose address is no longer the record's email | `403`, and the way to ask for a new one |
//! | `GET /api/me/stop?t=TOKEN`, `POST /api/me/stop` | "stop emails" (every message's `List-Unsubscribe`, one-click by RFC 8058): the GET a page with one button, the POST stops mail to that address about that record — the page and the request stay, and the next digest says so |
//! | `GET /api/me/not-me?t=TOKEN`, `POST /api/me/not-me` | "This wasn't me — don't email me again" (every receipt's "Not you?"): the address gets nothing more from any form (kept as a keyed hash), the link stops working, the digest asks the organizers to reach the person another way; the record stays |
//! | `GET /api/me/again`, `POST /api/me/again` (`email`) | a fresh link mailed to each record that address is the email of (at most once an hour per record; older links stay valid); the same answer whether or not the address is known |
//!
//! The buttons: "I don't need help anymore" (closes the open requests as
//! withdrawn), "Pause me for N weeks" and "I'm back" (volunteers), "Delete
//! my data" (a confirmation page, then the same erasure as `mutualaid
//! delete`, for this record only), "Change my details" (`crate::details`:
//! a field left empty keeps its value; a change that would give the record
//! another's identity applies nothing, is answered the same and flagged),
//! and, while the public form brought a contact the record has not
//! confirmed, "Yes, that was me" / "I didn't make this change"
//! (`crate::contacts`). A **held** link (an email new to an existing
//! record) shows a sign-up of the day the link was made and its buttons
//! change only the link's own state: never the record.
//!
//! Every page sends `Referrer-Policy: same-origin` (the token is in the
//! address), `Cache-Control: no-store` and `noindex`, has no script, and is
//! in the link's language with a switch to the site's others. The request
//! log never holds the token (it has no query string; a POST's body is not
//! logged).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mutualaid_forms::normalize::name_key;
use mutualaid_forms::{Lang, Role};
use mutualaid_site::strings::{Direction, MessageTexts, OwnPageTexts, Strings};

use super::App;
use super::case_pages::{esc, fill, page_with};
use crate::cases::{self, Act};
use crate::contacts;
use crate::details;
use crate::outbox::spoken_date;
use crate::store::message::{LinkedMessage, MailStop, MessageKind, StopReason};
use crate::store::page_link::{PageLink, hash_of, is_token};
use crate::store::{
    Actor, AdminStore, Case, CaseAction, CaseDesk, CaseKind, CaseState, CloseReason, DigestStore,
    IntakeStore, Person, Plan, SenderStore, StoreError, Timestamp, Write, plan,
};

/// A link's page may be asked for again at most this often per record.
const AGAIN_EVERY: i64 = 3_600;
/// An address that said "this wasn't me" is kept at least this long.
const SUPPRESSED_AT_LEAST: Timestamp = 365 * 86_400;

/// What a link opens, read now.
enum Opened {
    /// Nothing it may show.
    Gone,
    /// A held link: its own state only.
    Held(PageLink, Person),
    /// The record, through a link of its confirmed email.
    Live(PageLink, Person),
}

async fn open<S: IntakeStore>(store: &S, token: &str) -> Result<Opened, StoreError> {
    if !is_token(token) {
        return Ok(Opened::Gone);
    }
    let Some(link) = store.page_link(&hash_of(token)).await? else {
        return Ok(Opened::Gone);
    };
    if link.revoked_at.is_some() {
        return Ok(Opened::Gone);
    }
    let person = match store.person(&link.person_id).await {
        Ok(Some(person)) => person,
        Ok(None) | Err(StoreError::Unreadable { .. }) => return Ok(Opened::Gone),
        Err(e) => return Err(e),
    };
    if link.held.is_some() {
        return Ok(if link.held.is_some_and(|h| h.deleted) {
            Opened::Gone
        } else {
            Opened::Held(link, person)
        });
    }
    // A link acts only while its address is the record's email.
    if person.submission.email() != Some(link.address.as_str()) {
        return Ok(Opened::Gone);
    }
    Ok(Opened::Live(link, person))
}

/// The words in `lang`, else the site's first language.
fn words<'a, S>(app: &'a App<S>, lang: &str) -> (String, &'a Strings) {
    match app.site.strings.get(lang) {
        Some(s) => (lang.to_owned(), s),
        None => {
            let code = app
                .site
                .config
                .languages
                .first()
                .cloned()
                .unwrap_or_default();
            let s = app
                .site
                .strings
                .get(&code)
                .or_else(|| app.site.strings.values().next())
                .expect("the site has words in at least one language");
            (code, s)
        }
    }
}

fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A language a request asks for (`lang`), if it is a code.
fn asked_lang(fields: &str) -> Option<String> {
    query_value(fields, "lang").filter(|l| Lang::parse(l).is_some())
}

/// Where a person's request stands, as the page shows it.
struct Standing {
    /// The version the page shows: the record's, its standing's and its
    /// cases' (a button acts only if they are still these).
    shown: String,
    /// Its lines, in general words.
    lines: Vec<String>,
    /// Which buttons it offers.
    withdraw: bool,
    volunteer: bool,
    paused: bool,
    /// Since when a contact the public form brought waits for "was this
    /// you?" (a live page only).
    pending_since: Option<Timestamp>,
    /// Whether it asks "Is this your email?" (a live page whose record's
    /// email is not verified).
    verify: bool,
}

fn days_since(since: Timestamp, now: Timestamp) -> u64 {
    u64::try_from((now - since).max(0) / 86_400).unwrap_or(0)
}

/// The lines of a request of `kind` in `state`, opened at `opened`.
fn case_line(
    t: &OwnPageTexts,
    lang: &str,
    case: &Case,
    now: Timestamp,
    date: &(dyn Fn(Timestamp) -> String + Sync),
) -> String {
    match (case.state, case.kind) {
        (CaseState::Open, CaseKind::Delivery) => {
            t.looking.of(lang, days_since(case.opened_at, now))
        }
        (CaseState::Open, CaseKind::Funding) => {
            t.money_waiting.of(lang, days_since(case.opened_at, now))
        }
        // An offer waits for the volunteer's yes: still looking, for them.
        (CaseState::Offered, _) => t.looking.of(lang, days_since(case.opened_at, now)),
        (CaseState::Matched, _) => t.matched.clone(),
        (CaseState::Funded, _) => t.funded.clone(),
        (CaseState::Closed, _) => fill(
            &t.closed,
            &[(
                "date",
                &date(case.closed.map_or(case.changed_at, |(at, _)| at)),
            )],
        ),
    }
}

async fn live_standing<S: CaseDesk>(
    store: &S,
    person: &Person,
    t: &OwnPageTexts,
    lang: &str,
    now: Timestamp,
    date: &(dyn Fn(Timestamp) -> String + Sync),
) -> Result<Standing, StoreError> {
    let standing = cases::standing_of(store, &person.id)
        .await?
        .unwrap_or_default();
    let mut cases = store.cases_of(&person.id).await?;
    // A record merged into another: its requests are carried on there.
    if let Some(into) = &standing.merged_into {
        cases.extend(store.cases_of(into).await?);
    }
    let received = match person.submission.form() {
        mutualaid_forms::FormId::Donate => &t.donate_received,
        _ => &t.signup_received,
    };
    let mut lines = vec![fill(received, &[("date", &date(person.created_at))])];
    // The latest request of each kind: an open one, else the last closed.
    for kind in CaseKind::ALL {
        let latest = cases
            .iter()
            .filter(|c| c.kind == kind)
            .max_by_key(|c| (c.state.is_active(), c.opened_at));
        if let Some(case) = latest {
            lines.push(case_line(t, lang, case, now, date));
        }
    }
    let volunteer = person.submission.has_role(Role::Shopper) && standing.merged_into.is_none();
    let paused = standing.paused_at(now);
    if volunteer {
        lines.push(t.volunteer.clone());
    }
    if let Some(until) = standing.paused_until.filter(|u| *u > now) {
        lines.push(fill(&t.paused, &[("date", &date(until))]));
    } else if paused {
        lines.push(t.paused_unanswered.clone());
    }
    let own_cases = cases.iter().filter(|c| c.person_id == person.id);
    let shown = format!(
        "{}-{}-{}",
        person.version,
        standing.version,
        own_cases.map(|c| c.version).sum::<u64>()
    );
    Ok(Standing {
        shown,
        lines,
        withdraw: cases
            .iter()
            .any(|c| c.person_id == person.id && c.state.is_active()),
        volunteer,
        paused,
        pending_since: person.pending_contact.as_ref().map(|p| p.since),
        verify: !person.email_verified(),
    })
}

/// A held link's page: a sign-up of the day the link was made, as the
/// form that made it asked, in the state its own buttons gave it.
fn held_standing(
    link: &PageLink,
    person: &Person,
    t: &OwnPageTexts,
    lang: &str,
    now: Timestamp,
    date: &(dyn Fn(Timestamp) -> String + Sync),
) -> Standing {
    let held = link.held.unwrap_or_default();
    let received = match person.submission.form() {
        mutualaid_forms::FormId::Donate => &t.donate_received,
        _ => &t.signup_received,
    };
    let mut lines = vec![fill(received, &[("date", &date(link.created_at))])];
    // What the form that made the link asked, never the record's later
    // choices (they are the person's, and whoever typed this address may
    // be someone else).
    let asked: Vec<CaseKind> = CaseKind::ALL
        .into_iter()
        .filter(|k| match k {
            CaseKind::Delivery => held.delivery,
            CaseKind::Funding => held.funding,
        })
        .collect();
    for kind in &asked {
        lines.push(match (held.withdrawn_at, kind) {
            (Some(at), _) => fill(&t.closed, &[("date", &date(at))]),
            (None, CaseKind::Delivery) => t.looking.of(lang, days_since(link.created_at, now)),
            (None, CaseKind::Funding) => t.money_waiting.of(lang, days_since(link.created_at, now)),
        });
    }
    let volunteer = held.shopper;
    let paused = held.paused_until.is_some_and(|until| until > now);
    if volunteer {
        lines.push(t.volunteer.clone());
    }
    if let Some(until) = held.paused_until.filter(|_| paused) {
        lines.push(fill(&t.paused, &[("date", &date(until))]));
    }
    Standing {
        shown: format!("h{}", link.version),
        lines,
        withdraw: !asked.is_empty() && held.withdrawn_at.is_none(),
        volunteer,
        paused,
        pending_since: None,
        verify: false,
    }
}

/// The page's body: where they stand, then the buttons.
fn standing_html(
    token: &str,
    lang: &str,
    t: &OwnPageTexts,
    s: &Standing,
    date: &(dyn Fn(Timestamp) -> String + Sync),
) -> String {
    let mut body: String = s
        .lines
        .iter()
        .map(|l| format!("<p>{}</p>", esc(l)))
        .collect();
    let form = |action: &str, inner: &str| {
        format!(
            "<form method=\"post\" action=\"me\"><input type=\"hidden\" name=\"t\" value=\"{t}\"><input type=\"hidden\" name=\"v\" value=\"{v}\"><input type=\"hidden\" name=\"lang\" value=\"{l}\"><input type=\"hidden\" name=\"do\" value=\"{action}\">{inner}</form>",
            t = esc(token),
            v = esc(&s.shown),
            l = esc(lang),
        )
    };
    let button = |label: &str| format!("<p><button type=\"submit\">{}</button></p>", esc(label));
    if let Some(since) = s.pending_since {
        body.push_str(&format!(
            "<h2>{}</h2><p>{}</p>",
            esc(&t.pending_title),
            esc(&fill(&t.pending_text, &[("date", &date(since))]))
        ));
        body.push_str(&form("confirm_contact", &button(&t.btn_confirm_contact)));
        body.push_str(&form("drop_contact", &button(&t.btn_reject_contact)));
    }
    if s.verify {
        body.push_str(&format!(
            "<h2>{}</h2><p>{}</p>",
            esc(&t.verify_title),
            esc(&t.verify_text)
        ));
        body.push_str(&form(
            "verify",
            &format!(
                "<p><label for=\"verify-name\">{}</label><br><input type=\"text\" id=\"verify-name\" name=\"name\" autocomplete=\"name\" maxlength=\"100\" required></p>{}",
                esc(&t.verify_label),
                button(&t.btn_verify)
            ),
        ));
    }
    body.push_str(&format!("<h2>{}</h2>", esc(&t.actions)));
    body.push_str(&format!(
        "<p><a href=\"me?t={}&amp;lang={}&amp;change=1\">{}</a></p>",
        esc(token),
        esc(lang),
        esc(&t.btn_change)
    ));
    if s.withdraw {
        body.push_str(&form("withdraw", &button(&t.btn_withdraw)));
    }
    if s.volunteer && s.paused {
        body.push_str(&form("back", &button(&t.btn_back)));
    } else if s.volunteer {
        let options: String = [1u64, 2, 4, 8]
            .iter()
            .map(|n| {
                format!(
                    "<option value=\"{n}\"{}>{}</option>",
                    if *n == 2 { " selected" } else { "" },
                    esc(&t.weeks.of(lang, *n))
                )
            })
            .collect();
        body.push_str(&form(
            "pause",
            &format!(
                "<p><label for=\"weeks\">{}</label> <select id=\"weeks\" name=\"weeks\">{options}</select></p>{}",
                esc(&t.pause_for),
                button(&t.btn_pause)
            ),
        ));
    }
    body.push_str(&form("delete", &button(&t.btn_delete)));
    body
}

/// The language switch: the same page in each other language of the site.
fn switch<S>(app: &App<S>, token: &str, lang: &str) -> String {
    let links: Vec<String> = app
        .site
        .config
        .languages
        .iter()
        .filter(|l| l.as_str() != lang)
        .filter_map(|l| {
            let name = &app.site.strings.get(l)?.language_name;
            Some(format!(
                "<a href=\"me?t={}&amp;lang={}\" hreflang=\"{l}\" lang=\"{l}\">{}</a>",
                esc(token),
                esc(l),
                esc(name)
            ))
        })
        .collect();
    if links.is_empty() {
        String::new()
    } else {
        format!("<nav><p>{}</p></nav>", links.join(" · "))
    }
}

fn own_page(
    status: StatusCode,
    lang: &str,
    strings: &Strings,
    title: &str,
    body: &str,
) -> Response {
    let dir = match strings.direction {
        Direction::Rtl => "rtl",
        Direction::Ltr => "ltr",
    };
    page_with(status, lang, dir, title, body, "same-origin")
}

fn gone<S>(app: &App<S>, lang: &str) -> Response {
    let (lang, strings) = words(app, lang);
    let t = &strings.own_page;
    let body = format!(
        // From the root: this page answers /api/me and its one-button pages.
        "<p>{}</p><p><a href=\"/api/me/again?lang={}\">{}</a></p>",
        esc(&t.gone),
        esc(&lang),
        esc(&t.again_link)
    );
    own_page(StatusCode::FORBIDDEN, &lang, strings, &t.gone_title, &body)
}

fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "store could not be read for a person's page");
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

fn time_zone<S>(app: &App<S>) -> String {
    app.site.config.time_zone_name().to_owned()
}

/// The standing a link's page shows now.
async fn standing_of<S: CaseDesk>(
    app: &App<S>,
    opened: &Opened,
    t: &OwnPageTexts,
    strings: &Strings,
    lang: &str,
    now: Timestamp,
) -> Result<Standing, StoreError> {
    let tz = time_zone(app);
    let date = |at: Timestamp| spoken_date(&strings.messages, at, &tz);
    match opened {
        Opened::Gone => unreachable!("a gone link shows no standing"),
        Opened::Held(link, person) => Ok(held_standing(link, person, t, lang, now, &date)),
        Opened::Live(_, person) => live_standing(&app.store, person, t, lang, now, &date).await,
    }
}

/// The record a link that opened something opens.
fn person_of(opened: &Opened) -> &Person {
    match opened {
        Opened::Held(_, p) | Opened::Live(_, p) => p,
        Opened::Gone => unreachable!("a gone link opens no record"),
    }
}

fn link_of(opened: &Opened) -> Option<&PageLink> {
    match opened {
        Opened::Gone => None,
        Opened::Held(link, _) | Opened::Live(link, _) => Some(link),
    }
}

/// `GET /api/me`: where they stand, and the buttons. Changes nothing.
pub(super) async fn show<S: IntakeStore + CaseDesk>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let token = query_value(&query, "t").unwrap_or_default();
    let now = (app.clock)();
    let opened = match open(&app.store, &token).await {
        Ok(opened) => opened,
        Err(e) => return unavailable(&e),
    };
    let Some(link) = link_of(&opened) else {
        return gone(&app, &asked_lang(&query).unwrap_or_default());
    };
    let (lang, strings) = words(
        &app,
        &asked_lang(&query).unwrap_or_else(|| link.lang.code().to_owned()),
    );
    let t = &strings.own_page;
    let standing = match standing_of(&app, &opened, t, strings, &lang, now).await {
        Ok(s) => s,
        Err(e) => return unavailable(&e),
    };
    if query_value(&query, "change").is_some() {
        let person = person_of(&opened);
        let form = change_form(&token, &lang, strings, &standing.shown, person, &[]);
        return own_page(StatusCode::OK, &lang, strings, &t.change_title, &form);
    }
    let tz = time_zone(&app);
    let date = |at: Timestamp| spoken_date(&strings.messages, at, &tz);
    // A case to answer about (an offer, a match): only on the record's own page.
    let boxes = match &opened {
        Opened::Live(_, person) => {
            let asked_case = query_value(&query, "case");
            match super::case_answers::boxes(
                &app.store,
                person,
                asked_case.as_deref(),
                &token,
                &lang,
                strings,
                &date,
            )
            .await
            {
                Ok(html) => html,
                Err(e) => return unavailable(&e),
            }
        }
        _ => String::new(),
    };
    let body = format!(
        "{}{boxes}{}",
        switch(&app, &token, &lang),
        standing_html(&token, &lang, t, &standing, &date)
    );
    own_page(StatusCode::OK, &lang, strings, &t.title, &body)
}

/// What a button asks.
enum Asked {
    Withdraw,
    Pause {
        weeks: u32,
    },
    Back,
    /// "Delete my data": the confirmation page.
    Delete,
    /// "Yes, delete my data".
    DeleteConfirmed,
    /// "Yes, that was me": the pending contact confirmed.
    ConfirmContact,
    /// "I didn't make this change": the pending contact dropped.
    DropContact,
    /// "Save my changes", with the fields as posted.
    Change(Vec<(String, String)>),
    /// "Yes, this is my email", with the name as they wrote it.
    Verify(String),
}

fn asked(fields: &str) -> Option<Asked> {
    Some(match query_value(fields, "do")?.as_str() {
        "withdraw" => Asked::Withdraw,
        "pause" => Asked::Pause {
            weeks: query_value(fields, "weeks")
                .and_then(|w| w.parse().ok())
                .filter(|w| (1..=8).contains(w))?,
        },
        "back" => Asked::Back,
        "delete" => Asked::Delete,
        "delete_confirmed" => Asked::DeleteConfirmed,
        "confirm_contact" => Asked::ConfirmContact,
        "drop_contact" => Asked::DropContact,
        "verify" => Asked::Verify(query_value(fields, "name").unwrap_or_default()),
        "change" => Asked::Change(
            form_urlencoded::parse(fields.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
        _ => return None,
    })
}

/// `POST /api/me`: a button, acting only if the sign-up is as the page
/// showed it.
pub(super) async fn act<S: IntakeStore + CaseDesk + AdminStore + DigestStore>(
    State(app): State<Arc<App<S>>>,
    body: Bytes,
) -> Response {
    let fields = String::from_utf8_lossy(&body).into_owned();
    let token = query_value(&fields, "t").unwrap_or_default();
    let now = (app.clock)();
    let opened = match open(&app.store, &token).await {
        Ok(opened) => opened,
        Err(e) => return unavailable(&e),
    };
    let Some(link) = link_of(&opened).cloned() else {
        return gone(&app, &asked_lang(&fields).unwrap_or_default());
    };
    let (lang, strings) = words(
        &app,
        &asked_lang(&fields).unwrap_or_else(|| link.lang.code().to_owned()),
    );
    let t = &strings.own_page;
    let back = format!(
        "<p><a href=\"me?t={}&amp;lang={}\">{}</a></p>",
        esc(&token),
        esc(&lang),
        esc(&t.back_to_page)
    );
    if query_value(&fields, "do").as_deref() == Some("case") {
        let Some(answer) = super::case_answers::asked(|k| query_value(&fields, k)) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        // A held page answers nothing about a case.
        let answered = match &opened {
            Opened::Live(_, person) => {
                let tz = time_zone(&app);
                let date = |at: Timestamp| spoken_date(&strings.messages, at, &tz);
                super::case_answers::answer(
                    &app.store,
                    person,
                    &answer,
                    strings,
                    &app.site.config.discord_url,
                    now,
                    &date,
                )
                .await
            }
            _ => Ok(super::case_answers::Answered {
                status: StatusCode::CONFLICT,
                said: strings.pairing.offer_gone.clone(),
            }),
        };
        return match answered {
            Ok(a) => {
                let title = if a.status == StatusCode::OK {
                    &t.title
                } else {
                    &t.refused
                };
                let body = format!("<p>{}</p>{back}", esc(&a.said));
                own_page(a.status, &lang, strings, title, &body)
            }
            Err(e) => unavailable(&e),
        };
    }
    let Some(asked) = asked(&fields) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let standing = match standing_of(&app, &opened, t, strings, &lang, now).await {
        Ok(s) => s,
        Err(e) => return unavailable(&e),
    };
    let tz = time_zone(&app);
    let date = |at: Timestamp| spoken_date(&strings.messages, at, &tz);
    let refused = |standing: &Standing| {
        let body = format!(
            "<p>{}</p>{}",
            esc(&t.moved),
            standing_html(&token, &lang, t, standing, &date)
        );
        own_page(StatusCode::CONFLICT, &lang, strings, &t.refused, &body)
    };
    if query_value(&fields, "v").as_deref() != Some(standing.shown.as_str()) {
        return refused(&standing);
    }
    if let Asked::Change(posted) = &asked {
        let person = person_of(&opened);
        let next = match details::apply(&person.submission, posted) {
            Ok(next) => next,
            Err(problems) => {
                let form = change_form(&token, &lang, strings, &standing.shown, person, &problems);
                return own_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &lang,
                    strings,
                    &t.change_title,
                    &form,
                );
            }
        };
        // A held page changes nothing; an identity clash applies nothing:
        // both are answered as any change is.
        if let Opened::Live(_, person) = &opened {
            match details::change(&app.store, person, next, now).await {
                Ok(details::Changed::Moved) => {
                    return match standing_of(&app, &opened, t, strings, &lang, now).await {
                        Ok(now_standing) => refused(&now_standing),
                        Err(e) => unavailable(&e),
                    };
                }
                Ok(_) => {}
                Err(e) => return unavailable(&e),
            }
        }
        let body = format!("<p>{}</p>{back}", esc(&t.change_done));
        return own_page(StatusCode::OK, &lang, strings, &t.title, &body);
    }
    if let Asked::Verify(name) = &asked {
        let Opened::Live(link, person) = &opened else {
            // A held page never verifies anything.
            return refused(&standing);
        };
        // The identity rule: the name as written on the sign-up — its
        // first version, from the public form; never a name this page's
        // "Change my details" set, or whoever holds a mistyped receipt
        // could rename the record and then verify it.
        let signed_up_as = match app.store.version(&person.id, 1).await {
            Ok(first) => first,
            Err(StoreError::Unreadable { .. }) => None,
            Err(e) => return unavailable(&e),
        };
        if signed_up_as.is_none_or(|first| name_key(name) != name_key(first.name())) {
            let body = format!("<p>{}</p>{back}", esc(&t.verify_wrong));
            return own_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &lang,
                strings,
                &t.verify_title,
                &body,
            );
        }
        let next = Person {
            verified_email: Some(link.address.clone()),
            version: person.version + 1,
            updated_at: now,
            ..person.clone()
        };
        match app
            .store
            .carry_out(&plan::record_change(&next, person, None, None))
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return match standing_of(&app, &opened, t, strings, &lang, now).await {
                    Ok(now_standing) => refused(&now_standing),
                    Err(e) => unavailable(&e),
                };
            }
            Err(e) => return unavailable(&e),
        }
        let body = format!("<p>{}</p>{back}", esc(&t.verified_done));
        return own_page(StatusCode::OK, &lang, strings, &t.title, &body);
    }
    if let Asked::Delete = asked {
        // The confirmation: changes nothing.
        let body = format!(
            "<p>{}</p><form method=\"post\" action=\"me\"><input type=\"hidden\" name=\"t\" value=\"{}\"><input type=\"hidden\" name=\"v\" value=\"{}\"><input type=\"hidden\" name=\"lang\" value=\"{}\"><input type=\"hidden\" name=\"do\" value=\"delete_confirmed\"><p><button type=\"submit\">{}</button></p></form>{back}",
            esc(&t.delete_text),
            esc(&token),
            esc(&standing.shown),
            esc(&lang),
            esc(&t.btn_delete_confirm),
        );
        return own_page(StatusCode::OK, &lang, strings, &t.delete_title, &body);
    }
    let done = match &opened {
        Opened::Held(link, _) => held_act(&app.store, link, &asked, now).await,
        Opened::Live(_, person) => live_act(&app, person, &asked, now).await,
        Opened::Gone => unreachable!("checked above"),
    };
    match done {
        Ok(true) => {}
        Ok(false) => {
            return match standing_of(&app, &opened, t, strings, &lang, now).await {
                Ok(now_standing) => refused(&now_standing),
                Err(e) => unavailable(&e),
            };
        }
        Err(e) => return unavailable(&e),
    }
    let said = match asked {
        Asked::Withdraw => fill(&t.withdrawn_done, &[("url", &app.site.config.discord_url)]),
        Asked::Pause { weeks } => fill(
            &t.paused_done,
            &[("date", &date(now + i64::from(weeks) * 7 * 86_400))],
        ),
        Asked::Back => t.back_done.clone(),
        Asked::DeleteConfirmed => {
            let body = format!("<p>{}</p>", esc(&t.deleted));
            return own_page(StatusCode::OK, &lang, strings, &t.title, &body);
        }
        // The old address's links, this one among them, stop here.
        Asked::ConfirmContact => {
            let body = format!("<p>{}</p>", esc(&t.contact_confirmed));
            return own_page(StatusCode::OK, &lang, strings, &t.title, &body);
        }
        Asked::DropContact => t.contact_rejected.clone(),
        Asked::Delete | Asked::Change(_) | Asked::Verify(_) => unreachable!("answered above"),
    };
    let body = format!("<p>{}</p>{back}", esc(&said));
    own_page(StatusCode::OK, &lang, strings, &t.title, &body)
}

/// A button of a held page: the link's own state moves, never the record.
async fn held_act<S: IntakeStore>(
    store: &S,
    link: &PageLink,
    asked: &Asked,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut next = link.next();
    let held = next.held.get_or_insert_with(Default::default);
    match asked {
        Asked::Withdraw => held.withdrawn_at = Some(now),
        Asked::Pause { weeks } => held.paused_until = Some(now + i64::from(*weeks) * 7 * 86_400),
        Asked::Back => held.paused_until = None,
        Asked::DeleteConfirmed => held.deleted = true,
        Asked::Delete => return Ok(true),
        // A held page asks nobody "was this you?".
        Asked::ConfirmContact | Asked::DropContact => return Ok(false),
        Asked::Change(_) => return Ok(true),
        Asked::Verify(_) => return Ok(false),
    }
    let plan = Plan {
        writes: vec![Write::PageLink {
            link: next,
            expected: link.version,
        }],
    };
    match store.carry_out(&plan).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A button of a record's own page, acted as an organizer's would be,
/// recorded as the person's.
async fn live_act<S: IntakeStore + CaseDesk + AdminStore>(
    app: &App<S>,
    person: &Person,
    asked: &Asked,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let cap = app
        .config
        .organizer_actions
        .as_ref()
        .map_or(usize::MAX, |a| a.cap);
    match asked {
        Asked::Withdraw => {
            for case in app.store.cases_of(&person.id).await? {
                if !case.state.is_active() {
                    continue;
                }
                let acted = cases::act(
                    &app.store,
                    &case.id,
                    Some(case.version),
                    Act::Close(CloseReason::Withdrawn),
                    now,
                    cap,
                    Actor::Person,
                )
                .await?;
                if acted.is_err() {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Asked::Pause { weeks } => {
            let standing = cases::standing_of(&app.store, &person.id)
                .await?
                .unwrap_or_default();
            Ok(cases::pause(
                &app.store,
                &person.id,
                weeks * 7,
                now,
                Actor::Person,
                Some(standing.version),
            )
            .await?
            .is_ok())
        }
        Asked::Back => {
            let standing = cases::standing_of(&app.store, &person.id)
                .await?
                .unwrap_or_default();
            Ok(cases::pause(
                &app.store,
                &person.id,
                0,
                now,
                Actor::Person,
                Some(standing.version),
            )
            .await?
            .is_ok())
        }
        Asked::DeleteConfirmed => {
            crate::erase::erase(&app.store, &person.id, now, person.expires_at).await?;
            Ok(true)
        }
        Asked::Delete | Asked::Change(_) | Asked::Verify(_) => Ok(true),
        Asked::ConfirmContact | Asked::DropContact => {
            let decision = match asked {
                Asked::ConfirmContact => contacts::Decision::Confirm,
                _ => contacts::Decision::Drop,
            };
            let decided = contacts::decide(
                &app.store,
                &person.id,
                Some(person.version),
                decision,
                Actor::Person,
                now,
            )
            .await?;
            Ok(decided == contacts::Decided::Done)
        }
    }
}

/// "Change my details": an empty form of the fields a person may change
/// (a field left empty keeps its value), bound to the version shown, with
/// each problem beside its field.
fn change_form(
    token: &str,
    lang: &str,
    strings: &Strings,
    shown: &str,
    person: &Person,
    problems: &[details::Problem],
) -> String {
    let t = &strings.own_page;
    let form = person.submission.form();
    let texts = strings.form(form);
    let mut inputs = String::new();
    let shopper = person.submission.has_role(Role::Shopper);
    for field in form
        .fields()
        .iter()
        .filter(|f| details::changeable(form).contains(&f.name))
        // How many households: a volunteer's question only.
        .filter(|f| f.name != "households" || shopper)
    {
        let name = field.name;
        let words = texts.fields.get(name);
        let label = words
            .and_then(|w| w.label.clone())
            .unwrap_or_else(|| name.to_owned());
        let problem = problems
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, code)| strings.error_message(form, field, code));
        let (described, error) = match &problem {
            Some(message) => (
                format!(" aria-describedby=\"{name}-error\" aria-invalid=\"true\""),
                format!("<br><strong id=\"{name}-error\">{}</strong>", esc(message)),
            ),
            None => (String::new(), String::new()),
        };
        let max = field
            .max_len
            .map(|m| format!(" maxlength=\"{m}\""))
            .unwrap_or_default();
        let autocomplete = field
            .autocomplete
            .map(|a| format!(" autocomplete=\"{a}\""))
            .unwrap_or_default();
        let inputmode = field
            .inputmode
            .map(|m| format!(" inputmode=\"{m}\""))
            .unwrap_or_default();
        if field.kind == mutualaid_forms::Kind::Radio {
            // A choice: none ticked (left alone, it keeps its value).
            let options: String = field
                .options
                .iter()
                .map(|option| {
                    let shown = words
                        .and_then(|w| w.options.get(*option))
                        .cloned()
                        .unwrap_or_else(|| (*option).to_owned());
                    format!(
                        "<label><input type=\"radio\" name=\"{name}\" value=\"{option}\"{described}> {}</label><br>",
                        esc(&shown)
                    )
                })
                .collect();
            inputs.push_str(&format!(
                "<fieldset><legend>{}</legend>{options}{error}</fieldset>",
                esc(&label)
            ));
            continue;
        }
        let control = match field.kind.input_type() {
            Some(kind) => format!(
                "<input type=\"{kind}\" id=\"{name}\" name=\"{name}\"{max}{autocomplete}{inputmode}{described}>"
            ),
            None => format!(
                "<textarea id=\"{name}\" name=\"{name}\" rows=\"3\"{max}{described}></textarea>"
            ),
        };
        inputs.push_str(&format!(
            "<p><label for=\"{name}\">{}</label><br>{control}{error}</p>",
            esc(&label)
        ));
    }
    format!(
        "<p>{}</p><form method=\"post\" action=\"me\"><input type=\"hidden\" name=\"t\" value=\"{}\"><input type=\"hidden\" name=\"v\" value=\"{}\"><input type=\"hidden\" name=\"lang\" value=\"{}\"><input type=\"hidden\" name=\"do\" value=\"change\">{inputs}<p><button type=\"submit\">{}</button></p></form><p><a href=\"me?t={}&amp;lang={}\">{}</a></p>",
        esc(&t.change_text),
        esc(token),
        esc(shown),
        esc(lang),
        esc(&t.btn_save),
        esc(token),
        esc(lang),
        esc(&t.back_to_page),
    )
}

/// The two one-button pages a message links to besides the person's own.
#[derive(Clone, Copy)]
enum OneButton {
    /// "Stop emails" (`List-Unsubscribe`).
    Stop,
    /// "This wasn't me".
    NotMe,
}

impl OneButton {
    /// (path, title, text, button, answer) in `m`'s words.
    fn words(self, m: &MessageTexts) -> (&'static str, &str, &str, &str, &str) {
        match self {
            OneButton::Stop => ("stop", &m.stop_title, &m.stop_text, &m.btn_stop, &m.stopped),
            OneButton::NotMe => (
                "not-me",
                &m.not_me_title,
                &m.not_me_text,
                &m.btn_not_me,
                &m.not_me_done,
            ),
        }
    }
}

/// A one-button page for the link in `query`: its text and its button (a
/// form posting the link back). Changes nothing.
async fn one_button_page<S: IntakeStore>(app: &App<S>, query: &str, page: OneButton) -> Response {
    let token = query_value(query, "t").unwrap_or_default();
    let opened = match open(&app.store, &token).await {
        Ok(opened) => opened,
        Err(e) => return unavailable(&e),
    };
    let Some(link) = link_of(&opened) else {
        return gone(app, &asked_lang(query).unwrap_or_default());
    };
    let (lang, strings) = words(
        app,
        &asked_lang(query).unwrap_or_else(|| link.lang.code().to_owned()),
    );
    let (path, title, text, button, _) = page.words(&strings.messages);
    let body = format!(
        "<p>{}</p><form method=\"post\" action=\"{path}\"><input type=\"hidden\" name=\"t\" value=\"{}\"><input type=\"hidden\" name=\"lang\" value=\"{}\"><p><button type=\"submit\">{}</button></p></form>",
        esc(text),
        esc(&token),
        esc(&lang),
        esc(button)
    );
    own_page(StatusCode::OK, &lang, strings, title, &body)
}

/// A one-button page's POST: the link (in the body, or in the address for
/// a mail app's one click), `writes` planned from it, carried out, and the
/// page's answer.
async fn one_button_press<S: IntakeStore, F, Fut>(
    app: &App<S>,
    query: &str,
    body: &[u8],
    page: OneButton,
    writes: F,
) -> Response
where
    F: FnOnce(PageLink, Timestamp, Timestamp) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Write>, StoreError>>,
{
    let fields = String::from_utf8_lossy(body).into_owned();
    let token = query_value(&fields, "t")
        .or_else(|| query_value(query, "t"))
        .unwrap_or_default();
    let asked = asked_lang(&fields).or_else(|| asked_lang(query));
    let opened = match open(&app.store, &token).await {
        Ok(opened) => opened,
        Err(e) => return unavailable(&e),
    };
    let (link, expires_at) = match opened {
        Opened::Gone => return gone(app, &asked.unwrap_or_default()),
        Opened::Held(link, person) | Opened::Live(link, person) => (link, person.expires_at),
    };
    let lang = asked.unwrap_or_else(|| link.lang.code().to_owned());
    let planned = writes(link, (app.clock)(), expires_at).await;
    let done = match planned {
        Ok(writes) if writes.is_empty() => Ok(()),
        Ok(writes) => app.store.carry_out(&Plan { writes }).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return unavailable(&e),
    }
    let (lang, strings) = words(app, &lang);
    let (_, title, _, _, answer) = page.words(&strings.messages);
    own_page(
        StatusCode::OK,
        &lang,
        strings,
        title,
        &format!("<p>{}</p>", esc(answer)),
    )
}

/// `GET /api/me/stop`: the "stop emails" page of a message's
/// `List-Unsubscribe`, with its one button. Changes nothing.
pub(super) async fn stop_page<S: IntakeStore>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
) -> Response {
    one_button_page(&app, &query.unwrap_or_default(), OneButton::Stop).await
}

/// `POST /api/me/stop`: mail to the link's address about its record stops
/// (the page's button, or a mail app's one-click Unsubscribe, RFC 8058:
/// the token in the address, `List-Unsubscribe=One-Click` in the body).
/// The person's page and request stay; the next digest tells the
/// organizers.
pub(super) async fn stop<S: IntakeStore + SenderStore>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let store = &app.store;
    let query = query.unwrap_or_default();
    one_button_press(
        &app,
        &query,
        &body,
        OneButton::Stop,
        |link, now, expires_at| async move {
            if store
                .mail_stop(&link.person_id, &link.address)
                .await?
                .is_some()
            {
                return Ok(Vec::new());
            }
            Ok(vec![
                // Never beside a record being deleted (its stops go with it).
                Write::RecordThere {
                    person_id: link.person_id.clone(),
                },
                Write::MailStop {
                    stop: MailStop {
                        person_id: link.person_id.clone(),
                        address: link.address.clone(),
                        reason: StopReason::Unsubscribed,
                        at: now,
                        expires_at,
                    },
                },
                Write::Action(CaseAction::mail_stopped(
                    &link.person_id,
                    Actor::Person,
                    StopReason::Unsubscribed.name(),
                    now,
                    expires_at,
                )),
            ])
        },
    )
    .await
}

/// `GET /api/me/not-me`: "This wasn't me — don't email me again", one
/// button. Changes nothing.
pub(super) async fn not_me_page<S: IntakeStore>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
) -> Response {
    one_button_page(&app, &query.unwrap_or_default(), OneButton::NotMe).await
}

/// `POST /api/me/not-me`: the address gets nothing more from any form or
/// message kind (kept as a keyed hash), this link stops working, and the
/// next digest asks the organizers to reach the record's person another
/// way. The record and its request stay.
pub(super) async fn not_me<S: IntakeStore>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let store = &app.store;
    let query = query.unwrap_or_default();
    one_button_press(
        &app,
        &query,
        &body,
        OneButton::NotMe,
        |link, now, expires_at| async move {
            let key = store.address_key().await?;
            let revoked = PageLink {
                revoked_at: Some(now),
                ..link.next()
            };
            Ok(vec![
                Write::Suppress {
                    hash: key.hash(&link.address),
                    at: now,
                    expires_at: expires_at.max(now + SUPPRESSED_AT_LEAST),
                },
                Write::Action(CaseAction::mail_stopped(
                    &link.person_id,
                    Actor::Person,
                    "not_me",
                    now,
                    expires_at,
                )),
                Write::PageLink {
                    link: revoked,
                    expected: link.version,
                },
            ])
        },
    )
    .await
}

/// `GET /api/me/again`: the form that mails a fresh link.
pub(super) async fn again_form<S>(
    State(app): State<Arc<App<S>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let (lang, strings) = words(
        &app,
        &asked_lang(&query.unwrap_or_default()).unwrap_or_default(),
    );
    again_page(&lang, strings, StatusCode::OK, None)
}

fn again_page(lang: &str, strings: &Strings, status: StatusCode, error: Option<&str>) -> Response {
    let t = &strings.own_page;
    let error_html = error
        .map(|e| format!("<p id=\"email-error\"><strong>{}</strong></p>", esc(e)))
        .unwrap_or_default();
    let described = if error.is_some() {
        " aria-describedby=\"email-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    let body = format!(
        "<p>{}</p><form method=\"post\" action=\"again\"><input type=\"hidden\" name=\"lang\" value=\"{l}\"><p><label for=\"email\">{}</label><br><input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\" required maxlength=\"254\"{described}></p>{error_html}<p><button type=\"submit\">{}</button></p></form>",
        esc(&t.again_text),
        esc(&t.again_label),
        esc(&t.again_button),
        l = esc(lang),
    );
    own_page(status, lang, strings, &t.again_title, &body)
}

/// `POST /api/me/again`: a fresh link for each record whose email this
/// is, the same answer whether or not it is known.
pub(super) async fn again<S: IntakeStore + SenderStore>(
    State(app): State<Arc<App<S>>>,
    body: Bytes,
) -> Response {
    let fields = String::from_utf8_lossy(&body).into_owned();
    let (lang, strings) = words(&app, &asked_lang(&fields).unwrap_or_default());
    let address =
        mutualaid_forms::normalize::email(&query_value(&fields, "email").unwrap_or_default());
    if address.len() > 254 || !address.contains('@') || address.parse::<lettre::Address>().is_err()
    {
        return again_page(
            &lang,
            strings,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&strings.own_page.again_invalid),
        );
    }
    if let Err(e) = send_links_again(&app.store, &address, (app.clock)()).await {
        return unavailable(&e);
    }
    let t = &strings.own_page;
    let body = format!("<p>{}</p>", esc(&t.again_sent));
    own_page(StatusCode::OK, &lang, strings, &t.again_title, &body)
}

/// Writes a link message for each record whose email is `address` that
/// had none in the last hour.
async fn send_links_again<S: IntakeStore + SenderStore>(
    store: &S,
    address: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(contact) = crate::erase::Contact::email(address) else {
        return Ok(());
    };
    let mut seen = Vec::new();
    for (_, id) in store.sharing(&contact.keys()).await? {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id.clone());
        let person = match store.person(&id).await {
            Ok(Some(p)) => p,
            Ok(None) | Err(StoreError::Unreadable { .. }) => continue,
            Err(e) => return Err(e),
        };
        if person.submission.email() != Some(address) {
            continue;
        }
        let recent = store
            .messages_of(&id)
            .await?
            .iter()
            .any(|m| m.kind == MessageKind::LinkAgain && m.created_at > now - AGAIN_EVERY);
        if recent {
            continue;
        }
        let mail = LinkedMessage::new(&person, address, MessageKind::LinkAgain, "", false, now);
        let plan = Plan {
            writes: vec![
                // Never beside a record being deleted.
                Write::RecordThere {
                    person_id: id.clone(),
                },
                Write::PageLink {
                    link: mail.link,
                    expected: 0,
                },
                Write::Message {
                    message: mail.message,
                    expected: 0,
                },
            ],
        };
        match store.carry_out(&plan).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
