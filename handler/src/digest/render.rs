//! The digest in words: a plain-text part, an HTML part and a CSV attachment,
//! in one `lettre` message. Every value people typed is made safe for where
//! it goes: control characters become spaces in text, HTML is escaped, CSV
//! cells are neutralised, and no value ever reaches a header (the subject is
//! only a date; sender and recipients come from configuration).

use std::fmt::Write;

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use mutualaid_forms::zips;
use mutualaid_site::strings::{DigestTexts, Strings};

use super::{Digest, DigestConfig, Entry};
use crate::export::{self, neutralise};
use crate::store::{Counter, Person, Submission, Timestamp};

/// A value as one safe line: control characters (CR, LF, tabs…) become spaces.
pub fn line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn esc(value: &str) -> String {
    html_escape::encode_quoted_attribute(&line(value)).into_owned()
}

/// Fills `{name}` placeholders.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

fn local(t: Timestamp, tz: &str, format: &str) -> String {
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
        Some(z) => format!("{zip} {}", z.neighborhood.unwrap_or(z.city)),
        None => zip.to_owned(),
    }
}

/// One person's details as label/value pairs, in the organizers' words.
fn details(person: &Person, t: &DigestTexts) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match &person.submission {
        Submission::Signup(s) => {
            let method = format!("{:?}", s.contact_method).to_lowercase();
            let mut reach = Vec::new();
            if let Some(phone) = &s.phone {
                reach.push(phone.clone());
            }
            if let Some(email) = &s.email {
                reach.push(email.clone());
            }
            out.push((
                t.reach.clone(),
                format!("{} ({} {method})", reach.join(", "), t.prefers),
            ));
            out.push((t.roles.clone(), s.roles.join(", ")));
            if !s.languages.is_empty() {
                out.push((t.languages.clone(), s.languages.join(", ")));
            }
            if let Some(a) = &s.availability {
                out.push((t.availability.clone(), a.clone()));
            }
            if s.has_car {
                out.push((t.has_car.clone(), "✓".into()));
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
            out.push((t.reach.clone(), reach.join(", ")));
            let freq = match d.frequency {
                mutualaid_forms::validate::Frequency::Once => &t.once,
                mutualaid_forms::validate::Frequency::Monthly => &t.monthly,
            };
            let mut how = freq.clone();
            if let Some(a) = d.amount {
                how = format!("{how}, {}", fill(&t.amount, &[("amount", &a.to_string())]));
            }
            out.push((String::new(), how));
            if let Some(m) = &d.message {
                out.push((t.message.clone(), m.clone()));
            }
        }
    }
    out
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
    let contact = match link.contact.as_str() {
        "phone" => &t.a_phone,
        _ => &t.an_email,
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

fn counter_label(counter: Counter, t: &DigestTexts) -> &str {
    match counter {
        Counter::Created => &t.counter_created,
        Counter::Updated => &t.counter_updated,
        Counter::Unchanged => &t.counter_unchanged,
        Counter::Rejected => &t.counter_rejected,
        Counter::Honeypot => &t.counter_honeypot,
        Counter::RateLimited => &t.counter_rate_limited,
    }
}

/// The sections, as (heading, lines), in the order organizers read them:
/// who needs attention first.
struct Section {
    heading: String,
    lines: Vec<Line>,
}

/// A line: a lead (a name or label), then the rest, then sub-lines.
struct Line {
    lead: String,
    rest: String,
    sub: Vec<String>,
}

fn sections(d: &Digest, t: &DigestTexts, config: &DigestConfig) -> (String, Vec<Section>) {
    let tz = &config.time_zone;
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
    let miles = format!("{}", config.pairing.max_miles);
    let cap = config.pairing.cap.to_string();
    let attention: Vec<Line> = d
        .pairing
        .nobody_near
        .iter()
        .map(|i| (*i, fill(&t.nobody_near, &[("miles", &miles)])))
        .chain(
            d.pairing
                .all_busy
                .iter()
                .map(|i| (*i, fill(&t.all_busy, &[("cap", &cap)]))),
        )
        .map(|(i, why)| {
            let p = &d.requesters[i];
            Line {
                lead: line(name(p)),
                rest: format!("{} — {why}", area_name(zip_of(p))),
                sub: details(p, t)
                    .into_iter()
                    .take(1)
                    .map(|(k, v)| format!("{k}: {}", line(&v)))
                    .collect(),
            }
        })
        .collect();
    if !attention.is_empty() {
        out.push(Section {
            heading: t.attention.clone(),
            lines: attention,
        });
    }
    if !d.is_quiet() {
        let [shoppers, delivery, money] = d.role_totals;
        out.push(Section {
            heading: t.totals.clone(),
            lines: [
                (shoppers, &t.role_shopper),
                (delivery, &t.role_delivery),
                (money, &t.role_money),
                (d.donations.len(), &t.donations),
            ]
            .into_iter()
            .map(|(n, what)| Line {
                lead: n.to_string(),
                rest: what.clone(),
                sub: vec![],
            })
            .collect(),
        });
        let pairs: Vec<Line> = d
            .pairing
            .pairs
            .iter()
            .map(|p| {
                let (r, v) = (&d.requesters[p.requester], &d.volunteers[p.volunteer]);
                let mut text = fill(
                    &t.pairing,
                    &[
                        ("requester", &line(name(r))),
                        ("requester_area", &area_name(zip_of(r))),
                        ("volunteer", &line(name(v))),
                        ("volunteer_area", &area_name(zip_of(v))),
                        ("miles", &format!("{:.1}", p.miles)),
                    ],
                );
                if !p.shared_language {
                    text = format!("{text} ({})", t.no_shared_language);
                }
                Line {
                    lead: String::new(),
                    rest: text,
                    sub: vec![],
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
                }]
            } else {
                pairs
            },
        });
        for (zip, entries) in &d.by_area {
            out.push(Section {
                heading: format!("{} — {} ({})", t.by_area, area_name(zip), entries.len()),
                lines: entries.iter().map(|e| entry_line(e, t)).collect(),
            });
        }
        if !d.donations.is_empty() {
            out.push(Section {
                heading: t.donation_interest.clone(),
                lines: d.donations.iter().map(|e| entry_line(e, t)).collect(),
            });
        }
    }
    let mut report: Vec<Line> = d
        .counters
        .iter()
        .map(|(c, n)| Line {
            lead: n.to_string(),
            rest: counter_label(*c, t).to_owned(),
            sub: vec![],
        })
        .collect();
    report.push(Line {
        lead: d.unreadable.len().to_string(),
        rest: t.counter_unreadable.clone(),
        sub: if d.unreadable.is_empty() {
            vec![]
        } else {
            vec![d.unreadable.join(", ")]
        },
    });
    if d.deferred > 0 {
        report.push(Line {
            lead: d.deferred.to_string(),
            rest: t.deferred.clone(),
            sub: vec![],
        });
    }
    out.push(Section {
        heading: t.self_report.clone(),
        lines: report,
    });
    (heading, out)
}

fn entry_line(e: &Entry, t: &DigestTexts) -> Line {
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
    for link in &e.links {
        sub.push(format!("⚑ {}", line(&link_text(link, t))));
    }
    sub.extend(details(&e.person, t).into_iter().map(|(k, v)| {
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
        let mut w = csv::Writer::from_writer(&mut out);
        let mut header = vec!["status", "may_repeat", "changes", "shares_contact_with"];
        header.extend(export::columns());
        let _ = w.write_record(&header);
        for e in d.entries() {
            let links: Vec<String> = e
                .links
                .iter()
                .map(|l| format!("{} {}", l.contact, l.id))
                .collect();
            let mut row = vec![
                if e.is_new { "new" } else { "updated" }.to_owned(),
                if e.may_repeat { "yes" } else { "" }.to_owned(),
                neutralise(&changes(e)),
                neutralise(&links.join("; ")),
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
    let subject = fill(&strings.digest.subject, &[("date", &date)]);
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
    let attachment = Attachment::new(format!("digest-{date}.csv")).body(csv(d), content_type);
    builder
        .multipart(MultiPart::mixed().multipart(body).singlepart(attachment))
        .map_err(|e| e.to_string())
}
