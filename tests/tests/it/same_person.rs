//! Issue 23, part 1: the same person is the same name **as written** and the
//! same email or phone. Two people whose names differ in a vowel sign, a
//! Vietnamese tone or a Spanish tilde are two records, never one; case and
//! spaces make no second person. Records keyed by the rule before (accents
//! removed) are found and re-keyed — SQLite when it opens, DynamoDB by the
//! digest function's job — and a stranger whose name only matches without
//! accents rewrites nobody; a record the old rule folded under two names is
//! listed in the next digest. On both stores.

use mutualaid_forms::{FormId, Signup};
use mutualaid_handler::domain::{self, Accepted};
use mutualaid_handler::store::dynamo::DynamoStore;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{LogEntry, Outcome, Person, Submission, SubmissionWrite};
use mutualaid_tests::{on_both_stores, person};

use crate::store_contract::KEEP;

const PHONE: &str = "+16195550150";

async fn accept<S: Store>(store: &S, s: &Signup, at: i64) -> Accepted {
    domain::accept(store, Submission::Signup(s.clone()), at, KEEP)
        .await
        .expect("accepted")
}

async fn record<S: Store>(store: &S, id: &str) -> Person {
    store.person(id).await.expect("read").expect("on record")
}

fn roles(p: &Person) -> Vec<&'static str> {
    match &p.submission {
        Submission::Signup(s) => s.roles.iter().map(|r| r.as_str()).collect(),
        Submission::Donate(_) => panic!("a sign-up"),
    }
}

/// Two sign-ups on one contact; returns both answers.
async fn pair<S: Store>(store: &S, first: &Signup, second: &Signup) -> (Accepted, Accepted) {
    let a = accept(store, first, 1_000).await;
    let b = accept(store, second, 1_001).await;
    (a, b)
}

async fn names_are_compared_as_written<S: Store>(store: S) {
    // Ram and Rama on one phone: the vowel signs are the names.
    let ram = person("राम कुमार", None, Some(PHONE), "92105", &["delivery"]);
    let rama = person("रमा कुमारी", None, Some(PHONE), "92105", &["money"]);
    let (r, m) = pair(&store, &ram, &rama).await;
    assert_eq!((r.outcome, m.outcome), (Outcome::Created, Outcome::Created));
    assert_ne!(r.person_id, m.person_id, "two people, two records");
    let ram_now = record(&store, &r.person_id).await;
    assert_eq!(
        (ram_now.submission.name(), roles(&ram_now), ram_now.version),
        ("राम कुमार", vec!["delivery"], 1),
        "Ram's record is his own, untouched"
    );

    // Hùng and Hưng on one phone.
    let phone = "+16195550151";
    let hung = person("Nguyễn Văn Hùng", None, Some(phone), "92105", &["shopper"]);
    let hu_ng = person("Nguyễn Văn Hưng", None, Some(phone), "92105", &["delivery"]);
    let (a, b) = pair(&store, &hung, &hu_ng).await;
    assert_eq!((a.outcome, b.outcome), (Outcome::Created, Outcome::Created));
    assert_ne!(a.person_id, b.person_id);
    assert_eq!(roles(&record(&store, &a.person_id).await), ["shopper"]);

    // María García and Maria Garcia on one email: two records.
    let email = Some("garcia@example.org");
    let maria = person("María García", email, None, "92105", &["delivery"]);
    let plain = person("Maria Garcia", email, None, "92105", &["shopper"]);
    let (a, b) = pair(&store, &maria, &plain).await;
    assert_eq!((a.outcome, b.outcome), (Outcome::Created, Outcome::Created));
    assert_eq!(
        record(&store, &a.person_id).await.submission.name(),
        "María García"
    );

    // Case and spaces only: one person.
    let shouted = person("MARÍA  garcía", email, None, "92105", &["delivery"]);
    let again = accept(&store, &shouted, 1_002).await;
    assert_eq!(
        (again.outcome, &again.person_id),
        (Outcome::Updated, &a.person_id),
        "the same name in capitals with two spaces is María"
    );
    assert_eq!(store.everyone().await.expect("read").people.len(), 6);
}

on_both_stores!(
    #[tokio::test]
    names_are_compared_as_written => sqlite_names_are_compared_as_written,
        dynamodb_names_are_compared_as_written
);

/// A record as the rule before issue 23 stored it: its identity keys the
/// legacy ones (accents removed).
async fn stored_the_old_way<S: Store>(store: &S, id: &str, s: &Signup, at: i64) -> Person {
    let submission = Submission::Signup(s.clone());
    let person = Person {
        id: id.into(),
        identities: submission.legacy_identity_keys(),
        submission,
        created_at: at,
        updated_at: at,
        version: 1,
        reported_version: 0,
        expires_at: at + 30 * 86_400,
        former_contacts: Vec::new(),
        pending_contact: None,
        verified_email: None,
    };
    let log = LogEntry {
        reference: domain::new_reference(),
        person_id: id.into(),
        at,
        form: FormId::Signup,
        outcome: Outcome::Created,
        version: 1,
    };
    let write = SubmissionWrite {
        person: &person,
        log: &log,
        new_cases: &[],
        standing: None,
        receipt: None,
        notice: None,
        security: None,
    };
    store
        .carry_out(&mutualaid_handler::store::plan::create(write))
        .await
        .expect("stored the old way");
    person
}

/// As the rule before issue 23 kept it: María García, then Maria Garcia on
/// her email, folded into her record (one legacy key for both names).
async fn folded_the_old_way<S: Store>(store: &S, at: i64) {
    let first = stored_the_old_way(store, "folded", &maria(None), at).await;
    let submission = Submission::Signup(person(
        "Maria Garcia",
        Some("maria.old@example.org"),
        None,
        "92105",
        &["shopper"],
    ));
    assert_eq!(
        submission.legacy_identity_keys(),
        first.identities,
        "one person under the old rule"
    );
    let second = Person {
        submission,
        updated_at: at + 60,
        version: 2,
        ..first.clone()
    };
    let log = LogEntry {
        reference: domain::new_reference(),
        person_id: second.id.clone(),
        at: at + 60,
        form: FormId::Signup,
        outcome: Outcome::Updated,
        version: 2,
    };
    let write = SubmissionWrite {
        person: &second,
        log: &log,
        new_cases: &[],
        standing: None,
        receipt: None,
        notice: None,
        security: None,
    };
    store
        .carry_out(&mutualaid_handler::store::plan::update(write, &first))
        .await
        .expect("folded the old way");
}

/// The next digest lists the folded record once, with both names.
async fn listed_once_in_the_next_digest<S: Store>(store: &S) {
    let now = mutualaid_handler::clock::system_clock();
    let dir = tempfile::tempdir().expect("tmp");
    let text = |raw: Vec<u8>| {
        mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("MIME")
            .body_text(0)
            .expect("text")
            .into_owned()
    };
    let first = text(crate::digest::to_outbox(store, dir.path(), now + 60).await);
    let listed = crate::cases::section(&first, "Sent under two names (1)");
    assert!(
        listed.contains("Maria Garcia (92105 ")
            && listed.contains("sent under two names: María García, Maria Garcia"),
        "{first}"
    );
    let next = text(crate::digest::to_outbox(store, dir.path(), now + 86_400).await);
    assert!(!next.contains("Sent under two names"), "once: {next}");
}

fn maria(notes: Option<&str>) -> Signup {
    Signup {
        notes: notes.map(Into::into),
        ..person(
            "María García",
            Some("maria.old@example.org"),
            None,
            "92105",
            &["delivery"],
        )
    }
}

/// María, stored the old way and re-keyed (or about to be), sends the form
/// again: her record is updated, not duplicated, and holds today's keys; a
/// stranger whose name is hers without the accents is a record of their own.
async fn the_same_person_again_and_a_stranger<S: Store>(store: &S, id: &str) {
    let again = accept(store, &maria(Some("no stairs")), 2_000).await;
    assert_eq!(
        (again.outcome, again.person_id.as_str()),
        (Outcome::Updated, id),
        "the same person sent again: updated, not a new record"
    );
    let now = record(store, id).await;
    let strict = now.submission.identity_keys();
    assert_eq!(now.identities, strict, "holds today's keys");
    let stranger = person(
        "Maria Garcia",
        Some("maria.old@example.org"),
        None,
        "92105",
        &["shopper"],
    );
    let other = accept(store, &stranger, 2_001).await;
    assert_eq!(other.outcome, Outcome::Created);
    assert_ne!(other.person_id, id);
    let after = record(store, id).await;
    assert_eq!(
        (after.version, after.submission.name(), roles(&after)),
        (2, "María García", vec!["delivery"]),
        "María untouched by the stranger"
    );
}

#[tokio::test]
async fn sqlite_re_keys_records_of_the_old_rule_when_it_opens() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("db.sqlite3");
    {
        let store = SqliteStore::open(&file).expect("open");
        stored_the_old_way(&store, "old-maria", &maria(None), 1_000).await;
        // As a store of schema 3 (before the re-keying) left it.
        let conn = rusqlite::Connection::open(&file).expect("open");
        conn.execute_batch("PRAGMA user_version = 3;")
            .expect("schema 3");
    }
    let store = SqliteStore::open(&file).expect("re-keyed as it opens");
    assert!(!store.may_hold_legacy_identities().await.expect("read"));
    let rekeyed = record(&store, "old-maria").await;
    assert_eq!(rekeyed.identities, rekeyed.submission.identity_keys());
    assert_eq!(rekeyed.version, 1, "re-keying is no change of the person's");
    the_same_person_again_and_a_stranger(&store, "old-maria").await;
    assert_eq!(store.everyone().await.expect("read").people.len(), 2);
}

#[tokio::test]
async fn dynamodb_finds_records_of_the_old_rule_before_the_job_and_after_it() {
    use mutualaid_handler::store::dynamo::DynamoStore;
    let Some(endpoint) = mutualaid_tests::aws::moto() else {
        return;
    };
    let (store, table) =
        mutualaid_tests::stores::dynamodb_table_before_rekeying(&endpoint, "old_keys").await;
    stored_the_old_way(&store, "old-maria", &maria(None), 1_000).await;
    let pena = person("Ana Peña", None, Some(PHONE), "92105", &["money"]);
    stored_the_old_way(&store, "old-pena", &pena, 1_000).await;
    assert!(store.may_hold_legacy_identities().await.expect("read"));

    // Before the job: the lookup tries the old key too.
    the_same_person_again_and_a_stranger(&store, "old-maria").await;

    // The job re-keys what is left, and a second run finds nothing to do.
    assert_eq!(store.rekey_identities(3_000).await.expect("job"), 1, "Ana");
    assert_eq!(store.rekey_identities(3_000).await.expect("again"), 0);
    let fresh = DynamoStore::new(mutualaid_tests::aws::dynamo(&endpoint).await, &table);
    assert!(
        !fresh.may_hold_legacy_identities().await.expect("read"),
        "the job marked itself done"
    );
    let ana = record(&fresh, "old-pena").await;
    assert_eq!(ana.identities, ana.submission.identity_keys());
    let again = accept(&fresh, &pena, 3_000).await;
    assert_eq!(
        (again.outcome, again.person_id.as_str()),
        (Outcome::Unchanged, "old-pena"),
        "after the job: found by today's key"
    );
    assert_eq!(fresh.everyone().await.expect("read").people.len(), 3);
}

/// A SQLite file in `dir` holding a record folded the old way, opened
/// (re-keyed as it opens).
async fn folded_in_sqlite(dir: &std::path::Path) -> SqliteStore {
    let file = dir.join("db.sqlite3");
    {
        let store = SqliteStore::open(&file).expect("open");
        folded_the_old_way(&store, 1_000).await;
        let conn = rusqlite::Connection::open(&file).expect("open");
        conn.execute_batch("PRAGMA user_version = 3;")
            .expect("schema 3");
    }
    SqliteStore::open(&file).expect("re-keyed as it opens")
}

/// A DynamoDB table on moto (`endpoint`) holding a record folded the old
/// way, re-keyed by the job; the store and the table's name.
async fn folded_in_dynamodb(endpoint: &str, what: &str) -> (DynamoStore, String) {
    let (store, table) =
        mutualaid_tests::stores::dynamodb_table_before_rekeying(endpoint, what).await;
    folded_the_old_way(&store, 1_000).await;
    let now = mutualaid_handler::clock::system_clock();
    assert_eq!(store.rekey_identities(now).await.expect("job"), 1);
    (store, table)
}

#[tokio::test]
async fn sqlite_lists_a_record_the_old_rule_folded_under_two_names() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = folded_in_sqlite(dir.path()).await;
    listed_once_in_the_next_digest(&store).await;
}

#[tokio::test]
async fn dynamodb_lists_a_record_the_old_rule_folded_under_two_names() {
    let Some(endpoint) = mutualaid_tests::aws::moto() else {
        return;
    };
    let (store, _) = folded_in_dynamodb(&endpoint, "folded").await;
    listed_once_in_the_next_digest(&store).await;
}

/// The folded record's second version no longer decodes: the digest is
/// sent all the same, and lists no second name it cannot read.
async fn a_damaged_version_never_stops_the_digest<S: Store>(store: &S) {
    let now = mutualaid_handler::clock::system_clock();
    let dir = tempfile::tempdir().expect("tmp");
    let raw = crate::digest::to_outbox(store, dir.path(), now + 60).await;
    let text = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME")
        .body_text(0)
        .expect("text")
        .into_owned();
    assert!(text.contains("Maria Garcia"), "{text}");
    assert!(!text.contains("Sent under two names"), "{text}");
}

#[tokio::test]
async fn sqlite_a_damaged_version_never_stops_the_digest() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = folded_in_sqlite(dir.path()).await;
    rusqlite::Connection::open(dir.path().join("db.sqlite3"))
        .expect("open")
        .execute(
            "UPDATE versions SET submission = 'garbage' WHERE version = 2",
            [],
        )
        .expect("damage");
    a_damaged_version_never_stops_the_digest(&store).await;
}

#[tokio::test]
async fn dynamodb_a_damaged_version_never_stops_the_digest() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use mutualaid_handler::store::dynamo::{PARTITION_KEY, SORT_KEY};
    let Some(endpoint) = mutualaid_tests::aws::moto() else {
        return;
    };
    let (store, table) = folded_in_dynamodb(&endpoint, "folded-damaged").await;
    let folded = store.everyone().await.expect("read").people[0].id.clone();
    mutualaid_tests::aws::dynamo(&endpoint)
        .await
        .update_item()
        .table_name(&table)
        .key(PARTITION_KEY, AttributeValue::S(format!("PERSON#{folded}")))
        .key(SORT_KEY, AttributeValue::S(format!("V#{:010}", 2)))
        .update_expression("SET submission = :bad")
        .expression_attribute_values(":bad", AttributeValue::S("garbage".into()))
        .send()
        .await
        .expect("damage");
    a_damaged_version_never_stops_the_digest(&store).await;
}
