//! The store port: the few operations the domain and the digest need, each
//! atomic, and the records they keep. Two adapters implement it with the same
//! semantics: [`sqlite::SqliteStore`] (embedded, the default) and, with the
//! `aws` feature, `dynamo::DynamoStore`. One contract test suite
//! (`tests/tests/it/store_contract.rs`) runs against both, and a property
//! test (`tests/tests/it/store_model.rs`) holds both to an in-memory model
//! on random sequences of everything people and organizers do.
//!
//! ## One set of rules: the domain plans, the adapters carry out
//!
//! Every write is a [`Plan`] ([`plan`]): the typed list of writes one
//! operation takes — a record over the version read, an identity key
//! claimed or released, a case over its version, the one active case of a
//! kind claimed or released, a volunteer's load moved within a cap, a
//! standing over its version, an action recorded, and erasure's deletions —
//! each with its condition. The domain builds plans ([`plan::create`],
//! [`plan::update`], [`Planner::change`], [`MergeChange::plan`],
//! [`plan::erasure`], …), so a rule (who holds which key, one active case
//! per kind, the load and its cap) is written once, in [`plan`]. An adapter
//! only translates: [`Records::carry_out`] makes every write or none —
//! SQLite as statements in one transaction, DynamoDB as one
//! `TransactWriteItems` of one item per write. Why: the two stores had each
//! written the rules in their own idiom (a partial unique index against an
//! `ACTIVE#` item, a count of matched cases against a `LOAD` counter an
//! erasure could lower twice), and they had begun to disagree. A plan holds
//! at most [`plan::MOST_WRITES`] writes (DynamoDB's limit); erasure, which
//! can need more, is a sequence of plans that a stopped run finishes when
//! run again, none of them able to count twice.
//!
//! ## Roles
//!
//! The port is split by who calls it: [`Records`] (the reads every role
//! makes, [`Records::carry_out`], the day counters), [`IntakeStore`] (the
//! forms: identity lookups, the rate limit), [`CaseDesk`] (the organizers'
//! action pages and `mutualaid cases`: a volunteer's load), [`DigestStore`]
//! (pending records, marking them reported, the lease), [`AdminStore`]
//! (export of any table, deletion on request), [`SenderStore`] (the
//! outbox's messages due). [`Store`] is all of them.
//! The `submit` Lambda serves intake and the case desk; the `digest`
//! Lambda the digest and administration (delete and export events), and
//! each function's IAM policy grants what its roles call
//! (`tests/tests/it/rights.rs` runs them under those rights). On AWS,
//! backups and the purge of expired records are DynamoDB's own
//! (point-in-time recovery, TTL); on SQLite they are
//! [`sqlite::SqliteStore::backup_to`] and
//! [`sqlite::SqliteStore::purge_expired`].
//!
//! ## What is kept
//!
//! - A **record** ([`Person`]): one person's latest submission, its version
//!   (1 when created, +1 per change), the version the organizers last saw in
//!   a digest ([`Person::reported_version`]; the record is *pending* while its
//!   version is newer) and the identity keys it holds.
//! - Every **version** of the record, until retention ends.
//! - The **submission log** ([`LogEntry`]): one entry per accepted submission,
//!   by its random reference — also for a resubmission that changed nothing.
//! - **Identity keys** ([`Submission::identity_keys`]): a hash of the form, the
//!   normalized name and one contact. Each is held by at most one record:
//!   this is what makes two simultaneous first submissions of one person one
//!   record.
//! - The **contact index**: contact → every record that gave it. Not unique:
//!   two people who share a phone are two records, *linked* by it (the digest
//!   shows the link).
//! - The **former contacts**: contact → every record that gave it once and
//!   no longer does, with when it last held it — for as long as the record
//!   keeps the versions that hold it. For deletion on request only, never to
//!   match a sign-up.
//!
//! ## Concurrency
//!
//! Optimistic: the domain reads, decides, and carries out a plan whose
//! conditions say what it read (a new record: no identity key taken; an
//! update: the record still at its version and every key it claims free or
//! its own). A [`StoreError::Conflict`] means "read again and decide
//! again". Only the digest moves [`Person::reported_version`], with
//! [`DigestStore::mark_reported`], and no write of a submission ever
//! touches it.

use std::future::Future;

use mutualaid_forms::normalize::{legacy_name_key, name_key};
use mutualaid_forms::{Donation, FormId, Signup};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod case;
pub mod message;
pub mod page_link;
pub mod plan;
pub mod sqlite;

pub use case::{
    ActionKind, Actor, CarriedCase, Case, CaseAction, CaseKind, CaseState, CloseReason, ClosedCase,
    Flag, FlagReason, Introduced, MergedRecords, Offer, Standing, UNANSWERED_PAUSES,
};
pub use plan::{CaseChange, Kept, MergeChange, Plan, Planner, UnmergeChange, Write};

#[cfg(feature = "aws")]
pub mod dynamo;

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

/// What a person sent, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum Submission {
    /// A sign-up.
    Signup(Signup),
    /// A donation interest.
    Donate(Donation),
}

impl From<Signup> for Submission {
    fn from(signup: Signup) -> Submission {
        Submission::Signup(signup)
    }
}

impl From<Donation> for Submission {
    fn from(donation: Donation) -> Submission {
        Submission::Donate(donation)
    }
}

impl Submission {
    /// Which form it came from.
    pub fn form(&self) -> FormId {
        match self {
            Submission::Signup(_) => FormId::Signup,
            Submission::Donate(_) => FormId::Donate,
        }
    }

    /// The email address, if given (a donation always has one).
    pub fn email(&self) -> Option<&str> {
        match self {
            Submission::Signup(s) => s.email.as_deref(),
            Submission::Donate(d) => Some(&d.email),
        }
    }

    /// The phone number, if given.
    pub fn phone(&self) -> Option<&str> {
        match self {
            Submission::Signup(s) => s.phone.as_deref(),
            Submission::Donate(d) => d.phone.as_deref(),
        }
    }

    /// This submission with `email` and `phone` as its contacts (a
    /// donation keeps its email when `email` is `None`: it always has one).
    pub fn with_contacts(&self, email: Option<&str>, phone: Option<&str>) -> Submission {
        let mut next = self.clone();
        match &mut next {
            Submission::Signup(s) => {
                s.email = email.map(str::to_owned);
                s.phone = phone.map(str::to_owned);
            }
            Submission::Donate(d) => {
                if let Some(email) = email {
                    d.email = email.to_owned();
                }
                d.phone = phone.map(str::to_owned);
            }
        }
        next
    }

    /// Every field of either form as text, in [`FIELDS`] order (empty where
    /// this form has no such field): the export's columns, and what an update
    /// is compared on.
    pub fn field_texts(&self) -> [String; FIELDS.len()] {
        let mut texts: [String; FIELDS.len()] = Default::default();
        for (field, text) in self.named_fields() {
            // Every field has its column: `every_field_has_a_column` holds it.
            if let Some(at) = FIELDS.iter().position(|f| *f == field) {
                texts[at] = text;
            }
        }
        texts
    }

    /// This submission's fields as (wire name, text). Written by destructuring
    /// every field, so a field added to [`Signup`] or [`Donation`] does not
    /// compile until it is named here — and so reaches the export and the
    /// digest's change lines.
    pub fn named_fields(&self) -> Vec<(&'static str, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let list = |v: Vec<&str>| v.join(", ");
        match self {
            Submission::Signup(Signup {
                name,
                email,
                phone,
                contact_method,
                zip,
                neighborhood,
                roles,
                languages,
                availability,
                has_car,
                households,
                household_size,
                notes,
                lang,
            }) => vec![
                ("name", name.clone()),
                ("email", opt(email)),
                ("phone", opt(phone)),
                ("contact_method", contact_method.as_str().to_owned()),
                ("zip", zip.clone()),
                ("neighborhood", opt(neighborhood)),
                ("roles", list(roles.iter().map(|r| r.as_str()).collect())),
                (
                    "languages",
                    list(languages.iter().map(String::as_str).collect()),
                ),
                ("availability", opt(availability)),
                ("has_car", if *has_car { "yes" } else { "" }.to_owned()),
                (
                    "households",
                    households.map(|n| n.to_string()).unwrap_or_default(),
                ),
                (
                    "household_size",
                    household_size.map(|n| n.to_string()).unwrap_or_default(),
                ),
                ("notes", opt(notes)),
                ("lang", lang.code().to_owned()),
            ],
            Submission::Donate(Donation {
                name,
                email,
                phone,
                frequency,
                amount,
                message,
                lang,
            }) => vec![
                ("name", name.clone()),
                ("email", email.clone()),
                ("phone", opt(phone)),
                ("frequency", frequency.as_str().to_owned()),
                ("amount", opt(amount)),
                ("message", opt(message)),
                ("lang", lang.code().to_owned()),
            ],
        }
    }

    /// The language of the form it came from.
    pub fn lang(&self) -> mutualaid_forms::Lang {
        match self {
            Submission::Signup(s) => s.lang,
            Submission::Donate(d) => d.lang,
        }
    }

    /// The name as typed.
    pub fn name(&self) -> &str {
        match self {
            Submission::Signup(s) => &s.name,
            Submission::Donate(d) => &d.name,
        }
    }

    /// Whether this submission asks for the help a case of `kind` gives.
    pub fn asks_for(&self, kind: CaseKind) -> bool {
        self.has_role(kind.role())
    }

    /// Whether this is a sign-up with `role`.
    pub fn has_role(&self, role: mutualaid_forms::Role) -> bool {
        matches!(self, Submission::Signup(s) if s.roles.contains(&role))
    }

    /// The person's contacts as index keys, email first, per form
    /// (`signup:email:ana@example.org`, `signup:phone:+16195550123`).
    pub fn contact_keys(&self) -> Vec<String> {
        let (email, phone) = match self {
            Submission::Signup(s) => (s.email.as_deref(), s.phone.as_deref()),
            Submission::Donate(d) => (Some(d.email.as_str()), d.phone.as_deref()),
        };
        email
            .map(|e| ContactKind::Email.key(self.form(), e))
            .into_iter()
            .chain(phone.map(|p| ContactKind::Phone.key(self.form(), p)))
            .collect()
    }

    /// The identity keys of this submission, one per contact, in
    /// [`Self::contact_keys`] order (email first): a hash of the name as
    /// written ([`name_key`]) and the contact key. Same person = same name and
    /// the same email or phone = a shared identity key.
    pub fn identity_keys(&self) -> Vec<String> {
        let name = name_key(self.name());
        self.contact_keys()
            .iter()
            .map(|contact| identity_key(&name, contact))
            .collect()
    }

    /// The identity keys the rule before issue 23 gave this submission
    /// ([`legacy_name_key`]: accents removed), in the same order as
    /// [`Self::identity_keys`]: what a record stored before holds until it
    /// is re-keyed. Never a reason to call two submissions one person.
    pub fn legacy_identity_keys(&self) -> Vec<String> {
        let name = legacy_name_key(self.name());
        self.contact_keys()
            .iter()
            .map(|contact| legacy_identity_key(&name, contact))
            .collect()
    }

    /// The identity keys a record holding `held` (under either rule) should
    /// hold under today's: each legacy key of this submission it holds
    /// becomes this submission's key for the same contact; every other key
    /// stays. `None` when there is nothing to re-key.
    pub fn rekeyed(&self, held: &[String]) -> Option<Vec<String>> {
        let legacy = self.legacy_identity_keys();
        let strict = self.identity_keys();
        if !held
            .iter()
            .any(|k| legacy.contains(k) && !strict.contains(k))
        {
            return None;
        }
        let mut out: Vec<String> = Vec::with_capacity(held.len());
        for key in held {
            let key = match legacy.iter().position(|l| l == key) {
                Some(at) => &strict[at],
                None => key,
            };
            if !out.contains(key) {
                out.push(key.clone());
            }
        }
        Some(out)
    }

    /// This submission as an update of `earlier` (the same person's record):
    /// what it says, with every optional field it left empty keeping its
    /// earlier value (a phone, a neighbourhood, languages, notes, a ticked
    /// "has a car" — re-sending the form with fewer fields erases nothing).
    /// A submission from another form replaces the earlier one whole.
    pub fn merged_onto(&self, earlier: &Submission) -> Submission {
        fn keep<T: Clone>(new: &Option<T>, old: &Option<T>) -> Option<T> {
            new.clone().or_else(|| old.clone())
        }
        match (self, earlier) {
            (Submission::Signup(new), Submission::Signup(old)) => Submission::Signup(Signup {
                email: keep(&new.email, &old.email),
                phone: keep(&new.phone, &old.phone),
                neighborhood: keep(&new.neighborhood, &old.neighborhood),
                languages: if new.languages.is_empty() {
                    old.languages.clone()
                } else {
                    new.languages.clone()
                },
                availability: keep(&new.availability, &old.availability),
                has_car: new.has_car || old.has_car,
                households: keep(&new.households, &old.households),
                household_size: keep(&new.household_size, &old.household_size),
                notes: keep(&new.notes, &old.notes),
                ..new.clone()
            }),
            (Submission::Donate(new), Submission::Donate(old)) => Submission::Donate(Donation {
                phone: keep(&new.phone, &old.phone),
                amount: keep(&new.amount, &old.amount),
                message: keep(&new.message, &old.message),
                ..new.clone()
            }),
            _ => self.clone(),
        }
    }
}

/// The identity key of a name key ([`name_key`]) and a contact key: the
/// first 128 bits of SHA-256 over a rule tag, the name and the contact, hex.
/// A key names no one by itself. The tag keeps today's keys apart from the
/// legacy ones ([`legacy_identity_key`]): "María" under the old rule and
/// "maria" under today's never share a key.
pub fn identity_key(name_key: &str, contact_key: &str) -> String {
    hashed(&[
        b"name-as-written",
        name_key.as_bytes(),
        contact_key.as_bytes(),
    ])
}

/// The identity key of the rule before issue 23, over a
/// [`legacy_name_key`] (for re-keying only).
pub fn legacy_identity_key(legacy_name_key: &str, contact_key: &str) -> String {
    hashed(&[legacy_name_key.as_bytes(), contact_key.as_bytes()])
}

/// The first 128 bits of SHA-256 over `parts`, each after the first after a
/// NUL byte, hex.
fn hashed(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0]);
        }
        hasher.update(part);
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The former contacts of a record kept before they were recorded, from
/// its versions: (submission, when written), oldest first.
pub fn former_contacts(versions: &[(Submission, Timestamp)]) -> Vec<FormerContact> {
    let mut record = match versions.first() {
        Some((first, at)) => Person {
            id: String::new(),
            submission: first.clone(),
            identities: Vec::new(),
            created_at: *at,
            updated_at: *at,
            version: 1,
            reported_version: 0,
            expires_at: 0,
            former_contacts: Vec::new(),
            pending_contact: None,
            verified_email: None,
        },
        None => return Vec::new(),
    };
    for (next, at) in &versions[1..] {
        record.former_contacts = record.former_contacts_after(next, *at);
        record.submission = next.clone();
    }
    record.former_contacts
}

/// The names of `submissions` that differ as written ([`name_key`]), each
/// as first written, in order: two or more for a record the rule before
/// issue 23 folded under two names.
pub fn names_as_written<'a>(submissions: impl IntoIterator<Item = &'a Submission>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut names = Vec::new();
    for submission in submissions {
        let key = name_key(submission.name());
        if !keys.contains(&key) {
            keys.push(key);
            names.push(submission.name().to_owned());
        }
    }
    names
}

/// How a contact reaches a person. A contact key — what the contact index,
/// the former contacts and identity keys are kept under — is
/// `<form>:<kind>:<value>` ([`ContactKind::key`]); nothing else builds or
/// reads one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactKind {
    /// An email address, normalized.
    Email,
    /// A phone number, E.164.
    Phone,
}

impl ContactKind {
    /// Its name in a contact key and the digest's CSV.
    pub fn name(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Phone => "phone",
        }
    }

    /// The contact key of `value` (normalized) on `form`.
    pub fn key(self, form: FormId, value: &str) -> String {
        format!("{}:{}:{value}", form.key(), self.name())
    }

    /// The kind of contact a contact key names.
    pub fn of(contact_key: &str) -> Option<ContactKind> {
        match contact_key.split(':').nth(1)? {
            "email" => Some(ContactKind::Email),
            "phone" => Some(ContactKind::Phone),
            _ => None,
        }
    }
}

/// The fields of both forms, by wire name, in the order the export shows them.
pub const FIELDS: [&str; 17] = [
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
    "households",
    "household_size",
    "notes",
    "frequency",
    "amount",
    "message",
    "lang",
];

/// A person's record: their latest submission and where the organizers are
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Stable id (a UUIDv7: sorts by creation time). Never shown to the
    /// person who submitted: their answer carries a per-submission reference.
    pub id: String,
    /// Their latest submission (merged: see [`Submission::merged_onto`]).
    pub submission: Submission,
    /// The identity keys this record holds (some of its submission's
    /// [`Submission::identity_keys`]: a key another record held first stays
    /// with that record).
    #[serde(default)]
    pub identities: Vec<String>,
    /// When first stored.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// 1 when created, +1 on each change.
    pub version: u64,
    /// The version the organizers last saw in a digest the mail service
    /// accepted (0: never reported). Kept beside the record, not in it: only
    /// [`DigestStore::mark_reported`] moves it.
    #[serde(skip)]
    pub reported_version: u64,
    /// When the record is deleted (retention), from its last change.
    pub expires_at: Timestamp,
    /// The contacts it gave once and no longer gives (a kept version still
    /// holds each), with when it last held each: what a deletion on request
    /// also looks under (the store's former-contact index), never a sign-up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_contacts: Vec<FormerContact>,
    /// A new email or phone the public form brought and nobody has
    /// confirmed yet: kept beside the confirmed ones (which
    /// [`Person::submission`] holds and introductions, offers and the
    /// private link use) until the person or an organizer confirms or drops
    /// it ([`crate::contacts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_contact: Option<PendingContact>,
    /// The email its person said "Yes, this is my email" for, on a page a
    /// link mailed to that address opened, giving the record's name as
    /// written: **verified** only while it is the record's confirmed email
    /// ([`Person::email_verified`]), so any change of that email clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_email: Option<String>,
}

/// Contacts a sign-up on the public form brought to an existing record
/// (matched by name and phone, or by name and email) that it did not have:
/// whoever sent it may only know the person's name and one contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingContact {
    /// The new email, if the form brought one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The new phone, if the form brought one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// When the first of them came.
    pub since: Timestamp,
    /// The submission of the kept version the first unconfirmed change
    /// replaced: what "I didn't make this change" gives back.
    pub before: Submission,
    /// What the latest submission that brought a pending contact made of
    /// the record (its confirmed contacts kept): the fields it set are what
    /// a drop gives back, unless a later change set them again.
    pub after: Submission,
}

impl PendingContact {
    /// `current` with what the unconfirmed changes replaced given back:
    /// each field they set that still holds what they set returns to its
    /// value in [`Self::before`]; a field changed since (the person's own
    /// update) keeps its value. From another form: `before` whole.
    pub fn undone_on(&self, current: &Submission) -> Submission {
        let as_map = |s: &Submission| match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        };
        let (Some(before), Some(after), Some(mut now)) =
            (as_map(&self.before), as_map(&self.after), as_map(current))
        else {
            return self.before.clone();
        };
        if before.get("form") != now.get("form") {
            return self.before.clone();
        }
        let fields: std::collections::BTreeSet<&String> =
            before.keys().chain(after.keys()).collect();
        for field in fields {
            let (was, set) = (before.get(field), after.get(field));
            if was == set || now.get(field) != set {
                continue;
            }
            match was {
                Some(value) => now.insert(field.clone(), value.clone()),
                None => now.remove(field),
            };
        }
        serde_json::from_value(serde_json::Value::Object(now))
            .unwrap_or_else(|_| self.before.clone())
    }

    /// The submission `confirmed` becomes when these contacts are confirmed.
    pub fn applied_to(&self, confirmed: &Submission) -> Submission {
        confirmed.with_contacts(
            self.email.as_deref().or(confirmed.email()),
            self.phone.as_deref().or(confirmed.phone()),
        )
    }
}

/// A contact key a record held in an earlier version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormerContact {
    /// The contact key (`signup:email:bob.old@example.org`).
    pub contact: String,
    /// Until when the record held it.
    pub until: Timestamp,
}

impl Person {
    /// Its former contacts once `next` replaces its submission at `at`:
    /// those it had, and those `next` no longer gives, less any `next`
    /// gives again.
    pub fn former_contacts_after(&self, next: &Submission, at: Timestamp) -> Vec<FormerContact> {
        let current = next.contact_keys();
        let mut out: Vec<FormerContact> = self.former_contacts.clone();
        for contact in self.submission.contact_keys() {
            if current.contains(&contact) {
                continue;
            }
            match out.iter_mut().find(|f| f.contact == contact) {
                Some(f) => f.until = f.until.max(at),
                None => out.push(FormerContact { contact, until: at }),
            }
        }
        out.retain(|f| !current.contains(&f.contact));
        out
    }

    /// How many households this volunteer may hold at once: the smaller of
    /// their own number (`households` on the sign-up) and the network's
    /// `cap`; the cap when they did not say.
    pub fn shopping_cap(&self, cap: usize) -> usize {
        match &self.submission {
            Submission::Signup(s) => s.households.map_or(cap, |n| cap.min(usize::from(n))),
            Submission::Donate(_) => cap,
        }
    }

    /// Whether its confirmed email is verified (see
    /// [`Person::verified_email`]).
    pub fn email_verified(&self) -> bool {
        self.verified_email.is_some() && self.verified_email.as_deref() == self.submission.email()
    }

    /// Whether a digest still has to report it.
    pub fn is_pending(&self) -> bool {
        self.version > self.reported_version
    }
}

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

impl Change {
    /// Whether it changes how to reach the person (a stranger who knows a
    /// name and an email could be behind it).
    pub fn is_contact(&self) -> bool {
        self.field == "email" || self.field == "phone"
    }
}

/// What became of an accepted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new record.
    Created,
    /// A record's details changed.
    Updated,
    /// The same as what was stored: nothing changed.
    Unchanged,
}

impl Outcome {
    /// Its name in storage and in the export.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }

    /// From [`Self::name`].
    pub fn from_name(name: &str) -> Option<Outcome> {
        match name {
            "created" => Some(Outcome::Created),
            "updated" => Some(Outcome::Updated),
            "unchanged" => Some(Outcome::Unchanged),
            _ => None,
        }
    }

    /// The counter this outcome adds to.
    pub fn counter(self) -> Counter {
        match self {
            Outcome::Created => Counter::Created,
            Outcome::Updated => Counter::Updated,
            Outcome::Unchanged => Counter::Unchanged,
        }
    }
}

/// One accepted submission in the log, by its reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The reference the submitter was given (random, not time-ordered).
    pub reference: String,
    /// The record it landed on.
    pub person_id: String,
    /// When it was accepted.
    pub at: Timestamp,
    /// Which form.
    pub form: FormId,
    /// Created, updated or unchanged.
    pub outcome: Outcome,
    /// The record's version after it.
    pub version: u64,
}

/// What a read of many records found: the records that decode, and the keys
/// of those that do not (one damaged record never hides the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The records that decode.
    pub people: Vec<Person>,
    /// The keys (record ids) of those that do not.
    pub unreadable: Vec<String>,
}

/// What a read of many cases found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseScan {
    /// The cases that decode.
    pub cases: Vec<Case>,
    /// The keys of those that do not.
    pub unreadable: Vec<String>,
}

/// What erasing a record removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Whether the record itself was there.
    pub record: bool,
    /// Its versions.
    pub versions: usize,
    /// Its entries in the submission log.
    pub submissions: usize,
    /// Its cases.
    pub cases: usize,
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first: read again and decide again.
    #[error("conflict: the record changed or an identity was taken concurrently")]
    Conflict,
    /// The store is down, slow or refused; nothing was acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record does not decode (named by its key only).
    #[error("the stored record {key} does not decode")]
    Unreadable {
        /// The record's id.
        key: String,
    },
}

/// A record the digest carries, as written down before the digest is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The record.
    pub id: String,
    /// The version the digest shows.
    pub version: u64,
    /// Whether an earlier digest may already have carried it (that digest's
    /// run stopped before it recorded whether the mail was accepted).
    #[serde(default)]
    pub may_repeat: bool,
}

/// The digest's progress: a lease, so two runs at once send one digest, and
/// the manifest of the digest being sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestState {
    /// When the last digest the mail service accepted was made (for its
    /// heading and the self-report's days; never to select records).
    #[serde(default, alias = "watermark")]
    pub last_sent: Option<Timestamp>,
    /// The run holding the lease, if any.
    pub lease_owner: Option<String>,
    /// Until when the lease holds.
    pub lease_until: Option<Timestamp>,
    /// What the digest being sent carries (empty between runs).
    #[serde(default)]
    pub manifest: Vec<ManifestEntry>,
    /// Whether the mail service accepted the digest in [`Self::manifest`]
    /// (then only marking its records reported is left to do).
    #[serde(default)]
    pub manifest_accepted: bool,
    /// The actions the last accepted digest listed that were stamped
    /// within the lag before it (`digest::ACTIONS_LAG`): the next digest
    /// reads that far back and leaves these out.
    #[serde(default)]
    pub reported_actions: Vec<String>,
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
    /// A digest's summary that could not be posted to Discord (the email
    /// went out regardless).
    DiscordFailed,
    /// A message to a person the mail service accepted.
    MessagesSent,
    /// A try the mail service did not accept (the message is tried again).
    MessagesRetried,
    /// A message given up: the address was refused for good (a 5xx, an
    /// SES bounce or complaint).
    MessagesGivenUp,
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 10] = [
        Counter::Created,
        Counter::Updated,
        Counter::Unchanged,
        Counter::Rejected,
        Counter::Honeypot,
        Counter::RateLimited,
        Counter::DiscordFailed,
        Counter::MessagesSent,
        Counter::MessagesRetried,
        Counter::MessagesGivenUp,
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
            Counter::DiscordFailed => "discord_failed",
            Counter::MessagesSent => "messages_sent",
            Counter::MessagesRetried => "messages_retried",
            Counter::MessagesGivenUp => "messages_given_up",
        }
    }
}

/// What storing one submission writes, beside the store's own bookkeeping:
/// the record as it now is (`person`), the submission's `log` line and the
/// cases it opens.
#[derive(Debug, Clone, Copy)]
pub struct SubmissionWrite<'a> {
    /// The record, new or at its next version.
    pub person: &'a Person,
    /// The submission's line in the log.
    pub log: &'a LogEntry,
    /// The cases it opens (none, or one of each kind asked for).
    pub new_cases: &'a [Case],
    /// A new record's first standing: the question "maybe the same person
    /// as …?" ([`Standing::maybe_same_as`]), written with it (create only).
    pub standing: Option<&'a Standing>,
    /// The receipt it sends, with the address's tally (none: no email, an
    /// unchanged resubmission, or the address had its receipts for the day).
    pub receipt: Option<&'a message::Receipt>,
    /// What the organizers are told with it (a contact changed through the
    /// public form), if anything.
    pub notice: Option<&'a CaseAction>,
    /// The security notice to the confirmed email when the public form
    /// brought a contact the record did not have (outside the caps).
    pub security: Option<&'a message::LinkedMessage>,
}

/// What the rate limit remembers of one client: when its last accepted
/// requests came, oldest first — at most `limit` of them — and a version
/// (+1 on every write; DynamoDB writes a ring only over the version read).
///
/// The rule ([`RateRing::admit`]): no client gets more than `limit`
/// requests in **any** `window` seconds — a sliding window, not one fixed
/// on the clock's boundaries (where 30 just before and 30 just after a
/// boundary were 60 in seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRing {
    /// When the remembered requests came (seconds), oldest first.
    pub times: Vec<Timestamp>,
    /// +1 on every write; 0: never written.
    pub version: u64,
}

/// Whether a request may go on ([`RateRing::admit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// It may: write this ring (over the version read).
    Admitted(RateRing),
    /// It may not: a place frees in this many seconds (at least 1).
    Limited {
        /// Seconds until the oldest remembered request leaves the window.
        retry_after: i64,
    },
}

impl RateRing {
    /// Whether one more request at `now` keeps the client within `limit`
    /// in any `window` seconds; if so, the ring to write (the requests
    /// still in the window and this one; the oldest let go past `limit`).
    /// A request turned away is not remembered: waiting is enough.
    pub fn admit(&self, now: Timestamp, limit: u64, window: i64) -> Admission {
        self.admit_places(now, limit, window, 1)
    }

    /// [`Self::admit`] for `places` requests at once (all or none): the
    /// sender takes its receipts' places for a run in one write.
    pub fn admit_places(&self, now: Timestamp, limit: u64, window: i64, places: u64) -> Admission {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let places = usize::try_from(places.max(1)).unwrap_or(usize::MAX);
        let window = window.max(1);
        let recent: Vec<Timestamp> = self
            .times
            .iter()
            .copied()
            .filter(|&at| at > now - window)
            .collect();
        if recent.len() + places > limit {
            let frees = recent
                .get((recent.len() + places).saturating_sub(limit + 1))
                .map_or(now + window, |at| at + window);
            return Admission::Limited {
                retry_after: (frees - now).max(1),
            };
        }
        let mut times = recent;
        times.extend(std::iter::repeat_n(now, places));
        Admission::Admitted(RateRing {
            times,
            version: self.version + 1,
        })
    }

    /// How many more requests fit in the window at `now`.
    pub fn free_places(&self, now: Timestamp, limit: u64, window: i64) -> u64 {
        let recent = self
            .times
            .iter()
            .filter(|&&at| at > now - window.max(1))
            .count();
        limit.saturating_sub(recent as u64)
    }

    /// When the ring may be forgotten: when its newest request leaves the
    /// window.
    pub fn forget_at(&self, window: i64) -> Timestamp {
        self.times.last().copied().unwrap_or_default() + window.max(1)
    }
}

// The store port, split by role: each binary's bounds say what it may
// call, and each role's calls are what its AWS function is granted
// (`tests/it/rights.rs`). Every method is one atomic operation; every
// write is a [`Plan`] carried out whole or not at all. Both adapters
// implement every role.

/// The reads every role makes, the one way to write
/// ([`Records::carry_out`]) and the day counters.
pub trait Records: Send + Sync + 'static {
    /// One record, read consistently.
    fn person(&self, id: &str) -> impl Future<Output = Result<Option<Person>, StoreError>> + Send;

    /// Every case of one person, closed ones too, oldest first.
    fn cases_of(
        &self,
        person_id: &str,
    ) -> impl Future<Output = Result<Vec<Case>, StoreError>> + Send;

    /// One case, read consistently.
    fn case(&self, id: &str) -> impl Future<Output = Result<Option<Case>, StoreError>> + Send;

    /// Every case that is not closed, oldest first; cases that do not decode
    /// are named by key.
    fn active_cases(&self) -> impl Future<Output = Result<CaseScan, StoreError>> + Send;

    /// Every volunteer's standing (those ever paused).
    fn standings(&self) -> impl Future<Output = Result<Vec<Standing>, StoreError>> + Send;

    /// One person's standing, read consistently (`None`: they have none
    /// yet, or it does not decode: the next change writes it anew, as a
    /// pause does).
    fn standing(
        &self,
        person_id: &str,
    ) -> impl Future<Output = Result<Option<Standing>, StoreError>> + Send;

    /// The organizers' actions at or after `since`, oldest first.
    fn actions_since(
        &self,
        since: Timestamp,
    ) -> impl Future<Output = Result<Vec<CaseAction>, StoreError>> + Send;

    /// Every record, oldest change first (export, and the volunteers pairing
    /// can offer).
    fn everyone(&self) -> impl Future<Output = Result<Scan, StoreError>> + Send;

    /// Every record listed under any of these contact keys, as (contact key,
    /// record id), in the order of `contacts`.
    fn sharing(
        &self,
        contacts: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Carries a plan out, atomically: every write meets its condition and
    /// is made, or none is ([`StoreError::Conflict`] when a condition does
    /// not hold). A plan never writes one item twice.
    fn carry_out(&self, plan: &Plan) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds one to a day's counter (`day` is `YYYY-MM-DD`).
    fn count(
        &self,
        day: &str,
        counter: Counter,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.count_by(day, counter, 1)
    }

    /// The key addresses are hashed under ([`message::AddressKey`]), made
    /// on first use.
    fn address_key(&self) -> impl Future<Output = Result<message::AddressKey, StoreError>> + Send;

    /// Whether the address with keyed hash `hash` said "this wasn't me".
    fn suppressed(&self, hash: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Adds `n` to a day's counter.
    fn count_by(
        &self,
        day: &str,
        counter: Counter,
        n: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Intake (the forms): who holds an identity key, and the rate limit.
pub trait IntakeStore: Records {
    /// The records holding any of these identity keys, as (key, record), in
    /// the order of `identities`. A holder that does not decode is
    /// [`StoreError::Unreadable`].
    fn holders(
        &self,
        identities: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Person)>, StoreError>> + Send;

    /// Whether a record may still hold identity keys of the rule before
    /// issue 23 ([`Submission::legacy_identity_keys`]): until the store has
    /// re-keyed every record, a lookup also tries the legacy keys. SQLite
    /// re-keys when it opens; DynamoDB by a job
    /// (`dynamo::DynamoStore::rekey_identities`) that marks itself done.
    fn may_hold_legacy_identities(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One more request of `client` at `now`: decided by
    /// [`RateRing::admit`] on the kept ring and, when admitted, remembered —
    /// atomically, so two requests at once cannot both take the last place
    /// (SQLite: in one transaction; DynamoDB: a put conditional on the
    /// version read, read again when another request wrote first). The ring
    /// is forgotten when its newest request leaves the window.
    fn admit(
        &self,
        client: &str,
        now: Timestamp,
        limit: u64,
        window: i64,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send {
        self.admit_places(client, now, limit, window, 1)
    }

    /// [`Self::admit`] for `places` requests at once, all or none.
    fn admit_places(
        &self,
        client: &str,
        now: Timestamp,
        limit: u64,
        window: i64,
        places: u64,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// The rate limit's ring of `client` (the default when none is kept).
    fn rate_ring(&self, client: &str) -> impl Future<Output = Result<RateRing, StoreError>> + Send;

    /// The private link kept under `hash` ([`page_link::hash_of`] of its
    /// token), if any.
    fn page_link(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<page_link::PageLink>, StoreError>> + Send;
}

/// The organizers' case desk (the action pages, `mutualaid cases`, the
/// answers on people's own pages): a volunteer's load, and the outbox's
/// reads (an offer or an introduction goes by email only to an address
/// whose mail was not stopped).
pub trait CaseDesk: SenderStore {
    /// Volunteers' loads: the delivery cases offered or matched to each, as the
    /// counter [`Write::Load`] moves keeps it, as (volunteer, load) in the
    /// order asked (0 where none is kept).
    fn loads(
        &self,
        volunteers: &[String],
    ) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send;
}

/// The digest: what is pending, marking it reported, the lease and manifest, a record's earlier versions, the counts.
pub trait DigestStore: CaseDesk {
    /// A record's submission as it was at `version`.
    fn version(
        &self,
        id: &str,
        version: u64,
    ) -> impl Future<Output = Result<Option<Submission>, StoreError>> + Send;

    /// Every pending record (version newer than the reported one), each read
    /// consistently, oldest change first. A write not yet visible here is
    /// pending in the next read.
    fn pending(&self) -> impl Future<Output = Result<Scan, StoreError>> + Send;

    /// Records that a digest the mail service accepted showed each record at
    /// its entry's version: its reported version moves up to that version
    /// (never down), and it stays pending if it was written again meanwhile.
    /// A record gone or already further is left alone.
    fn mark_reported(
        &self,
        reported: &[ManifestEntry],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The digest's lease and manifest.
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

/// Administration (export, deletion on request): every line of the log and every case, former contacts, what a record keeps.
pub trait AdminStore: CaseDesk {
    /// Every record that once gave any of these contact keys and no longer
    /// does (while a kept version still holds it), as (contact key, record
    /// id, when it last held it), in the order of `contacts`. For deletion
    /// on request only: never to match a sign-up (someone else may hold the
    /// contact now).
    fn former_holders(
        &self,
        contacts: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String, Timestamp)>, StoreError>> + Send;

    /// What the store keeps of record `id` (whether or not the record is
    /// still there): the keys of everything an erasure deletes
    /// ([`plan::erasure`]).
    fn kept(&self, id: &str) -> impl Future<Output = Result<Kept, StoreError>> + Send;

    /// The whole submission log, by reference.
    fn submissions(&self) -> impl Future<Output = Result<Vec<LogEntry>, StoreError>> + Send;

    /// Every case, closed ones too, oldest first (the export); cases that
    /// do not decode are named by key.
    fn all_cases(&self) -> impl Future<Output = Result<CaseScan, StoreError>> + Send;
}

/// The sender's (`crate::outbox`): the messages due. It moves a message on
/// with a plan ([`Write::Message`] over the version read).
pub trait SenderStore: Records {
    /// Waiting messages due by `now`, the longest due first, at most
    /// `limit`; a message that does not decode is passed over.
    fn due_messages(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<message::Message>, StoreError>> + Send;

    /// Whether mail to `address` about record `person_id` stopped.
    fn mail_stop(
        &self,
        person_id: &str,
        address: &str,
    ) -> impl Future<Output = Result<Option<message::MailStop>, StoreError>> + Send;

    /// Every message kept for record `person_id`, sent or waiting, oldest
    /// first.
    fn messages_of(
        &self,
        person_id: &str,
    ) -> impl Future<Output = Result<Vec<message::Message>, StoreError>> + Send;
}

/// Every role's trait, to call a store's methods on a concrete store
/// (`use mutualaid_handler::store::roles::*`).
pub mod roles {
    pub use super::{AdminStore, CaseDesk, DigestStore, IntakeStore, Records, SenderStore, Store};
}

/// Every role: what `mutualaid serve` and the tests hold.
pub trait Store: IntakeStore + CaseDesk + DigestStore + AdminStore + SenderStore {}

impl<T: IntakeStore + CaseDesk + DigestStore + AdminStore + SenderStore> Store for T {}
