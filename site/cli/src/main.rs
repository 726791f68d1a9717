//! `mutualaid`: the one command for the whole product on one machine.
//!
//! - `mutualaid build` writes the static site (`content/` → `public/`).
//! - `mutualaid check` reports every problem in the content with file, line
//!   and a hint, and exits non-zero if there is one.
//! - `mutualaid serve` builds, serves the site on loopback with the form
//!   handler at `/api` (SQLite in the data folder), rebuilds when content
//!   changes and reloads the browser.
//! - `mutualaid export --format csv` prints the stored records as CSV.

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
enum Command {
    /// Build the static site.
    Build {
        /// The content folder.
        #[arg(long, default_value = "content")]
        content: PathBuf,
        /// Where to write the site (an earlier build there is replaced).
        #[arg(long, default_value = "public")]
        out: PathBuf,
    },
    /// Check the content: front matter, twins in every language, links,
    /// form texts, settings.
    Check {
        /// The content folder.
        #[arg(long, default_value = "content")]
        content: PathBuf,
    },
    /// Build, serve on 127.0.0.1 with the form handler at /api, and rebuild
    /// on change, with live reload.
    Serve {
        /// The content folder.
        #[arg(long, default_value = "content")]
        content: PathBuf,
        /// Where to write the site.
        #[arg(long, default_value = "public")]
        out: PathBuf,
        /// The port (0 picks a free one).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Where submissions are stored (SQLite) and digests written.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Submissions one client may make per 10 minutes.
        #[arg(long, default_value_t = 30)]
        rate_limit: u64,
    },
    /// Print the stored records.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the site, printing content problems as a person should read them.
fn load(content: &std::path::Path) -> anyhow::Result<Option<Site>> {
    match Site::load(content) {
        Ok(site) => Ok(Some(site)),
        Err(SiteError::Content(problems)) => {
            eprintln!("{problems}");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("loading the site from {}", content.display())),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build { content, out } => {
            let started = Instant::now();
            let Some(site) = load(&content)? else {
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
        Command::Check { content } => {
            let Some(site) = load(&content)? else {
                return Ok(ExitCode::FAILURE);
            };
            site.render().context("rendering the pages")?;
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
            data,
            rate_limit,
        } => {
            let Some(site) = load(&content)? else {
                return Ok(ExitCode::FAILURE);
            };
            // One JSON line per request on stderr; never a submitted value.
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .init();
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(serve::serve(serve::Options {
                site,
                content,
                out,
                port,
                data,
                rate_limit,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            format: Format::Csv,
            data,
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let store = serve::open_store(&data)?;
            let people = runtime
                .block_on(store.all())
                .context("reading the records")?;
            mutualaid_handler::export::write_csv(&people, std::io::stdout().lock())
                .context("writing CSV")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
