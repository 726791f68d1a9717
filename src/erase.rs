//! `mutualaid delete`: a person's data deleted at their request, saying
//! what was found, what was deleted and what was not.

use std::process::ExitCode;

use anyhow::Context;
use mutualaid_handler::erase::{self, Contact, Holder, Outcome};
use mutualaid_handler::export::time;
use mutualaid_handler::store::sqlite::SqliteStore;

fn list(holders: &[Holder]) {
    for holder in holders {
        match holder {
            Holder::Record(p) => println!(
                "  --record {}   {} — {} form, on record since {}; holds it today",
                p.id,
                p.submission.name(),
                p.submission.form().key(),
                time(p.created_at)
            ),
            Holder::Former(p, until) => println!(
                "  --record {}   {} — {} form, on record since {}; held it until {} (it no longer gives it: someone else may have it now)",
                p.id,
                p.submission.name(),
                p.submission.form().key(),
                time(p.created_at),
                time(*until)
            ),
            Holder::Unreadable(id) => {
                println!("  --record {id}   (damaged: this record could not be read)")
            }
        }
    }
}

/// Runs one request to delete.
pub async fn run(
    store: &SqliteStore,
    contact: &Contact,
    pick: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let what = match contact {
        Contact::Email(_) => "email address",
        Contact::Phone(_) => "phone number",
    };
    let now = mutualaid_handler::clock::system_clock();
    let outcome = erase::delete(store, contact, pick, now)
        .await
        .context("deleting the record")?;
    match outcome {
        Outcome::NoRecord => {
            println!("No record holds that {what}. Nothing was deleted.");
            Ok(ExitCode::FAILURE)
        }
        Outcome::Choose(people) if matches!(people.as_slice(), [Holder::Former(..)]) => {
            println!(
                "No record gives that {what} today; one gave it before and no longer does (someone else may have it now). Nothing was deleted. If it is the person who asked, delete it by adding:"
            );
            list(&people);
            Ok(ExitCode::FAILURE)
        }
        Outcome::Choose(people) if people.len() == 1 => {
            println!(
                "The one record that holds that {what} could not be read (it is damaged), so whose it is cannot be shown. Nothing was deleted. If it is the person who asked, delete it by adding:"
            );
            list(&people);
            Ok(ExitCode::FAILURE)
        }
        Outcome::Choose(people) => {
            println!(
                "{} records hold or held that {what} (a household or a shared phone shares it; a record may have given it before). Nothing was deleted. Delete only the person who asked, by adding one of:",
                people.len()
            );
            list(&people);
            Ok(ExitCode::FAILURE)
        }
        Outcome::NotAmong(people) => {
            println!(
                "That record does not hold that {what}. Nothing was deleted. The records that do:"
            );
            list(&people);
            Ok(ExitCode::FAILURE)
        }
        Outcome::Deleted(erasure) => {
            let r = erasure.removed;
            println!(
                "Deleted the record {}: {} versions, {} submissions in the log, {} cases, its contacts and identity keys.",
                erasure.id, r.versions, r.submissions, r.cases
            );
            for case in &erasure.reopened {
                println!(
                    "The case {case} was matched to them as a volunteer: it is waiting again (the next digest says so)."
                );
            }
            println!(
                "Mail already sent (digests in the organizers' inboxes and in the outbox) is not changed: delete it there if the person asks."
            );
            if !store
                .checkpoint()
                .await
                .context("emptying the write-ahead log")?
            {
                println!(
                    "warning: another process (mutualaid serve?) is reading the store, so its write-ahead log still holds the deleted data; run this again when it is stopped, or it is emptied at its next checkpoint."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
