//! Issue 27: the pairing reaches the people. An organizer's confirmation
//! offers the case to the volunteer (by email only to a verified address,
//! naming no one); a yes introduces both sides, each in their language,
//! with the other's confirmed contacts; "not this time" or no answer puts
//! the case back; a check-in closes it. Every step through the outbox and
//! the people's own pages, on both stores.

use std::sync::Arc;

use axum::http::StatusCode;
use mail_parser::MessageParser;
use mutualaid_handler::cases::{self, Act, Refusal};
use mutualaid_handler::domain::{self, Retention};
use mutualaid_handler::mail::Outbox;
use mutualaid_handler::outbox::{self, Letters};
use mutualaid_handler::store::message::{MessageKind, MessageState};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{ActionKind, Actor, CaseKind, CaseState, CloseReason, Submission};
use mutualaid_site::Site;

use crate::own_page::{answer_button, app, button, get, press, token_of};

/// Thursday 26 November 2026, noon in San Diego.
const NOON: i64 = 1_795_723_200;
const KEEP: Retention = Retention { days: 365 };
/// When the organizer confirms.
const CONFIRMED: i64 = NOON + 3_600;
/// When the offer email goes out (the mail service accepts it).
const OFFER_SENT: i64 = CONFIRMED + 10;

fn letters() -> Letters {
    let site = Site::load(&mutualaid_tests::real_content()).expect("the real content");
    Letters::new(Arc::new(site), None, 60).expect("letters")
}

/// Rosa asks for groceries, in Spanish (as in the receipts' tests), and
/// speaks Spanish.
fn rosa() -> mutualaid_forms::Signup {
    mutualaid_forms::Signup {
        languages: vec!["es".into()],
        ..crate::receipts::rosa()
    }
}

/// Sam shops, in English, and speaks English.
fn sam() -> mutualaid_forms::Signup {
    mutualaid_forms::Signup {
        languages: vec!["en".into()],
        ..crate::receipts::sam()
    }
}

/// Ana asks for groceries too, near Rosa.
fn ana() -> mutualaid_forms::Signup {
    mutualaid_tests::person(
        "Ana Lopez",
        Some("ana.l@example.org"),
        None,
        "92113",
        &["delivery"],
    )
}

/// Lena shops too, nearby.
fn lena() -> mutualaid_forms::Signup {
    mutualaid_forms::Signup {
        languages: vec!["en".into(), "es".into()],
        ..mutualaid_tests::person(
            "Lena Ortiz",
            Some("lena.o@example.org"),
            None,
            "92102",
            &["shopper"],
        )
    }
}

async fn sign_up<S: Store>(store: &S, signup: mutualaid_forms::Signup) -> String {
    domain::accept(store, Submission::Signup(signup), NOON, KEEP)
        .await
        .expect("accepted")
        .person_id
}

fn minute_after_noon() -> i64 {
    NOON + 60
}

/// "Yes, this is my email" on `id`'s own page, from the link of the
/// receipt still waiting.
async fn verify<S: Store + Clone>(store: &S, id: &str, name: &str) {
    let app = app(store, minute_after_noon);
    let token = token_of(store, id).await;
    let page = get(&app, &format!("/api/me?t={token}")).await;
    let done = press(&app, &button(&page.body, "verify"), &[("name", name)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// What a person reads.
struct Read {
    subject: String,
    text: String,
}

/// Every message the outbox folder holds for `id`, by kind, as read.
async fn mails_to<S: Store>(
    store: &S,
    dir: &std::path::Path,
    id: &str,
    kind: MessageKind,
) -> Vec<Read> {
    let mut out = Vec::new();
    for message in store.messages_of(id).await.expect("messages") {
        if message.kind != kind || !matches!(message.state, MessageState::Sent { .. }) {
            continue;
        }
        let raw = std::fs::read(dir.join(format!("{}.eml", message.id))).expect("the mail");
        let parsed = MessageParser::default().parse(&raw).expect("MIME");
        out.push(Read {
            subject: parsed.subject().unwrap_or_default().to_owned(),
            text: parsed.body_text(0).expect("text").into_owned(),
        });
    }
    out
}

/// The one mail of `kind` to `id`.
async fn the_mail<S: Store>(store: &S, dir: &std::path::Path, id: &str, kind: MessageKind) -> Read {
    let mut mails = mails_to(store, dir, id, kind).await;
    assert_eq!(mails.len(), 1, "one {kind:?} to {id}");
    mails.remove(0)
}

/// The own-page address a mail's text links to (its first one that names
/// a case), as a path.
fn case_page(text: &str) -> String {
    let at = text.find("/api/me?t=").expect("a link to the page");
    let url: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(url.contains("&case="), "{url}");
    url.split('#').next().unwrap_or_default().to_owned()
}

async fn deliver<S: Store>(store: &S, dir: &std::path::Path, at: i64) -> outbox::Delivery {
    let mailer = Outbox {
        dir: dir.to_owned(),
    };
    outbox::deliver_due(store, &mailer, &letters(), at)
        .await
        .expect("delivered")
}

async fn delivery_case<S: Store>(store: &S, person: &str) -> mutualaid_handler::store::Case {
    store
        .cases_of(person)
        .await
        .expect("cases")
        .into_iter()
        .filter(|c| c.kind == CaseKind::Delivery)
        .max_by_key(|c| c.version)
        .expect("a delivery case")
}

/// The volunteer's yes, recorded by `by` (on their page, or an organizer
/// who called them).
async fn accept<S: Store>(store: &S, case: &str, at: i64, by: Actor) -> cases::Acted {
    cases::act(store, case, None, Act::Accept, at, 3, by)
        .await
        .expect("acted")
}

async fn confirm<S: Store>(store: &S, case: &str, volunteer: &str, at: i64) -> cases::Acted {
    cases::act(
        store,
        case,
        None,
        Act::Confirm {
            volunteer: volunteer.to_owned(),
        },
        at,
        3,
        Actor::Cli,
    )
    .await
    .expect("acted")
}

fn after_offer() -> i64 {
    OFFER_SENT + 60
}

fn a_week_after_intro() -> i64 {
    OFFER_SENT + 120 + 7 * 86_400 + 60
}

fn two_days_after_the_second_offer() -> i64 {
    OFFER_SENT + 50 * 3_600 + 10 + 49 * 3_600
}

/// The cases' CSV of the English digest of `at`.
async fn cases_csv<S: Store>(store: &S, at: i64) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    crate::digest::english_digest(store, &mailer, at).await;
    let raw = mutualaid_tests::latest_message(dir.path());
    let message = MessageParser::default().parse(&raw).expect("MIME");
    let csv = message
        .attachments()
        .find(|a| {
            mail_parser::MimeHeaders::attachment_name(*a).is_some_and(|n| n.starts_with("cases-"))
        })
        .expect("the cases' CSV");
    String::from_utf8_lossy(csv.contents()).into_owned()
}

/// The digest of `at` tells an organizer to call Rosa with Sam's contact
/// (her introduction could not go by email).
async fn digest_says_to_call_rosa<S: Store>(store: &S, at: i64) {
    let digest = digest_lines(&crate::receipts::digest_text(store, at).await);
    assert!(
        digest.contains(
            "call Rosa Quintana to give them Sam Whitfield's contact (no email we can use)"
        ),
        "{digest}"
    );
}

fn digest_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

async fn the_offer_names_no_one_and_a_yes_introduces_both_in_their_languages<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let rosa_id = sign_up(&store, rosa()).await;
    let sam_id = sign_up(&store, sam()).await;
    verify(&store, &sam_id, "Sam Whitfield").await;
    verify(&store, &rosa_id, "Rosa Quintana").await;
    deliver(&store, dir.path(), NOON + 120).await;
    let case = delivery_case(&store, &rosa_id).await;

    let offered = confirm(&store, &case.id, &sam_id, CONFIRMED)
        .await
        .expect("offered");
    assert_eq!(offered.state, CaseState::Offered);
    assert_eq!(offered.volunteer_id.as_deref(), Some(sam_id.as_str()));
    // An offer weighs in Sam's load as a match does.
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 1);

    let done = deliver(&store, dir.path(), OFFER_SENT).await;
    assert_eq!(done.sent, 1, "{done:?}");
    let offer = the_mail(&store, dir.path(), &sam_id, MessageKind::Offer).await;
    assert_eq!(
        offer.subject,
        "San Diego Mutual Aid: can you shop for a neighbor?"
    );
    for said in [
        "A neighbor near you needs groceries",
        "Household: 4 people.",
        "Languages they speak: Spanish (Español).",
        "Waiting since November 26, 2026.",
        "Yes, I can shop for them: https://mutualaid.example.org/api/me?t=",
        "Not this time: https://mutualaid.example.org/api/me?t=",
        "If we don't hear from you within 48 hours, we ask someone else",
    ] {
        assert!(offer.text.contains(said), "{said:?} in:\n{}", offer.text);
    }
    // No name, no note, no contact yet.
    for detail in [
        "Rosa",
        "Quintana",
        "rosa.q",
        "6195550142",
        "Diabetic",
        "no sugar",
    ] {
        assert!(
            !offer.text.contains(detail),
            "the offer shows {detail:?}:\n{}",
            offer.text
        );
    }

    // Sam opens his page from the offer: one box, two buttons, no name.
    let app = app(&store, after_offer);
    let page = get(&app, &case_page(&offer.text)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Can you shop for a neighbor?"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Not this time"));
    assert!(page.body.contains("Household: 4 people."), "{}", page.body);
    for detail in ["Rosa", "Quintana", "rosa.q", "6195550142", "Diabetic"] {
        assert!(!page.body.contains(detail), "the page shows {detail:?}");
    }
    let yes = answer_button(&page.body, "yes");
    let said = press(&app, &yes, &[]).await;
    assert_eq!(said.status, StatusCode::OK, "{}", said.body);
    assert!(said.body.contains("Thank you!"), "{}", said.body);
    // A replay, once it moved on: refused, nothing changes.
    let again = press(&app, &yes, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body.contains("This changed on November 26, 2026"),
        "what changed and when: {}",
        again.body
    );

    let matched = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(matched.state, CaseState::Matched);
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 1);
    let intro = matched.introduced.expect("introduced");
    assert!(intro.requester_by_email && intro.volunteer_by_email);

    deliver(&store, dir.path(), OFFER_SENT + 120).await;
    // Sam, in English: who, how to reach her, where, her words.
    let to_sam = the_mail(&store, dir.path(), &sam_id, MessageKind::Introduction).await;
    for said in [
        "You are shopping for Rosa Quintana.",
        "phone +16195550142",
        "email rosa.q@example.org",
        "Household: 4 people.",
        "Languages they speak: Spanish (Español).",
        "What they wrote: Diabetic, no sugar please",
        "They will transfer you the money for the groceries.",
        "Can't connect?",
    ] {
        assert!(to_sam.text.contains(said), "{said:?} in:\n{}", to_sam.text);
    }
    // Rosa, in Spanish: Sam's first name and contact, his languages, paying him.
    let to_rosa = the_mail(&store, dir.path(), &rosa_id, MessageKind::Introduction).await;
    assert_eq!(
        to_rosa.subject,
        "Ayuda Mutua de San Diego: novedades de su inscripción"
    );
    for said in [
        "Sam es una persona voluntaria cerca de usted y hará sus compras.",
        "teléfono +16195550177",
        "correo sam.w@example.org",
        "Idiomas que habla: Inglés (English).",
        "Tendrá que transferirle el dinero para pagar las compras.",
        "¿No logran comunicarse?",
    ] {
        assert!(
            to_rosa.text.contains(said),
            "{said:?} in:\n{}",
            to_rosa.text
        );
    }
    assert!(!to_rosa.text.contains("Whitfield"), "first name only");

    // Every step recorded, with who took it.
    let actions = store.actions_since(0).await.expect("actions");
    let steps: Vec<(ActionKind, Actor, &str)> = actions
        .iter()
        .filter(|a| a.case_id.as_deref() == Some(case.id.as_str()))
        .map(|a| (a.kind, a.by, a.detail.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (ActionKind::Confirm, Actor::Cli, ""),
            (
                ActionKind::Accept,
                Actor::Person,
                "requester:email volunteer:email"
            ),
        ]
    );
    let mut csv = Vec::new();
    mutualaid_handler::export::table(
        &store,
        mutualaid_handler::export::Table::Actions,
        i64::MIN,
        &mut csv,
    )
    .await
    .expect("export");
    let csv = String::from_utf8_lossy(&csv);
    assert!(
        csv.contains("\"accept\",\""),
        "the export lists the yes:\n{csv}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    the_offer_names_no_one_and_a_yes_introduces_both_in_their_languages
        => sqlite_the_offer_names_no_one_and_a_yes_introduces_both_in_their_languages,
        dynamodb_the_offer_names_no_one_and_a_yes_introduces_both_in_their_languages
);

async fn unverified_and_phone_only_sides_are_calls_and_an_organizer_records_the_answer<
    S: Store + Clone,
>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    // Rosa verified; Sam never pressed "Yes, this is my email"; Pat has a phone only.
    let rosa_id = sign_up(&store, rosa()).await;
    let sam_id = sign_up(&store, sam()).await;
    verify(&store, &rosa_id, "Rosa Quintana").await;
    deliver(&store, dir.path(), NOON + 120).await;
    let case = delivery_case(&store, &rosa_id).await;
    confirm(&store, &case.id, &sam_id, CONFIRMED)
        .await
        .expect("offered");
    let offered = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(offered.offer.as_ref().and_then(|o| o.message.clone()), None);
    deliver(&store, dir.path(), OFFER_SENT).await;
    assert!(
        mails_to(&store, dir.path(), &sam_id, MessageKind::Offer)
            .await
            .is_empty()
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 60).await);
    assert!(
        digest.contains("call Sam Whitfield to offer it (no email we can use)"),
        "{digest}"
    );
    assert!(
        digest.contains(&format!("mutualaid cases accept {}", case.id)),
        "{digest}"
    );
    // And in the cases' CSV, with its volunteer (past the digest's 20 lines,
    // the CSV is where every offer is).
    let csv = cases_csv(&store, OFFER_SENT + 120).await;
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("\"{}\"", case.id)))
        .unwrap_or_else(|| panic!("the offer's row: {csv}"));
    assert!(
        row.contains("\"offered\"") && row.contains("Sam Whitfield"),
        "{row}"
    );
    // Such an offer never runs out: still waiting after offer_hours.
    deliver(&store, dir.path(), OFFER_SENT + 49 * 3_600).await;
    let still = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(still.state, CaseState::Offered);

    // The organizer called; Sam said yes (`mutualaid cases accept`).
    let accepted = accept(&store, &case.id, OFFER_SENT + 50 * 3_600, Actor::Cli)
        .await
        .expect("accepted");
    assert_eq!(accepted.state, CaseState::Matched);
    deliver(&store, dir.path(), OFFER_SENT + 50 * 3_600 + 10).await;
    // Rosa is reachable by email: introduced; Sam is a call.
    assert_eq!(
        mails_to(&store, dir.path(), &rosa_id, MessageKind::Introduction)
            .await
            .len(),
        1
    );
    assert!(
        mails_to(&store, dir.path(), &sam_id, MessageKind::Introduction)
            .await
            .is_empty()
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 51 * 3_600).await);
    assert!(
        digest.contains(
            "call Sam Whitfield to give them Rosa Quintana's details (no email we can use)"
        ),
        "{digest}"
    );
    assert!(
        digest.contains("Sam W. said yes to shopping for Rosa Q."),
        "{digest}"
    );

    // A phone-only volunteer, and `mutualaid cases refuse`.
    let pat_id = sign_up(
        &store,
        mutualaid_tests::person(
            "Pat Moreno",
            None,
            Some("+16195550199"),
            "92113",
            &["shopper"],
        ),
    )
    .await;
    let ana_id = sign_up(&store, ana()).await;
    let ana_case = delivery_case(&store, &ana_id).await;
    confirm(&store, &ana_case.id, &pat_id, OFFER_SENT + 52 * 3_600)
        .await
        .expect("offered");
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 53 * 3_600).await);
    assert!(digest.contains("call Pat Moreno to offer it"), "{digest}");
    let refused = cases::act(
        &store,
        &ana_case.id,
        None,
        Act::Refuse { no_answer: false },
        OFFER_SENT + 54 * 3_600,
        3,
        Actor::Cli,
    )
    .await
    .expect("acted")
    .expect("refused");
    assert_eq!(refused.state, CaseState::Open);
    assert!(refused.declined.contains(&pat_id));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    unverified_and_phone_only_sides_are_calls_and_an_organizer_records_the_answer
        => sqlite_unverified_and_phone_only_sides_are_calls_and_an_organizer_records_the_answer,
        dynamodb_unverified_and_phone_only_sides_are_calls_and_an_organizer_records_the_answer
);

async fn not_this_time_waits_again_from_its_date_and_another_is_suggested<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let lena_id = sign_up(&store, lena()).await;
    let (_, sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), false).await;
    let offer = the_mail(&store, dir.path(), &sam_id, MessageKind::Offer).await;
    let app = app(&store, after_offer);
    let page = get(&app, &case_page(&offer.text)).await;
    let said = press(&app, &answer_button(&page.body, "not_this_time"), &[]).await;
    // The email's link, opened again: nothing to answer, and it says so.
    let again = get(&app, &case_page(&offer.text)).await;
    assert!(
        again
            .body
            .contains("This is no longer waiting for your answer."),
        "{}",
        again.body
    );
    assert!(!again.body.contains("value=\"yes\""));
    assert_eq!(said.status, StatusCode::OK, "{}", said.body);
    assert!(
        said.body.contains("We will ask someone else."),
        "{}",
        said.body
    );

    let waiting = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(waiting.state, CaseState::Open);
    assert_eq!(
        waiting.opened_at, case.opened_at,
        "waiting from its original date"
    );
    assert!(waiting.declined.contains(&sam_id));
    assert_eq!(
        cases::load(&store, &sam_id).await.expect("load"),
        0,
        "Sam's place freed"
    );

    let digest = digest_lines(&crate::receipts::digest_text(&store, after_offer() + 60).await);
    assert!(
        digest.contains("Sam W. said not this time for Rosa Q."),
        "{digest}"
    );
    let pairings = digest
        .split("Suggested today")
        .nth(1)
        .expect("the pairings")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(pairings.contains("Lena Ortiz"), "{pairings}");
    assert!(
        !pairings.contains("Sam Whitfield"),
        "that pair never again:\n{pairings}"
    );
    let _ = lena_id;
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    not_this_time_waits_again_from_its_date_and_another_is_suggested
        => sqlite_not_this_time_waits_again_from_its_date_and_another_is_suggested,
        dynamodb_not_this_time_waits_again_from_its_date_and_another_is_suggested
);

async fn no_answer_in_time_puts_it_back_and_two_in_a_row_pause_the_volunteer<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let ana_id = sign_up(&store, ana()).await;
    let (_, sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), false).await;
    // 48 hours from when the mail service accepted the offer: not a second before.
    deliver(&store, dir.path(), OFFER_SENT + 48 * 3_600 - 1).await;
    assert_eq!(
        store
            .case(&case.id)
            .await
            .expect("read")
            .expect("case")
            .state,
        CaseState::Offered
    );
    let done = deliver(&store, dir.path(), OFFER_SENT + 48 * 3_600).await;
    assert_eq!(done.timers, 1, "{done:?}");
    let back = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(back.state, CaseState::Open);
    assert_eq!(back.opened_at, case.opened_at);
    assert!(back.declined.contains(&sam_id));
    let actions = store.actions_since(0).await.expect("actions");
    let ran_out = actions
        .iter()
        .find(|a| a.kind == ActionKind::Refuse)
        .expect("recorded");
    assert_eq!(
        (ran_out.by, ran_out.detail.as_str()),
        (Actor::Store, "no_answer")
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 49 * 3_600).await);
    assert!(
        digest.contains("Sam W. did not answer the offer for Rosa Q. in time"),
        "{digest}"
    );

    // A second offer left unanswered: Sam is paused until he says he is back.
    let second_at = OFFER_SENT + 50 * 3_600;
    let ana_case = delivery_case(&store, &ana_id).await;
    confirm(&store, &ana_case.id, &sam_id, second_at)
        .await
        .expect("offered");
    deliver(&store, dir.path(), second_at + 10).await;
    deliver(&store, dir.path(), second_at + 10 + 48 * 3_600).await;
    let standing = cases::standing_of(&store, &sam_id)
        .await
        .expect("read")
        .expect("a standing");
    assert_eq!(standing.unanswered, 2);
    assert!(
        standing.paused_at(second_at + 100 * 86_400),
        "paused until he comes back"
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, second_at + 49 * 3_600).await);
    assert!(
        digest.contains("left two offers unanswered and is paused until they say"),
        "{digest}"
    );
    let pairings = digest.split("Suggested today").nth(1).unwrap_or_default();
    assert!(
        !pairings
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .contains("Sam Whitfield")
    );
    // His page says so, and "I'm back" ends it.
    let second_offer = mails_to(&store, dir.path(), &sam_id, MessageKind::Offer)
        .await
        .pop()
        .expect("the second offer");
    let app = app(&store, two_days_after_the_second_offer);
    let page = get(&app, &case_page(&second_offer.text)).await;
    assert!(
        page.body
            .contains("You are paused: two offers went unanswered."),
        "{}",
        page.body
    );
    let back = press(&app, &button(&page.body, "back"), &[]).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let standing = cases::standing_of(&store, &sam_id)
        .await
        .expect("read")
        .expect("standing");
    assert_eq!(standing.unanswered, 0);
    assert!(!standing.paused_at(second_at + 50 * 3_600));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    no_answer_in_time_puts_it_back_and_two_in_a_row_pause_the_volunteer
        => sqlite_no_answer_in_time_puts_it_back_and_two_in_a_row_pause_the_volunteer,
        dynamodb_no_answer_in_time_puts_it_back_and_two_in_a_row_pause_the_volunteer
);

/// Rosa and Sam, both verified, matched and introduced at `OFFER_SENT + 120`.
async fn introduced<S: Store + Clone>(
    store: &S,
    dir: &std::path::Path,
    rosa: mutualaid_forms::Signup,
) -> (String, String, String) {
    let (rosa_id, sam_id, case) = offered_to_sam(store, dir, rosa, true).await;
    accept(store, &case.id, OFFER_SENT + 60, Actor::Person)
        .await
        .expect("accepted");
    deliver(store, dir, OFFER_SENT + 120).await;
    (rosa_id, sam_id, case.id)
}

/// Rosa (`rosa`, verified if `rosa_verified`) and Sam (verified) signed
/// up at noon, their receipts sent, Rosa's request offered to Sam at
/// `CONFIRMED` (the offer email not sent yet).
async fn confirmed_to_sam<S: Store + Clone>(
    store: &S,
    dir: &std::path::Path,
    rosa: mutualaid_forms::Signup,
    rosa_verified: bool,
) -> (String, String, mutualaid_handler::store::Case) {
    let rosa_id = sign_up(store, rosa).await;
    let sam_id = sign_up(store, sam()).await;
    verify(store, &sam_id, "Sam Whitfield").await;
    if rosa_verified {
        verify(store, &rosa_id, "Rosa Quintana").await;
    }
    deliver(store, dir, NOON + 120).await;
    let case = delivery_case(store, &rosa_id).await;
    confirm(store, &case.id, &sam_id, CONFIRMED)
        .await
        .expect("offered");
    (rosa_id, sam_id, case)
}

/// [`confirmed_to_sam`], and the offer email sent at `OFFER_SENT`.
async fn offered_to_sam<S: Store + Clone>(
    store: &S,
    dir: &std::path::Path,
    rosa: mutualaid_forms::Signup,
    rosa_verified: bool,
) -> (String, String, mutualaid_handler::store::Case) {
    let offered = confirmed_to_sam(store, dir, rosa, rosa_verified).await;
    deliver(store, dir, OFFER_SENT).await;
    offered
}

async fn the_check_in_closes_it_as_done_or_puts_it_first_for_an_organizer<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, case_id) = introduced(&store, dir.path(), rosa()).await;
    // A check-in waiting for its day is not "waiting to be sent" in the digest.
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 86_400).await);
    assert!(
        digest.contains("- 0 messages to people waiting to be sent"),
        "{digest}"
    );
    // Not before seven days.
    deliver(&store, dir.path(), OFFER_SENT + 120 + 7 * 86_400 - 1).await;
    assert!(
        mails_to(&store, dir.path(), &rosa_id, MessageKind::CheckIn)
            .await
            .is_empty()
    );
    deliver(&store, dir.path(), OFFER_SENT + 120 + 7 * 86_400).await;
    let check_in = the_mail(&store, dir.path(), &rosa_id, MessageKind::CheckIn).await;
    assert_eq!(
        check_in.subject,
        "Ayuda Mutua de San Diego: una pregunta sobre su inscripción"
    );
    assert!(
        check_in.text.contains("¿Recibió sus compras?"),
        "{}",
        check_in.text
    );

    let app = app(&store, a_week_after_intro);
    let page = get(&app, &case_page(&check_in.text)).await;
    assert!(page.body.contains("¿Recibió sus compras?"), "{}", page.body);
    let not_yet = press(&app, &answer_button(&page.body, "not_yet"), &[]).await;
    assert_eq!(not_yet.status, StatusCode::OK, "{}", not_yet.body);
    assert!(not_yet.body.contains("Discord"), "{}", not_yet.body);
    let still = store.case(&case_id).await.expect("read").expect("case");
    assert_eq!(still.state, CaseState::Matched);
    // First in the next digest, for an organizer.
    let digest =
        digest_lines(&crate::receipts::digest_text(&store, a_week_after_intro() + 60).await);
    let first_section = digest
        .split("\n\n")
        .find(|s| s.contains("(1)") || s.contains("Asked for an organizer"))
        .unwrap_or_default();
    assert!(
        first_section.contains("Asked for an organizer (1)"),
        "{digest}"
    );
    let flagged_at = digest.find("Asked for an organizer").expect("flagged");
    for later in ["Still waiting", "Suggested pairings"] {
        if let Some(at) = digest.find(later) {
            assert!(flagged_at < at, "{later} comes after the flag:\n{digest}");
        }
    }
    assert!(
        digest.contains("Rosa Quintana said they have not got their groceries yet"),
        "{digest}"
    );

    // Then "Yes, thank you": closed as done, Sam's place freed, Sam thanked once.
    let page = get(&app, &case_page(&check_in.text)).await;
    let got_it = press(&app, &answer_button(&page.body, "got_it"), &[]).await;
    assert_eq!(got_it.status, StatusCode::OK, "{}", got_it.body);
    assert!(got_it.body.contains("https://discord"), "{}", got_it.body);
    let closed = store.case(&case_id).await.expect("read").expect("case");
    assert_eq!(closed.state, CaseState::Closed);
    assert_eq!(closed.closed.map(|(_, why)| why), Some(CloseReason::Done));
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 0);
    deliver(&store, dir.path(), a_week_after_intro() + 120).await;
    deliver(&store, dir.path(), a_week_after_intro() + 240).await;
    let thanks = the_mail(&store, dir.path(), &sam_id, MessageKind::ThankYou).await;
    assert_eq!(thanks.subject, "San Diego Mutual Aid: thank you");
    assert!(
        thanks.text.contains("told us they got their groceries"),
        "{}",
        thanks.text
    );
    assert!(!thanks.text.contains("Rosa"));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    the_check_in_closes_it_as_done_or_puts_it_first_for_an_organizer
        => sqlite_the_check_in_closes_it_as_done_or_puts_it_first_for_an_organizer,
        dynamodb_the_check_in_closes_it_as_done_or_puts_it_first_for_an_organizer
);

async fn a_funded_case_introduction_says_the_network_pays<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let rosa_id = sign_up(
        &store,
        mutualaid_forms::Signup {
            roles: vec![
                mutualaid_forms::Role::Delivery,
                mutualaid_forms::Role::Money,
            ],
            ..rosa()
        },
    )
    .await;
    let money = store
        .cases_of(&rosa_id)
        .await
        .expect("cases")
        .into_iter()
        .find(|c| c.kind == CaseKind::Funding)
        .expect("a money request");
    cases::act(
        &store,
        &money.id,
        None,
        Act::Fund,
        NOON + 100,
        3,
        Actor::Cli,
    )
    .await
    .expect("acted")
    .expect("funded");
    let sam_id = sign_up(&store, sam()).await;
    verify(&store, &sam_id, "Sam Whitfield").await;
    verify(&store, &rosa_id, "Rosa Quintana").await;
    deliver(&store, dir.path(), NOON + 120).await;
    let case = delivery_case(&store, &rosa_id).await;
    confirm(&store, &case.id, &sam_id, CONFIRMED)
        .await
        .expect("offered");
    accept(&store, &case.id, OFFER_SENT, Actor::Cli)
        .await
        .expect("accepted");
    deliver(&store, dir.path(), OFFER_SENT + 10).await;
    let to_rosa = the_mail(&store, dir.path(), &rosa_id, MessageKind::Introduction).await;
    assert!(
        to_rosa
            .text
            .contains("La red paga sus compras: un organizador le dirá cómo se organiza."),
        "{}",
        to_rosa.text
    );
    assert!(!to_rosa.text.contains("Tendrá que transferirle"));
    let to_sam = the_mail(&store, dir.path(), &sam_id, MessageKind::Introduction).await;
    assert!(
        to_sam.text.contains("The network pays for their groceries"),
        "{}",
        to_sam.text
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_funded_case_introduction_says_the_network_pays
        => sqlite_a_funded_case_introduction_says_the_network_pays,
        dynamodb_a_funded_case_introduction_says_the_network_pays
);

async fn a_volunteer_whose_number_is_one_never_holds_two_offers<S: Store + Clone>(store: S) {
    let rosa_id = sign_up(&store, rosa()).await;
    let ana_id = sign_up(&store, ana()).await;
    let sam_id = sign_up(
        &store,
        mutualaid_forms::Signup {
            households: Some(1),
            ..sam()
        },
    )
    .await;
    let (a, b) = (
        delivery_case(&store, &rosa_id).await,
        delivery_case(&store, &ana_id).await,
    );
    // Two organizers confirm two cases for Sam at the same moment.
    let (first, second) = tokio::join!(
        confirm(&store, &a.id, &sam_id, CONFIRMED),
        confirm(&store, &b.id, &sam_id, CONFIRMED)
    );
    let offered = [&first, &second].iter().filter(|r| r.is_ok()).count();
    assert_eq!(offered, 1, "{first:?} {second:?}");
    let refused = if first.is_err() { first } else { second };
    assert!(
        matches!(refused, Err(Refusal::AtCapacity { cap: 1, .. })),
        "{refused:?}"
    );
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 1);
    // An offer and a match weigh the same: once he said yes, still one.
    let held = if store.case(&a.id).await.expect("read").expect("a").state == CaseState::Offered {
        &a
    } else {
        &b
    };
    let other = if held.id == a.id { &b } else { &a };
    accept(&store, &held.id, CONFIRMED + 60, Actor::Cli)
        .await
        .expect("accepted");
    assert!(matches!(
        confirm(&store, &other.id, &sam_id, CONFIRMED + 120).await,
        Err(Refusal::AtCapacity { cap: 1, .. })
    ));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_volunteer_whose_number_is_one_never_holds_two_offers
        => sqlite_a_volunteer_whose_number_is_one_never_holds_two_offers,
        dynamodb_a_volunteer_whose_number_is_one_never_holds_two_offers
);

async fn a_contact_still_pending_never_appears_in_an_introduction<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), false).await;
    // Someone sends the form again with Rosa's name and email and a new phone.
    domain::accept(
        &store,
        Submission::Signup(mutualaid_forms::Signup {
            phone: Some("+16195550111".into()),
            ..rosa()
        }),
        OFFER_SENT + 30,
        KEEP,
    )
    .await
    .expect("accepted");
    let rosa_now = store.person(&rosa_id).await.expect("read").expect("Rosa");
    assert!(rosa_now.pending_contact.is_some(), "the new phone waits");
    accept(&store, &case.id, OFFER_SENT + 60, Actor::Cli)
        .await
        .expect("accepted");
    deliver(&store, dir.path(), OFFER_SENT + 120).await;
    let to_sam = the_mail(&store, dir.path(), &sam_id, MessageKind::Introduction).await;
    assert!(
        to_sam.text.contains("phone +16195550142"),
        "{}",
        to_sam.text
    );
    assert!(!to_sam.text.contains("6195550111"), "{}", to_sam.text);
    // Rosa never verified her email: a call, never an email.
    assert!(
        mails_to(&store, dir.path(), &rosa_id, MessageKind::Introduction)
            .await
            .is_empty()
    );
    digest_says_to_call_rosa(&store, OFFER_SENT + 180).await;
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_contact_still_pending_never_appears_in_an_introduction
        => sqlite_a_contact_still_pending_never_appears_in_an_introduction,
        dynamodb_a_contact_still_pending_never_appears_in_an_introduction
);

/// Erasing either side cancels what has not gone out.
async fn erasing_a_side_cancels_the_messages_about_the_case<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, _case) = confirmed_to_sam(&store, dir.path(), rosa(), false).await;
    // Rosa deletes her data before the offer goes out.
    let rosa_now = store.person(&rosa_id).await.expect("read").expect("Rosa");
    mutualaid_handler::erase::erase(&store, &rosa_id, CONFIRMED + 1, rosa_now.expires_at)
        .await
        .expect("erased");
    let done = deliver(&store, dir.path(), OFFER_SENT).await;
    assert_eq!(done.sent, 0, "{done:?}");
    assert!(
        mails_to(&store, dir.path(), &sam_id, MessageKind::Offer)
            .await
            .is_empty()
    );
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 0);

    // The other side: Ana and Lena matched, Lena deletes her data before
    // the introductions go out: Ana gets none, and her request waits again.
    let ana_id = sign_up(&store, ana()).await;
    let lena_id = sign_up(&store, lena()).await;
    verify(&store, &ana_id, "Ana Lopez").await;
    verify(&store, &lena_id, "Lena Ortiz").await;
    let ana_case = delivery_case(&store, &ana_id).await;
    mutualaid_tests::matched(&store, &ana_case.id, &lena_id, OFFER_SENT + 60, 3)
        .await
        .expect("matched");
    let lena_now = store.person(&lena_id).await.expect("read").expect("Lena");
    mutualaid_handler::erase::erase(&store, &lena_id, OFFER_SENT + 61, lena_now.expires_at)
        .await
        .expect("erased");
    deliver(&store, dir.path(), OFFER_SENT + 120).await;
    assert!(
        mails_to(&store, dir.path(), &ana_id, MessageKind::Introduction)
            .await
            .is_empty(),
        "no introduction to someone deleted"
    );
    let waiting = store.case(&ana_case.id).await.expect("read").expect("case");
    assert_eq!(waiting.state, CaseState::Open);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    erasing_a_side_cancels_the_messages_about_the_case
        => sqlite_erasing_a_side_cancels_the_messages_about_the_case,
        dynamodb_erasing_a_side_cancels_the_messages_about_the_case
);

async fn an_offer_that_cannot_be_delivered_is_a_call_and_never_runs_out<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let rosa_id = sign_up(&store, rosa()).await;
    let sam_id = sign_up(&store, sam()).await;
    verify(&store, &sam_id, "Sam Whitfield").await;
    let receipt = token_of(&store, &sam_id).await;
    deliver(&store, dir.path(), NOON + 120).await;
    let case = delivery_case(&store, &rosa_id).await;
    confirm(&store, &case.id, &sam_id, CONFIRMED)
        .await
        .expect("offered");
    // Before it goes out, Sam's mail app's Unsubscribe stops mail to him.
    let stopped = crate::own_page::one_click(&app(&store, minute_after_noon), &receipt).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    let done = deliver(&store, dir.path(), OFFER_SENT).await;
    assert_eq!((done.sent, done.withheld), (0, 1), "{done:?}");
    let offered = store.case(&case.id).await.expect("read").expect("case");
    assert!(
        offered.offer.as_ref().is_some_and(|o| o.undelivered),
        "{offered:?}"
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 60).await);
    assert!(
        digest.contains("the offer email to Sam Whitfield could not be delivered: call them"),
        "{digest}"
    );
    // No timer was started: still offered long after offer_hours.
    let done = deliver(&store, dir.path(), OFFER_SENT + 72 * 3_600).await;
    assert_eq!(done.timers, 0, "{done:?}");
    assert_eq!(
        store
            .case(&case.id)
            .await
            .expect("read")
            .expect("case")
            .state,
        CaseState::Offered
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_offer_that_cannot_be_delivered_is_a_call_and_never_runs_out
        => sqlite_an_offer_that_cannot_be_delivered_is_a_call_and_never_runs_out,
        dynamodb_an_offer_that_cannot_be_delivered_is_a_call_and_never_runs_out
);

async fn cant_connect_asks_an_organizer_or_puts_the_case_back<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, case_id) = introduced(&store, dir.path(), rosa()).await;
    let to_rosa = the_mail(&store, dir.path(), &rosa_id, MessageKind::Introduction).await;
    let to_sam = the_mail(&store, dir.path(), &sam_id, MessageKind::Introduction).await;
    let app = app(&store, a_week_after_intro);
    // Rosa's "Can't connect?": the match stays, an organizer is asked, first.
    let page = get(&app, &case_page(&to_rosa.text)).await;
    let asked = press(&app, &answer_button(&page.body, "cant_connect"), &[]).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(
        asked.body.contains("intervendrá un organizador"),
        "{}",
        asked.body
    );
    let case = store.case(&case_id).await.expect("read").expect("case");
    assert_eq!(case.state, CaseState::Matched);
    let digest =
        digest_lines(&crate::receipts::digest_text(&store, a_week_after_intro() + 60).await);
    assert!(
        digest.contains("Rosa Quintana pressed “Can't connect?” about Sam Whitfield"),
        "{digest}"
    );
    assert!(
        digest.find("Asked for an organizer (1)") < digest.find("Still waiting"),
        "first: {digest}"
    );
    assert!(
        digest.contains("Rosa Q. could not connect with Sam W."),
        "{digest}"
    );
    // Sam's "Can't connect?": the case waits again, not offered to him again.
    let page = get(&app, &case_page(&to_sam.text)).await;
    let back = press(&app, &answer_button(&page.body, "cant_connect"), &[]).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let case = store.case(&case_id).await.expect("read").expect("case");
    assert_eq!(case.state, CaseState::Open);
    assert!(case.declined.contains(&sam_id));
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 0);
    let actions: Vec<(ActionKind, Actor, String)> = store
        .actions_since(0)
        .await
        .expect("actions")
        .into_iter()
        .filter(|a| a.kind == ActionKind::CantConnect)
        .map(|a| (a.kind, a.by, a.detail))
        .collect();
    assert_eq!(
        actions,
        vec![
            (
                ActionKind::CantConnect,
                Actor::Person,
                "requester".to_owned()
            ),
            (
                ActionKind::CantConnect,
                Actor::Person,
                "volunteer".to_owned()
            ),
        ]
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    cant_connect_asks_an_organizer_or_puts_the_case_back
        => sqlite_cant_connect_asks_an_organizer_or_puts_the_case_back,
        dynamodb_cant_connect_asks_an_organizer_or_puts_the_case_back
);

/// An offer carried by a merge onto the kept record's case becomes a call:
/// its email answers the case it was sent about, which the merge closed.
async fn an_offer_carried_by_a_merge_is_a_call_never_a_lost_answer<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let rosa_id = sign_up(&store, rosa()).await;
    // Her daughter's form for her: the same phone, another name as written.
    let kept_id = sign_up(
        &store,
        mutualaid_forms::Signup {
            name: "Rosa Q.".into(),
            email: Some("daughter@example.org".into()),
            roles: vec![mutualaid_forms::Role::Money],
            ..rosa()
        },
    )
    .await;
    assert_ne!(rosa_id, kept_id);
    let sam_id = sign_up(&store, sam()).await;
    verify(&store, &sam_id, "Sam Whitfield").await;
    deliver(&store, dir.path(), NOON + 120).await;
    let case = delivery_case(&store, &rosa_id).await;
    confirm(&store, &case.id, &sam_id, CONFIRMED)
        .await
        .expect("offered by email");
    cases::merge(&store, &rosa_id, &kept_id, CONFIRMED + 5, Actor::Cli, None)
        .await
        .expect("read")
        .expect("merged");
    let carried = delivery_case(&store, &kept_id).await;
    assert_eq!(carried.state, CaseState::Offered);
    assert!(
        carried.offer.as_ref().is_some_and(|o| !o.by_email()),
        "{carried:?}"
    );
    let done = deliver(&store, dir.path(), OFFER_SENT).await;
    assert_eq!(
        done.sent, 0,
        "the offer about the closed case is not sent: {done:?}"
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 60).await);
    assert!(
        digest.contains("call Sam Whitfield to offer it"),
        "{digest}"
    );
    let matched = accept(&store, &carried.id, OFFER_SENT + 120, Actor::Cli)
        .await
        .expect("accepted");
    assert_eq!(matched.state, CaseState::Matched);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_offer_carried_by_a_merge_is_a_call_never_a_lost_answer
        => sqlite_an_offer_carried_by_a_merge_is_a_call_never_a_lost_answer,
        dynamodb_an_offer_carried_by_a_merge_is_a_call_never_a_lost_answer
);

/// Sam's yes and the offer's time running out, at the same moment: one of
/// the two, never both — matched with Sam (his place taken once) or
/// waiting again (his place free) — and Rosa's request is never lost.
async fn a_yes_and_the_time_running_out_at_once_give_one_answer<S: Store + Clone + 'static>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), false).await;
    let offer = the_mail(&store, dir.path(), &sam_id, MessageKind::Offer).await;
    let app = app(&store, at_the_answer_time);
    let page = get(&app, &case_page(&offer.text)).await;
    let yes = answer_button(&page.body, "yes");
    let runs_out = {
        let (store, dir) = (store.clone(), dir.path().to_owned());
        tokio::spawn(async move { deliver(&store, &dir, at_the_answer_time()).await })
    };
    let said = press(&app, &yes, &[]).await;
    let ran = runs_out.await.expect("the sender's run");
    let now = store.case(&case.id).await.expect("read").expect("case");
    let load = cases::load(&store, &sam_id).await.expect("load");
    match now.state {
        CaseState::Matched => {
            assert_eq!(said.status, StatusCode::OK, "{}", said.body);
            assert_eq!(load, 1);
            assert_eq!(ran.timers, 1, "the timer found it answered: {ran:?}");
        }
        CaseState::Open => {
            assert_eq!(said.status, StatusCode::CONFLICT, "{}", said.body);
            assert_eq!(load, 0);
            assert!(now.declined.contains(&sam_id));
        }
        other => panic!("{other:?}"),
    }
    let actions: Vec<ActionKind> = store
        .actions_since(0)
        .await
        .expect("actions")
        .into_iter()
        .filter(|a| a.case_id.as_deref() == Some(case.id.as_str()))
        .map(|a| a.kind)
        .filter(|k| matches!(k, ActionKind::Accept | ActionKind::Refuse))
        .collect();
    assert_eq!(actions.len(), 1, "one answer recorded: {actions:?}");
    assert_eq!(
        store
            .cases_of(&rosa_id)
            .await
            .expect("cases")
            .iter()
            .filter(|c| c.state.is_active())
            .count(),
        1,
        "her request is there, once"
    );
}

fn at_the_answer_time() -> i64 {
    OFFER_SENT + 48 * 3_600
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_yes_and_the_time_running_out_at_once_give_one_answer
        => sqlite_a_yes_and_the_time_running_out_at_once_give_one_answer,
        dynamodb_a_yes_and_the_time_running_out_at_once_give_one_answer
);

/// Sam says yes, then "Can't connect?" before the introductions go out;
/// Lena says yes next. Only the new match's introductions go out: none to
/// Sam (no longer a side of the case), one to Rosa naming Lena, one to
/// Lena — and a week later one check-in, the new match's.
async fn a_new_match_sends_only_its_own_introductions<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), true).await;
    let lena_id = sign_up(&store, lena()).await;
    verify(&store, &lena_id, "Lena Ortiz").await;
    accept(&store, &case.id, OFFER_SENT + 60, Actor::Person)
        .await
        .expect("Sam's yes");
    cases::act(
        &store,
        &case.id,
        None,
        Act::CantConnect { volunteer: true },
        OFFER_SENT + 70,
        3,
        Actor::Person,
    )
    .await
    .expect("acted")
    .expect("waiting again");
    confirm(&store, &case.id, &lena_id, OFFER_SENT + 80)
        .await
        .expect("offered to Lena");
    accept(&store, &case.id, OFFER_SENT + 90, Actor::Cli)
        .await
        .expect("Lena's yes, on the phone");
    deliver(&store, dir.path(), OFFER_SENT + 120).await;
    assert!(
        mails_to(&store, dir.path(), &sam_id, MessageKind::Introduction)
            .await
            .is_empty(),
        "Sam is no longer a side of the case"
    );
    let to_rosa = the_mail(&store, dir.path(), &rosa_id, MessageKind::Introduction).await;
    assert!(to_rosa.text.contains("Lena"), "{}", to_rosa.text);
    assert!(!to_rosa.text.contains("Sam"), "{}", to_rosa.text);
    let to_lena = the_mail(&store, dir.path(), &lena_id, MessageKind::Introduction).await;
    assert!(to_lena.text.contains("Rosa Quintana"), "{}", to_lena.text);
    deliver(&store, dir.path(), a_week_after_intro()).await;
    deliver(&store, dir.path(), a_week_after_intro() + 120).await;
    assert_eq!(
        mails_to(&store, dir.path(), &rosa_id, MessageKind::CheckIn)
            .await
            .len(),
        1,
        "one check-in, about Lena's match"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_new_match_sends_only_its_own_introductions
        => sqlite_a_new_match_sends_only_its_own_introductions,
        dynamodb_a_new_match_sends_only_its_own_introductions
);

/// A request closed while it asked for an organizer ("Not yet"), then
/// reopened: it waits like any other, not flagged, its old offer and
/// introductions gone.
async fn a_reopened_request_carries_nothing_of_the_match_it_closed<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_rosa_id, _sam_id, case_id) = introduced(&store, dir.path(), rosa()).await;
    let at = a_week_after_intro();
    for act in [
        Act::CheckIn { got_it: false },
        Act::Close(CloseReason::Organizer),
        Act::Reopen,
    ] {
        cases::act(&store, &case_id, None, act, at, 3, Actor::Cli)
            .await
            .expect("acted")
            .expect("done");
    }
    let case = store.case(&case_id).await.expect("read").expect("case");
    assert_eq!(case.state, CaseState::Open);
    assert!(
        case.flag.is_none() && case.introduced.is_none() && case.offer.is_none(),
        "{case:?}"
    );
    let digest = digest_lines(&crate::receipts::digest_text(&store, at + 60).await);
    assert!(!digest.contains("Asked for an organizer"), "{digest}");
    assert!(digest.contains("Rosa Quintana"), "{digest}");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_reopened_request_carries_nothing_of_the_match_it_closed
        => sqlite_a_reopened_request_carries_nothing_of_the_match_it_closed,
        dynamodb_a_reopened_request_carries_nothing_of_the_match_it_closed
);

/// Sam's record no longer decodes when his offer's time runs out: Rosa's
/// request still waits again, and Ana's receipt, due in the same run, goes
/// out — one damaged record never stops the sender.
async fn an_unreadable_volunteer_stops_no_other_message<S, F, Fut>(store: &S, damage: F)
where
    S: Store + Clone,
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tmp");
    let (_rosa_id, sam_id, case) = offered_to_sam(store, dir.path(), rosa(), false).await;
    let ana_id = sign_up(store, ana()).await;
    let anas = delivery_case(store, &ana_id).await;
    confirm(store, &anas.id, &sam_id, CONFIRMED + 60)
        .await
        .expect("offered to Sam too");
    damage(sam_id.clone()).await;
    // An organizer who called Sam records "not this time" all the same.
    let refused = cases::act(
        store,
        &anas.id,
        None,
        Act::Refuse { no_answer: false },
        CONFIRMED + 120,
        3,
        Actor::Cli,
    )
    .await
    .expect("the store answers")
    .expect("refused");
    assert_eq!(refused.state, CaseState::Open);
    let done = deliver(store, dir.path(), at_the_answer_time()).await;
    assert_eq!(done.timers, 1, "{done:?}");
    assert_eq!(
        mails_to(store, dir.path(), &ana_id, MessageKind::Receipt)
            .await
            .len(),
        1
    );
    let now = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(now.state, CaseState::Open, "waiting again: {now:?}");
    assert!(now.declined.contains(&sam_id));
    assert_eq!(cases::load(store, &sam_id).await.expect("load"), 0);
}

#[tokio::test]
async fn sqlite_an_unreadable_volunteer_stops_no_other_message() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    an_unreadable_volunteer_stops_no_other_message(&store, |id| async move {
        mutualaid_tests::stores::damage_sqlite_record(dir.path(), &id, "{\"not\": \"a record\"");
    })
    .await;
}

#[tokio::test]
async fn dynamodb_an_unreadable_volunteer_stops_no_other_message() {
    let Some(endpoint) = mutualaid_tests::aws::moto() else {
        return;
    };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "unreadable").await;
    an_unreadable_volunteer_stops_no_other_message(&store, |id| async move {
        let bad = aws_sdk_dynamodb::types::AttributeValue::S("not a record".into());
        mutualaid_tests::aws::damage_record(&table, &id, bad).await;
    })
    .await;
}

/// An introduction that will not reach its reader becomes a call in the
/// digest: Rosa pressed her mail app's Unsubscribe between Sam's yes and
/// the send (hers is withheld), and Sam's bounced after it went out.
async fn an_introduction_that_does_not_arrive_is_a_call<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), true).await;
    accept(&store, &case.id, OFFER_SENT + 60, Actor::Person)
        .await
        .expect("Sam's yes");
    let app = app(&store, after_offer);
    let stopped = crate::own_page::one_click(&app, &token_of(&store, &rosa_id).await).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    let done = deliver(&store, dir.path(), OFFER_SENT + 120).await;
    assert_eq!((done.sent, done.withheld), (1, 1), "{done:?}");
    assert!(
        mails_to(&store, dir.path(), &rosa_id, MessageKind::Introduction)
            .await
            .is_empty()
    );
    let to_sam = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .into_iter()
        .find(|m| m.kind == MessageKind::Introduction)
        .expect("Sam's introduction");
    assert!(matches!(to_sam.state, MessageState::Sent { .. }));
    assert!(
        outbox::bounced(
            &store,
            &to_sam.id,
            Some(&sam_id),
            "sam.w@example.org",
            OFFER_SENT + 600
        )
        .await
        .expect("bounce")
    );
    let now = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(now.state, CaseState::Matched, "the match stands");
    let digest = digest_lines(&crate::receipts::digest_text(&store, OFFER_SENT + 900).await);
    for call in [
        "call Rosa Quintana to give them Sam Whitfield's contact (no email we can use)",
        "call Sam Whitfield to give them Rosa Quintana's details (no email we can use)",
    ] {
        assert!(digest.contains(call), "{call}:\n{digest}");
    }
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_introduction_that_does_not_arrive_is_a_call
        => sqlite_an_introduction_that_does_not_arrive_is_a_call,
        dynamodb_an_introduction_that_does_not_arrive_is_a_call
);

/// Rosa's email changes (her new one confirmed, not yet verified) after
/// Sam's yes: the introduction written to her old address is not sent
/// there — it would tell a stranger she asked for groceries — and she is a
/// call instead.
async fn a_case_message_goes_only_to_the_email_the_record_has_now<S: Store + Clone>(store: S) {
    use mutualaid_handler::contacts::{Decision, decide};
    let dir = tempfile::tempdir().expect("tmp");
    let (rosa_id, _sam_id, case) = offered_to_sam(&store, dir.path(), rosa(), true).await;
    accept(&store, &case.id, OFFER_SENT + 60, Actor::Person)
        .await
        .expect("Sam's yes");
    domain::accept(
        &store,
        Submission::Signup(mutualaid_forms::Signup {
            email: Some("rosa.nueva@example.org".into()),
            ..rosa()
        }),
        OFFER_SENT + 70,
        KEEP,
    )
    .await
    .expect("accepted");
    decide(
        &store,
        &rosa_id,
        None,
        Decision::Confirm,
        Actor::Person,
        OFFER_SENT + 80,
    )
    .await
    .expect("confirmed");
    deliver(&store, dir.path(), OFFER_SENT + 120).await;
    assert!(
        mails_to(&store, dir.path(), &rosa_id, MessageKind::Introduction)
            .await
            .is_empty(),
        "nothing about her request to the old address"
    );
    digest_says_to_call_rosa(&store, OFFER_SENT + 180).await;
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_case_message_goes_only_to_the_email_the_record_has_now
        => sqlite_a_case_message_goes_only_to_the_email_the_record_has_now,
        dynamodb_a_case_message_goes_only_to_the_email_the_record_has_now
);

/// The mail service is down from the moment Sam is offered Rosa's request:
/// the offer is tried again with backoff, and once `offer_hours` have gone
/// by without the service taking it, it is a call in the digest, not an
/// offer by email that never starts its answer time.
async fn an_offer_the_mail_service_never_takes_becomes_a_call<S: Store + Clone>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_rosa_id, _sam_id, case) = confirmed_to_sam(&store, dir.path(), rosa(), false).await;
    let port = mutualaid_tests::caddy::free_port();
    let down =
        mutualaid_handler::mail::Smtp::from_url(&format!("smtp://127.0.0.1:{port}")).expect("url");
    let run = |at: i64| {
        let store = store.clone();
        let down = down.clone();
        async move {
            outbox::deliver_due(&store, &down, &letters(), at)
                .await
                .expect("run")
        }
    };
    assert_eq!(run(OFFER_SENT).await.retried, 1);
    let offered = store.case(&case.id).await.expect("read").expect("case");
    assert!(offered.offer.as_ref().is_some_and(|o| !o.undelivered));
    let late = run(CONFIRMED + 48 * 3_600).await;
    assert_eq!((late.retried, late.withheld), (0, 1), "{late:?}");
    let offered = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(offered.state, CaseState::Offered);
    assert!(
        offered.offer.as_ref().is_some_and(|o| o.undelivered),
        "{offered:?}"
    );
    let digest =
        digest_lines(&crate::receipts::digest_text(&store, CONFIRMED + 48 * 3_600 + 60).await);
    assert!(
        digest.contains("the offer email to Sam Whitfield could not be delivered: call them"),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_offer_the_mail_service_never_takes_becomes_a_call
        => sqlite_an_offer_the_mail_service_never_takes_becomes_a_call,
        dynamodb_an_offer_the_mail_service_never_takes_becomes_a_call
);

/// Sam was suggested, then paused on his own page; an organizer presses
/// the old suggestion's Confirm (or types `mutualaid cases confirm`): it is
/// refused, saying his standing moved, and Rosa's request still waits.
async fn a_paused_volunteer_is_never_offered_a_request<S: Store + Clone>(store: S) {
    let rosa_id = sign_up(&store, rosa()).await;
    let sam_id = sign_up(&store, sam()).await;
    cases::pause(&store, &sam_id, 14, NOON + 600, Actor::Person, None)
        .await
        .expect("the store answers")
        .expect("paused");
    let case = delivery_case(&store, &rosa_id).await;
    let refused = cases::act(
        &store,
        &case.id,
        None,
        Act::Confirm {
            volunteer: sam_id.clone(),
        },
        CONFIRMED,
        3,
        Actor::Cli,
    )
    .await
    .expect("the store answers");
    assert!(
        matches!(refused, Err(Refusal::StandingMoved { .. })),
        "{refused:?}"
    );
    let still = store.case(&case.id).await.expect("read").expect("case");
    assert_eq!(still.state, CaseState::Open);
    assert_eq!(cases::load(&store, &sam_id).await.expect("load"), 0);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_paused_volunteer_is_never_offered_a_request
        => sqlite_a_paused_volunteer_is_never_offered_a_request,
        dynamodb_a_paused_volunteer_is_never_offered_a_request
);
