//! `mutualaid`: the one command for the whole product on one machine.
//!
//! - `mutualaid build` writes the static site (`content/` → `public/`).
//! - `mutualaid check` reports every problem in the content with file, line
//!   and a hint, and exits non-zero if there is one.
//! - `mutualaid serve` builds, serves the site on loopback with the form
//!   handler at `/api` (SQLite in the data folder), rebuilds when content
//!   changes and reloads the browser.
//! - `mutualaid export --format csv` prints the stored records (or, with
//!   `--table submissions`, the submission log) as CSV.
//! - `mutualaid digest` sends the organizers' digest.
//! - `mutualaid cases` lists the open and matched cases and acts on them
//!   (confirm, decline, close, fund, reopen, keep, pause).

mod cases;
mod digest;
mod erase;
mod listen;
mod schedule;
mod serve;
mod static_site;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mutualaid_handler::contacts::{Decided, Decision, decide};
use mutualaid_handler::store::Actor;
use mutualaid_site::{Site, SiteError};

#[derive(Parser)]
#[command(
    name = "mutualaid",
    version,
    about = "The mutual-aid network's site and intake, on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum ContactsCommand {
    /// Mail to EMAIL again: it said "this wasn't me" once.
    Allow {
        /// The address.
        email: String,
    },
    /// The new email or phone the public form brought to RECORD becomes
    /// its contact (you reached the person through a confirmed one): the
    /// old email's links stop, a new email gets a link to the page.
    Confirm {
        /// The record, as the digest names it.
        record: String,
    },
    /// Drop the new email or phone the public form brought to RECORD, and
    /// put the sign-up back as it was before that change.
    Drop {
        /// The record, as the digest names it.
        record: String,
    },
}

#[derive(Subcommand)]
enum LinkCommand {
    /// Revoke every link to RECORD's own page (its person can ask for a
    /// new one on "Email me my link again").
    Revoke {
        /// The record, as the digest names it.
        record: String,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Build the static site.
    Build {
        /// The content folder.
        #[arg(long, default_value = "content")]
        content: PathBuf,
        /// Where to write the site (an earlier build there is replaced).
        #[arg(long, default_value = "public")]
        out: PathBuf,
        /// For the live site: refuse settings that are still placeholders.
        #[arg(long)]
        production: bool,
    },
    /// Check the content: front matter, twins in every language, links,
    /// form texts, settings.
    Check {
        /// The content folder.
        #[arg(long, default_value = "content")]
        content: PathBuf,
        /// For the live site: also refuse settings that are still
        /// placeholders (example.org addresses, the example Discord invite,
        /// localhost).
        #[arg(long)]
        production: bool,
    },
    /// Build, serve on 127.0.0.1 with the form handler at /api, and rebuild
    /// on change, with live reload. With --production: the live site on one
    /// server, behind a reverse proxy (docs/self-hosting.md).
    Serve {
        /// The content folder.
        #[arg(long, default_value = "content")]
        content: PathBuf,
        /// Where to write the site.
        #[arg(long, default_value = "public")]
        out: PathBuf,
        /// The port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Where to listen instead, ADDR:PORT (`127.0.0.1:8000`,
        /// `[::1]:8000`).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The live site: settings must not be placeholders; built once and
        /// served from memory, compressed, with security headers and no
        /// reload script; the digest sent daily (say where: --smtp or
        /// --outbox).
        #[arg(long)]
        production: bool,
        /// A reverse proxy in front (an address or a network, repeatable):
        /// only its X-Forwarded-For / Forwarded name the client (for the
        /// rate limit) and its X-Forwarded-Proto turns on HSTS.
        #[arg(long, requires = "production")]
        trusted_proxy: Vec<String>,
        /// Send the digest daily at this time, HH:MM in the organizers' time
        /// zone (default with --production: `digest_at` in config.toml,
        /// else 07:00; without --production, only when given).
        #[arg(long)]
        digest_at: Option<String>,
        /// The digest: where it goes and how it is made.
        #[command(flatten)]
        digest: digest::DigestArgs,
        /// The clock starts at this moment, seconds since the epoch (tests).
        #[arg(long, hide = true)]
        clock_start: Option<i64>,
        /// Where submissions are stored (SQLite) and digests written.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Submissions one client may make per 10 minutes.
        #[arg(long, default_value_t = 30)]
        rate_limit: u64,
        /// Seconds a client may take to send a request's headers (a slower
        /// one is cut off, so it cannot hold a connection).
        #[arg(long, default_value_t = 10)]
        header_timeout: u64,
        /// Seconds a client may take to send a request's whole body, from
        /// the end of its headers (past it: 408, and the connection closed).
        #[arg(long, default_value_t = 20)]
        body_timeout: u64,
        /// Bytes per second a request's body must keep up after its first
        /// second (a slower one: 408, and the connection closed).
        #[arg(long, default_value_t = 1024)]
        min_body_rate: u64,
        /// Connections served at once. When all are taken, a new one takes
        /// the place of the connection idle longest, else of the unfinished
        /// request open longest.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// Connections one client (an IPv4 address, an IPv6 /64) may hold at
        /// once (an IPv6 /48: four times this); a --trusted-proxy is not
        /// held to it. Past it, its own idle connections close first, then a
        /// new one is refused.
        #[arg(long, default_value_t = 16)]
        max_connections_per_client: usize,
        /// Seconds between deletions of expired records and old mail (tests).
        #[arg(long, default_value_t = 3600, hide = true)]
        purge_every: u64,
        /// The sender of messages to people (receipts), `Name <address>` or
        /// an address (default: the network's short name and
        /// `contact_email`). They go through --smtp when it is given, else
        /// into `<data>/messages/` as `.eml` files.
        #[arg(long)]
        mail_from: Option<String>,
    },
    /// Print the stored records (or the submission log). A record that
    /// cannot be read is named on stderr; every other one is printed.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// What to print: each person's record, or every accepted submission
        /// by its reference (time, form, record, outcome).
        #[arg(long, value_enum, default_value_t = Table::People)]
        table: Table,
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Only records changed on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
    },
    /// Send the organizers' digest of everything since the last one: to the
    /// outbox folder (`<data>/outbox/`, the default) or through SMTP.
    Digest {
        /// The content folder (the digest's words).
        #[arg(long, default_value = "content")]
        content: PathBuf,
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Print the text part and send nothing, move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where it goes and how it is made.
        #[command(flatten)]
        digest: digest::DigestArgs,
        /// The clock, in seconds since the epoch (tests; default: now).
        #[arg(long, hide = true)]
        now: Option<i64>,
    },
    /// The organizers' cases: list what is open and matched, and act on a
    /// case by its id (as the digest shows it).
    Cases {
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data", global = true)]
        data: PathBuf,
        /// The clock, in seconds since the epoch (tests; default: now).
        #[arg(long, hide = true, global = true)]
        now: Option<i64>,
        #[command(subcommand)]
        action: cases::CasesCommand,
    },
    /// People's contacts: `allow EMAIL` lifts "this wasn't me" from an
    /// address (an organizer who reached the person and knows they want
    /// mail again); `confirm RECORD` and `drop RECORD` decide a new email
    /// or phone the public form brought, after you reached the person.
    Contacts {
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data", global = true)]
        data: PathBuf,
        #[command(subcommand)]
        action: ContactsCommand,
    },
    /// People's private links to their own page: `revoke RECORD`.
    Link {
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data", global = true)]
        data: PathBuf,
        #[command(subcommand)]
        action: LinkCommand,
    },
    /// Copy the store to a new file while `serve` keeps running: a
    /// consistent snapshot (every submission acknowledged before it began),
    /// checked, readable by you only. To restore: stop `serve`, put the copy
    /// at `<data>/mutualaid.sqlite3` (remove `-wal` and `-shm` beside it),
    /// start `serve`.
    Backup {
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// The new file to write (it must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Delete a person's data at their request. Lists the records with that
    /// email or phone; deletes the one record (or, when several share it —
    /// a household, a borrowed phone — the one `--record` picks) with every
    /// version, its submission log and its cases, overwriting what it
    /// deletes. A case it volunteered for goes back to waiting.
    Delete {
        /// The email address the person gave.
        #[arg(long, required_unless_present = "phone", conflicts_with = "phone")]
        email: Option<String>,
        /// The phone number the person gave.
        #[arg(long)]
        phone: Option<String>,
        /// The record to delete, when several hold that email or phone.
        #[arg(long)]
        record: Option<String>,
        /// The data folder `serve` stores in.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
    },
}

/// Export formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Comma-separated values with a header row.
    Csv,
}

/// What `export` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Table {
    /// One row per person: their latest details.
    People,
    /// One row per accepted submission, by reference.
    Submissions,
    /// One row per case (request), closed ones too.
    Cases,
    /// One row per organizer action: the cases' history.
    Actions,
}

impl From<Table> for mutualaid_handler::export::Table {
    fn from(table: Table) -> Self {
        use mutualaid_handler::export::Table as T;
        match table {
            Table::People => T::People,
            Table::Submissions => T::Submissions,
            Table::Cases => T::Cases,
            Table::Actions => T::Actions,
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The site in `content`, or `None` after printing its problems (and, for
/// `production`, every placeholder setting a live site must not ship).
fn load(content: &std::path::Path, production: bool) -> anyhow::Result<Option<Site>> {
    match Site::load(content) {
        Ok(site) if production && !ready_for_production(&site) => Ok(None),
        Ok(site) => Ok(Some(site)),
        Err(SiteError::Content(problems)) => {
            eprintln!("{problems}");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("loading the site from {}", content.display())),
    }
}

/// Prints every setting a live site must not ship, as `file:line` problems
/// under the content folder; whether there were none.
fn ready_for_production(site: &Site) -> bool {
    let problems = site.production_problems();
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        eprintln!(
            "{} setting(s) still placeholders: not ready for the live site",
            problems.len()
        );
    }
    problems.is_empty()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build {
            content,
            out,
            production,
        } => {
            let started = Instant::now();
            let Some(site) = load(&content, production)? else {
                return Ok(ExitCode::FAILURE);
            };
            let report = site
                .build(&out)
                .with_context(|| format!("writing the site to {}", out.display()))?;
            println!(
                "Built {} pages ({} files, {} KiB) into {} in {} ms",
                report.pages,
                report.files,
                report.bytes / 1024,
                out.display(),
                started.elapsed().as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            content,
            production,
        } => {
            let Some(site) = load(&content, production)? else {
                return Ok(ExitCode::FAILURE);
            };
            site.render().context("rendering the pages")?;
            for note in &site.notes {
                println!("note: {}", note.to_string().replace('\n', "\nnote: "));
            }
            println!(
                "{}: {} pages, no problems",
                content.display(),
                site.pages.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            content,
            out,
            port,
            listen,
            production,
            trusted_proxy,
            digest_at,
            digest,
            clock_start,
            data,
            rate_limit,
            header_timeout,
            body_timeout,
            min_body_rate,
            max_connections,
            max_connections_per_client,
            purge_every,
            mail_from,
        } => {
            let Some(site) = load(&content, production)? else {
                return Ok(ExitCode::FAILURE);
            };
            if let Some(at) = clock_start {
                schedule::start_clock_at(at);
            }
            let trusted = mutualaid_handler::http::forwarded::TrustedProxies::parse(&trusted_proxy)
                .map_err(anyhow::Error::msg)?;
            // In production the digest always runs, and where it goes is said; in development, when asked.
            let digest_at = match (digest_at, production) {
                (Some(at), _) => Some(
                    mutualaid_site::config::parse_time_of_day(&at)
                        .map_err(|why| anyhow::anyhow!("--digest-at: {why}"))?,
                ),
                (None, true) => Some(site.config.digest_time().map_err(anyhow::Error::msg)?),
                (None, false) => None,
            };
            // The SMTP transport's connection pool lives on the runtime.
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let _in_runtime = runtime.enter();
            let schedule = match digest_at {
                Some(time) => {
                    let default_outbox = (!production).then(|| data.join("outbox"));
                    let digester = digest::Digester::new(&site, &digest, &data, default_outbox)?;
                    let zone = jiff::tz::TimeZone::get(&digester.config.time_zone)
                        .context("the digest's time zone")?;
                    Some((digester, schedule::DailyAt { time, zone }))
                }
                None => None,
            };
            let people_mail = digest::delivery(&digest, Some(data.join(serve::MESSAGES_FOLDER)))?;
            // One JSON line per request on stderr; never a submitted value.
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .init();
            runtime.block_on(serve::serve(serve::Options {
                site,
                content,
                out,
                listen: listen.unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
                production: production.then_some(trusted),
                schedule,
                data,
                rate_limit,
                cap: digest.cap,
                limits: listen::Limits {
                    header_timeout: std::time::Duration::from_secs(header_timeout),
                    body_timeout: std::time::Duration::from_secs(body_timeout),
                    min_body_rate,
                    max_connections,
                    max_connections_per_client,
                    grace: std::time::Duration::from_secs(30),
                },
                purge_every: std::time::Duration::from_secs(purge_every.max(1)),
                sender: (people_mail, mail_from),
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            format: Format::Csv,
            table,
            data,
            since,
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            let since = match since {
                None => i64::MIN,
                Some(day) => mutualaid_handler::export::day_start(&day)
                    .with_context(|| format!("--since {day}: expected a day like 2026-11-26"))?,
            };
            let out = std::io::stdout().lock();
            let warnings = runtime
                .block_on(mutualaid_handler::export::table(
                    &store,
                    table.into(),
                    since,
                    out,
                ))
                .context("exporting")?;
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { data, to } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            let (records, submissions) = runtime
                .block_on(store.backup_to(&to))
                .with_context(|| format!("backing up to {}", to.display()))?;
            println!(
                "Backed up {records} records and {submissions} logged submissions to {}.",
                to.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete {
            email,
            phone,
            record,
            data,
        } => {
            let contact = match (&email, &phone) {
                (Some(e), _) => mutualaid_handler::erase::Contact::email(e),
                (None, Some(p)) => mutualaid_handler::erase::Contact::phone(p),
                (None, None) => None,
            };
            let Some(contact) = contact else {
                eprintln!(
                    "error: that is not an email address or phone number (write one as the person gave it, like ana@example.org or \"619 555 0123\")"
                );
                return Ok(ExitCode::FAILURE);
            };
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            runtime.block_on(erase::run(&store, &contact, record.as_deref()))
        }
        Command::Contacts {
            data,
            action: ContactsCommand::Allow { email },
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            let lifted = runtime.block_on(mutualaid_handler::outbox::allow(&store, &email))?;
            if lifted {
                println!("Mail to that address is allowed again.");
            } else {
                println!("That address had not said \"this wasn't me\": nothing to lift.");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Contacts { data, action } => {
            let (decision, record) = match action {
                ContactsCommand::Confirm { record } => (Decision::Confirm, record),
                ContactsCommand::Drop { record } => (Decision::Drop, record),
                ContactsCommand::Allow { .. } => unreachable!("matched above"),
            };
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            let now = mutualaid_handler::clock::system_clock();
            let decided =
                runtime.block_on(decide(&store, &record, None, decision, Actor::Cli, now))?;
            let (said, ok) = match (decided, decision) {
                (Decided::Done, Decision::Confirm) => (
                    "Confirmed: the new contact is the record's now; the old email's links stopped.",
                    true,
                ),
                (Decided::Done, Decision::Drop) => (
                    "Dropped: the sign-up is back as it was before the new contact came.",
                    true,
                ),
                (Decided::NothingPending, _) => (
                    "That record has no new contact waiting: nothing to do.",
                    true,
                ),
                (Decided::NoRecord, _) => ("error: no record has that id.", false),
                (Decided::Moved, _) => ("error: the record kept changing; run it again.", false),
            };
            if ok {
                println!("{said}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{said}");
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Link {
            data,
            action: LinkCommand::Revoke { record },
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            match runtime.block_on(mutualaid_handler::contacts::revoke_links(&store, &record))? {
                Some(n) => {
                    println!("Revoked {n} link(s) to that record's page.");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no record has that id.");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Cases { data, now, action } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            let now = now.unwrap_or_else(mutualaid_handler::clock::system_clock);
            runtime.block_on(cases::run(&store, action, now))
        }
        Command::Digest {
            content,
            data,
            dry_run,
            digest,
            now,
        } => {
            let Some(site) = load(&content, false)? else {
                return Ok(ExitCode::FAILURE);
            };
            // The SMTP transport's connection pool lives on the runtime.
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let _in_runtime = runtime.enter();
            let digester = digest::Digester::new(&site, &digest, &data, Some(data.join("outbox")))?;
            let store = serve::open_store(&data)?;
            let now = now.unwrap_or_else(mutualaid_handler::clock::system_clock);
            runtime.block_on(send_digest(&store, &digester, dry_run, now))
        }
    }
}

/// `mutualaid digest`: a dry run prints; otherwise send and report.
async fn send_digest(
    store: &mutualaid_handler::store::sqlite::SqliteStore,
    digester: &digest::Digester,
    dry_run: bool,
    now: i64,
) -> anyhow::Result<ExitCode> {
    use mutualaid_handler::digest::{self, RunReport};
    use mutualaid_handler::store::roles::*;
    if dry_run {
        let state = store
            .digest_state()
            .await
            .context("reading the digest state")?;
        let (d, _) =
            digest::prepare(store, &digester.strings, &digester.config, &state, now).await?;
        print!(
            "{}",
            digest::render::text(&d, &digester.strings, &digester.config)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let run_id = format!("cli-{}", std::process::id());
    let report = digester.send(store, now, &run_id).await?;
    if let (Some(dir), RunReport::Sent { .. }) = (digester.outbox(), &report) {
        println!("Wrote the digest to {}", dir.display());
    }
    match report {
        RunReport::Sent {
            entries,
            repeated,
            unreadable,
            ..
        } => {
            println!("Sent a digest of {entries} new or updated entries.");
            if repeated > 0 {
                println!(
                    "{repeated} of them may repeat an earlier digest (its run stopped before recording that its mail was accepted); they are marked."
                );
            }
            if unreadable > 0 {
                println!(
                    "{unreadable} records could not be read; the digest counts them (see `mutualaid export`)."
                );
            }
        }
        RunReport::AlreadyRunning => println!("Another digest run is in progress; nothing sent."),
    }
    Ok(ExitCode::SUCCESS)
}
