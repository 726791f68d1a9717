//! The digest's summary for a chat channel the organizers already read
//! (Discord): how many asked for help and how many volunteered in each
//! area, the longest wait, the cases closed — and never a name, an email,
//! a phone, an address or a note. Details stay in the email.
//!
//! A count under 3 in an area is shown as "fewer than 3": in a small ZIP
//! code, "1 asking for help" can name a person to their neighbours. No
//! total is given across areas, so no area's hidden count can be worked
//! out by subtraction.

use std::collections::BTreeMap;

use mutualaid_forms::{Role, zips};
use mutualaid_site::strings::DiscordTexts;

use super::Digest;
use super::board::CaseView;
use super::render::{area_name, fill};
use crate::store::{ActionKind, Submission};

/// Counts under this are not shown exactly.
pub const SMALLEST_SHOWN: usize = 3;

/// Discord refuses a message longer than this.
pub const MAX_CHARS: usize = 2_000;

/// New sign-ups in one area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaCounts {
    /// The area as the digest names it (`92105 City Heights`); empty for
    /// every ZIP outside the county's list, shown as the texts' `other_area`.
    pub area: String,
    /// New people asking for groceries or money for groceries.
    pub requests: usize,
    /// New volunteer shoppers.
    pub volunteers: usize,
}

/// What the summary says: counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// New sign-ups by area (areas with any), in the digest's order.
    pub areas: Vec<AreaCounts>,
    /// Requests waiting for a volunteer or for money.
    pub waiting: usize,
    /// The longest of those waits, in days.
    pub longest_wait_days: Option<i64>,
    /// Cases organizers closed since the previous digest.
    pub closed: usize,
}

impl Summary {
    /// The counts of a prepared digest.
    pub fn of(digest: &Digest) -> Summary {
        let mut areas: BTreeMap<String, AreaCounts> = BTreeMap::new();
        for (zip, entries) in &digest.by_area {
            // A county ZIP by its name; anything else as one "other" area, never as typed.
            let name = match zips::find(zip) {
                Some(_) => area_name(zip),
                None => String::new(),
            };
            let counts = areas.entry(name.clone()).or_insert_with(|| AreaCounts {
                area: name,
                ..Default::default()
            });
            for entry in entries.iter().filter(|e| e.is_new) {
                let Submission::Signup(s) = &entry.person.submission else {
                    continue;
                };
                counts.requests += usize::from(s.roles.iter().any(|r| r.asks_for_help()));
                counts.volunteers += usize::from(s.roles.contains(&Role::Shopper));
            }
        }
        let board = &digest.board;
        let waiting: Vec<&CaseView> = board.waiting.iter().chain(&board.waiting_money).collect();
        let mut areas: Vec<AreaCounts> = areas
            .into_values()
            .filter(|a| a.requests + a.volunteers > 0)
            .collect();
        // The county's areas in order, then the rest.
        areas.sort_by_key(|a| a.area.is_empty());
        Summary {
            areas,
            waiting: waiting.len(),
            longest_wait_days: waiting.iter().map(|c| c.days).max(),
            closed: board
                .actions
                .iter()
                .filter(|a| a.action.kind == ActionKind::Close)
                .count(),
        }
    }

    /// The message, in the organizers' words, at most [`MAX_CHARS`]
    /// characters: `network` and `date` fill the heading.
    pub fn text(&self, t: &DiscordTexts, network: &str, date: &str) -> String {
        let count = |n: usize| {
            if n == 0 {
                "0".to_owned()
            } else if n < SMALLEST_SHOWN {
                t.fewer_than_3.clone()
            } else {
                n.to_string()
            }
        };
        let mut head = vec![fill(&t.heading, &[("network", network), ("date", date)])];
        let mut tail = Vec::new();
        match self.longest_wait_days {
            Some(days) if self.waiting > 0 => tail.push(fill(
                &t.waiting,
                &[
                    ("waiting", &self.waiting.to_string()),
                    ("days", &t.longest_days.of(&t.lang, days.max(0) as u64)),
                ],
            )),
            _ => tail.push(t.nobody_waiting.clone()),
        }
        tail.push(fill(&t.closed, &[("closed", &self.closed.to_string())]));
        tail.push(t.details.clone());
        if self.areas.is_empty() {
            head.push(t.nothing_new.clone());
        } else {
            head.push(t.by_area.clone());
        }
        // The areas, as many as fit beside the rest; the others are counted.
        let fixed: usize = head
            .iter()
            .chain(&tail)
            .map(|l| l.chars().count() + 1)
            .sum();
        let mut budget = MAX_CHARS.saturating_sub(fixed);
        let mut lines = Vec::new();
        for (i, a) in self.areas.iter().enumerate() {
            let area = if a.area.is_empty() {
                &t.other_area
            } else {
                &a.area
            };
            let line = fill(
                &t.area,
                &[
                    ("area", area),
                    ("requests", &count(a.requests)),
                    ("volunteers", &count(a.volunteers)),
                ],
            );
            let more = t.more_areas.of(&t.lang, (self.areas.len() - i) as u64);
            let last = i + 1 == self.areas.len();
            let needed = line.chars().count() + 1 + if last { 0 } else { more.chars().count() + 1 };
            if needed > budget {
                lines.push(more);
                break;
            }
            budget -= line.chars().count() + 1;
            lines.push(line);
        }
        let text = head
            .into_iter()
            .chain(lines)
            .chain(tail)
            .collect::<Vec<_>>()
            .join("\n");
        // Long words from the content could still overflow: never send more than Discord takes.
        text.chars().take(MAX_CHARS).collect()
    }
}
