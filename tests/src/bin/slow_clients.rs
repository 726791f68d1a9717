//! How many slow clients one `mutualaid serve --production` holds behind
//! Caddy (the Caddyfile `docs/self-hosting.md` documents) while an ordinary
//! person is still answered quickly: for each count of slow clients —
//! bodies a byte every 5 s, spread over 30 loopback addresses, each
//! connecting again as soon as Caddy cuts it — a person from another
//! address asks for the home page and signs up, one after the other, for
//! the whole run; prints the p50, p99 and slowest of those answers.
//!
//! ```sh
//! cargo build --release -p mutualaid -p mutualaid-tests --bins
//! target/release/slow_clients --mutualaid target/release/mutualaid --counts 300,1000,2000,4000
//! ```
//!
//! Exits non-zero if a slow client is ever served, or an acknowledged
//! sign-up is not stored.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, ensure};
use clap::Parser;
use mutualaid_tests::slow::{
    DRIP, Tally, Target, home, ordinary, signup, slow_address, slow_client,
};
use tokio::time::Instant;

#[derive(Parser)]
struct Cli {
    /// The `mutualaid` binary.
    #[arg(long)]
    mutualaid: PathBuf,
    /// Counts of slow clients, one run each.
    #[arg(long, value_delimiter = ',', default_value = "300,1000,2000,4000")]
    counts: Vec<usize>,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

/// The person, on an address of their own.
const PERSON: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    ensure!(
        cli.mutualaid.is_file(),
        "no mutualaid binary at {}",
        cli.mutualaid.display()
    );
    let caddy_bin = mutualaid_tests::caddy::binary().context("Caddy is not installed")?;
    println!(
        "slow clients | ordinary answers | p50 | p99 | slowest | slow clients: 408 / cut / still open"
    );
    println!("---: | ---: | ---: | ---: | ---: | ---");
    for &count in &cli.counts {
        let dir = tempfile::tempdir()?;
        let content = mutualaid_tests::live_content(dir.path());
        let outbox = dir.path().join("outbox");
        let server = mutualaid_tests::serve::serve(
            &cli.mutualaid,
            &content,
            &dir.path().join("public"),
            &dir.path().join("data"),
            &[
                "--production",
                "--trusted-proxy",
                "127.0.0.1",
                "--rate-limit",
                "1000000000",
                "--outbox",
                outbox.to_str().context("a UTF-8 path")?,
            ],
            Stdio::null(),
        );
        let caddy =
            mutualaid_tests::caddy::start(&caddy_bin, server.base.trim_start_matches("http://"));
        let target = Target::caddy(&caddy);
        let tally = Arc::new(Tally::default());
        let until = Instant::now() + Duration::from_secs(cli.seconds);
        let clients: Vec<_> = (0..count)
            .map(|i| {
                tokio::spawn(slow_client(
                    target.clone(),
                    slow_address(i, 30),
                    DRIP,
                    until,
                    tally.clone(),
                ))
            })
            .collect();
        // Let them all connect before the person starts.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut answers = Vec::new();
        let mut acknowledged = Vec::new();
        let mut failures = 0;
        let mut i = 0;
        while Instant::now() + Duration::from_secs(2) < until {
            i += 1;
            let email = format!("person{i}@example.org");
            for request in [home(&target), signup(&target, &email)] {
                let started = Instant::now();
                match ordinary(&target, PERSON, request, Duration::from_secs(10)).await {
                    Ok(status @ (200 | 303)) => {
                        answers.push(started.elapsed());
                        if status == 303 {
                            acknowledged.push(email.clone());
                        }
                    }
                    _ => failures += 1,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for client in clients {
            client.await?;
        }
        answers.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{count} | {}{} | {} | {} | {} | {} / {} / {}",
            answers.len(),
            if failures > 0 {
                format!(" ({failures} failed)")
            } else {
                String::new()
            },
            ms(percentile(&answers, 0.5)),
            ms(percentile(&answers, 0.99)),
            ms(answers.last().copied().unwrap_or_default()),
            tally.timed_out_408.load(Ordering::Relaxed),
            tally.cut.load(Ordering::Relaxed),
            tally.open_at_the_end.load(Ordering::Relaxed),
        );
        ensure!(
            tally.served.load(Ordering::Relaxed) == 0,
            "a slow client was served: {}",
            tally.report()
        );
        let people = Command::new(&cli.mutualaid)
            .args(["export", "--format", "csv", "--table", "people", "--data"])
            .arg(dir.path().join("data"))
            .output()?;
        let people = String::from_utf8_lossy(&people.stdout);
        for email in &acknowledged {
            ensure!(
                people.contains(email.as_str()),
                "{email} was acknowledged and is not stored"
            );
        }
        drop(caddy);
        drop(server);
    }
    Ok(())
}
