//! Benchmark of the digest: 50,000 sign-ups on record, of which 5,000 new
//! requests for groceries or money and 2,000 volunteer shoppers, across the
//! county's ZIP codes. Times building the digest (grouping and the optimal
//! capped pairing) and rendering it (text, HTML, CSV, the MIME message).
//!
//! Run: `cargo run --release -p mutualaid-handler --example digest_bench`

use std::time::Instant;

use mutualaid_forms::validate::ContactMethod;
use mutualaid_forms::{Lang, Signup, zips};
use mutualaid_handler::digest::pairing::PairingConfig;
use mutualaid_handler::digest::{self, DigestConfig, render};
use mutualaid_handler::store::{Counter, Person, Submission};

const NOW: i64 = 1_795_723_200;

fn person(i: usize, roles: &[&str], at: i64, seed: &mut u64) -> Person {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let all = zips::all();
    let zip = all[(*seed % all.len() as u64) as usize].code;
    let langs: &[&str] = match *seed % 4 {
        0 => &["en"],
        1 => &["es"],
        2 => &["en", "es"],
        _ => &["vi"],
    };
    Person {
        id: format!("{i:08}"),
        submission: Submission::Signup(Signup {
            name: format!("Person {i}"),
            email: Some(format!("p{i}@example.org")),
            phone: None,
            contact_method: ContactMethod::Email,
            zip: zip.to_owned(),
            neighborhood: None,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            languages: langs.iter().map(|l| (*l).to_owned()).collect(),
            availability: None,
            has_car: false,
            household_size: Some(2),
            notes: Some("Vegetarian; please knock".into()),
            lang: Lang::En,
        }),
        identities: vec![],
        created_at: at,
        updated_at: at,
        version: 1,
        reported_version: 0,
        expires_at: at + 365 * 86_400,
    }
}

fn main() {
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut everyone = Vec::with_capacity(50_000);
    for i in 0..2_000 {
        everyone.push(person(i, &["shopper"], NOW - 30 * 86_400, &mut seed));
    }
    for i in 2_000..45_000 {
        everyone.push(person(i, &["delivery"], NOW - 10 * 86_400, &mut seed));
    }
    for i in 45_000..50_000 {
        let roles: &[&str] = if i % 2 == 0 {
            &["delivery"]
        } else {
            &["money", "delivery"]
        };
        everyone.push(person(i, roles, NOW - 3_600, &mut seed));
    }
    let changed: Vec<digest::Entry> = everyone[45_000..]
        .iter()
        .map(|person| digest::Entry {
            person: person.clone(),
            is_new: true,
            changes: vec![],
            may_repeat: false,
            links: vec![],
        })
        .collect();
    let counters: Vec<(Counter, u64)> = Counter::ALL.iter().map(|c| (*c, 100)).collect();
    let content = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
    let site = mutualaid_site::Site::load(&content).expect("content");
    let strings = &site.strings["en"];
    let config = DigestConfig {
        from: "digest@example.org".parse().expect("from"),
        to: vec!["organizers@example.org".parse().expect("to")],
        lang: Lang::En,
        time_zone: "America/Los_Angeles".into(),
        pairing: PairingConfig::default(),
    };

    let runs = 5;
    let mut build_ms = Vec::new();
    let mut render_ms = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let d = digest::build(
            changed.clone(),
            &everyone,
            counters.clone(),
            Some(NOW - 86_400),
            NOW,
            config.pairing,
        );
        build_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let message = render::message(&d, strings, &config).expect("message");
        let bytes = message.formatted().len();
        render_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        last = Some((d, bytes));
    }
    let (d, bytes) = last.expect("ran");
    build_ms.sort_by(f64::total_cmp);
    render_ms.sort_by(f64::total_cmp);
    println!(
        "digest of {} sign-ups on record: {} requests in this digest, {} volunteers",
        everyone.len(),
        d.requesters.len(),
        d.volunteers.len()
    );
    println!(
        "pairs suggested: {}; nobody within {} mi: {}; all nearby volunteers busy: {}",
        d.pairing.pairs.len(),
        config.pairing.max_miles,
        d.pairing.nobody_near.len(),
        d.pairing.all_busy.len()
    );
    println!(
        "build (group + optimal pairing): median {:.1} ms (min {:.1}, max {:.1}) over {runs} runs",
        build_ms[runs / 2],
        build_ms[0],
        build_ms[runs - 1]
    );
    println!(
        "render (text + HTML + CSV + MIME): median {:.1} ms (min {:.1}, max {:.1}); message {} KiB",
        render_ms[runs / 2],
        render_ms[0],
        render_ms[runs - 1],
        bytes / 1024
    );
}
