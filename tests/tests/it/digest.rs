//! The organizers' digest: built from a real store, sent through SES (moto),
//! SMTP or the outbox, parsed back as MIME, with records marked reported only
//! after the mail service accepted the message; and the promise under
//! concurrent writers and a crash, on both stores.

use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use mutualaid_forms::Lang;
use mutualaid_handler::digest::pairing::PairingConfig;
use mutualaid_handler::digest::{self, DigestConfig, DigestError, RunReport};
use mutualaid_handler::domain;
use mutualaid_handler::mail::{Mailer, Outbox, Ses};
use mutualaid_handler::store::Submission;
use mutualaid_handler::store::roles::*;
use mutualaid_site::strings::Strings;
use mutualaid_tests::aws;

pub use crate::store_contract::KEEP;
/// 2026-11-26 20:00 UTC (12:00 in San Diego).
pub const NOON: i64 = 1_795_723_200;

pub fn strings(lang: &str) -> Strings {
    crate::real_site().site.strings[lang].clone()
}

pub fn config(to: &str) -> DigestConfig {
    DigestConfig {
        network: "San Diego Mutual Aid".into(),
        from: "Mutual aid digest <digest@mutualaid.example.org>"
            .parse()
            .expect("from"),
        to: vec![to.parse().expect("to")],
        lang: Lang::EN,
        time_zone: "America/Los_Angeles".into(),
        pairing: PairingConfig::default(),
        review_days: 14,
        links: None,
    }
}

/// Sends the English digest of `at` into an outbox folder `dir` and
/// returns the message as sent (raw MIME).
pub async fn to_outbox<S: Store>(store: &S, dir: &std::path::Path, at: i64) -> Vec<u8> {
    let outbox = Outbox {
        dir: dir.to_owned(),
    };
    english_digest(store, &outbox, at).await;
    mutualaid_tests::latest_message(dir)
}

/// Sends the English digest of `at` to organizers@example.org through `mailer`.
pub async fn english_digest<S: Store>(store: &S, mailer: &impl Mailer, at: i64) -> RunReport {
    digest::run(
        store,
        mailer,
        &strings("en"),
        &config("organizers@example.org"),
        at,
        &format!("run-{at}"),
    )
    .await
    .expect("sent")
}

pub fn signup(name: &str, email: &str, zip: &str, roles: &[&str], langs: &[&str]) -> Submission {
    Submission::Signup(mutualaid_forms::Signup {
        languages: langs.iter().map(|l| (*l).to_owned()).collect(),
        household_size: Some(2),
        notes: Some("no stairs".into()),
        ..mutualaid_tests::person(name, Some(email), None, zip, roles)
    })
}

/// Seeds a small neighbourhood: two shoppers, two people asking, one far away.
pub async fn seed<S: Store>(store: &S, at: i64) {
    let people = [
        signup(
            "Ana Shopper",
            "ana@example.org",
            "92105",
            &["shopper"],
            &["es", "en"],
        ),
        signup(
            "Bo Shopper",
            "bo@example.org",
            "92115",
            &["shopper"],
            &["en"],
        ),
        signup(
            "Cy Needs",
            "cy@example.org",
            "92105",
            &["delivery"],
            &["es"],
        ),
        signup(
            "Di Needs",
            "di@example.org",
            "92116",
            &["money", "delivery"],
            &[],
        ),
        signup(
            "Ed Faraway",
            "ed@example.org",
            "92004",
            &["delivery"],
            &["en"],
        ),
    ];
    for (i, p) in people.into_iter().enumerate() {
        domain::accept(store, p, at + i as i64, KEEP)
            .await
            .expect("seed");
    }
}

async fn ses(endpoint: &str) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&aws::sdk_config(endpoint).await)
}

#[tokio::test]
async fn a_digest_through_ses_is_grouped_by_area_with_pairings_and_a_csv() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "digest").await;
    let ses_client = ses(&endpoint).await;
    ses_client
        .create_email_identity()
        .email_identity("digest@mutualaid.example.org")
        .send()
        .await
        .expect("verify sender");
    seed(&store, NOON - 3_600).await;
    let to = format!("organizers+{table}@example.org");
    let report = digest::run(
        &store,
        &Ses::new(ses_client),
        &strings("en"),
        &config(&to),
        NOON,
        "run-1",
    )
    .await
    .expect("sent");
    assert!(matches!(
        report,
        RunReport::Sent {
            entries: 5,
            repeated: 0,
            unreadable: 0,
            ..
        }
    ));

    let raw = aws::sent_to(&aws::endpoint(), &to);
    assert_eq!(raw.len(), 1, "one message to the organizers");
    let message = MessageParser::default()
        .parse(raw[0].as_bytes())
        .expect("MIME");
    assert_eq!(
        message.subject(),
        Some("San Diego Mutual Aid: digest, 2026-11-26")
    );
    let recipients: Vec<&str> = message
        .to()
        .expect("to")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(recipients, [to.as_str()]);
    let text = message.body_text(0).expect("text part");
    let html = message.body_html(0).expect("HTML part");
    for part in [&text, &html] {
        assert!(
            part.contains("92105 City Heights"),
            "grouped by area with the neighbourhood: {part}"
        );
        assert!(part.contains("92115 College Area"));
        assert!(
            part.contains(
                "Cy Needs (92105 City Heights) — Ana Shopper (92105 City Heights), 0.0 mi"
            ),
            "a shared language, the same ZIP: {part}"
        );
        assert!(
            part.contains("Ed Faraway") && part.contains("nobody volunteers within 10 miles"),
            "flagged: {part}"
        );
    }
    let attention = text.find("Needs attention").expect("attention section");
    assert!(
        attention < text.find("Suggested today").expect("pairings"),
        "flagged first"
    );
    assert!(
        text.contains("- 2 volunteer shoppers") && text.contains("- 3 want groceries delivered"),
        "{text}"
    );
    let csv = message.attachments().next().expect("a CSV attachment");
    assert_eq!(csv.attachment_name(), Some("digest-2026-11-26.csv"));
    let csv = String::from_utf8_lossy(csv.contents()).into_owned();
    assert_eq!(csv.lines().count(), 6, "a header and five people: {csv}");
    assert!(csv.lines().next().expect("header").starts_with(
        "\"status\",\"may_repeat\",\"changes\",\"shares_contact_with\",\"id\",\"form\""
    ));
    assert!(
        csv.contains("\"new\",\"\",\"\",\"\",") && csv.contains("\"Cy Needs\",\"cy@example.org\"")
    );
}

#[tokio::test]
async fn refused_by_ses_the_run_fails_and_the_next_run_catches_up() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "refused").await;
    seed(&store, NOON - 3_600).await;
    let to = format!("organizers+{table}@example.org");
    let mut cfg = config(&to);
    let sender = format!("unverified-{table}@mutualaid.example.org");
    cfg.from = sender.parse().expect("from");
    let mailer = Ses::new(ses(&endpoint).await);

    let refused = digest::run(&store, &mailer, &strings("en"), &cfg, NOON, "run-1").await;
    assert!(matches!(refused, Err(DigestError::Mail(_))), "{refused:?}");
    let message = refused.expect_err("refused").to_string();
    assert!(
        message.contains("not sent") && message.contains("next run"),
        "{message}"
    );
    let state = store.digest_state().await.expect("state");
    assert_eq!(
        (state.last_sent, state.lease_owner, state.manifest.len()),
        (None, None, 0),
        "nothing recorded as sent; the lease is back"
    );
    assert_eq!(
        store.pending().await.expect("pending").people.len(),
        5,
        "everyone is still pending"
    );
    assert!(aws::sent_to(&aws::endpoint(), &to).is_empty());

    ses(&endpoint)
        .await
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("verify");
    let next_day = NOON + 86_400;
    let report = digest::run(&store, &mailer, &strings("en"), &cfg, next_day, "run-2")
        .await
        .expect("sent");
    assert!(
        matches!(
            report,
            RunReport::Sent {
                entries: 5,
                repeated: 0,
                unreadable: 0,
                ..
            }
        ),
        "the missed entries are in, not marked as repeats (the refused one was never sent)"
    );
    let again = digest::run(
        &store,
        &mailer,
        &strings("en"),
        &cfg,
        next_day + 60,
        "run-3",
    )
    .await
    .expect("sent");
    assert!(
        matches!(
            again,
            RunReport::Sent {
                entries: 0,
                repeated: 0,
                unreadable: 0,
                ..
            }
        ),
        "a re-run sends nothing new"
    );
    let raw = aws::sent_to(&aws::endpoint(), &to);
    assert_eq!(raw.len(), 2);
    let quiet = MessageParser::default()
        .parse(raw[1].as_bytes())
        .expect("MIME");
    assert!(
        quiet
            .body_text(0)
            .expect("text")
            .contains("No new sign-ups since 2026-11-27 12:00."),
        "said plainly"
    );
}

#[tokio::test]
async fn values_people_typed_cannot_inject_headers_markup_or_formulas() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    for (name, email) in [
        ("<script>alert(1)</script>", "s@example.org"),
        ("=HYPERLINK(\"http://evil.example\",\"x\")", "h@example.org"),
        ("Eve\r\nBcc: x@y.example", "e@example.org"),
    ] {
        domain::accept(
            &store,
            signup(name, email, "92105", &["delivery"], &[]),
            NOON - 10,
            KEEP,
        )
        .await
        .expect("seed");
    }
    let raw = to_outbox(&store, &dir.path().join("outbox"), NOON).await;
    let message = MessageParser::default().parse(&raw).expect("MIME");
    assert!(message.header("Bcc").is_none(), "no header from a name");
    let headers = String::from_utf8_lossy(
        &raw[..raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers")],
    )
    .into_owned();
    assert!(!headers.contains("x@y.example"), "{headers}");
    let html = message.body_html(0).expect("html");
    assert!(
        !html.contains("<script>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    let text = message.body_text(0).expect("text");
    assert!(
        text.contains("Eve  Bcc: x@y.example"),
        "CR and LF are spaces in text: {text}"
    );
    let csv =
        String::from_utf8_lossy(message.attachments().next().expect("csv").contents()).into_owned();
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    assert!(!csv.contains(",=HYPERLINK"));
}

#[tokio::test]
async fn the_outbox_eml_is_a_valid_message_and_a_dry_run_moves_nothing() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    seed(&store, NOON - 100).await;
    let cfg = DigestConfig {
        lang: Lang::ES,
        network: "Ayuda Mutua de San Diego".into(),
        ..config("organizadores@example.org")
    };
    let (d, _) = digest::prepare(&store, &strings("es"), &cfg, &Default::default(), NOON)
        .await
        .expect("dry run");
    assert!(
        digest::render::text(&d, &strings("es"), &cfg).contains("Sugeridas hoy"),
        "in the organizers' language"
    );
    assert_eq!(
        store.pending().await.expect("pending").people.len(),
        5,
        "a dry run marks nothing"
    );

    let outbox = Outbox {
        dir: dir.path().join("outbox"),
    };
    digest::run(&store, &outbox, &strings("es"), &cfg, NOON, "run")
        .await
        .expect("sent");
    let files: Vec<_> = std::fs::read_dir(&outbox.dir)
        .expect("outbox")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let raw = std::fs::read(&files[0]).expect("eml");
    let message = MessageParser::default()
        .parse(&raw)
        .expect("a valid MIME message");
    assert_eq!(
        message.subject(),
        Some("Ayuda Mutua de San Diego: resumen del 2026-11-26")
    );
    assert!(
        message
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            == Some("digest@mutualaid.example.org")
    );
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    assert_eq!(
        message.attachment_count(),
        2,
        "the entries' CSV and the cases' CSV"
    );
    assert!(
        message
            .body_text(0)
            .expect("text")
            .contains("Inscripciones nuevas y actualizadas por zona")
    );
}

/// The outbox, slowly: long enough for a second run to start meanwhile.
struct SlowOutbox(Outbox);

impl Mailer for SlowOutbox {
    async fn send(
        &self,
        message: &lettre::Message,
    ) -> Result<(), mutualaid_handler::mail::MailError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.send(message).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_send_one_digest() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    seed(&store, NOON - 100).await;
    let outbox = SlowOutbox(Outbox {
        dir: dir.path().join("outbox"),
    });
    let (s, c) = (strings("en"), config("organizers@example.org"));
    let (a, b) = tokio::join!(
        digest::run(&store, &outbox, &s, &c, NOON, "run-a"),
        digest::run(&store, &outbox, &s, &c, NOON, "run-b"),
    );
    let mut reports = [a.expect("a"), b.expect("b")];
    reports.sort_by_key(|r| matches!(r, RunReport::Sent { .. }));
    assert_eq!(reports[0], RunReport::AlreadyRunning);
    assert!(matches!(reports[1], RunReport::Sent { entries: 5, .. }));
    assert_eq!(std::fs::read_dir(&outbox.0.dir).expect("outbox").count(), 1);
}

#[tokio::test]
async fn a_digest_goes_through_a_real_smtp_server() {
    let Some(server) = mutualaid_tests::smtp::Server::start() else {
        return;
    };
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    seed(&store, NOON - 100).await;
    let smtp =
        mutualaid_handler::mail::Smtp::from_url(&format!("smtp://127.0.0.1:{}", server.port))
            .expect("url");
    let report = english_digest(&store, &smtp, NOON).await;
    assert!(matches!(report, RunReport::Sent { entries: 5, .. }));
    let received = server.received();
    assert_eq!(received.len(), 1);
    let raw = &received[0];
    let message = MessageParser::default().parse(&raw).expect("MIME");
    assert_eq!(
        message.subject(),
        Some("San Diego Mutual Aid: digest, 2026-11-26")
    );
    assert!(message.body_text(0).expect("text").contains("Cy Needs"));

    drop(server);
    let refused = digest::run(
        &store,
        &smtp,
        &strings("en"),
        &config("organizers@example.org"),
        NOON + 60,
        "run-2",
    )
    .await;
    assert!(
        matches!(refused, Err(DigestError::Mail(_))),
        "the server is gone: {refused:?}"
    );
    assert_eq!(
        store.digest_state().await.expect("state").last_sent,
        Some(NOON),
        "the last sent digest is still the first"
    );
}

/// Issue 23, part 7: "1 volunteer shopper", not "1 volunteer shoppers" —
/// each count takes its words by the organizers' language's own rule, in
/// the digest and in the Discord summary.
#[tokio::test]
async fn one_of_each_is_counted_in_the_singular_in_english_and_spanish() {
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    for (name, email, roles) in [
        ("Uno Shopper", "uno@example.org", &["shopper"][..]),
        ("Una Needs", "una@example.org", &["delivery"][..]),
    ] {
        mutualaid_handler::domain::accept(
            &store,
            Submission::Signup(crate::store_contract::person(
                name,
                Some(email),
                None,
                "92105",
                roles,
            )),
            NOON - 2 * 86_400,
            KEEP,
        )
        .await
        .expect("accepted");
    }
    for (lang, shopper, asks, waited) in [
        (
            Lang::EN,
            "- 1 volunteer shopper\n",
            "- 1 wants groceries delivered\n",
            "waiting 2 days",
        ),
        (
            Lang::ES,
            "- 1 voluntario que hace el mandado\n",
            "- 1 quiere el mandado en su casa\n",
            "2 días",
        ),
    ] {
        let config = DigestConfig {
            lang,
            ..config("organizers@example.org")
        };
        let (digest, message) = digest::prepare(
            &store,
            &strings(lang.code()),
            &config,
            &Default::default(),
            NOON,
        )
        .await
        .expect("prepared");
        let raw = message.formatted();
        let text = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("MIME")
            .body_text(0)
            .expect("text")
            .replace("\r\n", "\n");
        assert!(text.contains(shopper) && text.contains(asks), "{text}");
        assert!(text.contains(waited), "{text}");
        let summary = digest::summary::Summary::of(&digest).text(
            &strings(lang.code()).digest.discord,
            "Red",
            "2026-11-26",
        );
        let longest = match lang {
            Lang::EN => "the longest for 2 days.",
            _ => "la espera más larga, 2 días.",
        };
        assert!(summary.contains(longest), "{summary}");
    }
}
