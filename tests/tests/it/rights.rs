//! Issue 25, "rights from calls", in two layers.
//!
//! The static layer: each Lambda's DynamoDB
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
//!
//! The run layer: the `submit` and `digest` binaries run those paths under
//! IAM users holding exactly their function's actions, on a moto server of
//! the test's own with IAM checks on — which checks actions only (see
//! [`each_lambda_runs_every_path_with_only_its_functions_rights_under_moto_iam`]).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::Client;
use mutualaid_handler::erase::{self, Contact};
use mutualaid_handler::links::LinkKeys;
use mutualaid_handler::store::Submission;
use mutualaid_handler::store::dynamo::DynamoStore;
use mutualaid_handler::store::message::MessageKind;
use mutualaid_handler::store::roles::*;
use mutualaid_tests::calls::{Call, CallLog, Policy, Resource};
use mutualaid_tests::{aws, stores};

use crate::case_links::{
    at_noon_next_day, digest_config, digest_html, find_link, get, press, rosa_twice, router, seed,
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

/// The record whose email `address` is.
async fn record_of(store: &DynamoStore, address: &str) -> String {
    store
        .sharing(&[format!("signup:email:{address}")])
        .await
        .expect("the record")
        .first()
        .map(|(_, id)| id.clone())
        .expect("a record with that email")
}

/// The private link of the first message to record `id` (of `kind`, if
/// given) that carries one, as it waits to be sent.
async fn link_of(store: &DynamoStore, id: &str, kind: Option<MessageKind>) -> String {
    store
        .messages_of(id)
        .await
        .expect("messages")
        .into_iter()
        .filter(|m| kind.is_none_or(|k| m.kind == k))
        .find_map(|m| m.link)
        .expect("a message with a link")
}

/// Every distinct organizer's action the digest links to (`a=…`).
fn actions_linked(html: &str) -> BTreeSet<String> {
    html.split("a=")
        .skip(1)
        .filter_map(|rest| rest.split(['&', '"']).next())
        .map(str::to_owned)
        .collect()
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
    let moved = mutualaid_handler::domain::accept(
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
    .expect("an update")
    .person_id;
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

    // submit: a person's own page (its link found by its hash), "email me
    // my link again", and "Delete my data" from the page.
    let leaving = mutualaid_handler::domain::accept(
        &store,
        Submission::Signup(person(
            "Lee Leaving",
            Some("lee@example.org"),
            None,
            "92004",
            &["delivery"],
        )),
        NOON - 200,
        KEEP,
    )
    .await
    .expect("a sign-up")
    .person_id;
    submit.extend(log.take());
    let token = link_of(&store, &leaving, None).await;
    let _ = log.take(); // the test's own read
    let page = get(&app, &format!("/api/me?t={token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let stop = crate::own_page::one_click(&app, &token).await;
    assert_eq!(stop.status, 200, "{}", stop.body);
    let again =
        crate::own_page::post(&app, "/api/me/again", &[("email", "rita@example.org")]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let form = get(&app, &format!("/api/me?t={token}&change=1")).await;
    let changed = crate::own_page::press(
        &app,
        &crate::own_page::button(&form.body, "change"),
        &[("zip", "92105"), ("phone", "619 555 0133")],
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let page = get(&app, &format!("/api/me?t={token}")).await;
    let confirm =
        crate::own_page::press(&app, &crate::own_page::button(&page.body, "delete"), &[]).await;
    let deleted = crate::own_page::press(
        &app,
        &crate::own_page::button(&confirm.body, "delete_confirmed"),
        &[],
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    submit.extend(log.take());

    // submit: "Yes, that was me" on the page the security notice links to.
    let notice = link_of(&store, &moved, Some(MessageKind::ContactChanged)).await;
    let _ = log.take(); // the test's own read
    let page = get(&app, &format!("/api/me?t={notice}")).await;
    let yes = crate::own_page::press(
        &app,
        &crate::own_page::button(&page.body, "confirm_contact"),
        &[],
    )
    .await;
    assert_eq!(yes.status, 200, "{}", yes.body);
    submit.extend(log.take());

    // digest: an organizer's `contacts drop` and `link revoke` (its events).
    let pat = person(
        "Pat Mover",
        Some("pat@example.org"),
        Some("+16195550166"),
        "92004",
        &["shopper"],
    );
    let pat_id = mutualaid_handler::domain::accept(
        &store,
        Submission::Signup(pat.clone()),
        NOON - 100,
        KEEP,
    )
    .await
    .expect("Pat")
    .person_id;
    mutualaid_handler::domain::accept(
        &store,
        Submission::Signup(mutualaid_forms::Signup {
            email: Some("pat.new@example.org".into()),
            ..pat
        }),
        NOON - 90,
        KEEP,
    )
    .await
    .expect("Pat's new email");
    let _ = log.take(); // submit's, counted above
    let dropped = mutualaid_handler::contacts::decide(
        &store,
        &pat_id,
        None,
        mutualaid_handler::contacts::Decision::Drop,
        mutualaid_handler::store::Actor::Cli,
        NOON - 80,
    )
    .await
    .expect("dropped");
    assert_eq!(dropped, mutualaid_handler::contacts::Decided::Done);
    let revoked = mutualaid_handler::contacts::revoke_links(&store, &pat_id)
        .await
        .expect("revoked");
    assert_eq!(revoked, Some(2), "her receipt's link and the notice's");
    digest.extend(log.take());

    // digest: the sender's run every minute (receipts through its mailer).
    let site = mutualaid_site::Site::load(&mutualaid_tests::real_content()).expect("content");
    let letters = mutualaid_handler::outbox::Letters::new(std::sync::Arc::new(site), None, 60)
        .expect("letters");
    let people = mutualaid_handler::mail::Outbox {
        dir: dir.path().join("people"),
    };
    let delivered = mutualaid_handler::outbox::deliver_due(&store, &people, &letters, NOON)
        .await
        .expect("delivered");
    assert!(delivered.sent > 0, "receipts to send: {delivered:?}");
    digest.extend(log.take());
    // … and an SES bounce for one of them (the digest function's SES event).
    let rita = store
        .sharing(&["signup:email:rita@example.org".to_owned()])
        .await
        .expect("Rita")[0]
        .1
        .clone();
    let sent = store.messages_of(&rita).await.expect("messages")[0]
        .id
        .clone();
    let _ = log.take(); // the test's own reads
    assert!(
        mutualaid_handler::outbox::bounced(&store, &sent, None, "rita@example.org", NOON)
            .await
            .expect("bounced")
    );
    digest.extend(log.take());

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
        let Some(path) = find_link(&html, action) else {
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
        if let Some(path) = find_link(&next, &action) {
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
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("merge")
    .expect("merged");
    submit.extend(log.take());
    // The pairing reaching the people (issue 27): two neighbours who said
    // "Yes, this is my email" on their pages (submit).
    let (olga, sol, nia) = Box::pin(pairing_paths(
        &store,
        &log,
        &app,
        &letters,
        &people,
        &mut submit,
        &mut digest,
    ))
    .await;
    let _ = (olga, sol, nia);

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
    // … and exports of every table (the digest function's export event).
    for table in mutualaid_handler::export::Table::ALL {
        mutualaid_handler::export::table(&store, table, i64::MIN, std::io::sink())
            .await
            .expect("exported");
    }
    digest.extend(log.take());
    Recorded { submit, digest }
}

/// Issue 27's paths, each call put to the function that makes it: the
/// verifications and the organizer's offer (submit), the offer sent and
/// its timer started (digest), the volunteer's yes on their page (submit),
/// the introductions and the check-in (digest), the requester's "Not yet"
/// and "Yes, thank you" (submit), the thank-you (digest); and an offer
/// left unanswered until its timer runs out (digest).
#[allow(clippy::too_many_arguments)]
async fn pairing_paths(
    store: &DynamoStore,
    log: &CallLog,
    app: &axum::Router,
    letters: &mutualaid_handler::outbox::Letters,
    people: &mutualaid_handler::mail::Outbox,
    submit: &mut Vec<Call>,
    digest: &mut Vec<Call>,
) -> (String, String, String) {
    use mutualaid_handler::cases::{self, Act};
    use mutualaid_handler::store::Actor;
    let sign = |name: &str, email: &str, role: &str| {
        Submission::Signup(person(name, Some(email), None, "92004", &[role]))
    };
    let mut ids = Vec::new();
    for (name, email, role) in [
        ("Olga Offer", "olga@example.org", "delivery"),
        ("Sol Shopper", "sol@example.org", "shopper"),
        ("Nia Needs", "nia@example.org", "delivery"),
    ] {
        let id = mutualaid_handler::domain::accept(store, sign(name, email, role), NOON, KEEP)
            .await
            .expect("a sign-up")
            .person_id;
        let token = link_of(store, &id, None).await;
        let _ = log.take(); // the test's own read
        let page = get(app, &format!("/api/me?t={token}")).await;
        let verified = crate::own_page::press(
            app,
            &crate::own_page::button(&page.body, "verify"),
            &[("name", name)],
        )
        .await;
        assert_eq!(verified.status, 200, "{}", verified.body);
        ids.push(id);
    }
    let (olga, sol, nia) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let case_of = async |id: &str| store.cases_of(id).await.expect("cases")[0].id.clone();
    let olga_case = case_of(&olga).await;
    let _ = log.take();
    cases::act(
        store,
        &olga_case,
        None,
        Act::Confirm {
            volunteer: sol.clone(),
        },
        NOON + 10,
        3,
        Actor::Link,
    )
    .await
    .expect("store")
    .expect("offered");
    submit.extend(log.take());
    let offer = link_of(store, &sol, Some(MessageKind::Offer)).await;
    let _ = log.take();
    let done = mutualaid_handler::outbox::deliver_due(store, people, letters, NOON + 20)
        .await
        .expect("delivered");
    assert!(done.sent > 0, "{done:?}");
    digest.extend(log.take());
    let page = get(app, &format!("/api/me?t={offer}&case={olga_case}")).await;
    let yes = post_answer(app, &page.body, "yes").await;
    assert_eq!(yes.status, 200, "{}", yes.body);
    submit.extend(log.take());
    // The pages' clock is the next day's noon.
    let introduced = at_noon_next_day() + 30;
    mutualaid_handler::outbox::deliver_due(store, people, letters, introduced)
        .await
        .expect("delivered");
    digest.extend(log.take());
    let check_in = link_of(store, &olga, Some(MessageKind::CheckIn)).await;
    let _ = log.take();
    let week = introduced + 7 * 86_400;
    mutualaid_handler::outbox::deliver_due(store, people, letters, week)
        .await
        .expect("delivered");
    digest.extend(log.take());
    for said in ["not_yet", "got_it"] {
        let page = get(app, &format!("/api/me?t={check_in}")).await;
        let answered = post_answer(app, &page.body, said).await;
        assert_eq!(answered.status, 200, "{said}: {}", answered.body);
    }
    submit.extend(log.take());
    mutualaid_handler::outbox::deliver_due(store, people, letters, week + 10)
        .await
        .expect("delivered");
    digest.extend(log.take());
    // An offer nobody answers: its timer runs out on the sender's run.
    let nia_case = case_of(&nia).await;
    let _ = log.take();
    cases::act(
        store,
        &nia_case,
        None,
        Act::Confirm {
            volunteer: sol.clone(),
        },
        week + 20,
        3,
        Actor::Link,
    )
    .await
    .expect("store")
    .expect("offered");
    submit.extend(log.take());
    mutualaid_handler::outbox::deliver_due(store, people, letters, week + 30)
        .await
        .expect("delivered");
    let ran_out =
        mutualaid_handler::outbox::deliver_due(store, people, letters, week + 30 + 48 * 3_600)
            .await
            .expect("delivered");
    assert_eq!(ran_out.timers, 1, "{ran_out:?}");
    digest.extend(log.take());
    (olga, sol, nia)
}

/// Makes record `id`'s waiting message of `kind` due now (as the time it
/// waits for would), writing as the digest function may; returns the
/// private link it carries, if any.
async fn due_now(store: &DynamoStore, id: &str, kind: MessageKind) -> String {
    use mutualaid_handler::store::message::{Message, MessageState};
    let waiting = store
        .messages_of(id)
        .await
        .expect("messages")
        .into_iter()
        .find(|m| m.kind == kind && m.due_at().is_some())
        .unwrap_or_else(|| panic!("a waiting {kind:?}"));
    let due = Message {
        state: MessageState::Waiting {
            attempts: 0,
            next_at: mutualaid_handler::clock::system_clock() - 1,
        },
        version: waiting.version + 1,
        ..waiting.clone()
    };
    store
        .carry_out(&mutualaid_handler::store::Plan {
            writes: vec![mutualaid_handler::store::Write::Message {
                message: due,
                expected: waiting.version,
            }],
        })
        .await
        .expect("made due");
    waiting.link.unwrap_or_default()
}

/// A browser's form POST to `path` from `client`, as the Lambda's event.
fn form_post(path: &str, body: &str, client: &str) -> serde_json::Value {
    mutualaid_tests::lambda::http_event(
        false,
        path,
        "application/x-www-form-urlencoded",
        body,
        client,
    )
}

/// Presses the case button whose answer is `said` on `page`.
async fn post_answer(app: &axum::Router, page: &str, said: &str) -> crate::handler::Answer {
    crate::own_page::press(app, &crate::own_page::answer_button(page, said), &[]).await
}

fn refused_report(function: &str, refused: &[&Call]) -> String {
    let lines: Vec<String> = refused.iter().map(|c| format!("  {c:?}")).collect();
    format!(
        "{function} calls these and its policy allows none of them:\n{}",
        lines.join("\n")
    )
}

/// Every path, one after another, in one future: in a debug build its
/// poll frames, nested down to the store's, need more than a test thread's
/// 2 MiB of stack, so it runs on a thread of its own.
#[test]
fn every_call_each_function_makes_is_granted_by_its_policy_and_every_right_is_called() {
    let run = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(every_call_is_granted_and_every_right_is_called())
        })
        .expect("a thread");
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn every_call_is_granted_and_every_right_is_called() {
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

/// A moto server of this test's own: IAM checks, once turned on, hold for
/// every request it serves (so no other test may share it).
struct IamMoto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for IamMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_python() -> Option<std::path::PathBuf> {
    let python = mutualaid_tests::workspace().join(".venv-test/bin/python");
    if python.is_file() {
        Some(python)
    } else {
        mutualaid_tests::skip("no .venv-test: tests/run installs moto and boto3 there");
        None
    }
}

fn start_iam_moto(python: &std::path::Path) -> IamMoto {
    let port = mutualaid_tests::caddy::free_port();
    let child = std::process::Command::new(python)
        .arg(mutualaid_tests::workspace().join("tests/moto/serve.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting moto");
    let moto = IamMoto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if ureq::get(&format!("{}/moto-api/", moto.endpoint))
            .call()
            .is_ok()
        {
            return moto;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("moto did not start");
}

/// An IAM user allowed `actions` (on every resource: see the module docs),
/// made while the server checks nothing yet: its key and secret.
fn iam_user(
    python: &std::path::Path,
    endpoint: &str,
    name: &str,
    actions: &BTreeSet<String>,
) -> (String, String) {
    let out = std::process::Command::new(python)
        .arg(mutualaid_tests::workspace().join("tests/moto/iam_user.py"))
        .args([endpoint, name])
        .args(actions)
        .output()
        .expect("iam_user.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (key, secret) = text.trim().split_once(' ').expect("KEY SECRET");
    (key.to_owned(), secret.to_owned())
}

/// Every action a function's policy grants (moto checks these, on "*").
fn granted(function: &str) -> BTreeSet<String> {
    Policy::of(&template(), function)
        .0
        .into_iter()
        .flat_map(|s| s.actions)
        .collect()
}

fn as_user(
    env: Vec<(&'static str, String)>,
    (key, secret): &(String, String),
) -> Vec<(&'static str, String)> {
    let env = mutualaid_tests::lambda::with_env(env, "AWS_ACCESS_KEY_ID", key);
    mutualaid_tests::lambda::with_env(env, "AWS_SECRET_ACCESS_KEY", secret)
}

/// The HTML part of the newest digest moto's SES holds for `to`.
fn latest_digest_html(endpoint: &str, to: &str) -> String {
    let raw = aws::sent_to(endpoint, to).pop().expect("a digest sent");
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME")
        .body_html(0)
        .expect("an HTML part")
        .into_owned()
}

/// Issue 25, the run layer: each Lambda binary's paths under credentials
/// holding exactly its function's actions, against a moto server with IAM
/// checks on. moto checks each request's API action
/// (`dynamodb:TransactWriteItems`, not the items inside it), on any
/// resource, and no condition: the items, indexes and leading keys are the
/// static layer's ([`every_call_each_function_makes_is_granted_by_its_policy_and_every_right_is_called`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_lambda_runs_every_path_with_only_its_functions_rights_under_moto_iam() {
    use crate::aws::{digest_env, start_digest_with, start_submit};
    use crate::case_links::{button_body, opening};
    use mutualaid_tests::lambda;

    if aws::moto().is_none() {
        return; // tests/run has not set the venv and binaries up
    }
    let Some(python) = venv_python() else { return };
    let moto = start_iam_moto(&python);
    let endpoint = moto.endpoint.clone();
    // Set-up as an operator would, while the server checks nothing yet.
    let (_, table) = stores::dynamodb_table(&endpoint, "rights").await;
    aws::edge_secret(&endpoint).await;
    let (secret, keys) = aws::link_keys_secret(&endpoint, &table).await;
    let sender = format!("digest-{table}@mutualaid.example.org");
    aws_sdk_sesv2::Client::new(&aws::sdk_config(&endpoint).await)
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("verify");
    let submit_user = iam_user(&python, &endpoint, "submit", &granted("SubmitFunction"));
    let digest_user = iam_user(&python, &endpoint, "digest", &granted("DigestFunction"));
    let mut without_batch = granted("SubmitFunction");
    without_batch.remove("dynamodb:BatchGetItem");
    let crippled_user = iam_user(&python, &endpoint, "submit-without-batch", &without_batch);
    // From here on every request is checked.
    ureq::post(&format!("{endpoint}/moto-api/reset-auth"))
        .send("0")
        .expect("IAM checks on");

    // An emulator per process: a stopped process's poll never takes another's event.
    let emulator = lambda::start().await;
    let digest_emulator = lambda::start().await;
    let crippled_emulator = lambda::start().await;
    let env = lambda::with_env(
        lambda::submit_env(&emulator.address, &endpoint, &table),
        "LINK_KEYS_SECRET",
        &secret,
    );
    // Cap 1: once Vic is confirmed, the next digest offers to pause him.
    let env = lambda::with_env(env, "PAIRING_CAP", "1");
    let mut submit = start_submit(as_user(env.clone(), &submit_user));
    let to = format!("organizers+{table}@example.org");
    let digest_env = lambda::with_env(
        digest_env(
            &digest_emulator.address,
            &endpoint,
            &table,
            &sender,
            &to,
            secret.clone(),
            None,
        ),
        "PAIRING_CAP",
        "1",
    );

    // Sign-ups: Rita asks, Vic shops, Rosa twice on one phone.
    for form in [
        "name=Rita+Lopez&email=rita%40example.org&contact_method=email&zip=92004&roles=delivery&consent=on&lang=en",
        "name=Vic+Helper&email=vic%40example.org&contact_method=email&zip=92004&roles=shopper&consent=on&lang=en",
        "name=Rosa+Martinez&phone=619+555+0142&contact_method=text&zip=92004&roles=delivery&consent=on&lang=en",
        "name=Rosa+M&phone=619+555+0142&email=daughter%40example.org&contact_method=text&zip=92004&roles=delivery&consent=on&lang=en",
        // Vic again, with a phone his record did not have: it waits.
        "name=Vic+Helper&email=vic%40example.org&phone=619+555+0177&contact_method=email&zip=92004&roles=shopper&consent=on&lang=en",
    ] {
        let (_, answer) = emulator
            .invoke(form_post("/api/signup", form, "203.0.113.9"))
            .await;
        assert_eq!(
            answer["statusCode"], 303,
            "a sign-up under submit's rights: {answer}"
        );
    }
    // A person's own page and "email me my link again", under submit's rights.
    // Read as the digest function may (IAM checks are on).
    let digest_reader = {
        let config = mutualaid_handler::lambda::sdk_config(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(&endpoint)
                .region(aws_sdk_dynamodb::config::Region::new(aws::REGION))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    &digest_user.0,
                    &digest_user.1,
                    None,
                    None,
                    "digest",
                )),
        )
        .await;
        DynamoStore::new(Client::new(&config), table.clone())
    };
    let rita = record_of(&digest_reader, "rita@example.org").await;
    let rita_token = link_of(&digest_reader, &rita, None).await;
    let (_, answer) = emulator
        .invoke(opening(&format!("/api/me?t={rita_token}")))
        .await;
    assert_eq!(
        answer["statusCode"], 200,
        "her page under submit's rights: {answer}"
    );
    let (_, answer) = emulator
        .invoke(form_post(
            "/api/me/again",
            "email=rita%40example.org",
            "203.0.113.9",
        ))
        .await;
    assert_eq!(
        answer["statusCode"], 200,
        "the link again under submit's rights: {answer}"
    );
    // Vic's "Yes, that was me", on the page his security notice links to.
    let vic = record_of(&digest_reader, "vic@example.org").await;
    let notice = link_of(&digest_reader, &vic, Some(MessageKind::ContactChanged)).await;
    let (_, page) = emulator
        .invoke(opening(&format!("/api/me?t={notice}")))
        .await;
    assert_eq!(page["statusCode"], 200, "his page: {page}");
    let yes = crate::own_page::button(page["body"].as_str().expect("a page"), "confirm_contact");
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(yes.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let (_, answer) = emulator
        .invoke(form_post("/api/me", &body, "203.0.113.9"))
        .await;
    assert_eq!(
        answer["statusCode"], 200,
        "\"Yes, that was me\" under submit's rights: {answer}"
    );
    let _ = submit.kill();
    let _ = submit.wait();

    // The digest under its rights.
    let schedule = serde_json::json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.scheduler", "time": "2026-11-27T16:00:00Z", "detail": {}});
    let run_digest = |event: serde_json::Value| {
        let emulator = &digest_emulator;
        let env = as_user(digest_env.clone(), &digest_user);
        async move {
            let mut child = start_digest_with(env);
            let (is_error, answer) = emulator.invoke(event).await;
            let _ = child.kill();
            let _ = child.wait();
            assert!(!is_error, "the digest function under its rights: {answer}");
            answer
        }
    };
    // The sender's run every minute: receipts through SES, under the same rights.
    let answer = run_digest(serde_json::json!({"deliver": {}})).await;
    assert_eq!(
        answer["delivered"], 6,
        "Rita, Vic, Rosa's daughter, Vic's change and its notice, and Rita's link again: {answer}"
    );
    // An organizer's contacts events, under the digest's rights.
    let answer = run_digest(serde_json::json!({"contacts": {"drop": vic}})).await;
    assert_eq!(answer["done"], false, "confirmed already: {answer}");
    let answer = run_digest(serde_json::json!({"contacts": {"revoke_links": vic}})).await;
    assert_eq!(
        answer["revoked"], 3,
        "his receipt's, his change's and the notice's: {answer}"
    );
    let receipt = aws::sent_to(&endpoint, "rita@example.org");
    assert_eq!(receipt.len(), 2);
    assert!(
        receipt.iter().any(|m| m.contains("we got your sign-up")),
        "{receipt:?}"
    );
    // SES says her address bounced for good (EventBridge → the digest function).
    let sent = digest_reader.messages_of(&rita).await.expect("messages")[0]
        .id
        .clone();
    let bounce = serde_json::json!({
        "version": "0", "id": "b1", "detail-type": "Email Bounced", "source": "aws.ses",
        "time": "2026-11-27T16:00:00Z", "region": aws::REGION, "resources": [],
        "detail": {
            "eventType": "Bounce",
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                       "bouncedRecipients": [{"emailAddress": "rita@example.org"}]},
            "mail": {"destination": ["rita@example.org"],
                     "headers": [{"name": "X-Mutualaid-Message", "value": sent},
                                 {"name": "X-Mutualaid-Record", "value": rita}]}
        }
    });
    let answer = run_digest(bounce).await;
    assert_eq!(answer["given_up"], 1, "{answer}");
    let answer = run_digest(schedule.clone()).await;
    assert_eq!(answer["sent"], true, "{answer}");
    let html = latest_digest_html(&endpoint, &to);

    // The organizers' pages: a submit whose policy lacks BatchGetItem shows
    // the Merge page (read item by item) but cannot merge (503: the
    // standings are read in batches) — the check bites — and the real one
    // can.
    let merge = find_link(&html, "merge").expect("a Merge link");
    let crippled_env = lambda::with_env(
        env.clone(),
        "AWS_LAMBDA_RUNTIME_API",
        &crippled_emulator.address,
    );
    let mut crippled = start_submit(as_user(crippled_env, &crippled_user));
    let (_, page) = crippled_emulator.invoke(opening(&merge)).await;
    assert_eq!(page["statusCode"], 200, "the Merge page: {page}");
    let (_, refused) = crippled_emulator
        .invoke(form_post(
            "/api/case",
            &button_body(page["body"].as_str().expect("a page")),
            "203.0.113.5",
        ))
        .await;
    let _ = crippled.kill();
    let _ = crippled.wait();
    assert_eq!(
        refused["statusCode"], 503,
        "without BatchGetItem: {refused}"
    );

    let mut submit = start_submit(as_user(env.clone(), &submit_user));
    let press_every = |html: String| {
        let emulator = &emulator;
        async move {
            let mut pressed = BTreeSet::new();
            for action in actions_linked(&html) {
                let Some(path) = find_link(&html, &action) else {
                    continue;
                };
                let (_, page) = emulator.invoke(opening(&path)).await;
                assert_eq!(page["statusCode"], 200, "{action}: {page}");
                let body = button_body(page["body"].as_str().expect("a page"));
                let (_, done) = emulator
                    .invoke(form_post("/api/case", &body, "203.0.113.5"))
                    .await;
                let status = done["statusCode"].as_u64();
                assert!(matches!(status, Some(200 | 409)), "{action}: {done}");
                pressed.insert(action);
            }
            pressed
        }
    };
    let pressed = press_every(html).await;
    assert!(
        ["confirm", "decline", "merge", "close"]
            .iter()
            .all(|a| pressed.contains(*a)),
        "{pressed:?}"
    );
    let answer = run_digest(schedule).await;
    assert_eq!(answer["sent"], true, "{answer}");
    let pressed = press_every(latest_digest_html(&endpoint, &to)).await;
    assert!(
        pressed.contains("unmerge") && pressed.contains("pause"),
        "{pressed:?}"
    );
    // Issue 27 through the Lambdas: two neighbours verify their email on
    // their pages, an organizer's Confirm offers Olga's request to Sol, the
    // offer goes out through SES, Sol says yes on his page, both are
    // introduced; then an offer nobody answers runs out on the sender's run.
    let mut ids = Vec::new();
    for (name, email, role) in [
        ("Olga Offer", "olga@example.org", "delivery"),
        ("Sol Shopper", "sol@example.org", "shopper"),
        ("Nia Needs", "nia@example.org", "delivery"),
        ("Ray Shopper", "ray@example.org", "shopper"),
    ] {
        let form = format!(
            "name={}&email={}&contact_method=email&zip=92004&roles={role}&consent=on&lang=en",
            name.replace(' ', "+"),
            email.replace('@', "%40")
        );
        let (_, answer) = emulator
            .invoke(form_post("/api/signup", &form, "203.0.113.9"))
            .await;
        assert_eq!(answer["statusCode"], 303, "{answer}");
        let id = record_of(&digest_reader, email).await;
        let token = link_of(&digest_reader, &id, None).await;
        let (_, page) = emulator
            .invoke(opening(&format!("/api/me?t={token}")))
            .await;
        let verify = crate::own_page::button(page["body"].as_str().expect("a page"), "verify");
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(verify.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .append_pair("name", name)
            .finish();
        let (_, answer) = emulator
            .invoke(form_post("/api/me", &body, "203.0.113.9"))
            .await;
        assert_eq!(answer["statusCode"], 200, "verified: {answer}");
        ids.push(id);
    }
    let (olga, sol, nia, ray) = (
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
        ids[3].clone(),
    );
    // Cap 1: Sol shops for Olga, Ray is offered Nia.
    let offer_to = |case: mutualaid_handler::store::Case, volunteer: &str| {
        let emulator = &emulator;
        let keys = &keys;
        let sol = volunteer.to_owned();
        async move {
            let link = mutualaid_handler::links::ActionLink {
                action: mutualaid_handler::store::ActionKind::Confirm,
                case: Some(case.id.clone()),
                volunteer: Some(sol),
                version: case.version,
                other_version: None,
                expires: mutualaid_handler::clock::system_clock() + 86_400,
                lang: "en".into(),
                detail: String::new(),
            };
            let path = format!("/api/case?{}", keys.sign(&link));
            let (_, page) = emulator.invoke(opening(&path)).await;
            assert_eq!(page["statusCode"], 200, "{page}");
            let (_, done) = emulator
                .invoke(form_post(
                    "/api/case",
                    &button_body(page["body"].as_str().expect("a page")),
                    "203.0.113.5",
                ))
                .await;
            assert_eq!(done["statusCode"], 200, "offered: {done}");
        }
    };
    let olga_case = digest_reader
        .cases_of(&olga)
        .await
        .expect("cases")
        .remove(0);
    offer_to(olga_case.clone(), &sol).await;
    let offer = link_of(&digest_reader, &sol, Some(MessageKind::Offer)).await;
    let _ = submit.kill();
    let _ = submit.wait();
    let answer = run_digest(serde_json::json!({"deliver": {}})).await;
    assert!(answer["delivered"].as_u64() >= Some(1), "{answer}");
    let read = |raw: &str| {
        mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .unwrap_or_default()
    };
    let to_sol: Vec<String> = aws::sent_to(&endpoint, "sol@example.org")
        .iter()
        .map(|raw| read(raw))
        .collect();
    assert!(
        to_sol
            .iter()
            .any(|t| t.contains("A neighbor near you needs groceries") && !t.contains("Olga")),
        "the offer, through SES: {to_sol:?}"
    );
    let mut submit = start_submit(as_user(env.clone(), &submit_user));
    let (_, page) = emulator
        .invoke(opening(&format!("/api/me?t={offer}&case={}", olga_case.id)))
        .await;
    let page = page["body"].as_str().expect("a page").to_owned();
    let yes = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(crate::own_page::answer_button(&page, "yes"))
        .finish();
    let (_, said) = emulator
        .invoke(form_post("/api/me", &yes, "203.0.113.9"))
        .await;
    assert_eq!(
        said["statusCode"], 200,
        "Sol's yes under submit's rights: {said}"
    );
    let nia_case = digest_reader.cases_of(&nia).await.expect("cases").remove(0);
    offer_to(nia_case.clone(), &ray).await;
    let _ = submit.kill();
    let _ = submit.wait();
    let answer = run_digest(serde_json::json!({"deliver": {}})).await;
    assert!(
        answer["delivered"].as_u64() >= Some(3),
        "two introductions and an offer: {answer}"
    );
    let to_olga: Vec<String> = aws::sent_to(&endpoint, "olga@example.org")
        .iter()
        .map(|raw| read(raw))
        .collect();
    assert!(
        to_olga
            .iter()
            .any(|t| t.contains("Sol is a volunteer near you") && t.contains("sol@example.org")),
        "her introduction, through SES: {to_olga:?}"
    );
    // Nia's offer to Ray, unanswered: its time is made to have run out (as
    // 48 hours would), and the sender's run carries the timer out.
    due_now(&digest_reader, &nia, MessageKind::OfferRunsOut).await;
    let answer = run_digest(serde_json::json!({"deliver": {}})).await;
    assert_eq!(
        answer["timers"], 1,
        "the timer ran under the digest's rights: {answer}"
    );
    let back = digest_reader
        .case(&nia_case.id)
        .await
        .expect("read")
        .expect("case");
    assert_eq!(back.state, mutualaid_handler::store::CaseState::Open);
    assert!(back.declined.contains(&ray));
    // A week on (made so), Olga is asked "Did you get your groceries?"; her
    // "Yes, thank you" closes the case and thanks Sol, through SES.
    let check_in = due_now(&digest_reader, &olga, MessageKind::CheckIn).await;
    let answer = run_digest(serde_json::json!({"deliver": {}})).await;
    assert_eq!(answer["delivered"], 1, "the check-in: {answer}");
    let mut submit = start_submit(as_user(env.clone(), &submit_user));
    let (_, page) = emulator
        .invoke(opening(&format!("/api/me?t={check_in}")))
        .await;
    let got_it = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(crate::own_page::answer_button(
            page["body"].as_str().expect("a page"),
            "got_it",
        ))
        .finish();
    let (_, said) = emulator
        .invoke(form_post("/api/me", &got_it, "203.0.113.9"))
        .await;
    assert_eq!(
        said["statusCode"], 200,
        "her yes under submit's rights: {said}"
    );
    let _ = submit.kill();
    let _ = submit.wait();
    let answer = run_digest(serde_json::json!({"deliver": {}})).await;
    assert_eq!(answer["delivered"], 1, "the thank-you: {answer}");
    assert!(
        aws::sent_to(&endpoint, "sol@example.org")
            .iter()
            .any(|raw| read(raw).contains("told us they got their groceries")),
        "Sol thanked through SES"
    );
    let closed = digest_reader
        .case(&olga_case.id)
        .await
        .expect("read")
        .expect("case");
    assert_eq!(closed.state, mutualaid_handler::store::CaseState::Closed);

    // A deletion on request: the digest function's delete event.
    let answer = run_digest(serde_json::json!({"delete": {"email": "vic@example.org"}})).await;
    assert!(answer["deleted"].is_object(), "{answer}");

    // An export of every table: administration is the digest function's.
    for (table, header) in [
        ("people", "\"id\",\"form\""),
        ("submissions", "\"reference\""),
        ("cases", "\"case\",\"kind\""),
        ("actions", "\"at\",\"action\""),
    ] {
        let answer = run_digest(serde_json::json!({"export": {"table": table}})).await;
        let csv = answer["csv"].as_str().unwrap_or_default();
        assert!(csv.starts_with(header), "{table}: {answer}");
        assert!(csv.lines().count() > 1, "{table} has rows: {answer}");
        assert!(
            !csv.contains("vic@example.org"),
            "the deleted person is in no export"
        );
    }
}
