//! Nobody is lost between the form and the organizers, tried as people (and
//! a hostile stranger) would, through both ways in: `mutualaid serve` as a
//! process on SQLite, and the real `submit` Lambda binary under the Runtime
//! API emulator on DynamoDB (moto). The same scenario runs against each:
//!
//! - Maria and Jose share a phone: two records, Maria's notes intact;
//! - a post with only Rosa's email leaves her record as it was and creates
//!   a linked one;
//! - an update with fewer fields keeps the earlier values; an identical
//!   resubmission changes nothing but is logged by its reference;
//! - JSON answers are identical in shape and status for a known and an
//!   unknown address;
//! - a cross-site plain form post is refused and not stored.

use std::process::{Child, Stdio};

use mutualaid_handler::store::dynamo::DynamoStore;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{LogEntry, Outcome, Person, Submission};
use mutualaid_tests::{aws, lambda};
use serde_json::{Value, json};

/// What came back: status, `Location`, body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A way in: posts a body to `/api/signup` with extra headers, and reads
/// the store behind it.
trait Intake {
    async fn post(&self, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Answer;
    async fn people(&self) -> Vec<Person>;
    async fn log(&self) -> Vec<LogEntry>;
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_form<I: Intake>(intake: &I, pairs: &[(&str, &str)]) -> Answer {
    intake
        .post("application/x-www-form-urlencoded", &form(pairs), &[])
        .await
}

async fn post_json<I: Intake>(intake: &I, body: &Value) -> Answer {
    intake
        .post("application/json", &body.to_string(), &[])
        .await
}

fn signup_of(p: &Person) -> &mutualaid_forms::Signup {
    match &p.submission {
        Submission::Signup(s) => s,
        Submission::Donate(_) => panic!("a sign-up"),
    }
}

async fn by_name<I: Intake>(intake: &I, name: &str) -> Vec<Person> {
    intake
        .people()
        .await
        .into_iter()
        .filter(|p| p.submission.name() == name)
        .collect()
}

/// A JSON answer's shape: its keys and status.
fn shape(answer: &Answer) -> (u16, Vec<String>, Value) {
    let v = answer.json();
    (
        answer.status,
        v.as_object().expect("an object").keys().cloned().collect(),
        v["status"].clone(),
    )
}

async fn scenario<I: Intake>(intake: &I) {
    // Maria asks for groceries; Jose, on her phone, volunteers.
    let maria = [
        ("name", "Maria Abuela"),
        ("phone", "619-555-0199"),
        ("contact_method", "phone"),
        ("zip", "92105"),
        ("roles", "delivery"),
        ("notes", "diabetic, 3rd floor no elevator"),
        ("consent", "on"),
        ("lang", "es"),
    ];
    assert_eq!(post_form(intake, &maria).await.status, 303);
    let jose = [
        ("name", "Jose"),
        ("email", "jose@example.org"),
        ("phone", "(619) 555-0199"),
        ("contact_method", "email"),
        ("zip", "92105"),
        ("roles", "shopper"),
        ("consent", "on"),
        ("lang", "es"),
    ];
    assert_eq!(post_form(intake, &jose).await.status, 303);
    let maria_record = by_name(intake, "Maria Abuela").await;
    assert_eq!(maria_record.len(), 1, "Maria is one record");
    let m = signup_of(&maria_record[0]);
    assert_eq!(m.notes.as_deref(), Some("diabetic, 3rd floor no elevator"));
    assert_eq!(m.roles, ["delivery"]);
    assert_eq!(maria_record[0].version, 1, "Jose did not update Maria");
    let jose_record = by_name(intake, "Jose").await;
    assert_eq!(jose_record.len(), 1, "Jose is his own record");
    assert_ne!(jose_record[0].id, maria_record[0].id);

    // Rosa; then a stranger who knows only her email.
    let rosa = json!({"name": "Rosa Marquez", "email": "rosa@example.org", "phone": "619 555 0142",
        "contact_method": "email", "zip": "92105", "roles": ["delivery"], "neighborhood": "City Heights",
        "languages": ["es"], "notes": "gluten free", "consent": true});
    let first = post_json(intake, &rosa).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let rosa_before = by_name(intake, "Rosa Marquez").await;
    assert_eq!(rosa_before.len(), 1);
    let stranger = json!({"name": "Mallory", "email": "rosa@example.org", "contact_method": "email",
        "zip": "92113", "roles": ["delivery"], "consent": true});
    let probe = post_json(intake, &stranger).await;
    assert_eq!(
        by_name(intake, "Rosa Marquez").await,
        rosa_before,
        "Rosa's record is as it was"
    );
    assert_eq!(
        by_name(intake, "Mallory").await.len(),
        1,
        "a new record, linked by the email"
    );

    // The same answer for a known and an unknown address.
    let mut unknown = stranger.clone();
    unknown["email"] = json!("nobody-here@example.org");
    let not_on_record = post_json(intake, &unknown).await;
    assert_eq!(shape(&probe), shape(&not_on_record));
    assert_eq!(
        shape(&probe),
        (
            201,
            vec!["reference".to_owned(), "status".to_owned()],
            json!("received")
        )
    );
    assert_eq!(shape(&first), shape(&probe), "new or not, the same");

    // Identical again: nothing changes, but the submission is logged by its reference.
    let again = post_json(intake, &rosa).await;
    assert_eq!(shape(&again), shape(&first));
    assert_eq!(by_name(intake, "Rosa Marquez").await, rosa_before);
    let reference = again.json()["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let log = intake.log().await;
    let entry = log
        .iter()
        .find(|e| e.reference == reference)
        .expect("the identical resubmission is in the log");
    assert_eq!(
        (entry.outcome, entry.person_id.as_str()),
        (Outcome::Unchanged, rosa_before[0].id.as_str())
    );

    // Fewer fields and a new ZIP: the ZIP changes, nothing else is erased.
    let fewer = json!({"name": "ROSA  marquez", "email": "rosa@example.org", "contact_method": "email",
        "zip": "92115", "roles": ["delivery"], "consent": true});
    assert_eq!(post_json(intake, &fewer).await.status, 201);
    let rosa_after = by_name(intake, "ROSA  marquez").await;
    assert_eq!(
        rosa_after.len(),
        1,
        "the same person in capitals and with two spaces"
    );
    assert_eq!(rosa_after[0].id, rosa_before[0].id);
    let r = signup_of(&rosa_after[0]);
    assert_eq!(r.zip, "92115");
    assert_eq!(r.phone.as_deref(), Some("+16195550142"));
    assert_eq!(r.neighborhood.as_deref(), Some("City Heights"));
    assert_eq!(r.languages, ["es"]);
    assert_eq!(r.notes.as_deref(), Some("gluten free"));
    assert_eq!(rosa_after[0].version, 2);

    // A plain form posted from another site: refused, nothing stored.
    let count = intake.people().await.len();
    let forged = form(&[
        ("name", "Forged Person"),
        ("email", "forged@example.org"),
        ("contact_method", "email"),
        ("zip", "92105"),
        ("roles", "delivery"),
        ("consent", "on"),
        ("lang", "es"),
    ]);
    for headers in [
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ],
        vec![("origin", "https://evil.example")],
    ] {
        let refused = intake
            .post("application/x-www-form-urlencoded", &forged, &headers)
            .await;
        assert_eq!(refused.status, 403, "{headers:?}");
        assert!(
            refused
                .body
                .contains("Este formulario llegó desde otro sitio web"),
            "in the page's language: {}",
            refused.body
        );
        assert!(refused.location.is_none());
    }
    assert_eq!(intake.people().await.len(), count, "nothing stored");
}

// ------------------------------------------------------------------ serve

struct Serve {
    server: mutualaid_tests::serve::Server,
    store: SqliteStore,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().expect("tmp");
        let content = dir.path().join("content");
        mutualaid_tests::copy_tree(&mutualaid_tests::real_content(), &content);
        let data = dir.path().join("data");
        let server = mutualaid_tests::serve::serve_site(&content, dir.path(), &[], Stdio::null());
        let store = SqliteStore::open(&data.join("mutualaid.sqlite3")).expect("the store");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Serve {
            server,
            store,
            agent,
            _dir: dir,
        }
    }
}

impl Intake for Serve {
    async fn post(&self, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self
            .agent
            .post(format!("{}/api/signup", self.server.base))
            .header("content-type", content_type);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = request.send(body).expect("serve answers");
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }
    async fn people(&self) -> Vec<Person> {
        self.store.everyone().await.expect("read").people
    }
    async fn log(&self) -> Vec<LogEntry> {
        self.store.submissions().await.expect("read")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_serve_nobody_is_merged_overwritten_or_told_who_is_on_record() {
    let serve = Serve::start();
    scenario(&serve).await;
    // The site's own origin, by either loopback name, is accepted.
    let port = serve
        .server
        .base
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    for (origin, host) in [
        (serve.server.base.clone(), format!("127.0.0.1:{port}")),
        (
            format!("http://localhost:{port}"),
            format!("localhost:{port}"),
        ),
    ] {
        let answer = serve
            .post(
                "application/x-www-form-urlencoded",
                &form(&[
                    ("name", "Local Person"),
                    ("email", "local@example.org"),
                    ("contact_method", "email"),
                    ("zip", "92105"),
                    ("roles", "shopper"),
                    ("consent", "on"),
                ]),
                &[
                    ("origin", &origin),
                    ("host", &host),
                    ("sec-fetch-site", "same-origin"),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{origin}: {}", answer.body);
    }
}

// ----------------------------------------------------------------- Lambda

struct Lambda {
    emulator: lambda::Emulator,
    store: DynamoStore,
    child: Child,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Intake for Lambda {
    async fn post(&self, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
        let mut event = lambda::http_event(false, "/api/signup", content_type, body, "203.0.113.7");
        for (k, v) in headers {
            event["headers"][*k] = json!(v);
        }
        let (is_error, answer) = self.emulator.invoke(event).await;
        assert!(!is_error, "{answer}");
        Answer {
            status: answer["statusCode"].as_u64().expect("a status") as u16,
            location: answer["headers"]["location"].as_str().map(str::to_owned),
            body: answer["body"].as_str().unwrap_or_default().to_owned(),
        }
    }
    async fn people(&self) -> Vec<Person> {
        self.store.everyone().await.expect("read").people
    }
    async fn log(&self) -> Vec<LogEntry> {
        self.store.submissions().await.expect("read")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_submit_lambda_nobody_is_merged_overwritten_or_told_who_is_on_record() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "intake").await;
    aws::edge_secret(&endpoint).await;
    let emulator = lambda::start().await;
    let child = crate::aws::start_submit(crate::aws::submit_env(&emulator.address, &table));
    let lambda = Lambda {
        emulator,
        store,
        child,
    };
    scenario(&lambda).await;
    // The site's own origin (CloudFront forwards to the API's host) is accepted.
    let answer = lambda
        .post(
            "application/x-www-form-urlencoded",
            &form(&[
                ("name", "Site Person"),
                ("email", "site@example.org"),
                ("contact_method", "email"),
                ("zip", "92105"),
                ("roles", "shopper"),
                ("consent", "on"),
            ]),
            &[("origin", crate::handler::ORIGIN)],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}
