//! Each person's own page, behind the private link in their receipt: where
//! they stand in general words, a GET that changes nothing, buttons bound
//! to what the page showed (withdraw, pause, back, delete), a held page for
//! an email new to a record that acts on nothing, and "email me my link
//! again". In process, through the router, on both stores.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mutualaid_handler::domain::{self, Retention};
use mutualaid_handler::links::LinkKeys;
use mutualaid_handler::store::message::{MessageKind, MessageState};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{ActionKind, Actor, CaseKind, CaseState, CloseReason, Submission};

use crate::case_links::router;
use crate::handler::{Answer, send};
use crate::receipts::{rosa, sam};

/// Thursday 26 November 2026, noon in San Diego.
const NOON: i64 = 1_795_723_200;
const KEEP: Retention = Retention { days: 365 };

fn three_days_later() -> i64 {
    NOON + 3 * 86_400 + 60
}

fn four_days_later() -> i64 {
    NOON + 4 * 86_400
}

async fn sign_up<S: Store>(store: &S, signup: mutualaid_forms::Signup, at: i64) -> String {
    domain::accept(store, Submission::Signup(signup), at, KEEP)
        .await
        .expect("accepted")
        .person_id
}

/// The token of the latest message to record `id` that carries one (as
/// the mail will, once sent).
pub(crate) async fn token_of<S: Store>(store: &S, id: &str) -> String {
    store
        .messages_of(id)
        .await
        .expect("messages")
        .iter()
        .rev()
        .find_map(|m| m.link.clone())
        .expect("a message with a link")
}

/// The link of the message to `address` about record `id` (a held one,
/// when the address is new to the record).
async fn held_link<S: Store>(store: &S, id: &str, address: &str) -> String {
    store
        .messages_of(id)
        .await
        .expect("messages")
        .into_iter()
        .find(|m| m.to == address)
        .and_then(|m| m.link)
        .expect("the held link")
}

/// The handler's router on `store`, its clock at `now`.
pub(crate) fn app<S: Store + Clone>(store: &S, now: fn() -> i64) -> Router {
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    router(store, &keys, 3, now)
}

pub(crate) async fn get(app: &Router, path: &str) -> Answer {
    send(
        app,
        Request::get(path).body(Body::empty()).expect("request"),
    )
    .await
}

pub(crate) async fn post(app: &Router, path: &str, fields: &[(&str, &str)]) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    send(
        app,
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

/// A mail app's one-click Unsubscribe (RFC 8058) for the link `token`.
pub(crate) async fn one_click(app: &Router, token: &str) -> Answer {
    send(
        app,
        Request::post(format!("/api/me/stop?t={token}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("List-Unsubscribe=One-Click"))
            .expect("request"),
    )
    .await
}

/// The hidden fields of the form on `page` whose `do` is `action`.
pub(crate) fn button(page: &str, action: &str) -> Vec<(String, String)> {
    form_with(page, &format!("name=\"do\" value=\"{action}\""))
}

/// The fields of the button about a case whose answer is `answer`
/// ("yes", "not_this_time", "cant_connect", "got_it", "not_yet").
pub(crate) fn answer_button(page: &str, answer: &str) -> Vec<(String, String)> {
    form_with(page, &format!("name=\"answer\" value=\"{answer}\""))
}

/// The fields a browser sends from the form on `page` that holds `marker`.
fn form_with(page: &str, marker: &str) -> Vec<(String, String)> {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} on:\n{page}"));
    let start = page[..at].rfind("<form").expect("its form");
    let end = at + page[at..].find("</form>").expect("its end");
    let form = &page[start..end];
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        // A browser sends a choice only when it is ticked.
        let input = input.split('>').next().unwrap_or_default();
        if input.contains("type=\"radio\"") && !input.contains("checked") {
            continue;
        }
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            input
                .find(&key)
                .map(|i| &input[i + key.len()..])
                .and_then(|rest| rest.split('"').next())
                .map(|v| v.replace("&amp;", "&"))
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.push((name, value));
        }
    }
    fields
}

/// The fields of the page's "Delete my data" form with its `do` made
/// `action`: a button the page does not show, forged.
fn forged(page: &str, action: &str) -> Vec<(String, String)> {
    let mut fields = button(page, "delete");
    for (k, v) in fields.iter_mut() {
        if k == "do" {
            *v = action.into();
        }
    }
    fields
}

pub(crate) async fn press(
    app: &Router,
    fields: &[(String, String)],
    extra: &[(&str, &str)],
) -> Answer {
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    post(app, "/api/me", &all).await
}

async fn the_page_shows_where_they_stand_and_its_get_changes_nothing<S: Store + Clone>(store: S) {
    let rosa_id = sign_up(&store, rosa(), NOON).await;
    let token = token_of(&store, &rosa_id).await;
    let before = store.person(&rosa_id).await.expect("read").expect("Rosa");
    let app = app(&store, three_days_later);
    let page = get(&app, &format!("/api/me?t={token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // In her language, general words, none of her details.
    assert!(page.body.contains("lang=\"es\""));
    assert!(
        page.body
            .contains("Recibimos su inscripción el 26 de noviembre de 2026."),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "Estamos buscando a una persona voluntaria cerca de usted: 3 días hasta ahora."
        ),
        "{}",
        page.body
    );
    for detail in [
        "Rosa",
        "Quintana",
        "rosa.q",
        "6195550142",
        "92113",
        "Barrio Logan",
        "Diabetic",
    ] {
        assert!(!page.body.contains(detail), "the page shows {detail:?}");
    }
    assert_eq!(page.headers[header::REFERRER_POLICY], "same-origin");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(page.headers["x-robots-tag"], "noindex");
    assert!(!page.body.contains("<script"));
    // The usual language switch, and the page in English.
    assert!(
        page.body
            .contains(&format!("href=\"me?t={token}&amp;lang=en\""))
    );
    let english = get(&app, &format!("/api/me?t={token}&lang=en")).await;
    assert!(
        english
            .body
            .contains("We are looking for a volunteer near you — 3 days so far."),
        "{}",
        english.body
    );
    // GET changed nothing (a mail scanner opens every link).
    let after = store.person(&rosa_id).await.expect("read").expect("Rosa");
    assert_eq!(after, before);
    let cases = store.cases_of(&rosa_id).await.expect("cases");
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].state, CaseState::Open);
    // A token that is not one, or not kept: the way to ask again.
    let unknown = get(&app, &format!("/api/me?t={}", "a".repeat(64))).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert!(unknown.body.contains("me/again"));
    assert_eq!(
        get(&app, "/api/me?t=../../etc/passwd").await.status,
        StatusCode::FORBIDDEN
    );
    // Once the receipt is sent, the store keeps only the link's hash.
    let dir = tempfile::tempdir().expect("tmp");
    let site = mutualaid_site::Site::load(&mutualaid_tests::real_content()).expect("content");
    let letters = mutualaid_handler::outbox::Letters::new(std::sync::Arc::new(site), None, 60)
        .expect("letters");
    let mailer = mutualaid_handler::mail::Outbox {
        dir: dir.path().to_owned(),
    };
    mutualaid_handler::outbox::deliver_due(&store, &mailer, &letters, NOON + 5)
        .await
        .expect("sent");
    let sent = store.messages_of(&rosa_id).await.expect("messages");
    assert!(matches!(sent[0].state, MessageState::Sent { .. }));
    assert_eq!(sent[0].link, None, "the token is gone from the store");
    let raw = std::fs::read(dir.path().join(format!("{}.eml", sent[0].id))).expect("mail");
    let mail = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME");
    let url = format!("https://mutualaid.example.org/api/me?t={token}");
    let text = mail.body_text(0).expect("text");
    let html = mail.body_html(0).expect("html");
    assert!(text.contains(&url), "the receipt carries her link: {text}");
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    the_page_shows_where_they_stand_and_its_get_changes_nothing
        => sqlite_the_page_shows_where_they_stand_and_its_get_changes_nothing,
        dynamodb_the_page_shows_where_they_stand_and_its_get_changes_nothing
);

async fn withdraw_pause_back_and_delete_act_only_on_what_the_page_showed<S: Store + Clone>(
    store: S,
) {
    let rosa_id = sign_up(&store, rosa(), NOON).await;
    // Her son shares her phone: a household, another record.
    let son = sign_up(
        &store,
        mutualaid_tests::person(
            "Luis Quintana",
            None,
            Some("+16195550142"),
            "92113",
            &["delivery"],
        ),
        NOON + 10,
    )
    .await;
    let sam_id = sign_up(&store, sam(), NOON + 20).await;
    let app = app(&store, three_days_later);

    // I don't need help anymore.
    let token = token_of(&store, &rosa_id).await;
    let page = get(&app, &format!("/api/me?t={token}")).await;
    let withdraw = button(&page.body, "withdraw");
    let done = press(&app, &withdraw, &[]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Listo: su pedido está cerrado"),
        "{}",
        done.body
    );
    let case = store.cases_of(&rosa_id).await.expect("cases").remove(0);
    assert_eq!(case.state, CaseState::Closed);
    assert_eq!(case.closed.map(|(_, r)| r), Some(CloseReason::Withdrawn));
    let actions = store.actions_since(0).await.expect("actions");
    assert!(
        actions.iter().any(|a| a.kind == ActionKind::Close
            && a.by == Actor::Person
            && a.case_id.as_deref() == Some(case.id.as_str())),
        "recorded as hers: {actions:?}"
    );
    // The same button again (an old tab): refused, saying it changed.
    let replay = press(&app, &withdraw, &[]).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
    assert!(
        replay.body.contains("Su inscripción cambió"),
        "{}",
        replay.body
    );
    assert!(
        replay.body.contains("Su pedido se cerró el"),
        "{}",
        replay.body
    );

    // A volunteer pauses for two weeks, then is back.
    let sam_token = token_of(&store, &sam_id).await;
    let page = get(&app, &format!("/api/me?t={sam_token}")).await;
    assert!(
        !page.body.contains("name=\"do\" value=\"withdraw\""),
        "Sam asked for nothing"
    );
    let paused = press(&app, &button(&page.body, "pause"), &[("weeks", "2")]).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    let standing = store.standings().await.expect("standings");
    let sams = standing
        .iter()
        .find(|s| s.person_id == sam_id)
        .expect("Sam's standing");
    assert_eq!(sams.paused_until, Some(three_days_later() + 14 * 86_400));
    // Read alone, consistently, the same.
    assert_eq!(
        store.standing(&sam_id).await.expect("standing").as_ref(),
        Some(sams)
    );
    assert_eq!(store.standing("nobody").await.expect("standing"), None);
    let page = get(&app, &format!("/api/me?t={sam_token}")).await;
    assert!(
        page.body.contains("You are paused until December 13, 2026"),
        "{}",
        page.body
    );
    let back = press(&app, &button(&page.body, "back"), &[]).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let standing = store.standings().await.expect("standings");
    assert_eq!(
        standing
            .iter()
            .find(|s| s.person_id == sam_id)
            .and_then(|s| s.paused_until),
        None
    );
    let pauses: Vec<_> = store
        .actions_since(0)
        .await
        .expect("actions")
        .into_iter()
        .filter(|a| a.kind == ActionKind::Pause && a.by == Actor::Person)
        .map(|a| a.detail)
        .collect();
    assert_eq!(pauses, ["14", "0"]);

    // Delete my data: a confirmation first (nothing deleted), then only hers.
    let page = get(&app, &format!("/api/me?t={token}")).await;
    let confirm = press(&app, &button(&page.body, "delete"), &[]).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("¿Borrar sus datos?"),
        "{}",
        confirm.body
    );
    assert!(store.person(&rosa_id).await.expect("read").is_some());
    let deleted = press(&app, &button(&confirm.body, "delete_confirmed"), &[]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(deleted.body.contains("Sus datos están borrados"));
    assert!(store.person(&rosa_id).await.expect("read").is_none());
    assert!(
        store.kept(&rosa_id).await.expect("kept") == Default::default(),
        "nothing of hers is left"
    );
    assert!(
        store.person(&son).await.expect("read").is_some(),
        "her son's record stays"
    );
    assert_eq!(
        get(&app, &format!("/api/me?t={token}")).await.status,
        StatusCode::FORBIDDEN
    );

    // The next digest says what each did on their own page.
    let text = crate::receipts::digest_text(&store, three_days_later() + 60).await;
    assert!(
        text.contains("said on their own page that they don't need help anymore"),
        "{text}"
    );
    assert!(
        text.contains("paused themselves on their own page for 14 days"),
        "{text}"
    );
    assert!(
        text.contains("said on their own page that they are back"),
        "{text}"
    );
    assert!(
        text.contains("deleted a record at the person's request"),
        "{text}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    withdraw_pause_back_and_delete_act_only_on_what_the_page_showed
        => sqlite_withdraw_pause_back_and_delete_act_only_on_what_the_page_showed,
        dynamodb_withdraw_pause_back_and_delete_act_only_on_what_the_page_showed
);

/// A message rendered as it will be sent, its text part, with `person` as
/// the record is now.
fn text_of(
    message: &mutualaid_handler::store::message::Message,
    person: &mutualaid_handler::store::Person,
) -> (String, String) {
    let site = mutualaid_site::Site::load(&mutualaid_tests::real_content()).expect("content");
    let letters = mutualaid_handler::outbox::Letters::new(std::sync::Arc::new(site), None, 60)
        .expect("letters");
    let mail =
        mutualaid_handler::outbox::render(message, person, None, &letters).expect("rendered");
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.formatted())
        .expect("MIME")
        .into_owned();
    (
        parsed.subject().unwrap_or_default().to_owned(),
        parsed.body_text(0).expect("text").into_owned(),
    )
}

async fn a_new_email_on_a_record_gets_a_first_sign_up_receipt_and_a_held_page<S: Store + Clone>(
    store: S,
) {
    let maria = mutualaid_tests::person(
        "Maria Abuela",
        Some("maria@example.org"),
        Some(mutualaid_tests::MARIAS_PHONE),
        "92105",
        &["delivery"],
    );
    let id = sign_up(&store, maria.clone(), NOON).await;
    // Two days later someone who knows her name and phone sends the form
    // with an address of their own, and another ZIP.
    let stranger = mutualaid_forms::Signup {
        email: Some("stranger@example.org".into()),
        zip: "92115".into(),
        roles: vec![
            mutualaid_forms::Role::Delivery,
            mutualaid_forms::Role::Money,
        ],
        ..maria.clone()
    };
    let at = NOON + 2 * 86_400;
    let outcome = domain::accept(&store, Submission::Signup(stranger), at, KEEP)
        .await
        .expect("accepted");
    assert_eq!(outcome.person_id, id);
    let record = store.person(&id).await.expect("read").expect("Maria");
    assert_eq!(
        record.submission.email(),
        Some("maria@example.org"),
        "the confirmed email stays the record's"
    );
    assert_eq!(
        record
            .pending_contact
            .as_ref()
            .and_then(|p| p.email.as_deref()),
        Some("stranger@example.org"),
        "the new one waits beside it"
    );
    let messages = store.messages_of(&id).await.expect("messages");
    let to_kinds: Vec<(&str, MessageKind)> =
        messages.iter().map(|m| (m.to.as_str(), m.kind)).collect();
    assert_eq!(
        to_kinds,
        [
            ("maria@example.org", MessageKind::Receipt),
            ("stranger@example.org", MessageKind::Receipt),
            ("maria@example.org", MessageKind::ContactChanged),
        ],
        "a first sign-up's receipt to the new address, not \"we got your change\"; a notice to the confirmed one"
    );

    // Its receipt reads as a first sign-up's, dates and link aside.
    let body = |m: &mutualaid_handler::store::message::Message| {
        let (subject, text) = text_of(m, &record);
        let token = m.link.clone().expect("a link");
        let text = text
            .replace(&token, "TOKEN")
            .replace("November 26, 2026", "DATE")
            .replace("November 28, 2026", "DATE");
        (subject, text)
    };
    assert_eq!(body(&messages[1]), body(&messages[0]));

    // The notice to her confirmed email: neutral, naming neither her nor
    // the new address, and pointing at her page.
    let (subject, notice) = text_of(&messages[2], &record);
    assert_eq!(
        subject,
        "San Diego Mutual Aid: the contact on your sign-up was changed"
    );
    assert!(
        notice.contains(
            "someone sent our form with your name and a new email address or phone number"
        ),
        "{notice}"
    );
    for secret in ["stranger@example.org", "Maria", "92115", "delivery"] {
        assert!(!notice.contains(secret), "{secret} in:\n{notice}");
    }

    // The held page reads as a sign-up of that day, and its buttons act on nothing.
    let held = messages[1].link.clone().expect("a link");
    let app = app(&store, three_days_later);
    let page = get(&app, &format!("/api/me?t={held}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("We got your sign-up on November 28, 2026."),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 day so far"), "{}", page.body);
    assert!(
        !page.body.contains("Was this you?"),
        "a held page asks nobody: {}",
        page.body
    );
    let withdrawn = press(&app, &button(&page.body, "withdraw"), &[]).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    let page = get(&app, &format!("/api/me?t={held}")).await;
    assert!(
        page.body.contains("Your request was closed on"),
        "{}",
        page.body
    );
    // Its "Change my details" is answered as anywhere, and changes nothing.
    let form = get(&app, &format!("/api/me?t={held}&change=1")).await;
    assert_eq!(form.status, StatusCode::OK);
    let changed = press(&app, &button(&form.body, "change"), &[("zip", "92104")]).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body.contains("we got your changes"));
    assert_eq!(
        store.person(&id).await.expect("read").expect("Maria"),
        record,
        "a held page changes nothing on the record"
    );
    // A "Yes, that was me" forged onto the held page does nothing.
    let forged = forged(&page.body, "confirm_contact");
    assert_eq!(press(&app, &forged, &[]).await.status, StatusCode::CONFLICT);
    let confirm = press(&app, &button(&page.body, "delete"), &[]).await;
    let deleted = press(&app, &button(&confirm.body, "delete_confirmed"), &[]).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        get(&app, &format!("/api/me?t={held}")).await.status,
        StatusCode::FORBIDDEN,
        "looks deleted"
    );
    // Maria's record and request are as they were.
    let now = store.person(&id).await.expect("read").expect("Maria");
    assert_eq!(now.version, record.version);
    assert!(now.pending_contact.is_some());
    let cases = store.cases_of(&id).await.expect("cases");
    assert_eq!(
        cases.iter().map(|c| c.state).collect::<Vec<_>>(),
        [CaseState::Open, CaseState::Open],
        "hers, and the one the stranger's ticked box opened"
    );
    // Nothing the held page did is recorded; the new contact is, for a call.
    let actions = store.actions_since(0).await.expect("actions");
    assert_eq!(
        actions.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [ActionKind::EmailChanged]
    );
    let digest = crate::receipts::digest_text(&store, three_days_later() + 60).await;
    assert!(
        digest.contains("the public form brought a new email or phone for Maria A.'s sign-up"),
        "{digest}"
    );
    assert!(
        digest.contains(&format!("mutualaid contacts confirm {id}")),
        "{digest}"
    );
    assert!(
        digest.contains("new, not confirmed: stranger@example.org"),
        "{digest}"
    );

    // The next day Maria opens her notice's link: "Was this you?" She says no.
    let app = self::app(&store, four_days_later);
    let mine = messages[2].link.clone().expect("a link");
    let page = get(&app, &format!("/api/me?t={mine}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Was this you?"), "{}", page.body);
    assert!(
        !page.body.contains("stranger@example.org"),
        "her page shows no details: {}",
        page.body
    );
    let no = press(&app, &button(&page.body, "drop_contact"), &[]).await;
    assert_eq!(no.status, StatusCode::OK, "{}", no.body);
    assert!(no.body.contains("back as it was"), "{}", no.body);
    let restored = store.person(&id).await.expect("read").expect("Maria");
    assert_eq!(restored.pending_contact, None);
    assert_eq!(
        restored.submission,
        Submission::Signup(maria.clone()),
        "what the change replaced is back, the ZIP with it"
    );
    let requests: Vec<(CaseKind, CaseState)> = store
        .cases_of(&id)
        .await
        .expect("cases")
        .iter()
        .map(|c| (c.kind, c.state))
        .collect();
    assert_eq!(
        requests,
        [
            (CaseKind::Delivery, CaseState::Open),
            (CaseKind::Funding, CaseState::Closed)
        ],
        "her own request stays; the one the stranger opened is closed"
    );
    assert!(
        store
            .suppressed(
                &store
                    .address_key()
                    .await
                    .expect("key")
                    .hash("stranger@example.org")
            )
            .await
            .expect("read")
            .eq(&false),
        "the new address is neither blocked nor revoked for good"
    );
    // Her own page still works; replaying the answer is refused.
    let page = get(&app, &format!("/api/me?t={mine}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Was this you?"), "{}", page.body);
    let digest = crate::receipts::digest_text(&store, four_days_later() + 60).await;
    assert!(
        digest.contains("Maria A.'s new contact was dropped and the sign-up put back"),
        "{digest}"
    );
}

/// "Change my details": an empty form (a field left empty keeps its
/// value), bound to the version shown; a value the form would refuse is
/// named beside its field; a change that would give Maria her housemate's
/// identity is answered like any other, applies nothing and is flagged; a
/// held page's change changes nothing.
async fn change_my_details_applies_what_was_filled_in_and_never_merges<S: Store + Clone>(store: S) {
    let maria = mutualaid_tests::person(
        "Maria Abuela",
        Some("maria@example.org"),
        Some(mutualaid_tests::MARIAS_PHONE),
        "92105",
        &["delivery"],
    );
    let maria = mutualaid_forms::Signup {
        notes: Some("3rd floor, no elevator".into()),
        ..maria
    };
    let id = sign_up(&store, maria.clone(), NOON).await;
    let jose = sign_up(&store, mutualaid_tests::jose_on_marias_phone(), NOON + 10).await;
    // The organizers have seen both.
    crate::receipts::digest_text(&store, NOON + 3_600).await;
    let token = token_of(&store, &id).await;
    let app = app(&store, three_days_later);
    let page = get(&app, &format!("/api/me?t={token}")).await;
    assert!(page.body.contains("Change my details"), "{}", page.body);
    let form = get(&app, &format!("/api/me?t={token}&change=1")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("ZIP code"), "{}", form.body);
    assert!(
        !form.body.contains("name=\"households\""),
        "how many households is a volunteer's question: {}",
        form.body
    );
    for detail in ["92105", "3rd floor", "Maria", "5550199"] {
        assert!(
            !form.body.contains(detail),
            "an empty form, none of her details ({detail}): {}",
            form.body
        );
    }
    let before = store.person(&id).await.expect("read").expect("Maria");
    let refused = press(
        &app,
        &button(&form.body, "change"),
        &[("household_size", "40")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("aria-invalid=\"true\""),
        "{}",
        refused.body
    );
    assert_eq!(
        store.person(&id).await.expect("read").expect("Maria"),
        before,
        "nothing applied"
    );
    let saved = press(
        &app,
        &button(&form.body, "change"),
        &[
            ("zip", "92115"),
            ("notes", ""),
            ("availability", "Mornings"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("we got your changes"), "{}", saved.body);
    let after = store.person(&id).await.expect("read").expect("Maria");
    let Submission::Signup(now) = &after.submission else {
        panic!("a sign-up")
    };
    assert_eq!(
        (
            now.zip.as_str(),
            now.notes.as_deref(),
            now.availability.as_deref()
        ),
        ("92115", Some("3rd floor, no elevator"), Some("Mornings")),
        "what was filled in, and the rest kept"
    );
    assert_eq!(after.version, before.version + 1);
    // The same form again: the sign-up moved on since it was shown.
    let replay = press(&app, &button(&form.body, "change"), &[("zip", "92104")]).await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);

    // Her housemate's name on the shared phone: answered the same, nothing applied.
    let form = get(&app, &format!("/api/me?t={token}&change=1")).await;
    let clash = press(
        &app,
        &button(&form.body, "change"),
        &[("name", "Jose Perez")],
    )
    .await;
    assert_eq!(clash.status, StatusCode::OK, "{}", clash.body);
    assert_eq!(clash.body, saved.body, "the answer does not tell");
    assert_eq!(
        store.person(&id).await.expect("read").expect("Maria"),
        after,
        "nothing applied"
    );
    assert!(store.person(&jose).await.expect("read").is_some());
    let kinds: Vec<ActionKind> = store
        .actions_since(0)
        .await
        .expect("actions")
        .iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        kinds,
        [ActionKind::DetailsChanged, ActionKind::IdentityClash]
    );
    let digest = crate::receipts::digest_text(&store, three_days_later() + 60).await;
    assert!(
        digest.contains("Maria A. changed their details on their own page"),
        "{digest}"
    );
    assert!(digest.contains("zip: 92105 → 92115"), "{digest}");
    assert!(
        digest.contains("Maria A.'s own page asked for a change that would give the sign-up another record's name and contact"),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    change_my_details_applies_what_was_filled_in_and_never_merges
        => sqlite_change_my_details_applies_what_was_filled_in_and_never_merges,
        dynamodb_change_my_details_applies_what_was_filled_in_and_never_merges
);

/// "Yes, this is my email": set only with the name as written on the
/// sign-up, on a page a link mailed to that address opened — never a held
/// one; a new confirmed email starts unverified.
async fn yes_this_is_my_email_verifies_only_with_the_name_as_written<S: Store + Clone>(store: S) {
    use mutualaid_handler::contacts::{Decided, Decision, decide};
    let sam = mutualaid_tests::person(
        "Sam Shopper",
        Some("sam@example.org"),
        Some("+16195550122"),
        "92105",
        &["shopper"],
    );
    let id = sign_up(&store, sam.clone(), NOON).await;
    let token = token_of(&store, &id).await;
    let app = app(&store, three_days_later);
    let page = get(&app, &format!("/api/me?t={token}")).await;
    assert!(page.body.contains("Is this your email?"), "{}", page.body);
    let verified = || async {
        store
            .person(&id)
            .await
            .expect("read")
            .expect("Sam")
            .email_verified()
    };
    // "Change my details": the name only.
    let rename = |name: &'static str| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            let form = get(&app, &format!("/api/me?t={token}&change=1")).await;
            let renamed = press(&app, &button(&form.body, "change"), &[("name", name)]).await;
            assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
        }
    };
    // Whoever got a mistyped receipt cannot rename the record on its page
    // and then verify with the name they gave it.
    rename("Eve Stranger").await;
    let page = get(&app, &format!("/api/me?t={token}")).await;
    let by_new_name = press(
        &app,
        &button(&page.body, "verify"),
        &[("name", "Eve Stranger")],
    )
    .await;
    assert_eq!(by_new_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!verified().await, "a name the page set verifies nothing");
    rename("Sam Shopper").await;
    let page = get(&app, &format!("/api/me?t={token}")).await;
    let wrong = press(
        &app,
        &button(&page.body, "verify"),
        &[("name", "Someone Else")],
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(!verified().await, "a wrong name verifies nothing");
    let right = press(
        &app,
        &button(&page.body, "verify"),
        &[("name", "  sam   SHOPPER ")],
    )
    .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    assert!(
        verified().await,
        "the name as written, by the identity rule"
    );
    let page = get(&app, &format!("/api/me?t={token}")).await;
    assert!(!page.body.contains("Is this your email?"), "{}", page.body);
    let digest = crate::receipts::digest_text(&store, three_days_later() + 60).await;
    assert!(digest.contains("sam@example.org (verified)"), "{digest}");

    // A new email from the form waits; its held page never verifies.
    let moved = mutualaid_forms::Signup {
        email: Some("sam.new@example.org".into()),
        ..sam.clone()
    };
    domain::accept(&store, Submission::Signup(moved), NOON + 60, KEEP)
        .await
        .expect("accepted");
    let held = held_link(&store, &id, "sam.new@example.org").await;
    let held_page = get(&app, &format!("/api/me?t={held}")).await;
    assert!(
        !held_page.body.contains("Is this your email?"),
        "{}",
        held_page.body
    );
    let forged = press(
        &app,
        &forged(&held_page.body, "verify"),
        &[("name", "Sam Shopper")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::CONFLICT);
    assert!(verified().await, "still the old address, verified");
    // Confirmed, the new email starts unverified.
    assert_eq!(
        decide(
            &store,
            &id,
            None,
            Decision::Confirm,
            Actor::Person,
            NOON + 120
        )
        .await
        .expect("confirmed"),
        Decided::Done
    );
    assert!(!verified().await, "a changed email clears it");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    yes_this_is_my_email_verifies_only_with_the_name_as_written
        => sqlite_yes_this_is_my_email_verifies_only_with_the_name_as_written,
        dynamodb_yes_this_is_my_email_verifies_only_with_the_name_as_written
);

/// A volunteer changes how many households they can shop for, on their
/// own page: the choice starts unticked (left alone, it keeps its value).
async fn a_volunteer_sets_their_own_number_on_their_page<S: Store + Clone>(store: S) {
    let sam = mutualaid_tests::person(
        "Sam Shopper",
        Some("sam@example.org"),
        None,
        "92105",
        &["shopper"],
    );
    let id = sign_up(&store, sam, NOON).await;
    let token = token_of(&store, &id).await;
    let app = app(&store, three_days_later);
    let form = get(&app, &format!("/api/me?t={token}&change=1")).await;
    assert!(
        form.body
            .contains("How many households can you shop for at the same time?"),
        "{}",
        form.body
    );
    assert!(!form.body.contains("checked"), "{}", form.body);
    let refused = press(&app, &button(&form.body, "change"), &[("households", "9")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let saved = press(&app, &button(&form.body, "change"), &[("households", "2")]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let record = store.person(&id).await.expect("read").expect("Sam");
    let Submission::Signup(s) = &record.submission else {
        panic!("a sign-up")
    };
    assert_eq!(s.households, Some(2));
    assert_eq!(record.shopping_cap(3), 2);
    assert_eq!(record.shopping_cap(1), 1, "never past the network's cap");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_volunteer_sets_their_own_number_on_their_page
        => sqlite_a_volunteer_sets_their_own_number_on_their_page,
        dynamodb_a_volunteer_sets_their_own_number_on_their_page
);

/// At once: a stranger's form bringing Maria a new email and ZIP, Maria's
/// own update, and five neighbours signing up; then, at once, her "I didn't
/// make this change" and another update of hers. Nobody is folded into
/// another, nothing of hers is lost, and only what the stranger changed is
/// given back.
async fn pending_contacts_hold_under_concurrent_writers<S: Store + 'static>(store: S) {
    use mutualaid_handler::contacts::{Decided, Decision, decide};
    let store = std::sync::Arc::new(store);
    let maria = mutualaid_tests::person(
        "Maria Abuela",
        Some("maria@example.org"),
        Some(mutualaid_tests::MARIAS_PHONE),
        "92105",
        &["delivery"],
    );
    let id = sign_up(&*store, maria.clone(), NOON).await;
    let stranger = mutualaid_forms::Signup {
        email: Some("stranger@example.org".into()),
        zip: "92115".into(),
        ..maria.clone()
    };
    let own = mutualaid_forms::Signup {
        notes: Some("3rd floor, no elevator".into()),
        ..maria.clone()
    };
    let mut sent = vec![stranger, own.clone()];
    for i in 0..5 {
        sent.push(mutualaid_tests::person(
            &format!("Neighbour {i}"),
            Some(&format!("n{i}@example.org")),
            None,
            "92105",
            &["delivery"],
        ));
    }
    let mut tasks = Vec::new();
    for (i, signup) in sent.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            sign_up(&*store, signup, NOON + 60 + i as i64).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    assert_eq!(&ids[..2], [id.clone(), id.clone()], "both are Maria's");
    let others: std::collections::BTreeSet<&String> = ids[2..].iter().collect();
    assert_eq!(others.len(), 5, "each neighbour a record of their own");
    assert!(!others.contains(&id));
    let record = store.person(&id).await.expect("read").expect("Maria");
    let Submission::Signup(now) = &record.submission else {
        panic!("a sign-up")
    };
    assert_eq!(now.email.as_deref(), Some("maria@example.org"));
    assert_eq!(now.notes.as_deref(), Some("3rd floor, no elevator"));
    assert_eq!(
        record
            .pending_contact
            .as_ref()
            .and_then(|p| p.email.as_deref()),
        Some("stranger@example.org")
    );

    // Her "no" and another update of hers, at once: both land.
    let later = mutualaid_forms::Signup {
        availability: Some("Mornings".into()),
        ..own.clone()
    };
    let answer = {
        let store = store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            decide(
                &*store,
                &id,
                None,
                Decision::Drop,
                Actor::Person,
                NOON + 120,
            )
            .await
        })
    };
    let update = {
        let store = store.clone();
        tokio::spawn(async move { sign_up(&*store, later, NOON + 121).await })
    };
    assert_eq!(answer.await.expect("task").expect("dropped"), Decided::Done);
    assert_eq!(update.await.expect("task"), id);
    let record = store.person(&id).await.expect("read").expect("Maria");
    assert_eq!(record.pending_contact, None);
    let Submission::Signup(now) = &record.submission else {
        panic!("a sign-up")
    };
    assert_eq!(
        (
            now.email.as_deref(),
            now.zip.as_str(),
            now.notes.as_deref(),
            now.availability.as_deref()
        ),
        (
            Some("maria@example.org"),
            "92105",
            Some("3rd floor, no elevator"),
            Some("Mornings")
        ),
        "the stranger's ZIP given back; everything she sent kept"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pending_contacts_hold_under_concurrent_writers
        => sqlite_pending_contacts_hold_under_concurrent_writers,
        dynamodb_pending_contacts_hold_under_concurrent_writers
);

/// "Yes, that was me": a new email becomes the record's, the old one's links
/// stop, the new one gets its first link; a new phone by name and email is
/// held the same way, and an organizer confirms it (`contacts confirm`).
async fn yes_that_was_me_confirms_and_revokes_the_old_links<S: Store + Clone>(store: S) {
    use mutualaid_handler::contacts::{Decided, Decision, decide};
    let ana = mutualaid_tests::person(
        "Ana Ruiz",
        Some("ana@example.org"),
        Some("+16195550188"),
        "92105",
        &["shopper"],
    );
    let id = sign_up(&store, ana.clone(), NOON).await;
    let first_link = token_of(&store, &id).await;
    // Ana moved mailboxes: she sends the form with her new address.
    let moved = mutualaid_forms::Signup {
        email: Some("ana.new@example.org".into()),
        ..ana.clone()
    };
    domain::accept(&store, Submission::Signup(moved), NOON + 60, KEEP)
        .await
        .expect("accepted");
    let messages = store.messages_of(&id).await.expect("messages");
    let held = messages[1].link.clone().expect("held link");
    let notice = messages[2].link.clone().expect("the notice's link");
    let app = app(&store, three_days_later);
    let page = get(&app, &format!("/api/me?t={notice}")).await;
    let yes = press(&app, &button(&page.body, "confirm_contact"), &[]).await;
    assert_eq!(yes.status, StatusCode::OK, "{}", yes.body);
    let record = store.person(&id).await.expect("read").expect("Ana");
    assert_eq!(record.submission.email(), Some("ana.new@example.org"));
    assert_eq!(record.pending_contact, None);
    for old in [&first_link, &notice, &held] {
        assert_eq!(
            get(&app, &format!("/api/me?t={old}")).await.status,
            StatusCode::FORBIDDEN,
            "the old address's links and the held one are gone"
        );
    }
    let messages = store.messages_of(&id).await.expect("messages");
    let last = messages.last().expect("a message");
    assert_eq!(
        (last.to.as_str(), last.kind),
        ("ana.new@example.org", MessageKind::LinkAgain),
        "the new address gets its first live link"
    );
    let fresh = last.link.clone().expect("a link");
    let page = get(&app, &format!("/api/me?t={fresh}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Pause me"), "a live page: {}", page.body);

    // Later a new phone comes with her name and (confirmed) email: held the
    // same way — her email is told, the phone is not used until confirmed.
    let new_phone = mutualaid_forms::Signup {
        email: Some("ana.new@example.org".into()),
        phone: Some("+16195550177".into()),
        ..ana.clone()
    };
    domain::accept(&store, Submission::Signup(new_phone), NOON + 120, KEEP)
        .await
        .expect("accepted");
    let record = store.person(&id).await.expect("read").expect("Ana");
    assert_eq!(record.submission.phone(), Some("+16195550188"));
    assert_eq!(
        record
            .pending_contact
            .as_ref()
            .and_then(|p| p.phone.as_deref()),
        Some("+16195550177")
    );
    let kinds: Vec<MessageKind> = store
        .messages_of(&id)
        .await
        .expect("messages")
        .iter()
        .skip(4)
        .map(|m| m.kind)
        .collect();
    assert_eq!(
        kinds,
        [MessageKind::ChangeReceipt, MessageKind::ContactChanged]
    );
    // An organizer reached her on her confirmed email and confirms it.
    assert_eq!(
        decide(&store, &id, None, Decision::Confirm, Actor::Cli, NOON + 180)
            .await
            .expect("confirm"),
        Decided::Done
    );
    let record = store.person(&id).await.expect("read").expect("Ana");
    assert_eq!(record.submission.phone(), Some("+16195550177"));
    assert_eq!(
        get(&app, &format!("/api/me?t={fresh}")).await.status,
        StatusCode::OK,
        "a new phone leaves her email's links as they are"
    );
    assert_eq!(
        decide(&store, &id, None, Decision::Drop, Actor::Cli, NOON + 240)
            .await
            .expect("drop"),
        Decided::NothingPending
    );
    let digest = crate::receipts::digest_text(&store, three_days_later() + 60).await;
    assert!(
        digest.contains("Ana R.'s new contact was confirmed"),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    yes_that_was_me_confirms_and_revokes_the_old_links
        => sqlite_yes_that_was_me_confirms_and_revokes_the_old_links,
        dynamodb_yes_that_was_me_confirms_and_revokes_the_old_links
);

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_new_email_on_a_record_gets_a_first_sign_up_receipt_and_a_held_page
        => sqlite_a_new_email_on_a_record_gets_a_first_sign_up_receipt_and_a_held_page,
        dynamodb_a_new_email_on_a_record_gets_a_first_sign_up_receipt_and_a_held_page
);

async fn email_me_my_link_again_answers_the_same_for_anyone<S: Store + Clone>(store: S) {
    let sam_id = sign_up(&store, sam(), NOON).await;
    let first = token_of(&store, &sam_id).await;
    let app = app(&store, three_days_later);
    let form = get(&app, "/api/me/again?lang=es").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body
            .contains("<label for=\"email\">Correo electrónico</label>"),
        "{}",
        form.body
    );

    let known = post(
        &app,
        "/api/me/again",
        &[("email", " Sam.W@example.org "), ("lang", "en")],
    )
    .await;
    let unknown = post(
        &app,
        "/api/me/again",
        &[("email", "nobody@example.org"), ("lang", "en")],
    )
    .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(
        (known.status, &known.body),
        (unknown.status, &unknown.body),
        "the same answer"
    );
    let messages = store.messages_of(&sam_id).await.expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].kind, MessageKind::LinkAgain);
    let second = messages[1].link.clone().expect("a new link");
    assert_ne!(second, first);
    // Both links open his page: a stranger who asks cannot revoke the old one.
    for token in [&first, &second] {
        assert_eq!(
            get(&app, &format!("/api/me?t={token}")).await.status,
            StatusCode::OK
        );
    }
    // At most once an hour per record.
    post(&app, "/api/me/again", &[("email", "sam.w@example.org")]).await;
    assert_eq!(store.messages_of(&sam_id).await.expect("messages").len(), 2);
    // Not an address: said, nothing sent.
    let bad = post(&app, "/api/me/again", &[("email", "sam at example")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("aria-invalid=\"true\""));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    email_me_my_link_again_answers_the_same_for_anyone
        => sqlite_email_me_my_link_again_answers_the_same_for_anyone,
        dynamodb_email_me_my_link_again_answers_the_same_for_anyone
);

fn eleven_days_later() -> i64 {
    NOON + 11 * 86_400
}

/// A held page's button rewrites its link; on DynamoDB the rewrite keeps
/// the link's expiry as the record's later updates raised it (it wrote
/// back the one from when the link was made, and the page stopped working
/// while the record lived on).
#[tokio::test]
async fn dynamodb_a_held_pages_button_keeps_its_links_expiry() {
    use mutualaid_handler::store::dynamo::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
    let Some(endpoint) = mutualaid_tests::aws::moto() else {
        return;
    };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "held-ttl").await;
    let id = sign_up(&store, sam(), NOON).await;
    sign_up(
        &store,
        mutualaid_forms::Signup {
            email: Some("sam.new@example.org".into()),
            ..sam()
        },
        NOON + 60,
    )
    .await;
    let held = held_link(&store, &id, "sam.new@example.org").await;
    // Ten days on, Sam's own form again (a new ZIP): everything the record
    // keeps, its links too, is kept 365 days from then.
    let updated = NOON + 10 * 86_400;
    sign_up(
        &store,
        mutualaid_forms::Signup {
            zip: "92115".into(),
            ..sam()
        },
        updated,
    )
    .await;
    let app = app(&store, eleven_days_later);
    let page = get(&app, &format!("/api/me?t={held}")).await;
    let paused = press(&app, &button(&page.body, "pause"), &[("weeks", "2")]).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    let items = mutualaid_tests::aws::dynamo(&endpoint)
        .await
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p AND begins_with(sk, :l)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("PERSON#{id}")),
        )
        .expression_attribute_values(
            ":l",
            aws_sdk_dynamodb::types::AttributeValue::S("LINK#".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("query")
        .items
        .unwrap_or_default();
    // The receipts' links (the first sign-up's, the update's) and the held one.
    assert!(items.len() >= 3, "{items:?}");
    for item in &items {
        let expires: i64 = item[TTL_ATTRIBUTE]
            .as_n()
            .expect("an expiry")
            .parse()
            .expect("a number");
        assert_eq!(
            expires,
            updated + 365 * 86_400,
            "{:?} {:?}",
            item[PARTITION_KEY],
            item[SORT_KEY]
        );
    }
}

/// Someone asks for a person's link again, and their mail app presses
/// Unsubscribe, at the moment the person is deleted, round after round, at
/// staggered moments: nothing of them stays — no message carrying their
/// address, no link, no stop naming it. A link mailed again
/// checks that the record is there, and what landed while the erasure ran
/// is swept after it.
async fn a_link_asked_again_during_an_erasure_leaves_nothing_behind<S: Store + Clone + 'static>(
    store: S,
) {
    let app = app(&store, three_days_later);
    for round in 0..8u64 {
        let email = format!("sam.{round}@example.org");
        let id = sign_up(
            &store,
            mutualaid_tests::person(
                &format!("Sam Round{round}"),
                Some(&email),
                None,
                "92104",
                &["shopper"],
            ),
            NOON,
        )
        .await;
        let token = token_of(&store, &id).await;
        let stopping = {
            let app = app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(round * 4)).await;
                one_click(&app, &token).await.status
            })
        };
        let erasing = {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                mutualaid_handler::erase::erase(
                    &store,
                    &id,
                    three_days_later(),
                    three_days_later() + 30 * 86_400,
                )
                .await
                .expect("erased")
            })
        };
        let asking: Vec<_> = (0..3u64)
            .map(|i| {
                let (app, email) = (app.clone(), email.clone());
                tokio::spawn(async move {
                    let wait = std::time::Duration::from_millis(round * 3 + i * 5);
                    tokio::time::sleep(wait).await;
                    post(&app, "/api/me/again", &[("email", &email)])
                        .await
                        .status
                })
            })
            .collect();
        erasing.await.expect("the erasure");
        for asked in asking {
            assert_eq!(asked.await.expect("asked"), StatusCode::OK);
        }
        let stopped = stopping.await.expect("stopped");
        assert!(
            [StatusCode::OK, StatusCode::FORBIDDEN].contains(&stopped),
            "{stopped}"
        );
        assert!(
            store.mail_stop(&id, &email).await.expect("read").is_none(),
            "round {round}: no stop left naming the address"
        );
        assert!(
            store.messages_of(&id).await.expect("messages").is_empty(),
            "round {round}: no message left"
        );
        let kept = store.kept(&id).await.expect("kept");
        assert!(
            !kept.record && kept.page_links.is_empty() && kept.messages.is_empty(),
            "round {round}: {kept:?}"
        );
    }
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    a_link_asked_again_during_an_erasure_leaves_nothing_behind
        => sqlite_a_link_asked_again_during_an_erasure_leaves_nothing_behind,
        dynamodb_a_link_asked_again_during_an_erasure_leaves_nothing_behind
);

/// A link that opens nothing — on the page, or on its "stop emails" and
/// "this wasn't me" pages — offers a new one at the address that mails it.
#[tokio::test]
async fn a_link_that_opens_nothing_offers_a_new_one_that_works() {
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    let app = app(&store, three_days_later);
    let token = "a".repeat(43);
    for path in ["/api/me", "/api/me/stop", "/api/me/not-me"] {
        let page = get(&app, &format!("{path}?t={token}")).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
        let at = page
            .body
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .find(|href| href.contains("again"))
            .unwrap_or_else(|| panic!("{path}: a link to ask again: {}", page.body));
        // Resolved against the page's own address, as a browser does.
        let resolved = if at.starts_with('/') {
            at.to_owned()
        } else {
            format!("{}{at}", &path[..=path.rfind('/').unwrap_or(0)])
        };
        let (again, query) = resolved.split_once('?').unwrap_or((&resolved, ""));
        assert_eq!(again, "/api/me/again", "{path}: {at}");
        let form = get(&app, &format!("{again}?{query}")).await;
        assert_eq!(form.status, StatusCode::OK, "{path}");
    }
}

/// Someone who knows Maria's name and phone sends the form again and again
/// with the same address of theirs and other notes: her confirmed email is
/// told once, not once per form (a notice is outside the receipts' caps).
async fn a_held_contact_sent_again_tells_the_confirmed_email_once<S: Store + Clone>(store: S) {
    let maria = mutualaid_tests::person(
        "Maria Abuela",
        Some("maria@example.org"),
        Some(mutualaid_tests::MARIAS_PHONE),
        "92105",
        &["delivery"],
    );
    let id = sign_up(&store, maria.clone(), NOON).await;
    for (i, notes) in ["one", "two", "three"].into_iter().enumerate() {
        sign_up(
            &store,
            mutualaid_forms::Signup {
                email: Some("stranger@example.org".into()),
                notes: Some(notes.into()),
                ..maria.clone()
            },
            NOON + 60 * (i as i64 + 1),
        )
        .await;
    }
    let notices = store
        .messages_of(&id)
        .await
        .expect("messages")
        .into_iter()
        .filter(|m| m.kind == MessageKind::ContactChanged)
        .count();
    assert_eq!(notices, 1);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_held_contact_sent_again_tells_the_confirmed_email_once
        => sqlite_a_held_contact_sent_again_tells_the_confirmed_email_once,
        dynamodb_a_held_contact_sent_again_tells_the_confirmed_email_once
);

/// A held page shows what the form that made it asked, never the record's
/// choices since: Maria volunteers; someone sends the form with her name,
/// phone and an address of theirs; then Maria herself asks for groceries.
/// The held page still reads as that form's sign-up — a volunteer's —
/// and tells its holder nothing of her request.
async fn a_held_page_shows_what_its_form_asked_never_what_the_record_asks_since<
    S: Store + Clone,
>(
    store: S,
) {
    let maria = mutualaid_tests::person(
        "Maria Abuela",
        Some("maria@example.org"),
        Some(mutualaid_tests::MARIAS_PHONE),
        "92105",
        &["shopper"],
    );
    let id = sign_up(&store, maria.clone(), NOON).await;
    sign_up(
        &store,
        mutualaid_forms::Signup {
            email: Some("stranger@example.org".into()),
            ..maria.clone()
        },
        NOON + 60,
    )
    .await;
    let held = held_link(&store, &id, "stranger@example.org").await;
    sign_up(
        &store,
        mutualaid_forms::Signup {
            roles: vec![
                mutualaid_forms::Role::Shopper,
                mutualaid_forms::Role::Delivery,
            ],
            ..maria.clone()
        },
        NOON + 120,
    )
    .await;
    let app = app(&store, three_days_later);
    let own = get(&app, &format!("/api/me?t={}", token_of(&store, &id).await)).await;
    assert!(
        own.body.contains("We are looking for a volunteer near you"),
        "her own page shows her request: {}",
        own.body
    );
    let page = get(&app, &format!("/api/me?t={held}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("Thank you for signing up to shop for neighbors"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("We are looking for a volunteer"),
        "nothing of her request: {}",
        page.body
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_held_page_shows_what_its_form_asked_never_what_the_record_asks_since
        => sqlite_a_held_page_shows_what_its_form_asked_never_what_the_record_asks_since,
        dynamodb_a_held_page_shows_what_its_form_asked_never_what_the_record_asks_since
);
