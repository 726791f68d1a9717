//! The digest in words: a plain-text part, an HTML part and a CSV attachment,
//! in one `lettre` message. Every value people typed is made safe for where
//! it goes: control characters become spaces in text, HTML is escaped, CSV
//! cells are neutralized, and no value ever reaches a header (the subject is
//! only a date; sender and recipients come from configuration).

use std::fmt::Write;

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use mutualaid_forms::{Role, zips};
use mutualaid_site::strings::{Counted, DigestTexts, Strings};

use super::board::{ActionView, Board, CaseView};
use super::{Digest, DigestConfig, Entry};
use crate::export::{self, neutralize};
use crate::links::{ActionLink, LinkSigner};
use crate::store::{
    ActionKind, CaseKind, CaseState, CloseReason, Counter, Person, Submission, Timestamp,
};

/// A value as one safe line: line breaks and tabs become spaces, and no
/// display control (a bidi override, a line separator, NUL…) survives.
pub fn line(value: &str) -> String {
    mutualaid_forms::normalize::single_line(value)
}

fn esc(value: &str) -> String {
    html_escape::encode_quoted_attribute(&line(value)).into_owned()
}

/// Fills `{name}` placeholders.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

pub(crate) fn local(t: Timestamp, tz: &str, format: &str) -> String {
    jiff::Timestamp::from_second(t)
        .ok()
        .and_then(|ts| {
            jiff::tz::TimeZone::get(tz)
                .ok()
                .map(|zone| ts.to_zoned(zone))
        })
        .map(|z| z.strftime(format).to_string())
        .unwrap_or_default()
}

/// "92105 City Heights" / "91910 Chula Vista".
pub fn area_name(zip: &str) -> String {
    match zips::find(zip) {
        Some(z) => format!("{} {}", z.code, z.neighborhood.unwrap_or(z.city)),
        None => line(zip),
    }
}

/// The contacts `person` waits on, each marked "new, not confirmed".
fn pending_contacts(person: &Person, t: &DigestTexts) -> Vec<String> {
    let Some(pending) = &person.pending_contact else {
        return Vec::new();
    };
    [&pending.phone, &pending.email]
        .into_iter()
        .flatten()
        .map(|contact| fill(&t.pending_contact, &[("contact", contact)]))
        .collect()
}

/// One person's details as label/value pairs, in the organizers' words;
/// with `pending`, the contacts they wait on too, marked (their own entry
/// only: a pairing's lines, what organizers introduce people with, show
/// confirmed contacts alone).
fn details(person: &Person, t: &DigestTexts, pending: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match &person.submission {
        Submission::Signup(s) => {
            let method = s.contact_method.as_str();
            let mut reach = Vec::new();
            if let Some(phone) = &s.phone {
                reach.push(phone.clone());
            }
            match &s.email {
                Some(email) if person.email_verified() => {
                    reach.push(format!("{email} ({})", t.verified));
                }
                Some(email) => reach.push(email.clone()),
                // No receipt, no page, no mail from us: a person reaches them.
                None => reach.push(t.no_email.clone()),
            }
            if pending {
                reach.extend(pending_contacts(person, t));
            }
            out.push((
                t.reach.clone(),
                format!("{} ({} {method})", reach.join(", "), t.prefers),
            ));
            out.push((
                t.roles.clone(),
                s.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
            if !s.languages.is_empty() {
                out.push((t.languages.clone(), s.languages.join(", ")));
            }
            if let Some(a) = &s.availability {
                out.push((t.availability.clone(), a.clone()));
            }
            if s.has_car {
                out.push((t.has_car.clone(), "✓".into()));
            }
            if let Some(n) = s.households {
                out.push((t.shops_for.clone(), n.to_string()));
            }
            if let Some(n) = s.household_size {
                out.push((t.household.clone(), n.to_string()));
            }
            if let Some(n) = &s.notes {
                out.push((t.notes.clone(), n.clone()));
            }
        }
        Submission::Donate(d) => {
            let mut reach = vec![d.email.clone()];
            reach.extend(d.phone.clone());
            if pending {
                reach.extend(pending_contacts(person, t));
            }
            out.push((t.reach.clone(), reach.join(", ")));
            let freq = match d.frequency {
                mutualaid_forms::validate::Frequency::Once => &t.once,
                mutualaid_forms::validate::Frequency::Monthly => &t.monthly,
            };
            let mut how = freq.clone();
            if let Some(a) = &d.amount {
                how = format!("{how}, {}", fill(&t.amount, &[("amount", a)]));
            }
            out.push((String::new(), how));
            if let Some(m) = &d.message {
                out.push((t.message.clone(), m.clone()));
            }
        }
    }
    out
}

/// How to reach a person and in which languages, on one line: what an
/// organizer needs to call both sides of a pairing ("Rita Lopez: +1619…,
/// rita@… (prefers text) — languages: es, en").
fn reach_line(person: &Person, t: &DigestTexts) -> String {
    let found: Vec<(String, String)> = details(person, t, false)
        .into_iter()
        .filter(|(k, _)| *k == t.reach || *k == t.languages)
        .collect();
    let parts: Vec<String> = found
        .iter()
        .map(|(k, v)| {
            if *k == t.reach {
                line(v)
            } else {
                format!("{k}: {}", line(v))
            }
        })
        .collect();
    format!("{}: {}", line(name(person)), parts.join(" — "))
}

fn name(person: &Person) -> &str {
    match &person.submission {
        Submission::Signup(s) => &s.name,
        Submission::Donate(d) => &d.name,
    }
}

fn zip_of(person: &Person) -> &str {
    match &person.submission {
        Submission::Signup(s) => &s.zip,
        Submission::Donate(_) => "",
    }
}

fn change_text(c: &crate::store::Change) -> String {
    format!(
        "{}: {} → {}",
        c.field,
        if c.from.is_empty() { "—" } else { &c.from },
        if c.to.is_empty() { "—" } else { &c.to }
    )
}

/// What changed, contact changes first.
fn changes(entry: &Entry) -> String {
    let mut list: Vec<&crate::store::Change> = entry.changes.iter().collect();
    list.sort_by_key(|c| !c.is_contact());
    list.into_iter()
        .map(change_text)
        .collect::<Vec<_>>()
        .join("; ")
}

/// "Maria A." — the first name and the initials of the rest, as a link
/// names another record.
pub fn short_name(name: &str) -> String {
    let mut words = line(name)
        .split_whitespace()
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter();
    let first = words.next().unwrap_or_default();
    words.fold(first, |out, w| match w.chars().next() {
        Some(c) => format!("{out} {c}."),
        None => out,
    })
}

fn link_text(link: &super::Link, t: &DigestTexts) -> String {
    let contact = match link.contact {
        crate::store::ContactKind::Phone => &t.a_phone,
        crate::store::ContactKind::Email => &t.an_email,
    };
    let other = match &link.other {
        Some((name, zip)) if zip.is_empty() => short_name(name),
        Some((name, zip)) => format!("{} ({zip})", short_name(name)),
        None => t.unreadable_record.clone(),
    };
    let template = if link.same_name {
        &t.link_same_name
    } else {
        &t.link_shared
    };
    fill(template, &[("contact", contact), ("other", &other)])
}

fn counter_label(counter: Counter, t: &DigestTexts) -> &Counted {
    match counter {
        Counter::Created => &t.counter_created,
        Counter::Updated => &t.counter_updated,
        Counter::Unchanged => &t.counter_unchanged,
        Counter::Rejected => &t.counter_rejected,
        Counter::Honeypot => &t.counter_honeypot,
        Counter::RateLimited => &t.counter_rate_limited,
        Counter::DiscordFailed => &t.counter_discord_failed,
        Counter::MessagesSent => &t.counter_messages_sent,
        Counter::MessagesRetried => &t.counter_messages_retried,
        Counter::MessagesGivenUp => &t.counter_messages_given_up,
    }
}

/// The sections, as (heading, lines), in the order organizers read them:
/// who needs attention first.
struct Section {
    heading: String,
    lines: Vec<Line>,
}

/// A line: a lead (a name or label), then the rest, then sub-lines, and in
/// the HTML part the organizers' action links (label, signed URL).
#[derive(Default)]
struct Line {
    lead: String,
    rest: String,
    sub: Vec<String>,
    actions: Vec<(String, String)>,
}

fn sections(d: &Digest, t: &DigestTexts, config: &DigestConfig) -> (String, Vec<Section>) {
    let tz = &config.time_zone;
    let buttons = Buttons {
        signer: config.links.as_ref(),
        now: d.until,
        lang: config.lang.code(),
        t,
        board: &d.board,
    };
    let until = local(d.until, tz, "%Y-%m-%d %H:%M");
    let heading = match d.since {
        Some(since) => fill(
            &t.heading,
            &[
                ("since", &local(since, tz, "%Y-%m-%d %H:%M")),
                ("until", &until),
            ],
        ),
        None => fill(&t.first_heading, &[("until", &until)]),
    };
    let mut out = Vec::new();
    if d.is_quiet() {
        let quiet = match d.since {
            Some(since) => fill(&t.quiet, &[("since", &local(since, tz, "%Y-%m-%d %H:%M"))]),
            None => t.quiet_ever.clone(),
        };
        out.push(Section {
            heading: quiet,
            lines: Vec::new(),
        });
    }
    let board = &d.board;
    // First: who may be one person twice, until an organizer answers.
    if !board.maybe_same.is_empty() {
        out.push(Section {
            heading: fill(
                &t.maybe_same,
                &[("count", &board.maybe_same.len().to_string())],
            ),
            lines: capped(
                board
                    .maybe_same
                    .iter()
                    .map(|(record, other)| maybe_same_line(record, other, t, &buttons))
                    .collect(),
                t,
            ),
        });
    }
    if !d.two_names.is_empty() {
        out.push(Section {
            heading: fill(&t.two_names, &[("count", &d.two_names.len().to_string())]),
            lines: capped(
                d.two_names
                    .iter()
                    .map(|(record, names)| Line {
                        lead: format!("{} ({})", line(name(record)), area_name(zip_of(record))),
                        rest: fill(&t.two_names_line, &[("names", &line(&names.join(", ")))]),
                        sub: vec![fill(&t.volunteer_ref, &[("volunteer", &record.id)])],
                        ..Default::default()
                    })
                    .collect(),
                t,
            ),
        });
    }
    // Asked for an organizer by the requester ("Can't connect?", "Not yet").
    if !board.flagged.is_empty() {
        let lines: Vec<Line> = board
            .flagged
            .iter()
            .map(|a| {
                let mut l = case_line(&a.case, t, tz);
                let values = [
                    (
                        "requester",
                        a.case
                            .person
                            .as_ref()
                            .map(|p| line(name(p)))
                            .unwrap_or_default(),
                    ),
                    (
                        "volunteer",
                        a.volunteer
                            .as_ref()
                            .map(|p| line(name(p)))
                            .unwrap_or_default(),
                    ),
                ];
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                l.rest = match a.case.case.flag.map(|f| f.reason) {
                    Some(crate::store::FlagReason::NotYet) => fill(&t.flag_not_yet, &values),
                    _ => fill(&t.flag_cant_connect, &values),
                };
                l.sub.extend(a.case.person.iter().map(|p| reach_line(p, t)));
                l.sub.extend(a.volunteer.iter().map(|p| reach_line(p, t)));
                l.actions = buttons.for_case(&a.case, true);
                l
            })
            .collect();
        out.push(Section {
            heading: fill(&t.flagged, &[("count", &lines.len().to_string())]),
            lines: capped(lines, t),
        });
    }
    let miles = format!("{}", config.pairing.max_miles);
    let cap = people_text(config.pairing.cap, t);
    let attention: Vec<Line> = board
        .nobody_near
        .iter()
        .map(|c| (c, fill(&t.nobody_near, &[("miles", &miles)])))
        .chain(
            board
                .all_busy
                .iter()
                .map(|c| (c, fill(&t.all_busy, &[("cap", &cap)]))),
        )
        .map(|(c, why)| {
            let mut l = case_line(c, t, tz);
            l.rest = format!("{} — {why}", l.rest);
            l.actions = buttons.for_case(c, false);
            l
        })
        .collect();
    if !attention.is_empty() {
        out.push(Section {
            heading: t.attention.clone(),
            lines: capped(attention, t),
        });
    }
    let waiting_count = board.waiting.len() + board.waiting_money.len();
    let mut waiting: Vec<Line> = board
        .waiting
        .iter()
        .map(|c| Line {
            actions: buttons.for_case(c, false),
            ..case_line(c, t, tz)
        })
        .collect();
    if !board.waiting_money.is_empty() {
        waiting = capped(waiting, t);
        waiting.push(Line {
            lead: board.waiting_money.len().to_string(),
            rest: t.waiting_money_elsewhere.clone(),
            sub: vec![],
            ..Default::default()
        });
    }
    out.push(Section {
        heading: fill(&t.still_waiting, &[("count", &waiting_count.to_string())]),
        lines: capped(waiting, t),
    });
    let pairs: Vec<Line> = board
        .suggested
        .iter()
        .map(|s| {
            let r = s.case.person.as_ref();
            let mut text = fill(
                &t.pairing,
                &[
                    ("requester", &r.map(|p| line(name(p))).unwrap_or_default()),
                    ("requester_area", &area_name(r.map(zip_of).unwrap_or(""))),
                    ("volunteer", &line(name(&s.volunteer))),
                    ("volunteer_area", &area_name(zip_of(&s.volunteer))),
                    ("miles", &format!("{:.1}", s.miles)),
                ],
            );
            if !s.shared_language {
                text = format!("{text} ({})", t.no_shared_language);
            }
            if s.case.network_pays {
                text = format!("{text} — {}", t.network_pays);
            }
            let (case, volunteer) = (&s.case.case, Some(s.volunteer.id.as_str()));
            let id = Some(case.id.as_str());
            let mut sub: Vec<String> = r.iter().map(|p| reach_line(p, t)).collect();
            sub.push(reach_line(&s.volunteer, t));
            sub.push(fill(
                &t.pair_ref,
                &[("case", &case.id), ("volunteer", &s.volunteer.id)],
            ));
            Line {
                lead: String::new(),
                rest: text,
                sub,
                actions: [
                    buttons.link(
                        &t.btn_confirm,
                        ActionKind::Confirm,
                        id,
                        volunteer,
                        case.version,
                        "",
                    ),
                    buttons.link(
                        &t.btn_decline,
                        ActionKind::Decline,
                        id,
                        volunteer,
                        case.version,
                        "",
                    ),
                ]
                .into_iter()
                .flatten()
                .collect(),
            }
        })
        .collect();
    out.push(Section {
        heading: t.pairings.clone(),
        lines: if pairs.is_empty() {
            vec![Line {
                lead: String::new(),
                rest: t.no_pairings.clone(),
                sub: vec![],
                ..Default::default()
            }]
        } else {
            capped(pairs, t)
        },
    });
    if !board.offered.is_empty() {
        let lines: Vec<Line> = board
            .offered
            .iter()
            .map(|a| {
                let mut l = case_line(&a.case, t, tz);
                let volunteer = a
                    .volunteer
                    .as_ref()
                    .map(|p| line(name(p)))
                    .unwrap_or_default();
                let offer = a.case.case.offer.as_ref();
                let template = match offer {
                    Some(o) if o.by_email() => &t.offered_by_email,
                    Some(o) if o.undelivered => &t.offered_undelivered,
                    _ => &t.offered_call,
                };
                l.rest = format!(
                    "{} — {}",
                    l.rest,
                    fill(
                        template,
                        &[
                            ("volunteer", &volunteer),
                            ("days", &days_text(a.case.days, t)),
                        ]
                    )
                );
                if !offer.is_some_and(|o| o.by_email()) {
                    l.sub.extend(a.volunteer.iter().map(|p| reach_line(p, t)));
                    l.sub
                        .push(fill(&t.answer_commands, &[("case", &a.case.case.id)]));
                }
                l.actions = buttons.for_case(&a.case, false);
                l
            })
            .collect();
        out.push(Section {
            heading: fill(&t.offered, &[("count", &lines.len().to_string())]),
            lines: capped(lines, t),
        });
    }
    if !board.active.is_empty() {
        let lines: Vec<Line> = board
            .active
            .iter()
            .map(|a| {
                let mut l = case_line(&a.case, t, tz);
                let days = days_text(a.case.days, t);
                l.rest = match &a.volunteer {
                    // Matched to a volunteer no longer on record (deleted on request, expired):
                    // nobody is helping; say so, never "funded".
                    None if a.case.case.kind == CaseKind::Delivery => fill(
                        &t.volunteer_gone,
                        &[
                            (
                                "area",
                                &area_name(a.case.person.as_ref().map(zip_of).unwrap_or("")),
                            ),
                            ("days", &days),
                        ],
                    ),
                    Some(v) => fill(
                        &t.matched_with,
                        &[
                            (
                                "area",
                                &area_name(a.case.person.as_ref().map(zip_of).unwrap_or("")),
                            ),
                            ("volunteer", &line(name(v))),
                            ("volunteer_area", &area_name(zip_of(v))),
                            ("days", &days),
                        ],
                    ),
                    None => fill(
                        &t.funded_since,
                        &[
                            (
                                "area",
                                &area_name(a.case.person.as_ref().map(zip_of).unwrap_or("")),
                            ),
                            ("days", &days),
                        ],
                    ),
                };
                if a.still_going {
                    l.rest = format!("{} — {}", l.rest, t.still_going);
                }
                // A side the introduction could not reach by email: who calls whom.
                if let (Some(intro), Some(v), Some(r)) =
                    (a.case.case.introduced, &a.volunteer, &a.case.person)
                {
                    let values = [("requester", line(name(r))), ("volunteer", line(name(v)))];
                    let values: Vec<(&str, &str)> =
                        values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    if !intro.requester_by_email {
                        l.sub.push(fill(&t.call_requester, &values));
                    }
                    if !intro.volunteer_by_email {
                        l.sub.push(fill(&t.call_volunteer, &values));
                    }
                }
                l.actions = buttons.for_case(&a.case, a.still_going);
                l
            })
            .collect();
        out.push(Section {
            heading: fill(&t.matched, &[("count", &board.active.len().to_string())]),
            lines: capped(lines, t),
        });
    }
    if !board.at_capacity.is_empty() {
        out.push(Section {
            heading: t.at_capacity.clone(),
            lines: capped(
                board
                    .at_capacity
                    .iter()
                    .map(|(v, n)| Line {
                        lead: line(name(v)),
                        rest: format!(
                            "({}) — {}",
                            area_name(zip_of(v)),
                            fill(&t.load, &[("count", &people_text(*n, t))])
                        ),
                        sub: vec![fill(&t.volunteer_ref, &[("volunteer", &v.id)])],
                        actions: buttons
                            .link(
                                &fill(&t.btn_pause, &[("days", "14")]),
                                ActionKind::Pause,
                                None,
                                Some(&v.id),
                                board.standing_version(&v.id),
                                "14",
                            )
                            .into_iter()
                            .collect(),
                    })
                    .collect(),
                t,
            ),
        });
    }
    if !board.waiting_money.is_empty() || !d.donations.is_empty() {
        let mut lines: Vec<Line> = board
            .waiting_money
            .iter()
            .map(|c| Line {
                actions: buttons.for_case(c, false),
                ..case_line(c, t, tz)
            })
            .collect();
        lines = capped(lines, t);
        lines.push(Line {
            lead: d.donations.len().to_string(),
            rest: t.money_offered.clone(),
            sub: vec![],
            ..Default::default()
        });
        out.push(Section {
            heading: t.money.clone(),
            lines,
        });
    }
    if !board.actions.is_empty() {
        out.push(Section {
            heading: t.actions.clone(),
            lines: capped(
                board
                    .actions
                    .iter()
                    .map(|a| {
                        let mut l = action_line(a, t, tz);
                        // A forwarded digest cannot quietly close a case or merge
                        // two people: every close can be reopened, every merge undone.
                        let reopen = |case: &str, version| {
                            buttons.link(
                                &t.btn_reopen,
                                ActionKind::Reopen,
                                Some(case),
                                None,
                                version,
                                "",
                            )
                        };
                        l.actions = match (&a.action.merged, a.action.kind) {
                            (Some(m), ActionKind::Merge) => buttons
                                .between(&t.btn_unmerge, ActionKind::Unmerge, &m.from, &m.into)
                                .into_iter()
                                .collect(),
                            (None, ActionKind::Close) => a
                                .action
                                .case_id
                                .iter()
                                .filter_map(|id| reopen(id, a.action.version))
                                .collect(),
                            _ => Vec::new(),
                        };
                        l
                    })
                    .collect(),
                t,
            ),
        });
    }
    if !d.is_quiet() {
        let role_label = |role: Role| match role {
            Role::Shopper => &t.role_shopper,
            Role::Delivery => &t.role_delivery,
            Role::Money => &t.role_money,
        };
        out.push(Section {
            heading: t.totals.clone(),
            lines: Role::ALL
                .into_iter()
                .map(|r| (d.role_totals.get(&r).copied().unwrap_or(0), role_label(r)))
                .chain([(d.donations.len(), &t.donations)])
                .map(|(n, what)| Line {
                    lead: n.to_string(),
                    rest: what.of(&t.lang, n as u64),
                    sub: vec![],
                    ..Default::default()
                })
                .collect(),
        });
        // New and updated people, area by area, up to a budget for the whole
        // message; the rest are counted (and all are in the CSV).
        let mut budget = MAX_ENTRY_LINES;
        for (zip, entries) in &d.by_area {
            let shown = entries.len().min(budget);
            budget -= shown;
            let mut lines: Vec<Line> = entries[..shown]
                .iter()
                .map(|e| entry_line(e, t, &buttons))
                .collect();
            if shown < entries.len() {
                lines.push(Line {
                    lead: String::new(),
                    rest: fill(&t.more, &[("count", &(entries.len() - shown).to_string())]),
                    sub: vec![],
                    ..Default::default()
                });
            }
            out.push(Section {
                heading: format!("{} — {} ({})", t.by_area, area_name(zip), entries.len()),
                lines,
            });
        }
        if !d.donations.is_empty() {
            out.push(Section {
                heading: t.donation_interest.clone(),
                lines: d
                    .donations
                    .iter()
                    .map(|e| entry_line(e, t, &buttons))
                    .collect(),
            });
        }
    }
    let mut report: Vec<Line> = d
        .counters
        .iter()
        // Only a network that posts to Discord can fail to: a line of zeros would puzzle the rest.
        .filter(|(c, n)| !matches!(c, Counter::DiscordFailed | Counter::MessagesRetried) || *n > 0)
        .map(|(c, n)| Line {
            lead: n.to_string(),
            rest: counter_label(*c, t).of(&t.lang, *n),
            sub: vec![],
            ..Default::default()
        })
        .collect();
    report.push(Line {
        lead: d.waiting_messages.to_string(),
        rest: t
            .counter_messages_waiting
            .of(&t.lang, d.waiting_messages as u64),
        sub: vec![],
        ..Default::default()
    });
    report.push(Line {
        lead: d.unreadable.len().to_string(),
        rest: t.counter_unreadable.of(&t.lang, d.unreadable.len() as u64),
        sub: if d.unreadable.is_empty() {
            vec![]
        } else {
            vec![d.unreadable.join(", ")]
        },
        ..Default::default()
    });
    if d.deferred > 0 {
        report.push(Line {
            lead: d.deferred.to_string(),
            rest: t.deferred.of(&t.lang, d.deferred as u64),
            sub: vec![],
            ..Default::default()
        });
    }
    out.push(Section {
        heading: t.self_report.clone(),
        lines: report,
    });
    (heading, out)
}

/// "1 day" / "3 days", in the organizers' words.
fn days_text(n: i64, t: &DigestTexts) -> String {
    t.days.of(&t.lang, n.max(0) as u64)
}

/// "1 person" / "3 people", in the organizers' words.
pub(crate) fn people_text(n: usize, t: &DigestTexts) -> String {
    t.people.of(&t.lang, n as u64)
}

/// The most lines a list of cases shows; the rest are counted (and all are
/// in the CSV), so the HTML part stays under ~100 KB and a mail client shows
/// it whole (Gmail clips a message past 102 KB, cutting off what follows).
pub const MAX_LINES: usize = 20;

/// The most new and updated people the message shows, across all areas.
pub const MAX_ENTRY_LINES: usize = 40;

fn capped(mut lines: Vec<Line>, t: &DigestTexts) -> Vec<Line> {
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(Line {
            lead: String::new(),
            rest: fill(&t.more, &[("count", &more.to_string())]),
            sub: vec![],
            ..Default::default()
        });
    }
    lines
}

/// The organizers' buttons: signed links, when the digest has a signer.
struct Buttons<'a> {
    signer: Option<&'a LinkSigner>,
    now: Timestamp,
    lang: &'a str,
    t: &'a DigestTexts,
    /// The standings' versions the buttons are bound to.
    board: &'a Board,
}

impl Buttons<'_> {
    fn link(
        &self,
        label: &str,
        action: ActionKind,
        case: Option<&str>,
        volunteer: Option<&str>,
        version: u64,
        detail: &str,
    ) -> Option<(String, String)> {
        self.signed(
            label,
            ActionLink {
                action,
                case: case.map(str::to_owned),
                volunteer: volunteer.map(str::to_owned),
                version,
                other_version: None,
                expires: 0,
                lang: self.lang.to_owned(),
                detail: detail.to_owned(),
            },
        )
    }

    /// "Merge `from` into `into`", bound to both records' standings as
    /// this digest shows them.
    fn merge(&self, label: &str, from: &str, into: &str) -> Option<(String, String)> {
        self.between(label, ActionKind::Merge, from, into)
    }

    /// An action on two records (a merge, its undo), bound to both records'
    /// standings as this digest shows them.
    fn between(
        &self,
        label: &str,
        action: ActionKind,
        from: &str,
        into: &str,
    ) -> Option<(String, String)> {
        self.signed(
            label,
            ActionLink {
                action,
                case: None,
                volunteer: Some(into.to_owned()),
                version: self.board.standing_version(from),
                other_version: Some(self.board.standing_version(into)),
                expires: 0,
                lang: self.lang.to_owned(),
                detail: from.to_owned(),
            },
        )
    }

    fn signed(&self, label: &str, link: ActionLink) -> Option<(String, String)> {
        let signer = self.signer?;
        Some((label.to_owned(), signer.link(link, self.now)))
    }

    /// What can be done with a case as the digest shows it.
    fn for_case(&self, c: &CaseView, still_going: bool) -> Vec<(String, String)> {
        let t = self.t;
        let case = &c.case;
        let id = Some(case.id.as_str());
        let button =
            |label: &str, action, detail| self.link(label, action, id, None, case.version, detail);
        let buttons = match (case.kind, case.state) {
            (CaseKind::Funding, CaseState::Open) => vec![
                button(&t.btn_fund, ActionKind::Fund, ""),
                button(
                    &t.btn_close,
                    ActionKind::Close,
                    CloseReason::Organizer.name(),
                ),
            ],
            (_, CaseState::Open) => vec![button(
                &t.btn_close,
                ActionKind::Close,
                CloseReason::Organizer.name(),
            )],
            (_, CaseState::Matched | CaseState::Funded) => vec![
                button(&t.btn_done, ActionKind::Close, CloseReason::Done.name()),
                if still_going {
                    button(&t.btn_keep, ActionKind::Keep, "")
                } else {
                    None
                },
            ],
            // The volunteer's answer, when an organizer called them.
            (_, CaseState::Offered) => {
                let volunteer = case.volunteer_id.as_deref();
                let answer =
                    |label: &str, action| self.link(label, action, id, volunteer, case.version, "");
                vec![
                    answer(&t.btn_accept, ActionKind::Accept),
                    answer(&t.btn_refuse, ActionKind::Refuse),
                ]
            }
            (_, CaseState::Closed) => vec![],
        };
        buttons.into_iter().flatten().collect()
    }
}

/// A case: who, where, how long, and its id for `mutualaid cases`.
fn case_line(c: &CaseView, t: &DigestTexts, tz: &str) -> Line {
    let who = c
        .person
        .as_ref()
        .map(|p| line(name(p)))
        .unwrap_or_else(|| t.unreadable_record.clone());
    let area = area_name(c.person.as_ref().map(zip_of).unwrap_or(""));
    let kind = match c.case.kind {
        CaseKind::Delivery => &t.kind_delivery,
        CaseKind::Funding => &t.kind_funding,
    };
    let mut rest = format!(
        "({area}) — {kind}, {}",
        fill(&t.waited, &[("days", &days_text(c.days, t))])
    );
    if let Some(closed) = c.case.asked_again_after {
        rest = format!(
            "{rest} — {}",
            fill(&t.asked_again, &[("date", &local(closed, tz, "%Y-%m-%d"))])
        );
    }
    if c.network_pays {
        rest = format!("{rest} — {}", t.network_pays);
    }
    let mut sub: Vec<String> = c
        .person
        .as_ref()
        .map(|p| details(p, t, false))
        .unwrap_or_default()
        .into_iter()
        .take(1)
        .map(|(k, v)| format!("{k}: {}", line(&v)))
        .collect();
    sub.push(fill(&t.case_ref, &[("case", &c.case.id)]));
    Line {
        lead: who,
        rest,
        sub,
        ..Default::default()
    }
}

fn action_line(a: &ActionView, t: &DigestTexts, tz: &str) -> Line {
    // Two records of maybe one person are told apart by their whole names
    // (Ana Peña and Ana Pena are both "Ana P.").
    let shown = |p: &Person| match a.action.kind {
        ActionKind::Merge | ActionKind::TwoPeople | ActionKind::Unmerge => line(name(p)),
        _ => short_name(name(p)),
    };
    let person = a
        .person
        .as_ref()
        .map(shown)
        .unwrap_or_else(|| t.unreadable_record.clone());
    let volunteer = a.volunteer.as_ref().map(shown).unwrap_or_default();
    let by_person = a.action.by == crate::store::Actor::Person;
    let template = match a.action.kind {
        // Done by the person on their own page: said so.
        ActionKind::Close if by_person => &t.person_withdrew,
        ActionKind::Pause if by_person && a.action.detail == "0" => &t.person_back,
        ActionKind::Pause if by_person => &t.person_paused,
        ActionKind::Confirm => &t.action_confirm,
        ActionKind::Decline => &t.action_decline,
        ActionKind::Close => &t.action_close,
        ActionKind::Fund => &t.action_fund,
        ActionKind::Reopen => &t.action_reopen,
        ActionKind::Pause => &t.action_pause,
        ActionKind::Keep => &t.action_keep,
        ActionKind::Merge => &t.action_merge,
        ActionKind::Erase if a.action.case_id.is_some() => &t.action_erase_volunteer,
        ActionKind::Erase => &t.action_erase_record,
        ActionKind::TwoPeople => &t.action_two_people,
        // The record it was merged into is gone: never named.
        ActionKind::Unmerge if a.action.by == crate::store::Actor::Request => {
            &t.action_unmerge_erased
        }
        ActionKind::Unmerge => &t.action_unmerge,
        // Listed in a section of their own (the board keeps them out of the actions).
        ActionKind::SentUnderTwoNames => &t.two_names,
        ActionKind::MailStopped if a.action.detail == "refused" => &t.mail_refused,
        ActionKind::MailStopped if a.action.detail == "not_me" => &t.mail_not_me,
        ActionKind::MailStopped => &t.mail_unsubscribed,
        ActionKind::EmailChanged => &t.email_changed_by_form,
        ActionKind::ContactConfirmed => &t.contact_confirmed,
        ActionKind::ContactDropped => &t.contact_dropped,
        ActionKind::IdentityClash => &t.identity_clash,
        ActionKind::DetailsChanged => &t.details_changed,
        ActionKind::Accept => &t.action_accept,
        ActionKind::Refuse if a.action.detail.starts_with("no_answer") => &t.action_no_answer,
        ActionKind::Refuse => &t.action_refuse,
        ActionKind::CantConnect if a.action.detail == "volunteer" => {
            &t.action_cant_connect_volunteer
        }
        ActionKind::CantConnect => &t.action_cant_connect_requester,
        ActionKind::CheckIn if a.action.detail == "got_it" => &t.action_got_it,
        ActionKind::CheckIn => &t.action_not_yet,
    };
    let values = [
        ("person", person.as_str()),
        ("volunteer", volunteer.as_str()),
        ("detail", a.action.detail.as_str()),
        ("record", a.action.volunteer_id.as_deref().unwrap_or("")),
    ];
    let mut text = fill(template, &values);
    if a.action.kind == ActionKind::Refuse && a.action.detail == "no_answer_paused" {
        text = format!("{text} — {}", fill(&t.paused_unanswered, &values));
    }
    Line {
        lead: local(a.action.at, tz, "%Y-%m-%d %H:%M"),
        rest: text,
        sub: a
            .action
            .case_id
            .iter()
            .chain(
                a.action
                    .merged
                    .iter()
                    .flat_map(|m| m.closed.iter().map(|c| &c.id)),
            )
            .map(|id| fill(&t.case_ref, &[("case", id)]))
            .collect(),
        ..Default::default()
    }
}

/// "Maria Garcia (92105 City Heights) maybe the same person as María
/// García (92105 City Heights): the names differ only in accents", with
/// "Merge into …" and "Two people", both bound to the standings shown.
fn maybe_same_line(record: &Person, other: &Person, t: &DigestTexts, buttons: &Buttons) -> Line {
    let whole = |p: &Person| format!("{} ({})", line(name(p)), area_name(zip_of(p)));
    let mut actions: Vec<(String, String)> = Vec::new();
    actions.extend(buttons.merge(
        &fill(&t.btn_merge, &[("other", &short_name(name(other)))]),
        &record.id,
        &other.id,
    ));
    actions.extend(buttons.link(
        &t.btn_two_people,
        ActionKind::TwoPeople,
        None,
        Some(&other.id),
        buttons.board.standing_version(&record.id),
        &record.id,
    ));
    Line {
        lead: whole(record),
        rest: fill(&t.maybe_same_line, &[("other", &whole(other))]),
        sub: vec![fill(
            &t.records_ref,
            &[("record", &record.id), ("other", &other.id)],
        )],
        actions,
    }
}

fn entry_line(e: &Entry, t: &DigestTexts, buttons: &Buttons) -> Line {
    let mut status = if e.is_new {
        t.new.clone()
    } else {
        t.updated.clone()
    };
    if e.may_repeat {
        status = format!("{status}, {}", t.may_repeat);
    }
    let mut sub: Vec<String> = Vec::new();
    // A changed phone or email first and loud: a stranger who knows a name and an email could be behind it.
    for c in e.changes.iter().filter(|c| c.is_contact()) {
        sub.push(format!(
            "⚠ {}: {}",
            t.contact_changed,
            line(&change_text(c))
        ));
    }
    let others: Vec<String> = e
        .changes
        .iter()
        .filter(|c| !c.is_contact())
        .map(change_text)
        .collect();
    if !e.is_new && !others.is_empty() {
        sub.push(format!("{}: {}", t.changed, line(&others.join("; "))));
    }
    let mut actions = Vec::new();
    for link in &e.links {
        sub.push(format!("⚑ {}", line(&link_text(link, t))));
        // One person twice? An organizer who knows merges the two.
        if let (false, Some((other, _))) = (link.merged, &link.other) {
            actions.extend(buttons.merge(
                &fill(&t.btn_merge, &[("other", &short_name(other))]),
                &e.person.id,
                &link.id,
            ));
        }
    }
    sub.extend(details(&e.person, t, true).into_iter().map(|(k, v)| {
        if k.is_empty() {
            line(&v)
        } else {
            format!("{k}: {}", line(&v))
        }
    }));
    Line {
        lead: line(name(&e.person)),
        rest: format!("[{status}]"),
        sub,
        actions,
    }
}

/// The plain-text part.
pub fn text(d: &Digest, strings: &Strings, config: &DigestConfig) -> String {
    let t = &strings.digest;
    let (heading, sections) = sections(d, t, config);
    let mut out = format!("{heading}\n{}\n", "=".repeat(heading.chars().count()));
    for s in sections {
        let _ = write!(out, "\n{}\n", s.heading);
        for l in s.lines {
            let _ = writeln!(
                out,
                "- {}",
                [l.lead, l.rest]
                    .iter()
                    .filter(|x| !x.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            for sub in l.sub {
                let _ = writeln!(out, "    {sub}");
            }
        }
    }
    if !d.is_quiet() {
        let _ = write!(out, "\n{}\n", t.csv_note);
    }
    out
}

/// The HTML part.
pub fn html(d: &Digest, strings: &Strings, config: &DigestConfig) -> String {
    let t = &strings.digest;
    let (heading, sections) = sections(d, t, config);
    let mut out = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family:system-ui,sans-serif;line-height:1.5;max-width:46rem\"><h1>{}</h1>",
        config.lang.code(),
        esc(&heading),
        esc(&heading)
    );
    for s in sections {
        let _ = write!(out, "<h2>{}</h2>", esc(&s.heading));
        if s.lines.is_empty() {
            continue;
        }
        out.push_str("<ul>");
        for l in s.lines {
            let _ = write!(
                out,
                "<li><strong>{}</strong> {}",
                esc(&l.lead),
                esc(&l.rest)
            );
            for (i, (label, url)) in l.actions.iter().enumerate() {
                let _ = write!(
                    out,
                    "{}<a href=\"{}\" style=\"font-weight:bold\">{}</a>",
                    if i == 0 { " — " } else { " · " },
                    esc(url),
                    esc(label)
                );
            }
            if !l.sub.is_empty() {
                out.push_str("<br>");
                out.push_str(
                    &l.sub
                        .iter()
                        .map(|s| esc(s))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                );
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    if !d.is_quiet() {
        let _ = write!(out, "<p>{}</p>", esc(&t.csv_note));
    }
    out.push_str("</body></html>");
    out
}

/// The CSV attachment: the entries, with whether each is new or updated,
/// whether it may repeat an earlier digest, what changed and the records it
/// shares a contact with, then the export's columns.
pub fn csv(d: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = crate::export::csv_writer(&mut out);
        let mut header = vec!["status", "may_repeat", "changes", "shares_contact_with"];
        header.extend(export::columns());
        let _ = w.write_record(&header);
        for e in d.entries() {
            let links: Vec<String> = e
                .links
                .iter()
                .map(|l| format!("{} {}", l.contact.name(), l.id))
                .collect();
            let mut row = vec![
                if e.is_new { "new" } else { "updated" }.to_owned(),
                if e.may_repeat { "yes" } else { "" }.to_owned(),
                neutralize(&changes(e)),
                neutralize(&links.join("; ")),
            ];
            row.extend(export::row(&e.person));
            let _ = w.write_record(&row);
        }
        let _ = w.flush();
    }
    out
}

/// The whole message.
pub fn message(d: &Digest, strings: &Strings, config: &DigestConfig) -> Result<Message, String> {
    let date = local(d.until, &config.time_zone, "%Y-%m-%d");
    let subject = fill(
        &strings.digest.subject,
        &[("date", &date), ("network", &config.network)],
    );
    let mut builder = Message::builder()
        .from(config.from.clone())
        .subject(line(&subject));
    for to in &config.to {
        builder = builder.to(to.clone());
    }
    let text_part = text(d, strings, config);
    let html_part = html(d, strings, config);
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(text_part))
        .singlepart(SinglePart::html(html_part));
    let content_type = ContentType::parse("text/csv; charset=utf-8").map_err(|e| e.to_string())?;
    let attachment =
        Attachment::new(format!("digest-{date}.csv")).body(csv(d), content_type.clone());
    let cases = Attachment::new(format!("cases-{date}.csv")).body(cases_csv(d), content_type);
    builder
        .multipart(
            MultiPart::mixed()
                .multipart(body)
                .singlepart(attachment)
                .singlepart(cases),
        )
        .map_err(|e| e.to_string())
}

/// The second CSV attachment: every case that is not closed, with who asked,
/// how long it has waited or run, the volunteer, and today's suggestion.
pub fn cases_csv(d: &Digest) -> Vec<u8> {
    let board = &d.board;
    let suggested: std::collections::HashMap<&str, &Person> = board
        .suggested
        .iter()
        .map(|s| (s.case.case.id.as_str(), &s.volunteer))
        .collect();
    let mut out = Vec::new();
    {
        let mut w = crate::export::csv_writer(&mut out);
        let _ = w.write_record([
            "case",
            "kind",
            "state",
            "days",
            "asked_again_after",
            "network_pays",
            "person_id",
            "name",
            "zip",
            "volunteer_id",
            "volunteer",
            "suggested_volunteer_id",
            "suggested_volunteer",
            "still_going",
        ]);
        let views = board
            .waiting
            .iter()
            .chain(&board.waiting_money)
            .map(|c| (c, None, false))
            .chain(
                board
                    .offered
                    .iter()
                    .chain(&board.active)
                    .map(|a| (&a.case, a.volunteer.as_ref(), a.still_going)),
            );
        for (c, volunteer, still_going) in views {
            let suggestion = suggested.get(c.case.id.as_str());
            let row = [
                c.case.id.clone(),
                c.case.kind.name().to_owned(),
                c.case.state.name().to_owned(),
                c.days.to_string(),
                c.case
                    .asked_again_after
                    .map(export::time)
                    .unwrap_or_default(),
                if c.network_pays { "yes" } else { "" }.to_owned(),
                c.case.person_id.clone(),
                c.person
                    .as_ref()
                    .map(|p| name(p).to_owned())
                    .unwrap_or_default(),
                c.person
                    .as_ref()
                    .map(|p| zip_of(p).to_owned())
                    .unwrap_or_default(),
                c.case.volunteer_id.clone().unwrap_or_default(),
                volunteer.map(|v| name(v).to_owned()).unwrap_or_default(),
                suggestion.map(|v| v.id.clone()).unwrap_or_default(),
                suggestion.map(|v| name(v).to_owned()).unwrap_or_default(),
                if still_going { "yes" } else { "" }.to_owned(),
            ];
            let _ = w.write_record(row.iter().map(|c| neutralize(c)));
        }
        let _ = w.flush();
    }
    out
}
