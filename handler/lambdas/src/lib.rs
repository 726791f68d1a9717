//! What the two Lambda binaries share: the site's content, compiled in (the
//! error pages and the digest's words come from it) and loaded from memory
//! at cold start ([`load_site`]: nothing is written to disk); and the
//! deletion request the `digest` function answers ([`delete`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use include_dir::{Dir, DirEntry, include_dir};
use mutualaid_handler::store::{Actor, AdminStore, IntakeStore};

static CONTENT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../content");

/// Loads the site from the compiled-in content.
pub fn load_site() -> Result<mutualaid_site::Site, String> {
    let mut files = BTreeMap::new();
    collect(&CONTENT, &mut files);
    mutualaid_site::Site::from_files(&files).map_err(|e| format!("loading the content: {e}"))
}

/// Every text file below `dir`, by its path relative to the content folder.
fn collect(dir: &Dir<'static>, files: &mut BTreeMap<PathBuf, String>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect(d, files),
            DirEntry::File(f) => {
                if let Some(text) = f.contents_utf8() {
                    files.insert(f.path().to_path_buf(), text.to_owned());
                }
            }
        }
    }
}

/// JSON logs on stdout, as CloudWatch expects; the runtime adds the time.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .init();
}

/// What the digest function does before each digest, whatever happens to
/// it never in the digest's way: identity keys stored under the rule before
/// issue 23 become today's (done once, then one read), and everyone still
/// waiting is kept as long as their request is open (their TTL moved).
pub async fn upkeep(store: &mutualaid_handler::store::dynamo::DynamoStore, now: i64) {
    match store.rekey_identities(now).await {
        Ok(0) => {}
        Ok(records) => tracing::info!(records, "identity keys re-keyed"),
        Err(e) => {
            tracing::warn!(error = %e, "identity keys not re-keyed yet; the next run goes on")
        }
    }
    if let Err(e) = store.keep_waiting(now).await {
        tracing::warn!(error = %e, "expiries of people still waiting not moved; the next run does");
    }
}

/// A request to delete a person's data (`{"email": …}` or `{"phone": …}`,
/// and `"record"` to pick one of several records), answered with what was
/// found or deleted. The answer goes to the organizer who invoked the
/// function; nothing of it is logged.
pub async fn delete<S: mutualaid_handler::store::AdminStore>(
    store: &S,
    request: &serde_json::Value,
) -> Result<serde_json::Value, lambda_http::Error> {
    use mutualaid_handler::erase::{self, Contact, Holder, Outcome};
    use serde_json::json;
    let text = |name: &str| request.get(name).and_then(|v| v.as_str());
    let contact = match (text("email"), text("phone")) {
        (Some(email), None) => Contact::email(email),
        (None, Some(phone)) => Contact::phone(phone),
        _ => None,
    };
    let Some(contact) = contact else {
        return Ok(json!({
            "error": "give one of \"email\" or \"phone\", as the person gave it"
        }));
    };
    let listed = |holders: &[Holder]| {
        holders
            .iter()
            .map(|holder| match holder {
                Holder::Record(p) => json!({
                    "record": p.id,
                    "name": p.submission.name(),
                    "form": p.submission.form().key(),
                    "since": mutualaid_handler::export::time(p.created_at),
                }),
                Holder::Former(p, until) => json!({
                    "record": p.id,
                    "name": p.submission.name(),
                    "form": p.submission.form().key(),
                    "since": mutualaid_handler::export::time(p.created_at),
                    "held_until": mutualaid_handler::export::time(*until),
                }),
                Holder::Unreadable(id) => json!({ "record": id, "unreadable": true }),
            })
            .collect::<Vec<_>>()
    };
    let now = mutualaid_handler::clock::system_clock();
    let outcome = erase::delete(store, &contact, text("record"), now).await?;
    tracing::info!(
        deleted = matches!(outcome, Outcome::Deleted(_)),
        "deletion request"
    );
    Ok(match outcome {
        Outcome::NoRecord => json!({ "deleted": null, "records": [] }),
        Outcome::Choose(people) => json!({
            "deleted": null,
            "records": listed(&people),
            "why": if matches!(people.as_slice(), [Holder::Former(..)]) {
                "no record gives it today; one gave it before and no longer does (someone else may have it now): add \"record\" if it is the person who asked"
            } else if people.len() == 1 {
                "the one record that holds it cannot be read (damaged), so whose it is cannot be shown: add \"record\" if it is the person who asked"
            } else {
                "several records hold it (a household, a shared phone): add \"record\" to pick the person who asked"
            },
        }),
        Outcome::NotAmong(people) => json!({
            "deleted": null,
            "records": listed(&people),
            "why": "that record does not hold it",
        }),
        Outcome::Deleted(e) => json!({
            "deleted": {
                "record": e.id,
                "versions": e.removed.versions,
                "submissions": e.removed.submissions,
                "cases": e.removed.cases,
            },
            "reopened": e.reopened,
        }),
    })
}

/// The digest function's `{"export": {"table": "people"}}` event (or
/// `submissions`, `cases`, `actions`; `"since": "2026-11-26"` for the rows
/// changed since that day): the table as CSV in the answer's `csv`, with a
/// warning per row that could not be read (`mutualaid_handler::export`).
pub async fn export<S: mutualaid_handler::store::AdminStore>(
    store: &S,
    request: &serde_json::Value,
) -> Result<serde_json::Value, lambda_http::Error> {
    use mutualaid_handler::export::{self, Table};
    use serde_json::json;
    let Some(table) = request
        .get("table")
        .and_then(|t| t.as_str())
        .and_then(Table::from_name)
    else {
        return Ok(json!({
            "error": "give \"table\": one of \"people\", \"submissions\", \"cases\", \"actions\""
        }));
    };
    let since = match request.get("since").and_then(|s| s.as_str()) {
        None => i64::MIN,
        Some(day) => match export::day_start(day) {
            Some(at) => at,
            None => return Ok(json!({ "error": "\"since\": a day like 2026-11-26" })),
        },
    };
    let mut csv = Vec::new();
    let warnings = export::table(store, table, since, &mut csv).await?;
    tracing::info!(table = table.name(), "export");
    Ok(json!({
        "table": table.name(),
        "csv": String::from_utf8_lossy(&csv),
        "warnings": warnings,
    }))
}

/// The digest function's `{"deliver": {}}` event, every minute on its own
/// schedule: the messages to people that are due (receipts), sent through
/// SES and recorded (`mutualaid_handler::outbox`). Answers what it did.
pub async fn deliver<S, M>(
    store: &S,
    mailer: &M,
    letters: &mutualaid_handler::outbox::Letters,
    now: i64,
) -> Result<serde_json::Value, lambda_http::Error>
where
    S: mutualaid_handler::store::CaseDesk + mutualaid_handler::store::IntakeStore,
    M: mutualaid_handler::mail::Mailer,
{
    let done = mutualaid_handler::outbox::deliver_due(store, mailer, letters, now).await?;
    tracing::info!(
        sent = done.sent,
        retried = done.retried,
        given_up = done.given_up,
        deferred = done.deferred,
        "messages to people"
    );
    Ok(serde_json::json!({
        "delivered": done.sent,
        "retried": done.retried,
        "given_up": done.given_up,
        "deferred": done.deferred,
        "timers": done.timers,
    }))
}

/// SES's events for the configuration set messages are sent through
/// (EventBridge: `source` `aws.ses`, `detail-type` "Email Bounced" or
/// "Email Complaint"): a permanent bounce or a complaint gives up the
/// message it names (our `X-Mutualaid-Message` header) for each recipient,
/// stops mail to that address for that record, and lists it for the
/// organizers (`mutualaid_handler::outbox::bounced`). A transient bounce
/// changes nothing: SES tried for hours already, and the next message may
/// pass.
pub async fn ses_event<S>(
    store: &S,
    event: &serde_json::Value,
    now: i64,
) -> Result<serde_json::Value, lambda_http::Error>
where
    S: mutualaid_handler::store::SenderStore + mutualaid_handler::store::IntakeStore,
{
    let detail = &event["detail"];
    let recipients = match detail["eventType"].as_str() {
        Some("Bounce") if detail["bounce"]["bounceType"] == "Permanent" => {
            &detail["bounce"]["bouncedRecipients"]
        }
        Some("Complaint") => &detail["complaint"]["complainedRecipients"],
        _ => return Ok(serde_json::json!({ "given_up": 0 })),
    };
    let header = |name: &str| {
        detail["mail"]["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| {
                h["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|h| h["value"].as_str())
    };
    let id = header(mutualaid_handler::outbox::MESSAGE_ID_HEADER).unwrap_or_default();
    let record = header(mutualaid_handler::outbox::RECORD_HEADER);
    let mut given_up = 0;
    for recipient in recipients.as_array().into_iter().flatten() {
        if let Some(address) = recipient["emailAddress"].as_str()
            && mutualaid_handler::outbox::bounced(store, id, record, address, now).await?
        {
            given_up += 1;
        }
    }
    tracing::info!(given_up, "an SES bounce or complaint");
    Ok(serde_json::json!({ "given_up": given_up }))
}

/// The digest function's `{"contacts": …}` events, an organizer's:
/// `{"allow": "EMAIL"}` mails that address again (it said "this wasn't
/// me"; the person was reached); `{"confirm": RECORD}` and `{"drop":
/// RECORD}` decide the record's pending contact after reaching the person
/// through a confirmed one; `{"revoke_links": RECORD}` revokes every link to
/// its page.
pub async fn contacts<S: IntakeStore + AdminStore>(
    store: &S,
    request: &serde_json::Value,
    now: i64,
) -> Result<serde_json::Value, lambda_http::Error> {
    use mutualaid_handler::contacts::{Decided, Decision, decide, revoke_links};
    let text = |key: &str| request.get(key).and_then(|v| v.as_str());
    if let Some(email) = text("allow") {
        let lifted = mutualaid_handler::outbox::allow(store, email).await?;
        tracing::info!(lifted, "contacts allow");
        return Ok(serde_json::json!({ "allowed": lifted }));
    }
    if let Some(record) = text("revoke_links") {
        let revoked = revoke_links(store, record).await?;
        tracing::info!(found = revoked.is_some(), "links revoked");
        return Ok(match revoked {
            Some(n) => serde_json::json!({ "revoked": n }),
            None => serde_json::json!({ "error": "no such record" }),
        });
    }
    let (decision, record) = match (text("confirm"), text("drop")) {
        (Some(record), None) => (Decision::Confirm, record),
        (None, Some(record)) => (Decision::Drop, record),
        _ => {
            return Ok(serde_json::json!({
                "error": "give one of \"allow\": EMAIL, \"confirm\": RECORD, \"drop\": RECORD, \"revoke_links\": RECORD"
            }));
        }
    };
    let decided = decide(store, record, None, decision, Actor::Cli, now).await?;
    tracing::info!(?decided, "contacts decided");
    Ok(match decided {
        Decided::Done => serde_json::json!({ "done": true }),
        Decided::NothingPending => {
            serde_json::json!({ "done": false, "why": "the record has no pending contact" })
        }
        Decided::NoRecord => serde_json::json!({ "error": "no such record" }),
        Decided::Moved => {
            serde_json::json!({ "done": false, "why": "the record changed meanwhile" })
        }
    })
}
