//! The organizers' signed links, end to end: a digest's HTML part carries
//! them; opening one (GET) shows a page and changes nothing; its button
//! (POST) acts once; an altered, expired or replayed link, or one for a
//! volunteer at the cap, changes nothing and says why — in process on
//! SQLite, and through the real `submit` Lambda on DynamoDB with the keys in
//! Secrets Manager (moto).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mutualaid_handler::digest::{self, DigestConfig};
use mutualaid_handler::domain;
use mutualaid_handler::http::{self, App, OrganizerActions};
use mutualaid_handler::links::{KeySource, LinkKeys, LinkSigner};
use mutualaid_handler::mail::Outbox;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{CaseKind, CaseState, Submission};
use mutualaid_site::Site;
use mutualaid_tests::{aws, lambda};
use serde_json::json;

use crate::digest::{NOON, config, strings};
use crate::handler::send;
use crate::store_contract::{KEEP, person};

const PAGE: &str = "https://mutualaid.example.org/api/case";

/// The API Gateway event of an organizer opening `link` (`/api/case?…`).
pub(crate) fn opening(link: &str) -> serde_json::Value {
    let (path, query) = link.split_once('?').expect("a query");
    let mut event = lambda::http_event(false, path, "text/plain", "", "203.0.113.5");
    event["requestContext"]["http"]["method"] = json!("GET");
    event["rawQueryString"] = json!(query);
    event
}

/// Rita (delivery) and Vic (shopper), both in 92004.
pub(crate) async fn seed<S: Store>(store: &S) -> (String, String) {
    let rita = domain::accept(
        store,
        Submission::Signup(person(
            "Rita Lopez",
            Some("rita@example.org"),
            None,
            "92004",
            &["delivery"],
        )),
        NOON - 600,
        KEEP,
    )
    .await
    .expect("rita");
    let vic = domain::accept(
        store,
        Submission::Signup(person(
            "Vic Helper",
            Some("vic@example.org"),
            None,
            "92004",
            &["shopper"],
        )),
        NOON - 500,
        KEEP,
    )
    .await
    .expect("vic");
    (rita.person_id, vic.person_id)
}

pub(crate) fn digest_config(
    keys: &LinkKeys,
    lang: mutualaid_forms::Lang,
    cap: usize,
) -> DigestConfig {
    let mut c = config("organizers@example.org");
    c.lang = lang;
    c.pairing.cap = cap;
    c.links = Some(LinkSigner {
        keys: keys.clone(),
        page: PAGE.into(),
        ttl_days: 14,
    });
    c
}

/// Sends a digest to an outbox and returns its HTML part.
pub(crate) async fn digest_html<S: Store>(
    store: &S,
    config: &DigestConfig,
    at: i64,
    dir: &std::path::Path,
) -> String {
    let outbox = Outbox {
        dir: dir.to_owned(),
    };
    let lang = config.lang.code();
    digest::run(
        store,
        &outbox,
        &strings(lang),
        config,
        at,
        &format!("run-{at}"),
    )
    .await
    .expect("sent");
    let raw = mutualaid_tests::latest_message(dir);
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME");
    message.body_html(0).expect("HTML part").into_owned()
}

/// The first link in `html` whose query has `a=<action>`, unescaped, as a
/// path and query on the handler (`/api/case?…`).
pub(crate) fn link(html: &str, action: &str) -> String {
    find_link(html, action).unwrap_or_else(|| panic!("a {action} link in {html}"))
}

/// As [`link`], if there is one.
pub(crate) fn find_link(html: &str, action: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    doc.select(&crate::sel("a"))
        .filter_map(|a| a.value().attr("href"))
        .find(|h| h.starts_with(PAGE) && h.contains(&format!("a={action}&")))
        .map(|h| {
            h.trim_start_matches("https://mutualaid.example.org")
                .to_owned()
        })
}

pub(crate) fn router<S: Store + Clone>(
    store: &S,
    keys: &LinkKeys,
    cap: usize,
    now: fn() -> i64,
) -> Router {
    let site = Arc::new(Site::load(&mutualaid_tests::real_content()).expect("content"));
    let mut cfg = crate::handler::config(&site, 1_000);
    cfg.organizer_actions = Some(OrganizerActions {
        keys: KeySource::Fixed(keys.clone()),
        cap,
        time_zone: "America/Los_Angeles".into(),
    });
    http::router(App {
        store: store.clone(),
        site,
        config: cfg,
        clock: now,
    })
}

pub(crate) fn at_noon_next_day() -> i64 {
    NOON + 86_400
}

fn far_future() -> i64 {
    NOON + 60 * 86_400
}

pub(crate) async fn get(router: &Router, path: &str) -> crate::handler::Answer {
    send(
        router,
        Request::get(path).body(Body::empty()).expect("request"),
    )
    .await
}

/// What the page's button posts: its form's hidden fields, encoded as the browser would.
pub(crate) fn button_body(page: &str) -> String {
    let doc = scraper::Html::parse_document(page);
    let fields: Vec<(String, String)> = doc
        .select(&crate::sel("form[method=post] input[type=hidden]"))
        .map(|i| {
            (
                i.value().attr("name").expect("name").to_owned(),
                i.value().attr("value").expect("value").to_owned(),
            )
        })
        .collect();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The page's button, pressed.
pub(crate) async fn press(router: &Router, page: &str) -> crate::handler::Answer {
    let body = button_body(page);
    send(
        router,
        Request::post("/api/case")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.into())
            .expect("request"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_from_the_digest_shows_a_page_and_only_its_button_acts() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let (rita, vic) = seed(&store).await;
    let html = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 1),
        NOON,
        &dir.path().join("outbox"),
    )
    .await;
    assert!(html.len() < 100 * 1024, "the HTML part stays whole");
    let confirm = link(&html, "confirm");
    let app = router(&store, &keys, 1, at_noon_next_day);

    // GET: the page, in English, with one button — and nothing changes, however often.
    for _ in 0..3 {
        let page = get(&app, &confirm).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
        assert!(page.body.contains("<html lang=\"en\">"));
        let doc = scraper::Html::parse_document(&page.body);
        let buttons: Vec<String> = doc
            .select(&crate::sel("button"))
            .map(|b| b.text().collect())
            .collect();
        assert_eq!(
            buttons,
            [
                "Offer the request of Rita Lopez to Vic Helper: they are asked first, and introduced when they say yes"
            ]
        );
        assert!(
            page.body.contains("Groceries delivered") || page.body.contains("groceries delivered")
        );
    }
    let cases = store.cases_of(&rita).await.expect("cases");
    assert_eq!(cases[0].state, CaseState::Open, "a GET changes nothing");

    // POST (the button): offered to Vic, once.
    let page = get(&app, &confirm).await;
    let done = press(&app, &page.body).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Done"), "{}", done.body);
    let case = &store.cases_of(&rita).await.expect("cases")[0];
    assert_eq!(
        (case.state, case.volunteer_id.as_deref()),
        (CaseState::Offered, Some(vic.as_str()))
    );
    let next = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 1),
        NOON + 100,
        &dir.path().join("outbox"),
    )
    .await;
    // Vic never verified an email: a call to make, and his answer's buttons.
    assert!(
        next.contains("Offered to a volunteer, waiting for their answer (1)")
            && next.contains("call Vic Helper to offer it"),
        "the next digest shows the offer as a call: {next}"
    );
    assert!(
        next.contains("offered the request of Rita L. to Vic H."),
        "and the action: {next}"
    );
    // Replayed: nothing changes, and the page says what changed and when.
    let replay = press(&app, &page.body).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
    assert!(
        replay.body.contains(
            "The case changed after this digest was sent: it is offered to a volunteer since 2026-11-27"
        ),
        "{}",
        replay.body
    );
    // The organizer called Vic, who said yes: matched.
    let accept = link(&next, "accept");
    let page = get(&app, &accept).await;
    assert!(
        page.body
            .contains("Record that Vic Helper said yes to shopping for Rita Lopez"),
        "{}",
        page.body
    );
    let done = press(&app, &page.body).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let case = &store.cases_of(&rita).await.expect("cases")[0];
    assert_eq!(case.state, CaseState::Matched);
    let after = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 1),
        NOON + 200,
        &dir.path().join("outbox"),
    )
    .await;
    assert!(
        after.contains("Matched and active (1)")
            && after.contains("with Vic Helper (92004 Borrego Springs)"),
        "the next digest shows the pair under matched: {after}"
    );

    // Altered: refused, saying so; expired: refused, saying when.
    let altered = confirm.replace("&n=1&", "&n=2&");
    assert_ne!(altered, confirm);
    let refused = get(&app, &altered).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .body
            .contains("This link was changed or is incomplete"),
        "{}",
        refused.body
    );
    let late = router(&store, &keys, 1, far_future);
    let expired = get(&late, &confirm).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert!(
        expired.body.contains("This link expired on 2026-12-10"),
        "{}",
        expired.body
    );
    let other_keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let rotated = router(&store, &other_keys, 1, at_noon_next_day);
    assert!(
        get(&rotated, &confirm)
            .await
            .body
            .contains("no longer in use")
    );

    // Rosa asks near Vic, who is at the cap (1): an old suggestion's link is refused, saying why.
    let rosa = domain::accept(
        &store,
        Submission::Signup(person(
            "Rosa Marquez",
            Some("rosa@example.org"),
            None,
            "92004",
            &["delivery"],
        )),
        NOON + 100,
        KEEP,
    )
    .await
    .expect("rosa");
    let cap_3 = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 3),
        NOON + 200,
        &dir.path().join("outbox"),
    )
    .await;
    let rosa_confirm = link(&cap_3, "confirm");
    let page = get(&app, &rosa_confirm).await;
    let full = press(&app, &page.body).await;
    assert_eq!(full.status, StatusCode::CONFLICT);
    assert!(
        full.body
            .contains("Vic Helper already helps 1 person (the most is 1)"),
        "{}",
        full.body
    );
    let rosa_case = store.cases_of(&rosa.person_id).await.expect("cases");
    assert_eq!(rosa_case[0].state, CaseState::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_are_in_spanish_for_spanish_speaking_organizers_and_a_close_can_be_undone() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let (rita, _) = seed(&store).await;
    let cfg = digest_config(&keys, mutualaid_forms::Lang::ES, 3);
    let html = digest_html(&store, &cfg, NOON, &dir.path().join("outbox")).await;
    let close = link(&html, "close");
    let app = router(&store, &keys, 3, at_noon_next_day);
    let page = get(&app, &close).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<html lang=\"es\">"));
    assert!(
        page.body.contains(">Cerrar el caso de Rita Lopez</button>"),
        "{}",
        page.body
    );
    assert_eq!(press(&app, &page.body).await.status, StatusCode::OK);
    assert!(
        store
            .active_cases()
            .await
            .expect("cases")
            .cases
            .iter()
            .all(|c| c.person_id != rita)
    );
    // The next digest lists the action, with a link that reopens the case.
    let next = digest_html(&store, &cfg, NOON + 86_400, &dir.path().join("outbox")).await;
    assert!(next.contains("cerró el caso de Rita L."), "{next}");
    let reopen = link(&next, "reopen");
    let page = get(&app, &reopen).await;
    assert!(
        page.body
            .contains(">Reabrir el caso de Rita Lopez</button>"),
        "{}",
        page.body
    );
    assert_eq!(press(&app, &page.body).await.status, StatusCode::OK);
    let case = store.cases_of(&rita).await.expect("cases").remove(0);
    assert_eq!(
        (case.kind, case.state),
        (CaseKind::Delivery, CaseState::Open)
    );
}

/// Rosa asks on day 1; her daughter sends the form for her with Rosa's
/// phone and her own email: two records, linked.
pub(crate) async fn rosa_twice<S: Store>(store: &S) -> (String, String) {
    let mut ids = Vec::new();
    for (name, email, at) in [
        ("Rosa Martinez", None, NOON - 3 * 86_400),
        ("Rosa M", Some("daughter@example.org"), NOON - 700),
    ] {
        let accepted = domain::accept(
            store,
            Submission::Signup(person(
                name,
                email,
                Some("+16195550142"),
                "92004",
                &["delivery"],
            )),
            at,
            KEEP,
        )
        .await
        .expect("accepted");
        ids.push(accepted.person_id);
    }
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_twice_is_merged_from_the_digest_and_the_merge_can_be_undone() {
    // The undo is the digest's "Undo merge" button (issue 23, part 4).
    for lang in [mutualaid_forms::Lang::EN, mutualaid_forms::Lang::ES] {
        let (dir, store) = mutualaid_tests::stores::sqlite();
        let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
        let (first, second) = rosa_twice(&store).await;
        let cfg = digest_config(&keys, lang, 3);
        let html = digest_html(&store, &cfg, NOON, &dir.path().join("outbox")).await;
        let merge = link(&html, "merge");
        let app = router(&store, &keys, 3, at_noon_next_day);
        let (title, merged_text, again) = match lang {
            mutualaid_forms::Lang::EN => (
                ">Merge the record of ",
                "merged the record of",
                "already merged",
            ),
            _ => (
                ">Unir el registro de ",
                "unió el registro de",
                "ya están unidos",
            ),
        };
        for _ in 0..2 {
            let page = get(&app, &merge).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert!(page.body.contains(title), "{}", page.body);
            assert!(page.body.contains("Rosa Martinez") && page.body.contains("Rosa M"));
            assert_eq!(
                store.active_cases().await.expect("cases").cases.len(),
                2,
                "a GET merges nothing"
            );
        }
        let page = get(&app, &merge).await;
        let done = press(&app, &page.body).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let active = store.active_cases().await.expect("cases").cases;
        assert_eq!(active.len(), 1, "one request: {active:?}");
        assert_eq!(
            active[0].opened_at,
            NOON - 3 * 86_400,
            "waiting since her first ask"
        );
        let replay = press(&app, &page.body).await;
        assert_eq!(replay.status, StatusCode::CONFLICT);
        assert!(replay.body.contains(again), "{}", replay.body);
        // The next digest says what was done, with the way back.
        let next = digest_html(&store, &cfg, NOON + 86_400, &dir.path().join("outbox")).await;
        assert!(next.contains(merged_text), "{next}");
        let undo = link(&next, "unmerge");
        let page = get(&app, &undo).await;
        assert_eq!(press(&app, &page.body).await.status, StatusCode::OK);
        let replay = press(&app, &page.body).await;
        assert_eq!(replay.status, StatusCode::CONFLICT, "undone once");
        let back: Vec<String> = store
            .active_cases()
            .await
            .expect("cases")
            .cases
            .into_iter()
            .map(|c| c.person_id)
            .collect();
        assert!(back.contains(&first) && back.contains(&second), "{back:?}");
    }
}

/// The Rosa records with a request not closed, sorted.
async fn rosas_waiting<S: Store>(store: &S, first: &str, second: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .active_cases()
        .await
        .expect("cases")
        .cases
        .into_iter()
        .map(|c| c.person_id)
        .filter(|id| id == first || id == second)
        .collect();
    ids.sort();
    ids
}

async fn paused_until<S: Store>(store: &S, volunteer: &str) -> Option<i64> {
    store
        .standings()
        .await
        .expect("standings")
        .into_iter()
        .find(|s| s.person_id == volunteer)
        .and_then(|s| s.paused_until)
}

/// Issue 23, part 3: every organizer link is bound to the state its digest
/// showed. Rosa twice (to merge) and Vic at his cap of 1 (to pause): the
/// merge is undone by reopening the request it closed, and the pause by
/// `cases pause --days 0`; pressing either button again is refused with
/// when it changed, and changes nothing.
async fn replayed_merge_and_pause_links_change_nothing<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let (first, second) = rosa_twice(&store).await;
    let (rita, vic) = seed(&store).await;
    let rita_case = store.cases_of(&rita).await.expect("cases")[0].id.clone();
    mutualaid_handler::cases::act(
        &store,
        &rita_case,
        None,
        mutualaid_handler::cases::Act::Confirm {
            volunteer: vic.clone(),
        },
        NOON - 100,
        1,
        mutualaid_handler::store::Actor::Cli,
    )
    .await
    .expect("store")
    .expect("Vic takes Rita's request: at his cap of 1");
    let cfg = digest_config(&keys, mutualaid_forms::Lang::EN, 1);
    let html = digest_html(&store, &cfg, NOON, dir.path()).await;
    let app = router(&store, &keys, 1, at_noon_next_day);
    let both = rosas_waiting(&store, &first, &second).await;
    assert_eq!(both.len(), 2);

    let merge_page = get(&app, &link(&html, "merge")).await;
    assert_eq!(press(&app, &merge_page.body).await.status, StatusCode::OK);
    assert_eq!(
        rosas_waiting(&store, &first, &second).await.len(),
        1,
        "merged"
    );
    // Undone: the request the merge closed is reopened.
    let closed = store
        .cases_of(&first)
        .await
        .expect("cases")
        .into_iter()
        .chain(store.cases_of(&second).await.expect("cases"))
        .find(|c| !c.state.is_active())
        .expect("the case the merge closed");
    mutualaid_handler::cases::act(
        &store,
        &closed.id,
        None,
        mutualaid_handler::cases::Act::Reopen,
        NOON + 3_600,
        1,
        mutualaid_handler::store::Actor::Cli,
    )
    .await
    .expect("store")
    .expect("reopened");
    assert_eq!(rosas_waiting(&store, &first, &second).await, both);
    let replay = press(&app, &merge_page.body).await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);
    assert!(
        replay
            .body
            .contains("This changed since the digest was sent"),
        "{}",
        replay.body
    );
    assert_eq!(
        rosas_waiting(&store, &first, &second).await,
        both,
        "merged again by nothing"
    );

    let pause_page = get(&app, &link(&html, "pause")).await;
    assert_eq!(press(&app, &pause_page.body).await.status, StatusCode::OK);
    assert!(paused_until(&store, &vic).await.is_some());
    mutualaid_handler::cases::pause(
        &store,
        &vic,
        0,
        NOON + 7_200,
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("store")
    .expect("unpaused");
    let replay = press(&app, &pause_page.body).await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);
    assert!(
        replay
            .body
            .contains("This changed since the digest was sent")
    );
    assert_eq!(
        paused_until(&store, &vic).await,
        None,
        "paused again by nothing"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    replayed_merge_and_pause_links_change_nothing =>
        sqlite_replayed_merge_and_pause_links_change_nothing,
        dynamodb_replayed_merge_and_pause_links_change_nothing
);

/// The link in `html` for `action` on record `detail` (`d=` in its query).
fn link_about(html: &str, action: &str, detail: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    doc.select(&crate::sel("a"))
        .filter_map(|a| a.value().attr("href"))
        .find(|h| h.contains(&format!("a={action}&")) && h.contains(&format!("d={detail}&")))
        .unwrap_or_else(|| panic!("a {action} link about {detail} in {html}"))
        .trim_start_matches("https://mutualaid.example.org")
        .to_owned()
}

/// The digest's text part, as `digest_html` sent it last into `dir`.
fn last_text(dir: &std::path::Path) -> String {
    let raw = mutualaid_tests::latest_message(dir);
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME");
    message.body_text(0).expect("text part").into_owned()
}

async fn sign_up<S: Store>(store: &S, s: mutualaid_forms::Signup, at: i64) -> String {
    domain::accept(store, Submission::Signup(s), at, KEEP)
        .await
        .expect("accepted")
        .person_id
}

/// Issue 23, part 1: "María García" then "Maria Garcia" on one email, and
/// "Ana Peña" then "Ana Pena" on one phone, are four records; each second
/// one is asked about at the top of the digest ("maybe the same person …:
/// the names differ only in accents", Merge and Two people) and its request
/// is not suggested for pairing until an organizer answers. "Two people"
/// lets Maria be paired; "Merge" carries Ana Pena's request on as Ana
/// Peña's. A replayed answer changes nothing.
async fn maybe_the_same_person_is_asked_first_and_not_paired_until_answered<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let day = 86_400;
    let email = Some("garcia@example.org");
    let phone = Some("+16195550177");
    let maria = sign_up(
        &store,
        person("María García", email, None, "92004", &["delivery"]),
        NOON - 2 * day,
    )
    .await;
    let plain = sign_up(
        &store,
        person("Maria Garcia", email, None, "92004", &["delivery"]),
        NOON - day,
    )
    .await;
    let pena = sign_up(
        &store,
        person("Ana Peña", None, phone, "92004", &["delivery"]),
        NOON - 900,
    )
    .await;
    let pena2 = sign_up(
        &store,
        person("Ana Pena", None, phone, "92004", &["delivery"]),
        NOON - 800,
    )
    .await;
    for (who, at) in [("Vic Helper", 700), ("Val Helper", 600)] {
        let email = format!("{}@example.org", who.split(' ').next().expect("a name"));
        sign_up(
            &store,
            person(who, Some(&email), None, "92004", &["shopper"]),
            NOON - at,
        )
        .await;
    }
    assert_eq!(
        [&maria, &plain, &pena, &pena2]
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        4,
        "four records"
    );
    let cfg = digest_config(&keys, mutualaid_forms::Lang::EN, 3);
    let html = digest_html(&store, &cfg, NOON, dir.path()).await;
    let text = last_text(dir.path());
    let asked = crate::cases::section(&text, "Maybe the same person (2)");
    assert!(
        asked.contains("Maria Garcia (92004 ")
            && asked.contains("maybe the same person as María García (92004 ")
            && asked.contains("the names differ only in accents"),
        "{text}"
    );
    assert!(
        asked.contains("Ana Pena (92004 ") && asked.contains("as Ana Peña (92004 "),
        "{asked}"
    );
    assert!(
        text.find("Maybe the same person").expect("asked")
            < text.find("Still waiting").expect("waiting"),
        "asked at the top: {text}"
    );
    let suggested = crate::cases::section(&text, "Suggested today");
    assert!(
        suggested.contains("María García (") && suggested.contains("Ana Peña ("),
        "{suggested}"
    );
    assert!(
        !suggested.contains("Maria Garcia (") && !suggested.contains("Ana Pena ("),
        "the records asked about are not paired: {suggested}"
    );

    let app = router(&store, &keys, 3, at_noon_next_day);
    let two = get(&app, &link_about(&html, "two_people", &plain)).await;
    assert_eq!(two.status, StatusCode::OK, "{}", two.body);
    assert!(
        two.body
            .contains("Maria Garcia and María García are two people"),
        "{}",
        two.body
    );
    assert_eq!(press(&app, &two.body).await.status, StatusCode::OK);
    let merge = get(&app, &link_about(&html, "merge", &pena2)).await;
    assert_eq!(press(&app, &merge.body).await.status, StatusCode::OK);
    let replay = press(&app, &two.body).await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);

    let next = digest_html(&store, &cfg, NOON + day, dir.path()).await;
    let text = last_text(dir.path());
    assert!(!text.contains("Maybe the same person"), "answered: {text}");
    assert!(
        text.contains("said Maria Garcia and María García are two people"),
        "{text}"
    );
    let suggested = crate::cases::section(&text, "Suggested today");
    assert!(
        suggested.contains("Maria Garcia ("),
        "paired now: {suggested}"
    );
    assert!(!suggested.contains("Ana Pena ("), "merged: {suggested}");
    let waiting: Vec<String> = store
        .active_cases()
        .await
        .expect("cases")
        .cases
        .into_iter()
        .map(|c| c.person_id)
        .collect();
    assert!(
        waiting.contains(&pena) && !waiting.contains(&pena2),
        "{waiting:?}"
    );
    assert!(next.contains("merged the record of"), "{next}");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    maybe_the_same_person_is_asked_first_and_not_paired_until_answered =>
        sqlite_maybe_the_same_person_is_asked_first_and_not_paired_until_answered,
        dynamodb_maybe_the_same_person_is_asked_first_and_not_paired_until_answered
);

/// A question nobody can answer never holds a request back: Rosa Díaz,
/// then Rosa Diaz on her phone, and the first is deleted at her request;
/// the next digest asks nothing, and Rosa Diaz is paired.
async fn a_question_about_a_deleted_record_holds_nothing_back<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let day = 86_400;
    let phone = Some("+16195550199");
    let first = sign_up(
        &store,
        person("Rosa Díaz", None, phone, "92004", &["delivery"]),
        NOON - 2 * day,
    )
    .await;
    sign_up(
        &store,
        person(
            "Rosa Diaz",
            Some("rosa.d@example.org"),
            phone,
            "92004",
            &["delivery"],
        ),
        NOON - day,
    )
    .await;
    sign_up(
        &store,
        person(
            "Vic Helper",
            Some("vic.h@example.org"),
            None,
            "92004",
            &["shopper"],
        ),
        NOON - 600,
    )
    .await;
    mutualaid_handler::erase::erase(&store, &first, NOON - 300, NOON + 30 * day)
        .await
        .expect("erased");
    let cfg = digest_config(&keys, mutualaid_forms::Lang::EN, 3);
    digest_html(&store, &cfg, NOON, dir.path()).await;
    let text = last_text(dir.path());
    assert!(!text.contains("Maybe the same person"), "{text}");
    assert!(
        crate::cases::section(&text, "Suggested today").contains("Rosa Diaz ("),
        "{text}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_question_about_a_deleted_record_holds_nothing_back =>
        sqlite_a_question_about_a_deleted_record_holds_nothing_back,
        dynamodb_a_question_about_a_deleted_record_holds_nothing_back
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_organizers_press_confirm_for_one_case_at_once_and_one_wins() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    seed(&store).await;
    domain::accept(
        &store,
        Submission::Signup(person(
            "Wes Helper",
            Some("wes@example.org"),
            None,
            "92004",
            &["shopper"],
        )),
        NOON - 400,
        KEEP,
    )
    .await
    .expect("wes");
    let html = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 3),
        NOON,
        &dir.path().join("outbox"),
    )
    .await;
    let app = router(&store, &keys, 3, at_noon_next_day);
    let page = get(&app, &link(&html, "confirm")).await;
    let (a, b) = tokio::join!(press(&app, &page.body), press(&app, &page.body));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_submit_lambda_on_dynamodb_with_the_keys_in_secrets_manager() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "links").await;
    let (secret, keys) = aws::link_keys_secret(&endpoint, &table).await;
    let (rita, vic) = seed(&store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let html = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 3),
        NOON,
        dir.path(),
    )
    .await;
    let confirm = link(&html, "confirm");

    aws::edge_secret(&endpoint).await;
    let emulator = lambda::start().await;
    let env = crate::aws::submit_env(&emulator.address, &table);
    let env = lambda::with_env(env, "LINK_KEYS_SECRET", &secret);
    let mut child = crate::aws::start_submit(env);
    let (_, page) = emulator.invoke(opening(&confirm)).await;
    assert_eq!(page["statusCode"], 200, "{page}");
    let page = page["body"].as_str().expect("a page").to_owned();
    assert!(page.contains("Offer the request of Rita Lopez to Vic Helper"));
    assert_eq!(
        store.cases_of(&rita).await.expect("cases")[0].state,
        CaseState::Open
    );

    let body = button_body(&page);
    let post = lambda::http_event(
        false,
        "/api/case",
        "application/x-www-form-urlencoded",
        &body,
        "203.0.113.5",
    );
    let (_, done) = emulator.invoke(post.clone()).await;
    assert_eq!(done["statusCode"], 200, "{done}");
    let case = &store.cases_of(&rita).await.expect("cases")[0];
    assert_eq!(
        (case.state, case.volunteer_id.as_deref()),
        (CaseState::Offered, Some(vic.as_str()))
    );
    let (_, replay) = emulator.invoke(post).await;
    assert_eq!(replay["statusCode"], 409, "{replay}");

    let altered = opening(&confirm.replace("a=confirm", "a=decline"));
    let (_, refused) = emulator.invoke(altered).await;
    assert_eq!(refused["statusCode"], 403, "{refused}");

    // One person twice, merged from the next digest's link.
    let (first, second) = rosa_twice(&store).await;
    let html = digest_html(
        &store,
        &digest_config(&keys, mutualaid_forms::Lang::EN, 3),
        NOON + 86_400,
        dir.path(),
    )
    .await;
    let merge = link(&html, "merge");
    let (_, page) = emulator.invoke(opening(&merge)).await;
    assert_eq!(page["statusCode"], 200, "{page}");
    let page = page["body"].as_str().expect("a page").to_owned();
    let post = lambda::http_event(
        false,
        "/api/case",
        "application/x-www-form-urlencoded",
        &button_body(&page),
        "203.0.113.5",
    );
    let (_, done) = emulator.invoke(post).await;
    assert_eq!(done["statusCode"], 200, "{done}");
    let mut theirs = store.cases_of(&first).await.expect("cases");
    theirs.extend(store.cases_of(&second).await.expect("cases"));
    let active: Vec<_> = theirs.iter().filter(|c| c.state.is_active()).collect();
    assert_eq!(active.len(), 1, "{theirs:?}");
    assert_eq!(active[0].opened_at, NOON - 3 * 86_400);
    let _ = child.kill();
    let _ = child.wait();
}
