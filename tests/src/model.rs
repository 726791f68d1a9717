//! The store's reference model: every role of the port over plain maps in
//! memory, each [`Write`] of a plan carried out as its documentation in
//! `mutualaid_handler::store::plan` says — the simplest reading of the
//! rules, for the property test (`tests/it/store_model.rs`) to hold SQLite
//! and DynamoDB to. A plan is applied to a copy of the state and kept only
//! if every write's condition held, so it is atomic like theirs.
//!
//! Not a store to run: it keeps nothing, expires nothing and does not
//! re-key (it never held a legacy key).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use mutualaid_handler::store::message::{AddressKey, MailStop, Message};
use mutualaid_handler::store::page_link::PageLink;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{
    Admission, Case, CaseAction, CaseKind, CaseScan, Counter, DigestState, Kept, LogEntry,
    ManifestEntry, Person, Plan, RateRing, Scan, Standing, StoreError, Submission, Timestamp,
    Write,
};

/// Everything the model keeps.
#[derive(Debug, Clone, Default)]
struct State {
    people: BTreeMap<String, Person>,
    versions: BTreeMap<(String, u64), Submission>,
    log: BTreeMap<String, LogEntry>,
    identities: BTreeMap<String, String>,
    contacts: BTreeSet<(String, String)>,
    former_contacts: BTreeMap<(String, String), Timestamp>,
    cases: BTreeMap<String, Case>,
    active: BTreeMap<(String, CaseKind), String>,
    loads: BTreeMap<String, i64>,
    standings: BTreeMap<String, Standing>,
    actions: Vec<CaseAction>,
    rate_rings: BTreeMap<String, RateRing>,
    messages: BTreeMap<String, Message>,
    page_links: BTreeMap<String, PageLink>,
    mail_stops: BTreeMap<(String, String), MailStop>,
    suppressed: BTreeSet<String>,
    counters: BTreeMap<(String, Counter), u64>,
    digest: DigestState,
}

/// The in-memory model store.
#[derive(Debug, Default)]
pub struct ModelStore {
    state: Mutex<State>,
}

impl ModelStore {
    /// An empty store.
    pub fn new() -> ModelStore {
        ModelStore::default()
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().expect("the model's state"))
    }
}

fn conflict<T>() -> Result<T, StoreError> {
    Err(StoreError::Conflict)
}

impl State {
    fn standing_version(&self, id: &str) -> u64 {
        self.standings.get(id).map_or(0, |s| s.version)
    }

    fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::Record { person, expected } => {
                let stored = self.people.get(&person.id).map(|p| p.version);
                let reported = match (stored, *expected) {
                    (None, 0) => 0,
                    (Some(v), e) if e > 0 && v == e => self.people[&person.id].reported_version,
                    _ => return conflict(),
                };
                self.people.insert(
                    person.id.clone(),
                    Person {
                        reported_version: reported,
                        ..person.clone()
                    },
                );
            }
            Write::ClaimIdentity { key, person_id, .. } => {
                match self.identities.get(key) {
                    Some(holder) if holder != person_id => return conflict(),
                    _ => {}
                }
                self.identities.insert(key.clone(), person_id.clone());
            }
            Write::ListContact {
                contact, person_id, ..
            } => {
                self.contacts.insert((contact.clone(), person_id.clone()));
            }
            Write::ListFormerContact {
                former, person_id, ..
            } => {
                self.former_contacts
                    .insert((former.contact.clone(), person_id.clone()), former.until);
            }
            Write::Version { person } => {
                self.versions.insert(
                    (person.id.clone(), person.version),
                    person.submission.clone(),
                );
            }
            Write::LogEntry { entry, .. } => {
                if self.log.contains_key(&entry.reference) {
                    return conflict();
                }
                self.log.insert(entry.reference.clone(), entry.clone());
            }
            Write::Case { case, expected } => {
                match (self.cases.get(&case.id).map(|c| c.version), *expected) {
                    (None, 0) => {}
                    (Some(v), e) if e > 0 && v == e => {}
                    _ => return conflict(),
                }
                self.cases.insert(case.id.clone(), case.clone());
            }
            Write::DropCase {
                case_id, expected, ..
            } => {
                if let Some(v) = expected
                    && self.cases.get(case_id).map(|c| c.version) != Some(*v)
                {
                    return conflict();
                }
                self.cases.remove(case_id);
            }
            Write::ClaimActive {
                person_id,
                kind,
                case_id,
                ..
            } => {
                let slot = (person_id.clone(), *kind);
                if self.active.contains_key(&slot) {
                    return conflict();
                }
                self.active.insert(slot, case_id.clone());
            }
            Write::ReleaseActive {
                person_id,
                kind,
                case_id,
            } => {
                let slot = (person_id.clone(), *kind);
                if self.active.get(&slot) != Some(case_id) {
                    return conflict();
                }
                self.active.remove(&slot);
            }
            Write::Load {
                volunteer_id,
                by,
                cap,
                ..
            } => {
                let n = self.loads.entry(volunteer_id.clone()).or_default();
                *n += by;
                if cap.is_some_and(|cap| *n > cap as i64) {
                    return conflict();
                }
            }
            Write::Standing {
                standing,
                merging_into,
            } => {
                let stored = self.standings.get(&standing.person_id);
                if self.standing_version(&standing.person_id) != standing.expected_version() {
                    return conflict();
                }
                if let Some(into) = merging_into
                    && stored
                        .and_then(|s| s.merged_into.as_ref())
                        .is_some_and(|other| other != into)
                {
                    return conflict();
                }
                self.standings
                    .insert(standing.person_id.clone(), standing.clone());
            }
            Write::StandingAt {
                person_id,
                version,
                unmerged,
            } => {
                let merged = self
                    .standings
                    .get(person_id)
                    .is_some_and(|s| s.merged_into.is_some());
                if self.standing_version(person_id) != *version || (*unmerged && merged) {
                    return conflict();
                }
            }
            Write::RecordThere { person_id } => {
                if !self.people.contains_key(person_id) {
                    return conflict();
                }
            }
            Write::Action(action) => self.actions.push(action.clone()),
            Write::ReleaseIdentity { key, person_id } => match self.identities.get(key) {
                Some(holder) if holder == person_id => {
                    self.identities.remove(key);
                }
                Some(_) => return conflict(),
                None => {}
            },
            Write::DropContact { contact, person_id } => {
                self.contacts.remove(&(contact.clone(), person_id.clone()));
            }
            Write::DropFormerContact { contact, person_id } => {
                self.former_contacts
                    .remove(&(contact.clone(), person_id.clone()));
            }
            Write::DropVersion { person_id, version } => {
                self.versions.remove(&(person_id.clone(), *version));
            }
            Write::DropLogEntry { reference, .. } => {
                self.log.remove(reference);
            }
            Write::DropStanding { person_id } => {
                self.standings.remove(person_id);
            }
            Write::DropLoad { person_id } => {
                self.loads.remove(person_id);
            }
            Write::DropRecord { person_id } => {
                self.people.remove(person_id);
            }
            Write::Message { message, expected } => {
                let kept = self.messages.get(&message.id).map_or(0, |m| m.version);
                if kept != *expected {
                    return conflict();
                }
                self.messages.insert(message.id.clone(), message.clone());
            }
            Write::PageLink { link, expected } => {
                let kept = self.page_links.get(&link.hash).map_or(0, |l| l.version);
                if kept != *expected {
                    return conflict();
                }
                self.page_links.insert(link.hash.clone(), link.clone());
            }
            Write::MailStop { stop } => {
                self.mail_stops
                    .insert((stop.person_id.clone(), stop.address.clone()), stop.clone());
            }
            Write::Suppress { hash, .. } => {
                self.suppressed.insert(hash.clone());
            }
            Write::Unsuppress { hash } => {
                self.suppressed.remove(hash);
            }
            Write::DropMailStop { person_id, address } => {
                self.mail_stops
                    .remove(&(person_id.clone(), address.clone()));
            }
            Write::DropPageLink { person_id, hash } => {
                if self
                    .page_links
                    .get(hash)
                    .is_some_and(|l| l.person_id == *person_id)
                {
                    self.page_links.remove(hash);
                }
            }
            Write::DropMessage { person_id, id } => {
                if self
                    .messages
                    .get(id)
                    .is_some_and(|m| m.person_id == *person_id)
                {
                    self.messages.remove(id);
                }
            }
            Write::ReceiptTally { key, tally, .. } => {
                let kept = self.rate_rings.get(key).map_or(0, |r| r.version);
                if kept + 1 != tally.version {
                    return conflict();
                }
                self.rate_rings.insert(key.clone(), tally.clone());
            }
        }
        Ok(())
    }
}

fn sorted_cases<'a>(cases: impl Iterator<Item = &'a Case>) -> Vec<Case> {
    let mut cases: Vec<Case> = cases.cloned().collect();
    cases.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
    cases
}

fn by_change<'a>(people: impl Iterator<Item = &'a Person>) -> Scan {
    let mut people: Vec<Person> = people.cloned().collect();
    people.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
    Scan {
        people,
        unreadable: Vec::new(),
    }
}

impl Records for ModelStore {
    async fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        Ok(self.read(|s| s.people.get(id).cloned()))
    }

    async fn cases_of(&self, person_id: &str) -> Result<Vec<Case>, StoreError> {
        Ok(self.read(|s| sorted_cases(s.cases.values().filter(|c| c.person_id == person_id))))
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        Ok(self.read(|s| s.cases.get(id).cloned()))
    }

    async fn active_cases(&self) -> Result<CaseScan, StoreError> {
        Ok(self.read(|s| CaseScan {
            cases: sorted_cases(s.active.values().filter_map(|id| s.cases.get(id))),
            unreadable: Vec::new(),
        }))
    }

    async fn standings(&self) -> Result<Vec<Standing>, StoreError> {
        Ok(self.read(|s| s.standings.values().cloned().collect()))
    }

    async fn standing(&self, person_id: &str) -> Result<Option<Standing>, StoreError> {
        Ok(self.read(|s| s.standings.get(person_id).cloned()))
    }

    async fn actions_since(&self, since: Timestamp) -> Result<Vec<CaseAction>, StoreError> {
        Ok(self.read(|s| {
            let mut actions: Vec<CaseAction> = s
                .actions
                .iter()
                .filter(|a| a.at >= since)
                .cloned()
                .collect();
            actions.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
            actions
        }))
    }

    async fn everyone(&self) -> Result<Scan, StoreError> {
        Ok(self.read(|s| by_change(s.people.values())))
    }

    async fn sharing(&self, contacts: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.read(|s| {
            contacts
                .iter()
                .flat_map(|c| {
                    s.contacts
                        .iter()
                        .filter(move |(contact, _)| contact == c)
                        .cloned()
                })
                .collect()
        }))
    }

    async fn carry_out(&self, plan: &Plan) -> Result<(), StoreError> {
        let mut state = self.state.lock().expect("the model's state");
        let mut next = state.clone();
        for write in &plan.writes {
            next.apply(write)?;
        }
        *state = next;
        Ok(())
    }

    async fn address_key(&self) -> Result<AddressKey, StoreError> {
        Ok(AddressKey(b"the model's key".to_vec()))
    }

    async fn suppressed(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self.read(|s| s.suppressed.contains(hash)))
    }

    async fn count_by(&self, day: &str, counter: Counter, n: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock().expect("the model's state");
        *state.counters.entry((day.to_owned(), counter)).or_default() += n;
        Ok(())
    }
}

impl IntakeStore for ModelStore {
    async fn holders(&self, identities: &[String]) -> Result<Vec<(String, Person)>, StoreError> {
        Ok(self.read(|s| {
            identities
                .iter()
                .filter_map(|key| {
                    let holder = s.people.get(s.identities.get(key)?)?;
                    Some((key.clone(), holder.clone()))
                })
                .collect()
        }))
    }

    async fn may_hold_legacy_identities(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn admit_places(
        &self,
        client: &str,
        now: Timestamp,
        limit: u64,
        window: i64,
        places: u64,
    ) -> Result<Admission, StoreError> {
        let mut state = self.state.lock().expect("the model's state");
        let ring = state.rate_rings.get(client).cloned().unwrap_or_default();
        let admission = ring.admit_places(now, limit, window, places);
        if let Admission::Admitted(next) = &admission {
            state.rate_rings.insert(client.to_owned(), next.clone());
        }
        Ok(admission)
    }

    async fn rate_ring(&self, client: &str) -> Result<RateRing, StoreError> {
        Ok(self.read(|s| s.rate_rings.get(client).cloned().unwrap_or_default()))
    }

    async fn page_link(&self, hash: &str) -> Result<Option<PageLink>, StoreError> {
        Ok(self.read(|s| s.page_links.get(hash).cloned()))
    }
}

impl CaseDesk for ModelStore {
    async fn loads(&self, volunteers: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self.read(|s| {
            volunteers
                .iter()
                .map(|v| {
                    (
                        v.clone(),
                        s.loads.get(v).copied().unwrap_or(0).max(0) as u64,
                    )
                })
                .collect()
        }))
    }
}

impl DigestStore for ModelStore {
    async fn version(&self, id: &str, version: u64) -> Result<Option<Submission>, StoreError> {
        Ok(self.read(|s| s.versions.get(&(id.to_owned(), version)).cloned()))
    }

    async fn pending(&self) -> Result<Scan, StoreError> {
        Ok(self.read(|s| by_change(s.people.values().filter(|p| p.is_pending()))))
    }

    async fn mark_reported(&self, reported: &[ManifestEntry]) -> Result<(), StoreError> {
        let mut state = self.state.lock().expect("the model's state");
        for entry in reported {
            if let Some(person) = state.people.get_mut(&entry.id) {
                person.reported_version = person.reported_version.max(entry.version);
            }
        }
        Ok(())
    }

    async fn digest_state(&self) -> Result<DigestState, StoreError> {
        Ok(self.read(|s| s.digest.clone()))
    }

    async fn put_digest_state(
        &self,
        digest: &DigestState,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().expect("the model's state");
        if state.digest.version != expected_version {
            return conflict();
        }
        state.digest = DigestState {
            version: expected_version + 1,
            ..digest.clone()
        };
        Ok(())
    }

    async fn counts(
        &self,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(Counter, u64)>, StoreError> {
        Ok(self.read(|s| {
            Counter::ALL
                .into_iter()
                .filter_map(|counter| {
                    let n: u64 = s
                        .counters
                        .iter()
                        .filter(|((day, c), _)| {
                            *c == counter && day.as_str() >= from_day && day.as_str() <= to_day
                        })
                        .map(|(_, n)| n)
                        .sum();
                    (n > 0).then_some((counter, n))
                })
                .collect()
        }))
    }
}

impl SenderStore for ModelStore {
    async fn due_messages(&self, now: Timestamp, limit: usize) -> Result<Vec<Message>, StoreError> {
        Ok(self.read(|s| {
            let mut due: Vec<Message> = s
                .messages
                .values()
                .filter(|m| m.due_at().is_some_and(|at| at <= now))
                .cloned()
                .collect();
            due.sort_by(|a, b| (a.due_at(), &a.id).cmp(&(b.due_at(), &b.id)));
            due.truncate(limit);
            due
        }))
    }

    async fn mail_stop(
        &self,
        person_id: &str,
        address: &str,
    ) -> Result<Option<MailStop>, StoreError> {
        Ok(self.read(|s| {
            s.mail_stops
                .get(&(person_id.to_owned(), address.to_owned()))
                .cloned()
        }))
    }

    async fn messages_of(&self, person_id: &str) -> Result<Vec<Message>, StoreError> {
        Ok(self.read(|s| {
            s.messages
                .values()
                .filter(|m| m.person_id == person_id)
                .cloned()
                .collect()
        }))
    }
}

impl AdminStore for ModelStore {
    async fn former_holders(
        &self,
        contacts: &[String],
    ) -> Result<Vec<(String, String, Timestamp)>, StoreError> {
        Ok(self.read(|s| {
            contacts
                .iter()
                .flat_map(|c| {
                    s.former_contacts
                        .iter()
                        .filter(move |((contact, _), _)| contact == c)
                        .map(|((contact, id), until)| (contact.clone(), id.clone(), *until))
                })
                .collect()
        }))
    }

    async fn kept(&self, id: &str) -> Result<Kept, StoreError> {
        Ok(self.read(|s| {
            let of = |pid: &String| pid == id;
            Kept {
                record: s.people.contains_key(id),
                identities: s
                    .identities
                    .iter()
                    .filter(|(_, pid)| of(pid))
                    .map(|(key, _)| key.clone())
                    .collect(),
                contacts: s
                    .contacts
                    .iter()
                    .filter(|(_, pid)| of(pid))
                    .map(|(c, _)| c.clone())
                    .collect(),
                former_contacts: s
                    .former_contacts
                    .keys()
                    .filter(|(_, pid)| of(pid))
                    .map(|(c, _)| c.clone())
                    .collect(),
                versions: s
                    .versions
                    .keys()
                    .filter(|(pid, _)| of(pid))
                    .map(|(_, v)| *v)
                    .collect(),
                log: s
                    .log
                    .values()
                    .filter(|e| of(&e.person_id))
                    .map(|e| e.reference.clone())
                    .collect(),
                cases: sorted_cases(s.cases.values().filter(|c| of(&c.person_id))),
                unreadable_cases: Vec::new(),
                active: s
                    .active
                    .iter()
                    .filter(|((pid, _), _)| of(pid))
                    .map(|((_, kind), case)| (*kind, case.clone()))
                    .collect(),
                standing: s.standings.contains_key(id),
                load: s.loads.contains_key(id),
                messages: s
                    .messages
                    .values()
                    .filter(|m| of(&m.person_id))
                    .map(|m| m.id.clone())
                    .collect(),
                page_links: s
                    .page_links
                    .values()
                    .filter(|l| of(&l.person_id))
                    .map(|l| l.hash.clone())
                    .collect(),
                mail_stops: s
                    .mail_stops
                    .keys()
                    .filter(|(pid, _)| of(pid))
                    .map(|(_, address)| address.clone())
                    .collect(),
            }
        }))
    }

    async fn submissions(&self) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.read(|s| {
            let mut log: Vec<LogEntry> = s.log.values().cloned().collect();
            log.sort_by(|a, b| (a.at, &a.reference).cmp(&(b.at, &b.reference)));
            log
        }))
    }

    async fn all_cases(&self) -> Result<CaseScan, StoreError> {
        Ok(self.read(|s| CaseScan {
            cases: sorted_cases(s.cases.values()),
            unreadable: Vec::new(),
        }))
    }
}
