//! One model, three stores: random sequences of what people and organizers
//! do — sign-ups from households that share a phone (and a name written
//! with and without accents), updates, confirms, declines, closes,
//! reopens, merges and their undoing, "two people", pauses, erasures, an
//! erasure stopped after some of its plans (and maybe finished by a later
//! one), digests marking what they showed — run through the domain against
//! SQLite, DynamoDB (moto) and the in-memory model
//! (`mutualaid_tests::model`), which must agree after every step on every
//! record, version, identity key, case, active case, load, standing, pending
//! mark and log line (ids, which are random, compared by who they name).
//!
//! The sequences come from a seed; a failure prints the seed, the step and
//! the steps shrunk to the fewest that still disagree, to be turned into a
//! plain regression test. `STORE_MODEL_SEED=<n>` replays one seed,
//! `STORE_MODEL_CASES=<n>` runs more.

use std::fmt::Write as _;

use mutualaid_handler::cases::{self, Act};
use mutualaid_handler::domain;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{
    Case, CaseAction, CaseKind, CaseState, CloseReason, ManifestEntry, Person, Plan, StoreError,
    Submission,
};
use mutualaid_tests::aws;
use mutualaid_tests::model::ModelStore;

use crate::store_contract::{KEEP, person};

const T0: i64 = 1_796_000_000;
const CAP: usize = 2;

/// A small deterministic generator (xorshift64*), so a seed is a sequence.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// One thing someone does. Indices pick among what each store holds, in
/// an order that names no id (so the same step picks the same person or
/// case in every store that agrees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    SignUp {
        who: usize,
        roles: usize,
        detail: usize,
    },
    Confirm {
        case: usize,
        volunteer: usize,
    },
    Decline {
        case: usize,
        volunteer: usize,
    },
    /// The volunteer's answer to an offer: yes, or not this time.
    Answer {
        case: usize,
        yes: bool,
    },
    Close {
        case: usize,
    },
    Reopen {
        case: usize,
    },
    Merge {
        from: usize,
        into: usize,
    },
    Unmerge {
        who: usize,
    },
    TwoPeople {
        who: usize,
    },
    Pause {
        who: usize,
        days: usize,
    },
    Erase {
        who: usize,
    },
    EraseStopped {
        who: usize,
        steps: usize,
    },
    Digest,
}

fn ops(rng: &mut Rng, n: usize) -> Vec<Op> {
    (0..n)
        .map(|_| {
            let (a, b) = (rng.below(8), rng.below(8));
            match rng.below(22) {
                0..=6 => Op::SignUp {
                    who: rng.below(PEOPLE.len()),
                    roles: 1 + rng.below(7),
                    detail: rng.below(3),
                },
                7..=8 => Op::Confirm {
                    case: a,
                    volunteer: b,
                },
                9 => Op::Decline {
                    case: a,
                    volunteer: b,
                },
                10 => Op::Close { case: a },
                11 => Op::Reopen { case: a },
                12..=13 => Op::Merge { from: a, into: b },
                14 => Op::Unmerge { who: a },
                15 => Op::TwoPeople { who: a },
                16 => Op::Pause {
                    who: a,
                    days: rng.below(3),
                },
                17 => Op::Erase { who: a },
                18 => Op::EraseStopped {
                    who: a,
                    steps: 1 + rng.below(3),
                },
                19..=20 => Op::Answer {
                    case: a,
                    yes: b % 3 != 0,
                },
                _ => Op::Digest,
            }
        })
        .collect()
}

/// Who signs up: two households sharing a phone each, a name written with
/// and without accents on one of them, and a neighbour alone.
const PEOPLE: [(&str, Option<&str>, Option<&str>); 6] = [
    (
        "María Pérez",
        Some("maria@example.org"),
        Some("+16195550101"),
    ),
    ("Maria Perez", None, Some("+16195550101")),
    ("Jose Perez", Some("jose@example.org"), Some("+16195550101")),
    ("Ana Díaz", Some("ana@example.org"), Some("+16195550102")),
    ("Vic Helper", Some("vic@example.org"), Some("+16195550102")),
    ("Rosa Luna", None, Some("+16195550103")),
];

fn signup(who: usize, roles: usize, detail: usize) -> Submission {
    let (name, email, phone) = PEOPLE[who % PEOPLE.len()];
    let wanted: Vec<&str> = [(1, "delivery"), (2, "money"), (4, "shopper")]
        .iter()
        .filter(|(bit, _)| roles & bit != 0)
        .map(|(_, role)| *role)
        .collect();
    let mut signup = person(name, email, phone, "92105", &wanted);
    let availability = ["", "Weekends", "Evenings"][detail % 3];
    signup.availability = (!availability.is_empty()).then(|| availability.to_owned());
    Submission::Signup(signup)
}

/// The records, oldest first (by when created: one per step at most).
async fn records<S: Store>(store: &S) -> Vec<Person> {
    let mut people = store.everyone().await.expect("everyone").people;
    people.sort_by_key(|p| p.created_at);
    people
}

/// A case's place in an order that names no id.
fn case_order(case: &Case, people: &[Person]) -> (i64, i64, i64, CaseKind) {
    let owner = people
        .iter()
        .find(|p| p.id == case.person_id)
        .map_or(0, |p| p.created_at);
    (case.changed_at, case.opened_at, owner, case.kind)
}

async fn cases_where<S: Store>(
    store: &S,
    people: &[Person],
    keep: impl Fn(&Case) -> bool,
) -> Vec<Case> {
    let mut cases: Vec<Case> = store
        .all_cases()
        .await
        .expect("cases")
        .cases
        .into_iter()
        .filter(|c| keep(c))
        .collect();
    cases.sort_by_key(|c| case_order(c, people));
    cases
}

fn pick<T>(list: &[T], at: usize) -> Option<&T> {
    (!list.is_empty()).then(|| &list[at % list.len()])
}

/// Does `op` at step `step` on `store`; says how it went, in words that
/// name no id.
async fn run<S: Store>(store: &S, step: usize, op: Op) -> String {
    let now = T0 + step as i64 * 3_600;
    let people = records(store).await;
    let shoppers: Vec<&Person> = people
        .iter()
        .filter(|p| p.submission.has_role(mutualaid_forms::Role::Shopper))
        .collect();
    let refused = |r: &cases::Refusal| format!("refused: {}", refusal_kind(r));
    let acted = |case: Option<Case>, act: Act| async move {
        let Some(case) = case else {
            return "nothing to act on".to_owned();
        };
        match cases::act(
            store,
            &case.id,
            None,
            act,
            now,
            CAP,
            mutualaid_handler::store::Actor::Cli,
        )
        .await
        {
            Ok(Ok(_)) => "done".to_owned(),
            Ok(Err(r)) => refused(&r),
            Err(e) => format!("store: {}", store_error(&e)),
        }
    };
    let record = |at: usize| pick(&people, at).map(|p| p.id.clone());
    match op {
        Op::SignUp { who, roles, detail } => {
            match domain::accept(store, signup(who, roles, detail), now, KEEP).await {
                Ok(accepted) => accepted.outcome.name().to_owned(),
                Err(e) => format!("store: {}", store_error(&e)),
            }
        }
        Op::Confirm { case, volunteer } | Op::Decline { case, volunteer } => {
            let open = cases_where(store, &people, |c| {
                c.state == CaseState::Open && c.kind == CaseKind::Delivery
            })
            .await;
            let Some(volunteer) = pick(&shoppers, volunteer) else {
                return "no volunteer".to_owned();
            };
            let volunteer = volunteer.id.clone();
            let act = if matches!(op, Op::Confirm { .. }) {
                Act::Confirm { volunteer }
            } else {
                Act::Decline { volunteer }
            };
            acted(pick(&open, case).cloned(), act).await
        }
        Op::Answer { case, yes } => {
            let offered = cases_where(store, &people, |c| c.state == CaseState::Offered).await;
            let act = if yes {
                Act::Accept
            } else {
                Act::Refuse { no_answer: false }
            };
            acted(pick(&offered, case).cloned(), act).await
        }
        Op::Close { case } => {
            let active = cases_where(store, &people, |c| c.state.is_active()).await;
            acted(pick(&active, case).cloned(), Act::Close(CloseReason::Done)).await
        }
        Op::Reopen { case } => {
            let closed = cases_where(store, &people, |c| !c.state.is_active()).await;
            acted(pick(&closed, case).cloned(), Act::Reopen).await
        }
        Op::Merge { from, into } => {
            let (Some(from), Some(into)) = (record(from), record(into)) else {
                return "nobody".to_owned();
            };
            if from == into {
                return "one record".to_owned();
            }
            outcome(
                cases::merge(
                    store,
                    &from,
                    &into,
                    now,
                    mutualaid_handler::store::Actor::Cli,
                    None,
                )
                .await,
            )
        }
        Op::Unmerge { who } => match record(who) {
            Some(id) => outcome(
                cases::unmerge(store, &id, now, mutualaid_handler::store::Actor::Cli, None).await,
            ),
            None => "nobody".to_owned(),
        },
        Op::TwoPeople { who } => match record(who) {
            Some(id) => outcome(
                cases::two_people(store, &id, now, mutualaid_handler::store::Actor::Cli, None)
                    .await,
            ),
            None => "nobody".to_owned(),
        },
        Op::Pause { who, days } => match pick(&shoppers, who) {
            Some(v) => outcome(
                cases::pause(
                    store,
                    &v.id,
                    days as u32,
                    now,
                    mutualaid_handler::store::Actor::Cli,
                    None,
                )
                .await,
            ),
            None => "nobody".to_owned(),
        },
        Op::Erase { who } => match record(who) {
            Some(id) => {
                match mutualaid_handler::erase::erase(store, &id, now, now + 86_400).await {
                    Ok(e) => format!("erased, {} reopened", e.reopened.len()),
                    Err(e) => format!("store: {}", store_error(&e)),
                }
            }
            None => "nobody".to_owned(),
        },
        Op::EraseStopped { who, steps } => {
            let Some(id) = record(who) else {
                return "nobody".to_owned();
            };
            let kept = store.kept(&id).await.expect("kept");
            let action = CaseAction::erasure(now, now + 86_400);
            let plans: Vec<Plan> = mutualaid_handler::store::plan::erasure(&id, &kept, &action);
            // Stopped before the last plan (which would end it).
            let mut done = 0;
            for plan in plans.iter().take(steps.min(plans.len() - 1)) {
                match store.carry_out(plan).await {
                    Ok(()) => done += 1,
                    Err(e) => return format!("stopped: {}", store_error(&e)),
                }
            }
            format!("stopped after {done}")
        }
        Op::Digest => {
            let pending = store.pending().await.expect("pending").people;
            let shown: Vec<ManifestEntry> = pending
                .iter()
                .map(|p| ManifestEntry {
                    id: p.id.clone(),
                    version: p.version,
                    may_repeat: false,
                })
                .collect();
            store.mark_reported(&shown).await.expect("marked");
            format!("{} reported", shown.len())
        }
    }
}

fn outcome<T>(result: Result<Result<T, cases::Refusal>, StoreError>) -> String {
    match result {
        Ok(Ok(_)) => "done".to_owned(),
        Ok(Err(r)) => format!("refused: {}", refusal_kind(&r)),
        Err(e) => format!("store: {}", store_error(&e)),
    }
}

fn refusal_kind(refusal: &cases::Refusal) -> String {
    format!("{refusal:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn store_error(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict => "conflict",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Unreadable { .. } => "unreadable",
    }
}

/// Everything a store holds, every id replaced by the record it names
/// (`p<hours after T0 it was created>`; `gone` for a record no longer
/// there), as text to compare.
async fn snapshot<S: Store>(store: &S) -> String {
    let people = records(store).await;
    let label = |id: &str| {
        people
            .iter()
            .find(|p| p.id == id)
            .map_or("gone".to_owned(), |p| {
                format!("p{}", (p.created_at - T0) / 3_600)
            })
    };
    let case_owner = |case_id: &str| Case::person_of(case_id).map_or("?".to_owned(), &label);
    let mut out = String::new();
    for p in &people {
        let mut identities = p.identities.clone();
        identities.sort();
        let _ = writeln!(
            out,
            "record {}: v{} reported {} updated {} expires {} {:?} keys {:?} former {:?} load {}",
            label(&p.id),
            p.version,
            p.reported_version,
            p.updated_at - T0,
            p.expires_at - T0,
            p.submission,
            identities,
            p.former_contacts,
            mutualaid_handler::cases::load(store, &p.id)
                .await
                .expect("load"),
        );
        let mut versions = Vec::new();
        for v in 1..=p.version {
            versions.push(store.version(&p.id, v).await.expect("version").is_some());
        }
        let _ = writeln!(out, "  versions kept {versions:?}");
        let kept = store.kept(&p.id).await.expect("kept");
        let _ = writeln!(
            out,
            "  keeps {} keys, {} contacts, {} former, {} versions, {} log lines, {} cases, {} active slots, standing {}",
            kept.identities.len(),
            kept.contacts.len(),
            kept.former_contacts.len(),
            kept.versions.len(),
            kept.log.len(),
            kept.cases.len(),
            kept.active.len(),
            kept.standing,
        );
    }
    let mut cases: Vec<String> = store
        .all_cases()
        .await
        .expect("cases")
        .cases
        .iter()
        .map(|c| {
            let mut declined: Vec<String> = c.declined.iter().map(|v| label(v)).collect();
            declined.sort();
            format!(
                "case of {} ({}): {} {:?} volunteer {} opened {} changed {} matched {:?} closed {:?} again {:?} declined {declined:?} v{}",
                label(&c.person_id),
                case_owner(&c.id),
                c.kind.name(),
                c.state,
                c.volunteer_id.as_deref().map_or("-".to_owned(), label),
                c.opened_at - T0,
                c.changed_at - T0,
                c.matched_at.map(|t| t - T0),
                c.closed.map(|(t, r)| (t - T0, r)),
                c.asked_again_after.map(|t| t - T0),
                c.version,
            )
        })
        .collect();
    cases.sort();
    out.extend(cases.into_iter().map(|c| c + "\n"));
    let mut active: Vec<String> = store
        .active_cases()
        .await
        .expect("active")
        .cases
        .iter()
        .map(|c| {
            format!(
                "active: {} {} opened {}",
                label(&c.person_id),
                c.kind.name(),
                c.opened_at - T0
            )
        })
        .collect();
    active.sort();
    out.extend(active.into_iter().map(|c| c + "\n"));
    let mut standings: Vec<String> = store
        .standings()
        .await
        .expect("standings")
        .iter()
        .map(|s| {
            format!(
                "standing {}: paused {:?} merged into {:?} maybe {:?} carried {} v{} changed {}",
                label(&s.person_id),
                s.paused_until.map(|t| t - T0),
                s.merged_into.as_deref().map(label),
                s.maybe_same_as.as_deref().map(label),
                s.carried.len(),
                s.version,
                s.changed_at - T0,
            )
        })
        .collect();
    standings.sort();
    out.extend(standings.into_iter().map(|s| s + "\n"));
    let pending: Vec<String> = store
        .pending()
        .await
        .expect("pending")
        .people
        .iter()
        .map(|p| label(&p.id))
        .collect();
    let _ = writeln!(out, "pending {pending:?}");
    let mut log: Vec<String> = store
        .submissions()
        .await
        .expect("log")
        .iter()
        .map(|e| {
            format!(
                "log {} {} {} v{}",
                e.at - T0,
                label(&e.person_id),
                e.outcome.name(),
                e.version
            )
        })
        .collect();
    log.sort();
    out.extend(log.into_iter().map(|l| l + "\n"));
    let mut actions: Vec<String> = store
        .actions_since(0)
        .await
        .expect("actions")
        .iter()
        .map(|a| {
            format!(
                "action {} {} by {} v{}",
                a.at - T0,
                a.kind.name(),
                a.by.name(),
                a.version
            )
        })
        .collect();
    actions.sort();
    out.extend(actions.into_iter().map(|a| a + "\n"));
    out
}

/// Where two snapshots first differ, line by line.
fn first_difference(expected: &str, got: &str) -> String {
    let (e, g): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    for i in 0..e.len().max(g.len()) {
        let (a, b) = (e.get(i).copied(), g.get(i).copied());
        if a != b {
            return format!("line {i}:\n  model: {a:?}\n  store: {b:?}");
        }
    }
    String::new()
}

/// How often the whole of both stores is compared: after every step on
/// SQLite; on DynamoDB (each read a request to moto) after every fifth and
/// the last — every step's outcome is compared on both.
fn compared_after(step: usize, steps: usize, every: usize) -> bool {
    step % every == every - 1 || step + 1 == steps
}

/// Runs `ops` on the model and on `store` (fresh from `fresh`), comparing
/// both whole after every `every` steps; the first step after which they
/// disagree, with how.
async fn disagreement<S: Store>(
    ops: &[Op],
    every: usize,
    fresh: &impl AsyncFn() -> S,
) -> Option<String> {
    let model = ModelStore::new();
    let store = fresh().await;
    for (step, op) in ops.iter().enumerate() {
        let (m, s) = (run(&model, step, *op).await, run(&store, step, *op).await);
        if m != s {
            return Some(format!(
                "step {step} {op:?}: the model says {m:?}, the store {s:?}"
            ));
        }
        if !compared_after(step, ops.len(), every) {
            continue;
        }
        let (m, s) = (snapshot(&model).await, snapshot(&store).await);
        if m != s {
            return Some(format!(
                "after step {step} {op:?} ({}):\n{}",
                m.lines().count(),
                first_difference(&m, &s)
            ));
        }
    }
    None
}

/// The fewest steps of `ops` that still disagree (one step left out at a
/// time, as long as the rest still fails).
async fn shrunk<S: Store>(mut ops: Vec<Op>, every: usize, fresh: &impl AsyncFn() -> S) -> Vec<Op> {
    let mut at = 0;
    while at < ops.len() {
        let mut fewer = ops.clone();
        fewer.remove(at);
        if disagreement(&fewer, every, fresh).await.is_some() {
            ops = fewer;
        } else {
            at += 1;
        }
    }
    ops
}

fn number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// `cases` sequences of `steps` steps (or the one `STORE_MODEL_SEED`
/// names), compared whole after every `every` steps: each must leave the
/// store and the model agreeing.
async fn the_store_agrees_with_the_model<S: Store>(
    which: &str,
    (cases, steps, every): (u64, usize, usize),
    fresh: impl AsyncFn() -> S,
) {
    let seeds: Vec<u64> = match number("STORE_MODEL_SEED") {
        Some(seed) => vec![seed],
        None => (1..=number("STORE_MODEL_CASES").unwrap_or(cases)).collect(),
    };
    for seed in seeds {
        let ops = ops(&mut Rng::new(seed), steps);
        if let Some(how) = disagreement(&ops, every, &fresh).await {
            let fewest = shrunk(ops, every, &fresh).await;
            panic!(
                "{which} disagrees with the model at seed {seed} (replay: STORE_MODEL_SEED={seed}): {how}\nthe fewest steps that still disagree: {fewest:?}\nwhich come to: {}",
                disagreement(&fewest, every, &fresh)
                    .await
                    .unwrap_or_default()
            );
        }
    }
}

#[tokio::test]
async fn sqlite_agrees_with_the_model_on_random_sequences() {
    let fresh = mutualaid_tests::stores::FreshSqlite::default();
    the_store_agrees_with_the_model("SQLite", (40, 40, 1), async || fresh.store()).await;
}

#[tokio::test]
async fn dynamodb_agrees_with_the_model_on_random_sequences() {
    let Some(endpoint) = aws::moto() else { return };
    let fresh = mutualaid_tests::stores::FreshDynamo::new(&endpoint, "model");
    the_store_agrees_with_the_model("DynamoDB", (6, 30, 5), async || fresh.store().await).await;
}
