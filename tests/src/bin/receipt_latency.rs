//! How long a person waits for their receipt: sign-ups sent to `mutualaid
//! serve` at a steady rate (20 a second by default), each with its own
//! email, the receipts delivered through a real SMTP server (aiosmtpd, from
//! the test venv); prints p50, p99 and the slowest time from each `201` to
//! the SMTP server accepting that person's receipt (the time its Maildir
//! file was written).
//!
//! ```sh
//! cargo build --release -p mutualaid -p mutualaid-tests --bins
//! target/release/receipt_latency --mutualaid target/release/mutualaid --rate 20 --seconds 30
//! ```
//!
//! Exits non-zero if a receipt never arrives, or arrives twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    /// The `mutualaid` binary.
    #[arg(long)]
    mutualaid: PathBuf,
    /// Sign-ups a second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Seconds of sign-ups.
    #[arg(long, default_value_t = 30)]
    seconds: u32,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    ensure!(
        cli.mutualaid.is_file(),
        "no mutualaid binary at {}",
        cli.mutualaid.display()
    );
    let smtp = mutualaid_tests::smtp::Server::start().context("no test venv: aiosmtpd")?;
    // The real content, with room for every receipt of the run in an hour.
    let work = tempfile::tempdir()?;
    let content = work.path().join("content");
    mutualaid_tests::copy_tree(&mutualaid_tests::real_content(), &content);
    let config = content.join("config.toml");
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(
        &config,
        text.replace("receipts_per_hour = 60", "receipts_per_hour = 1000000"),
    )?;
    let server = mutualaid_tests::serve::serve(
        &cli.mutualaid,
        &content,
        &work.path().join("public"),
        &work.path().join("data"),
        &["--rate-limit", "1000000", "--smtp", &smtp.url()],
        Stdio::null(),
    );
    let agent = mutualaid_tests::http_agent();
    let total = cli.rate * cli.seconds;
    let every = Duration::from_secs(1) / cli.rate;
    let started = Instant::now();
    let mut acknowledged: HashMap<String, SystemTime> = HashMap::new();
    for i in 0..total {
        let due = started + every * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let email = format!("person{i}@example.org");
        let body = format!(
            r#"{{"name":"Person {i}","email":"{email}","contact_method":"email","zip":"92105","roles":["delivery"],"consent":true}}"#
        );
        let answer = agent
            .post(&format!("{}/api/signup", server.base))
            .header("content-type", "application/json")
            .send(body.as_bytes());
        match answer {
            Ok(r) if r.status().as_u16() == 201 => {
                acknowledged.insert(email, SystemTime::now());
            }
            Ok(r) => bail!("sign-up {i}: {}", r.status()),
            Err(e) => bail!("sign-up {i}: {e}"),
        }
    }
    let sending = started.elapsed();
    // Every receipt, by its recipient, with when the SMTP server took it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut arrived: HashMap<String, Vec<SystemTime>> = HashMap::new();
    while Instant::now() < deadline {
        arrived.clear();
        let new = smtp.maildir().join("mail/new");
        for entry in std::fs::read_dir(&new).into_iter().flatten().flatten() {
            let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let Some(to) = raw
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .map(|t| t.trim().trim_matches(['<', '>']).to_owned())
            else {
                continue;
            };
            let at = entry.metadata()?.modified()?;
            arrived.entry(to).or_default().push(at);
        }
        if acknowledged.keys().all(|e| arrived.contains_key(e)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut waits = Vec::new();
    for (email, at) in &acknowledged {
        let Some(times) = arrived.get(email) else {
            bail!("{email}: no receipt within two minutes of the last sign-up");
        };
        ensure!(times.len() == 1, "{email}: {} receipts", times.len());
        waits.push(times[0].duration_since(*at).unwrap_or_default());
    }
    waits.sort();
    println!(
        "{} sign-ups at {}/s over {:.1} s; 201 → SMTP accepted the receipt: p50 {} ms, p99 {} ms, slowest {} ms",
        total,
        cli.rate,
        sending.as_secs_f64(),
        percentile(&waits, 0.5).as_millis(),
        percentile(&waits, 0.99).as_millis(),
        waits.last().copied().unwrap_or_default().as_millis()
    );
    drop(server);
    Ok(())
}
