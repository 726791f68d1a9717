//! One contract for every store adapter: the same operations give the same
//! results. Who is the same person (same name as written and the same email
//! or phone) and who is not (a household on one phone, a stranger who knows
//! an email), what an update keeps, the submission log, the pending state
//! the digest reads, and concurrent writers: nobody merged, overwritten or
//! lost.

use std::collections::{BTreeMap, HashSet};

use mutualaid_forms::Signup;
use mutualaid_handler::domain::{self, Accepted, Retention};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{
    Admission, Counter, DigestState, ManifestEntry, Outcome, Person, StoreError, Submission,
};

/// The tests' sign-up builder, where the other modules have long found it.
pub use mutualaid_tests::person;

/// How long the tests keep records: 30 days.
pub const KEEP: Retention = Retention { days: 30 };

fn signup(email: &str, zip: &str) -> Submission {
    Submission::Signup(person("Person", Some(email), None, zip, &["shopper"]))
}

async fn accept<S: Store>(store: &S, s: &Signup, at: i64) -> Accepted {
    domain::accept(store, Submission::Signup(s.clone()), at, KEEP)
        .await
        .expect("accepted")
}

async fn record<S: Store>(store: &S, id: &str) -> Person {
    store
        .person(id)
        .await
        .expect("read")
        .expect("the record exists")
}

fn fields(p: &Person) -> &Signup {
    match &p.submission {
        Submission::Signup(s) => s,
        Submission::Donate(_) => panic!("a sign-up"),
    }
}

/// The whole contract, against one store.
pub async fn contract<S: Store + Clone>(store: S) {
    two_people_on_one_phone_stay_two(&store).await;
    a_stranger_who_knows_an_email_rewrites_nobody(&store).await;
    an_update_with_fewer_fields_keeps_earlier_values(&store).await;
    email_and_phone_pointing_at_two_records(&store).await;
    pending_until_reported_at_the_version_shown(&store).await;
    the_log_has_every_submission_by_reference(&store).await;
    counters_windows_and_the_digest_state(&store).await;
    concurrency(&store).await;
}

const MARIA_PHONE: &str = "+16195550199";

async fn two_people_on_one_phone_stay_two<S: Store>(store: &S) {
    let mut maria = person(
        "Maria Abuela",
        None,
        Some(MARIA_PHONE),
        "92105",
        &["delivery"],
    );
    maria.notes = Some("diabetic, 3rd floor no elevator".into());
    let m = accept(store, &maria, 1_000).await;
    assert_eq!(m.outcome, Outcome::Created);
    let jose = person(
        "Jose",
        Some("jose@example.org"),
        Some(MARIA_PHONE),
        "92105",
        &["shopper"],
    );
    let j = accept(store, &jose, 1_001).await;
    assert_eq!(
        j.outcome,
        Outcome::Created,
        "a household member is a new record"
    );
    assert_ne!(j.person_id, m.person_id);
    let maria_now = record(store, &m.person_id).await;
    assert_eq!(maria_now.version, 1, "Maria's record is untouched");
    assert_eq!(
        fields(&maria_now).notes.as_deref(),
        Some("diabetic, 3rd floor no elevator")
    );
    assert_eq!(fields(&maria_now).roles, ["delivery"]);
    // Linked by the phone, both ways.
    let sharing: Vec<String> = store
        .sharing(&[format!("signup:phone:{MARIA_PHONE}")])
        .await
        .expect("sharing")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(sharing.contains(&m.person_id) && sharing.contains(&j.person_id));

    // The same person: the same name however it is typed, and the same phone.
    let again = accept(store, &maria, 1_002).await;
    assert_eq!(
        (again.outcome, &again.person_id),
        (Outcome::Unchanged, &m.person_id)
    );
    assert_ne!(again.reference, m.reference, "a reference per submission");
    let mut retyped = maria.clone();
    retyped.name = "  MARIA   abuela ".into();
    let retyped = accept(store, &retyped, 1_003).await;
    assert_eq!(
        (retyped.outcome, &retyped.person_id),
        (Outcome::Updated, &m.person_id),
        "case and spaces do not make another person"
    );
}

async fn a_stranger_who_knows_an_email_rewrites_nobody<S: Store>(store: &S) {
    let mut rosa = person(
        "Rosa Marquez",
        Some("rosa@example.org"),
        Some("+16195550142"),
        "92105",
        &["delivery"],
    );
    rosa.notes = Some("gluten free".into());
    let r = accept(store, &rosa, 2_000).await;
    let before = record(store, &r.person_id).await;

    let stranger = person(
        "Someone Else",
        Some("rosa@example.org"),
        None,
        "92113",
        &["delivery"],
    );
    let s = accept(store, &stranger, 2_001).await;
    assert_eq!(
        s.outcome,
        Outcome::Created,
        "a new record, linked by the email"
    );
    assert_ne!(s.person_id, r.person_id);
    assert_eq!(
        record(store, &r.person_id).await,
        before,
        "Rosa's record is as it was"
    );
    // Her phone is still hers: a later post with it is another new record.
    let other = person(
        "Third Person",
        None,
        Some("+16195550142"),
        "92101",
        &["shopper"],
    );
    let t = accept(store, &other, 2_002).await;
    assert_eq!(t.outcome, Outcome::Created);
    assert_eq!(record(store, &r.person_id).await, before);
    let holders = store
        .holders(&Submission::Signup(rosa.clone()).identity_keys())
        .await
        .expect("holders");
    assert_eq!(holders.len(), 2, "both of Rosa's identity keys");
    assert!(holders.iter().all(|(_, p)| p.id == r.person_id));
}

async fn an_update_with_fewer_fields_keeps_earlier_values<S: Store>(store: &S) {
    let mut full = person(
        "Lupe Ortiz",
        Some("lupe@example.org"),
        Some("+16195550177"),
        "92105",
        &["delivery"],
    );
    full.neighborhood = Some("City Heights".into());
    full.languages = vec!["es".into()];
    full.notes = Some("call after 5".into());
    full.household_size = Some(4);
    let first = accept(store, &full, 3_000).await;

    // The same again with only email, ZIP and role: nothing erased, nothing changed.
    let fewer = person(
        "Lupe Ortiz",
        Some("lupe@example.org"),
        None,
        "92105",
        &["delivery"],
    );
    let same = accept(store, &fewer, 3_001).await;
    assert_eq!(
        (same.outcome, &same.person_id),
        (Outcome::Unchanged, &first.person_id)
    );
    let kept = record(store, &first.person_id).await;
    assert_eq!(kept.version, 1);
    assert_eq!(kept.updated_at, 3_000, "identical content writes nothing");

    // A new ZIP with fewer fields: the ZIP changes, the rest stays.
    let mut moved = fewer.clone();
    moved.zip = "92115".into();
    let updated = accept(store, &moved, 3_002).await;
    assert_eq!(updated.outcome, Outcome::Updated);
    let now = record(store, &first.person_id).await;
    let s = fields(&now);
    assert_eq!(s.zip, "92115");
    assert_eq!(s.phone.as_deref(), Some("+16195550177"));
    assert_eq!(s.neighborhood.as_deref(), Some("City Heights"));
    assert_eq!(s.languages, ["es"]);
    assert_eq!(s.notes.as_deref(), Some("call after 5"));
    assert_eq!(s.household_size, Some(4));
    assert_eq!((now.version, now.updated_at), (2, 3_002));
    assert_eq!(
        now.expires_at,
        3_002 + 30 * 86_400,
        "expiry from the last change"
    );
    let seen = store
        .version(&first.person_id, 1)
        .await
        .expect("version")
        .expect("version 1 is kept");
    assert_eq!(seen, Submission::Signup(full), "earlier versions are kept");
}

async fn email_and_phone_pointing_at_two_records<S: Store>(store: &S) {
    let by_email = accept(
        store,
        &person(
            "Ana Ruiz",
            Some("ana.r@example.org"),
            None,
            "92105",
            &["shopper"],
        ),
        4_000,
    )
    .await;
    let by_phone = accept(
        store,
        &person(
            "Ana Ruiz",
            None,
            Some("+16195550188"),
            "92105",
            &["shopper"],
        ),
        4_001,
    )
    .await;
    assert_ne!(
        by_email.person_id, by_phone.person_id,
        "no shared contact yet"
    );
    let phone_record = record(store, &by_phone.person_id).await;
    let both = accept(
        store,
        &person(
            "Ana Ruiz",
            Some("ana.r@example.org"),
            Some("+16195550188"),
            "92115",
            &["shopper"],
        ),
        4_002,
    )
    .await;
    assert_eq!(
        (both.outcome, &both.person_id),
        (Outcome::Updated, &by_email.person_id),
        "the email's record is updated"
    );
    assert_eq!(
        record(store, &by_phone.person_id).await,
        phone_record,
        "the phone's record is left as it was"
    );
    let updated = record(store, &by_email.person_id).await;
    assert_eq!(
        (
            fields(&updated).phone.as_deref(),
            updated
                .pending_contact
                .as_ref()
                .and_then(|p| p.phone.as_deref())
        ),
        (None, Some("+16195550188")),
        "a phone the record did not have waits, not confirmed"
    );
    let decided = mutualaid_handler::contacts::decide(
        store,
        &by_email.person_id,
        None,
        mutualaid_handler::contacts::Decision::Confirm,
        mutualaid_handler::store::Actor::Cli,
        4_003,
    )
    .await
    .expect("confirm");
    assert_eq!(decided, mutualaid_handler::contacts::Decided::Done);
    let updated = record(store, &by_email.person_id).await;
    assert_eq!(fields(&updated).phone.as_deref(), Some("+16195550188"));
    assert_eq!(updated.pending_contact, None);
    assert_eq!(
        record(store, &by_phone.person_id).await,
        phone_record,
        "the phone's record is left as it was, after confirming too"
    );
    assert_eq!(
        updated.identities.len(),
        1,
        "the phone's identity key stays with the record that held it"
    );
    let sharing: HashSet<String> = store
        .sharing(&["signup:phone:+16195550188".to_owned()])
        .await
        .expect("sharing")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(
        sharing,
        HashSet::from([by_email.person_id.clone(), by_phone.person_id.clone()]),
        "linked by the phone, for the digest to flag"
    );
}

fn reported(id: &str, version: u64) -> [ManifestEntry; 1] {
    [ManifestEntry {
        id: id.to_owned(),
        version,
        may_repeat: false,
    }]
}

async fn pending_until_reported_at_the_version_shown<S: Store>(store: &S) {
    let pending_ids = |scan: mutualaid_handler::store::Scan| -> Vec<String> {
        scan.people.into_iter().map(|p| p.id).collect()
    };
    let a = domain::accept(store, signup("pending@example.org", "92105"), 5_000, KEEP)
        .await
        .expect("a");
    assert!(
        pending_ids(store.pending().await.expect("pending")).contains(&a.person_id),
        "a new record is pending"
    );
    store
        .mark_reported(&reported(&a.person_id, 1))
        .await
        .expect("mark");
    assert!(!pending_ids(store.pending().await.expect("pending")).contains(&a.person_id));
    let p = record(store, &a.person_id).await;
    assert_eq!((p.version, p.reported_version), (1, 1));

    // Written again, then a digest that showed version 2 is accepted after version 3 was written.
    domain::accept(store, signup("pending@example.org", "92115"), 5_001, KEEP)
        .await
        .expect("v2");
    domain::accept(store, signup("pending@example.org", "92113"), 5_002, KEEP)
        .await
        .expect("v3");
    store
        .mark_reported(&reported(&a.person_id, 2))
        .await
        .expect("mark 2");
    let p = record(store, &a.person_id).await;
    assert_eq!((p.version, p.reported_version), (3, 2));
    assert!(
        pending_ids(store.pending().await.expect("pending")).contains(&a.person_id),
        "written again meanwhile: still pending"
    );
    // Never down; a record that is gone is left alone.
    store
        .mark_reported(&reported(&a.person_id, 1))
        .await
        .expect("mark 1");
    assert_eq!(record(store, &a.person_id).await.reported_version, 2);
    store
        .mark_reported(&reported("no-such-record", 1))
        .await
        .expect("a record gone is no error");
    assert!(
        store
            .person("no-such-record")
            .await
            .expect("read")
            .is_none()
    );
    store
        .mark_reported(&reported(&a.person_id, 3))
        .await
        .expect("mark 3");
    assert!(!pending_ids(store.pending().await.expect("pending")).contains(&a.person_id));
}

async fn the_log_has_every_submission_by_reference<S: Store>(store: &S) {
    let mut answers = Vec::new();
    for (zip, at) in [("92105", 6_000), ("92105", 6_001), ("92115", 6_002)] {
        answers.push(
            domain::accept(store, signup("logged@example.org", zip), at, KEEP)
                .await
                .expect("logged"),
        );
    }
    let log = store.submissions().await.expect("log");
    let outcomes: Vec<(Outcome, u64)> = answers
        .iter()
        .map(|a| {
            let entry = log
                .iter()
                .find(|e| e.reference == a.reference)
                .unwrap_or_else(|| panic!("reference {} is in the log", a.reference));
            assert_eq!(entry.person_id, answers[0].person_id);
            (entry.outcome, entry.version)
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Created, 1),
            (Outcome::Unchanged, 1),
            (Outcome::Updated, 2)
        ]
    );
    let references: HashSet<&str> = log.iter().map(|e| e.reference.as_str()).collect();
    assert_eq!(references.len(), log.len(), "references are unique");
}

async fn counters_windows_and_the_digest_state<S: Store>(store: &S) {
    // The rate limit slides (issue 24): 30 just before a 10-minute boundary
    // and 30 just after are not 60 — the second 30 wait until the first
    // leave the window, whatever the clock's boundaries.
    let boundary = 1_800;
    for i in 0..30 {
        let admitted = store
            .admit("client-1", boundary - 3 + i % 2, 30, 600)
            .await
            .expect("admit");
        assert!(
            matches!(admitted, Admission::Admitted(_)),
            "{i}: {admitted:?}"
        );
    }
    for i in 0..30 {
        let at = boundary + 2 + i % 3;
        let limited = store.admit("client-1", at, 30, 600).await.expect("admit");
        assert!(
            matches!(limited, Admission::Limited { retry_after } if retry_after == boundary - 3 + 600 - at),
            "{i}: {limited:?}"
        );
    }
    // Another client is another ring; and after the window, room again.
    assert!(matches!(
        store
            .admit("client-2", boundary, 30, 600)
            .await
            .expect("admit"),
        Admission::Admitted(_)
    ));
    assert!(matches!(
        store
            .admit("client-1", boundary - 2 + 600, 30, 600)
            .await
            .expect("admit"),
        Admission::Admitted(_)
    ));
    for day in ["2026-11-25", "2026-11-26", "2026-11-27"] {
        store.count(day, Counter::Rejected).await.expect("count");
    }
    store
        .count("2026-11-26", Counter::Honeypot)
        .await
        .expect("count");
    let counts: BTreeMap<Counter, u64> = store
        .counts("2026-11-26", "2026-11-27")
        .await
        .expect("counts")
        .into_iter()
        .collect();
    assert_eq!(
        (counts[&Counter::Rejected], counts[&Counter::Honeypot]),
        (2, 1)
    );

    // The digest state moves only from where it was, manifest and all.
    assert_eq!(
        store.digest_state().await.expect("read"),
        DigestState::default()
    );
    let first = DigestState {
        last_sent: Some(500),
        version: 1,
        ..DigestState::default()
    };
    store
        .put_digest_state(&first, 0)
        .await
        .expect("first digest");
    assert!(
        matches!(
            store.put_digest_state(&first, 0).await,
            Err(StoreError::Conflict)
        ),
        "already written"
    );
    let next = DigestState {
        last_sent: Some(700),
        lease_owner: Some("run-2".into()),
        lease_until: Some(900),
        manifest: vec![ManifestEntry {
            id: "some-record".into(),
            version: 3,
            may_repeat: true,
        }],
        manifest_accepted: true,
        reported_actions: vec!["an-action".into()],
        version: 2,
    };
    assert!(
        matches!(
            store.put_digest_state(&next, 5).await,
            Err(StoreError::Conflict)
        ),
        "stale"
    );
    store.put_digest_state(&next, 1).await.expect("next digest");
    assert_eq!(store.digest_state().await.expect("read"), next);
}

/// Many tasks at once: one person sending the same thing, one person
/// changing, a household of twelve on one phone, and twelve strangers.
/// Exactly one record per person; every submission answered and logged.
async fn concurrency<S: Store + Clone>(store: &S) {
    // One client's twelve requests at once, three places left: three
    // admitted, never more, and each one admitted is remembered.
    for at in 0..7 {
        let admitted = store
            .admit("burst", 50_000 + at, 10, 600)
            .await
            .expect("admit");
        assert!(matches!(admitted, Admission::Admitted(_)));
    }
    let burst: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.admit("burst", 50_010, 10, 600).await })
        })
        .collect();
    let mut admitted = 0;
    for task in burst {
        if let Admission::Admitted(_) = task.await.expect("task").expect("admit") {
            admitted += 1;
        }
    }
    assert!(
        (1..=3).contains(&admitted),
        "{admitted} of the last three places"
    );
    let ring = store.rate_ring("burst").await.expect("ring");
    assert_eq!(ring.times.len(), 7 + admitted, "{ring:?}");

    let before = store.submissions().await.expect("log").len();
    let mut tasks = Vec::new();
    for i in 0..12_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let same = person(
                "Same Person",
                Some("same@example.org"),
                None,
                "92105",
                &["shopper"],
            );
            let mut changing = person(
                "Changing",
                Some("changing@example.org"),
                None,
                "92105",
                &["shopper"],
            );
            changing.zip = format!("921{:02}", 1 + i % 2);
            let household = person(
                &format!("Member {i}"),
                None,
                Some("+16195550111"),
                "92105",
                &["delivery"],
            );
            let own = person(
                "Own",
                Some(&format!("own{i}@example.org")),
                None,
                "92105",
                &["shopper"],
            );
            let mut out = Vec::new();
            for s in [same, changing, household, own] {
                out.push(domain::accept(&store, Submission::Signup(s), 9_000 + i, KEEP).await);
            }
            out
        }));
    }
    let mut answers: Vec<Vec<Accepted>> = vec![Vec::new(); 4];
    for task in tasks {
        for (kind, answer) in task.await.expect("task").into_iter().enumerate() {
            answers[kind].push(answer.expect("every submission is answered"));
        }
    }
    let ids = |kind: usize| -> HashSet<String> {
        answers[kind].iter().map(|a| a.person_id.clone()).collect()
    };
    let created = |kind: usize| {
        answers[kind]
            .iter()
            .filter(|a| a.outcome == Outcome::Created)
            .count()
    };
    assert_eq!(
        (ids(0).len(), created(0)),
        (1, 1),
        "one record for one person"
    );
    assert_eq!(
        (ids(1).len(), created(1)),
        (1, 1),
        "one record for one person"
    );
    assert_eq!(
        (ids(2).len(), created(2)),
        (12, 12),
        "a household of twelve on one phone: twelve records"
    );
    assert_eq!((ids(3).len(), created(3)), (12, 12), "twelve strangers");
    let sharing = store
        .sharing(&["signup:phone:+16195550111".to_owned()])
        .await
        .expect("sharing");
    assert_eq!(sharing.len(), 12);
    let log = store.submissions().await.expect("log");
    assert_eq!(log.len() - before, 48, "every submission logged once");
    let everyone = store.everyone().await.expect("all");
    assert!(everyone.unreadable.is_empty());
    for kind in 0..4 {
        for id in ids(kind) {
            assert!(everyone.people.iter().any(|p| p.id == id), "{id} is stored");
        }
    }
}

/// A record damaged in the store (`damage` breaks it): every read of many
/// records names it and returns all the others.
pub async fn a_damaged_record_is_named_and_the_rest_read<S, F, Fut>(store: &S, damage: F)
where
    S: Store,
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let good = domain::accept(store, signup("good@example.org", "92105"), 7_000, KEEP)
        .await
        .expect("good");
    let bad = domain::accept(store, signup("bad@example.org", "92105"), 7_001, KEEP)
        .await
        .expect("bad");
    damage(bad.person_id.clone()).await;
    for scan in [
        store.everyone().await.expect("everyone"),
        store.pending().await.expect("pending"),
    ] {
        assert_eq!(scan.unreadable, std::slice::from_ref(&bad.person_id));
        assert!(scan.people.iter().any(|p| p.id == good.person_id));
    }
    assert!(matches!(
        store.person(&bad.person_id).await,
        Err(StoreError::Unreadable { key }) if key == bad.person_id
    ));
    // Its owner's next submission cannot be decided on: 503, nothing claimed.
    assert!(
        domain::accept(store, signup("bad@example.org", "92105"), 7_002, KEEP)
            .await
            .is_err()
    );
    // Anyone else is served as usual.
    domain::accept(store, signup("after@example.org", "92105"), 7_003, KEEP)
        .await
        .expect("others are served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_meets_the_store_contract() {
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    contract(store).await;
}

#[tokio::test]
async fn sqlite_names_a_damaged_record_and_reads_the_rest() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    a_damaged_record_is_named_and_the_rest_read(&store, |id| async move {
        let bad = "{\"not\": \"a record\"";
        mutualaid_tests::stores::damage_sqlite_record(dir.path(), &id, bad);
    })
    .await;
}

#[tokio::test]
async fn a_database_of_the_first_schema_is_migrated_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("db.sqlite3");
    {
        let conn = rusqlite::Connection::open(&file).expect("open");
        conn.execute_batch(
            "CREATE TABLE people (id TEXT PRIMARY KEY, record TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
             CREATE INDEX people_by_change ON people (updated_at);
             CREATE TABLE contacts (contact TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE);
             CREATE TABLE hits (client TEXT NOT NULL, window_start INTEGER NOT NULL, n INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (client, window_start));
             CREATE TABLE digest_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, version INTEGER NOT NULL);
             CREATE TABLE counters (day TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, name));
             INSERT INTO digest_state VALUES (1, '{\"watermark\":1500,\"lease_owner\":null,\"lease_until\":null,\"version\":3}', 3);",
        )
        .expect("the first schema");
        for (id, name, email, at) in [
            ("old-1", "Reported Before", "before@example.org", 1_000),
            ("old-2", "Changed After", "after@example.org", 2_000),
        ] {
            let record = serde_json::json!({
                "id": id,
                "submission": {"form": "signup", "name": name, "email": email, "phone": null,
                    "contact_method": "email", "zip": "92105", "neighborhood": null, "roles": ["shopper"],
                    "languages": [], "availability": null, "has_car": false, "household_size": null,
                    "notes": null, "lang": "en"},
                "contacts": [format!("signup:email:{email}")],
                "created_at": at, "updated_at": at, "version": 1, "changes": [], "expires_at": at + 86_400,
            });
            conn.execute(
                "INSERT INTO people VALUES (?1, ?2, 1, ?3, ?4)",
                rusqlite::params![id, record.to_string(), at, at + 86_400],
            )
            .expect("a record");
            conn.execute(
                "INSERT INTO contacts VALUES (?1, ?2)",
                rusqlite::params![format!("signup:email:{email}"), id],
            )
            .expect("a contact");
        }
    }
    let store = SqliteStore::open(&file).expect("migrated");
    let everyone = store.everyone().await.expect("read");
    assert_eq!(everyone.people.len(), 2);
    let pending: Vec<String> = store
        .pending()
        .await
        .expect("pending")
        .people
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        pending,
        ["old-2"],
        "only what changed after the old watermark is pending"
    );
    assert_eq!(
        store.digest_state().await.expect("state").last_sent,
        Some(1_500)
    );
    // The same person is recognized after the migration.
    let again = domain::accept(
        &store,
        Submission::Signup(person(
            "Reported Before",
            Some("before@example.org"),
            None,
            "92105",
            &["shopper"],
        )),
        3_000,
        KEEP,
    )
    .await
    .expect("accepted");
    assert_eq!(
        (again.outcome, again.person_id.as_str()),
        (Outcome::Unchanged, "old-1")
    );
    drop(store);
    SqliteStore::open(&file).expect("opens again, already migrated");
}
