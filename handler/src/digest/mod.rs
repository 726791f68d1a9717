//! The organizers' daily digest: every record not yet reported by a digest
//! the mail service accepted, grouped by area, with pairing suggestions.
//!
//! **Selection is by state, never by a time window.** Every write makes its
//! record *pending* (its version is newer than the one the organizers last
//! saw). [`run`]:
//!
//! 1. takes a lease on the digest state (two runs at once send one digest);
//!    if the previous run recorded that its mail was accepted but stopped
//!    before marking its records reported, finishes that first;
//! 2. reads the pending records (on DynamoDB, each re-read strongly
//!    consistently) and shows each against the version the organizers last
//!    saw: new, or what changed;
//! 3. writes down what this digest carries (the *manifest*, under the lease);
//! 4. hands the message to the mailer;
//! 5. records that the mail service accepted it;
//! 6. marks each record reported at the version sent, conditionally: a
//!    record written again meanwhile stays pending, for the next digest.
//!
//! The promise is **at-least-once**: a write that commits while a digest
//! runs, or that an index shows late, is in the next one; in normal
//! operation every record version is reported in exactly one digest. If a
//! run stops between 4 and 5, the next digest repeats the manifest's entries
//! and marks them "may repeat".
//!
//! Beside what changed, every digest carries the **cases** ([`board`]):
//! every request still waiting, with how long, until an organizer matches,
//! funds or closes it; pairings suggested over all of them; matches under
//! way; volunteers at capacity; what organizers did since the last digest.
//!
//! - [`board`]: the cases side, before it is words.
//! - [`pairing`]: the optimal, capped assignment of volunteers.
//! - [`render`]: text, HTML and CSV, and the `lettre` message.
//! - [`summary`]: the counts posted to Discord once the email is sent
//!   ([`post_summary`]), no personal data.

pub mod board;
pub mod pairing;
pub mod render;
pub mod summary;

use std::collections::{BTreeMap, HashMap, HashSet};

use mutualaid_forms::normalize::name_key;
use mutualaid_forms::{Lang, Role};
use mutualaid_site::strings::Strings;

use crate::domain::{changes, day};
use crate::mail::{MailError, Mailer};
use crate::store::{
    ActionKind, CaseAction, Change, ContactKind, Counter, DigestState, DigestStore, ManifestEntry,
    Person, Standing, StoreError, Submission, Timestamp,
};
use board::{Board, BoardInput};
use pairing::PairingConfig;

/// How long a run may hold the lease before another may take over.
pub const LEASE_SECS: i64 = 15 * 60;

/// How long before it is stored an action may be stamped: a sender's run
/// stamps its whole batch (200 messages, eight in flight) with its start,
/// and an organizer's page with when it was pressed. Each digest reads the
/// actions back this far before the last one.
pub const ACTIONS_LAG: Timestamp = 3_600;

/// The most records one digest carries; the rest stay pending, for the
/// next one (the digest says how many). Keeps the manifest and the message
/// a size a mail client shows whole.
pub const MAX_ENTRIES: usize = 2_000;

/// The most links shown for one person.
const MAX_LINKS: usize = 5;
/// The most waiting messages a digest counts (it says "at least" this many).
pub const WAITING_COUNTED: usize = 1_000;

/// Who gets the digest, in which language and time zone.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// The network's name in the organizers' language (the subject names it).
    pub network: String,
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
    /// After how many days a match is asked "still going?" (default 14).
    pub review_days: u32,
    /// Signs the organizers' action links in the HTML part (none: the digest
    /// shows case ids only, for `mutualaid cases`).
    pub links: Option<crate::links::LinkSigner>,
}

/// Why a digest run failed.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The store could not be read or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The mail service did not accept the digest; nothing is marked reported.
    #[error("the digest was not sent (the next run will include these entries): {0}")]
    Mail(#[from] MailError),
    /// The message could not be built (a configuration problem).
    #[error("building the message: {0}")]
    Message(String),
    /// Another run took the lease over while this one ran (it took longer
    /// than the lease); what this run sent, if anything, the next digest
    /// repeats, marked.
    #[error(
        "another digest run took over the lease; the next digest repeats what this one carried"
    )]
    LeaseLost,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReport {
    /// A digest was sent and its records marked reported.
    Sent {
        /// New and updated records reported.
        entries: usize,
        /// Of those, how many an earlier digest may already have carried.
        repeated: usize,
        /// Records that could not be read (counted in the digest).
        unreadable: usize,
        /// Its counts, for a chat channel ([`post_summary`]).
        summary: summary::Summary,
    },
    /// Another run holds the lease; nothing was sent.
    AlreadyRunning,
}

/// Another record that shares a contact with an entry's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// What they share.
    pub contact: ContactKind,
    /// The other record's id.
    pub id: String,
    /// Its name and ZIP code, if it could be read.
    pub other: Option<(String, String)>,
    /// Whether the names are the same (normalized): maybe one person twice.
    pub same_name: bool,
    /// Whether an organizer merged one of the two into the other.
    pub merged: bool,
}

/// One record in the digest, against what the organizers last saw.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Their record, as it is now.
    pub person: Person,
    /// Whether no digest has shown them before (else updated).
    pub is_new: bool,
    /// What changed since the version the organizers last saw.
    pub changes: Vec<Change>,
    /// Whether an earlier digest may already have carried this entry.
    pub may_repeat: bool,
    /// Other records that share a phone or email with this one.
    pub links: Vec<Link>,
}

/// Everything the digest says, before it is words.
#[derive(Debug, Clone)]
pub struct Digest {
    /// When the previous digest was made, if there was one.
    pub since: Option<Timestamp>,
    /// When this one is made.
    pub until: Timestamp,
    /// New and updated sign-ups, grouped by ZIP code, in ZIP order.
    pub by_area: Vec<(String, Vec<Entry>)>,
    /// New and updated donation interest.
    pub donations: Vec<Entry>,
    /// How many of the entries have each role: shopper, delivery, money.
    pub role_totals: BTreeMap<Role, usize>,
    /// The forms' counters for the days covered.
    pub counters: Vec<(Counter, u64)>,
    /// Records that could not be read (by key; they stay pending).
    pub unreadable: Vec<String>,
    /// Pending records beyond [`MAX_ENTRIES`], left for the next digest.
    pub deferred: usize,
    /// Messages to people waiting to be sent as it is made (at most
    /// [`WAITING_COUNTED`]).
    pub waiting_messages: usize,
    /// The cases: waiting, suggested, matched, at capacity, actions.
    pub board: Board,
    /// Records re-keying found the rule before issue 23 had folded under
    /// two names since the last digest, with those names as written.
    pub two_names: Vec<(Person, Vec<String>)>,
    /// The ids of the actions it lists that were stamped within
    /// [`ACTIONS_LAG`] of it (kept, once it is accepted, so the next digest
    /// lists them once).
    pub recent_actions: Vec<String>,
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

    /// What this digest carries, for the manifest.
    pub fn manifest(&self) -> Vec<ManifestEntry> {
        self.entries()
            .map(|e| ManifestEntry {
                id: e.person.id.clone(),
                version: e.person.version,
                may_repeat: e.may_repeat,
            })
            .collect()
    }
}

/// Builds the digest from its entries and its board.
pub fn build(
    entries: Vec<Entry>,
    board: Board,
    counters: Vec<(Counter, u64)>,
    since: Option<Timestamp>,
    until: Timestamp,
) -> Digest {
    let mut by_zip: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut donations = Vec::new();
    let mut role_totals = BTreeMap::new();
    for entry in entries {
        let person = &entry.person;
        for role in Role::ALL {
            if person.submission.has_role(role) {
                *role_totals.entry(role).or_default() += 1;
            }
        }
        match &person.submission {
            // As shown: a ZIP code stored with a hidden character sorts and groups as it reads.
            Submission::Signup(s) => by_zip.entry(render::line(&s.zip)).or_default().push(entry),
            Submission::Donate(_) => donations.push(entry),
        }
    }
    for entries in by_zip.values_mut() {
        entries.sort_by(|a, b| {
            (a.person.updated_at, &a.person.id).cmp(&(b.person.updated_at, &b.person.id))
        });
    }
    Digest {
        since,
        until,
        by_area: by_zip.into_iter().collect(),
        donations,
        role_totals,
        counters,
        unreadable: Vec::new(),
        deferred: 0,
        waiting_messages: 0,
        board,
        two_names: Vec::new(),
        recent_actions: Vec::new(),
    }
}

/// The records that share a contact with each of `people`, from the contact
/// index (so links are current, and no record is ever rewritten to link
/// it): one read of the index for all of them, names from `known` (or read).
async fn links<S: DigestStore>(
    store: &S,
    people: &[Person],
    known: &HashMap<&str, &Person>,
    standings: &[Standing],
) -> Result<Vec<Vec<Link>>, StoreError> {
    let merged: HashSet<(&str, &str)> = standings
        .iter()
        .filter_map(|s| Some((s.person_id.as_str(), s.merged_into.as_deref()?)))
        .collect();
    let mut contacts: Vec<String> = people.iter().flat_map(linked_by).collect();
    contacts.sort();
    contacts.dedup();
    let mut by_contact: HashMap<String, Vec<String>> = HashMap::new();
    for (contact, id) in store.sharing(&contacts).await? {
        by_contact.entry(contact).or_default().push(id);
    }
    let mut read: HashMap<String, Option<Person>> = HashMap::new();
    let mut out = Vec::with_capacity(people.len());
    for person in people {
        let own_name = name_key(person.submission.name());
        let mut list: Vec<Link> = Vec::new();
        for contact in linked_by(person) {
            for id in by_contact.get(&contact).into_iter().flatten() {
                if *id == person.id || list.iter().any(|l| &l.id == id) || list.len() >= MAX_LINKS {
                    continue;
                }
                let other = match known.get(id.as_str()) {
                    Some(p) => Some((*p).clone()),
                    None => {
                        if !read.contains_key(id) {
                            let found = match store.person(id).await {
                                Ok(found) => found,
                                Err(StoreError::Unreadable { .. }) => None,
                                Err(e) => return Err(e),
                            };
                            read.insert(id.clone(), found);
                        }
                        read.get(id).cloned().flatten()
                    }
                };
                list.push(Link {
                    contact: ContactKind::of(&contact).unwrap_or(ContactKind::Email),
                    id: id.clone(),
                    merged: merged.contains(&(person.id.as_str(), id.as_str()))
                        || merged.contains(&(id.as_str(), person.id.as_str())),
                    same_name: other
                        .as_ref()
                        .is_some_and(|o| name_key(o.submission.name()) == own_name),
                    other: other.map(|o| {
                        let zip = match &o.submission {
                            Submission::Signup(s) => s.zip.clone(),
                            Submission::Donate(_) => String::new(),
                        };
                        (o.submission.name().to_owned(), zip)
                    }),
                });
            }
        }
        out.push(list);
    }
    Ok(out)
}

/// The contact keys a record is linked to others by: its own, and those
/// it waits on (a pending phone another record of the same name holds is
/// "the same person twice?" as much as a confirmed one).
fn linked_by(person: &Person) -> Vec<String> {
    let mut keys = person.submission.contact_keys();
    if let Some(pending) = &person.pending_contact {
        for key in pending.applied_to(&person.submission).contact_keys() {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// Reads the store and builds the digest and its message, changing nothing
/// (also `mutualaid digest --dry-run`). Entries in `may_repeat` (the
/// manifest of a run that stopped before it knew whether its mail was
/// accepted) are marked as possible repeats.
pub async fn prepare<S: DigestStore>(
    store: &S,
    strings: &Strings,
    config: &DigestConfig,
    state: &DigestState,
    now: Timestamp,
) -> Result<(Digest, lettre::Message), DigestError> {
    let may_repeat: HashSet<&str> = if state.manifest_accepted {
        HashSet::new()
    } else {
        state.manifest.iter().map(|e| e.id.as_str()).collect()
    };
    let everyone = store.everyone().await?;
    let mut pending = store.pending().await?;
    // Possible repeats first, then oldest change first: what waited longest goes out first.
    pending
        .people
        .sort_by_key(|p| (!may_repeat.contains(p.id.as_str()), p.updated_at));
    let deferred = pending.people.len().saturating_sub(MAX_ENTRIES);
    pending.people.truncate(MAX_ENTRIES);
    let known: HashMap<&str, &Person> = everyone
        .people
        .iter()
        .chain(pending.people.iter())
        .map(|p| (p.id.as_str(), p))
        .collect();
    let standings = store.standings().await?;
    let mut links = links(store, &pending.people, &known, &standings)
        .await?
        .into_iter();
    let mut entries = Vec::with_capacity(pending.people.len());
    for person in pending.people.iter().cloned() {
        let seen = match person.reported_version {
            0 => None,
            v => match store.version(&person.id, v).await {
                Ok(seen) => seen,
                Err(StoreError::Unreadable { .. }) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let changes = match &seen {
            Some(seen) => changes(seen, &person.submission),
            None => Vec::new(),
        };
        entries.push(Entry {
            is_new: person.reported_version == 0,
            changes,
            may_repeat: may_repeat.contains(person.id.as_str()),
            links: links.next().unwrap_or_default(),
            person,
        });
    }
    let from_day = day(state.last_sent.unwrap_or(now - 86_400));
    let counters = store.counts(&from_day, &day(now)).await?;
    let cases = store.active_cases().await?;
    // An action is stamped when its writer started (a sender's run stamps
    // its whole batch) and may be stored a while later: read back over the
    // lag, leaving out what the last digest already listed, so one stored
    // after the last digest began is listed, once.
    let actions: Vec<CaseAction> = store
        .actions_since(state.last_sent.map_or(0, |at| (at - ACTIONS_LAG).max(0)))
        .await?
        .into_iter()
        .filter(|a| !state.reported_actions.contains(&a.id))
        .collect();
    // Each volunteer's load as the case desk counts it.
    let volunteers: Vec<String> = everyone
        .people
        .iter()
        .chain(&pending.people)
        .filter(|p| p.submission.has_role(mutualaid_forms::Role::Shopper))
        .map(|p| p.id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let loads: HashMap<String, u64> = store.loads(&volunteers).await?.into_iter().collect();
    // A record the index lists late is in `pending` already: `newer` wins.
    let board = board::board(&BoardInput {
        everyone: &everyone.people,
        newer: &pending.people,
        cases: &cases.cases,
        standings: &standings,
        actions: &actions,
        now,
        pairing: config.pairing,
        review_days: config.review_days,
        loads: &loads,
    });
    let mut digest = build(entries, board, counters, state.last_sent, now);
    digest.two_names = two_names(store, &actions).await?;
    digest.recent_actions = actions
        .iter()
        .filter(|a| a.at >= now - ACTIONS_LAG)
        .map(|a| a.id.clone())
        .collect();
    let mut unreadable = pending.unreadable;
    unreadable.extend(everyone.unreadable);
    unreadable.extend(cases.unreadable);
    unreadable.sort();
    unreadable.dedup();
    digest.unreadable = unreadable;
    digest.deferred = deferred;
    // Waiting to be sent: due and not yet accepted by the mail service. A
    // check-in not due for days, and an offer's timer, wait by design.
    digest.waiting_messages = store
        .due_messages(Timestamp::MAX, WAITING_COUNTED)
        .await?
        .iter()
        .filter(|m| {
            use crate::store::message::{MessageKind, MessageState};
            let scheduled =
                matches!(m.state, MessageState::Waiting { attempts: 0, next_at } if next_at > now);
            m.kind != MessageKind::OfferRunsOut && !scheduled
        })
        .count();
    let message = render::message(&digest, strings, config).map_err(DigestError::Message)?;
    Ok((digest, message))
}

/// The records re-keying found folded under two names (their
/// [`ActionKind::SentUnderTwoNames`] actions since the last digest), with
/// the names their kept versions carry as written. A record erased since is
/// left out: nothing of it is left to show.
async fn two_names<S: DigestStore>(
    store: &S,
    actions: &[CaseAction],
) -> Result<Vec<(Person, Vec<String>)>, StoreError> {
    let mut out: Vec<(Person, Vec<String>)> = Vec::new();
    for action in actions
        .iter()
        .filter(|a| a.kind == ActionKind::SentUnderTwoNames)
    {
        if out.iter().any(|(p, _)| p.id == action.detail) {
            continue;
        }
        let person = match store.person(&action.detail).await {
            Ok(Some(person)) => person,
            Ok(None) | Err(StoreError::Unreadable { .. }) => continue,
            Err(e) => return Err(e),
        };
        let mut kept = Vec::new();
        for version in 1..=person.version {
            // A version that does not decode is left out, never the digest.
            match store.version(&person.id, version).await {
                Ok(Some(submission)) => kept.push(submission),
                Ok(None) | Err(StoreError::Unreadable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let names = crate::store::names_as_written(&kept);
        if names.len() > 1 {
            out.push((person, names));
        }
    }
    Ok(out)
}

/// Sends one digest: lease, prepare, manifest, send, record, mark.
pub async fn run<S: DigestStore, M: Mailer>(
    store: &S,
    mailer: &M,
    strings: &Strings,
    config: &DigestConfig,
    now: Timestamp,
    run_id: &str,
) -> Result<RunReport, DigestError> {
    let found = store.digest_state().await?;
    if found.lease_until.is_some_and(|until| until > now)
        && found.lease_owner.as_deref() != Some(run_id)
    {
        return Ok(RunReport::AlreadyRunning);
    }
    let mut state = DigestState {
        lease_owner: Some(run_id.to_owned()),
        lease_until: Some(now + LEASE_SECS),
        version: found.version + 1,
        ..found.clone()
    };
    match store.put_digest_state(&state, found.version).await {
        Err(StoreError::Conflict) => return Ok(RunReport::AlreadyRunning),
        other => other?,
    }
    // Each later write of the state goes through here: under the lease, or not at all.
    async fn advance<S: DigestStore>(
        store: &S,
        state: &mut DigestState,
        change: impl FnOnce(&mut DigestState),
    ) -> Result<(), DigestError> {
        let mut next = state.clone();
        change(&mut next);
        next.version = state.version + 1;
        match store.put_digest_state(&next, state.version).await {
            Ok(()) => {
                *state = next;
                Ok(())
            }
            Err(StoreError::Conflict) => Err(DigestError::LeaseLost),
            Err(e) => Err(e.into()),
        }
    }
    // The previous run's mail was accepted; only its marking was left.
    if state.manifest_accepted {
        store.mark_reported(&state.manifest).await?;
        advance(store, &mut state, |s| {
            s.manifest.clear();
            s.manifest_accepted = false;
        })
        .await?;
    }
    let earlier_manifest = state.manifest.clone();
    let prepared = prepare(store, strings, config, &state, now).await;
    let (digest, message) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let _ = advance(store, &mut state, |s| {
                s.lease_owner = None;
                s.lease_until = None;
            })
            .await;
            return Err(e);
        }
    };
    let manifest = digest.manifest();
    advance(store, &mut state, |s| {
        s.manifest = manifest.clone();
        s.manifest_accepted = false;
    })
    .await?;
    if let Err(e) = mailer.send(&message).await {
        // Not accepted: this digest was not sent. What an earlier, unknown run carried stays marked.
        let _ = advance(store, &mut state, |s| {
            s.manifest = earlier_manifest;
            s.lease_owner = None;
            s.lease_until = None;
        })
        .await;
        return Err(e.into());
    }
    advance(store, &mut state, |s| s.manifest_accepted = true).await?;
    store.mark_reported(&manifest).await?;
    advance(store, &mut state, |s| {
        s.manifest.clear();
        s.manifest_accepted = false;
        s.last_sent = Some(now);
        s.reported_actions = digest.recent_actions.clone();
        s.lease_owner = None;
        s.lease_until = None;
    })
    .await?;
    Ok(RunReport::Sent {
        entries: manifest.len(),
        repeated: manifest.iter().filter(|e| e.may_repeat).count(),
        unreadable: digest.unreadable.len(),
        summary: summary::Summary::of(&digest),
    })
}

/// Posts a sent digest's summary to the organizers' Discord channel, in
/// their language. Call it after [`run`] sent the email, never before: a
/// failure here changes nothing of the digest, and is counted for the next
/// digest's self-report (and returned, for the log).
pub async fn post_summary<S: DigestStore>(
    store: &S,
    webhook: &crate::discord::Webhook,
    summary: &summary::Summary,
    strings: &Strings,
    config: &DigestConfig,
    now: Timestamp,
) -> Result<(), crate::discord::DiscordError> {
    let date = render::local(now, &config.time_zone, "%Y-%m-%d");
    let text = summary.text(&strings.digest.discord, &config.network, &date);
    let posted = webhook.post(&text).await;
    if posted.is_err() {
        summary_failed(store, now).await;
    }
    posted
}

/// Counts a summary that could not be posted (its webhook unreadable, or
/// the post refused), for the next digest's self-report.
pub async fn summary_failed<S: DigestStore>(store: &S, now: Timestamp) {
    // If even counting fails, the log line the caller writes is what is left.
    let _ = store.count(&day(now), Counter::DiscordFailed).await;
}
