//! `mutualaid cases`: what organizers do from the digest's links, from the
//! command line, for self-hosters and for tests. Each subcommand names the
//! case (and the volunteer) by the ids the digest prints.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use mutualaid_handler::cases::{self, Act};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{Actor, Case, CaseState, CloseReason};

/// What to do.
#[derive(Subcommand)]
pub enum CasesCommand {
    /// List the cases that are not closed: waiting, offered, matched, funded.
    List,
    /// Offer a delivery case to a volunteer shopper (a suggestion
    /// confirmed): by email if their email is verified, else call them and
    /// record their answer with `accept` or `refuse`.
    Confirm {
        /// The case id.
        case: String,
        /// The volunteer's id.
        volunteer: String,
        /// The most people one volunteer helps at once.
        #[arg(long, default_value_t = 3)]
        cap: usize,
    },
    /// The volunteer said yes to the offer (you called them): matched, and
    /// both sides introduced (by email where they can be reached so).
    Accept {
        /// The case id.
        case: String,
    },
    /// The volunteer said not this time: the case waits again, from its
    /// date, and that pair is never suggested again.
    Refuse {
        /// The case id.
        case: String,
    },
    /// Never suggest this volunteer for this case again.
    Decline {
        /// The case id.
        case: String,
        /// The volunteer's id.
        volunteer: String,
    },
    /// Close a case: the help was given, the person withdrew, or for another reason.
    Close {
        /// The case id.
        case: String,
        /// Why.
        #[arg(long, value_enum, default_value_t = Reason::Done)]
        reason: Reason,
    },
    /// Mark a funding case funded: the network pays.
    Fund {
        /// The case id.
        case: String,
    },
    /// Open a closed case again.
    Reopen {
        /// The case id.
        case: String,
    },
    /// Say a long match is still going (it keeps its volunteer).
    Keep {
        /// The case id.
        case: String,
    },
    /// Merge two records of one person (they share a phone or email): the
    /// requests of RECORD are carried on by INTO, each keeping its earliest date.
    Merge {
        /// The record merged away: its id, or the id of one of its cases
        /// (the record is the part before the dot).
        record: String,
        /// The record that carries on (an id or a case id, as for RECORD).
        into: String,
    },
    /// Undo a merge: RECORD (the record merged away) is its own person
    /// again, its requests back with their dates, a match that moved with
    /// them moved back.
    Unmerge {
        /// The record merged away (an id or a case id).
        record: String,
    },
    /// Answer "maybe the same person?" (a name that differs only in
    /// accents, on a shared phone or email) with "two people": RECORD stays
    /// its own person, and its requests are suggested for pairing again.
    /// (To answer "the same person", merge it.)
    TwoPeople {
        /// The record asked about (an id or a case id).
        record: String,
    },
    /// Pause a volunteer: not suggested to anyone for some days (0 unpauses).
    Pause {
        /// The volunteer's id.
        volunteer: String,
        /// How many days.
        #[arg(long)]
        days: u32,
    },
}

/// Why a case is closed.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Reason {
    /// The help was given.
    Done,
    /// The person no longer needs it.
    Withdrawn,
    /// Another reason.
    Organizer,
}

/// Runs one subcommand against the store.
pub async fn run(store: &SqliteStore, command: CasesCommand, now: i64) -> anyhow::Result<ExitCode> {
    let act = |case: String, act: Act, cap: usize| async move {
        cases::act(store, &case, None, act, now, cap, Actor::Cli)
            .await
            .context("acting on the case")
    };
    let acted = match command {
        CasesCommand::List => return list(store, now).await,
        CasesCommand::Confirm {
            case,
            volunteer,
            cap,
        } => act(case, Act::Confirm { volunteer }, cap).await?,
        CasesCommand::Accept { case } => act(case, Act::Accept, 0).await?,
        CasesCommand::Refuse { case } => act(case, Act::Refuse { no_answer: false }, 0).await?,
        CasesCommand::Decline { case, volunteer } => {
            act(case, Act::Decline { volunteer }, 0).await?
        }
        CasesCommand::Close { case, reason } => {
            let reason = match reason {
                Reason::Done => CloseReason::Done,
                Reason::Withdrawn => CloseReason::Withdrawn,
                Reason::Organizer => CloseReason::Organizer,
            };
            act(case, Act::Close(reason), 0).await?
        }
        CasesCommand::Fund { case } => act(case, Act::Fund, 0).await?,
        CasesCommand::Reopen { case } => act(case, Act::Reopen, 0).await?,
        CasesCommand::Keep { case } => act(case, Act::Keep, 0).await?,
        CasesCommand::Merge { record, into } => {
            let record_of = |id: &str| Case::person_of(id).unwrap_or(id).to_owned();
            let (from, into) = (record_of(&record), record_of(&into));
            return match cases::merge(store, &from, &into, now, Actor::Cli, None)
                .await
                .context("merging the records")?
            {
                Ok(merged) => {
                    println!(
                        "Record {from} is merged into {into}; {} of its cases carried on.",
                        merged.closed.len()
                    );
                    for case in &merged.closed {
                        println!("  closed {}", case.id);
                    }
                    println!("Undo: mutualaid cases unmerge {from}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(refusal) => {
                    eprintln!("Nothing changed: {refusal}.");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        CasesCommand::Unmerge { record } => {
            let record = Case::person_of(&record).unwrap_or(&record).to_owned();
            return match cases::unmerge(store, &record, now, Actor::Cli, None)
                .await
                .context("undoing the merge")?
            {
                Ok(undone) => {
                    println!(
                        "Record {record} is its own person again (no longer merged into {}); {} of its requests wait again.",
                        undone.into,
                        undone.closed.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(refusal) => {
                    eprintln!("Nothing changed: {refusal}.");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        CasesCommand::TwoPeople { record } => {
            let record = Case::person_of(&record).unwrap_or(&record).to_owned();
            return match cases::two_people(store, &record, now, Actor::Cli, None)
                .await
                .context("answering for the record")?
            {
                Ok(_) => {
                    println!(
                        "Record {record} is its own person; its requests are suggested for pairing again."
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(refusal) => {
                    eprintln!("Nothing changed: {refusal}.");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        CasesCommand::Pause { volunteer, days } => {
            return match cases::pause(store, &volunteer, days, now, Actor::Cli, None)
                .await
                .context("pausing the volunteer")?
            {
                Ok(_) if days == 0 => {
                    println!("Volunteer {volunteer} is no longer paused.");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(_) => {
                    println!("Volunteer {volunteer} is paused for {days} days.");
                    Ok(ExitCode::SUCCESS)
                }
                Err(refusal) => {
                    eprintln!("Nothing changed: {refusal}.");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
    };
    match acted {
        Ok(case) => {
            println!("Case {} is now {}.", case.id, case.state.name());
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            eprintln!("Nothing changed: {refusal}.");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One line per case that is not closed: id, kind, state, days, who.
async fn list(store: &SqliteStore, now: i64) -> anyhow::Result<ExitCode> {
    let scan = store.active_cases().await.context("reading the cases")?;
    println!("case\tkind\tstate\tdays\tperson\tvolunteer");
    for case in &scan.cases {
        let since = match case.state {
            CaseState::Open => case.opened_at,
            _ => case.matched_at.unwrap_or(case.changed_at),
        };
        let person = name_of(store, &case.person_id).await;
        let volunteer = match &case.volunteer_id {
            Some(v) => format!("{} ({v})", name_of(store, v).await),
            None => String::new(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            case.id,
            case.kind.name(),
            case.state.name(),
            (now - since).max(0) / 86_400,
            person,
            volunteer
        );
    }
    for key in &scan.unreadable {
        eprintln!("warning: the case {key} could not be read");
    }
    Ok(ExitCode::SUCCESS)
}

async fn name_of(store: &SqliteStore, id: &str) -> String {
    match store.person(id).await {
        Ok(Some(p)) => p.submission.name().to_owned(),
        _ => format!("(record {id} could not be read)"),
    }
}
