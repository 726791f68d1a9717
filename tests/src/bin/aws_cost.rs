//! What the AWS deployment consumes per sign-up and per digest, measured:
//! DynamoDB read and write units computed from the items each call writes
//! and reads (`mutualaid_tests::capacity`; moto reports a constant), and
//! the wall time of each step in process (an upper bound of a Lambda's
//! billed duration: moto on this machine is slower than DynamoDB).
//!
//! For each daily volume given, one day of sign-ups through the handler's
//! router (each from its own address, a third asking for groceries, a third
//! for money, a third volunteering; each with an email, so a receipt), the
//! sender's runs that deliver their receipts (the last finds none left:
//! counted with them), an empty run of the sender
//! (what 1,439 of its 1,440 runs a day are), and the digest; then a second
//! day the same (the digest reads the first day's cases still open).
//!
//! ```text
//! MOTO_ENDPOINT=http://127.0.0.1:5511 target/release/aws_cost --per-day 33 --per-day 333
//! ```
//!
//! BENCHMARKS.md turns the figures into a month's bill.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use clap::Parser;
use mutualaid_handler::digest::{self, DigestConfig, pairing::PairingConfig};
use mutualaid_handler::domain::Retention;
use mutualaid_handler::http::{self, App, ClientAddr, HttpConfig, RateLimit};
use mutualaid_handler::mail::Outbox;
use mutualaid_handler::store::dynamo::DynamoStore;
use mutualaid_tests::capacity::{Capacity, Item, Units};
use tower::ServiceExt;

/// One day's figures.
#[derive(Debug, Default)]
struct Day {
    signups: Units,
    signup_time: Duration,
    deliver: Units,
    deliver_time: Duration,
    sent: usize,
    idle: Units,
    idle_time: Duration,
    digest: Units,
    digest_time: Duration,
}

#[derive(Parser)]
struct Args {
    /// Sign-ups a day (repeatable: one run each).
    #[arg(long = "per-day", default_values_t = [33u64, 333])]
    per_day: Vec<u64>,
    /// moto's address (default: MOTO_ENDPOINT).
    #[arg(long)]
    endpoint: Option<String>,
}

/// Thursday 26 November 2026, noon in San Diego.
const NOON: i64 = 1_795_723_200;
const ORIGIN: &str = "https://mutualaid.example.org";

fn noon() -> i64 {
    NOON
}

async fn table_items(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning the table")?;
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(items);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let endpoint = args
        .endpoint
        .or_else(|| std::env::var("MOTO_ENDPOINT").ok())
        .context("give --endpoint or MOTO_ENDPOINT (a moto server)")?;
    let site = Arc::new(
        mutualaid_site::Site::load(&mutualaid_tests::real_content()).context("the content")?,
    );
    let strings = site.strings.get("en").cloned().context("English words")?;
    let letters = mutualaid_handler::outbox::Letters::new(site.clone(), None, 1_000_000)
        .map_err(anyhow::Error::msg)?;
    println!(
        "| sign-ups a day | day | RRU / sign-up | WRU / sign-up | ms / sign-up | RRU / receipt sent | WRU / receipt sent | ms / receipt | RRU empty sender run | ms empty run | digest RRU | digest WRU | digest ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for per_day in args.per_day {
        let (_, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "cost").await;
        let plain = mutualaid_tests::aws::dynamo(&endpoint).await;
        let capacity = Capacity::default();
        let config = aws_sdk_dynamodb::config::Builder::from(
            &mutualaid_tests::aws::sdk_config(&endpoint).await,
        )
        .interceptor(capacity.clone())
        .build();
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &table)
            .with_retention(365);
        let router = http::router(App {
            store: store.clone(),
            site: site.clone(),
            config: HttpConfig {
                thanks: HttpConfig::thanks_from_site(&site),
                allowed_origins: vec![ORIGIN.to_owned()],
                rate_limit: RateLimit {
                    per_window: 30,
                    window_secs: 600,
                },
                client_salt: "cost".into(),
                store_timeout: Duration::from_secs(10),
                retention: Retention { days: 365 },
                organizer_actions: None,
            },
            clock: noon,
        });
        let outbox = tempfile::tempdir()?;
        let mailer = Outbox {
            dir: outbox.path().to_owned(),
        };
        let digest_config = DigestConfig {
            network: "San Diego Mutual Aid".into(),
            from: "Mutual aid digest <digest@mutualaid.example.org>".parse()?,
            to: vec!["organizers@example.org".parse()?],
            lang: mutualaid_forms::Lang::EN,
            time_zone: "America/Los_Angeles".into(),
            pairing: PairingConfig::default(),
            review_days: 14,
            links: None,
        };
        for day in 0..2u64 {
            let at = NOON + day as i64 * 86_400;
            let mut figures = Day::default();
            let started = Instant::now();
            for i in 0..per_day {
                let n = day * per_day + i;
                let role = ["delivery", "money", "shopper"][(n % 3) as usize];
                let body = format!(
                    "name=Person+{n}&email=person{n}%40example.org&contact_method=email&zip=92105&roles={role}&consent=on&lang=en&website="
                );
                let request = Request::post("/api/signup")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("origin", ORIGIN)
                    .extension(ClientAddr(std::net::IpAddr::from([
                        10,
                        (n >> 16) as u8,
                        (n >> 8) as u8,
                        n as u8,
                    ])))
                    .body(Body::from(body))?;
                let answer = router.clone().oneshot(request).await?;
                anyhow::ensure!(
                    answer.status() == 303,
                    "a sign-up answered {}",
                    answer.status()
                );
            }
            figures.signup_time = started.elapsed();
            figures.signups = capacity.settle(&table_items(&plain, &table).await?);

            // The sender's runs until every receipt is out (200 a run).
            let started = Instant::now();
            loop {
                let done =
                    mutualaid_handler::outbox::deliver_due(&store, &mailer, &letters, at + 60)
                        .await?;
                if done.sent == 0 {
                    break;
                }
                figures.sent += done.sent;
            }
            figures.deliver_time = started.elapsed();
            figures.deliver = capacity.settle(&table_items(&plain, &table).await?);

            let started = Instant::now();
            mutualaid_handler::outbox::deliver_due(&store, &mailer, &letters, at + 120).await?;
            figures.idle_time = started.elapsed();
            figures.idle = capacity.settle(&table_items(&plain, &table).await?);

            let started = Instant::now();
            digest::run(
                &store,
                &mailer,
                &strings,
                &digest_config,
                at + 3_600,
                &format!("cost-{day}"),
            )
            .await?;
            figures.digest_time = started.elapsed();
            figures.digest = capacity.settle(&table_items(&plain, &table).await?);

            let per = |u: f64, n: usize| u / n.max(1) as f64;
            let ms = |d: Duration, n: usize| d.as_secs_f64() * 1_000.0 / n.max(1) as f64;
            println!(
                "| {per_day} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} | {:.1} | {:.0} | {:.1} | {:.1} | {:.0} |",
                day + 1,
                per(figures.signups.read, per_day as usize),
                per(figures.signups.write, per_day as usize),
                ms(figures.signup_time, per_day as usize),
                per(figures.deliver.read, figures.sent),
                per(figures.deliver.write, figures.sent),
                ms(figures.deliver_time, figures.sent),
                figures.idle.read,
                ms(figures.idle_time, 1),
                figures.digest.read,
                figures.digest.write,
                ms(figures.digest_time, 1),
            );
        }
    }
    Ok(())
}
