//! Write plans: every write of the store — intake, the organizers' case
//! desk, erasure — and the rules they keep, written once, as data.
//!
//! The domain decides *what* changes (a sign-up stored, a case matched, two
//! records merged, a record erased); this module turns that decision into a [`Plan`] — the
//! typed list of every write it takes, each with the condition it must meet
//! — and an adapter only carries a plan out: SQLite as statements in one
//! transaction, DynamoDB as one `TransactWriteItems` (one item per write),
//! the in-memory model of the tests as map operations. A plan holds or none
//! of it is made ([`super::StoreError::Conflict`]).
//!
//! The rules that live here and nowhere else:
//! - **Who holds what** ([`create`], [`update`]): a new record claims its
//!   identity keys (refused if another record holds one) and is listed
//!   under its contacts; its next version claims again every key it holds
//!   (each lasting as long as the record), releases those it no longer
//!   holds, and moves its contact and former-contact listings — never
//!   touching another record.
//! - **One active case per person and kind**: a case that becomes active
//!   claims the slot ([`Write::ClaimActive`], free or refused), one that
//!   stops being active releases it ([`Write::ReleaseActive`], held by it
//!   or refused).
//! - **A volunteer's load** is one counter per volunteer ([`Write::Load`]),
//!   moved only in the plan that changes the cases it counts: a case whose
//!   matched volunteer changes moves the old one's load down and the new
//!   one's up, and the moves of one plan are summed per volunteer (a match
//!   carried from one case to another by a merge moves nothing; DynamoDB
//!   refuses two writes of one item in a transaction anyway). A load raised
//!   by a confirmation stays within the cap, and the volunteer must still be
//!   on record.
//! - **Erasure** ([`erasure`]) is a sequence of plans, each small enough for
//!   one DynamoDB transaction: first each case (its slot, its volunteer's
//!   load, itself) at the version read, then every key and item the record
//!   keeps, the record itself last. A stop anywhere leaves a state the next
//!   run reads and finishes: a case already gone is not planned again, so no
//!   load is lowered twice.

use std::collections::BTreeMap;

use super::message::{LinkedMessage, MailStop, Message, RECEIPT_WINDOW, ReceiptTally};
use super::page_link::PageLink;
use super::{
    Case, CaseAction, CaseKind, FormerContact, LogEntry, Person, Standing, SubmissionWrite,
    Timestamp,
};

/// The most writes one plan may hold: DynamoDB's limit on the items of one
/// transaction.
pub const MOST_WRITES: usize = 100;

/// One write of a plan, with the condition it must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A person's record, new (`expected` 0: none may exist under its id;
    /// not yet reported) or over the version read (its reported version
    /// left as it is: only the digest moves it). Pending either way.
    Record {
        /// The record as it is to be.
        person: Person,
        /// The stored version it replaces (0: new).
        expected: u64,
    },
    /// An identity key held by record `person_id`: refused if another
    /// record holds it (one whose expiry has passed before `at` no longer
    /// does). Written again by its holder, it lasts until `expires_at`.
    ClaimIdentity {
        /// The key.
        key: String,
        /// The record.
        person_id: String,
        /// When the claim is made.
        at: Timestamp,
        /// Until when it holds.
        expires_at: Timestamp,
    },
    /// A record listed under a contact key it gives.
    ListContact {
        /// The contact key.
        contact: String,
        /// The record.
        person_id: String,
        /// Until when.
        expires_at: Timestamp,
    },
    /// A record listed under a contact it gave once (deletion on request).
    ListFormerContact {
        /// The contact and until when the record held it.
        former: FormerContact,
        /// The record.
        person_id: String,
        /// Until when the listing is kept.
        expires_at: Timestamp,
    },
    /// One version of a record, kept (the record's submission at its version).
    Version {
        /// The record at that version.
        person: Person,
    },
    /// A submission's line in the log: refused if its reference is taken.
    LogEntry {
        /// The line.
        entry: LogEntry,
        /// Until when it is kept (the record's expiry).
        expires_at: Timestamp,
    },
    /// A case, new (`expected` 0: none may exist under its id) or over the
    /// version read.
    Case {
        /// The case as it is to be.
        case: Case,
        /// The stored version it replaces (0: new).
        expected: u64,
    },
    /// A case removed, at the version read (`None`: whatever is stored, for
    /// a case that does not decode).
    DropCase {
        /// Its person.
        person_id: String,
        /// The case.
        case_id: String,
        /// The stored version.
        expected: Option<u64>,
    },
    /// The person's one active case of `kind` taken by `case_id`: refused if
    /// another case holds it.
    ClaimActive {
        /// The person.
        person_id: String,
        /// Which kind.
        kind: CaseKind,
        /// The case that takes it.
        case_id: String,
        /// When the claim expires (the case's expiry).
        expires_at: Timestamp,
    },
    /// That slot given up by `case_id`: refused unless `case_id` holds it.
    ReleaseActive {
        /// The person.
        person_id: String,
        /// Which kind.
        kind: CaseKind,
        /// The case that holds it.
        case_id: String,
    },
    /// A volunteer's load (the delivery cases offered or matched to them) moved by
    /// `by`. With a `cap`, refused if it would pass it.
    Load {
        /// The volunteer's record.
        volunteer_id: String,
        /// +n or -n.
        by: i64,
        /// The most it may reach.
        cap: Option<u64>,
        /// When a counter this creates expires.
        expires_at: Timestamp,
    },
    /// A record's standing over the version read
    /// ([`Standing::expected_version`]). With `merging_into`, the stored
    /// one must also be unmerged or merged into that very record.
    Standing {
        /// The standing as it is to be.
        standing: Standing,
        /// The record it is being merged into, if this is a merge.
        merging_into: Option<String>,
    },
    /// A check that record `person_id`'s standing is at `version` (none: 0)
    /// and, with `unmerged`, not merged into another.
    StandingAt {
        /// The record.
        person_id: String,
        /// The version it must be at.
        version: u64,
        /// Whether it must not be merged.
        unmerged: bool,
    },
    /// A check that a record is on record.
    RecordThere {
        /// The record.
        person_id: String,
    },
    /// An organizer's action, recorded.
    Action(CaseAction),
    /// An identity key given up by record `person_id` (refused if another
    /// record holds it now; nothing to do if nobody does).
    ReleaseIdentity {
        /// The key.
        key: String,
        /// The record.
        person_id: String,
    },
    /// The record's listing under a contact key.
    DropContact {
        /// The contact key.
        contact: String,
        /// The record.
        person_id: String,
    },
    /// The record's listing under a former contact key.
    DropFormerContact {
        /// The contact key.
        contact: String,
        /// The record.
        person_id: String,
    },
    /// One kept version of the record.
    DropVersion {
        /// The record.
        person_id: String,
        /// The version.
        version: u64,
    },
    /// One line of the submission log.
    DropLogEntry {
        /// The record.
        person_id: String,
        /// The submission's reference.
        reference: String,
    },
    /// The record's standing.
    DropStanding {
        /// The record.
        person_id: String,
    },
    /// The record's load as a volunteer.
    DropLoad {
        /// The record.
        person_id: String,
    },
    /// The record itself.
    DropRecord {
        /// The record.
        person_id: String,
    },
    /// A message to a person, new (`expected` 0: written with what causes
    /// it) or moved on by the sender over the version read.
    Message {
        /// The message as it is to be.
        message: Message,
        /// The stored version it replaces (0: new).
        expected: u64,
    },
    /// One message of the record, sent or waiting (erasure).
    DropMessage {
        /// The record.
        person_id: String,
        /// The message.
        id: String,
    },
    /// A private link to a person's page, new (`expected` 0) or changed
    /// (revoked, a held page's state) over the version read.
    PageLink {
        /// The link as it is to be.
        link: PageLink,
        /// The stored version it replaces (0: new).
        expected: u64,
    },
    /// One private link of the record (erasure).
    DropPageLink {
        /// The record.
        person_id: String,
        /// The link's hash.
        hash: String,
    },
    /// No more mail to an address about a record (kept until the record
    /// goes; written again, it is replaced).
    MailStop {
        /// The stop.
        stop: MailStop,
    },
    /// The record's stop of mail to `address` (erasure).
    DropMailStop {
        /// The record.
        person_id: String,
        /// The address.
        address: String,
    },
    /// An address that said "this wasn't me": nothing more is sent to it
    /// from any form or message kind. Kept by its keyed hash only
    /// ([`super::message::AddressKey`]), never the address.
    Suppress {
        /// The keyed hash of the address.
        hash: String,
        /// When.
        at: Timestamp,
        /// When it is forgotten.
        expires_at: Timestamp,
    },
    /// An organizer lifts a [`Write::Suppress`] (`mutualaid contacts allow`).
    Unsuppress {
        /// The keyed hash of the address.
        hash: String,
    },
    /// The tally of receipts to one address, over the version read
    /// (`tally.version - 1`; refused if another receipt came between).
    ReceiptTally {
        /// [`super::message::tally_key`] of the address.
        key: String,
        /// The tally as it is to be.
        tally: ReceiptTally,
        /// When it may be forgotten.
        expires_at: Timestamp,
    },
}

/// Writes that hold together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In any order: an adapter may reorder them (none writes one item twice).
    pub writes: Vec<Write>,
}

/// A case as it was read and as an action leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseChange {
    /// As read (its version is the one the write expects).
    pub before: Case,
    /// As it is to be (version one more).
    pub case: Case,
    /// A volunteer who takes the case on may hold at most this many
    /// matched cases with it (a confirmation); none: no limit (a match
    /// carried by a merge).
    pub cap: Option<u64>,
}

impl CaseChange {
    /// `before` becoming `case`.
    pub fn new(before: &Case, case: Case) -> CaseChange {
        CaseChange {
            before: before.clone(),
            case,
            cap: None,
        }
    }
}

/// An organizer's merge of two records of one person: `from`'s active
/// cases closed as merged, or carried on by `into`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeChange {
    /// Cases changed: `from`'s closed as merged, and `into`'s that take on
    /// an earlier date or a match.
    pub changed: Vec<CaseChange>,
    /// `from`'s cases of a kind `into` had none of, now `into`'s (new ids,
    /// their dates, state and volunteer kept).
    pub opened: Vec<Case>,
    /// `from`'s standing, merged into `into` (at its next version).
    pub standing: Standing,
    /// The version `into`'s standing must still be at (0: none).
    pub into_version: u64,
    /// The merge, recorded.
    pub action: CaseAction,
}

impl MergeChange {
    /// The record merged into.
    pub fn into_record(&self) -> &str {
        self.standing.merged_into.as_deref().unwrap_or_default()
    }

    /// Its plan: the case changes and openings, `from`'s standing merged
    /// (unmerged or merged into `into` before, at the version decided on),
    /// both records on record, `into`'s standing at its version and not
    /// merged itself, the action.
    pub fn plan(&self) -> Plan {
        let into = self.into_record().to_owned();
        let mut planner = Planner::new();
        for change in &self.changed {
            planner.change(change);
        }
        for case in &self.opened {
            planner.open(case);
        }
        planner
            .write(Write::Standing {
                standing: self.standing.clone(),
                merging_into: Some(into.clone()),
            })
            .write(Write::RecordThere {
                person_id: into.clone(),
            })
            .write(Write::RecordThere {
                person_id: self.standing.person_id.clone(),
            })
            .write(Write::StandingAt {
                person_id: into,
                version: self.into_version,
                unmerged: true,
            })
            .write(Write::Action(self.action.clone()))
            .plan()
    }
}

/// An undone merge: the merged record's requests given back (its cases
/// reopened, the kept record's carrying cases closed or restored), its
/// standing its own again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmergeChange {
    /// Cases changed.
    pub changed: Vec<CaseChange>,
    /// The merged record's standing, no longer merged (at its next version).
    pub standing: Standing,
    /// The version the kept record's standing must still be at (0: none).
    pub into_version: u64,
    /// The undo, recorded.
    pub action: CaseAction,
}

impl UnmergeChange {
    /// The record the merged one was merged into (as the action records it).
    pub fn kept_record(&self) -> &str {
        self.action.merged.as_ref().map_or("", |m| m.into.as_str())
    }

    /// Its plan: the case changes, the standing at the version decided on,
    /// the kept record's standing still at its version, the action.
    pub fn plan(&self) -> Plan {
        let mut planner = Planner::new();
        for change in &self.changed {
            planner.change(change);
        }
        planner
            .write(Write::Standing {
                standing: self.standing.clone(),
                merging_into: None,
            })
            .write(Write::StandingAt {
                person_id: self.kept_record().to_owned(),
                version: self.into_version,
                unmerged: false,
            })
            .write(Write::Action(self.action.clone()))
            .plan()
    }
}

/// Builds plans: writes are added, load moves summed per volunteer, and
/// the plan comes out with one [`Write::Load`] per volunteer whose load
/// moves.
#[derive(Debug, Default)]
pub struct Planner {
    writes: Vec<Write>,
    loads: BTreeMap<String, LoadMove>,
}

#[derive(Debug, Default)]
struct LoadMove {
    by: i64,
    cap: Option<u64>,
    expires_at: Timestamp,
}

impl Planner {
    /// An empty plan.
    pub fn new() -> Planner {
        Planner::default()
    }

    /// Adds a write as it is.
    pub fn write(&mut self, write: Write) -> &mut Planner {
        self.writes.push(write);
        self
    }

    /// Adds a new case: its slot claimed.
    pub fn open(&mut self, case: &Case) -> &mut Planner {
        self.slot(None, case);
        self.writes.push(Write::Case {
            case: case.clone(),
            expected: 0,
        });
        self.volunteer(None, case, None);
        self
    }

    /// Adds a case change: the case over the version read, its slot
    /// claimed or released, its volunteers' loads moved.
    pub fn change(&mut self, change: &CaseChange) -> &mut Planner {
        self.slot(Some(&change.before), &change.case);
        self.writes.push(Write::Case {
            case: change.case.clone(),
            expected: change.before.version,
        });
        self.volunteer(Some(&change.before), &change.case, change.cap);
        self
    }

    /// Adds a case's removal (erasure): its slot released, its volunteer's
    /// load lowered.
    pub fn drop_case(&mut self, case: &Case) -> &mut Planner {
        if case.state.is_active() {
            self.writes.push(Write::ReleaseActive {
                person_id: case.person_id.clone(),
                kind: case.kind,
                case_id: case.id.clone(),
            });
        }
        if let Some(volunteer) = case.holds_volunteer() {
            self.move_load(volunteer, -1, None, case.expires_at);
        }
        self.writes.push(Write::DropCase {
            person_id: case.person_id.clone(),
            case_id: case.id.clone(),
            expected: Some(case.version),
        });
        self
    }

    /// The keys a record at this version holds and is listed under, each
    /// lasting as long as the record; with the version it replaces, those
    /// that one had and this one has not are given up.
    fn keys_of(&mut self, person: &Person, previous: Option<&Person>) {
        let id = || person.id.clone();
        for key in &person.identities {
            self.writes.push(Write::ClaimIdentity {
                key: key.clone(),
                person_id: id(),
                at: person.updated_at,
                expires_at: person.expires_at,
            });
        }
        let contacts = person.submission.contact_keys();
        for contact in &contacts {
            self.writes.push(Write::ListContact {
                contact: contact.clone(),
                person_id: id(),
                expires_at: person.expires_at,
            });
        }
        // A former contact already listed as it is stays as it is (its
        // listing lasts as long as the record: the adapter keeps it so), so
        // a record that changed contact a hundred times still updates in one
        // transaction; only new or moved ones are written.
        let listed = |f: &FormerContact| previous.is_some_and(|p| p.former_contacts.contains(f));
        for former in person.former_contacts.iter().filter(|f| !listed(f)) {
            self.writes.push(Write::ListFormerContact {
                former: former.clone(),
                person_id: id(),
                expires_at: person.expires_at,
            });
        }
        self.writes.push(Write::Version {
            person: person.clone(),
        });
        let Some(previous) = previous else { return };
        for key in previous
            .identities
            .iter()
            .filter(|k| !person.identities.contains(k))
        {
            self.writes.push(Write::ReleaseIdentity {
                key: key.clone(),
                person_id: id(),
            });
        }
        for contact in previous
            .submission
            .contact_keys()
            .into_iter()
            .filter(|c| !contacts.contains(c))
        {
            self.writes.push(Write::DropContact {
                contact,
                person_id: id(),
            });
        }
        for again in previous.former_contacts.iter().filter(|f| {
            !person
                .former_contacts
                .iter()
                .any(|p| p.contact == f.contact)
        }) {
            self.writes.push(Write::DropFormerContact {
                contact: again.contact.clone(),
                person_id: id(),
            });
        }
    }

    /// What every write of a submission ends with: its log line (kept as
    /// long as the record) and the cases it opens.
    fn submission(&mut self, write: SubmissionWrite<'_>) {
        self.writes.push(Write::LogEntry {
            entry: write.log.clone(),
            expires_at: write.person.expires_at,
        });
        for case in write.new_cases {
            self.open(case);
        }
        if let Some(notice) = write.notice {
            self.writes.push(Write::Action(notice.clone()));
        }
        if let Some(notice) = write.security {
            self.mail(notice);
        }
        if let Some(receipt) = write.receipt {
            self.mail(&receipt.mail);
            self.writes.push(Write::ReceiptTally {
                key: receipt.tally_key.clone(),
                tally: receipt.tally.clone(),
                expires_at: receipt.tally.forget_at(RECEIPT_WINDOW),
            });
        }
    }

    /// A message with the new link it carries.
    pub fn mail(&mut self, mail: &LinkedMessage) -> &mut Planner {
        self.writes.push(Write::Message {
            message: mail.message.clone(),
            expected: 0,
        });
        self.writes.push(Write::PageLink {
            link: mail.link.clone(),
            expected: 0,
        });
        self
    }

    /// Leaves `volunteer`'s load as it is, whatever this plan's cases do to
    /// it (their record is being erased: the load goes with it).
    pub fn keep_load_of(&mut self, volunteer: &str) -> &mut Planner {
        self.loads.remove(volunteer);
        self
    }

    /// The plan.
    pub fn plan(&mut self) -> Plan {
        let mut writes = std::mem::take(&mut self.writes);
        for (volunteer_id, moved) in std::mem::take(&mut self.loads) {
            if moved.by == 0 {
                continue;
            }
            let cap = moved.cap.filter(|_| moved.by > 0);
            let there = Write::RecordThere {
                person_id: volunteer_id.clone(),
            };
            if cap.is_some() && !writes.contains(&there) {
                // Taking a case on: the volunteer must still be on record.
                writes.push(there);
            }
            writes.push(Write::Load {
                volunteer_id,
                by: moved.by,
                cap,
                expires_at: moved.expires_at,
            });
        }
        Plan { writes }
    }

    fn slot(&mut self, before: Option<&Case>, case: &Case) {
        let was = before.is_some_and(|b| b.state.is_active());
        match (was, case.state.is_active()) {
            (false, true) => self.writes.push(Write::ClaimActive {
                person_id: case.person_id.clone(),
                kind: case.kind,
                case_id: case.id.clone(),
                expires_at: case.expires_at,
            }),
            (true, false) => self.writes.push(Write::ReleaseActive {
                person_id: case.person_id.clone(),
                kind: case.kind,
                case_id: case.id.clone(),
            }),
            _ => {}
        }
    }

    fn volunteer(&mut self, before: Option<&Case>, case: &Case, cap: Option<u64>) {
        let was = before.and_then(Case::holds_volunteer);
        let is = case.holds_volunteer();
        if was == is {
            return;
        }
        if let Some(volunteer) = was {
            self.move_load(volunteer, -1, None, case.expires_at);
        }
        if let Some(volunteer) = is {
            self.move_load(volunteer, 1, cap, case.expires_at);
        }
    }

    fn move_load(&mut self, volunteer: &str, by: i64, cap: Option<u64>, expires_at: Timestamp) {
        let moved = self.loads.entry(volunteer.to_owned()).or_default();
        moved.by += by;
        moved.cap = moved.cap.or(cap);
        moved.expires_at = moved.expires_at.max(expires_at);
    }
}

/// Storing a new person: the record (version 1, pending) with its first
/// version, its identity keys claimed, its contacts listed, its first
/// standing (the question "maybe the same person?") if any, the log line
/// and the cases it opens.
pub fn create(write: SubmissionWrite<'_>) -> Plan {
    let person = write.person;
    let mut planner = Planner::new();
    planner.write(Write::Record {
        person: person.clone(),
        expected: 0,
    });
    planner.keys_of(person, None);
    if let Some(standing) = write.standing {
        planner.write(Write::Standing {
            standing: standing.clone(),
            merging_into: None,
        });
    }
    planner.submission(write);
    planner.plan()
}

/// A person's record replaced by its next version (`write.person`) over
/// `previous`, as read: the new version kept, every identity key it holds
/// claimed (again: each lasts as long as the record), those it no longer
/// holds released, its contacts and former contacts listed and those it no
/// longer has unlisted, the log line and the cases it opens. Never touches
/// another record.
pub fn update(write: SubmissionWrite<'_>, previous: &Person) -> Plan {
    let person = write.person;
    let mut planner = Planner::new();
    planner.write(Write::Record {
        person: person.clone(),
        expected: previous.version,
    });
    planner.keys_of(person, Some(previous));
    planner.submission(write);
    planner.plan()
}

/// A submission that changed nothing: its log line and the cases it opens
/// (a person asking again after their case was closed), the record still
/// on record.
pub fn unchanged(write: SubmissionWrite<'_>) -> Plan {
    let mut planner = Planner::new();
    planner.write(Write::RecordThere {
        person_id: write.person.id.clone(),
    });
    planner.submission(write);
    planner.plan()
}

/// A record changed outside a form (a pending contact confirmed or
/// dropped, a person's own change of details, its email verified): `next`
/// over `previous` as read, its keys and listings moved as an update moves
/// them, the first link of a newly confirmed email, and the action that
/// records it, if any. The links it throws away go after it, in
/// [`dropped_links`].
pub fn record_change(
    next: &Person,
    previous: &Person,
    mail: Option<&LinkedMessage>,
    action: Option<&CaseAction>,
) -> Plan {
    let mut planner = Planner::new();
    planner.write(Write::Record {
        person: next.clone(),
        expected: previous.version,
    });
    planner.keys_of(next, Some(previous));
    if let Some(mail) = mail {
        planner.mail(mail);
    }
    if let Some(action) = action {
        planner.write(Write::Action(action.clone()));
    }
    planner.plan()
}

/// Record `person_id`'s links `hashes` thrown away, in plans of at most
/// what one transaction holds (a link already gone is no conflict to wait
/// on: its plan may be carried out again or skipped).
pub fn dropped_links(person_id: &str, hashes: &[String]) -> Vec<Plan> {
    hashes
        .chunks(MOST_WRITES)
        .map(|chunk| Plan {
            writes: chunk
                .iter()
                .map(|hash| Write::DropPageLink {
                    person_id: person_id.to_owned(),
                    hash: hash.clone(),
                })
                .collect(),
        })
        .collect()
}

/// A record's standing written over the version read, with the action that
/// records it (a pause, an unpause, the answer to "maybe the same person").
pub fn standing(standing: &Standing, action: &CaseAction) -> Plan {
    Plan {
        writes: vec![
            Write::Standing {
                standing: standing.clone(),
                merging_into: None,
            },
            Write::Action(action.clone()),
        ],
    }
}

/// What a store keeps of one record, as erasure needs to know it: the keys
/// of everything it is to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// Whether the record itself is there.
    pub record: bool,
    /// The identity keys it holds (under either rule).
    pub identities: Vec<String>,
    /// The contact keys it is listed under.
    pub contacts: Vec<String>,
    /// The former contact keys it is listed under.
    pub former_contacts: Vec<String>,
    /// Its kept versions.
    pub versions: Vec<u64>,
    /// The references of its submission log lines.
    pub log: Vec<String>,
    /// Its cases that decode.
    pub cases: Vec<Case>,
    /// Its cases that do not, by id.
    pub unreadable_cases: Vec<String>,
    /// The active-case slots it holds, by kind, with the case holding each.
    pub active: Vec<(CaseKind, String)>,
    /// Whether it has a standing.
    pub standing: bool,
    /// Whether it has a load counter.
    pub load: bool,
    /// Its messages, sent or waiting, by id.
    pub messages: Vec<String>,
    /// Its private links, by hash.
    pub page_links: Vec<String>,
    /// The addresses mail to which it stopped.
    pub mail_stops: Vec<String>,
}

/// The plans that erase a record, in order, none larger than
/// [`MOST_WRITES`]: its cases (each with its slot and its volunteer's
/// load), then everything else it keeps, then the record with `action`
/// recorded. Run again after a stop, it is planned again from what is left.
pub fn erasure(id: &str, kept: &Kept, action: &CaseAction) -> Vec<Plan> {
    let mut plans = leftovers(id, kept);
    plans.push(Plan {
        writes: vec![
            Write::DropRecord {
                person_id: id.to_owned(),
            },
            Write::Action(action.clone()),
        ],
    });
    plans
}

/// The plans of [`erasure`] but its last: everything `kept` lists under
/// record `id` but the record itself. Also what sweeps, after the record is
/// gone, an item written beside it while it was being deleted.
pub fn leftovers(id: &str, kept: &Kept) -> Vec<Plan> {
    let mut plans = Vec::new();
    // A case is at most three writes with its slot and its volunteer's load.
    for cases in kept.cases.chunks(MOST_WRITES / 3) {
        let mut planner = Planner::new();
        for case in cases {
            planner.drop_case(case);
        }
        plans.push(planner.plan());
    }
    let person = || id.to_owned();
    let mut rest: Vec<Write> = kept
        .unreadable_cases
        .iter()
        .map(|case_id| Write::DropCase {
            person_id: person(),
            case_id: case_id.clone(),
            expected: None,
        })
        .collect();
    // A slot no readable active case releases (its case does not decode).
    rest.extend(
        kept.active
            .iter()
            .filter(|(_, case_id)| {
                !kept
                    .cases
                    .iter()
                    .any(|c| c.id == *case_id && c.state.is_active())
            })
            .map(|(kind, case_id)| Write::ReleaseActive {
                person_id: person(),
                kind: *kind,
                case_id: case_id.clone(),
            }),
    );
    rest.extend(kept.identities.iter().map(|key| Write::ReleaseIdentity {
        key: key.clone(),
        person_id: person(),
    }));
    rest.extend(kept.contacts.iter().map(|contact| Write::DropContact {
        contact: contact.clone(),
        person_id: person(),
    }));
    rest.extend(
        kept.former_contacts
            .iter()
            .map(|contact| Write::DropFormerContact {
                contact: contact.clone(),
                person_id: person(),
            }),
    );
    rest.extend(kept.versions.iter().map(|&version| Write::DropVersion {
        person_id: person(),
        version,
    }));
    rest.extend(kept.log.iter().map(|reference| Write::DropLogEntry {
        person_id: person(),
        reference: reference.clone(),
    }));
    if kept.standing {
        rest.push(Write::DropStanding {
            person_id: person(),
        });
    }
    if kept.load {
        rest.push(Write::DropLoad {
            person_id: person(),
        });
    }
    // Its messages first of all: a waiting one would carry its data.
    let messages = kept.messages.iter().map(|id| Write::DropMessage {
        person_id: person(),
        id: id.clone(),
    });
    rest.splice(0..0, messages);
    rest.extend(kept.page_links.iter().map(|hash| Write::DropPageLink {
        person_id: person(),
        hash: hash.clone(),
    }));
    rest.extend(kept.mail_stops.iter().map(|address| Write::DropMailStop {
        person_id: person(),
        address: address.clone(),
    }));
    for writes in rest.chunks(MOST_WRITES) {
        plans.push(Plan {
            writes: writes.to_vec(),
        });
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CaseState;

    fn case(id: &str, state: CaseState, volunteer: Option<&str>) -> Case {
        Case {
            state,
            volunteer_id: volunteer.map(str::to_owned),
            version: 3,
            id: id.to_owned(),
            ..Case::open("p", CaseKind::Delivery, 0, None, 100)
        }
    }

    fn loads(plan: &Plan) -> Vec<(String, i64, Option<u64>)> {
        plan.writes
            .iter()
            .filter_map(|w| match w {
                Write::Load {
                    volunteer_id,
                    by,
                    cap,
                    ..
                } => Some((volunteer_id.clone(), *by, *cap)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_confirmation_raises_the_load_within_the_cap_of_a_volunteer_on_record() {
        let open = case("p.1", CaseState::Open, None);
        let matched = Case {
            state: CaseState::Matched,
            volunteer_id: Some("v".into()),
            version: 4,
            ..open.clone()
        };
        let plan = Planner::new()
            .change(&CaseChange {
                cap: Some(3),
                ..CaseChange::new(&open, matched)
            })
            .plan();
        assert_eq!(loads(&plan), vec![("v".into(), 1, Some(3))]);
        assert!(plan.writes.contains(&Write::RecordThere {
            person_id: "v".into()
        }));
        assert!(
            !plan
                .writes
                .iter()
                .any(|w| matches!(w, Write::ClaimActive { .. } | Write::ReleaseActive { .. })),
            "an active case stays active: {plan:?}"
        );
    }

    #[test]
    fn a_match_carried_from_one_case_to_another_moves_no_load() {
        let from = case("p.1", CaseState::Matched, Some("v"));
        let into = case("q.1", CaseState::Open, None);
        let plan = Planner::new()
            .change(&CaseChange::new(
                &from,
                Case {
                    state: CaseState::Closed,
                    version: 4,
                    ..from.clone()
                },
            ))
            .change(&CaseChange::new(
                &into,
                Case {
                    state: CaseState::Matched,
                    volunteer_id: Some("v".into()),
                    version: 4,
                    ..into.clone()
                },
            ))
            .plan();
        assert_eq!(loads(&plan), vec![]);
        assert!(plan.writes.contains(&Write::ReleaseActive {
            person_id: "p".into(),
            kind: CaseKind::Delivery,
            case_id: "p.1".into()
        }));
    }

    #[test]
    fn an_update_of_a_record_with_many_former_contacts_fits_one_transaction() {
        use mutualaid_forms::{ContactMethod, Lang, Signup};
        let submission = |email: &str| {
            crate::store::Submission::Signup(Signup {
                name: "Ana".into(),
                email: Some(email.into()),
                phone: Some("+16195550100".into()),
                contact_method: ContactMethod::Email,
                zip: "92105".into(),
                neighborhood: None,
                roles: vec![],
                languages: vec![],
                availability: None,
                has_car: false,
                households: None,
                household_size: None,
                notes: None,
                lang: Lang::EN,
            })
        };
        let previous = Person {
            id: "p".into(),
            submission: submission("ana150@example.org"),
            identities: vec![],
            created_at: 0,
            updated_at: 10,
            version: 151,
            reported_version: 0,
            expires_at: 100,
            former_contacts: (0..150)
                .map(|i| FormerContact {
                    contact: format!("signup:email:ana{i}@example.org"),
                    until: i,
                })
                .collect(),
            pending_contact: None,
            verified_email: None,
        };
        let next = Person {
            submission: submission("ana151@example.org"),
            former_contacts: previous.former_contacts_after(&submission("ana151@example.org"), 11),
            updated_at: 11,
            version: 152,
            ..previous.clone()
        };
        assert_eq!(next.former_contacts.len(), 151);
        let log = LogEntry {
            reference: "r".into(),
            person_id: "p".into(),
            at: 11,
            form: mutualaid_forms::FormId::Signup,
            outcome: crate::store::Outcome::Updated,
            version: 152,
        };
        let plan = update(
            SubmissionWrite {
                person: &next,
                log: &log,
                new_cases: &[],
                standing: None,
                receipt: None,
                notice: None,
                security: None,
            },
            &previous,
        );
        let listed: Vec<&Write> = plan
            .writes
            .iter()
            .filter(|w| matches!(w, Write::ListFormerContact { .. }))
            .collect();
        assert_eq!(listed.len(), 1, "only the contact it gave up now");
        assert!(plan.writes.len() < 20, "{} writes", plan.writes.len());
    }

    #[test]
    fn an_erasure_lowers_each_load_once_with_the_case_that_held_it() {
        let kept = Kept {
            record: true,
            cases: vec![
                case("p.1", CaseState::Matched, Some("v")),
                case("p.2", CaseState::Closed, Some("v")),
            ],
            identities: (0..150).map(|i| format!("k{i}")).collect(),
            ..Kept::default()
        };
        let action = CaseAction {
            id: "a".into(),
            at: 0,
            kind: crate::store::ActionKind::Erase,
            case_id: None,
            volunteer_id: None,
            by: crate::store::Actor::Request,
            detail: "record".into(),
            version: 0,
            merged: None,
            expires_at: 0,
        };
        let plans = erasure("p", &kept, &action);
        assert_eq!(plans.len(), 4, "cases, 100 keys, 50 keys, the record");
        assert_eq!(loads(&plans[0]), vec![("v".into(), -1, None)]);
        assert!(plans.iter().all(|p| p.writes.len() <= MOST_WRITES));
        assert_eq!(
            plans.last().map(|p| &p.writes[0]),
            Some(&Write::DropRecord {
                person_id: "p".into()
            })
        );
    }
}
