//! The cases side of the digest, before it is words: every request still
//! waiting (longest first), today's suggested pairings over **all** open
//! delivery cases and all volunteers, the matches under way, who is at
//! capacity, and what organizers did since the last digest.
//!
//! Pairing offers each volunteer the cap minus the matches they hold, never
//! a volunteer who is paused, merged into another record or asks for help
//! themselves, never a pair an
//! organizer declined, and never two people of one household (records that
//! share a phone or email) — see [`super::pairing::pair_with`]. A funding
//! case is never offered to a shopper: the network pays.

use std::collections::{HashMap, HashSet};

use mutualaid_forms::{Role, zips};

use super::pairing::{self, Located, PairingConfig};
use crate::store::{
    ActionKind, Case, CaseAction, CaseKind, CaseState, Person, Standing, Submission, Timestamp,
};

/// A case as the digest shows it.
#[derive(Debug, Clone)]
pub struct CaseView {
    /// The case.
    pub case: Case,
    /// The person who asked (None if their record could not be read).
    pub person: Option<Person>,
    /// Days it has waited (open), or days since it was matched or funded.
    pub days: i64,
    /// For a delivery case: the same person also asked for money, so the
    /// network pays for the groceries.
    pub network_pays: bool,
}

/// A suggested pairing.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// The delivery case.
    pub case: CaseView,
    /// The volunteer shopper.
    pub volunteer: Person,
    /// Distance between their areas' centroids.
    pub miles: f64,
    /// Whether they share a language.
    pub shared_language: bool,
}

/// A case matched or funded.
#[derive(Debug, Clone)]
pub struct Active {
    /// The case.
    pub case: CaseView,
    /// The volunteer, for a delivery case.
    pub volunteer: Option<Person>,
    /// Matched longer than the review period: "still going?".
    pub still_going: bool,
}

/// An organizer's action, with the names it concerns.
#[derive(Debug, Clone)]
pub struct ActionView {
    /// The action.
    pub action: CaseAction,
    /// The person whose case it was (a merge: the record merged away).
    pub person: Option<Person>,
    /// The volunteer it concerned (a merge: the record kept).
    pub volunteer: Option<Person>,
}

/// The cases side of one digest.
#[derive(Debug, Clone, Default)]
pub struct Board {
    /// Open delivery cases, longest wait first.
    pub waiting: Vec<CaseView>,
    /// Open funding cases, longest wait first.
    pub waiting_money: Vec<CaseView>,
    /// Today's suggestions, longest wait first.
    pub suggested: Vec<Suggestion>,
    /// Open delivery cases with no volunteer within the distance.
    pub nobody_near: Vec<CaseView>,
    /// Open delivery cases whose volunteers nearby are all at capacity (or
    /// were declined, or paused).
    pub all_busy: Vec<CaseView>,
    /// Matched and funded cases, oldest first.
    pub active: Vec<Active>,
    /// Delivery cases offered to a volunteer, waiting for their answer,
    /// oldest offer first.
    pub offered: Vec<Active>,
    /// Matched cases whose requester asked for an organizer ("Can't
    /// connect?", "Not yet"), first in the digest.
    pub flagged: Vec<Active>,
    /// Volunteers holding the cap, with their load.
    pub at_capacity: Vec<(Person, usize)>,
    /// What organizers did since the previous digest.
    pub actions: Vec<ActionView>,
    /// Open cases of people whose record could not be read (listed in
    /// their sections all the same, under "a record that could not be read").
    pub unreadable_cases: usize,
    /// Each record's standing version (absent: 0), which the buttons that
    /// change a standing (pause, merge) are bound to.
    pub standing_versions: HashMap<String, u64>,
    /// Records that may be the same person as another (a Latin name that
    /// differs only in accents, on a shared phone or email), until an
    /// organizer answers: (the record asked about, the other record).
    pub maybe_same: Vec<(Person, Person)>,
}

impl Board {
    /// The version of record `id`'s standing as this digest shows it.
    pub fn standing_version(&self, id: &str) -> u64 {
        self.standing_versions.get(id).copied().unwrap_or(0)
    }
}

/// What the board is made from.
pub struct BoardInput<'a> {
    /// Every record.
    pub everyone: &'a [Person],
    /// Records read since `everyone` (the pending ones): these win.
    pub newer: &'a [Person],
    /// Every case that is not closed.
    pub cases: &'a [Case],
    /// Records' standings: volunteers' pauses, merged records.
    pub standings: &'a [Standing],
    /// The organizers' actions since the previous digest.
    pub actions: &'a [CaseAction],
    /// Now.
    pub now: Timestamp,
    /// Distance, cap and language.
    pub pairing: PairingConfig,
    /// After how many days a match is asked "still going?".
    pub review_days: u32,
    /// Each volunteer's load, as the store counts it (none: 0).
    pub loads: &'a HashMap<String, u64>,
}

/// A person's email and phone as they read (display controls out, trimmed;
/// none if nothing is left): people who share one are one household. (As
/// validated, a contact reads as it is kept; a record stored otherwise is
/// judged by what the organizers see.)
fn shown_contacts(person: &Person) -> Vec<String> {
    let (email, phone) = match &person.submission {
        Submission::Signup(s) => (s.email.as_deref(), s.phone.as_deref()),
        Submission::Donate(d) => (Some(d.email.as_str()), d.phone.as_deref()),
    };
    [("email", email), ("phone", phone)]
        .into_iter()
        .filter_map(|(kind, value)| {
            let shown = mutualaid_forms::normalize::single_line(value?);
            (!shown.is_empty()).then(|| format!("{kind}:{shown}"))
        })
        .collect()
}

fn located(person: &Person) -> Option<Located> {
    let Submission::Signup(s) = &person.submission else {
        return None;
    };
    let zip = zips::find(&s.zip)?;
    Some(Located {
        id: person.id.clone(),
        // The ZIP as it reads: one stored with a hidden character groups with its neighbors.
        area: zip.code.to_owned(),
        lat: zip.lat,
        lon: zip.lon,
        languages: s.languages.clone(),
    })
}

fn days(from: Timestamp, now: Timestamp) -> i64 {
    (now - from).max(0) / 86_400
}

/// Builds the board.
pub fn board(input: &BoardInput) -> Board {
    let now = input.now;
    // Records read since `everyone` (a sign-up that came in meanwhile) win.
    let people: HashMap<&str, &Person> = input
        .everyone
        .iter()
        .chain(input.newer)
        .map(|p| (p.id.as_str(), p))
        .collect();
    let asking_money: HashSet<&str> = input
        .cases
        .iter()
        .filter(|c| c.kind == CaseKind::Funding && c.state.is_active())
        .map(|c| c.person_id.as_str())
        .collect();
    let view = |case: &Case, since: Timestamp| CaseView {
        person: people.get(case.person_id.as_str()).map(|p| (*p).clone()),
        days: days(since, now),
        network_pays: case.kind == CaseKind::Delivery
            && asking_money.contains(case.person_id.as_str()),
        case: case.clone(),
    };
    let mut out = Board {
        standing_versions: input
            .standings
            .iter()
            .map(|s| (s.person_id.clone(), s.version))
            .collect(),
        ..Board::default()
    };
    let mut open_delivery: Vec<CaseView> = Vec::new();
    let load = |volunteer: &str| {
        input
            .loads
            .get(volunteer)
            .map_or(0, |&n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    for case in input.cases {
        // A request whose record does not decode still waits in its
        // section, by its case ("a record that could not be read").
        if !people.contains_key(case.person_id.as_str()) {
            out.unreadable_cases += 1;
        }
        match (case.kind, case.state) {
            (CaseKind::Delivery, CaseState::Open) => open_delivery.push(view(case, case.opened_at)),
            (CaseKind::Funding, CaseState::Open) => {
                out.waiting_money.push(view(case, case.opened_at))
            }
            (_, CaseState::Matched | CaseState::Funded) => {
                let since = case.matched_at.unwrap_or(case.changed_at);
                out.active.push(Active {
                    volunteer: case
                        .volunteer_id
                        .as_deref()
                        .and_then(|v| people.get(v))
                        .map(|p| (*p).clone()),
                    still_going: case.state == CaseState::Matched
                        && days(since, now) >= i64::from(input.review_days),
                    case: view(case, since),
                });
            }
            (_, CaseState::Offered) => out.offered.push(Active {
                volunteer: case
                    .volunteer_id
                    .as_deref()
                    .and_then(|v| people.get(v))
                    .map(|p| (*p).clone()),
                still_going: false,
                case: view(case, case.offer.as_ref().map_or(case.changed_at, |o| o.at)),
            }),
            (_, CaseState::Closed) => {}
        }
    }
    out.flagged = out
        .active
        .iter()
        .filter(|a| a.case.case.flag.is_some())
        .cloned()
        .collect();
    out.flagged.sort_by_key(|a| a.case.case.flag.map(|f| f.at));
    out.offered
        .sort_by(|a, b| (b.case.days, &a.case.case.id).cmp(&(a.case.days, &b.case.case.id)));
    let longest_first = |a: &CaseView, b: &CaseView| {
        (a.case.opened_at, &a.case.id).cmp(&(b.case.opened_at, &b.case.id))
    };
    open_delivery.sort_by(longest_first);
    out.waiting_money.sort_by(longest_first);
    out.active
        .sort_by(|a, b| (b.case.days, &a.case.case.id).cmp(&(a.case.days, &b.case.case.id)));

    // Volunteers: shoppers on record, not paused, not merged into another
    // record (that one is offered), not asking for delivery themselves.
    let paused: HashSet<&str> = input
        .standings
        .iter()
        .filter(|v| v.paused_at(now) || v.merged_into.is_some())
        .map(|v| v.person_id.as_str())
        .collect();
    // "Maybe the same person?" until an organizer answers: asked at the top,
    // and the record's requests not suggested meanwhile (no neighbour gets
    // two shoppers).
    // Asked only while both records are there and neither is merged: a
    // question nobody can answer must never hold a request back.
    let merged_away: HashSet<&str> = input
        .standings
        .iter()
        .filter(|s| s.merged_into.is_some())
        .map(|s| s.person_id.as_str())
        .collect();
    let mut unanswered: HashSet<&str> = HashSet::new();
    for standing in input.standings.iter().filter(|s| s.merged_into.is_none()) {
        let Some(other) = &standing.maybe_same_as else {
            continue;
        };
        if merged_away.contains(other.as_str()) {
            continue;
        }
        if let (Some(record), Some(other)) = (
            people.get(standing.person_id.as_str()),
            people.get(other.as_str()),
        ) {
            unanswered.insert(standing.person_id.as_str());
            out.maybe_same.push(((*record).clone(), (*other).clone()));
        }
    }
    out.maybe_same
        .sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
    let asking: HashSet<&str> = input
        .cases
        .iter()
        .filter(|c| c.kind == CaseKind::Delivery && c.state.is_active())
        .map(|c| c.person_id.as_str())
        .collect();
    let mut volunteers: Vec<&Person> = people
        .values()
        .copied()
        .filter(|p| p.submission.has_role(Role::Shopper))
        .filter(|p| !paused.contains(p.id.as_str()) && !asking.contains(p.id.as_str()))
        .collect();
    volunteers.sort_by(|a, b| a.id.cmp(&b.id));
    let cap = input.pairing.cap;
    for v in &volunteers {
        let held = load(&v.id);
        if held >= v.shopping_cap(cap) {
            out.at_capacity.push(((*v).clone(), held));
        }
    }

    // Pairing over every open delivery case.
    let requesters: Vec<(usize, Located)> = open_delivery
        .iter()
        .enumerate()
        .filter(|(_, c)| !unanswered.contains(c.case.person_id.as_str()))
        .filter_map(|(i, c)| Some((i, located(c.person.as_ref()?)?)))
        .collect();
    let vols: Vec<(usize, Located)> = volunteers
        .iter()
        .enumerate()
        .filter_map(|(j, v)| Some((j, located(v)?)))
        .collect();
    let capacity: Vec<usize> = vols
        .iter()
        .map(|(j, _)| {
            let v = volunteers[*j];
            v.shopping_cap(cap).saturating_sub(load(&v.id))
        })
        .collect();
    // Never suggested: the same person, one household (a shared phone or
    // email), or a pair an organizer declined. Indexed, not pairwise.
    let mut by_contact: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (vj, (j, _)) in vols.iter().enumerate() {
        by_id.insert(volunteers[*j].id.as_str(), vj);
        for contact in shown_contacts(volunteers[*j]) {
            by_contact.entry(contact).or_default().push(vj);
        }
    }
    let mut excluded = HashSet::new();
    for (ri, (i, _)) in requesters.iter().enumerate() {
        let case = &open_delivery[*i];
        let Some(asker) = &case.person else { continue };
        for contact in shown_contacts(asker) {
            for vj in by_contact.get(&contact).into_iter().flatten() {
                excluded.insert((ri, *vj));
            }
        }
        for id in case.case.declined.iter().chain(std::iter::once(&asker.id)) {
            if let Some(vj) = by_id.get(id.as_str()) {
                excluded.insert((ri, *vj));
            }
        }
    }
    let r: Vec<Located> = requesters.iter().map(|(_, l)| l.clone()).collect();
    let v: Vec<Located> = vols.iter().map(|(_, l)| l.clone()).collect();
    let pairing = pairing::pair_with(&r, &v, &capacity, &excluded, input.pairing);
    for p in &pairing.pairs {
        out.suggested.push(Suggestion {
            case: open_delivery[requesters[p.requester].0].clone(),
            volunteer: volunteers[vols[p.volunteer].0].clone(),
            miles: p.miles,
            shared_language: p.shared_language,
        });
    }
    out.suggested
        .sort_by(|a, b| longest_first(&a.case, &b.case));
    out.nobody_near = pairing
        .nobody_near
        .iter()
        .map(|i| open_delivery[requesters[*i].0].clone())
        .collect();
    out.all_busy = pairing
        .all_busy
        .iter()
        .map(|i| open_delivery[requesters[*i].0].clone())
        .collect();
    out.waiting = open_delivery;

    let by_case: HashMap<&str, &Case> = input.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    out.actions = input
        .actions
        .iter()
        // What re-keying found is listed apart (`Digest::two_names`).
        .filter(|a| a.kind != ActionKind::SentUnderTwoNames)
        .map(|a| {
            // A merge concerns two records: the one merged away and the one kept.
            let person_id = match &a.merged {
                Some(m) => Some(m.from.as_str()),
                // "Two people": the record asked about, and the other.
                None if a.kind == ActionKind::TwoPeople => Some(a.detail.as_str()),
                None => a.case_id.as_deref().and_then(|id| {
                    by_case
                        .get(id)
                        .map(|c| c.person_id.as_str())
                        .or(Case::person_of(id))
                }),
            };
            let volunteer_id = match &a.merged {
                Some(m) => Some(m.into.as_str()),
                None => a.volunteer_id.as_deref(),
            };
            ActionView {
                person: person_id
                    .and_then(|id| people.get(id))
                    .map(|p| (*p).clone()),
                volunteer: volunteer_id
                    .and_then(|id| people.get(id))
                    .map(|p| (*p).clone()),
                action: a.clone(),
            }
        })
        .collect();
    out
}
