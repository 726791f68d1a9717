//! The organizers' digest rendered from arbitrary records — every text
//! field of every record any text, as a record stored before validation
//! refused display controls, or damaged, would hold. The text, HTML and
//! CSV parts must carry no display control that came from the input
//! (bidi embeddings, overrides, isolates and marks, tag characters, line
//! and paragraph separators, C0 and C1 controls: only the line breaks the renderer
//! writes itself); the text and HTML parts must read the same as for the
//! input with those characters turned into spaces (so no input line break
//! starts a line of its own); and the HTML part's tags must all be the
//! renderer's, balanced.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mutualaid_forms::validate::ContactMethod;
use mutualaid_forms::{Lang, Role, Signup};
use mutualaid_handler::digest::board::{self, BoardInput};
use mutualaid_handler::digest::pairing::PairingConfig;
use mutualaid_handler::digest::{self, DigestConfig, Entry, Link, render};
use mutualaid_handler::store::{Case, CaseKind, ContactKind, Person, Submission};
use mutualaid_site::strings::Strings;

const NOW: i64 = 1_790_000_000;

fn strings() -> &'static Strings {
    static STRINGS: OnceLock<Strings> = OnceLock::new();
    STRINGS.get_or_init(|| {
        let content = concat!(env!("CARGO_MANIFEST_DIR"), "/../../content");
        let site = mutualaid_site::Site::load(std::path::Path::new(content)).expect("the real content");
        site.strings.get("en").cloned().expect("English")
    })
}

fn config() -> DigestConfig {
    DigestConfig {
        network: "Network".into(),
        from: "Digest <digest@example.org>".parse().expect("from"),
        to: vec!["organizers@example.org".parse().expect("to")],
        lang: Lang::EN,
        time_zone: "America/Los_Angeles".into(),
        pairing: PairingConfig::default(),
        review_days: 14,
        links: None,
    }
}

/// A character that steers display and must never come through.
fn forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{2028}'
            | '\u{2029}'
    ) || (c.is_control() && c != '\n' && c != '\r')
}

/// The input with every display control a space (line breaks, tabs) or
/// gone (the rest): what the renderer must make of it anyway.
fn cleaned(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => Some(' '),
            c if mutualaid_forms::normalize::is_display_control(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Up to six records from the bytes: fields split at 0xFF (never in UTF-8).
fn people(data: &[u8], clean: bool) -> Vec<Person> {
    let mut fields = data.split(|b| *b == 0xFF).map(|f| {
        let text = String::from_utf8_lossy(f).into_owned();
        if clean { cleaned(&text) } else { text }
    });
    let mut out = Vec::new();
    for i in 0..6 {
        let (Some(name), Some(email), Some(zip), Some(notes), Some(hood)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        let roles = match i % 3 {
            0 => vec![Role::Delivery, Role::Money],
            1 => vec![Role::Shopper],
            _ => vec![Role::Delivery],
        };
        out.push(Person {
            id: format!("0190000{i}"),
            submission: Submission::Signup(Signup {
                name,
                email: Some(email),
                phone: None,
                contact_method: ContactMethod::Email,
                zip: if i % 2 == 0 { "92105".into() } else { zip },
                neighborhood: Some(hood),
                roles,
                languages: vec!["en".into()],
                availability: fields.next(),
                has_car: i % 2 == 1,
                households: (i % 2 == 1).then_some(2),
                household_size: Some(2),
                notes: Some(notes),
                lang: Lang::EN,
            }),
            identities: Vec::new(),
            created_at: NOW - 86_400 * i as i64,
            updated_at: NOW - 3_600 * i as i64,
            version: 1,
            reported_version: 0,
            expires_at: NOW + 86_400 * 30,
            former_contacts: Vec::new(),
            pending_contact: None,
            verified_email: None,
        });
    }
    out
}

fn render(people: &[Person]) -> (String, String, Vec<u8>, Vec<u8>) {
    let cases: Vec<Case> = people
        .iter()
        .flat_map(|p| {
            CaseKind::ALL
                .into_iter()
                .filter(|k| p.submission.asks_for(*k))
                .map(|k| Case::open(&p.id, k, p.created_at, None, p.expires_at))
                .map(|mut c| {
                    c.id = format!("{}.{}", p.id, c.kind.name()); // the same for both renderings
                    c
                })
        })
        .collect();
    let entries: Vec<Entry> = people
        .iter()
        .enumerate()
        .map(|(i, p)| Entry {
            person: p.clone(),
            is_new: i % 2 == 0,
            changes: Vec::new(),
            may_repeat: i == 3,
            links: people
                .iter()
                .filter(|o| o.id != p.id)
                .take(1)
                .map(|o| Link {
                    contact: ContactKind::Email,
                    id: o.id.clone(),
                    other: Some((o.submission.name().to_owned(), String::new())),
                    same_name: false,
                    merged: false,
                })
                .collect(),
        })
        .collect();
    let config = config();
    // Each volunteer's load as the store would count it: their matches.
    let mut loads: std::collections::HashMap<String, u64> = Default::default();
    for volunteer in cases.iter().filter_map(Case::holds_volunteer) {
        *loads.entry(volunteer.to_owned()).or_default() += 1;
    }
    let board = board::board(&BoardInput {
        everyone: people,
        newer: &[],
        cases: &cases,
        standings: &[],
        actions: &[],
        now: NOW,
        pairing: config.pairing,
        review_days: config.review_days,
        loads: &loads,
    });
    let digest = digest::build(entries, board, Vec::new(), Some(NOW - 86_400), NOW);
    (
        render::text(&digest, strings(), &config),
        render::html(&digest, strings(), &config),
        render::csv(&digest),
        render::cases_csv(&digest),
    )
}

/// Every `<` opens one of the renderer's tags, and each such tag that has
/// an end is closed as often as it is opened.
fn tags_are_ours_and_balanced(html: &str) {
    const TAGS: &[&str] = &[
        "!doctype", "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3",
        "p", "ul", "ol", "li", "a", "strong", "em", "b", "small", "span", "div", "table", "tr",
        "td", "th", "thead", "tbody", "br", "hr", "section", "header", "footer",
    ];
    const VOID: &[&str] = &["!doctype", "meta", "br", "hr"];
    let mut opened = std::collections::HashMap::<&str, i64>::new();
    for (at, _) in html.match_indices('<') {
        let rest = &html[at + 1..];
        let closing = rest.starts_with('/');
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect::<String>()
            .to_ascii_lowercase();
        let tag = TAGS
            .iter()
            .find(|t| **t == name)
            .unwrap_or_else(|| panic!("a tag the renderer never writes: <{}", &rest[..rest.len().min(40)]));
        if !VOID.contains(tag) {
            *opened.entry(tag).or_default() += if closing { -1 } else { 1 };
        }
    }
    for (tag, n) in opened {
        assert_eq!(n, 0, "<{tag}> opened and closed unequally");
    }
}

fuzz_target!(|data: &[u8]| {
    let raw = people(data, false);
    if raw.is_empty() {
        return;
    }
    let (text, html, csv, cases_csv) = render(&raw);
    for (part, out) in [
        ("text", text.as_str()),
        ("html", html.as_str()),
        ("csv", &String::from_utf8_lossy(&csv)),
        ("cases csv", &String::from_utf8_lossy(&cases_csv)),
    ] {
        if let Some((at, c)) = out.char_indices().find(|(_, c)| forbidden(*c)) {
            let line = out[..at].rsplit('\n').next().unwrap_or("");
            panic!("the {part} part carries {c:?}, after {line:?}");
        }
    }
    tags_are_ours_and_balanced(&html);
    let (clean_text, clean_html, _, _) = render(&people(data, true));
    assert_eq!(text, clean_text, "the text part reads as if the controls were spaces");
    assert_eq!(html, clean_html, "the HTML part reads as if the controls were spaces");
});
