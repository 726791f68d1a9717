//! One contract for every store adapter: the same operations give the same
//! results, and concurrent submissions give exactly one record per person
//! with nothing lost.

use std::collections::BTreeMap;

use mutualaid_forms::validate::ContactMethod;
use mutualaid_forms::{Lang, Signup};
use mutualaid_handler::domain::{self, Outcome, Retention};
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{Counter, DigestState, Store, StoreError, Submission};

fn signup(email: &str, zip: &str) -> Submission {
    Submission::Signup(Signup {
        name: "Person".into(),
        email: Some(email.into()),
        phone: None,
        contact_method: ContactMethod::Email,
        zip: zip.into(),
        neighborhood: None,
        roles: vec!["shopper".into()],
        languages: vec![],
        availability: None,
        has_car: false,
        household_size: None,
        notes: None,
        lang: Lang::En,
    })
}

const KEEP: Retention = Retention { days: 30 };

/// The whole contract, against one store.
pub async fn contract<S: Store + Clone>(store: S) {
    // Created, unchanged, updated; found by email or by phone.
    let first = domain::accept(&store, signup("a@example.org", "92105"), 1_000, KEEP)
        .await
        .expect("accept");
    assert_eq!(first.status, Outcome::Created);
    let again = domain::accept(&store, signup("a@example.org", "92105"), 1_001, KEEP)
        .await
        .expect("accept");
    assert_eq!((again.status, &again.id), (Outcome::Unchanged, &first.id));
    let moved = domain::accept(&store, signup("a@example.org", "92115"), 1_002, KEEP)
        .await
        .expect("accept");
    assert_eq!((moved.status, &moved.id), (Outcome::Updated, &first.id));
    let found = store
        .find(&["signup:email:a@example.org".into()])
        .await
        .expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version, 2);
    assert_eq!(found[0].expires_at, 1_002 + 30 * 86_400);
    assert_eq!(found[0].changes[0].field, "zip");

    // A contact change moves the dedupe key: the old email is released.
    let Submission::Signup(mut with_phone) = signup("b@example.org", "92105") else {
        unreachable!()
    };
    with_phone.phone = Some("+16195550101".into());
    let b = domain::accept(&store, Submission::Signup(with_phone.clone()), 1_003, KEEP)
        .await
        .expect("b");
    with_phone.email = Some("b2@example.org".into());
    let b2 = domain::accept(&store, Submission::Signup(with_phone), 1_004, KEEP)
        .await
        .expect("b2");
    assert_eq!(
        (b2.status, &b2.id),
        (Outcome::Updated, &b.id),
        "found by phone"
    );
    assert!(
        store
            .find(&["signup:email:b@example.org".into()])
            .await
            .expect("find")
            .is_empty(),
        "old email released"
    );
    assert_eq!(
        store
            .find(&["signup:email:b2@example.org".into()])
            .await
            .expect("find")
            .len(),
        1
    );

    // Conditional writes refuse stale or taken.
    let mut stale = found[0].clone();
    stale.version = 5;
    assert!(matches!(
        store.replace(&stale, 4, &[], &[]).await,
        Err(StoreError::Conflict)
    ));
    let mut twin = found[0].clone();
    twin.id = "another".into();
    assert!(
        matches!(store.create(&twin).await, Err(StoreError::Conflict)),
        "a taken contact"
    );

    // Changes since a time, oldest first.
    let since: Vec<String> = store
        .changed_since(1_003)
        .await
        .expect("since")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(since, std::slice::from_ref(&b.id));
    assert_eq!(store.changed_since(0).await.expect("all").len(), 2);

    // Rate-limit windows and counters.
    assert_eq!(store.hit("client-1", 600, 1_200).await.expect("hit"), 1);
    assert_eq!(store.hit("client-1", 600, 1_200).await.expect("hit"), 2);
    assert_eq!(
        store.hit("client-1", 1_200, 1_800).await.expect("hit"),
        1,
        "a new window"
    );
    assert_eq!(store.hit("client-2", 600, 1_200).await.expect("hit"), 1);
    store
        .count("2026-11-25", Counter::Rejected)
        .await
        .expect("count");
    store
        .count("2026-11-26", Counter::Rejected)
        .await
        .expect("count");
    store
        .count("2026-11-27", Counter::Rejected)
        .await
        .expect("count");
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
        (
            counts[&Counter::Rejected],
            counts[&Counter::Honeypot],
            counts[&Counter::Created]
        ),
        (2, 1, 0)
    );

    // The digest state moves only from where it was.
    assert_eq!(
        store.digest_state().await.expect("read"),
        DigestState::default()
    );
    let first = DigestState {
        watermark: Some(500),
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
        watermark: Some(700),
        lease_owner: Some("run-2".into()),
        lease_until: Some(900),
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

    concurrency(&store).await;
}

/// Many tasks at once: the same person (identical and changing) and
/// different people. Exactly one record per person; every task answered.
async fn concurrency<S: Store + Clone>(store: &S) {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let same =
                domain::accept(&store, signup("same@example.org", "92105"), 2_000, KEEP).await;
            let changing = domain::accept(
                &store,
                signup("changing@example.org", &format!("921{:02}", 1 + i % 2)),
                2_000 + i,
                KEEP,
            )
            .await;
            let own = domain::accept(
                &store,
                signup(&format!("own{i}@example.org"), "92105"),
                2_000,
                KEEP,
            )
            .await;
            (same, changing, own)
        }));
    }
    let mut same_ids = std::collections::HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (same, changing, own) = task.await.expect("task");
        let same = same.expect("the same person is answered");
        same_ids.insert(same.id);
        created += usize::from(same.status == Outcome::Created);
        changing.expect("a changing person is answered");
        assert_eq!(own.expect("a new person").status, Outcome::Created);
    }
    assert_eq!(same_ids.len(), 1, "one record for one person");
    assert_eq!(created, 1, "created once, unchanged after");
    for (email, n) in [("same@example.org", 1), ("changing@example.org", 1)] {
        assert_eq!(
            store
                .find(&[format!("signup:email:{email}")])
                .await
                .expect("find")
                .len(),
            n
        );
    }
    let everyone = store.changed_since(2_000).await.expect("all");
    assert_eq!(everyone.len(), 14, "same + changing + 12 own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_meets_the_store_contract() {
    let dir = tempfile::tempdir().expect("tmp");
    contract(SqliteStore::open(&dir.path().join("db.sqlite3")).expect("open")).await;
}
