//! Benchmark of the digest from SQLite: 50,000 people on record, 5,000 open
//! cases of mixed ages (delivery and money), 2,000 volunteer shoppers of
//! whom many already hold matches, 500 new sign-ups pending. Times
//! `digest::prepare` — the store reads (pending records, everyone, cases,
//! pauses, actions, counters), building the board (the optimal capped
//! pairing over every open case) and rendering text, HTML, two CSVs and the
//! MIME message — median of 5 runs.
//!
//! Run: `cargo run --release -p mutualaid-handler --example digest_bench [DIR]`
//! (DIR: where the database goes; default a temporary folder, which on this
//! machine is on disk — pass a tmpfs folder such as /dev/shm to leave the
//! disk out of the set-up).

use std::time::Instant;

use mutualaid_forms::validate::ContactMethod;
use mutualaid_forms::{Lang, Signup, zips};
use mutualaid_handler::digest::pairing::PairingConfig;
use mutualaid_handler::digest::{self, DigestConfig};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{
    ActionKind, Case, CaseAction, CaseChange, CaseKind, CaseState, LogEntry, Outcome, Person,
    Planner, Submission, SubmissionWrite, Write,
};

const NOW: i64 = 1_795_723_200;
const PEOPLE: usize = 50_000;
const VOLUNTEERS: usize = 2_000;
const OPEN_CASES: usize = 5_000;
const PENDING: usize = 500;

struct Rng(u64);

impl Rng {
    fn next(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m
    }
}

fn person(i: usize, roles: &[&str], at: i64, rng: &mut Rng) -> Person {
    let all = zips::all();
    let zip = all[rng.next(all.len() as u64) as usize].code;
    let langs: &[&str] = match rng.next(4) {
        0 => &["en"],
        1 => &["es"],
        2 => &["en", "es"],
        _ => &["vi"],
    };
    let submission = Submission::Signup(Signup {
        name: format!("Person {i}"),
        email: Some(format!("p{i}@example.org")),
        phone: None,
        contact_method: ContactMethod::Email,
        zip: zip.to_owned(),
        neighborhood: None,
        roles: roles
            .iter()
            .filter_map(|r| mutualaid_forms::Role::from_wire(r))
            .collect(),
        languages: langs.iter().map(|l| (*l).to_owned()).collect(),
        availability: None,
        has_car: false,
        households: None,
        household_size: Some(2),
        notes: Some("Vegetarian; please knock".into()),
        lang: Lang::EN,
    });
    Person {
        id: format!("{i:08}"),
        identities: submission.identity_keys(),
        submission,
        created_at: at,
        updated_at: at,
        version: 1,
        reported_version: 1,
        expires_at: at + 365 * 86_400,
        former_contacts: Vec::new(),
        pending_contact: None,
        verified_email: None,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir_in(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| std::env::temp_dir().to_string_lossy().into_owned()),
    )
    .expect("a folder for the database");
    let store = SqliteStore::open(&dir.path().join("bench.sqlite3")).expect("store");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    runtime.block_on(async {
        let mut open = 0;
        for i in 0..PEOPLE {
            let (roles, at): (&[&str], i64) = if i < VOLUNTEERS {
                (&["shopper"], NOW - 60 * 86_400)
            } else if i < VOLUNTEERS + OPEN_CASES {
                let age = rng.next(90) as i64;
                let roles: &[&str] = if i % 5 == 0 {
                    &["money"]
                } else if i % 7 == 0 {
                    &["delivery", "money"]
                } else {
                    &["delivery"]
                };
                (roles, NOW - age * 86_400 - 3_600)
            } else {
                (&["shopper"], NOW - 100 * 86_400)
            };
            let mut p = person(i, roles, at, &mut rng);
            if i >= PEOPLE - PENDING {
                p.reported_version = 0; // new since the last digest
            }
            let cases: Vec<Case> = CaseKind::ALL
                .into_iter()
                .filter(|k| p.submission.asks_for(*k))
                .map(|k| Case::open(&p.id, k, at, None, p.expires_at))
                .collect();
            open += cases.len();
            let log = LogEntry {
                reference: format!("REF-{i}"),
                person_id: p.id.clone(),
                at,
                form: p.submission.form(),
                outcome: Outcome::Created,
                version: 1,
            };
            let write = SubmissionWrite {
                person: &p,
                log: &log,
                new_cases: &cases,
                standing: None,
                receipt: None,
                notice: None,
                security: None,
            };
            store
                .carry_out(&mutualaid_handler::store::plan::create(write))
                .await
                .expect("create");
        }
        // Loads: the first 1,200 volunteers each hold 1–3 matches, from the open cases.
        let cases = store.active_cases().await.expect("cases").cases;
        let mut deliveries = cases.iter().filter(|c| c.kind == CaseKind::Delivery);
        for v in 0..1_200 {
            for _ in 0..=(v % 3) {
                let Some(case) = deliveries.next() else { break };
                let mut matched = case.clone();
                matched.state = CaseState::Matched;
                matched.volunteer_id = Some(format!("{v:08}"));
                matched.matched_at = Some(NOW - rng.next(30) as i64 * 86_400);
                matched.version += 1;
                let change = CaseChange {
                    cap: Some(3),
                    ..CaseChange::new(case, matched)
                };
                let plan = Planner::new()
                    .change(&change)
                    .write(Write::Action(CaseAction {
                        id: format!("action-{v}-{}", case.id),
                        at: NOW - 86_400,
                        kind: ActionKind::Confirm,
                        case_id: Some(case.id.clone()),
                        volunteer_id: Some(format!("{v:08}")),
                        by: mutualaid_handler::store::Actor::Cli,
                        detail: String::new(),
                        version: case.version + 1,
                        merged: None,
                        expires_at: NOW + 86_400,
                    }))
                    .plan();
                store.carry_out(&plan).await.expect("match");
            }
        }
        println!(
            "set-up: {PEOPLE} people, {open} cases opened ({} matched to volunteers), {PENDING} new sign-ups pending, in {:.1} s",
            cases.len() - store.active_cases().await.expect("cases").cases.iter().filter(|c| c.state == CaseState::Open).count(),
            started.elapsed().as_secs_f64()
        );
    });

    let content = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
    let site = mutualaid_site::Site::load(&content).expect("content");
    let strings = &site.strings["en"];
    let config = DigestConfig {
        network: site.config.short_name_in("en").to_owned(),
        from: "digest@example.org".parse().expect("from"),
        to: vec!["organizers@example.org".parse().expect("to")],
        lang: Lang::EN,
        time_zone: "America/Los_Angeles".into(),
        pairing: PairingConfig::default(),
        review_days: 14,
        links: Some(mutualaid_handler::links::LinkSigner {
            keys: mutualaid_handler::links::LinkKeys::parse(
                &mutualaid_handler::links::LinkKeys::generate(),
            )
            .expect("keys"),
            page: "https://mutualaid.example.org/api/case".into(),
            ttl_days: 14,
        }),
    };
    let state = mutualaid_handler::store::DigestState {
        last_sent: Some(NOW - 86_400),
        ..Default::default()
    };
    let runs = 5;
    let mut ms = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let (d, message) = runtime
            .block_on(digest::prepare(&store, strings, &config, &state, NOW))
            .expect("prepare");
        let bytes = message.formatted();
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let html = digest::render::html(&d, strings, &config).len();
        last = Some((d, bytes.len(), html));
    }
    let (d, bytes, html) = last.expect("ran");
    ms.sort_by(f64::total_cmp);
    let b = &d.board;
    println!(
        "the digest: {} entries; {} delivery and {} money cases waiting; {} suggested; {} nobody near; {} all busy; {} matched or funded; {} volunteers at capacity",
        d.entries().count(),
        b.waiting.len(),
        b.waiting_money.len(),
        b.suggested.len(),
        b.nobody_near.len(),
        b.all_busy.len(),
        b.active.len(),
        b.at_capacity.len()
    );
    println!(
        "store read + build + render (digest::prepare): median {:.0} ms (min {:.0}, max {:.0}) over {runs} runs",
        ms[runs / 2],
        ms[0],
        ms[runs - 1]
    );
    println!(
        "message {} KiB; HTML part {} KiB",
        bytes / 1024,
        html / 1024
    );
}
