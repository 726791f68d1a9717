//! The DynamoDB adapter (`aws` feature): one table, on-demand.
//!
//! ## Key design
//!
//! | item | `pk` | `sk` | other attributes |
//! | --- | --- | --- | --- |
//! | a record | `PERSON#<id>` | `PERSON` | `record` (the [`Person`], via `serde_dynamo`), `version`, `reported_version`, `expires_at`, `gsi1pk` = `CHANGES`, `gsi1sk` = `<updated_at, 12 digits>#<id>`, and `pending` = `PENDING` only while it is pending |
//! | a version | `PERSON#<id>` | `V#<version, 10 digits>` | `submission`, `at`, `expires_at` |
//! | a log entry | `PERSON#<id>` | `LOG#<reference>` | `reference`, `person_id`, `at`, `form`, `outcome`, `version`, `expires_at` |
//! | an identity key | `IDENTITY#<key>` | `IDENTITY` | `person_id`, `expires_at` |
//! | a contact | `CONTACT#<form>:<email or phone>` | `PERSON#<id>` | `person_id`, `expires_at` |
//! | a former contact (deletion on request only) | `FORMER#<form>:<email or phone>` | `PERSON#<id>` | `person_id`, `last_held_at`, `expires_at` |
//! | a case | `PERSON#<person id>` | `CASE#<case id>` | `record` (the [`Case`]), `version`, `expires_at`, `gsi1sk` = `<opened at, 12 digits>#<case id>`, and `pending` = `CASE` while it is not closed |
//! | a person's active case of a kind | `PERSON#<person id>` | `ACTIVE#<kind>` | `case_id`, `expires_at` (present only while that case is not closed: at most one per person and kind) |
//! | a volunteer's load | `PERSON#<volunteer id>` | `LOAD` | `n` (offered and matched cases: moved only by the plan that changes a case), `expires_at` |
//! | a record's standing (a volunteer's pause, a merge) | `PERSON#<id>` | `VOLUNTEER` | `record`, `gsi1sk`, `pending` = `VOLUNTEER`, `merged_into` (the record it was merged into, if any) |
//! | an organizer's action | `ACTIONS` | `<at, 12 digits>#<id>` | `record`, `expires_at` |
//! | the rate limit's last requests of a client | `RATE#<client hash>` | `RATE` | `times` (a list of seconds), `version` (moved only by a conditional put), `expires_at` |
//! | a message to a person (the outbox) | `PERSON#<person id>` | `MSG#<id>` | `record` (the [`Message`]: ids, never a copy of the record), `version`, `expires_at`, and while it waits `pending` = `MESSAGE`, `gsi1sk` = `<due at, 12 digits>#<id>` |
//! | a private link to a person's page | `PERSON#<person id>` | `LINK#<hash of its token>` | `record` (the [`PageLink`]), `version`, `expires_at`, `gsi1pk` = `LINK#<hash>`, `gsi1sk` = `LINK` (found by its hash through [`INDEX`]) |
//! | no more mail to an address about a record | `PERSON#<person id>` | `NOMAIL#<address>` | `record` (the [`MailStop`]), `expires_at` |
//! | an address that said "this wasn't me" | `SUPPRESSED#<keyed hash>` | `SUPPRESSED` | `at`, `expires_at` (never the address) |
//! | the key of those hashes | `KEYS` | `ADDRESS` | `value` (made once, by the first writer) |
//! | the receipts to one address in the last day | `RATE#receipts:<address hash>` | `RATE` | as a rate ring, written in the sign-up's plan |
//! | a day's counter | `COUNTS` | `<YYYY-MM-DD>#<counter>` | `n` |
//! | the digest state | `DIGEST` | `STATE` | `state` (lease and manifest), `version` (moved only by a conditional put) |
//!
//! - [`INDEX`] (`by_change`, keys `gsi1pk`/`gsi1sk`, all attributes): every
//!   record in change order (export, the volunteers pairing can offer), and
//!   each private link under its own hash.
//! - [`PENDING_INDEX`] (`pending`, keys `pending`/`gsi1sk`, keys only): a
//!   **sparse** index of the digest's work: the pending records (`PENDING`),
//!   the cases not closed (`CASE`), the paused volunteers (`VOLUNTEER`) and
//!   the messages waiting to be sent (`MESSAGE`, by when each is due). Indexes are eventually
//!   consistent, so the digest re-reads each record it lists with a strongly
//!   consistent `BatchGetItem`; a write the index does not show yet is in
//!   the next digest.
//! - [`TTL_ATTRIBUTE`] (`expires_at`, epoch seconds) is the table's TTL.
//!   Every item a record keeps carries the record's expiry, and an update
//!   extends all of them (versions and log entries first, then the identity
//!   and contact items in the update's transaction), so none expires before
//!   the record. An identity item whose expiry has passed counts as free,
//!   as DynamoDB deletes expired items late. A request stays open until it
//!   is closed, so a store made [`DynamoStore::with_retention`] raises every
//!   item of a person to the retention period from each change of their
//!   cases, and [`DynamoStore::keep_waiting`] (each digest) from now for
//!   everyone whose case is not closed; the record's item goes last, and
//!   its `expires_at` is what [`Person::expires_at`] reads.
//! - Creating a record is one plan: the record `Put` with
//!   `attribute_not_exists(pk)`, one identity `Put` per key with
//!   `attribute_not_exists(pk)` (so two first submissions of one person at
//!   once give one record), the contacts, the first version, the log entry.
//!   An update is one plan: the record `Update` with
//!   `version = :expected` (it never writes `reported_version`), identity
//!   keys kept or claimed (`person_id = :id` or free), released ones
//!   deleted, contacts moved, the version and the log entry. Only
//!   [`DigestStore::mark_reported`] writes `reported_version` and removes `pending`.
//! - Every write is a plan ([`super::plan`]) carried out as one
//!   `TransactWriteItems`, one item per write, its condition a condition
//!   expression: a case `Put` with `version = :expected` (new:
//!   `attribute_not_exists(pk)`), the `ACTIVE#<kind>` item put with
//!   `attribute_not_exists(pk)` or deleted with `case_id = :id`, the
//!   volunteer's `LOAD` `n` moved by `:by` (within a cap: `n <= :cap - :by`),
//!   a standing `Put` at its version (a merge's also
//!   `attribute_not_exists(merged_into) OR merged_into = :into`), a
//!   `ConditionCheck` for a record or standing read, an action `Put`. The
//!   plan never writes one item twice (it sums a volunteer's load moves).
//!   After a plan that changes a person's cases, their items are kept for
//!   the retention period from then (outside the transaction: a failure is
//!   made good by the next digest).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use mutualaid_forms::FormId;

use super::message::{AddressKey, MailStop, Message};
use super::page_link::PageLink;
use super::{
    AdminStore, Admission, Case, CaseAction, CaseDesk, CaseKind, CaseScan, Counter, DigestState,
    DigestStore, FormerContact, IntakeStore, Kept, LogEntry, ManifestEntry, Outcome, Person, Plan,
    RateRing, Records, Scan, SenderStore, Standing, StoreError, Submission, Timestamp, Write,
};

/// The partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// The sort key attribute.
pub const SORT_KEY: &str = "sk";
/// Every record, in change order.
pub const INDEX: &str = "by_change";
/// The index's partition key attribute.
pub const INDEX_PARTITION_KEY: &str = "gsi1pk";
/// The index's sort key attribute.
pub const INDEX_SORT_KEY: &str = "gsi1sk";
/// The sparse index of pending records.
pub const PENDING_INDEX: &str = "pending";
/// Its partition key attribute, present only while a record is pending.
pub const PENDING_ATTRIBUTE: &str = "pending";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

fn case_item(case: &Case) -> Result<Item, StoreError> {
    let record = serde_dynamo::to_attribute_value(case)
        .map_err(|e| StoreError::Unavailable(format!("encoding a case: {e}")))?;
    let mut item = HashMap::from([
        (PARTITION_KEY.to_owned(), s(person_pk(&case.person_id))),
        (SORT_KEY.to_owned(), s(format!("CASE#{}", case.id))),
        ("record".to_owned(), record),
        ("version".to_owned(), n(case.version)),
        (TTL_ATTRIBUTE.to_owned(), n(case.expires_at)),
        (
            INDEX_SORT_KEY.to_owned(),
            s(format!("{:012}#{}", case.opened_at.max(0), case.id)),
        ),
    ]);
    if case.state.is_active() {
        item.insert(PENDING_ATTRIBUTE.into(), s("CASE"));
    }
    Ok(item)
}

/// A message's item: under its record, listed in the sparse index
/// (`MESSAGE`, by when it is due) only while it waits.
fn message_item(message: &Message) -> Result<Item, StoreError> {
    let record = serde_dynamo::to_attribute_value(message)
        .map_err(|e| StoreError::Unavailable(format!("encoding a message: {e}")))?;
    let mut item = HashMap::from([
        (PARTITION_KEY.to_owned(), s(person_pk(&message.person_id))),
        (SORT_KEY.to_owned(), s(format!("MSG#{}", message.id))),
        ("record".to_owned(), record),
        ("version".to_owned(), n(message.version)),
        (TTL_ATTRIBUTE.to_owned(), n(message.expires_at)),
    ]);
    if let Some(due) = message.due_at() {
        item.insert(PENDING_ATTRIBUTE.into(), s("MESSAGE"));
        item.insert(
            INDEX_SORT_KEY.into(),
            s(format!("{:012}#{}", due.max(0), message.id)),
        );
    }
    Ok(item)
}

fn message_from(item: &Item) -> Option<Message> {
    item.get("record")
        .cloned()
        .and_then(|r| serde_dynamo::from_attribute_value::<_, Message>(r).ok())
}

fn case_from(item: &Item) -> Result<Case, StoreError> {
    let key = text(item, SORT_KEY)
        .and_then(|sk| sk.strip_prefix("CASE#"))
        .unwrap_or("?")
        .to_owned();
    let mut case = item
        .get("record")
        .cloned()
        .and_then(|r| serde_dynamo::from_attribute_value::<_, Case>(r).ok())
        .filter(|c| c.id == key)
        .ok_or(StoreError::Unreadable { key })?;
    // The item's own expiry is the truth: an update of the person extends it.
    if let Some(at) = number(item, TTL_ATTRIBUTE) {
        case.expires_at = at;
    }
    Ok(case)
}

/// The sort key of a person's one active case of `kind`.
fn active_key(kind: CaseKind) -> String {
    format!("ACTIVE#{}", kind.name())
}

/// A record's standing (`VOLUNTEER`), listed in the sparse index, with
/// `merged_into` and `version` at the top level for the conditions.
fn standing_item(standing: &Standing) -> Result<Item, StoreError> {
    let record = serde_dynamo::to_attribute_value(standing)
        .map_err(|e| StoreError::Unavailable(format!("encoding a standing: {e}")))?;
    let mut item = HashMap::from([
        (PARTITION_KEY.to_owned(), s(person_pk(&standing.person_id))),
        (SORT_KEY.to_owned(), s("VOLUNTEER")),
        ("record".to_owned(), record),
        (PENDING_ATTRIBUTE.to_owned(), s("VOLUNTEER")),
        (INDEX_SORT_KEY.to_owned(), s(&standing.person_id)),
        (TTL_ATTRIBUTE.to_owned(), n(standing.expires_at)),
        ("version".to_owned(), n(standing.version)),
    ]);
    if let Some(into) = &standing.merged_into {
        item.insert("merged_into".into(), s(into));
    }
    Ok(item)
}

/// The condition that a standing item is at `version` (none, or one
/// written before versions were kept, is at 0), with its value for `:sv`.
fn standing_at(version: u64) -> (&'static str, AttributeValue) {
    let condition = if version == 0 {
        "attribute_not_exists(pk) OR attribute_not_exists(version) OR version = :sv"
    } else {
        "version = :sv"
    };
    (condition, n(version))
}

fn action_item(action: &CaseAction) -> Result<Item, StoreError> {
    let record = serde_dynamo::to_attribute_value(action)
        .map_err(|e| StoreError::Unavailable(format!("encoding an action: {e}")))?;
    Ok(HashMap::from([
        (PARTITION_KEY.to_owned(), s("ACTIONS")),
        (
            SORT_KEY.to_owned(),
            s(format!("{:012}#{}", action.at.max(0), action.id)),
        ),
        ("record".to_owned(), record),
        (TTL_ATTRIBUTE.to_owned(), n(action.expires_at)),
    ]))
}

// What each function may call is not kept here: `tests/it/rights.rs` runs
// every path of both functions through a client that records each call as
// IAM authorises it, and holds `infra/template.yaml`'s policies to exactly
// those calls (action, table or index, leading key).

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Seen [`REKEY_DONE`]: no record holds a legacy identity key.
    rekeyed: Arc<AtomicBool>,
    /// How long a record is kept after its last case change (seconds;
    /// `None`: case changes leave expiries as they are).
    retention: Option<i64>,
}

/// The item [`DynamoStore::rekey_identities`] writes when every record holds
/// identity keys of today's rule (under `IDENTITY#`, so both functions may
/// read it; no identity key is `RULE`).
pub const REKEY_DONE: (&str, &str) = ("IDENTITY#RULE", "NAME-AS-WRITTEN");

/// Tries to re-key one record that keeps changing under the job.
const REKEY_ATTEMPTS: usize = 8;

/// Tries to write one request into its client's rate ring while other
/// requests of the same client write it first (an outreach table's
/// sign-ups, many at once behind one address).
const RATE_ATTEMPTS: u32 = 24;

type Item = HashMap<String, AttributeValue>;

/// Sends `put` only over the item's `version` `read` (0: only where there
/// is no item): `Ok(false)` when another writer moved it first.
async fn put_over_version(
    put: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    read: u64,
) -> Result<bool, StoreError> {
    let put = if read == 0 {
        put.condition_expression("attribute_not_exists(pk)")
    } else {
        put.condition_expression("version = :read")
            .expression_attribute_values(":read", n(read))
    };
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(e)),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn person_pk(id: &str) -> String {
    format!("PERSON#{id}")
}

fn change_key(person: &Person) -> String {
    format!("{:012}#{}", person.updated_at.max(0), person.id)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn record_value(person: &Person) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(person)
        .map_err(|e| StoreError::Unavailable(format!("encoding a record: {e}")))
}

/// The whole item of a new record.
fn person_item(person: &Person) -> Result<Item, StoreError> {
    let mut item = Item::new();
    item.insert(PARTITION_KEY.into(), s(person_pk(&person.id)));
    item.insert(SORT_KEY.into(), s("PERSON"));
    item.insert("record".into(), record_value(person)?);
    item.insert("version".into(), n(person.version));
    item.insert("reported_version".into(), n(person.reported_version));
    item.insert(TTL_ATTRIBUTE.into(), n(person.expires_at));
    item.insert(INDEX_PARTITION_KEY.into(), s("CHANGES"));
    item.insert(INDEX_SORT_KEY.into(), s(change_key(person)));
    if person.is_pending() {
        item.insert(PENDING_ATTRIBUTE.into(), s("PENDING"));
    }
    Ok(item)
}

/// A record item back; the record's id (from the key) names it if it does
/// not decode.
fn person_from(item: Item) -> Result<Person, StoreError> {
    let key = text(&item, PARTITION_KEY)
        .and_then(|pk| pk.strip_prefix("PERSON#"))
        .unwrap_or("?")
        .to_owned();
    let unreadable = || StoreError::Unreadable { key: key.clone() };
    let reported = number(&item, "reported_version").unwrap_or(0).max(0) as u64;
    let record = item.get("record").cloned().ok_or_else(unreadable)?;
    let mut person: Person =
        serde_dynamo::from_attribute_value(record).map_err(|_| unreadable())?;
    if person.id != key {
        return Err(unreadable());
    }
    person.reported_version = reported;
    // The item's own expiry is the truth: a case change or a digest keeps it longer.
    if let Some(at) = number(&item, TTL_ATTRIBUTE) {
        person.expires_at = person.expires_at.max(at);
    }
    Ok(person)
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A standing's item read back (`None`: it does not decode; the next
/// change writes it anew).
fn standing_from(mut item: Item) -> Option<Standing> {
    serde_dynamo::from_attribute_value(item.remove("record")?).ok()
}

fn version_item(person: &Person) -> Result<Item, StoreError> {
    let submission = serde_dynamo::to_attribute_value(&person.submission)
        .map_err(|e| StoreError::Unavailable(format!("encoding a version: {e}")))?;
    Ok(HashMap::from([
        (PARTITION_KEY.into(), s(person_pk(&person.id))),
        (SORT_KEY.into(), s(format!("V#{:010}", person.version))),
        ("submission".into(), submission),
        ("at".into(), n(person.updated_at)),
        (TTL_ATTRIBUTE.into(), n(person.expires_at)),
    ]))
}

fn log_item(entry: &LogEntry, expires_at: Timestamp) -> Item {
    HashMap::from([
        (PARTITION_KEY.into(), s(person_pk(&entry.person_id))),
        (SORT_KEY.into(), s(format!("LOG#{}", entry.reference))),
        ("reference".into(), s(&entry.reference)),
        ("person_id".into(), s(&entry.person_id)),
        ("at".into(), n(entry.at)),
        ("form".into(), s(entry.form.key())),
        ("outcome".into(), s(entry.outcome.name())),
        ("version".into(), n(entry.version)),
        (TTL_ATTRIBUTE.into(), n(expires_at)),
    ])
}

fn log_from(item: &Item) -> Option<LogEntry> {
    Some(LogEntry {
        reference: text(item, "reference")?.to_owned(),
        person_id: text(item, "person_id")?.to_owned(),
        at: number(item, "at")?,
        form: FormId::from_key(text(item, "form")?)?,
        outcome: Outcome::from_name(text(item, "outcome")?)?,
        version: number(item, "version")?.max(0) as u64,
    })
}

fn identity_item(key: &str, person_id: &str, expires_at: Timestamp) -> Item {
    HashMap::from([
        (PARTITION_KEY.into(), s(format!("IDENTITY#{key}"))),
        (SORT_KEY.into(), s("IDENTITY")),
        ("person_id".into(), s(person_id)),
        (TTL_ATTRIBUTE.into(), n(expires_at)),
    ])
}

fn contact_item(contact: &str, person_id: &str, expires_at: Timestamp) -> Item {
    HashMap::from([
        (PARTITION_KEY.into(), s(format!("CONTACT#{contact}"))),
        (SORT_KEY.into(), s(person_pk(person_id))),
        ("person_id".into(), s(person_id)),
        (TTL_ATTRIBUTE.into(), n(expires_at)),
    ])
}

/// A record listed under a contact it held once (`FORMER#<contact>`), for
/// deletion on request.
fn former_item(former: &FormerContact, person_id: &str, expires_at: Timestamp) -> Item {
    HashMap::from([
        (
            PARTITION_KEY.into(),
            s(format!("FORMER#{}", former.contact)),
        ),
        (SORT_KEY.into(), s(person_pk(person_id))),
        ("person_id".into(), s(person_id)),
        ("last_held_at".into(), n(former.until)),
        (TTL_ATTRIBUTE.into(), n(expires_at)),
    ])
}

/// A claim of an identity key: free (never held, or its holder's expiry
/// has passed) or already this record's.
fn identity_claim(
    table: &str,
    key: &str,
    person_id: &str,
    at: Timestamp,
    expires_at: Timestamp,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(identity_item(key, person_id, expires_at)))
        .condition_expression("attribute_not_exists(pk) OR person_id = :id OR expires_at < :now")
        .expression_attribute_values(":id", s(person_id))
        .expression_attribute_values(":now", n(at))
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A release of an identity key record `id` holds (or that is gone).
fn identity_release(table: &str, key: &str, id: &str) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .key(PARTITION_KEY, s(format!("IDENTITY#{key}")))
        .key(SORT_KEY, s("IDENTITY"))
        .condition_expression("attribute_not_exists(pk) OR person_id = :id")
        .expression_attribute_values(":id", s(id))
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            rekeyed: Arc::new(AtomicBool::new(false)),
            retention: None,
        }
    }

    /// The store, keeping a record `days` after each change of its cases
    /// (and [`Self::keep_waiting`] everyone whose case is not closed).
    pub fn with_retention(self, days: u32) -> Self {
        DynamoStore {
            retention: Some(i64::from(days) * 86_400),
            ..self
        }
    }

    /// Keeps everyone with a case that is not closed, and every volunteer
    /// matched to one — their record and every item it keeps — for the
    /// retention period from `now` (raised when less than half of it is
    /// left): a request waits as long as it takes, and DynamoDB's TTL must
    /// not take it meanwhile. The digest function runs it with each digest.
    /// Returns how many people it looked at.
    pub async fn keep_waiting(&self, now: Timestamp) -> Result<usize, StoreError> {
        let Some(span) = self.retention else {
            return Ok(0);
        };
        // Those who wait, and the volunteers shopping for them.
        let mut kept: BTreeSet<String> = BTreeSet::new();
        for case in self.active_cases().await?.cases {
            kept.extend(case.holds_volunteer().map(str::to_owned));
            kept.insert(case.person_id);
        }
        // Raised once half the period is gone, not every day: each raise
        // rewrites every item the person keeps. One failure stops no one else.
        let mut failed = None;
        for id in &kept {
            if let Err(e) = self.keep_person_until(id, now + span / 2, now + span).await {
                failed.get_or_insert(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(kept.len()),
        }
    }

    /// After a change of `person_id`'s cases at `at`: every item of theirs
    /// kept for the retention period from then. A failure is logged, not
    /// returned: the change is done, and the next digest keeps anyone still
    /// waiting.
    async fn kept_after_case_change(&self, person_id: &str, at: Timestamp) {
        if let Some(span) = self.retention
            && let Err(e) = self
                .keep_person_until(person_id, at + span, at + span)
                .await
        {
            tracing::warn!(error = %e, "a case changed; its record's expiry not yet moved (the next digest does)");
        }
    }

    /// Raises the expiry of record `id` and of everything it keeps (its
    /// versions, log entries, cases, standing, identity keys and contacts)
    /// to at least `until`, unless the record is kept until
    /// `unless_kept_until` already. The record's own item goes last, so a run that
    /// stopped half-way is finished by the next one.
    async fn keep_person_until(
        &self,
        id: &str,
        unless_kept_until: Timestamp,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(item) = self.get(person_pk(id), "PERSON").await? else {
            return Ok(());
        };
        if number(&item, TTL_ATTRIBUTE).is_some_and(|at| at >= unless_kept_until) {
            return Ok(());
        }
        if let Ok(person) = person_from(item) {
            for key in &person.identities {
                self.raise_expiry(
                    format!("IDENTITY#{key}"),
                    "IDENTITY".into(),
                    until,
                    Some(id),
                )
                .await?;
            }
            for contact in person.submission.contact_keys() {
                self.raise_expiry(format!("CONTACT#{contact}"), person_pk(id), until, None)
                    .await?;
            }
            for former in &person.former_contacts {
                self.raise_expiry(
                    format!("FORMER#{}", former.contact),
                    person_pk(id),
                    until,
                    None,
                )
                .await?;
            }
        }
        self.extend_kept_items(id, until).await?;
        self.raise_expiry(person_pk(id), "PERSON".into(), until, None)
            .await
    }

    /// Sets an item's expiry to `until` if it is there (and, with `owner`,
    /// held by that record) and expires earlier.
    async fn raise_expiry(
        &self,
        pk: String,
        sk: String,
        until: Timestamp,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .update_expression("SET expires_at = :e")
            .expression_attribute_values(":e", n(until));
        request = match owner {
            Some(owner) => request
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at < :e) AND person_id = :id",
                )
                .expression_attribute_values(":id", s(owner)),
            None => request.condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at < :e)",
            ),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Creates the table as the key design says (tests and local use; in
    /// AWS the template creates it).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(built)
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(built)
        };
        let index = |name: &str, hash: &str, projection| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(INDEX_SORT_KEY, KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(built)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PARTITION_KEY)?)
            .attribute_definitions(attr(SORT_KEY)?)
            .attribute_definitions(attr(INDEX_PARTITION_KEY)?)
            .attribute_definitions(attr(INDEX_SORT_KEY)?)
            .attribute_definitions(attr(PENDING_ATTRIBUTE)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(SORT_KEY, KeyType::Range)?)
            .global_secondary_indexes(index(INDEX, INDEX_PARTITION_KEY, ProjectionType::All)?)
            .global_secondary_indexes(index(
                PENDING_INDEX,
                PENDING_ATTRIBUTE,
                ProjectionType::KeysOnly,
            )?)
            .send()
            .await
            .map_err(unavailable)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(built)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        // A new table holds no identity key of the rule before issue 23.
        self.rekey_identities(0).await?;
        Ok(())
    }

    /// A check, inside a transaction, that the record `id` exists.
    fn exists_check(&self, id: &str) -> Result<TransactWriteItem, StoreError> {
        self.condition_check(person_pk(id), "PERSON", "attribute_exists(pk)")
    }

    /// A check, inside a transaction, of `condition` on the item (`pk`, `sk`).
    fn condition_check(
        &self,
        pk: String,
        sk: &str,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .condition_expression(condition)
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A delete of the item (`pk`, `sk`), with a condition and its values.
    fn delete(
        &self,
        pk: String,
        sk: impl Into<String>,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk));
        if let Some((condition, values)) = condition {
            delete = delete.condition_expression(condition);
            for (name, value) in values {
                delete = delete.expression_attribute_values(name, value);
            }
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(built)?)
            .build())
    }

    /// One write of a plan as the one transaction item that makes it,
    /// its condition a condition expression.
    fn item_of(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let table = &self.table;
        match write {
            Write::Record {
                person,
                expected: 0,
            } => put(
                table,
                person_item(person)?,
                Some("attribute_not_exists(pk)"),
            ),
            Write::Record { person, expected } => {
                let update = Update::builder()
                    .table_name(table)
                    .key(PARTITION_KEY, s(person_pk(&person.id)))
                    .key(SORT_KEY, s("PERSON"))
                    .update_expression(
                        "SET #record = :record, version = :version, expires_at = :expires, gsi1sk = :change, #pending = :pending",
                    )
                    .condition_expression("version = :expected")
                    .expression_attribute_names("#record", "record")
                    .expression_attribute_names("#pending", PENDING_ATTRIBUTE)
                    .expression_attribute_values(":record", record_value(person)?)
                    .expression_attribute_values(":version", n(person.version))
                    .expression_attribute_values(":expires", n(person.expires_at))
                    .expression_attribute_values(":change", s(change_key(person)))
                    .expression_attribute_values(":pending", s("PENDING"))
                    .expression_attribute_values(":expected", n(expected))
                    .build()
                    .map_err(built)?;
                Ok(TransactWriteItem::builder().update(update).build())
            }
            Write::ClaimIdentity {
                key,
                person_id,
                at,
                expires_at,
            } => identity_claim(table, key, person_id, *at, *expires_at),
            Write::ListContact {
                contact,
                person_id,
                expires_at,
            } => put(table, contact_item(contact, person_id, *expires_at), None),
            Write::ListFormerContact {
                former,
                person_id,
                expires_at,
            } => put(table, former_item(former, person_id, *expires_at), None),
            Write::Version { person } => put(table, version_item(person)?, None),
            Write::LogEntry { entry, expires_at } => put(
                table,
                log_item(entry, *expires_at),
                Some("attribute_not_exists(pk)"),
            ),
            Write::Case { case, expected: 0 } => {
                put(table, case_item(case)?, Some("attribute_not_exists(pk)"))
            }
            Write::Case { case, expected } => {
                let put_case = Put::builder()
                    .table_name(table)
                    .set_item(Some(case_item(case)?))
                    .condition_expression("version = :expected")
                    .expression_attribute_values(":expected", n(expected))
                    .build()
                    .map_err(built)?;
                Ok(TransactWriteItem::builder().put(put_case).build())
            }
            Write::DropCase {
                person_id,
                case_id,
                expected,
            } => self.delete(
                person_pk(person_id),
                format!("CASE#{case_id}"),
                expected.map(|v| ("version = :expected", vec![(":expected", n(v))])),
            ),
            Write::ClaimActive {
                person_id,
                kind,
                case_id,
                expires_at,
            } => put(
                table,
                HashMap::from([
                    (PARTITION_KEY.to_owned(), s(person_pk(person_id))),
                    (SORT_KEY.to_owned(), s(active_key(*kind))),
                    ("case_id".to_owned(), s(case_id)),
                    (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
                ]),
                Some("attribute_not_exists(pk)"),
            ),
            Write::ReleaseActive {
                person_id,
                kind,
                case_id,
            } => self.delete(
                person_pk(person_id),
                active_key(*kind),
                Some(("case_id = :id", vec![(":id", s(case_id))])),
            ),
            Write::Load {
                volunteer_id,
                by,
                cap,
                expires_at,
            } => {
                let mut update = Update::builder()
                    .table_name(table)
                    .key(PARTITION_KEY, s(person_pk(volunteer_id)))
                    .key(SORT_KEY, s("LOAD"))
                    .update_expression(
                        "SET n = if_not_exists(n, :zero) + :by, expires_at = if_not_exists(expires_at, :e)",
                    )
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":by", n(by))
                    .expression_attribute_values(":e", n(expires_at));
                if let Some(cap) = cap {
                    // Within the cap once moved: n + by <= cap.
                    update = update
                        .condition_expression("attribute_not_exists(n) OR n <= :room")
                        .expression_attribute_values(":room", n(*cap as i64 - by));
                }
                Ok(TransactWriteItem::builder()
                    .update(update.build().map_err(built)?)
                    .build())
            }
            Write::Standing {
                standing,
                merging_into,
            } => {
                let (at_version, expected) = standing_at(standing.expected_version());
                let mut put_standing = Put::builder()
                    .table_name(table)
                    .set_item(Some(standing_item(standing)?))
                    .expression_attribute_values(":sv", expected);
                put_standing = match merging_into {
                    Some(into) => put_standing
                        .condition_expression(format!(
                            "(attribute_not_exists(merged_into) OR merged_into = :into) AND ({at_version})"
                        ))
                        .expression_attribute_values(":into", s(into)),
                    None => put_standing.condition_expression(at_version),
                };
                Ok(TransactWriteItem::builder()
                    .put(put_standing.build().map_err(built)?)
                    .build())
            }
            Write::StandingAt {
                person_id,
                version,
                unmerged,
            } => {
                let (at_version, expected) = standing_at(*version);
                let condition = if *unmerged {
                    format!("attribute_not_exists(merged_into) AND ({at_version})")
                } else {
                    at_version.to_owned()
                };
                let check = ConditionCheck::builder()
                    .table_name(table)
                    .key(PARTITION_KEY, s(person_pk(person_id)))
                    .key(SORT_KEY, s("VOLUNTEER"))
                    .condition_expression(condition)
                    .expression_attribute_values(":sv", expected)
                    .build()
                    .map_err(built)?;
                Ok(TransactWriteItem::builder().condition_check(check).build())
            }
            Write::RecordThere { person_id } => self.exists_check(person_id),
            Write::Action(action) => put(table, action_item(action)?, None),
            Write::ReleaseIdentity { key, person_id } => identity_release(table, key, person_id),
            Write::DropContact { contact, person_id } => {
                self.delete(format!("CONTACT#{contact}"), person_pk(person_id), None)
            }
            Write::DropFormerContact { contact, person_id } => {
                self.delete(format!("FORMER#{contact}"), person_pk(person_id), None)
            }
            Write::DropVersion { person_id, version } => {
                self.delete(person_pk(person_id), format!("V#{version:010}"), None)
            }
            Write::DropLogEntry {
                person_id,
                reference,
            } => self.delete(person_pk(person_id), format!("LOG#{reference}"), None),
            Write::DropStanding { person_id } => {
                self.delete(person_pk(person_id), "VOLUNTEER", None)
            }
            Write::DropLoad { person_id } => self.delete(person_pk(person_id), "LOAD", None),
            Write::DropRecord { person_id } => self.delete(person_pk(person_id), "PERSON", None),
            Write::Message { message, expected } => {
                let item = message_item(message)?;
                let mut put = Put::builder().table_name(table).set_item(Some(item));
                put = if *expected == 0 {
                    put.condition_expression("attribute_not_exists(pk)")
                } else {
                    put.condition_expression("version = :read")
                        .expression_attribute_values(":read", n(*expected))
                };
                Ok(TransactWriteItem::builder()
                    .put(put.build().map_err(built)?)
                    .build())
            }
            Write::PageLink { link, expected } => {
                let record = serde_dynamo::to_attribute_value(link)
                    .map_err(|e| StoreError::Unavailable(format!("encoding a link: {e}")))?;
                let mut put = Put::builder()
                    .table_name(table)
                    .item(PARTITION_KEY, s(person_pk(&link.person_id)))
                    .item(SORT_KEY, s(format!("LINK#{}", link.hash)))
                    .item(INDEX_PARTITION_KEY, s(format!("LINK#{}", link.hash)))
                    .item(INDEX_SORT_KEY, s("LINK"))
                    .item("record", record)
                    .item("version", n(link.version))
                    .item(TTL_ATTRIBUTE, n(link.expires_at));
                put = if *expected == 0 {
                    put.condition_expression("attribute_not_exists(pk)")
                } else {
                    put.condition_expression("version = :read")
                        .expression_attribute_values(":read", n(*expected))
                };
                Ok(TransactWriteItem::builder()
                    .put(put.build().map_err(built)?)
                    .build())
            }
            Write::MailStop { stop } => {
                let record = serde_dynamo::to_attribute_value(stop)
                    .map_err(|e| StoreError::Unavailable(format!("encoding a stop: {e}")))?;
                let item = HashMap::from([
                    (PARTITION_KEY.to_owned(), s(person_pk(&stop.person_id))),
                    (SORT_KEY.to_owned(), s(format!("NOMAIL#{}", stop.address))),
                    ("record".to_owned(), record),
                    (TTL_ATTRIBUTE.to_owned(), n(stop.expires_at)),
                ]);
                put(table, item, None)
            }
            Write::Suppress {
                hash,
                at,
                expires_at,
            } => put(
                table,
                HashMap::from([
                    (PARTITION_KEY.to_owned(), s(format!("SUPPRESSED#{hash}"))),
                    (SORT_KEY.to_owned(), s("SUPPRESSED")),
                    ("at".to_owned(), n(*at)),
                    (TTL_ATTRIBUTE.to_owned(), n(*expires_at)),
                ]),
                None,
            ),
            Write::Unsuppress { hash } => {
                self.delete(format!("SUPPRESSED#{hash}"), "SUPPRESSED", None)
            }
            Write::DropMailStop { person_id, address } => {
                self.delete(person_pk(person_id), format!("NOMAIL#{address}"), None)
            }
            Write::DropPageLink { person_id, hash } => {
                self.delete(person_pk(person_id), format!("LINK#{hash}"), None)
            }
            Write::DropMessage { person_id, id } => {
                self.delete(person_pk(person_id), format!("MSG#{id}"), None)
            }
            Write::ReceiptTally {
                key,
                tally,
                expires_at,
            } => {
                let times = serde_dynamo::to_attribute_value(&tally.times)
                    .map_err(|e| StoreError::Unavailable(format!("encoding a tally: {e}")))?;
                let mut put = Put::builder()
                    .table_name(table)
                    .item(PARTITION_KEY, s(format!("RATE#{key}")))
                    .item(SORT_KEY, s("RATE"))
                    .item("times", times)
                    .item("version", n(tally.version))
                    .item(TTL_ATTRIBUTE, n(*expires_at));
                put = match tally.version.saturating_sub(1) {
                    0 => put.condition_expression("attribute_not_exists(pk)"),
                    read => put
                        .condition_expression("version = :read")
                        .expression_attribute_values(":read", n(read)),
                };
                Ok(TransactWriteItem::builder()
                    .put(put.build().map_err(built)?)
                    .build())
            }
        }
    }

    /// Re-keys every record that holds identity keys of the rule before
    /// issue 23 (accents removed) to today's (the name as written), then
    /// writes [`REKEY_DONE`]; returns how many records it re-keyed. Each
    /// record is one transaction at its version — the record's key list,
    /// today's keys claimed, the legacy ones released — so the job can stop
    /// anywhere and run again with the same result; until it is done,
    /// [`IntakeStore::may_hold_legacy_identities`] says so and a sign-up's lookup
    /// also tries the legacy keys. A record that does not decode keeps its
    /// keys (the digest lists it as unreadable). A record whose kept
    /// versions carry names that differ as written (the old rule folded two
    /// people) is recorded, in its transaction, for the next digest to list
    /// ([`CaseAction::sent_under_two_names`]). The digest function runs it
    /// before each digest until it is done.
    pub async fn rekey_identities(&self, now: Timestamp) -> Result<usize, StoreError> {
        if !self.may_hold_legacy_identities().await? {
            return Ok(0);
        }
        let mut rekeyed = 0;
        for mut person in self.everyone().await?.people {
            let mut attempts = 0;
            while let Some(keys) = person.submission.rekeyed(&person.identities) {
                attempts += 1;
                if attempts > REKEY_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "a record kept changing while its identity keys were re-keyed; run again"
                            .into(),
                    ));
                }
                match self.rekey(&person, keys, now).await {
                    Ok(()) => {
                        rekeyed += 1;
                        break;
                    }
                    Err(StoreError::Conflict) => match self.person(&person.id).await? {
                        Some(now) => person = now,
                        None => break,
                    },
                    Err(e) => return Err(e),
                }
            }
        }
        let done = HashMap::from([
            (PARTITION_KEY.to_owned(), s(REKEY_DONE.0)),
            (SORT_KEY.to_owned(), s(REKEY_DONE.1)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(done))
            .send()
            .await
            .map_err(unavailable)?;
        self.rekeyed.store(true, Ordering::Relaxed);
        Ok(rekeyed)
    }

    /// One record's identity keys replaced by `keys`, at its version.
    async fn rekey(
        &self,
        person: &Person,
        keys: Vec<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let kept: Vec<(Submission, Timestamp)> = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :v)",
                vec![(":p", s(person_pk(&person.id))), (":v", s("V#"))],
            )
            .await?
            .into_iter()
            .filter_map(|mut item| {
                let at = number(&item, "at").unwrap_or(0);
                let submission =
                    serde_dynamo::from_attribute_value(item.remove("submission")?).ok()?;
                Some((submission, at))
            })
            .collect();
        let two_names = super::names_as_written(kept.iter().map(|(s, _)| s)).len() > 1;
        // Records kept before former contacts were: read from the versions.
        let former = if person.former_contacts.is_empty() {
            super::former_contacts(&kept)
        } else {
            person.former_contacts.clone()
        };
        let released: Vec<&String> = person
            .identities
            .iter()
            .filter(|k| !keys.contains(k))
            .collect();
        let person = Person {
            identities: keys,
            former_contacts: former,
            ..person.clone()
        };
        let update = Update::builder()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(person_pk(&person.id)))
            .key(SORT_KEY, s("PERSON"))
            .update_expression("SET #record = :record")
            .condition_expression("version = :expected")
            .expression_attribute_names("#record", "record")
            .expression_attribute_values(":record", record_value(&person)?)
            .expression_attribute_values(":expected", n(person.version))
            .build()
            .map_err(built)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        for key in &person.identities {
            items.push(identity_claim(
                &self.table,
                key,
                &person.id,
                person.updated_at,
                person.expires_at,
            )?);
        }
        for key in released {
            items.push(identity_release(&self.table, key, &person.id)?);
        }
        for former in &person.former_contacts {
            items.push(put(
                &self.table,
                former_item(former, &person.id, person.expires_at),
                None,
            )?);
        }
        if two_names {
            let action = CaseAction::sent_under_two_names(&person, now);
            items.push(put(&self.table, action_item(&action)?, None)?);
        }
        self.transact(items).await
    }

    /// Every item in the partition `<prefix><contact>` of each of
    /// `contacts`, as (contact, item), in the order of `contacts`.
    async fn under_contacts(
        &self,
        prefix: &str,
        contacts: &[String],
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let mut out = Vec::new();
        for contact in contacts {
            let items = self
                .query_all(
                    None,
                    "pk = :p",
                    vec![(":p", s(format!("{prefix}{contact}")))],
                )
                .await?;
            out.extend(items.into_iter().map(|item| (contact.clone(), item)));
        }
        Ok(out)
    }

    /// Writes `ring` for `client` if the kept one is still at
    /// `ring.version - 1` (none for version 1): `Ok(false)` when another
    /// request wrote first.
    async fn put_rate_ring(
        &self,
        client: &str,
        ring: &RateRing,
        forget_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let times = serde_dynamo::to_attribute_value(&ring.times)
            .map_err(|e| StoreError::Unavailable(format!("encoding a rate ring: {e}")))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(format!("RATE#{client}")))
            .item(SORT_KEY, s("RATE"))
            .item("times", times)
            .item("version", n(ring.version))
            .item(TTL_ATTRIBUTE, n(forget_at));
        put_over_version(put, ring.version.saturating_sub(1)).await
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
                let conflict = match e.as_service_error() {
                    Some(E::TransactionCanceledException(c)) => {
                        c.cancellation_reasons().iter().any(|r| {
                            matches!(
                                r.code(),
                                Some("ConditionalCheckFailed" | "TransactionConflict")
                            )
                        })
                    }
                    _ => false,
                };
                if conflict {
                    Err(StoreError::Conflict)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    /// Every item a query matches, page by page. `index` None reads the
    /// table consistently.
    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            if let Some(index) = index {
                query = query.index_name(index);
            } else {
                query = query.consistent_read(true);
            }
            if condition.contains("#pending") {
                query = query.expression_attribute_names("#pending", PENDING_ATTRIBUTE);
            }
            for (name, value) in &values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Every item the sparse index lists under `list` (`PENDING`, `CASE`,
    /// `VOLUNTEER`), each re-read consistently: the index lags, the items
    /// do not.
    async fn listed(&self, list: &str) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<Item> = self
            .query_all(Some(PENDING_INDEX), "#pending = :p", vec![(":p", s(list))])
            .await?
            .into_iter()
            .filter_map(|item| {
                Some(HashMap::from([
                    (PARTITION_KEY.to_owned(), item.get(PARTITION_KEY)?.clone()),
                    (SORT_KEY.to_owned(), item.get(SORT_KEY)?.clone()),
                ]))
            })
            .collect();
        self.batch_get(keys).await
    }

    /// Items by key, read consistently, 100 keys per `BatchGetItem`.
    async fn batch_get(&self, all_keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in all_keys.chunks(100) {
            let keys: Vec<Item> = chunk.to_vec();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(built)?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(unavailable)?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(found)
    }

    async fn add(
        &self,
        pk: String,
        sk: String,
        by: u64,
        expires_at: Option<Timestamp>,
    ) -> Result<u64, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .expression_attribute_values(":one", n(by))
            .return_values(ReturnValue::UpdatedNew);
        update = match expires_at {
            Some(at) => update
                .update_expression("ADD n :one SET expires_at = :e")
                .expression_attribute_values(":e", n(at)),
            None => update.update_expression("ADD n :one"),
        };
        let out = update.send().await.map_err(unavailable)?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get("n"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Unavailable("UpdateItem returned no count".into()))
    }

    /// Moves the expiry of the record's versions and log entries to its new
    /// one, before the update that moves the record's own: extending first
    /// means nothing the record keeps can expire before it.
    async fn extend_kept_items(&self, id: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let items = self
            .query_all(None, "pk = :p", vec![(":p", s(person_pk(id)))])
            .await?;
        // A message keeps its own expiry: a sent one is forgotten in days.
        for item in items.into_iter().filter(|i| {
            text(i, SORT_KEY).is_some_and(|sk| sk != "PERSON" && !sk.starts_with("MSG#"))
        }) {
            if number(&item, TTL_ATTRIBUTE).is_some_and(|at| at >= expires_at) {
                continue;
            }
            let (Some(pk), Some(sk)) = (text(&item, PARTITION_KEY), text(&item, SORT_KEY)) else {
                continue;
            };
            self.raise_expiry(pk.to_owned(), sk.to_owned(), expires_at, None)
                .await?;
        }
        Ok(())
    }

    /// One record of [`DigestStore::mark_reported`]: two conditional updates.
    async fn mark_one_reported(&self, id: &str, version: u64) -> Result<(), StoreError> {
        let attempt = |expression: &'static str, condition: &'static str| {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(PARTITION_KEY, s(person_pk(id)))
                .key(SORT_KEY, s("PERSON"))
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_names("#pending", PENDING_ATTRIBUTE)
                .expression_attribute_values(":v", n(version))
                .send()
        };
        let failed_condition = |e: &SdkError<_, _>| {
            e.as_service_error().is_some_and(
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception,
            )
        };
        // Still at the version sent: reported, no longer pending.
        match attempt(
            "SET reported_version = :v REMOVE #pending",
            "attribute_exists(pk) AND version = :v AND reported_version < :v",
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(e) if failed_condition(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        // Written again meanwhile: what was sent is reported; it stays pending.
        match attempt(
            "SET reported_version = :v",
            "attribute_exists(pk) AND version > :v AND reported_version < :v AND attribute_exists(#pending)",
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if failed_condition(&e) => Ok(()), // gone, or already further
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Scans the table for items whose sort key starts with `prefix` (the
    /// submission log; an operator's read, never on a request's path).
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

fn scan_of(items: Vec<Item>) -> Scan {
    let mut scan = Scan::default();
    for item in items {
        match person_from(item) {
            Ok(person) => scan.people.push(person),
            Err(StoreError::Unreadable { key }) => scan.unreadable.push(key),
            Err(_) => {}
        }
    }
    scan
}

impl Records for DynamoStore {
    async fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        self.get(person_pk(id), "PERSON")
            .await?
            .map(person_from)
            .transpose()
    }

    async fn cases_of(&self, person_id: &str) -> Result<Vec<Case>, StoreError> {
        let items = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :case)",
                vec![(":p", s(person_pk(person_id))), (":case", s("CASE#"))],
            )
            .await?;
        let mut cases = items.iter().map(case_from).collect::<Result<Vec<_>, _>>()?;
        cases.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        Ok(cases)
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let Some(person) = Case::person_of(id) else {
            return Ok(None);
        };
        self.get(person_pk(person), &format!("CASE#{id}"))
            .await?
            .map(|item| case_from(&item))
            .transpose()
    }

    async fn active_cases(&self) -> Result<CaseScan, StoreError> {
        let mut scan = CaseScan::default();
        for item in self.listed("CASE").await? {
            match case_from(&item) {
                Ok(case) if case.state.is_active() => scan.cases.push(case),
                Ok(_) => {}
                Err(StoreError::Unreadable { key }) => scan.unreadable.push(key),
                Err(e) => return Err(e),
            }
        }
        scan.cases
            .sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        Ok(scan)
    }

    async fn standings(&self) -> Result<Vec<Standing>, StoreError> {
        Ok(self
            .listed("VOLUNTEER")
            .await?
            .into_iter()
            .filter_map(standing_from)
            .collect())
    }

    async fn standing(&self, person_id: &str) -> Result<Option<Standing>, StoreError> {
        Ok(self
            .get(person_pk(person_id), "VOLUNTEER")
            .await?
            .and_then(standing_from))
    }

    async fn actions_since(&self, since: Timestamp) -> Result<Vec<CaseAction>, StoreError> {
        let items = self
            .query_all(
                None,
                "pk = :p AND sk >= :since",
                vec![
                    (":p", s("ACTIONS")),
                    (":since", s(format!("{:012}", since.max(0)))),
                ],
            )
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|mut item| item.remove("record"))
            .filter_map(|r| serde_dynamo::from_attribute_value(r).ok())
            .collect())
    }

    async fn everyone(&self) -> Result<Scan, StoreError> {
        let items = self
            .query_all(Some(INDEX), "gsi1pk = :p", vec![(":p", s("CHANGES"))])
            .await?;
        Ok(scan_of(items))
    }

    async fn sharing(&self, contacts: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .under_contacts("CONTACT#", contacts)
            .await?
            .into_iter()
            .filter_map(|(contact, item)| Some((contact, text(&item, "person_id")?.to_owned())))
            .collect())
    }

    async fn carry_out(&self, plan: &Plan) -> Result<(), StoreError> {
        // A record's next version: everything it keeps outside the
        // transaction (its versions, log lines, cases) first lasts as long.
        for write in &plan.writes {
            if let Write::Record { person, expected } = write
                && *expected > 0
            {
                self.extend_kept_items(&person.id, person.expires_at)
                    .await?;
                // Its former-contact listings too: the plan writes only new ones.
                for former in &person.former_contacts {
                    self.raise_expiry(
                        format!("FORMER#{}", former.contact),
                        person_pk(&person.id),
                        person.expires_at,
                        None,
                    )
                    .await?;
                }
            }
        }
        let items = plan
            .writes
            .iter()
            .map(|write| self.item_of(write))
            .collect::<Result<Vec<_>, _>>()?;
        self.transact(items).await?;
        // Everyone whose cases changed is kept for the retention period
        // from the change.
        let at = plan.writes.iter().find_map(|w| match w {
            Write::Action(action) => Some(action.at),
            _ => None,
        });
        let mut changed: Vec<(&str, Timestamp)> = Vec::new();
        // And every volunteer a case is offered or matched to, as the digest's
        // `keep_waiting` would (a record near its end is kept from now, not
        // from the next digest: an offer to a record DynamoDB's TTL takes is
        // never answered).
        let mut holding: Vec<(&str, Timestamp)> = Vec::new();
        for write in &plan.writes {
            if let Write::Case { case, .. } = write
                && let Some(volunteer) = case.holds_volunteer()
                && !holding.iter().any(|(id, _)| *id == volunteer)
            {
                holding.push((volunteer, at.unwrap_or(case.changed_at)));
            }
            if let Write::Case { case, expected } = write
                && *expected > 0
                && !changed.iter().any(|(id, _)| *id == case.person_id)
            {
                changed.push((&case.person_id, at.unwrap_or(case.changed_at)));
            }
            if let Write::Standing {
                merging_into: Some(into),
                ..
            } = write
                && !changed.iter().any(|(id, _)| id == into)
            {
                changed.push((into, at.unwrap_or_default()));
            }
        }
        for (id, at) in changed {
            self.kept_after_case_change(id, at).await;
        }
        if let Some(span) = self.retention {
            for (id, at) in holding {
                // Boxed: every plan's future would otherwise carry its state.
                if let Err(e) = Box::pin(self.keep_person_until(id, at + span / 2, at + span)).await
                {
                    tracing::warn!(error = %e, "a volunteer was offered a case; their record's expiry not yet moved (the next digest does)");
                }
            }
        }
        Ok(())
    }

    async fn address_key(&self) -> Result<AddressKey, StoreError> {
        let read = |item: Item| match item.get("value") {
            Some(AttributeValue::B(bytes)) => Some(AddressKey(bytes.as_ref().to_vec())),
            _ => None,
        };
        let key = match self.get("KEYS".into(), "ADDRESS").await?.and_then(read) {
            Some(key) => key,
            None => {
                // Made once: the first writer's key is everyone's.
                let made = AddressKey::generate();
                let put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item(PARTITION_KEY, s("KEYS"))
                    .item(SORT_KEY, s("ADDRESS"))
                    .item(
                        "value",
                        AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(made.0.clone())),
                    );
                put_over_version(put, 0).await?;
                self.get("KEYS".into(), "ADDRESS")
                    .await?
                    .and_then(read)
                    .ok_or_else(|| StoreError::Unavailable("the address key did not keep".into()))?
            }
        };
        Ok(key)
    }

    async fn suppressed(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .get(format!("SUPPRESSED#{hash}"), "SUPPRESSED")
            .await?
            .is_some())
    }

    async fn count_by(&self, day: &str, counter: Counter, n: u64) -> Result<(), StoreError> {
        self.add(
            "COUNTS".into(),
            format!("{day}#{}", counter.name()),
            n,
            None,
        )
        .await
        .map(drop)
    }
}

impl IntakeStore for DynamoStore {
    async fn holders(&self, identities: &[String]) -> Result<Vec<(String, Person)>, StoreError> {
        let mut out = Vec::new();
        for key in identities {
            let Some(item) = self.get(format!("IDENTITY#{key}"), "IDENTITY").await? else {
                continue;
            };
            let Some(id) = text(&item, "person_id") else {
                continue;
            };
            // A holder gone (expired, deleted late by TTL) holds nothing.
            if let Some(record) = self.get(person_pk(id), "PERSON").await? {
                out.push((key.clone(), person_from(record)?));
            }
        }
        Ok(out)
    }

    async fn may_hold_legacy_identities(&self) -> Result<bool, StoreError> {
        if self.rekeyed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let done = self
            .get(REKEY_DONE.0.to_owned(), REKEY_DONE.1)
            .await?
            .is_some();
        if done {
            self.rekeyed.store(true, Ordering::Relaxed);
        }
        Ok(!done)
    }

    async fn admit_places(
        &self,
        client: &str,
        now: Timestamp,
        limit: u64,
        window: i64,
        places: u64,
    ) -> Result<Admission, StoreError> {
        for attempt in 0..RATE_ATTEMPTS {
            let admission = self
                .rate_ring(client)
                .await?
                .admit_places(now, limit, window, places);
            let Admission::Admitted(ring) = &admission else {
                return Ok(admission);
            };
            if self
                .put_rate_ring(client, ring, ring.forget_at(window))
                .await?
            {
                return Ok(admission);
            }
            // Another request of the client wrote first: read again, after a
            // pause that grows and differs, so that many at once spread out.
            let spread = uuid::Uuid::new_v4().as_u128() % 4;
            let pause = (1u64 << attempt.min(5)) + spread as u64;
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        Err(StoreError::Unavailable(
            "the rate limit's ring kept moving under this request".into(),
        ))
    }

    async fn page_link(&self, hash: &str) -> Result<Option<PageLink>, StoreError> {
        self.find_page_link(hash).await
    }

    async fn rate_ring(&self, client: &str) -> Result<RateRing, StoreError> {
        let Some(item) = self.get(format!("RATE#{client}"), "RATE").await? else {
            return Ok(RateRing::default());
        };
        let times = item
            .get("times")
            .and_then(|t| serde_dynamo::from_attribute_value(t.clone()).ok())
            // A ring that does not decode is forgotten: the client starts afresh.
            .unwrap_or_default();
        let version = number(&item, "version").unwrap_or_default();
        Ok(RateRing {
            times,
            version: u64::try_from(version).unwrap_or_default(),
        })
    }
}

impl SenderStore for DynamoStore {
    async fn due_messages(&self, now: Timestamp, limit: usize) -> Result<Vec<Message>, StoreError> {
        let keys: Vec<Item> = self
            .query_all(
                Some(PENDING_INDEX),
                "#pending = :p AND gsi1sk <= :due",
                vec![
                    (":p", s("MESSAGE")),
                    (":due", s(format!("{:012}#~", now.max(0)))),
                ],
            )
            .await?
            .into_iter()
            .take(limit)
            .filter_map(|item| {
                Some(HashMap::from([
                    (PARTITION_KEY.to_owned(), item.get(PARTITION_KEY)?.clone()),
                    (SORT_KEY.to_owned(), item.get(SORT_KEY)?.clone()),
                ]))
            })
            .collect();
        // The index lags: each message re-read, still waiting and due.
        let mut due: Vec<Message> = self
            .batch_get(keys)
            .await?
            .iter()
            .filter_map(message_from)
            .filter(|m| m.due_at().is_some_and(|at| at <= now))
            .collect();
        due.sort_by(|a, b| (a.due_at(), &a.id).cmp(&(b.due_at(), &b.id)));
        Ok(due)
    }

    async fn mail_stop(
        &self,
        person_id: &str,
        address: &str,
    ) -> Result<Option<MailStop>, StoreError> {
        Ok(self
            .get(person_pk(person_id), &format!("NOMAIL#{address}"))
            .await?
            .and_then(|item| item.get("record").cloned())
            .and_then(|r| serde_dynamo::from_attribute_value::<_, MailStop>(r).ok()))
    }

    async fn messages_of(&self, person_id: &str) -> Result<Vec<Message>, StoreError> {
        let mut messages: Vec<Message> = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :m)",
                vec![(":p", s(person_pk(person_id))), (":m", s("MSG#"))],
            )
            .await?
            .iter()
            .filter_map(message_from)
            .collect();
        messages.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(messages)
    }
}

impl DynamoStore {
    /// The private link under `hash`: found through [`INDEX`] (its
    /// `gsi1pk` is `LINK#<hash>`), then read consistently from the
    /// record's partition.
    async fn find_page_link(&self, hash: &str) -> Result<Option<PageLink>, StoreError> {
        let found = self
            .query_all(
                Some(INDEX),
                "gsi1pk = :k",
                vec![(":k", s(format!("LINK#{hash}")))],
            )
            .await?;
        let Some(pk) = found.first().and_then(|item| text(item, PARTITION_KEY)) else {
            return Ok(None);
        };
        let Some(item) = self.get(pk.to_owned(), &format!("LINK#{hash}")).await? else {
            return Ok(None);
        };
        Ok(item
            .get("record")
            .cloned()
            .and_then(|r| serde_dynamo::from_attribute_value::<_, PageLink>(r).ok())
            .filter(|link| link.hash == hash)
            .map(|mut link| {
                // The item's own expiry is the truth: an update of the person
                // raised it, and a rewrite of the link must not lower it.
                if let Some(at) = number(&item, TTL_ATTRIBUTE) {
                    link.expires_at = at;
                }
                link
            }))
    }
}

impl CaseDesk for DynamoStore {
    async fn loads(&self, volunteers: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let kept: HashMap<String, i64> = match volunteers {
            // One: read consistently by its key (the case desk's pages).
            [one] => self
                .get(person_pk(one), "LOAD")
                .await?
                .and_then(|item| Some((one.clone(), number(&item, "n")?)))
                .into_iter()
                .collect(),
            many => self
                .batch_get(
                    many.iter()
                        .map(|v| {
                            HashMap::from([
                                (PARTITION_KEY.to_owned(), s(person_pk(v))),
                                (SORT_KEY.to_owned(), s("LOAD")),
                            ])
                        })
                        .collect(),
                )
                .await?
                .iter()
                .filter_map(|item| {
                    let id = text(item, PARTITION_KEY)?.strip_prefix("PERSON#")?;
                    Some((id.to_owned(), number(item, "n")?))
                })
                .collect(),
        };
        Ok(volunteers
            .iter()
            .map(|v| (v.clone(), kept.get(v).copied().unwrap_or(0).max(0) as u64))
            .collect())
    }
}

impl DigestStore for DynamoStore {
    async fn version(&self, id: &str, version: u64) -> Result<Option<Submission>, StoreError> {
        let Some(mut item) = self.get(person_pk(id), &format!("V#{version:010}")).await? else {
            return Ok(None);
        };
        let submission = item
            .remove("submission")
            .ok_or_else(|| StoreError::Unreadable { key: id.to_owned() })?;
        serde_dynamo::from_attribute_value(submission)
            .map(Some)
            .map_err(|_| StoreError::Unreadable { key: id.to_owned() })
    }

    async fn pending(&self) -> Result<Scan, StoreError> {
        let mut scan = scan_of(self.listed("PENDING").await?);
        scan.people.retain(Person::is_pending);
        scan.people
            .sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
        scan.unreadable.sort();
        Ok(scan)
    }

    async fn mark_reported(&self, reported: &[ManifestEntry]) -> Result<(), StoreError> {
        for entry in reported {
            self.mark_one_reported(&entry.id, entry.version).await?;
        }
        Ok(())
    }

    async fn digest_state(&self) -> Result<DigestState, StoreError> {
        match self.get("DIGEST".into(), "STATE").await? {
            None => Ok(DigestState::default()),
            Some(mut item) => {
                let state = item
                    .remove("state")
                    .ok_or_else(|| StoreError::Unavailable("digest state without state".into()))?;
                serde_dynamo::from_attribute_value(state).map_err(|e| {
                    StoreError::Unavailable(format!("the digest state does not decode: {e}"))
                })
            }
        }
    }

    async fn put_digest_state(
        &self,
        state: &DigestState,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let value = serde_dynamo::to_attribute_value(state)
            .map_err(|e| StoreError::Unavailable(format!("encoding the digest state: {e}")))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s("DIGEST"))
            .item(SORT_KEY, s("STATE"))
            .item("state", value)
            .item("version", n(state.version));
        match put_over_version(put, expected_version).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    async fn counts(
        &self,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(Counter, u64)>, StoreError> {
        let items = self
            .query_all(
                None,
                "pk = :p AND sk BETWEEN :from AND :to",
                vec![
                    (":p", s("COUNTS")),
                    (":from", s(format!("{from_day}#"))),
                    (":to", s(format!("{to_day}#~"))),
                ],
            )
            .await?;
        let mut totals: Vec<(Counter, u64)> = Counter::ALL.iter().map(|c| (*c, 0)).collect();
        for item in items {
            let name = item
                .get(SORT_KEY)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| sk.split_once('#'))
                .map(|(_, n)| n.to_owned());
            let count: u64 = item
                .get("n")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if let Some(total) = totals
                .iter_mut()
                .find(|(c, _)| Some(c.name()) == name.as_deref())
            {
                total.1 += count;
            }
        }
        Ok(totals)
    }
}

impl AdminStore for DynamoStore {
    async fn former_holders(
        &self,
        contacts: &[String],
    ) -> Result<Vec<(String, String, Timestamp)>, StoreError> {
        Ok(self
            .under_contacts("FORMER#", contacts)
            .await?
            .into_iter()
            .filter_map(|(contact, item)| {
                let at = number(&item, "last_held_at")?;
                Some((contact, text(&item, "person_id")?.to_owned(), at))
            })
            .collect())
    }

    async fn kept(&self, id: &str) -> Result<Kept, StoreError> {
        let pk = person_pk(id);
        let items = self
            .query_all(None, "pk = :p", vec![(":p", s(&pk))])
            .await?;
        let mut kept = Kept::default();
        // Its keys, from the record and from every version it kept, so that a
        // record that no longer decodes leaves no identity key behind (that
        // would refuse the same person signing up again) and no contact.
        let mut identities = BTreeSet::new();
        let mut contacts = BTreeSet::new();
        for item in &items {
            let sk = text(item, SORT_KEY).unwrap_or("");
            if sk == "PERSON" {
                kept.record = true;
                if let Ok(person) = person_from(item.clone()) {
                    contacts.extend(person.submission.contact_keys());
                    contacts.extend(person.former_contacts.into_iter().map(|f| f.contact));
                    identities.extend(person.identities);
                }
            } else if let Some(version) = sk.strip_prefix("V#") {
                kept.versions.extend(version.parse::<u64>().ok());
                if let Some(Ok(submission)) = item
                    .get("submission")
                    .map(|v| serde_dynamo::from_attribute_value::<_, Submission>(v.clone()))
                {
                    contacts.extend(submission.contact_keys());
                    identities.extend(submission.identity_keys());
                    // A version kept from before the re-keying may hold the legacy keys.
                    identities.extend(submission.legacy_identity_keys());
                }
            } else if let Some(reference) = sk.strip_prefix("LOG#") {
                kept.log.push(reference.to_owned());
            } else if let Some(case_id) = sk.strip_prefix("CASE#") {
                match case_from(item) {
                    Ok(case) => kept.cases.push(case),
                    Err(_) => kept.unreadable_cases.push(case_id.to_owned()),
                }
            } else if let Some(kind) = sk.strip_prefix("ACTIVE#") {
                if let (Some(kind), Some(case_id)) =
                    (CaseKind::from_name(kind), text(item, "case_id"))
                {
                    kept.active.push((kind, case_id.to_owned()));
                }
            } else if sk == "VOLUNTEER" {
                kept.standing = true;
            } else if sk == "LOAD" {
                kept.load = true;
            } else if let Some(message) = sk.strip_prefix("MSG#") {
                kept.messages.push(message.to_owned());
            } else if let Some(hash) = sk.strip_prefix("LINK#") {
                kept.page_links.push(hash.to_owned());
            } else if let Some(address) = sk.strip_prefix("NOMAIL#") {
                kept.mail_stops.push(address.to_owned());
            }
        }
        kept.cases
            .sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        // Of the keys it may hold and the listings it may be under, those
        // that are there (and, for an identity key, its own).
        let key = |pk: String, sk: String| {
            HashMap::from([
                (PARTITION_KEY.to_owned(), s(pk)),
                (SORT_KEY.to_owned(), s(sk)),
            ])
        };
        let mut keys: Vec<Item> = identities
            .iter()
            .map(|k| key(format!("IDENTITY#{k}"), "IDENTITY".into()))
            .collect();
        for contact in &contacts {
            keys.push(key(format!("CONTACT#{contact}"), pk.clone()));
            keys.push(key(format!("FORMER#{contact}"), pk.clone()));
        }
        for item in self.batch_get(keys).await? {
            let Some(found) = text(&item, PARTITION_KEY) else {
                continue;
            };
            if let Some(k) = found.strip_prefix("IDENTITY#") {
                if text(&item, "person_id") == Some(id) {
                    kept.identities.push(k.to_owned());
                }
            } else if let Some(c) = found.strip_prefix("CONTACT#") {
                kept.contacts.push(c.to_owned());
            } else if let Some(c) = found.strip_prefix("FORMER#") {
                kept.former_contacts.push(c.to_owned());
            }
        }
        kept.identities.sort();
        kept.contacts.sort();
        kept.former_contacts.sort();
        Ok(kept)
    }

    async fn submissions(&self) -> Result<Vec<LogEntry>, StoreError> {
        let mut log: Vec<LogEntry> = self
            .scan_prefix("LOG#")
            .await?
            .iter()
            .filter_map(log_from)
            .collect();
        log.sort_by(|a, b| (a.at, &a.reference).cmp(&(b.at, &b.reference)));
        Ok(log)
    }

    async fn all_cases(&self) -> Result<CaseScan, StoreError> {
        let mut scan = CaseScan::default();
        for item in self.scan_prefix("CASE#").await? {
            match case_from(&item) {
                Ok(case) => scan.cases.push(case),
                Err(StoreError::Unreadable { key }) => scan.unreadable.push(key),
                Err(e) => return Err(e),
            }
        }
        scan.cases
            .sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        Ok(scan)
    }
}
