//! Issue 25, "rights from calls", the static layer: each Lambda's DynamoDB
//! rights in `infra/template.yaml` follow from what its code calls. The
//! paths each function runs — `submit`: sign-ups and every organizer's
//! button (Confirm, Decline, Pause, Merge, Undo merge, Close…), page and
//! press; `digest`: digests, the upkeep before them, a deletion — run on
//! DynamoDB (moto) through a client that records every call as IAM
//! authorises it ([`mutualaid_tests::calls`]); every call must be allowed
//! by a statement of that function's policy (action, table or index,
//! leading key), and every right the policy grants must be called.
//!
//! What this cannot see: a path no test runs (the paths are the
//! functions' whole surface today: the router's routes and the digest's
//! events); and conditions other than `dynamodb:LeadingKeys`.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::Client;
use mutualaid_handler::erase::{self, Contact};
use mutualaid_handler::links::LinkKeys;
use mutualaid_handler::store::Submission;
use mutualaid_handler::store::dynamo::DynamoStore;
use mutualaid_tests::calls::{Call, CallLog, Policy, Resource};
use mutualaid_tests::{aws, stores};

use crate::case_links::{
    at_noon_next_day, digest_config, digest_html, get, press, rosa_twice, router, seed,
};
use crate::digest::NOON;
use crate::store_contract::{KEEP, person};

fn template() -> serde_norway::Value {
    let text = std::fs::read_to_string(mutualaid_tests::workspace().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    serde_norway::from_str(&text).expect("YAML")
}

/// A new table on moto, and a store on it whose every call is recorded.
async fn recording_store(endpoint: &str, what: &str) -> (DynamoStore, CallLog) {
    let (_, table) = stores::dynamodb_table(endpoint, what).await;
    let log = CallLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&aws::sdk_config(endpoint).await)
        .interceptor(log.clone())
        .build();
    let store = DynamoStore::new(Client::from_conf(config), &table).with_retention(KEEP.days);
    (store, log)
}

/// Every distinct organizer's action the digest links to (`a=…`).
fn actions_linked(html: &str) -> BTreeSet<String> {
    html.split("a=")
        .skip(1)
        .filter_map(|rest| rest.split(['&', '"']).next())
        .map(str::to_owned)
        .collect()
}

/// The first link of `action` in `html`, as a path on the handler.
fn link_of(html: &str, action: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    doc.select(&crate::sel("a"))
        .filter_map(|a| a.value().attr("href"))
        .find(|h| h.contains("/api/case?") && h.contains(&format!("a={action}&")))
        .map(|h| {
            h.trim_start_matches("https://mutualaid.example.org")
                .to_owned()
        })
}

/// The calls of each function, recorded as their paths run.
struct Recorded {
    submit: Vec<Call>,
    digest: Vec<Call>,
}

async fn run_every_path(endpoint: &str) -> Recorded {
    let (store, log) = recording_store(endpoint, "rights").await;
    let dir = tempfile::tempdir().expect("a folder");
    let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
    let (mut submit, mut digest) = (Vec::new(), Vec::new());

    // submit: sign-ups (a household on one phone; an update that moves an
    // email), and one through the router (the rate ring, the counters).
    seed(&store).await;
    let rosas = rosa_twice(&store).await;
    mutualaid_handler::domain::accept(
        &store,
        Submission::Signup(person(
            "Rosa M",
            Some("rosa.new@example.org"),
            Some("+16195550142"),
            "92004",
            &["delivery"],
        )),
        NOON - 300,
        KEEP,
    )
    .await
    .expect("an update");
    let app = router(&store, &keys, 1, at_noon_next_day);
    let form = "name=Ana+Router&email=ana.router%40example.org&contact_method=email&zip=92004&roles=delivery&consent=on&lang=en&website=";
    let answer = crate::handler::send(
        &app,
        axum::http::Request::post("/api/signup")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(form))
            .expect("request"),
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    submit.extend(log.take());

    // digest: the upkeep before each run, then the digest with its links.
    store.rekey_identities(NOON).await.expect("rekey");
    store.keep_waiting(NOON).await.expect("keep waiting");
    // Cap 1: once Vic is confirmed for Rita, the next digest offers to pause him.
    let cfg = digest_config(&keys, mutualaid_forms::Lang::EN, 1);
    let html = digest_html(&store, &cfg, NOON, &dir.path().join("outbox")).await;
    digest.extend(log.take());

    // submit: every button the digest carries, its page and its press.
    let actions = actions_linked(&html);
    for action in &actions {
        let Some(path) = link_of(&html, action) else {
            continue;
        };
        let page = get(&app, &path).await;
        if page.status == 200 {
            press(&app, &page.body).await;
        }
    }
    submit.extend(log.take());
    assert!(
        ["confirm", "decline", "merge", "close"]
            .iter()
            .all(|a| actions.contains(*a)),
        "the digest offers Confirm, Decline, Merge and Close: {actions:?}"
    );

    // digest: the next one (what was done, with Undo merge) …
    let next = digest_html(&store, &cfg, NOON + 86_400, &dir.path().join("outbox")).await;
    digest.extend(log.take());
    assert!(
        ["unmerge", "pause"]
            .iter()
            .all(|a| actions_linked(&next).contains(*a)),
        "the next digest offers Undo merge and Pause: {:?}",
        actions_linked(&next)
    );
    // submit: … whose Undo merge and Pause are pressed (and any other button).
    for action in actions_linked(&next) {
        if let Some(path) = link_of(&next, &action) {
            let page = get(&app, &path).await;
            if page.status == 200 {
                press(&app, &page.body).await;
            }
        }
    }
    submit.extend(log.take());

    // submit: Rosa's two records merged again (as the CLI or a button would) …
    let (rosa_first, rosa_second) = rosas;
    mutualaid_handler::cases::merge(
        &store,
        &rosa_second,
        &rosa_first,
        NOON + 86_500,
        "cli",
        None,
    )
    .await
    .expect("merge")
    .expect("merged");
    submit.extend(log.take());
    // digest: … and deletions on request (the digest function's delete
    // event): the record kept by that merge (its merge undone first), and Vic.
    let phone = Contact::phone("+16195550142").expect("a contact");
    let outcome = erase::delete(&store, &phone, Some(&rosa_first), NOON + 2 * 86_400)
        .await
        .expect("deleted");
    assert!(matches!(outcome, erase::Outcome::Deleted(_)), "{outcome:?}");
    let contact = Contact::email("vic@example.org").expect("a contact");
    let outcome = erase::delete(&store, &contact, None, NOON + 2 * 86_400)
        .await
        .expect("deleted");
    assert!(matches!(outcome, erase::Outcome::Deleted(_)), "{outcome:?}");
    digest.extend(log.take());
    Recorded { submit, digest }
}

fn refused_report(function: &str, refused: &[&Call]) -> String {
    let lines: Vec<String> = refused.iter().map(|c| format!("  {c:?}")).collect();
    format!(
        "{function} calls these and its policy allows none of them:\n{}",
        lines.join("\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_each_function_makes_is_granted_by_its_policy_and_every_right_is_called() {
    let Some(endpoint) = aws::moto() else { return };
    let recorded = run_every_path(&endpoint).await;
    let t = template();
    for (function, calls) in [
        ("SubmitFunction", &recorded.submit),
        ("DigestFunction", &recorded.digest),
    ] {
        let policy = Policy::of(&t, function);
        let refused = policy.refused(calls);
        assert!(refused.is_empty(), "{}", refused_report(function, &refused));
        let unused = policy.unused(calls);
        assert!(
            unused.is_empty(),
            "{function} is granted what it never calls: {unused:?}"
        );
    }

    // The check bites: a policy without BatchGetItem, or whose index Query
    // names another index, refuses what `submit` calls.
    let mut without_batch = Policy::of(&t, "SubmitFunction");
    for s in &mut without_batch.0 {
        s.actions.remove("dynamodb:BatchGetItem");
    }
    assert!(
        !without_batch.refused(&recorded.submit).is_empty(),
        "a policy without BatchGetItem refuses the case desk's reads"
    );
    let mut wrong_index = Policy::of(&t, "SubmitFunction");
    for s in &mut wrong_index.0 {
        for r in &mut s.resources {
            if let Resource::Index(name) = r {
                *name = "by_change".into();
            }
        }
    }
    assert!(
        wrong_index
            .refused(&recorded.submit)
            .iter()
            .any(|c| c.index.as_deref() == Some(mutualaid_handler::store::dynamo::PENDING_INDEX)),
        "a policy whose index Query names another index refuses the pending index's reads"
    );
}
