//! People hear back: a sign-up that gives an email writes its receipt into
//! the store's outbox in the same plan, and the sender delivers it — in the
//! form's language, with a neutral subject, none of the answers and not
//! even the name — once, with the same `Message-ID` however often it is
//! tried, and never lost while the mail service is down. On both stores.

use std::path::Path;
use std::sync::Arc;

use mail_parser::MessageParser;
use mutualaid_forms::Lang;
use mutualaid_handler::domain::{self, Retention};
use mutualaid_handler::mail::{Mailer, Outbox};
use mutualaid_handler::outbox::{self, Delivery, Letters};
use mutualaid_handler::store::message::{Message, MessageKind, MessageState};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{Outcome, Submission};
use mutualaid_site::Site;

/// Thursday 26 November 2026, noon in San Diego.
const NOON: i64 = 1_795_723_200;
const KEEP: Retention = Retention { days: 365 };

fn letters() -> Letters {
    let site = Site::load(&mutualaid_tests::real_content()).expect("the real content");
    Letters::new(Arc::new(site), None, 60).expect("letters")
}

/// Rosa asks for groceries, in Spanish, with everything a form can say.
pub(crate) fn rosa() -> mutualaid_forms::Signup {
    mutualaid_forms::Signup {
        neighborhood: Some("Barrio Logan".into()),
        notes: Some("Diabetic, no sugar please".into()),
        household_size: Some(4),
        lang: Lang::ES,
        ..mutualaid_tests::person(
            "Rosa Quintana",
            Some("rosa.q@example.org"),
            Some("+16195550142"),
            "92113",
            &["delivery"],
        )
    }
}

/// Sam signs up to shop, in English.
pub(crate) fn sam() -> mutualaid_forms::Signup {
    mutualaid_tests::person(
        "Sam Whitfield",
        Some("sam.w@example.org"),
        Some("+16195550177"),
        "92104",
        &["shopper"],
    )
}

async fn sign_up<S: IntakeStore>(store: &S, signup: mutualaid_forms::Signup, at: i64) -> String {
    domain::accept(store, Submission::Signup(signup), at, KEEP)
        .await
        .expect("accepted")
        .person_id
}

/// The text of the English digest sent at `at`.
pub(crate) async fn digest_text<S: Store>(store: &S, at: i64) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    crate::digest::english_digest(store, &mailer, at).await;
    MessageParser::default()
        .parse(&mutualaid_tests::latest_message(dir.path()))
        .expect("MIME")
        .body_text(0)
        .expect("text")
        .into_owned()
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// What a person reads: subject, text part, HTML part, and the headers.
struct Read {
    subject: String,
    text: String,
    html: String,
    message_id: String,
    reply_to: String,
    raw: String,
}

fn read(raw: &[u8]) -> Read {
    let message = MessageParser::default().parse(raw).expect("MIME");
    Read {
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message.body_text(0).expect("a text part").into_owned(),
        html: message.body_html(0).expect("an HTML part").into_owned(),
        message_id: message.message_id().unwrap_or_default().to_owned(),
        reply_to: message
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        raw: String::from_utf8_lossy(raw).into_owned(),
    }
}

async fn sign_ups_get_one_receipt_each_in_their_language_with_no_answer<S: Store>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    let rosa_id = sign_up(&store, rosa(), NOON).await;
    let sam_id = sign_up(&store, sam(), NOON + 5).await;
    // Written with the sign-up, waiting, ids only.
    let waiting = store.messages_of(&rosa_id).await.expect("messages");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].kind, MessageKind::Receipt);
    assert_eq!(waiting[0].lang, Lang::ES);
    assert_eq!(waiting[0].to, "rosa.q@example.org");
    assert!(matches!(waiting[0].state, MessageState::Waiting { .. }));
    // Nobody phone-only gets one.
    let phone_only = sign_up(
        &store,
        mutualaid_tests::person(
            "Ada Lin",
            None,
            Some("+16195550123"),
            "92101",
            &["delivery"],
        ),
        NOON + 6,
    )
    .await;
    assert!(
        store
            .messages_of(&phone_only)
            .await
            .expect("messages")
            .is_empty()
    );

    let done = outbox::deliver_due(&store, &mailer, &letters(), NOON + 10)
        .await
        .expect("delivered");
    assert_eq!(
        done,
        Delivery {
            sent: 2,
            ..Delivery::default()
        }
    );
    let sent = files(dir.path());
    assert_eq!(sent.len(), 2);
    let rosa_message = store
        .messages_of(&rosa_id)
        .await
        .expect("messages")
        .remove(0);
    let sam_message = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .remove(0);
    assert!(matches!(
        rosa_message.state,
        MessageState::Sent { attempts: 1, .. }
    ));
    // Named by its id, and carrying it as its Message-ID.
    let rosa_mail = read(
        &std::fs::read(dir.path().join(format!("{}.eml", rosa_message.id)))
            .expect("Rosa's receipt"),
    );
    let sam_mail = read(
        &std::fs::read(dir.path().join(format!("{}.eml", sam_message.id))).expect("Sam's receipt"),
    );
    assert_eq!(
        rosa_mail.message_id,
        format!("{}@mutualaid.example.org", rosa_message.id)
    );

    // In the form's language, a neutral subject, where to turn today.
    assert_eq!(
        rosa_mail.subject,
        "Ayuda Mutua de San Diego: recibimos su inscripción"
    );
    assert_eq!(
        sam_mail.subject,
        "San Diego Mutual Aid: we got your sign-up"
    );
    assert!(
        rosa_mail
            .text
            .contains("Recibimos su inscripción el 26 de noviembre de 2026"),
        "{}",
        rosa_mail.text
    );
    assert!(
        sam_mail
            .text
            .contains("We got your sign-up on November 26, 2026"),
        "{}",
        sam_mail.text
    );
    assert!(sam_mail.text.contains("within 3 days"));
    assert!(rosa_mail.text.contains("2-1-1"));
    assert!(rosa_mail.text.contains("https://discord.gg/example"));
    assert!(
        rosa_mail
            .html
            .contains("href=\"https://discord.gg/example\"")
    );
    assert!(rosa_mail.html.contains("lang=\"es\""));
    assert_eq!(rosa_mail.reply_to, "mutualaid@example.org");
    // None of the answers, not even the name: the address is not verified.
    // (The raw message holds the address once, in `To`; nothing else of hers.)
    assert_eq!(rosa_mail.raw.matches("rosa.q@example.org").count(), 1);
    let rest = rosa_mail.raw.replace("rosa.q@example.org", "");
    for answer in [
        "Rosa",
        "Quintana",
        "6195550142",
        "92113",
        "Barrio Logan",
        "Diabetic",
        "sugar",
        "entrega",
    ] {
        assert!(
            !rest.to_lowercase().contains(&answer.to_lowercase()),
            "Rosa's receipt repeats {answer:?}"
        );
    }
    for answer in ["Sam", "Whitfield", "6195550177", "92104", "shop"] {
        assert!(
            !sam_mail.text.contains(answer),
            "Sam's receipt repeats {answer:?}"
        );
        assert!(!sam_mail.subject.contains(answer));
    }

    // Delivered once: a second run has nothing to send.
    let again = outbox::deliver_due(&store, &mailer, &letters(), NOON + 60)
        .await
        .expect("delivered");
    assert_eq!(again, Delivery::default());
    assert_eq!(files(dir.path()).len(), 2);

    // A change: "we got your change"; the same form again: nothing.
    let changed = mutualaid_forms::Signup {
        zip: "92102".into(),
        ..sam()
    };
    let update = domain::accept(
        &store,
        Submission::Signup(changed.clone()),
        NOON + 120,
        KEEP,
    )
    .await
    .expect("accepted");
    assert_eq!(update.outcome, Outcome::Updated);
    let unchanged = domain::accept(&store, Submission::Signup(changed), NOON + 180, KEEP)
        .await
        .expect("accepted");
    assert_eq!(unchanged.outcome, Outcome::Unchanged);
    let kinds: Vec<MessageKind> = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .iter()
        .map(|m| m.kind)
        .collect();
    assert_eq!(kinds, [MessageKind::Receipt, MessageKind::ChangeReceipt]);
    outbox::deliver_due(&store, &mailer, &letters(), NOON + 240)
        .await
        .expect("delivered");
    let change = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .remove(1);
    let change_mail = read(
        &std::fs::read(dir.path().join(format!("{}.eml", change.id))).expect("the change receipt"),
    );
    assert_eq!(
        change_mail.subject,
        "San Diego Mutual Aid: we got your change"
    );
    assert!(!change_mail.text.contains("92102"));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    sign_ups_get_one_receipt_each_in_their_language_with_no_answer
        => sqlite_sign_ups_get_one_receipt_each_in_their_language_with_no_answer,
        dynamodb_sign_ups_get_one_receipt_each_in_their_language_with_no_answer
);

async fn one_address_gets_three_receipts_a_day_however_many_sign_up_at_once<S: Store>(store: S) {
    let store = Arc::new(store);
    // Four people name one address at the same moment (a stranger's, say).
    let names = ["Ann One", "Bo Two", "Cy Three", "Di Four"];
    let mut tasks = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let signup = mutualaid_tests::person(
                name,
                Some("someone@example.org"),
                None,
                "92101",
                &["delivery"],
            );
            sign_up(&*store, signup, NOON + i as i64).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    let mut receipts = 0;
    for id in &ids {
        receipts += store.messages_of(id).await.expect("messages").len();
        // Every sign-up is stored, receipt or not.
        assert!(store.person(id).await.expect("read").is_some());
    }
    assert_eq!(receipts, 3, "at most 3 receipts to one address in a day");
    // The next day, one more.
    let fifth = sign_up(
        &*store,
        mutualaid_tests::person(
            "Ed Five",
            Some("someone@example.org"),
            None,
            "92101",
            &["delivery"],
        ),
        NOON + 86_400 + 10,
    )
    .await;
    assert_eq!(store.messages_of(&fifth).await.expect("messages").len(), 1);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    one_address_gets_three_receipts_a_day_however_many_sign_up_at_once
        => sqlite_one_address_gets_three_receipts_a_day_however_many_sign_up_at_once,
        dynamodb_one_address_gets_three_receipts_a_day_however_many_sign_up_at_once
);

/// A mailer that hands the message on and then fails as a crash between
/// "accepted" and "recorded" would: the service has it, the store does not
/// know.
struct AcceptedThenLost<M>(M);

impl<M: Mailer> Mailer for AcceptedThenLost<M> {
    async fn send(
        &self,
        message: &lettre::Message,
    ) -> Result<(), mutualaid_handler::mail::MailError> {
        self.0.send(message).await?;
        Err(mutualaid_handler::mail::MailError::Smtp(
            "connection lost after the data".into(),
        ))
    }
}

async fn a_receipt_sent_again_after_a_crash_is_the_same_message<S: Store>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let outbox = Outbox {
        dir: dir.path().to_owned(),
    };
    let id = sign_up(&store, sam(), NOON).await;
    let first = outbox::deliver_due(&store, &AcceptedThenLost(outbox.clone()), &letters(), NOON)
        .await
        .expect("run");
    assert_eq!(first.retried, 1);
    let done = outbox::deliver_due(&store, &outbox, &letters(), NOON + 3_600)
        .await
        .expect("run");
    assert_eq!(done.sent, 1);
    // The repeat replaced itself: one file, named by the message's id.
    let message: Message = store.messages_of(&id).await.expect("messages").remove(0);
    assert_eq!(
        files(dir.path()),
        [dir.path().join(format!("{}.eml", message.id))]
    );
    assert!(matches!(
        message.state,
        MessageState::Sent { attempts: 2, .. }
    ));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_receipt_sent_again_after_a_crash_is_the_same_message
        => sqlite_a_receipt_sent_again_after_a_crash_is_the_same_message,
        dynamodb_a_receipt_sent_again_after_a_crash_is_the_same_message
);

async fn a_receipt_waits_while_smtp_is_down_and_goes_when_it_is_back<S: Store>(store: S) {
    let port = mutualaid_tests::caddy::free_port();
    let smtp =
        mutualaid_handler::mail::Smtp::from_url(&format!("smtp://127.0.0.1:{port}")).expect("url");
    let id = sign_up(&store, rosa(), NOON).await;
    // Down: tried, kept, tried again later (30 s, then 60 s, …).
    let down = outbox::deliver_due(&store, &smtp, &letters(), NOON)
        .await
        .expect("run");
    assert_eq!(
        down,
        Delivery {
            retried: 1,
            ..Delivery::default()
        }
    );
    let early = outbox::deliver_due(&store, &smtp, &letters(), NOON + 10)
        .await
        .expect("run");
    assert_eq!(early, Delivery::default(), "not before its backoff");
    let still = outbox::deliver_due(&store, &smtp, &letters(), NOON + 31)
        .await
        .expect("run");
    assert_eq!(still.retried, 1);
    // A digest made meanwhile counts it waiting.
    let meanwhile = digest_text(&store, NOON + 40).await;
    assert!(
        meanwhile.contains("1 message to a person waiting to be sent"),
        "{meanwhile}"
    );
    // Back a minute later, on the same port.
    let Some(server) = mutualaid_tests::smtp::Server::start_on(port) else {
        return;
    };
    let back = outbox::deliver_due(&store, &smtp, &letters(), NOON + 95)
        .await
        .expect("run");
    assert_eq!(
        back,
        Delivery {
            sent: 1,
            ..Delivery::default()
        }
    );
    let received = server.received();
    assert_eq!(received.len(), 1);
    let message = store.messages_of(&id).await.expect("messages").remove(0);
    assert!(matches!(
        message.state,
        MessageState::Sent { attempts: 3, .. }
    ));
    assert_eq!(
        read(&received[0]).message_id,
        format!("{}@mutualaid.example.org", message.id)
    );
    // The organizers see it in the next digest's self-report.
    let digest = digest_text(&store, NOON + 3_600).await;
    assert!(digest.contains("1 message sent to a person"), "{digest}");
    assert!(
        digest.contains("2 tries the mail service did not accept"),
        "{digest}"
    );
    assert!(
        digest.contains("0 messages to people waiting to be sent"),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_receipt_waits_while_smtp_is_down_and_goes_when_it_is_back
        => sqlite_a_receipt_waits_while_smtp_is_down_and_goes_when_it_is_back,
        dynamodb_a_receipt_waits_while_smtp_is_down_and_goes_when_it_is_back
);

async fn erasing_a_record_cancels_its_waiting_receipt<S: Store>(store: S) {
    let id = sign_up(&store, rosa(), NOON).await;
    assert_eq!(store.messages_of(&id).await.expect("messages").len(), 1);
    let action = mutualaid_handler::store::CaseAction::erasure(NOON + 1, NOON + 86_400 * 30);
    mutualaid_handler::erase::remove_record(&store, &id, &action)
        .await
        .expect("erased");
    assert!(store.messages_of(&id).await.expect("messages").is_empty());
    assert!(
        store
            .due_messages(NOON + 10, 50)
            .await
            .expect("due")
            .is_empty()
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    erasing_a_record_cancels_its_waiting_receipt
        => sqlite_erasing_a_record_cancels_its_waiting_receipt,
        dynamodb_erasing_a_record_cancels_its_waiting_receipt
);

/// `kill -9` of `serve` right after its 201: the receipt was written with
/// the sign-up, so the restarted server delivers it — once.
#[test]
fn a_receipt_is_delivered_once_after_serve_is_killed_right_after_its_201() {
    use mutualaid_tests::serve::serve_site;
    let site = mutualaid_tests::fixture_site();
    let dir = tempfile::tempdir().expect("tmp");
    let messages = dir.path().join("data/messages");
    let server = serve_site(site.path(), dir.path(), &[], std::process::Stdio::null());
    let (status, body, _) = mutualaid_tests::post(
        &format!("{}/api/signup", server.base),
        "application/json",
        r#"{"name":"Kim Ode","email":"kim@example.org","contact_method":"email","zip":"92105","roles":["delivery"],"consent":true}"#,
    );
    assert_eq!(status, 201, "{body}");
    drop(server); // SIGKILL, at once
    let server = serve_site(site.path(), dir.path(), &[], std::process::Stdio::null());
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while files(&messages).is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Past a few more sender rounds: still one.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let sent = files(&messages);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let mail = read(&std::fs::read(&sent[0]).expect("the receipt"));
    assert_eq!(mail.subject, "Fixture Network: we got your sign-up");
    assert!(!mail.raw.contains("Kim"));
    drop(server);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = mutualaid_handler::store::sqlite::SqliteStore::open(
        &dir.path().join("data/mutualaid.sqlite3"),
    )
    .expect("the store");
    let due = runtime
        .block_on(store.due_messages(i64::MAX / 2, 10))
        .expect("due");
    assert!(due.is_empty(), "nothing left waiting");
    let id = sent[0]
        .file_stem()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(mail.message_id, format!("{id}@fixture.example"));
}

/// The `List-Unsubscribe` a receipt carries, and its one-click POST: mail
/// to that address about that record stops; the page and the request stay;
/// the next digest says so.
async fn a_mail_apps_one_click_unsubscribe_stops_mail_and_keeps_the_request<S: Store + Clone>(
    store: S,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    let id = sign_up(&store, sam(), NOON).await;
    let token = store.messages_of(&id).await.expect("messages")[0]
        .link
        .clone()
        .expect("a link");
    outbox::deliver_due(&store, &mailer, &letters(), NOON + 1)
        .await
        .expect("sent");
    let sent = files(dir.path());
    let mail = read(&std::fs::read(&sent[0]).expect("the receipt"));
    let stop = format!("https://mutualaid.example.org/api/me/stop?t={token}");
    assert!(
        mail.raw.contains(&format!("List-Unsubscribe: <{stop}>")),
        "{}",
        mail.raw
    );
    assert!(
        mail.raw
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );

    let keys =
        mutualaid_handler::links::LinkKeys::parse(&mutualaid_handler::links::LinkKeys::generate())
            .expect("keys");
    let app = crate::case_links::router(&store, &keys, 3, crate::case_links::at_noon_next_day);
    // A scanner's GET changes nothing.
    let page = crate::case_links::get(&app, &format!("/api/me/stop?t={token}")).await;
    assert_eq!(page.status, 200);
    assert!(
        store
            .mail_stop(&id, "sam.w@example.org")
            .await
            .expect("read")
            .is_none()
    );
    // The mail app's one click (RFC 8058).
    let clicked = crate::own_page::one_click(&app, &token).await;
    assert_eq!(clicked.status, 200, "{}", clicked.body);
    assert!(
        store
            .mail_stop(&id, "sam.w@example.org")
            .await
            .expect("read")
            .is_some()
    );
    // His change the next day writes a receipt that is never sent.
    let changed = mutualaid_forms::Signup {
        zip: "92102".into(),
        ..sam()
    };
    domain::accept(&store, Submission::Signup(changed), NOON + 86_400, KEEP)
        .await
        .expect("accepted");
    let done = outbox::deliver_due(&store, &mailer, &letters(), NOON + 86_401)
        .await
        .expect("run");
    assert_eq!(
        done,
        Delivery {
            withheld: 1,
            ..Delivery::default()
        }
    );
    assert_eq!(files(dir.path()).len(), 1);
    // His page and his sign-up stay.
    assert!(store.person(&id).await.expect("read").is_some());
    let page = crate::case_links::get(&app, &format!("/api/me?t={token}")).await;
    assert_eq!(page.status, 200);
    // The organizers are told.
    let digest = digest_text(&store, NOON + 86_500).await;
    assert!(
        digest.contains("pressed Unsubscribe in their mail app"),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_mail_apps_one_click_unsubscribe_stops_mail_and_keeps_the_request
        => sqlite_a_mail_apps_one_click_unsubscribe_stops_mail_and_keeps_the_request,
        dynamodb_a_mail_apps_one_click_unsubscribe_stops_mail_and_keeps_the_request
);

/// A permanent 550 from a real SMTP server, and an SES bounce fed to its
/// handler: given up, mail to that address stopped, and listed for the
/// organizers to reach the person another way.
async fn an_address_refused_for_good_is_given_up_and_listed<S: Store>(store: S) {
    let Some(server) = mutualaid_tests::smtp::Server::start_refusing() else {
        return;
    };
    let smtp = mutualaid_handler::mail::Smtp::from_url(&server.url()).expect("url");
    let rosa_id = sign_up(&store, rosa(), NOON).await;
    let done = outbox::deliver_due(&store, &smtp, &letters(), NOON)
        .await
        .expect("run");
    assert_eq!(
        done,
        Delivery {
            given_up: 1,
            ..Delivery::default()
        }
    );
    let message = store
        .messages_of(&rosa_id)
        .await
        .expect("messages")
        .remove(0);
    assert!(matches!(message.state, MessageState::GivenUp { .. }));
    assert!(
        store
            .mail_stop(&rosa_id, "rosa.q@example.org")
            .await
            .expect("read")
            .is_some()
    );
    // Never tried again.
    let later = outbox::deliver_due(&store, &smtp, &letters(), NOON + 7_200)
        .await
        .expect("run");
    assert_eq!(later, Delivery::default());

    // SES: a bounce for a message that SES accepted.
    let sam_id = sign_up(&store, sam(), NOON + 10).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    outbox::deliver_due(&store, &mailer, &letters(), NOON + 11)
        .await
        .expect("sent");
    let sent = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .remove(0);
    assert!(matches!(sent.state, MessageState::Sent { .. }));
    assert!(
        outbox::bounced(&store, &sent.id, None, "Sam.W@example.org", NOON + 60)
            .await
            .expect("bounce")
    );
    let bounced = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .remove(0);
    assert!(matches!(bounced.state, MessageState::GivenUp { .. }));
    assert!(
        !outbox::bounced(
            &store,
            "no-such-message",
            None,
            "sam.w@example.org",
            NOON + 61
        )
        .await
        .expect("bounce")
    );

    let digest = digest_text(&store, NOON + 3_600).await;
    assert_eq!(
        digest.matches("the mail service refused").count(),
        2,
        "{digest}"
    );
    assert!(digest.contains("Rosa Q."), "{digest}");
    assert!(
        digest.contains("2 messages given up: the addresses were refused for good"),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_address_refused_for_good_is_given_up_and_listed
        => sqlite_an_address_refused_for_good_is_given_up_and_listed,
        dynamodb_an_address_refused_for_good_is_given_up_and_listed
);

/// `receipts_per_hour` holds all addresses together: past it, a receipt
/// waits its turn (not an attempt), and goes in the next hour.
async fn receipts_past_the_hours_cap_wait_their_turn<S: Store>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    let site = Site::load(&mutualaid_tests::real_content()).expect("the real content");
    let two_an_hour = Letters::new(Arc::new(site), None, 2).expect("letters");
    let mut ids = Vec::new();
    for (i, name) in ["Ann One", "Bo Two", "Cy Three"].into_iter().enumerate() {
        let email = format!("person{i}@example.org");
        let signup = mutualaid_tests::person(name, Some(&email), None, "92101", &["delivery"]);
        ids.push(sign_up(&store, signup, NOON + i as i64).await);
    }
    let first = outbox::deliver_due(&store, &mailer, &two_an_hour, NOON + 10)
        .await
        .expect("run");
    assert_eq!(
        first,
        Delivery {
            sent: 2,
            deferred: 1,
            ..Delivery::default()
        }
    );
    let waiting = store
        .messages_of(&ids[2])
        .await
        .expect("messages")
        .remove(0);
    assert!(
        matches!(waiting.state, MessageState::Waiting { attempts: 0, .. }),
        "{waiting:?}"
    );
    let same_hour = outbox::deliver_due(&store, &mailer, &two_an_hour, NOON + 1_800)
        .await
        .expect("run");
    assert_eq!(
        same_hour,
        Delivery {
            deferred: 1,
            ..Delivery::default()
        }
    );
    let next_hour = outbox::deliver_due(&store, &mailer, &two_an_hour, NOON + 3_700)
        .await
        .expect("run");
    assert_eq!(
        next_hour,
        Delivery {
            sent: 1,
            ..Delivery::default()
        }
    );
    assert_eq!(files(dir.path()).len(), 3);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    receipts_past_the_hours_cap_wait_their_turn
        => sqlite_receipts_past_the_hours_cap_wait_their_turn,
        dynamodb_receipts_past_the_hours_cap_wait_their_turn
);

/// "Not you?" in every receipt: "This wasn't me" stops all mail to that
/// address from any form (kept as a keyed hash), stops the link, keeps the
/// record, and the digest asks the organizers to reach the person another
/// way; an organizer can lift it.
async fn this_wasnt_me_stops_mail_to_the_address_from_any_form<S: Store + Clone>(store: S) {
    let rosa_id = sign_up(&store, rosa(), NOON).await;
    let token = store.messages_of(&rosa_id).await.expect("messages")[0]
        .link
        .clone()
        .expect("a link");
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    outbox::deliver_due(&store, &mailer, &letters(), NOON + 1)
        .await
        .expect("sent");
    let mail = read(&std::fs::read(&files(dir.path())[0]).expect("the receipt"));
    let not_me = format!("https://mutualaid.example.org/api/me/not-me?t={token}");
    assert!(mail.text.contains(&not_me), "{}", mail.text);

    let keys =
        mutualaid_handler::links::LinkKeys::parse(&mutualaid_handler::links::LinkKeys::generate())
            .expect("keys");
    let app = crate::case_links::router(&store, &keys, 3, crate::case_links::at_noon_next_day);
    let page = crate::case_links::get(&app, &format!("/api/me/not-me?t={token}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("No fui yo: no me escriban más"),
        "{}",
        page.body
    );
    let key = store.address_key().await.expect("key");
    let hash = key.hash("rosa.q@example.org");
    assert!(
        !store.suppressed(&hash).await.expect("read"),
        "a GET changes nothing"
    );
    let pressed = crate::own_page::post(&app, "/api/me/not-me", &[("t", token.as_str())]).await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    assert!(store.suppressed(&hash).await.expect("read"));
    assert_ne!(hash, "rosa.q@example.org");
    assert_eq!(
        crate::case_links::get(&app, &format!("/api/me?t={token}"))
            .await
            .status,
        403,
        "the link stops"
    );
    assert!(
        store.person(&rosa_id).await.expect("read").is_some(),
        "her record stays"
    );

    // Nothing more to that address, from any form, by any name.
    let someone = sign_up(
        &store,
        mutualaid_tests::person(
            "Someone Else",
            Some("Rosa.Q@example.org"),
            None,
            "92101",
            &["shopper"],
        ),
        NOON + 100,
    )
    .await;
    assert!(
        store
            .messages_of(&someone)
            .await
            .expect("messages")
            .is_empty()
    );
    let gift = domain::accept(
        &store,
        Submission::Donate(mutualaid_forms::Donation {
            name: "A Giver".into(),
            email: "rosa.q@example.org".into(),
            phone: None,
            frequency: mutualaid_forms::Frequency::Once,
            amount: None,
            message: None,
            lang: Lang::EN,
        }),
        NOON + 200,
        KEEP,
    )
    .await
    .expect("accepted");
    assert!(
        store
            .messages_of(&gift.person_id)
            .await
            .expect("messages")
            .is_empty()
    );

    // The organizers are told whom to reach another way.
    let digest = digest_text(&store, NOON + 3_600).await;
    assert!(digest.contains("says it wasn't them"), "{digest}");

    // An organizer who reached her lifts it.
    assert!(
        outbox::allow(&store, "rosa.q@example.org")
            .await
            .expect("allowed")
    );
    assert!(!store.suppressed(&hash).await.expect("read"));
    let again = sign_up(
        &store,
        mutualaid_tests::person(
            "Third Person",
            Some("rosa.q@example.org"),
            None,
            "92101",
            &["shopper"],
        ),
        NOON + 4_000,
    )
    .await;
    assert_eq!(store.messages_of(&again).await.expect("messages").len(), 1);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    this_wasnt_me_stops_mail_to_the_address_from_any_form
        => sqlite_this_wasnt_me_stops_mail_to_the_address_from_any_form,
        dynamodb_this_wasnt_me_stops_mail_to_the_address_from_any_form
);

/// `mutualaid contacts allow EMAIL`, on the store `serve` keeps.
#[tokio::test]
async fn contacts_allow_lifts_this_wasnt_me_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let store =
        mutualaid_handler::store::sqlite::SqliteStore::open(&dir.path().join("mutualaid.sqlite3"))
            .expect("store");
    let key = store.address_key().await.expect("key");
    let plan = mutualaid_handler::store::Plan {
        writes: vec![mutualaid_handler::store::Write::Suppress {
            hash: key.hash("kim@example.org"),
            at: NOON,
            expires_at: NOON + 86_400,
        }],
    };
    store.carry_out(&plan).await.expect("suppressed");
    let run = |email: &str| {
        std::process::Command::new(mutualaid_tests::mutualaid_bin())
            .args(["contacts", "allow", email, "--data"])
            .arg(dir.path())
            .output()
            .expect("mutualaid contacts allow")
    };
    let out = run("Kim@Example.org");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("allowed again"));
    assert!(
        !store
            .suppressed(&key.hash("kim@example.org"))
            .await
            .expect("read")
    );
    let out = run("kim@example.org");
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to lift"));
}

/// `mutualaid contacts confirm|drop RECORD` and `mutualaid link revoke
/// RECORD`, on the store `serve` keeps: the way back for someone who lost
/// their old mailbox or has only a phone.
#[tokio::test]
async fn contacts_confirm_drop_and_link_revoke_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let store =
        mutualaid_handler::store::sqlite::SqliteStore::open(&dir.path().join("mutualaid.sqlite3"))
            .expect("store");
    // Lupe has only a phone; the form later brings an email for her.
    let lupe = mutualaid_tests::person(
        "Lupe Solo",
        None,
        Some("+16195550155"),
        "92105",
        &["delivery"],
    );
    let id = sign_up(&store, lupe.clone(), NOON).await;
    let with_email = mutualaid_forms::Signup {
        email: Some("lupe@example.org".into()),
        ..lupe.clone()
    };
    sign_up(&store, with_email, NOON + 60).await;
    let run = |args: &[&str]| {
        std::process::Command::new(mutualaid_tests::mutualaid_bin())
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .output()
            .expect("mutualaid")
    };
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let record = store.person(&id).await.expect("read").expect("Lupe");
    assert_eq!(record.submission.email(), None, "not hers until confirmed");
    // An organizer called her phone: it is hers.
    let out = run(&["contacts", "confirm", &id]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("Confirmed"), "{}", said(&out));
    let record = store.person(&id).await.expect("read").expect("Lupe");
    assert_eq!(record.submission.email(), Some("lupe@example.org"));
    let last = store
        .messages_of(&id)
        .await
        .expect("messages")
        .pop()
        .expect("a message");
    assert_eq!(
        (last.to.as_str(), last.kind),
        ("lupe@example.org", MessageKind::LinkAgain),
        "her new address gets her page's first live link"
    );
    let out = run(&["contacts", "drop", &id]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("nothing to do"), "{}", said(&out));
    // Every link to her page revoked.
    let out = run(&["link", "revoke", &id]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("Revoked 1 link"), "{}", said(&out));
    assert!(store.kept(&id).await.expect("kept").page_links.is_empty());
    let out = run(&["contacts", "confirm", "no-such-record"]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("no record has that id"),
        "{}",
        said(&out)
    );
}

/// Through a real SMTP server: a crash between "accepted" and "recorded"
/// makes the server receive the receipt twice — with one `Message-ID`, so
/// a mail app shows one message.
async fn a_receipt_sent_again_through_smtp_keeps_its_message_id<S: Store>(store: S) {
    let Some(server) = mutualaid_tests::smtp::Server::start() else {
        return;
    };
    let smtp = mutualaid_handler::mail::Smtp::from_url(&server.url()).expect("url");
    let id = sign_up(&store, sam(), NOON).await;
    let lost = outbox::deliver_due(&store, &AcceptedThenLost(smtp.clone()), &letters(), NOON)
        .await
        .expect("run");
    assert_eq!(lost.retried, 1);
    let done = outbox::deliver_due(&store, &smtp, &letters(), NOON + 3_600)
        .await
        .expect("run");
    assert_eq!(done.sent, 1);
    let message = store.messages_of(&id).await.expect("messages").remove(0);
    let ids: Vec<String> = server
        .received()
        .iter()
        .map(|raw| read(raw).message_id)
        .collect();
    let expected = format!("{}@mutualaid.example.org", message.id);
    assert_eq!(ids, [expected.clone(), expected]);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_receipt_sent_again_through_smtp_keeps_its_message_id
        => sqlite_a_receipt_sent_again_through_smtp_keeps_its_message_id,
        dynamodb_a_receipt_sent_again_through_smtp_keeps_its_message_id
);

/// A receipt to a new email the form brought (held until Sam confirms it)
/// bounces at SES: no record lists that address, so the bounce finds the
/// message by the record our header names; it is given up, and the digest
/// tells the organizers to reach Sam another way.
async fn a_bounce_for_a_held_address_is_found_by_its_record<S: Store>(store: S) {
    let sam_id = sign_up(&store, sam(), NOON).await;
    sign_up(
        &store,
        mutualaid_forms::Signup {
            email: Some("sam.typo@example.org".into()),
            ..sam()
        },
        NOON + 60,
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let mailer = Outbox {
        dir: dir.path().to_owned(),
    };
    outbox::deliver_due(&store, &mailer, &letters(), NOON + 120)
        .await
        .expect("sent");
    let held = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .into_iter()
        .find(|m| m.to == "sam.typo@example.org")
        .expect("the held receipt");
    assert!(matches!(held.state, MessageState::Sent { .. }));
    let raw = std::fs::read(dir.path().join(format!("{}.eml", held.id))).expect("the mail");
    let mail = read(&raw);
    assert!(
        mail.raw.contains(&format!("X-Mutualaid-Record: {sam_id}")),
        "{}",
        mail.raw
    );
    // By the address alone it is nobody's.
    assert!(
        !outbox::bounced(&store, &held.id, None, "sam.typo@example.org", NOON + 180)
            .await
            .expect("bounce")
    );
    // Another record's id with it finds nothing either.
    assert!(
        !outbox::bounced(
            &store,
            &held.id,
            Some(&sam_id),
            "someone.else@example.org",
            NOON + 180
        )
        .await
        .expect("bounce")
    );
    assert!(
        outbox::bounced(
            &store,
            &held.id,
            Some(&sam_id),
            "sam.typo@example.org",
            NOON + 180
        )
        .await
        .expect("bounce")
    );
    let given_up = store
        .messages_of(&sam_id)
        .await
        .expect("messages")
        .into_iter()
        .find(|m| m.id == held.id)
        .expect("the held receipt");
    assert!(matches!(given_up.state, MessageState::GivenUp { .. }));
    let digest = digest_text(&store, NOON + 3_600).await;
    assert!(
        digest.contains("the mail service refused") && digest.contains("Sam W."),
        "{digest}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_bounce_for_a_held_address_is_found_by_its_record
        => sqlite_a_bounce_for_a_held_address_is_found_by_its_record,
        dynamodb_a_bounce_for_a_held_address_is_found_by_its_record
);
