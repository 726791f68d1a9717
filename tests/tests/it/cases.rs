//! Cases, as organizers live them over several days, on both stores: a
//! request stays in every digest until it is matched, funded or closed;
//! pairing runs over every open case and remembers each volunteer's load;
//! money is never offered to a shopper; households are never paired; what an
//! organizer confirms, declines, closes or pauses is kept, refused when the
//! case moved on, and listed in the next digest. And `mutualaid cases` as a
//! process.

use std::process::Command;

use mutualaid_forms::Signup;
use mutualaid_handler::cases::{self, Act, Refusal};
use mutualaid_handler::digest::{self, DigestConfig, RunReport};
use mutualaid_handler::domain::{self, Accepted};
use mutualaid_handler::mail::Outbox;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{Case, CaseKind, CaseState, CloseReason, Submission};

use crate::digest::{NOON, config, strings};
use crate::store_contract::{KEEP, person};

pub(crate) const DAY: i64 = 86_400;

/// A store and an outbox, and the digest run day by day.
pub(crate) struct Org<S> {
    pub(crate) store: S,
    outbox: Outbox,
    config: DigestConfig,
    _dir: tempfile::TempDir,
    runs: usize,
}

impl<S: Store> Org<S> {
    pub(crate) fn new(store: S, cap: usize) -> Org<S> {
        let dir = tempfile::tempdir().expect("tmp");
        let mut config = config("organizers@example.org");
        config.pairing.cap = cap;
        Org {
            store,
            outbox: Outbox {
                dir: dir.path().join("outbox"),
            },
            config,
            _dir: dir,
            runs: 0,
        }
    }

    pub(crate) async fn sign_up(&self, s: &Signup, at: i64) -> Accepted {
        domain::accept(&self.store, Submission::Signup(s.clone()), at, KEEP)
            .await
            .expect("accepted")
    }

    /// The digest of `at`, as organizers read it (the text part).
    pub(crate) async fn digest(&mut self, at: i64) -> String {
        self.runs += 1;
        let report = digest::run(
            &self.store,
            &self.outbox,
            &strings("en"),
            &self.config,
            at,
            &format!("run-{}", self.runs),
        )
        .await
        .expect("sent");
        assert!(matches!(report, RunReport::Sent { .. }));
        let raw = mutualaid_tests::latest_message(&self.outbox.dir);
        let message = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("MIME");
        message.body_text(0).expect("text").replace("\r\n", "\n")
    }

    pub(crate) async fn case_of(&self, person: &Accepted, kind: CaseKind) -> Case {
        self.store
            .cases_of(&person.person_id)
            .await
            .expect("cases")
            .into_iter()
            .rev()
            .find(|c| c.kind == kind)
            .expect("a case of that kind")
    }

    pub(crate) async fn act(&self, case: &Case, act: Act, at: i64) -> Result<Case, Refusal> {
        cases::act(
            &self.store,
            &case.id,
            Some(case.version),
            act,
            at,
            self.config.pairing.cap,
            mutualaid_handler::store::Actor::Cli,
        )
        .await
        .expect("the store answers")
    }
}

/// The text of one section: from its heading to the next blank line.
pub(crate) fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let Some(start) = text.find(heading) else {
        return "";
    };
    let rest = &text[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

fn rita() -> Signup {
    person(
        "Rita Lopez",
        Some("rita@example.org"),
        None,
        "92004",
        &["delivery"],
    )
}

fn vic() -> Signup {
    person(
        "Vic Helper",
        Some("vic@example.org"),
        None,
        "92004",
        &["shopper"],
    )
}

async fn over_several_days<S: Store>(store: S) {
    let mut org = Org::new(store, 1);
    // Day 1: Rita asks; nobody volunteers near her.
    let rita = org.sign_up(&rita(), NOON - 3_600).await;
    let day_1 = org.digest(NOON).await;
    assert!(
        section(&day_1, "Needs attention").contains("Rita Lopez"),
        "{day_1}"
    );
    assert!(
        section(&day_1, "Still waiting (1)")
            .contains("Rita Lopez (92004 Borrego Springs) — groceries delivered, waiting 0 days"),
        "{day_1}"
    );

    // Day 2: Vic volunteers near her: paired, though Rita changed nothing.
    let vic = org.sign_up(&vic(), NOON + DAY - 3_600).await;
    let day_2 = org.digest(NOON + DAY).await;
    let suggested = section(&day_2, "Suggested today");
    assert!(
        suggested.contains(
            "Rita Lopez (92004 Borrego Springs) — Vic Helper (92004 Borrego Springs), 0.0 mi"
        ),
        "day 2 pairs them: {day_2}"
    );
    assert!(section(&day_2, "Still waiting (1)").contains("waiting 1 day"));

    // A money-only request is never offered to a shopper; it waits as a funding case.
    let mo = org
        .sign_up(
            &person(
                "Mo Needs",
                Some("mo@example.org"),
                None,
                "92004",
                &["money"],
            ),
            NOON + DAY + 60,
        )
        .await;
    // Confirm Rita with Vic, as the digest's link would.
    let case = org.case_of(&rita, CaseKind::Delivery).await;
    let matched = org
        .act(
            &case,
            Act::Confirm {
                volunteer: vic.person_id.clone(),
            },
            NOON + DAY + 120,
        )
        .await
        .expect("confirmed");
    // An offer first; Vic's yes (recorded by the organizer who called him) matches.
    assert_eq!(matched.state, CaseState::Offered);
    let matched = org
        .act(&matched, Act::Accept, NOON + DAY + 125)
        .await
        .expect("accepted");
    assert_eq!(matched.state, CaseState::Matched);
    // The same link again: the case moved on, nothing changes.
    let replay = org
        .act(
            &case,
            Act::Confirm {
                volunteer: vic.person_id.clone(),
            },
            NOON + DAY + 130,
        )
        .await;
    assert!(
        matches!(
            replay,
            Err(Refusal::Moved {
                state: CaseState::Matched,
                ..
            })
        ),
        "{replay:?}"
    );

    // Day 3: Rosa asks near Vic, who is at the cap (1): not offered Vic, flagged.
    let rosa = org
        .sign_up(
            &person(
                "Rosa Marquez",
                Some("rosa@example.org"),
                None,
                "92004",
                &["delivery"],
            ),
            NOON + 2 * DAY - 3_600,
        )
        .await;
    let day_3 = org.digest(NOON + 2 * DAY).await;
    assert!(
        section(&day_3, "Matched and active (1)").contains(
            "Rita Lopez (92004 Borrego Springs) — with Vic Helper (92004 Borrego Springs), 0 days"
        ),
        "{day_3}"
    );
    assert!(
        !section(&day_3, "Suggested today").contains("Rosa Marquez"),
        "Vic is at capacity: {day_3}"
    );
    assert!(
        section(&day_3, "Needs attention")
            .contains("Rosa Marquez (92004 Borrego Springs) — groceries delivered, waiting 0 days — every volunteer nearby already has as many people as they can take (their own number, or the network's 1 person)"),
        "{day_3}"
    );
    assert!(section(&day_3, "Volunteers at capacity").contains("Vic Helper"));
    assert!(
        section(&day_3, "What was done since the last digest")
            .contains("offered the request of Rita L. to Vic H."),
        "{day_3}"
    );
    let money = section(&day_3, "Money for groceries: asked and offered");
    assert!(money.contains("Mo Needs"), "{day_3}");
    assert!(
        !day_3.contains("Mo Needs (92004 Borrego Springs) — Vic"),
        "money is never paired with a shopper"
    );
    // A confirmation at the cap is refused and says why.
    let rosa_case = org.case_of(&rosa, CaseKind::Delivery).await;
    let full = org
        .act(
            &rosa_case,
            Act::Confirm {
                volunteer: vic.person_id.clone(),
            },
            NOON + 2 * DAY + 60,
        )
        .await;
    assert_eq!(full, Err(Refusal::AtCapacity { load: 1, cap: 1 }));

    // Rita's case is done: Vic is offered again (to Rosa). Mo is funded.
    org.act(
        &matched,
        Act::Close(CloseReason::Done),
        NOON + 2 * DAY + 120,
    )
    .await
    .expect("closed");
    let mo_case = org.case_of(&mo, CaseKind::Funding).await;
    org.act(&mo_case, Act::Fund, NOON + 2 * DAY + 180)
        .await
        .expect("funded");
    let day_4 = org.digest(NOON + 3 * DAY).await;
    assert!(
        section(&day_4, "Suggested today")
            .contains("Rosa Marquez (92004 Borrego Springs) — Vic Helper"),
        "{day_4}"
    );
    assert!(
        !section(&day_4, "Still waiting").contains("Rita Lopez"),
        "a closed case stays closed"
    );
    assert!(
        section(&day_4, "Matched and active (1)")
            .contains("Mo Needs (92004 Borrego Springs) — funded by the network"),
        "{day_4}"
    );
    let actions = section(&day_4, "What was done since the last digest");
    assert!(
        actions.contains("closed the case of Rita L. (done)"),
        "{day_4}"
    );
    assert!(
        actions.contains("marked the case of Mo N. funded"),
        "{day_4}"
    );

    // Rita asks again: a new case, flagged with when the last one closed.
    org.sign_up(&self::rita(), NOON + 3 * DAY + 60).await;
    let day_5 = org.digest(NOON + 4 * DAY).await;
    assert!(
        section(&day_5, "Still waiting").contains("Rita Lopez (92004 Borrego Springs) — groceries delivered, waiting 0 days — asked again (last closed 2026-11-28)"),
        "{day_5}"
    );
    let rita_cases = org.store.cases_of(&rita.person_id).await.expect("cases");
    assert_eq!(rita_cases.len(), 2, "the closed one stays closed");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    over_several_days =>
    sqlite_cases_over_several_days,
    dynamodb_cases_over_several_days
);

async fn households_declines_pauses_and_races<S: Store + Clone>(store: S) {
    let mut org = Org::new(store.clone(), 3);
    // Maria asks; Jose, on her phone, volunteers: one household, never paired.
    let maria = org
        .sign_up(
            &person(
                "Maria Abuela",
                None,
                Some("+16195550199"),
                "92105",
                &["delivery", "money"],
            ),
            NOON - 500,
        )
        .await;
    let jose = org
        .sign_up(&mutualaid_tests::jose_on_marias_phone(), NOON - 400)
        .await;
    let day_1 = org.digest(NOON).await;
    assert!(
        !section(&day_1, "Suggested today").contains("Maria Abuela"),
        "a household is not paired: {day_1}"
    );
    // Another volunteer nearby: Maria is paired with her, and the line says who pays.
    let ana = org
        .sign_up(
            &person(
                "Ana Shopper",
                Some("ana@example.org"),
                None,
                "92105",
                &["shopper"],
            ),
            NOON + 100,
        )
        .await;
    let day_2 = org.digest(NOON + DAY).await;
    assert!(
        section(&day_2, "Suggested today").contains(
            "Maria Abuela (92105 City Heights) — Ana Shopper (92105 City Heights), 0.0 mi — the network pays for the groceries"
        ),
        "{day_2}"
    );
    // Declined: never suggested again. Paused: not offered.
    let case = org.case_of(&maria, CaseKind::Delivery).await;
    let declined = org
        .act(
            &case,
            Act::Decline {
                volunteer: ana.person_id.clone(),
            },
            NOON + DAY + 60,
        )
        .await
        .expect("declined");
    assert_eq!(declined.state, CaseState::Open);
    let bo = org
        .sign_up(
            &person(
                "Bo Shopper",
                Some("bo@example.org"),
                None,
                "92105",
                &["shopper"],
            ),
            NOON + DAY + 100,
        )
        .await;
    cases::pause(
        &org.store,
        &bo.person_id,
        7,
        NOON + DAY + 120,
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("store")
    .expect("paused");
    let day_3 = org.digest(NOON + 2 * DAY).await;
    let suggested = section(&day_3, "Suggested today");
    assert!(!suggested.contains("Maria Abuela"), "{day_3}");
    assert!(
        section(&day_3, "What was done since the last digest").contains("paused Bo S. for 7 days"),
        "{day_3}"
    );
    // Two organizers confirm the same case at once: one wins.
    let carl = org
        .sign_up(
            &person(
                "Carl Shopper",
                Some("carl@example.org"),
                None,
                "92105",
                &["shopper"],
            ),
            NOON + 2 * DAY + 100,
        )
        .await;
    let dee = org
        .sign_up(
            &person(
                "Dee Shopper",
                Some("dee@example.org"),
                None,
                "92105",
                &["shopper"],
            ),
            NOON + 2 * DAY + 110,
        )
        .await;
    let case = org.case_of(&maria, CaseKind::Delivery).await;
    let (a, b) = tokio::join!(
        org.act(
            &case,
            Act::Confirm {
                volunteer: carl.person_id.clone()
            },
            NOON + 2 * DAY + 200
        ),
        org.act(
            &case,
            Act::Confirm {
                volunteer: dee.person_id.clone()
            },
            NOON + 2 * DAY + 200
        ),
    );
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "{a:?} {b:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(
        loser,
        Err(Refusal::Moved {
            state: CaseState::Offered,
            ..
        })
    ));
    let _ = jose;
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    households_declines_pauses_and_races =>
    sqlite_households_declines_pauses_and_races,
    dynamodb_households_declines_pauses_and_races
);

/// A volunteer who can shop for one household at a time: the digest
/// suggests them for one neighbour only, and two organizers confirming two
/// cases for them at the same moment give them one; later, on their own
/// page, they say two.
async fn a_volunteers_own_number_holds_under_concurrent_confirms<S: Store + Clone + 'static>(
    store: S,
) {
    let vic = Signup {
        households: Some(1),
        ..person(
            "Vic Uno",
            Some("vic.uno@example.org"),
            None,
            "92105",
            &["shopper"],
        )
    };
    let vic_id = domain::accept(&store, Submission::Signup(vic), NOON, KEEP)
        .await
        .expect("Vic")
        .person_id;
    let mut cases = Vec::new();
    for (i, name) in ["Ana Una", "Bea Dos"].iter().enumerate() {
        let id = domain::accept(
            &store,
            Submission::Signup(person(
                name,
                Some(&format!("asker{i}@example.org")),
                None,
                "92105",
                &["delivery"],
            )),
            NOON + 1 + i as i64,
            KEEP,
        )
        .await
        .expect("asking")
        .person_id;
        cases.push(store.cases_of(&id).await.expect("cases")[0].id.clone());
    }
    // The digest: he says one, the network's cap is 3 — one suggestion.
    let text = crate::receipts::digest_text(&store, NOON + 3_600).await;
    assert!(text.contains("shops for up to: 1"), "{text}");
    let suggested = text
        .split("Suggested today")
        .nth(1)
        .and_then(|rest| rest.split("In this digest").next())
        .unwrap_or_default();
    assert_eq!(
        suggested.matches(" — Vic Uno (92105").count(),
        1,
        "suggested for one neighbour: {text}"
    );
    // Two organizers confirm both cases for him at once, under cap 3.
    let confirm = |case: String| {
        let (store, vic_id) = (store.clone(), vic_id.clone());
        tokio::spawn(async move {
            cases::act(
                &store,
                &case,
                None,
                Act::Confirm { volunteer: vic_id },
                NOON + 7_200,
                3,
                mutualaid_handler::store::Actor::Link,
            )
            .await
            .expect("acted")
        })
    };
    let (a, b) = (confirm(cases[0].clone()), confirm(cases[1].clone()));
    let (a, b) = (a.await.expect("task"), b.await.expect("task"));
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "one of the two: {a:?} {b:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(
        matches!(loser, Err(Refusal::AtCapacity { load: 1, cap: 1 })),
        "{loser:?}"
    );
    let mut matched = 0;
    for id in &cases {
        let case = store.case(id).await.expect("read").expect("the case");
        if case.state == CaseState::Offered {
            assert_eq!(case.volunteer_id.as_deref(), Some(vic_id.as_str()));
            matched += 1;
        }
    }
    assert_eq!(matched, 1, "he is offered one");
    assert_eq!(
        store
            .loads(std::slice::from_ref(&vic_id))
            .await
            .expect("loads"),
        [(vic_id.clone(), 1)]
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_volunteers_own_number_holds_under_concurrent_confirms =>
    sqlite_a_volunteers_own_number_holds_under_concurrent_confirms,
    dynamodb_a_volunteers_own_number_holds_under_concurrent_confirms
);

/// A contact still pending never reaches a pairing: the suggestion and
/// the match show the confirmed contacts only, the pending one marked in
/// the person's own entry alone.
async fn a_pending_contact_never_appears_in_a_pairing<S: Store + Clone>(store: S) {
    let rita_id = domain::accept(&store, Submission::Signup(rita()), NOON, KEEP)
        .await
        .expect("Rita")
        .person_id;
    let vic_id = domain::accept(&store, Submission::Signup(vic()), NOON + 1, KEEP)
        .await
        .expect("Vic")
        .person_id;
    // Someone with Rita's name and email gives a phone of their own.
    let with_phone = Signup {
        phone: Some("+16195550166".into()),
        ..rita()
    };
    domain::accept(&store, Submission::Signup(with_phone), NOON + 2, KEEP)
        .await
        .expect("accepted");
    let section = |text: &str, heading: &str| {
        text.replace("\r\n", "\n")
            .split(heading)
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap_or_default()
            .to_owned()
    };
    let day_1 = crate::receipts::digest_text(&store, NOON + 3_600).await;
    let suggested = section(&day_1, "Suggested today");
    assert!(suggested.contains("rita@example.org"), "{day_1}");
    assert!(!suggested.contains("5550166"), "{day_1}");
    assert!(
        day_1.contains("new, not confirmed: +16195550166"),
        "marked in her entry: {day_1}"
    );
    let case = store.cases_of(&rita_id).await.expect("cases")[0].id.clone();
    cases::act(
        &store,
        &case,
        None,
        Act::Confirm { volunteer: vic_id },
        NOON + 7_200,
        3,
        mutualaid_handler::store::Actor::Link,
    )
    .await
    .expect("acted")
    .expect("offered");
    cases::act(
        &store,
        &case,
        None,
        Act::Accept,
        NOON + 7_260,
        3,
        mutualaid_handler::store::Actor::Link,
    )
    .await
    .expect("acted")
    .expect("matched");
    let day_2 = crate::receipts::digest_text(&store, NOON + DAY).await;
    let matched = section(&day_2, "Matched and active");
    assert!(matched.contains("Rita"), "{day_2}");
    assert!(!matched.contains("5550166"), "{day_2}");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    a_pending_contact_never_appears_in_a_pairing =>
    sqlite_a_pending_contact_never_appears_in_a_pairing,
    dynamodb_a_pending_contact_never_appears_in_a_pairing
);

async fn one_case_per_kind_under_concurrent_submissions<S: Store + Clone>(store: S) {
    let s = person(
        "Nina Needs",
        Some("nina@example.org"),
        None,
        "92105",
        &["delivery", "money"],
    );
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, s) = (store.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            domain::accept(&store, Submission::Signup(s), NOON + i, KEEP).await
        }));
    }
    let mut id = None;
    for t in tasks {
        id = Some(t.await.expect("task").expect("answered").person_id);
    }
    let cases = store.cases_of(&id.expect("a person")).await.expect("cases");
    let kinds: Vec<CaseKind> = cases.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 2, "one case of each kind: {cases:?}");
    assert!(kinds.contains(&CaseKind::Delivery) && kinds.contains(&CaseKind::Funding));
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    one_case_per_kind_under_concurrent_submissions =>
    sqlite_one_case_per_kind_under_concurrent_submissions,
    dynamodb_one_case_per_kind_under_concurrent_submissions
);

#[test]
fn mutualaid_cases_lists_and_acts_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = SqliteStore::open(&dir.path().join("mutualaid.sqlite3")).expect("open");
    let (rita, vic, rita_again) = runtime.block_on(async {
        let r = domain::accept(&store, Submission::Signup(rita()), NOON, KEEP)
            .await
            .expect("rita");
        let v = domain::accept(&store, Submission::Signup(vic()), NOON, KEEP)
            .await
            .expect("vic");
        // Rita again, as "R. Lopez" with her email: a second record, linked.
        let mut again = rita();
        again.name = "R. Lopez".into();
        let a = domain::accept(&store, Submission::Signup(again), NOON + DAY, KEEP)
            .await
            .expect("rita again");
        (r, v, a)
    });
    drop(store);
    let run = |args: &[&str]| {
        let out = Command::new(mutualaid_tests::mutualaid_bin())
            .arg("cases")
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .args(["--now", &(NOON + 2 * DAY).to_string()])
            .output()
            .expect("mutualaid cases");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, list, _) = run(&["list"]);
    assert!(ok);
    let again_case = list
        .lines()
        .find(|l| l.contains("R. Lopez"))
        .and_then(|l| l.split('\t').next())
        .expect("her second record's case")
        .to_owned();
    // Merged by a case id of the record merged away: one case left, Rita's.
    let (ok, out, err) = run(&["merge", &again_case, &rita.person_id]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "Undo: mutualaid cases unmerge {}",
            rita_again.person_id
        )),
        "{out}"
    );
    let (ok, _, err) = run(&["merge", &rita_again.person_id, &rita.person_id]);
    assert!(!ok && err.contains("already merged"), "{err}");
    // Undone, her second request waits again; merged once more.
    let (ok, out, err) = run(&["unmerge", &again_case]);
    assert!(ok && out.contains("is its own person again"), "{out}{err}");
    let (ok, list, _) = run(&["list"]);
    assert!(ok && list.contains("R. Lopez"), "{list}");
    let (ok, _, err) = run(&["unmerge", &again_case]);
    assert!(!ok && err.contains("not merged"), "{err}");
    let (ok, _, err) = run(&["merge", &again_case, &rita.person_id]);
    assert!(ok, "{err}");
    let (ok, list, _) = run(&["list"]);
    assert!(ok && !list.contains("R. Lopez"), "{list}");
    let line = list
        .lines()
        .find(|l| l.contains("Rita Lopez"))
        .expect("Rita's case is listed");
    let case_id = line.split('\t').next().expect("the case id").to_owned();
    assert!(line.contains("\tdelivery\topen\t2\t"), "{line}");
    let (ok, out, err) = run(&["confirm", &case_id, &vic.person_id, "--cap", "1"]);
    assert!(ok, "{err}");
    assert!(out.contains("is now offered"), "{out}");
    let (ok, _, err) = run(&["confirm", &case_id, &vic.person_id]);
    assert!(!ok, "a second confirmation is refused");
    assert!(
        err.contains("Nothing changed: the case changed since: it is offered"),
        "{err}"
    );
    let (ok, list, _) = run(&["list"]);
    assert!(ok && list.contains("\toffered\t"), "{list}");
    // Vic has no verified email: the organizer called him, and he said yes.
    let (ok, out, err) = run(&["accept", &case_id]);
    assert!(ok && out.contains("is now matched"), "{out}{err}");
    let (ok, _, err) = run(&["refuse", &case_id]);
    assert!(!ok && err.contains("it is matched"), "{err}");
    let (ok, list, _) = run(&["list"]);
    assert!(
        ok && list.contains("\tmatched\t0\tRita Lopez\tVic Helper"),
        "{list}"
    );
    let (ok, out, _) = run(&["close", &case_id, "--reason", "done"]);
    assert!(ok && out.contains("is now closed"), "{out}");
    let (ok, list, _) = run(&["list"]);
    assert!(ok && !list.contains("Rita Lopez"), "{list}");
    let (ok, out, _) = run(&["pause", &vic.person_id, "--days", "7"]);
    assert!(ok && out.contains("paused for 7 days"), "{out}");
    let (ok, _, err) = run(&["pause", &rita.person_id, "--days", "7"]);
    assert!(!ok && err.contains("no such volunteer"), "{err}");
    // The cases and their history, for the spreadsheet.
    let export = |table: &str| {
        let out = Command::new(mutualaid_tests::mutualaid_bin())
            .args(["export", "--table", table, "--data"])
            .arg(dir.path())
            .output()
            .expect("export");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let cases = export("cases");
    assert!(
        cases
            .lines()
            .any(|l| l.starts_with(&format!("\"{case_id}\""))
                && l.contains(",\"delivery\",\"closed\",")
                && l.contains(",\"done\",")),
        "{cases}"
    );
    let actions = export("actions");
    let kinds: Vec<&str> = actions
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .map(|cell| cell.trim_matches('"'))
        .collect();
    assert_eq!(
        kinds,
        [
            "merge", "unmerge", "merge", "confirm", "accept", "close", "pause"
        ],
        "{actions}"
    );
    assert!(
        actions.contains(&format!(
            "\"{again_case}\",\"\",\"cli\",\"{} into {}\"",
            rita_again.person_id, rita.person_id
        )),
        "{actions}"
    );
}

/// Schema 6 keeps the one active case of each kind and each volunteer's
/// load as rows the plans write. A database of schema 5 had neither: when
/// it opens, every request still waiting or matched must be found again —
/// a request the migration missed would never reach a digest — and every
/// volunteer's load counted from their matches, so the cap still holds.
#[tokio::test]
async fn sqlite_finds_every_open_request_and_load_again_when_schema_5_opens() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("db.sqlite3");
    let (rita, vic, bo, rosa) = {
        let store = SqliteStore::open(&path).expect("open");
        let accept = |s: Signup, at| domain::accept(&store, Submission::Signup(s), at, KEEP);
        let rita = accept(rita(), NOON).await.expect("rita");
        let vic = accept(vic(), NOON + 60).await.expect("vic");
        let bo = accept(
            person(
                "Bo Money",
                Some("bo@example.org"),
                None,
                "92004",
                &["money"],
            ),
            NOON + 120,
        )
        .await
        .expect("bo");
        let rosa = accept(
            person(
                "Rosa Luna",
                Some("rosa@example.org"),
                None,
                "92004",
                &["delivery"],
            ),
            NOON + 150,
        )
        .await
        .expect("rosa");
        let case = store
            .cases_of(&rita.person_id)
            .await
            .expect("cases")
            .remove(0);
        cases::act(
            &store,
            &case.id,
            None,
            Act::Confirm {
                volunteer: vic.person_id.clone(),
            },
            NOON + 180,
            1,
            mutualaid_handler::store::Actor::Cli,
        )
        .await
        .expect("store")
        .expect("offered");
        cases::act(
            &store,
            &case.id,
            None,
            Act::Accept,
            NOON + 190,
            1,
            mutualaid_handler::store::Actor::Cli,
        )
        .await
        .expect("store")
        .expect("matched");
        (rita, vic, bo, rosa)
    };
    // Back to schema 5: no slot rows, no load rows, the partial unique index.
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(
        "DROP TABLE active_cases; DROP TABLE loads;
         CREATE UNIQUE INDEX cases_one_active_per_kind ON cases (person_id, kind) WHERE state != 'closed';
         PRAGMA user_version = 5;",
    )
    .expect("schema 5");
    drop(conn);

    let store = SqliteStore::open(&path).expect("migrated");
    let active: Vec<(String, CaseState)> = store
        .active_cases()
        .await
        .expect("active")
        .cases
        .into_iter()
        .map(|c| (c.person_id, c.state))
        .collect();
    assert_eq!(
        active,
        vec![
            (rita.person_id.clone(), CaseState::Matched),
            (bo.person_id.clone(), CaseState::Open),
            (rosa.person_id.clone(), CaseState::Open),
        ],
        "every request still waiting or matched is found"
    );
    assert_eq!(cases::load(&store, &vic.person_id).await.expect("load"), 1);
    // The cap (1) still holds, and one case of a kind is still one.
    let rosa_case = store
        .cases_of(&rosa.person_id)
        .await
        .expect("cases")
        .remove(0);
    let refused = cases::act(
        &store,
        &rosa_case.id,
        None,
        Act::Confirm {
            volunteer: vic.person_id.clone(),
        },
        NOON + 200,
        1,
        mutualaid_handler::store::Actor::Cli,
    )
    .await
    .expect("store");
    assert!(
        matches!(refused, Err(Refusal::AtCapacity { load: 1, cap: 1 })),
        "{refused:?}"
    );
    let bo_case = store
        .cases_of(&bo.person_id)
        .await
        .expect("cases")
        .remove(0);
    let again = domain::accept(
        &store,
        Submission::Signup(person(
            "Bo Money",
            Some("bo@example.org"),
            None,
            "92004",
            &["money"],
        )),
        NOON + 240,
        KEEP,
    )
    .await
    .expect("bo again");
    assert_eq!(again.person_id, bo.person_id);
    assert_eq!(
        store.cases_of(&bo.person_id).await.expect("cases"),
        vec![bo_case],
        "no second money case"
    );
}

/// An action stamped before a digest but stored after it began (a
/// sender's run stamps its whole batch with its start) is in the next
/// digest; one the last digest listed is never listed twice, though each
/// digest reads back an hour.
async fn an_action_stored_after_a_digest_began_is_in_the_next_one_once<S: Store>(store: S) {
    use mutualaid_handler::store::{Actor, CloseReason};
    let a = mutualaid_tests::person(
        "Ana Late",
        None,
        Some("+16195550301"),
        "92105",
        &["delivery"],
    );
    let b = mutualaid_tests::person(
        "Bea Once",
        None,
        Some("+16195550302"),
        "92105",
        &["delivery"],
    );
    let day = 86_400;
    let t = 1_795_723_200;
    let mut ids = Vec::new();
    for s in [a, b] {
        let accepted = mutualaid_handler::domain::accept(
            &store,
            mutualaid_handler::store::Submission::Signup(s),
            t - day,
            crate::store_contract::KEEP,
        )
        .await
        .expect("accepted");
        ids.push(
            store.cases_of(&accepted.person_id).await.expect("cases")[0]
                .id
                .clone(),
        );
    }
    let close = |case: String, at: i64| {
        let store = &store;
        async move {
            cases::act(
                store,
                &case,
                None,
                Act::Close(CloseReason::Organizer),
                at,
                3,
                Actor::Cli,
            )
            .await
            .expect("store")
            .expect("closed");
        }
    };
    crate::receipts::digest_text(&store, t).await;
    // Stamped a minute before that digest, stored after it.
    close(ids[0].clone(), t - 60).await;
    // Stamped and stored a minute before the next one.
    close(ids[1].clone(), t + day - 60).await;
    let next = crate::receipts::digest_text(&store, t + day).await;
    for who in ["Ana L.", "Bea O."] {
        assert_eq!(
            next.matches(&format!("closed the case of {who}")).count(),
            1,
            "{who}: {next}"
        );
    }
    // Half an hour later another digest reads back an hour: nothing again.
    let after = crate::receipts::digest_text(&store, t + day + 1_800).await;
    assert!(!after.contains("closed the case of"), "{after}");
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_action_stored_after_a_digest_began_is_in_the_next_one_once
        => sqlite_an_action_stored_after_a_digest_began_is_in_the_next_one_once,
        dynamodb_an_action_stored_after_a_digest_began_is_in_the_next_one_once
);
