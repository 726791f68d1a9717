//! The store port: the few operations the domain needs, each atomic, and the
//! records they keep. Two adapters implement it with the same semantics:
//! [`sqlite::SqliteStore`] (embedded, the default) and, with the `aws`
//! feature, `dynamo::DynamoStore`. One contract test suite runs against both.
//!
//! Concurrency is optimistic: the domain reads a person, decides, and writes
//! with [`Store::create`] (fails if a contact is already taken) or
//! [`Store::replace`] (fails if the record changed since it was read). A
//! [`StoreError::Conflict`] means "read again and decide again".

use std::future::Future;

use mutualaid_forms::{Donation, FormId, Signup};
use serde::{Deserialize, Serialize};

pub mod sqlite;

#[cfg(feature = "aws")]
pub mod dynamo;

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

/// What a person sent, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum Submission {
    /// A sign-up.
    Signup(Signup),
    /// A donation interest.
    Donate(Donation),
}

impl Submission {
    /// Which form it came from.
    pub fn form(&self) -> FormId {
        match self {
            Submission::Signup(_) => FormId::Signup,
            Submission::Donate(_) => FormId::Donate,
        }
    }

    /// Every field of either form as text, in [`FIELDS`] order (empty where
    /// this form has no such field): the export's columns, and what an update
    /// is compared on.
    pub fn field_texts(&self) -> [String; FIELDS.len()] {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
        match self {
            Submission::Signup(s) => [
                s.name.clone(),
                opt(&s.email),
                opt(&s.phone),
                lower(&s.contact_method),
                s.zip.clone(),
                opt(&s.neighborhood),
                s.roles.join(", "),
                s.languages.join(", "),
                opt(&s.availability),
                if s.has_car {
                    "yes".into()
                } else {
                    String::new()
                },
                s.household_size.map(|n| n.to_string()).unwrap_or_default(),
                opt(&s.notes),
                String::new(),
                String::new(),
                String::new(),
                s.lang.code().into(),
            ],
            Submission::Donate(d) => [
                d.name.clone(),
                d.email.clone(),
                opt(&d.phone),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                lower(&d.frequency),
                d.amount.map(|n| n.to_string()).unwrap_or_default(),
                opt(&d.message),
                d.lang.code().into(),
            ],
        }
    }

    /// The keys that identify the person: their normalised email and phone,
    /// per form (`signup:email:ana@example.org`, `signup:phone:+16195550123`).
    pub fn contact_keys(&self) -> Vec<String> {
        let form = self.form().key();
        let (email, phone) = match self {
            Submission::Signup(s) => (s.email.as_deref(), s.phone.as_deref()),
            Submission::Donate(d) => (Some(d.email.as_str()), d.phone.as_deref()),
        };
        email
            .map(|e| format!("{form}:email:{e}"))
            .into_iter()
            .chain(phone.map(|p| format!("{form}:phone:{p}")))
            .collect()
    }
}

/// The fields of both forms, by wire name, in the order the export shows them.
pub const FIELDS: [&str; 16] = [
    "name",
    "email",
    "phone",
    "contact_method",
    "zip",
    "neighborhood",
    "roles",
    "languages",
    "availability",
    "has_car",
    "household_size",
    "notes",
    "frequency",
    "amount",
    "message",
    "lang",
];

/// One change between two versions of a person's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The field's wire name.
    pub field: String,
    /// Before, as text ("" if it was empty).
    pub from: String,
    /// After, as text.
    pub to: String,
}

/// A person's record: their latest submission and how it came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Stable id (a UUIDv7: sorts by creation time).
    pub id: String,
    /// Their latest submission.
    pub submission: Submission,
    /// The contact keys that point at this record.
    pub contacts: Vec<String>,
    /// When first stored.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// 1 when created, +1 on each update.
    pub version: u64,
    /// What the last update changed (empty for a new record).
    pub changes: Vec<Change>,
    /// When the record is deleted (retention).
    pub expires_at: Timestamp,
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first: read again and decide again.
    #[error("conflict: the record changed or a contact was taken concurrently")]
    Conflict,
    /// The store is down, slow or refused; nothing was acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// The digest's progress: the watermark (everything changed before it has
/// been reported in a digest the mail service accepted) and a lease, so two
/// runs at once send one digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestState {
    /// Changes before this time have been reported.
    pub watermark: Option<Timestamp>,
    /// The run holding the lease, if any.
    pub lease_owner: Option<String>,
    /// Until when the lease holds.
    pub lease_until: Option<Timestamp>,
    /// 0 until first written, then +1 on each write.
    pub version: u64,
}

/// Counters kept per day for the digest's self-report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// A new person.
    Created,
    /// A person changed their details.
    Updated,
    /// A person sent the same again.
    Unchanged,
    /// A submission with errors to fix.
    Rejected,
    /// A bot caught by the honeypot.
    Honeypot,
    /// A client over the rate limit.
    RateLimited,
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 6] = [
        Counter::Created,
        Counter::Updated,
        Counter::Unchanged,
        Counter::Rejected,
        Counter::Honeypot,
        Counter::RateLimited,
    ];

    /// Its name in storage.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Created => "created",
            Counter::Updated => "updated",
            Counter::Unchanged => "unchanged",
            Counter::Rejected => "rejected",
            Counter::Honeypot => "honeypot",
            Counter::RateLimited => "rate_limited",
        }
    }
}

/// The narrow port the domain uses. Every method is one atomic operation.
pub trait Store: Send + Sync + 'static {
    /// The distinct people any of `contacts` points at, in the order of
    /// `contacts` (so the email's owner comes before the phone's).
    fn find(
        &self,
        contacts: &[String],
    ) -> impl Future<Output = Result<Vec<Person>, StoreError>> + Send;

    /// Stores a new person and claims all their contacts, or fails with
    /// [`StoreError::Conflict`] if any contact is taken.
    fn create(&self, person: &Person) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces a person's record if it is still at `expected_version`;
    /// releases `released` contacts and claims `claimed` ones (each must be
    /// free), or fails with [`StoreError::Conflict`].
    fn replace(
        &self,
        person: &Person,
        expected_version: u64,
        released: &[String],
        claimed: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every person changed at or after `since`, oldest change first.
    fn changed_since(
        &self,
        since: Timestamp,
    ) -> impl Future<Output = Result<Vec<Person>, StoreError>> + Send;

    /// Counts one request for `client` in the window starting `window_start`
    /// and returns the count so far (including this one). Entries expire at `expires_at`.
    fn hit(
        &self,
        client: &str,
        window_start: Timestamp,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Adds one to a day's counter (`day` is `YYYY-MM-DD`).
    fn count(
        &self,
        day: &str,
        counter: Counter,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How far the digest has reported, and who is sending one now.
    fn digest_state(&self) -> impl Future<Output = Result<DigestState, StoreError>> + Send;

    /// Writes the digest state if it is still at `expected_version` (0: never
    /// written), or fails with [`StoreError::Conflict`].
    fn put_digest_state(
        &self,
        state: &DigestState,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The counters of the days from `from_day` to `to_day` inclusive, summed.
    fn counts(
        &self,
        from_day: &str,
        to_day: &str,
    ) -> impl Future<Output = Result<Vec<(Counter, u64)>, StoreError>> + Send;
}
