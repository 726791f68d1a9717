//! `mutualaid`: the one command for the whole product on one machine.
//!
//! - `mutualaid build` writes the static site (`content/` → `public/`).
//! - `mutualaid check` reports every problem in the content with file, line
//!   and a hint, and exits non-zero if there is one.
//! - `mutualaid serve` builds, serves the site on loopback, rebuilds when
//!   content changes and reloads the browser.

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
    /// Build, serve on 127.0.0.1 and rebuild on change, with live reload.
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
    },
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
        Command::Serve { content, out, port } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(serve::serve(content, out, port))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
