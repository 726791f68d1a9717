//! The digest's summary on Discord, posted by `mutualaid digest
//! --discord-webhook` to a local HTTP server standing in for Discord's
//! webhook: counts and no personal data; a 429 waited out; a dead webhook
//! that stops nothing and shows up in the next digest.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use mutualaid_tests::serve::serve_site;
use mutualaid_tests::{fixture_site, latest_message, mutualaid_bin};

/// What the stand-in answers, in turn (the last answer repeats), and what
/// it was sent.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
    /// The JSON bodies posted, in order.
    pub(crate) received: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// Starts the stand-in on a free port; its webhook URL.
pub(crate) fn webhook(answers: &[(u16, &str)]) -> (String, Receiver) {
    let receiver = Receiver {
        answers: Arc::new(Mutex::new(
            answers.iter().map(|(s, b)| (*s, (*b).to_owned())).collect(),
        )),
        received: Arc::default(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!(
        "http://{}/api/webhooks/1234/secret-token",
        listener.local_addr().expect("address")
    );
    let state = receiver.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new().route(
                "/api/webhooks/1234/secret-token",
                axum::routing::post(move |body: String| {
                    let state = state.clone();
                    async move {
                        state
                            .received
                            .lock()
                            .expect("lock")
                            .push(serde_json::from_str(&body).expect("JSON from the poster"));
                        let mut answers = state.answers.lock().expect("lock");
                        let (status, body) = if answers.len() > 1 {
                            answers.pop_front().expect("an answer")
                        } else {
                            answers.front().cloned().expect("an answer")
                        };
                        (StatusCode::from_u16(status).expect("a status"), body)
                    }
                }),
            );
            axum::serve(listener, app).await.expect("serving");
        });
    });
    (url, receiver)
}

struct Person {
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    zip: &'static str,
    role: &'static str,
}

const PEOPLE: [Person; 4] = [
    Person {
        name: "Rosalind Okafor",
        email: "rosalind.okafor@example.org",
        phone: "6195550141",
        zip: "92105",
        role: "delivery",
    },
    Person {
        name: "Tomasz Wieczorek",
        email: "tomasz.w@example.org",
        phone: "6195550142",
        zip: "92105",
        role: "money",
    },
    Person {
        name: "Guadalupe Ibarra",
        email: "lupe.ibarra@example.org",
        phone: "6195550143",
        zip: "92105",
        role: "delivery",
    },
    Person {
        name: "Ezekiel Mwangi",
        email: "ezekiel.mwangi@example.org",
        phone: "6195550144",
        zip: "92113",
        role: "shopper",
    },
];

/// Signs people up through `mutualaid serve` on `site`'s data folder.
fn sign_up(site: &Path, people: &[Person]) {
    let server = serve_site(site, site, &[], Stdio::null());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for p in people {
        let body = serde_json::json!({
            "name": p.name, "email": p.email, "phone": p.phone,
            "contact_method": "phone", "zip": p.zip, "roles": [p.role], "consent": true,
        });
        let answer = agent
            .post(&format!("{}/api/signup", server.base))
            .header("content-type", "application/json")
            .send(body.to_string())
            .expect("an answer");
        assert_eq!(answer.status().as_u16(), 201);
    }
}

/// The text part of the newest digest in an outbox.
fn latest_text(outbox: &Path) -> String {
    let raw = latest_message(outbox);
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("a message");
    message
        .body_text(0)
        .expect("a text part")
        .replace("\r\n", "\n")
}

fn digest(site: &Path, webhook: Option<&str>) -> std::process::Output {
    let mut command = Command::new(mutualaid_bin());
    command
        .args(["digest", "--content"])
        .arg(site)
        .arg("--data")
        .arg(site.join("data"))
        .env_remove("MUTUALAID_DISCORD_WEBHOOK");
    if let Some(url) = webhook {
        command.args(["--discord-webhook", url]);
    }
    command.output().expect("mutualaid digest")
}

#[test]
fn the_summary_carries_counts_by_area_and_nothing_personal_and_waits_out_a_429() {
    let site = fixture_site();
    sign_up(site.path(), &PEOPLE);
    let (url, receiver) = webhook(&[
        (
            429,
            r#"{"message": "You are being rate limited.", "retry_after": 0.4, "global": false}"#,
        ),
        (204, ""),
    ]);
    let ran = digest(site.path(), Some(&url));
    let said = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(said.contains("Posted the summary to Discord"), "{said}");
    let received = receiver.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2, "tried again after the 429");
    assert_eq!(received[0], received[1], "the same summary both times");
    let content = received[1]["content"].as_str().expect("content");
    assert!(content.chars().count() <= 2_000);
    assert_eq!(
        received[1]["allowed_mentions"]["parse"],
        serde_json::json!([]),
        "no word in it can ping anyone"
    );
    assert!(
        content.contains("92105 City Heights: 3 asking for help, 0 volunteering"),
        "{content}"
    );
    assert!(
        content.contains(": 0 asking for help, fewer than 3 volunteering"),
        "one volunteer in 92113 is not counted exactly: {content}"
    );
    assert!(content.contains("Waiting for help: 3"), "{content}");
    assert!(content.contains("in the email"), "{content}");
    for p in &PEOPLE {
        for (what, value) in [("name", p.name), ("email", p.email), ("phone", p.phone)] {
            assert!(
                !content.contains(value),
                "a {what} in the summary: {content}"
            );
        }
        let first = p.name.split(' ').next().expect("a first name");
        assert!(
            !content.contains(first),
            "a first name in the summary: {content}"
        );
        assert!(
            !content.contains(&p.phone[6..]),
            "a phone's last digits: {content}"
        );
    }
    // The email carries the names, as always.
    let email = latest_text(&site.path().join("data/outbox"));
    assert!(email.contains("Rosalind Okafor"));
}

#[test]
fn a_dead_webhook_stops_no_email_and_the_next_digest_says_it_failed() {
    let site = fixture_site();
    sign_up(site.path(), &PEOPLE[..2]);
    let outbox = site.path().join("data/outbox");
    let (url, receiver) = webhook(&[(500, "")]);
    let ran = digest(site.path(), Some(&url));
    assert!(ran.status.success(), "{ran:?}");
    let warned = String::from_utf8_lossy(&ran.stderr);
    assert!(
        warned.contains("not posted to Discord (Discord answered 500)"),
        "{warned}"
    );
    assert!(
        !warned.contains("secret-token"),
        "the webhook's token stays secret: {warned}"
    );
    assert_eq!(receiver.received.lock().expect("lock").len(), 1);
    let first = latest_text(&outbox);
    assert!(first.contains("Rosalind Okafor"), "the email went out");

    // No webhook at all: the port is closed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        format!("http://{}/hook", l.local_addr().expect("address"))
    };
    sign_up(site.path(), &PEOPLE[2..3]);
    let ran = digest(site.path(), Some(&closed));
    assert!(ran.status.success(), "{ran:?}");
    std::thread::sleep(Duration::from_millis(1100)); // outbox names are by time
    let second = latest_text(&outbox);
    assert!(second.contains("Guadalupe Ibarra"), "the email went out");

    // The next digest's self-report counts both failures.
    std::thread::sleep(Duration::from_millis(1100));
    let ran = digest(site.path(), None);
    assert!(ran.status.success());
    let third = latest_text(&outbox);
    assert!(
        third.contains("No new sign-ups since"),
        "each failed post left its digest's bookkeeping done: {third}"
    );
    let failures = third
        .lines()
        .find(|l| l.contains("summaries that could not be posted to Discord"))
        .unwrap_or_else(|| panic!("the self-report names the failures: {third}"));
    assert!(
        failures.trim_start_matches(['-', ' ']).starts_with("2 "),
        "{failures}"
    );
}
