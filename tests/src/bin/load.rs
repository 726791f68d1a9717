//! Load and faults, on loopback: sends N distinct sign-ups from C concurrent
//! clients to `mutualaid serve` (SQLite) or to the real `submit` Lambda
//! binary (DynamoDB in moto, through a cuttable proxy), then reads the store
//! back and checks that every acknowledged sign-up is stored exactly once —
//! one record per person, created once, every acknowledged reference in the
//! submission log on that person's record — and that nothing but an
//! acknowledgement claimed success.
//!
//! A client behaves like a patient person: a 5xx or no answer is tried
//! again (up to 100 times) until acknowledged. With `--faults` the store is
//! cut while the load runs — serve: another process holds the database's
//! write lock past the handler's timeout; Lambda: the proxy drops, then
//! stalls, every connection to DynamoDB — and then restored, with no
//! process restarted: the handler must recover by itself.
//!
//! Half the people send the plain HTML form (ack: 303 to the thank-you
//! page), half JSON (ack: `201 {"status": "received", "reference"}`). A
//! refused attempt that was stored anyway shows in the log as `created`,
//! followed by the acknowledged retry as `unchanged`.
//!
//! ```sh
//! cargo build --release -p mutualaid -p mutualaid-lambdas -p mutualaid-tests --bins
//! target/release/load serve --mutualaid target/release/mutualaid
//! MOTO_ENDPOINT=http://127.0.0.1:PORT target/release/load lambda --submit target/release/submit
//! ```
//!
//! Prints throughput and latency; exits non-zero when an invariant fails.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};
use mutualaid_handler::store::dynamo::DynamoStore;
use mutualaid_handler::store::roles::*;
use mutualaid_tests::proxy::{self, Mode};
use mutualaid_tests::{aws, lambda};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Load and fault test of the sign-up path (loopback only)")]
struct Cli {
    /// Distinct people who sign up.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Cut the store while the load runs, then restore it.
    #[arg(long)]
    faults: bool,
    #[command(subcommand)]
    target: Target,
}

#[derive(Subcommand)]
enum Target {
    /// `mutualaid serve` on a copy of the real content, SQLite store.
    Serve {
        /// The `mutualaid` binary.
        #[arg(long, default_value = "target/release/mutualaid")]
        mutualaid: PathBuf,
        /// Run `serve --production` (live settings, digest into an outbox)
        /// behind Debian's Caddy over HTTPS, as on a small server.
        #[arg(long)]
        behind_caddy: bool,
    },
    /// The `submit` binary under a Lambda Runtime API emulator, DynamoDB in moto.
    Lambda {
        /// The `submit` binary.
        #[arg(long, default_value = "target/release/submit")]
        submit: PathBuf,
        /// Warm function instances polling the emulator.
        #[arg(long, default_value_t = 8)]
        instances: usize,
        /// moto's address.
        #[arg(long, env = "MOTO_ENDPOINT")]
        moto: String,
    },
    /// Not load: the `submit` binary's cold start (spawn to its first `/next`
    /// call on the emulator, median of 20), its CPU time per valid sign-up
    /// (sequential, after a warm-up), its peak memory, and its size stripped.
    SubmitBench {
        /// The `submit` binary.
        #[arg(long, default_value = "target/release/submit")]
        submit: PathBuf,
        /// moto's address.
        #[arg(long, env = "MOTO_ENDPOINT")]
        moto: String,
    },
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// 303 to the thank-you page (no reference), or 201 with a reference.
    Ack(Option<String>),
    /// A 5xx: not acknowledged, try again.
    Refused(u16),
    /// No answer in time, or the connection broke.
    NoAnswer,
    /// Anything else: a defect.
    Unexpected(String),
}

/// One person's sign-up, in the encoding they use.
struct Person {
    json: bool,
    body: String,
}

const ZIPS: [&str; 8] = [
    "92105", "92115", "92113", "92101", "91910", "92020", "92054", "92025",
];
const ROLES: [&str; 3] = ["shopper", "delivery", "money"];

fn email(i: usize) -> String {
    format!("person{i}@load.example.org")
}

fn person(i: usize) -> Person {
    let zip = ZIPS[i % ZIPS.len()];
    let role = ROLES[i % ROLES.len()];
    let lang = if i.is_multiple_of(5) { "es" } else { "en" };
    if i.is_multiple_of(2) {
        Person {
            json: false,
            body: format!(
                "name=Person+{i}&email=person{i}%40load.example.org&contact_method=email&zip={zip}&roles={role}&consent=on&lang={lang}&website="
            ),
        }
    } else {
        Person {
            json: true,
            body:
                json!({"name": format!("Person {i}"), "email": email(i), "contact_method": "email",
                "zip": zip, "roles": [role], "consent": true, "lang": lang})
                .to_string(),
        }
    }
}

/// Reads an answer (status, location, body) as an outcome.
fn classify(json: bool, status: u16, location: Option<&str>, body: &str) -> Outcome {
    match status {
        303 if !json && location.is_some_and(|l| l.contains("/thanks/")) => Outcome::Ack(None),
        201 if json => {
            let answer = serde_json::from_str::<Value>(body).unwrap_or_default();
            match (answer["status"].as_str(), answer["reference"].as_str()) {
                (Some("received"), Some(reference)) => Outcome::Ack(Some(reference.to_owned())),
                other => Outcome::Unexpected(format!("201 with {other:?}")),
            }
        }
        500..=599 => Outcome::Refused(status),
        _ => Outcome::Unexpected(format!("{status} {location:?}")),
    }
}

/// One person's attempts, in order, with each attempt's latency.
type Attempts = Vec<(Outcome, Duration)>;

/// What the store holds after a run.
#[derive(Default)]
struct Stored {
    /// email → the ids of the records with that email.
    records: BTreeMap<String, Vec<String>>,
    /// The submission log: reference → (record id, outcome).
    log: HashMap<String, (String, String)>,
}

/// A finished run: what was loaded, each person's attempts, the wall time,
/// and what the store holds.
type Run = (String, Vec<Attempts>, Duration, Stored);

/// Runs the load: `send` makes one attempt for person `i`.
fn drive(
    requests: usize,
    clients: usize,
    send: &(dyn Fn(usize, &Person) -> Outcome + Sync),
    acked: &AtomicUsize,
) -> (Vec<Attempts>, Duration) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut results: Vec<(usize, Attempts)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests {
                            return mine;
                        }
                        let p = person(i);
                        let mut attempts = Vec::new();
                        for _ in 0..100 {
                            let t = Instant::now();
                            let outcome = send(i, &p);
                            let done = matches!(outcome, Outcome::Ack(_) | Outcome::Unexpected(_));
                            attempts.push((outcome, t.elapsed()));
                            if done {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        if matches!(attempts.last(), Some((Outcome::Ack(_), _))) {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        mine.push((i, attempts));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a client thread"))
            .collect()
    });
    let wall = started.elapsed();
    results.sort_by_key(|(i, _)| *i);
    (results.into_iter().map(|(_, a)| a).collect(), wall)
}

/// Checks the invariants against what the store holds and prints the
/// figures. Returns the problems.
fn report(what: &str, people: &[Attempts], wall: Duration, stored: &Stored) -> Vec<String> {
    let mut problems = Vec::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut first_try: Vec<Duration> = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    // record id → (created entries, all entries) in the log
    let mut per_record: HashMap<&str, (usize, usize)> = HashMap::new();
    for (id, outcome) in stored.log.values() {
        let e = per_record.entry(id.as_str()).or_default();
        e.0 += usize::from(outcome == "created");
        e.1 += 1;
    }
    let mut stored_though_refused = 0;
    for (i, attempts) in people.iter().enumerate() {
        for (n, (outcome, latency)) in attempts.iter().enumerate() {
            latencies.push(*latency);
            if n == 0 && matches!(outcome, Outcome::Ack(_)) {
                first_try.push(*latency);
            }
            let key = match outcome {
                Outcome::Ack(None) => "ack (form)".into(),
                Outcome::Ack(Some(_)) => "ack (json)".into(),
                Outcome::Refused(s) => format!("refused {s}"),
                Outcome::NoAnswer => "no answer".into(),
                Outcome::Unexpected(s) => {
                    problems.push(format!("person {i}: unexpected answer {s}"));
                    "unexpected".into()
                }
            };
            *tally.entry(key).or_default() += 1;
        }
        let acked = matches!(attempts.last(), Some((Outcome::Ack(_), _)));
        let ids = stored.records.get(&email(i)).cloned().unwrap_or_default();
        if acked && ids.len() != 1 {
            problems.push(format!(
                "person {i} was acknowledged but is stored {} times",
                ids.len()
            ));
        }
        if !acked {
            problems.push(format!(
                "person {i} was never acknowledged in {} attempts (stored {} times)",
                attempts.len(),
                ids.len()
            ));
        }
        if let [id] = ids.as_slice() {
            let (created, entries) = per_record.get(id.as_str()).copied().unwrap_or((0, 0));
            if created != 1 {
                problems.push(format!("person {i}'s record was created {created} times"));
            }
            if entries == 0 || entries > attempts.len() {
                problems.push(format!(
                    "person {i}: {entries} submissions logged for {} attempts",
                    attempts.len()
                ));
            }
            stored_though_refused += entries.saturating_sub(1);
        }
        if let Some((Outcome::Ack(Some(reference)), _)) = attempts.last() {
            match stored.log.get(reference) {
                Some((id, _)) if ids.contains(id) => {}
                Some(_) => problems.push(format!(
                    "person {i}: acknowledged reference {reference} is logged on another record"
                )),
                None => problems.push(format!(
                    "person {i}: acknowledged reference {reference} is not in the submission log"
                )),
            }
        }
    }
    let strangers = stored
        .records
        .keys()
        .filter(|e| !e.ends_with("@load.example.org"))
        .count();
    if strangers > 0 {
        problems.push(format!("{strangers} stored records nobody sent"));
    }
    let records: usize = stored.records.values().map(Vec::len).sum();
    latencies.sort();
    first_try.sort();
    let pct = |v: &[Duration], p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let at = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[at].as_secs_f64() * 1000.0
    };
    println!("\n== {what}");
    println!(
        "people: {}, attempts: {}, wall: {:.2} s",
        people.len(),
        latencies.len(),
        wall.as_secs_f64()
    );
    println!(
        "throughput: {:.0} attempts/s, {:.0} acknowledged sign-ups/s",
        latencies.len() as f64 / wall.as_secs_f64(),
        people.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "latency, every attempt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0)
    );
    println!(
        "latency, acknowledged at the first attempt ({}): p50 {:.2} ms, p99 {:.2} ms",
        first_try.len(),
        pct(&first_try, 0.50),
        pct(&first_try, 0.99)
    );
    for (k, n) in &tally {
        println!("  {k}: {n}");
    }
    println!(
        "store: {records} records for {} people, {} submissions logged; refused yet stored, then `unchanged` on retry: {stored_though_refused}",
        stored.records.len(),
        stored.log.len()
    );
    if problems.is_empty() {
        println!(
            "ok: every acknowledged sign-up is stored exactly once (one record, created once, its reference logged on it); every other answer was a 5xx or none"
        );
    }
    problems
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Target::SubmitBench { submit, moto } = &cli.target {
        return submit_bench(submit, moto, cli.requests);
    }
    let (what, people, wall, stored) = match &cli.target {
        Target::Serve {
            mutualaid,
            behind_caddy,
        } => load_serve(&cli, mutualaid, *behind_caddy)?,
        Target::Lambda {
            submit,
            instances,
            moto,
        } => load_lambda(&cli, submit, *instances, moto)?,
        Target::SubmitBench { .. } => unreachable!("handled above"),
    };
    let problems = report(&what, &people, wall, &stored);
    if !problems.is_empty() {
        for p in problems.iter().take(20) {
            eprintln!("FAIL: {p}");
        }
        bail!("{} problems", problems.len());
    }
    Ok(())
}

/// Copies the real content into a temporary folder.
fn content_copy(dir: &Path) -> PathBuf {
    let content = dir.join("content");
    mutualaid_tests::copy_tree(&mutualaid_tests::real_content(), &content);
    content
}

fn load_serve(cli: &Cli, bin: &Path, behind_caddy: bool) -> anyhow::Result<Run> {
    ensure!(bin.is_file(), "no mutualaid binary at {}", bin.display());
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let outbox = dir.path().join("outbox");
    let (content, extra) = if behind_caddy {
        let production = [
            "--production",
            "--trusted-proxy",
            "127.0.0.1",
            "--outbox",
            outbox.to_str().context("a UTF-8 temporary path")?,
            "--rate-limit",
            "1000000000",
        ]
        .map(str::to_owned)
        .to_vec();
        (mutualaid_tests::live_content(dir.path()), production)
    } else {
        // The load's clients stand for many people, all on 127.0.0.1: one
        // address's share of connections would be theirs together.
        let share = cli.clients.saturating_mul(2).to_string();
        (
            content_copy(dir.path()),
            vec![
                "--rate-limit".to_owned(),
                "1000000000".to_owned(),
                "--max-connections-per-client".to_owned(),
                share,
            ],
        )
    };
    let server = mutualaid_tests::serve::serve(
        bin,
        &content,
        &dir.path().join("public"),
        &data,
        &extra.iter().map(String::as_str).collect::<Vec<_>>(),
        Stdio::null(),
    );
    let caddy = match behind_caddy {
        true => {
            let caddy_bin = mutualaid_tests::caddy::binary().context("Caddy is not installed")?;
            Some(mutualaid_tests::caddy::start(
                &caddy_bin,
                server.base.trim_start_matches("http://"),
            ))
        }
        false => None,
    };
    let (agent, base, origin): (ureq::Agent, String, String) = match &caddy {
        Some(caddy) => (
            caddy.agent(),
            caddy.base.clone(),
            mutualaid_tests::SITE.to_owned(),
        ),
        None => (
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(15)))
                .build()
                .into(),
            server.base.clone(),
            server.base.clone(),
        ),
    };
    let send = |_: usize, p: &Person| -> Outcome {
        let content_type = if p.json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        match agent
            .post(&format!("{base}/api/signup"))
            .header("content-type", content_type)
            .header("origin", &origin)
            .send(&p.body)
        {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let location = r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = r.body_mut().read_to_string().unwrap_or_default();
                classify(p.json, status, location.as_deref(), &body)
            }
            Err(_) => Outcome::NoAnswer,
        }
    };
    let acked = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let db = data.join("mutualaid.sqlite3");
    let (people, wall) = std::thread::scope(|scope| {
        if cli.faults {
            scope.spawn(|| serve_faults(&db, cli.requests, &acked, &done));
        }
        let result = drive(cli.requests, cli.clients, &send, &acked);
        done.store(true, Ordering::Relaxed);
        result
    });
    let export = |table: &str| -> anyhow::Result<String> {
        let csv = Command::new(bin)
            .args(["export", "--format", "csv", "--table", table, "--data"])
            .arg(&data)
            .output()
            .context("running mutualaid export")?;
        ensure!(
            csv.status.success(),
            "mutualaid export failed: {}",
            String::from_utf8_lossy(&csv.stderr)
        );
        Ok(String::from_utf8(csv.stdout)?)
    };
    let (people_csv, log_csv) = (export("people")?, export("submissions")?);
    drop(caddy);
    drop(server);
    let mut stored = Stored::default();
    for row in csv_rows(&people_csv, &["email", "id"])? {
        stored
            .records
            .entry(row[0].clone())
            .or_default()
            .push(row[1].clone());
    }
    for row in csv_rows(&log_csv, &["reference", "record_id", "outcome"])? {
        stored
            .log
            .insert(row[0].clone(), (row[1].clone(), row[2].clone()));
    }
    let what = format!(
        "mutualaid serve{} (SQLite): {} sign-ups, {} clients{}",
        if behind_caddy {
            " --production behind Caddy (HTTPS)"
        } else {
            ""
        },
        cli.requests,
        cli.clients,
        if cli.faults {
            ", store locked twice for 7 s"
        } else {
            ""
        }
    );
    Ok((what, people, wall, stored))
}

/// The named columns of an export's rows.
fn csv_rows(csv: &str, columns: &[&str]) -> anyhow::Result<Vec<Vec<String>>> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader
        .headers()
        .context("the export has a header row")?
        .clone();
    let at: Vec<usize> = columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == *c)
                .with_context(|| format!("the export has a {c} column"))
        })
        .collect::<anyhow::Result<_>>()?;
    reader
        .records()
        .map(|row| {
            let row = row.context("an export row")?;
            Ok(at
                .iter()
                .map(|i| row.get(*i).unwrap_or_default().to_owned())
                .collect())
        })
        .collect()
}

/// Waits until `acked` reaches `n`, or the run ends.
fn wait_for_progress(acked: &AtomicUsize, n: usize, done: &AtomicBool) -> bool {
    while acked.load(Ordering::Relaxed) < n {
        if done.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Serve's faults: at 25 % and 60 % of the people, another process takes
/// the database's write lock and holds it for 7 s (past the handler's 5 s
/// store timeout), then lets go.
fn serve_faults(db: &Path, requests: usize, acked: &AtomicUsize, done: &AtomicBool) {
    for share in [25, 60] {
        if !wait_for_progress(acked, requests * share / 100, done) {
            return;
        }
        let conn = rusqlite::Connection::open(db).expect("opening the store's file");
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("taking the write lock");
        println!("fault: store locked at {share} %");
        std::thread::sleep(Duration::from_secs(7));
        conn.execute_batch("ROLLBACK").expect("releasing the lock");
        println!("fault: store released");
    }
}

fn load_lambda(cli: &Cli, bin: &Path, instances: usize, moto: &str) -> anyhow::Result<Run> {
    ensure!(bin.is_file(), "no submit binary at {}", bin.display());
    let (runtime, store, table) = runtime_and_table(moto, "load")?;
    let proxy = runtime.block_on(proxy::start(moto.trim_start_matches("http://").to_owned()));
    let emulator = runtime.block_on(lambda::start());
    let mut functions: Vec<Child> = (0..instances)
        .map(|_| start_submit(bin, &emulator, &proxy.url, &table))
        .collect::<anyhow::Result<_>>()?;
    let pids: Vec<u32> = functions.iter().map(Child::id).collect();

    let handle = runtime.handle().clone();
    let send = |i: usize, p: &Person| -> Outcome {
        let content_type = if p.json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let source_ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        let event = lambda::http_event(false, "/api/signup", content_type, &p.body, &source_ip);
        match handle.block_on(emulator.invoke_within(event, Duration::from_secs(15))) {
            Some((false, answer)) => {
                let status = answer["statusCode"].as_u64().unwrap_or(0) as u16;
                classify(
                    p.json,
                    status,
                    answer["headers"]["location"].as_str(),
                    answer["body"].as_str().unwrap_or_default(),
                )
            }
            Some((true, error)) => Outcome::Unexpected(format!("function error {error}")),
            None => Outcome::NoAnswer,
        }
    };
    let acked = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let proxy = Arc::new(proxy);
    let (people, wall) = std::thread::scope(|scope| {
        if cli.faults {
            let proxy = proxy.clone();
            let (acked, done) = (&acked, &done);
            scope.spawn(move || lambda_faults(&proxy, cli.requests, acked, done));
        }
        let result = drive(cli.requests, cli.clients, &send, &acked);
        done.store(true, Ordering::Relaxed);
        result
    });
    for (f, pid) in functions.iter_mut().zip(&pids) {
        ensure!(
            f.try_wait()?.is_none(),
            "function instance {pid} exited during the run: it should recover in place"
        );
        let _ = f.kill();
        let _ = f.wait();
    }
    let everyone = runtime.block_on(store.everyone())?;
    ensure!(
        everyone.unreadable.is_empty(),
        "unreadable records: {:?}",
        everyone.unreadable
    );
    let mut stored = Stored::default();
    for p in everyone.people {
        let email = p.submission.email().unwrap_or_default().to_owned();
        stored.records.entry(email).or_default().push(p.id);
    }
    for e in runtime.block_on(store.submissions())? {
        stored
            .log
            .insert(e.reference, (e.person_id, e.outcome.name().to_owned()));
    }
    let what = format!(
        "submit Lambda ({instances} instances) + DynamoDB (moto): {} sign-ups, {} clients{}",
        cli.requests,
        cli.clients,
        if cli.faults {
            ", connections to DynamoDB dropped for 2 s, then stalled for 3 s"
        } else {
            ""
        }
    );
    Ok((what, people, wall, stored))
}

/// The Lambda's faults: at 25 % every connection to DynamoDB is dropped for
/// 2 s; at 60 % they are stalled for 3 s (past the 1 s store timeout).
fn lambda_faults(proxy: &proxy::Proxy, requests: usize, acked: &AtomicUsize, done: &AtomicBool) {
    for (share, mode, secs) in [(25, Mode::Drop, 2), (60, Mode::Stall, 3)] {
        if !wait_for_progress(acked, requests * share / 100, done) {
            return;
        }
        proxy.set(mode);
        println!("fault: DynamoDB connections {mode:?} at {share} % for {secs} s");
        std::thread::sleep(Duration::from_secs(secs));
        proxy.set(Mode::Pass);
        println!("fault: DynamoDB restored");
    }
}

/// The `submit` binary's environment: DynamoDB through the proxy, a rate
/// limit the load never reaches, and a 1 s store timeout (a 503 when the
/// proxy stalls, as in production).
fn submit_env(runtime_api: &str, dynamodb: &str, table: &str) -> Vec<(&'static str, String)> {
    let env = lambda::submit_env(runtime_api, dynamodb, table);
    let env = lambda::with_env(env, "RATE_LIMIT_PER_WINDOW", "1000");
    lambda::with_env(env, "STORE_TIMEOUT_MS", "1000")
}

/// A Tokio runtime for the emulator and the SDK, and a new table in moto.
fn runtime_and_table(
    moto: &str,
    what: &str,
) -> anyhow::Result<(tokio::runtime::Runtime, DynamoStore, String)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let table = aws::unique_table(what);
    let store = runtime.block_on(async {
        aws::edge_secret(moto).await;
        let store = DynamoStore::new(aws::dynamo(moto).await, &table);
        store.create_table().await.map(|_| store)
    })?;
    Ok((runtime, store, table))
}

/// Starts one `submit` process on `emulator`, talking to `dynamodb`.
fn start_submit(
    bin: &Path,
    emulator: &lambda::Emulator,
    dynamodb: &str,
    table: &str,
) -> anyhow::Result<Child> {
    Command::new(bin)
        .envs(submit_env(&emulator.address, dynamodb, table))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting submit")
}

/// User + system CPU time of a process, from `/proc/PID/stat` (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("stat has a name")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

/// A line of `/proc/PID/status` such as `VmHWM`, in KiB.
fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("{key} in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

fn submit_bench(bin: &Path, moto: &str, requests: usize) -> anyhow::Result<()> {
    ensure!(bin.is_file(), "no submit binary at {}", bin.display());
    let (runtime, _, table) = runtime_and_table(moto, "bench")?;

    let mut starts = Vec::new();
    for _ in 0..20 {
        let emulator = runtime.block_on(lambda::start());
        let spawned = Instant::now();
        let mut child = start_submit(bin, &emulator, moto, &table)?;
        let deadline = spawned + Duration::from_secs(10);
        let first = loop {
            if let Some(t) = emulator.first_poll() {
                break t;
            }
            ensure!(
                Instant::now() < deadline,
                "submit never polled the emulator"
            );
            std::thread::sleep(Duration::from_micros(200));
        };
        starts.push(first - spawned);
        let _ = child.kill();
        let _ = child.wait();
    }
    starts.sort();

    let emulator = runtime.block_on(lambda::start());
    let mut child = start_submit(bin, &emulator, moto, &table)?;
    let sign_up = |i: usize| -> anyhow::Result<()> {
        let p = person(i | 1); // odd: JSON, acknowledged with 201
        // Each person from their own address, as in life (one address would meet the rate limit).
        let address = format!("10.9.{}.{}", (i >> 8) & 255, i & 255);
        let event = lambda::http_event(false, "/api/signup", "application/json", &p.body, &address);
        // moto now and then takes longer than the 1 s store timeout: a 503, tried again.
        for _ in 0..5 {
            let (failed, answer) = runtime
                .block_on(emulator.invoke_within(event.clone(), Duration::from_secs(15)))
                .context("submit answers")?;
            ensure!(!failed, "sign-up {i}: {answer}");
            match answer["statusCode"].as_u64() {
                Some(201) => return Ok(()),
                Some(503) => continue,
                _ => bail!("sign-up {i}: {answer}"),
            }
        }
        bail!("sign-up {i}: 503 five times")
    };
    for i in 0..50 {
        sign_up(2 * i)?;
    }
    let before = cpu_time(child.id())?;
    let started = Instant::now();
    for i in 50..50 + requests {
        sign_up(2 * i)?;
    }
    let wall = started.elapsed();
    let cpu = cpu_time(child.id())? - before;
    let peak_kib = status_kib(child.id(), "VmHWM")?;
    let _ = child.kill();
    let _ = child.wait();

    let dir = tempfile::tempdir()?;
    let stripped = dir.path().join("submit");
    // Not an executable when a profiler wraps it (handler/bench/submit-profile.sh).
    let strip = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(bin)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running strip (binutils)")?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("== the submit binary ({})", bin.display());
    println!(
        "cold start, spawn to first /next (20 runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(starts[starts.len() / 2]),
        ms(starts[0]),
        ms(starts[starts.len() - 1])
    );
    println!(
        "{requests} valid sign-ups in sequence (JSON, DynamoDB in moto): CPU {:.0} µs per sign-up (user + system, whole process); wall {:.1} ms each, mostly moto",
        cpu.as_secs_f64() * 1e6 / requests as f64,
        ms(wall) / requests as f64
    );
    println!("peak memory (VmHWM): {:.1} MiB", peak_kib as f64 / 1024.0);
    if strip.success() {
        println!(
            "size: {:.1} MiB, stripped {:.1} MiB",
            std::fs::metadata(bin)?.len() as f64 / 1048576.0,
            std::fs::metadata(&stripped)?.len() as f64 / 1048576.0
        );
    } else {
        println!("size: {} is not an executable file", bin.display());
    }
    Ok(())
}
