//! The digest's promise, on both stores: every acknowledged submission is
//! reported as new in exactly one digest, with people posting while digests
//! run; a digest that stops after its mail was accepted and before it
//! recorded that is repeated by the next one, marked; a record that does not
//! decode is counted and never stops the digest.
//!
//! Each digest goes to an outbox folder and is read back as the organizers
//! get it: the MIME message and its CSV attachment.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::{Request, StatusCode, header};
use mail_parser::MessageParser;
use mutualaid_handler::digest::{self, LEASE_SECS, RunReport};
use mutualaid_handler::domain;
use mutualaid_handler::http::{self, App};
use mutualaid_handler::mail::{MailError, Mailer, Outbox};
use mutualaid_handler::store::roles::*;
use mutualaid_site::Site;
use mutualaid_tests::aws;
use serde_json::json;

use crate::digest::{KEEP, NOON, config, seed, signup, strings};
use crate::handler::send;

/// One row of a digest's CSV: (status, may_repeat, record id).
type Row = (String, String, String);

/// Every digest in an outbox folder, oldest first: (text part, CSV rows).
fn digests_in(dir: &Path) -> Vec<(String, Vec<Row>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    files.retain(|f| f.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).expect("eml");
            let message = MessageParser::default().parse(&raw).expect("MIME");
            let text = message.body_text(0).expect("text part").into_owned();
            let csv = message.attachments().next().expect("the CSV");
            let mut reader = csv::Reader::from_reader(csv.contents());
            let headers = reader.headers().expect("header").clone();
            let at = |name: &str| {
                headers
                    .iter()
                    .position(|h| h == name)
                    .unwrap_or_else(|| panic!("a {name} column"))
            };
            let (status, repeat, id) = (at("status"), at("may_repeat"), at("id"));
            let rows = reader
                .records()
                .map(|r| {
                    let r = r.expect("a row");
                    (r[status].to_owned(), r[repeat].to_owned(), r[id].to_owned())
                })
                .collect();
            (text, rows)
        })
        .collect()
}

/// The figures of one race.
#[derive(Debug)]
struct Race {
    acknowledged: usize,
    updates: usize,
    digests: usize,
    missing: usize,
    reported_twice: usize,
    repeated: usize,
}

/// The fewest digests that must run while people post.
const MIN_DIGESTS: usize = 5;
/// The fewest sign-ups that must be acknowledged meanwhile.
const MIN_SIGN_UPS: usize = 60;

/// `clients` tasks post distinct people (a third also change their ZIP)
/// through the handler's router for at least `run_for` and until two digest
/// loops have sent [`MIN_DIGESTS`] digests between them (at most a minute);
/// then one last digest. Reads every digest back.
async fn race<S: Store + Clone>(
    store: S,
    outbox: &Path,
    clients: usize,
    run_for: Duration,
) -> Race {
    let site = Arc::new(Site::load(&mutualaid_tests::real_content()).expect("content"));
    let mut cfg = crate::handler::config(&site, 1_000_000);
    cfg.store_timeout = Duration::from_secs(10);
    let router = http::router(App {
        store: store.clone(),
        site,
        config: cfg,
        clock: mutualaid_handler::clock::system_clock,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let digests_sent = Arc::new(AtomicUsize::new(0));
    let mut loops = Vec::new();
    for n in 0..2 {
        let (store, stop, sent) = (store.clone(), stop.clone(), digests_sent.clone());
        let outbox = Outbox {
            dir: outbox.to_owned(),
        };
        loops.push(tokio::spawn(async move {
            let (s, c) = (strings("en"), config("organizers@example.org"));
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let run_id = format!("loop-{n}-{i}");
                match digest::run(
                    &store,
                    &outbox,
                    &s,
                    &c,
                    mutualaid_handler::clock::system_clock(),
                    &run_id,
                )
                .await
                {
                    Ok(RunReport::Sent { .. }) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(RunReport::AlreadyRunning) => {}
                    Err(e) => panic!("a digest failed: {e}"),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let acked_so_far = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (router, next, sent) = (router.clone(), next.clone(), digests_sent.clone());
        let acked_so_far = acked_so_far.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<String> = Vec::new();
            let mut updates = 0;
            let go_on = || {
                let elapsed = started.elapsed();
                elapsed < Duration::from_secs(60)
                    && (elapsed < run_for
                        || sent.load(Ordering::Relaxed) < MIN_DIGESTS
                        || acked_so_far.load(Ordering::Relaxed) < MIN_SIGN_UPS)
            };
            while go_on() {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let mut body = json!({"name": format!("Racer {i}"), "email": format!("racer{i}@example.org"),
                    "contact_method": "email", "zip": "92105", "roles": ["delivery"], "consent": true});
                let post = |body: &serde_json::Value| {
                    Request::post("/api/signup")
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body.to_string().into())
                        .expect("request")
                };
                let answer = send(&router, post(&body)).await;
                assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
                acked.push(answer.json()["reference"].as_str().expect("ref").to_owned());
                acked_so_far.fetch_add(1, Ordering::Relaxed);
                if i % 3 == 0 {
                    body["zip"] = json!("92115");
                    let answer = send(&router, post(&body)).await;
                    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
                    updates += 1;
                }
            }
            (acked, updates)
        }));
    }
    let mut acked_references = Vec::new();
    let mut updates = 0;
    for t in tasks {
        let (acked, n) = t.await.expect("a client");
        acked_references.extend(acked);
        updates += n;
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.expect("a digest loop");
    }
    // One last digest, after everyone was answered.
    let outbox_mailer = Outbox {
        dir: outbox.to_owned(),
    };
    let last = digest::run(
        &store,
        &outbox_mailer,
        &strings("en"),
        &config("organizers@example.org"),
        mutualaid_handler::clock::system_clock(),
        "last",
    )
    .await
    .expect("the last digest");
    assert!(matches!(last, RunReport::Sent { .. }));
    assert!(
        store.pending().await.expect("pending").people.is_empty(),
        "nothing left pending"
    );

    let log: HashMap<String, String> = store
        .submissions()
        .await
        .expect("log")
        .into_iter()
        .map(|e| (e.reference, e.person_id))
        .collect();
    let digests = digests_in(outbox);
    let mut new_in: BTreeMap<String, usize> = BTreeMap::new();
    let mut repeated = 0;
    for (_, rows) in &digests {
        for (status, may_repeat, id) in rows {
            if status == "new" {
                *new_in.entry(id.clone()).or_default() += 1;
            }
            repeated += usize::from(may_repeat == "yes");
        }
    }
    let mut missing = 0;
    let mut reported_twice = 0;
    for reference in &acked_references {
        let id = log
            .get(reference)
            .unwrap_or_else(|| panic!("acknowledged {reference} is in the log"));
        match new_in.get(id).copied().unwrap_or(0) {
            0 => missing += 1,
            1 => {}
            _ => reported_twice += 1,
        }
    }
    Race {
        acknowledged: acked_references.len(),
        updates,
        digests: digests.len(),
        missing,
        reported_twice,
        repeated,
    }
}

fn check(what: &str, race: &Race) {
    println!(
        "{what}: {} sign-ups acknowledged (+{} updates), {} digests sent while they came in; reported as new in no digest: {}, in two or more: {}, marked as possible repeats: {}",
        race.acknowledged,
        race.updates,
        race.digests,
        race.missing,
        race.reported_twice,
        race.repeated
    );
    assert!(
        race.acknowledged > 50,
        "enough load to mean something: {race:?}"
    );
    assert!(
        race.digests > MIN_DIGESTS,
        "digests ran while people posted: {race:?}"
    );
    assert_eq!(
        (race.missing, race.reported_twice, race.repeated),
        (0, 0, 0),
        "every acknowledged sign-up reported as new in exactly one digest: {race:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_every_acknowledged_sign_up_is_new_in_exactly_one_digest_while_digests_run() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let race = race(store, &dir.path().join("outbox"), 8, Duration::from_secs(4)).await;
    check("SQLite", &race);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_every_acknowledged_sign_up_is_new_in_exactly_one_digest_while_digests_run() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, _) = mutualaid_tests::stores::dynamodb_table(&endpoint, "race").await;
    let dir = tempfile::tempdir().expect("tmp");
    // Two clients: moto takes one request at a time, and digests must keep up to overlap many writes.
    let race = race(store, &dir.path().join("outbox"), 2, Duration::from_secs(6)).await;
    check("DynamoDB (moto)", &race);
}

/// The outbox, then a stop before `send` returns: the message is accepted
/// (written), and the run dies before it can record that.
struct AcceptedThenStopped(Outbox);

impl Mailer for AcceptedThenStopped {
    async fn send(&self, message: &lettre::Message) -> Result<(), MailError> {
        self.0.send(message).await?;
        std::future::pending().await
    }
}

async fn killed_after_acceptance<S: Store>(store: S) {
    let dir = tempfile::tempdir().expect("tmp");
    let outbox = Outbox {
        dir: dir.path().join("outbox"),
    };
    let (s, c) = (strings("en"), config("organizers@example.org"));
    seed(&store, NOON - 3_600).await;
    let killed = tokio::time::timeout(
        Duration::from_secs(5),
        digest::run(
            &store,
            &AcceptedThenStopped(outbox.clone()),
            &s,
            &c,
            NOON,
            "killed",
        ),
    )
    .await;
    assert!(killed.is_err(), "the run was stopped mid-way");
    let first = digests_in(&outbox.dir);
    assert_eq!(first.len(), 1, "its mail was accepted");
    let first_ids: Vec<String> = first[0].1.iter().map(|(_, _, id)| id.clone()).collect();
    assert_eq!(first_ids.len(), 5);

    let later = domain::accept(
        &store,
        signup("Late Comer", "late@example.org", "92105", &["shopper"], &[]),
        NOON + 60,
        KEEP,
    )
    .await
    .expect("a later sign-up");
    let next_run = NOON + LEASE_SECS + 60;
    let report = digest::run(&store, &outbox, &s, &c, next_run, "next")
        .await
        .expect("the next digest, once the lease has run out");
    assert!(matches!(
        report,
        RunReport::Sent {
            entries: 6,
            repeated: 5,
            unreadable: 0,
            ..
        }
    ));
    let digests = digests_in(&outbox.dir);
    assert_eq!(digests.len(), 2);
    let (text, rows) = digests
        .iter()
        .find(|(_, rows)| rows.len() == 6)
        .expect("the next digest");
    for (status, may_repeat, id) in rows {
        let expected = if first_ids.contains(id) { "yes" } else { "" };
        assert_eq!(
            (status.as_str(), may_repeat.as_str()),
            ("new", expected),
            "{id}: exactly the stopped digest's entries are marked"
        );
    }
    assert!(rows.iter().any(|(_, _, id)| *id == later.person_id));
    assert_eq!(
        text.matches("may repeat: an earlier digest may already have shown this")
            .count(),
        5,
        "{text}"
    );
    let quiet = digest::run(&store, &outbox, &s, &c, next_run + 60, "after")
        .await
        .expect("a quiet digest");
    assert!(
        matches!(
            quiet,
            RunReport::Sent {
                entries: 0,
                repeated: 0,
                unreadable: 0,
                ..
            }
        ),
        "repeated once, then never again"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    killed_after_acceptance =>
    sqlite_a_digest_stopped_after_its_mail_was_accepted_is_repeated_marked,
    dynamodb_a_digest_stopped_after_its_mail_was_accepted_is_repeated_marked
);

/// A record that does not decode is counted by key, and the digest is sent.
async fn damaged_record_is_counted<S, F, Fut>(store: S, damage: F)
where
    S: Store,
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tmp");
    let outbox = Outbox {
        dir: dir.path().join("outbox"),
    };
    seed(&store, NOON - 3_600).await;
    let bad = domain::accept(
        &store,
        signup(
            "Damaged",
            "damaged@example.org",
            "92105",
            &["delivery"],
            &[],
        ),
        NOON - 60,
        KEEP,
    )
    .await
    .expect("accepted");
    let bad_case = store.cases_of(&bad.person_id).await.expect("cases")[0]
        .id
        .clone();
    damage(bad.person_id.clone()).await;
    let (s, c) = (strings("en"), config("organizers@example.org"));
    let report = digest::run(&store, &outbox, &s, &c, NOON, "run")
        .await
        .expect("the digest is sent");
    assert!(matches!(
        report,
        RunReport::Sent {
            entries: 5,
            repeated: 0,
            unreadable: 1,
            ..
        }
    ));
    let digests = digests_in(&outbox.dir);
    let (text, rows) = &digests[0];
    assert_eq!(rows.len(), 5, "every other record is in it");
    assert!(
        text.contains("- 1 record that could not be read") && text.contains(&bad.person_id),
        "counted and named by key: {text}"
    );
    assert!(!text.contains("damaged@example.org"));
    // Its request still waits in the list, by its case, for an organizer.
    let waiting = crate::cases::section(text, "Still waiting");
    assert!(
        waiting.contains("a record that could not be read") && waiting.contains(&bad_case),
        "{text}"
    );
    // It stays pending, so it is counted again until fixed; the rest are done.
    let again = digest::run(&store, &outbox, &s, &c, NOON + 60, "again")
        .await
        .expect("sent");
    assert!(matches!(
        again,
        RunReport::Sent {
            entries: 0,
            repeated: 0,
            unreadable: 1,
            ..
        }
    ));
}

#[tokio::test]
async fn sqlite_a_damaged_record_is_counted_and_the_digest_sent() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    damaged_record_is_counted(store, |id| async move {
        mutualaid_tests::stores::damage_sqlite_record(dir.path(), &id, "garbage");
    })
    .await;
}

#[tokio::test]
async fn dynamodb_a_damaged_record_is_counted_and_the_digest_sent() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "damaged-digest").await;
    damaged_record_is_counted(store, |id| async move {
        aws::damage_record(&table, &id, AttributeValue::N("7".into())).await;
    })
    .await;
}

/// What organizers read about people who share a contact, a changed phone,
/// and a record changed twice between digests.
#[tokio::test]
async fn the_digest_shows_links_contact_changes_and_changes_since_the_organizers_last_saw() {
    use crate::store_contract::person;
    use mutualaid_handler::store::Submission;
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let outbox = Outbox {
        dir: dir.path().join("outbox"),
    };
    let (s, c) = (strings("en"), config("organizers@example.org"));
    let accept = |p: mutualaid_forms::Signup, at: i64| {
        let store = store.clone();
        async move {
            domain::accept(&store, Submission::Signup(p), at, KEEP)
                .await
                .expect("accepted")
        }
    };
    let mut maria = person(
        "Maria Abuela",
        None,
        Some("+16195550199"),
        "92105",
        &["delivery"],
    );
    maria.notes = Some("diabetic, 3rd floor no elevator".into());
    accept(maria, NOON - 500).await;
    accept(mutualaid_tests::jose_on_marias_phone(), NOON - 400).await;
    accept(
        person(
            "Ana Ruiz",
            Some("ana@example.org"),
            None,
            "92105",
            &["shopper"],
        ),
        NOON - 300,
    )
    .await;
    accept(
        person(
            "Ana Ruiz",
            None,
            Some("+16195550188"),
            "92115",
            &["shopper"],
        ),
        NOON - 200,
    )
    .await;
    accept(
        person(
            "Ana Ruiz",
            Some("ana@example.org"),
            Some("+16195550188"),
            "92105",
            &["shopper"],
        ),
        NOON - 100,
    )
    .await;
    let rosa = person(
        "Rosa Marquez",
        Some("rosa@example.org"),
        Some("+16195550142"),
        "92105",
        &["delivery"],
    );
    accept(rosa.clone(), NOON - 50).await;
    digest::run(&store, &outbox, &s, &c, NOON, "day-1")
        .await
        .expect("day 1");
    let day_1 = &digests_in(&outbox.dir)[0].0;
    assert!(
        day_1.contains("⚑ shares a phone with Maria A. (92105) — a household or a borrowed phone?"),
        "{day_1}"
    );
    assert!(
        day_1.contains("⚑ shares a phone with Jose P. (92105) — a household or a borrowed phone?"),
        "{day_1}"
    );
    assert!(
        day_1.contains("new, not confirmed: +16195550188"),
        "the email's record waits on the phone the form brought, marked: {day_1}"
    );
    assert!(
        day_1.contains("⚑ same name and a phone as Ana R. (92115) — the same person twice?"),
        "and is flagged by it, as by a confirmed one: {day_1}"
    );
    assert!(
        day_1.contains("the public form brought a new email or phone for Ana R.'s sign-up"),
        "and the organizers are asked to call: {day_1}"
    );

    // Rosa changes her phone, then her ZIP, before the next digest.
    let mut new_phone = rosa.clone();
    new_phone.phone = Some("+18585550100".into());
    accept(new_phone.clone(), NOON + 100).await;
    let mut moved = new_phone;
    moved.zip = "92115".into();
    let rosa_id = accept(moved, NOON + 200).await.person_id;
    // An organizer reached her on the phone she gave first.
    let decided = mutualaid_handler::contacts::decide(
        &store,
        &rosa_id,
        None,
        mutualaid_handler::contacts::Decision::Confirm,
        mutualaid_handler::store::Actor::Cli,
        NOON + 300,
    )
    .await
    .expect("confirmed");
    assert_eq!(decided, mutualaid_handler::contacts::Decided::Done);
    digest::run(&store, &outbox, &s, &c, NOON + 86_400, "day-2")
        .await
        .expect("day 2");
    let digests = digests_in(&outbox.dir);
    let (day_2, rows) = digests.last().expect("day 2");
    assert_eq!(rows.len(), 1, "only Rosa changed: {rows:?}");
    assert_eq!(rows[0].0, "updated");
    let rosa_at = day_2.find("Rosa Marquez [updated]").expect("Rosa, updated");
    let lines: Vec<&str> = day_2[rosa_at..].lines().take(3).collect();
    assert_eq!(
        lines[1].trim(),
        "⚠ contact details changed — check with the person that it was them: phone: +16195550142 → +18585550100",
        "the changed phone first, against what the organizers last saw: {day_2}"
    );
    assert_eq!(
        lines[2].trim(),
        "changed: zip: 92105 → 92115",
        "both changes since the last digest, in one entry: {day_2}"
    );
}
