//! The organizers' daily digest: everything changed since the last digest the
//! mail service accepted, grouped by area, with pairing suggestions.
//!
//! [`run`] takes a lease on the digest state (so two runs at once send one
//! digest), [`prepare`]s the digest, hands the message to the mailer, and
//! only after the mailer accepted it moves the watermark with a
//! compare-and-set. A refused or failed send leaves the watermark where it
//! was: the next run catches the missed day up.
//!
//! - [`pairing`]: the optimal, capped assignment of volunteers.
//! - [`render`]: text, HTML and CSV, and the `lettre` message.

pub mod pairing;
pub mod render;

use mutualaid_forms::{Lang, zips};
use mutualaid_site::strings::Strings;

use crate::domain::day;
use crate::mail::{MailError, Mailer};
use crate::store::{Counter, DigestState, Person, Store, StoreError, Submission, Timestamp};
use pairing::{Located, Pairing, PairingConfig};

/// How long a run may hold the lease before another may take over.
pub const LEASE_SECS: i64 = 15 * 60;

/// Who gets the digest, in which language and time zone.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// The sender (an SES-verified identity in AWS).
    pub from: lettre::message::Mailbox,
    /// The organizers.
    pub to: Vec<lettre::message::Mailbox>,
    /// The organizers' language.
    pub lang: Lang,
    /// Time zone for dates (`America/Los_Angeles`).
    pub time_zone: String,
    /// Pairing settings.
    pub pairing: PairingConfig,
}

/// Why a digest run failed.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The store could not be read or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The mail service did not accept the digest; the watermark did not move.
    #[error("the digest was not sent (the next run will include these entries): {0}")]
    Mail(#[from] MailError),
    /// The message could not be built (a configuration problem).
    #[error("building the message: {0}")]
    Message(String),
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReport {
    /// A digest was sent and the watermark moved.
    Sent {
        /// New and updated people reported.
        entries: usize,
        /// The new watermark.
        watermark: Timestamp,
    },
    /// Another run holds the lease; nothing was sent.
    AlreadyRunning,
}

/// One person in the digest, with where they are.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Their record.
    pub person: Person,
    /// Whether they are new since the last digest (else updated).
    pub is_new: bool,
}

/// Everything the digest says, before it is words.
#[derive(Debug, Clone)]
pub struct Digest {
    /// From (the last watermark), if there was a digest before.
    pub since: Option<Timestamp>,
    /// Up to (exclusive).
    pub until: Timestamp,
    /// New and updated sign-ups, grouped by ZIP code, in ZIP order.
    pub by_area: Vec<(String, Vec<Entry>)>,
    /// New and updated donation interest.
    pub donations: Vec<Entry>,
    /// How many of the entries have each role: shopper, delivery, money.
    pub role_totals: [usize; 3],
    /// The forms' counters for the days covered.
    pub counters: Vec<(Counter, u64)>,
    /// People who asked for help in this digest (pairing's requester indices).
    pub requesters: Vec<Person>,
    /// Every volunteer shopper on record (pairing's volunteer indices).
    pub volunteers: Vec<Person>,
    /// The suggestions.
    pub pairing: Pairing,
}

impl Digest {
    /// Whether nothing came in.
    pub fn is_quiet(&self) -> bool {
        self.by_area.is_empty() && self.donations.is_empty()
    }

    /// Every entry, sign-ups by area then donations.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.by_area
            .iter()
            .flat_map(|(_, e)| e.iter())
            .chain(self.donations.iter())
    }
}

fn located(person: &Person) -> Option<Located> {
    let Submission::Signup(s) = &person.submission else {
        return None;
    };
    let zip = zips::find(&s.zip)?;
    Some(Located {
        id: person.id.clone(),
        area: s.zip.clone(),
        lat: zip.lat,
        lon: zip.lon,
        languages: s.languages.clone(),
    })
}

fn has_role(person: &Person, role: &str) -> bool {
    matches!(&person.submission, Submission::Signup(s) if s.roles.iter().any(|r| r == role))
}

/// Builds the digest from what changed in `[since, until)` and everyone on
/// record (for volunteers).
pub fn build(
    changed: Vec<Person>,
    everyone: &[Person],
    counters: Vec<(Counter, u64)>,
    since: Option<Timestamp>,
    until: Timestamp,
    config: PairingConfig,
) -> Digest {
    let mut by_zip: std::collections::BTreeMap<String, Vec<Entry>> =
        std::collections::BTreeMap::new();
    let mut donations = Vec::new();
    let mut role_totals = [0; 3];
    let mut requesters = Vec::new();
    for person in changed.into_iter().filter(|p| p.updated_at < until) {
        let is_new = since.is_none_or(|s| person.created_at >= s);
        for (i, role) in ["shopper", "delivery", "money"].iter().enumerate() {
            role_totals[i] += usize::from(has_role(&person, role));
        }
        if has_role(&person, "delivery") || has_role(&person, "money") {
            requesters.push(person.clone());
        }
        match &person.submission {
            Submission::Signup(s) => by_zip
                .entry(s.zip.clone())
                .or_default()
                .push(Entry { person, is_new }),
            Submission::Donate(_) => donations.push(Entry { person, is_new }),
        }
    }
    for entries in by_zip.values_mut() {
        entries.sort_by(|a, b| {
            a.person
                .updated_at
                .cmp(&b.person.updated_at)
                .then(a.person.id.cmp(&b.person.id))
        });
    }
    // Someone who both volunteers and asks for help is not suggested to shop for others today.
    let asking: std::collections::HashSet<&str> =
        requesters.iter().map(|p| p.id.as_str()).collect();
    let mut volunteers: Vec<Person> = everyone
        .iter()
        .filter(|p| {
            p.updated_at < until && has_role(p, "shopper") && !asking.contains(p.id.as_str())
        })
        .cloned()
        .collect();
    volunteers.sort_by(|a, b| a.id.cmp(&b.id));
    requesters.sort_by(|a, b| a.id.cmp(&b.id));
    let r: Vec<Located> = requesters.iter().filter_map(located).collect();
    let v: Vec<Located> = volunteers.iter().filter_map(located).collect();
    // Every sign-up's ZIP is a county ZIP (validated), so nobody is dropped here.
    debug_assert_eq!(r.len(), requesters.len());
    debug_assert_eq!(v.len(), volunteers.len());
    let pairing = pairing::pair(&r, &v, config);
    Digest {
        since,
        until,
        by_area: by_zip.into_iter().collect(),
        donations,
        role_totals,
        counters,
        requesters,
        volunteers,
        pairing,
    }
}

/// Reads the store and builds the digest and its message, without sending
/// or moving anything (also `mutualaid digest --dry-run`).
pub async fn prepare<S: Store>(
    store: &S,
    strings: &Strings,
    config: &DigestConfig,
    watermark: Option<Timestamp>,
    now: Timestamp,
) -> Result<(Digest, lettre::Message), DigestError> {
    let changed = store.changed_since(watermark.unwrap_or(0)).await?;
    let everyone = store.changed_since(0).await?;
    let from_day = day(watermark.unwrap_or(now - 86_400));
    let counters = store.counts(&from_day, &day(now)).await?;
    let digest = build(changed, &everyone, counters, watermark, now, config.pairing);
    let message = render::message(&digest, strings, config).map_err(DigestError::Message)?;
    Ok((digest, message))
}

/// Sends one digest: lease, prepare, send, then move the watermark.
pub async fn run<S: Store, M: Mailer>(
    store: &S,
    mailer: &M,
    strings: &Strings,
    config: &DigestConfig,
    now: Timestamp,
    run_id: &str,
) -> Result<RunReport, DigestError> {
    let state = store.digest_state().await?;
    if state.lease_until.is_some_and(|until| until > now)
        && state.lease_owner.as_deref() != Some(run_id)
    {
        return Ok(RunReport::AlreadyRunning);
    }
    let leased = DigestState {
        lease_owner: Some(run_id.to_owned()),
        lease_until: Some(now + LEASE_SECS),
        version: state.version + 1,
        ..state.clone()
    };
    match store.put_digest_state(&leased, state.version).await {
        Err(StoreError::Conflict) => return Ok(RunReport::AlreadyRunning),
        other => other?,
    }
    let release = |watermark| DigestState {
        watermark,
        lease_owner: None,
        lease_until: None,
        version: leased.version + 1,
    };
    let sent = async {
        let (digest, message) = prepare(store, strings, config, state.watermark, now).await?;
        mailer.send(&message).await?;
        Ok::<usize, DigestError>(digest.entries().count())
    }
    .await;
    match sent {
        Ok(entries) => {
            store
                .put_digest_state(&release(Some(now)), leased.version)
                .await?;
            Ok(RunReport::Sent {
                entries,
                watermark: now,
            })
        }
        Err(e) => {
            // Give the lease back so the next run need not wait; the watermark stays.
            let _ = store
                .put_digest_state(&release(state.watermark), leased.version)
                .await;
            Err(e)
        }
    }
}
