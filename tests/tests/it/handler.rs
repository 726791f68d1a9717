//! The handler's HTTP answers, in process (`tower::ServiceExt::oneshot` on the
//! same router Lambda and `serve` run), on a real SQLite store: every status
//! path for both encodings, the built forms posted as a person fills them,
//! resubmission, spam, hostile input, and logs without personal data.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use mutualaid_forms::{FormId, Kind};
use mutualaid_handler::domain::Retention;
use mutualaid_handler::http::{self, App, ClientAddr, HttpConfig, RateLimit};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_handler::store::{Counter, Submission};
use mutualaid_site::Site;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{html, sel, text_of};

pub const ORIGIN: &str = mutualaid_tests::lambda::SITE_ORIGIN;

pub struct Harness {
    pub router: Router,
    pub store: SqliteStore,
    pub site: Arc<Site>,
    /// Holds the database's folder for the harness's life.
    pub _dir: tempfile::TempDir,
}

impl Harness {
    /// Every counter of the self-report, all days together.
    pub async fn counts(&self) -> BTreeMap<Counter, u64> {
        self.store
            .counts("1970-01-01", "9999-12-31")
            .await
            .expect("counts")
            .into_iter()
            .collect()
    }
}

pub fn config(site: &Site, per_window: u64) -> HttpConfig {
    HttpConfig {
        thanks: HttpConfig::thanks_from_site(site),
        allowed_origins: vec![ORIGIN.to_owned()],
        rate_limit: RateLimit {
            per_window,
            window_secs: 600,
        },
        client_salt: "test-salt".into(),
        store_timeout: Duration::from_millis(500),
        retention: Retention { days: 30 },
        organizer_actions: None,
    }
}

pub fn harness(per_window: u64) -> Harness {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let site = Arc::new(Site::load(&mutualaid_tests::real_content()).expect("content"));
    let router = http::router(App {
        store: store.clone(),
        site: site.clone(),
        config: config(&site, per_window),
        clock: mutualaid_handler::clock::system_clock,
    });
    Harness {
        router,
        store,
        site,
        _dir: dir,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn request(path: &str, content_type: &str, body: impl Into<Body>, client: u8) -> Request<Body> {
    let mut request = Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("request");
    request
        .extensions_mut()
        .insert(ClientAddr(IpAddr::V4(Ipv4Addr::new(198, 51, 100, client))));
    request
}

pub async fn post_form(
    router: &Router,
    path: &str,
    pairs: &[(String, String)],
    client: u8,
) -> Answer {
    let body: String = form_body(pairs);
    send(
        router,
        request(path, "application/x-www-form-urlencoded", body, client),
    )
    .await
}

fn form_body(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn post_json(router: &Router, path: &str, body: &Value, client: u8) -> Answer {
    send(
        router,
        request(path, "application/json", body.to_string(), client),
    )
    .await
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn ana() -> Vec<(String, String)> {
    pairs(&[
        ("name", "Ana López"),
        ("email", "Ana@Example.org"),
        ("phone", "(619) 555-0123"),
        ("contact_method", "text"),
        ("zip", "92105"),
        ("roles", "shopper"),
        ("languages", "es"),
        ("consent", "on"),
        ("lang", "es"),
        ("website", ""),
    ])
}

/// What a person types into a field of the built form.
fn typed(name: &str) -> &'static str {
    match name {
        "name" => "Bea Person",
        "email" => "bea@example.org",
        "phone" => "619 555 0188",
        "zip" => "92115",
        "neighborhood" => "College Area",
        "availability" => "Weekends",
        "household_size" => "2",
        "amount" => "25",
        "notes" | "message" => "Thank you",
        _ => "something",
    }
}

/// Fills a built `<form>` as a person would: every text field, the first
/// choice of each group, every required box ticked, hidden fields as sent.
fn fill(form: &scraper::ElementRef) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chosen = std::collections::HashSet::new();
    for input in form.select(&sel("input, textarea")) {
        let e = input.value();
        let name = e.attr("name").expect("named").to_owned();
        match e.attr("type") {
            Some("hidden") => out.push((name, e.attr("value").unwrap_or_default().to_owned())),
            Some("radio") | Some("checkbox") if e.attr("value") != Some("on") => {
                if chosen.insert(name.clone()) {
                    out.push((name, e.attr("value").expect("a value").to_owned()));
                }
            }
            Some("checkbox") => out.push((name, "on".into())),
            _ if name == "website" => out.push((name, String::new())),
            _ => out.push((name.clone(), typed(&name).to_owned())),
        }
    }
    out
}

#[tokio::test]
async fn the_built_forms_filled_as_a_person_would_are_accepted_and_each_required_field_is_named_when_missing()
 {
    let h = harness(10_000);
    let built = crate::real_site();
    for lang in ["en", "es"] {
        for form in FormId::ALL {
            let page = built.site.form_page(form, lang).expect("form page");
            let text = std::fs::read_to_string(built.out().join(&page.output)).expect("built");
            let doc = html(&text);
            let element = doc.select(&sel("form")).next().expect("a form");
            let action = element.value().attr("action").expect("action").to_owned();
            let filled = fill(&element);
            let answer = post_form(&h.router, &action, &filled, 1).await;
            assert_eq!(
                answer.status,
                StatusCode::SEE_OTHER,
                "{lang} {}: {}",
                form.key(),
                answer.body
            );
            let thanks = built
                .site
                .page(&format!("{}/thanks.md", form.key()), lang)
                .expect("thanks page");
            assert_eq!(answer.headers[header::LOCATION], thanks.url.as_str());

            for field in form.fields().iter().filter(|f| f.required) {
                let without: Vec<(String, String)> = filled
                    .iter()
                    .filter(|(k, _)| k != field.name)
                    .cloned()
                    .collect();
                let answer = post_form(&h.router, &action, &without, 1).await;
                assert_eq!(
                    answer.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{lang} without {}",
                    field.name
                );
                let doc = html(&answer.body);
                let links: Vec<&str> = doc
                    .select(&sel(".error-summary a"))
                    .filter_map(|a| a.value().attr("href"))
                    .collect();
                let id = mutualaid_site::form_html::summary_target(field);
                assert_eq!(
                    links,
                    [format!("#{id}").as_str()],
                    "{lang}: only {} is named",
                    field.name
                );
                let message =
                    &h.site.strings[lang].forms[form.key()].fields[field.name].errors["required"];
                assert!(
                    answer.body.contains(message.as_str()),
                    "{lang}: the {lang} message for {}",
                    field.name
                );

                let mut json_body = serde_json::Map::new();
                for (k, v) in &without {
                    let repeat = form.field(k).is_some_and(|f| f.kind == Kind::Checkboxes);
                    json_body.insert(k.clone(), if repeat { json!([v]) } else { json!(v) });
                }
                let answer = post_json(&h.router, &action, &Value::Object(json_body), 1).await;
                assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
                let errors = answer.json()["errors"].as_object().expect("errors").clone();
                assert_eq!(
                    errors.keys().collect::<Vec<_>>(),
                    [field.name],
                    "JSON names only {}",
                    field.name
                );
                assert_eq!(errors[field.name][0]["code"], "required");
            }
        }
    }
    for lang in ["en", "es"] {
        for form in FormId::ALL {
            for field in form.fields() {
                for code in field.errors {
                    let message = h.site.strings[lang]
                        .form(form)
                        .fields
                        .get(field.name)
                        .and_then(|t| t.errors.get(*code));
                    assert!(
                        message.is_some_and(|m| !m.is_empty()),
                        "{lang}: {}.{} {code}",
                        form.key(),
                        field.name
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_plain_form_is_stored_then_answered_with_303_to_the_thank_you_page_in_its_language() {
    let h = harness(100);
    let mut form = ana();
    form.push(("next".into(), "https://evil.example/phish".into()));
    let answer = post_form(&h.router, "/api/signup", &form, 1).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers[header::LOCATION],
        "/es/signup/thanks/",
        "from configuration, never the request"
    );
    let people = h.store.everyone().await.expect("read").people;
    assert_eq!(people.len(), 1);
    let Submission::Signup(s) = &people[0].submission else {
        panic!("a sign-up")
    };
    assert_eq!(s.email.as_deref(), Some("ana@example.org"));
    assert_eq!(s.phone.as_deref(), Some("+16195550123"));
}

#[tokio::test]
async fn json_answers_the_same_for_new_updated_and_unchanged_with_a_reference_per_submission() {
    let h = harness(100);
    let body = json!({"name": "Cy", "email": "cy@example.org", "contact_method": "email", "zip": "92105",
                      "roles": ["delivery"], "household_size": 3, "consent": true, "lang": "en"});
    let mut moved = body.clone();
    moved["zip"] = json!("92115");
    let mut role = moved.clone();
    role["roles"] = json!(["shopper"]);
    let mut answers = Vec::new();
    for b in [&body, &body, &moved, &role] {
        let answer = post_json(&h.router, "/api/signup", b, 1).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let v = answer.json();
        let keys: Vec<&String> = v.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["reference", "status"], "one shape for every outcome");
        assert_eq!(v["status"], "received", "never created/updated/unchanged");
        answers.push(v["reference"].as_str().expect("reference").to_owned());
    }
    let distinct: std::collections::HashSet<&String> = answers.iter().collect();
    assert_eq!(distinct.len(), 4, "a reference per submission: {answers:?}");
    let people = h.store.everyone().await.expect("read").people;
    assert_eq!(people.len(), 1, "one person, updated in place");
    let p = &people[0];
    assert!(
        !answers.contains(&p.id),
        "the record's id is never sent back"
    );
    assert_eq!(p.version, 3);
    let log = h.store.submissions().await.expect("log");
    let outcomes: Vec<&str> = answers
        .iter()
        .map(|r| {
            log.iter()
                .find(|e| &e.reference == r)
                .expect("every reference is in the log")
                .outcome
                .name()
        })
        .collect();
    assert_eq!(outcomes, ["created", "unchanged", "updated", "updated"]);
    let first = h
        .store
        .version(&p.id, 2)
        .await
        .expect("read")
        .expect("version 2");
    let changes = mutualaid_handler::domain::changes(&first, &p.submission);
    let change = changes
        .iter()
        .find(|c| c.field == "roles")
        .expect("the role change is recorded");
    assert_eq!(
        (change.from.as_str(), change.to.as_str()),
        ("delivery", "shopper")
    );

    let counts = h.counts().await;
    assert_eq!(
        (
            counts[&Counter::Created],
            counts[&Counter::Updated],
            counts[&Counter::Unchanged]
        ),
        (1, 2, 1),
        "the organizers' self-report still tells them apart"
    );
}

#[tokio::test]
async fn a_known_and_an_unknown_address_get_answers_of_one_shape() {
    let h = harness(100);
    let known = json!({"name": "Rosa", "email": "rosa@example.org", "contact_method": "email", "zip": "92105",
                       "roles": ["delivery"], "consent": true});
    post_json(&h.router, "/api/signup", &known, 1).await;
    let mut probe = known.clone();
    probe["name"] = json!("Prober");
    let on_record = post_json(&h.router, "/api/signup", &probe, 2).await;
    probe["email"] = json!("nobody@example.org");
    let not_on_record = post_json(&h.router, "/api/signup", &probe, 3).await;
    assert_eq!(on_record.status, not_on_record.status);
    let shape = |a: &Answer| {
        let v = a.json();
        (
            v["status"].clone(),
            v.as_object()
                .expect("object")
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
            v["reference"].as_str().expect("reference").len(),
        )
    };
    assert_eq!(shape(&on_record), shape(&not_on_record));
}

#[tokio::test]
async fn a_change_of_zip_is_an_update_that_records_the_change() {
    let h = harness(100);
    post_form(&h.router, "/api/signup", &ana(), 1).await;
    let mut moved = ana();
    moved.iter_mut().find(|(k, _)| k == "zip").expect("zip").1 = "92115".into();
    let answer = post_form(&h.router, "/api/signup", &moved, 1).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let people = h.store.everyone().await.expect("read").people;
    assert_eq!(people.len(), 1);
    let first = h
        .store
        .version(&people[0].id, 1)
        .await
        .expect("read")
        .expect("version 1");
    assert_eq!(
        mutualaid_handler::domain::changes(&first, &people[0].submission),
        vec![mutualaid_handler::store::Change {
            field: "zip".into(),
            from: "92105".into(),
            to: "92115".into()
        }]
    );
}

/// A plain form post with these headers.
fn form_post_with(headers: &[(&str, &str)], lang: &str) -> Request<Body> {
    let mut form = ana();
    form.iter_mut().find(|(k, _)| k == "lang").expect("lang").1 = lang.into();
    let mut req = request(
        "/api/signup",
        "application/x-www-form-urlencoded",
        form_body(&form),
        1,
    );
    for (k, v) in headers {
        req.headers_mut().insert(
            header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    req
}

#[tokio::test]
async fn a_plain_form_posted_from_another_site_is_refused_in_its_language_and_nothing_stored() {
    let h = harness(100);
    for (headers, lang, phrase) in [
        (
            vec![
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            "es",
            "Este formulario llegó desde otro sitio web",
        ),
        (
            vec![
                ("origin", "https://evil.example"),
                ("host", "mutualaid.example.org"),
            ],
            "en",
            "This form came from another website",
        ),
        (
            vec![("origin", "null")],
            "en",
            "This form came from another website",
        ),
        // Issue 24: a sibling subdomain is same-site, and still not us.
        (
            vec![
                ("sec-fetch-site", "same-site"),
                ("origin", "https://evil.example.org"),
            ],
            "en",
            "This form came from another website",
        ),
        // A real origin that is not ours, whatever the browser says of it.
        (
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ],
            "en",
            "This form came from another website",
        ),
        // `null` is ours only when the browser says same-origin.
        (
            vec![("sec-fetch-site", "cross-site"), ("origin", "null")],
            "es",
            "Este formulario llegó desde otro sitio web",
        ),
        (
            vec![("sec-fetch-site", "same-site"), ("origin", "null")],
            "en",
            "This form came from another website",
        ),
        (
            vec![("sec-fetch-site", "same-site")],
            "en",
            "This form came from another website",
        ),
    ] {
        let answer = send(&h.router, form_post_with(&headers, lang)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(answer.body.contains(phrase), "{lang}: {}", answer.body);
        let doc = html(&answer.body);
        let link = doc
            .select(&sel(".notice a"))
            .next()
            .and_then(|a| a.value().attr("href"))
            .expect("a link back to the form");
        let form_page = h
            .site
            .form_page(FormId::Signup, lang)
            .expect("the sign-up page");
        assert_eq!(link, form_page.url);
        assert!(
            !answer.body.contains("Ana López"),
            "nothing from the other site is shown"
        );
    }
    assert!(
        h.store.everyone().await.expect("read").people.is_empty(),
        "nothing stored"
    );
    // From the site itself, by any of its names, or from a browser that says nothing: accepted.
    for headers in [
        vec![("sec-fetch-site", "same-origin"), ("origin", ORIGIN)],
        vec![("origin", ORIGIN)],
        vec![
            ("origin", "http://localhost:8000"),
            ("host", "localhost:8000"),
        ],
        vec![
            ("origin", "http://127.0.0.1:8000"),
            ("host", "127.0.0.1:8000"),
        ],
        vec![("sec-fetch-site", "none")],
        // A page with `no-referrer` (an older build, a cached page) posts `Origin: null`, same-origin.
        vec![("sec-fetch-site", "same-origin"), ("origin", "null")],
        vec![],
    ] {
        let answer = send(&h.router, form_post_with(&headers, "en")).await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{headers:?}: {}",
            answer.body
        );
    }
    assert_eq!(h.store.everyone().await.expect("read").people.len(), 1);
}

#[tokio::test]
async fn a_plain_form_with_errors_comes_back_in_its_language_with_every_value_kept_and_escaped() {
    let h = harness(100);
    let form = pairs(&[
        ("name", "<script>alert('x')</script>"),
        ("email", "not-an-email"),
        ("zip", "90012"),
        ("roles", "delivery"),
        ("notes", "Sin \"gluten\" & <b>sal</b>"),
        ("household_size", "3"),
        ("lang", "es"),
    ]);
    let answer = post_form(&h.router, "/api/signup", &form, 1).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(
        !answer.body.contains("<script>alert"),
        "never shown unescaped"
    );
    assert!(
        answer
            .body
            .contains(r#"<meta name="robots" content="noindex">"#),
        "an error page is no page for search engines"
    );
    let doc = html(&answer.body);
    let title = text_of(doc.root_element(), "title");
    assert!(title.starts_with("Error: "), "{title}");
    assert_eq!(
        doc.select(&sel("html"))
            .next()
            .and_then(|e| e.value().attr("lang")),
        Some("es")
    );
    let summary: Vec<(String, String)> = doc
        .select(&sel(".error-summary a"))
        .map(|a| {
            (
                a.value().attr("href").expect("href").to_owned(),
                a.text().collect(),
            )
        })
        .collect();
    let hrefs: Vec<&str> = summary.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        hrefs,
        ["#f-email", "#f-contact_method", "#f-zip", "#f-consent"]
    );
    assert!(
        summary
            .iter()
            .any(|(_, t)| t.contains("condado de San Diego")),
        "Spanish messages: {summary:?}"
    );
    let value = |id: &str| {
        doc.select(&sel(id))
            .next()
            .and_then(|e| e.value().attr("value").map(str::to_owned))
    };
    assert_eq!(
        value("#f-name").as_deref(),
        Some("<script>alert('x')</script>")
    );
    assert_eq!(value("#f-email").as_deref(), Some("not-an-email"));
    assert_eq!(value("#f-zip").as_deref(), Some("90012"));
    assert_eq!(value("#f-household_size").as_deref(), Some("3"));
    assert!(
        doc.select(&sel("#f-roles-delivery[checked]"))
            .next()
            .is_some()
    );
    let notes = text_of(doc.root_element(), "#f-notes");
    assert_eq!(notes, "Sin \"gluten\" & <b>sal</b>");
    assert!(
        h.store.everyone().await.expect("read").people.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn other_content_types_get_415_and_big_bodies_413() {
    let h = harness(100);
    let answer = send(
        &h.router,
        request("/api/signup", "text/plain", "name=Ana", 1),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer = send(
        &h.router,
        Request::post("/api/signup")
            .body(Body::from("name=Ana"))
            .expect("req"),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no content type"
    );

    let big = format!("name={}", "a".repeat(17 * 1024));
    let answer = send(
        &h.router,
        request("/api/signup", "application/x-www-form-urlencoded", big, 1),
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        answer.body.contains("Your form was too long to send") && answer.body.contains("<form"),
        "the form page again, with the notice from content/i18n: {}",
        answer.body
    );
    // A body that is not a JSON object of the form's fields.
    let answer = send(
        &h.router,
        request("/api/signup", "application/json", "{\"name\": ", 1),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "malformed");
    let big = json!({"name": "a".repeat(17 * 1024)});
    let answer = post_json(&h.router, "/api/donate", &big, 1).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["error"], "too_large");
    assert!(h.store.everyone().await.expect("read").people.is_empty());
}

#[tokio::test]
async fn a_client_over_the_limit_gets_429_with_retry_after_and_keeps_its_input() {
    let h = harness(2);
    for _ in 0..2 {
        assert_eq!(
            post_form(&h.router, "/api/signup", &ana(), 7).await.status,
            StatusCode::SEE_OTHER
        );
    }
    let answer = post_form(&h.router, "/api/signup", &ana(), 7).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = answer.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=600).contains(&retry), "{retry}");
    let doc = html(&answer.body);
    assert_eq!(
        doc.select(&sel("#f-name"))
            .next()
            .and_then(|e| e.value().attr("value")),
        Some("Ana López")
    );
    assert!(answer.body.contains("Demasiados intentos"), "in Spanish");
    let json = post_json(&h.router, "/api/signup", &json!({"name": "x"}), 7).await;
    assert_eq!(json.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json.json()["error"], "rate_limited");
    assert!(json.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(
        post_form(&h.router, "/api/signup", &ana(), 8).await.status,
        StatusCode::SEE_OTHER,
        "another client is not limited"
    );
}

#[tokio::test]
async fn a_bot_filling_the_honeypot_is_thanked_and_nothing_is_stored() {
    let h = harness(100);
    let mut form = ana();
    form.iter_mut()
        .find(|(k, _)| k == "website")
        .expect("website")
        .1 = "http://spam.example".into();
    let answer = post_form(&h.router, "/api/signup", &form, 1).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let answer = post_json(
        &h.router,
        "/api/donate",
        &json!({"name": "bot", "website": "x"}),
        1,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert!(h.store.everyone().await.expect("read").people.is_empty());
    let counts = h.counts().await;
    assert_eq!(counts[&Counter::Honeypot], 2);
}

#[tokio::test]
async fn json_is_allowed_only_from_the_sites_origin() {
    let h = harness(100);
    let preflight = Request::options("/api/signup")
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .expect("req");
    let answer = send(&h.router, preflight).await;
    assert_eq!(answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);

    let body =
        json!({"name": "Dee", "email": "dee@example.org", "frequency": "once", "consent": true});
    let mut from_elsewhere = request("/api/donate", "application/json", body.to_string(), 1);
    from_elsewhere.headers_mut().insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("header"),
    );
    let answer = send(&h.router, from_elsewhere).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        !answer
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    // The same rules as a plain form's (issue 24): a foreign origin whatever
    // Sec-Fetch-Site says; `null` but from a same-origin page.
    for headers in [
        [
            ("origin", "https://evil.example.org"),
            ("sec-fetch-site", "same-site"),
        ],
        [("origin", "null"), ("sec-fetch-site", "cross-site")],
        [("origin", "null"), ("x-none", "")],
    ] {
        let mut post = request("/api/donate", "application/json", body.to_string(), 1);
        for (name, value) in headers {
            post.headers_mut().insert(
                header::HeaderName::from_static(name),
                value.parse().expect("header"),
            );
        }
        assert_eq!(
            send(&h.router, post).await.status,
            StatusCode::FORBIDDEN,
            "{headers:?}"
        );
    }
    assert!(h.store.everyone().await.expect("read").people.is_empty());

    let mut from_site = request("/api/donate", "application/json", body.to_string(), 1);
    from_site
        .headers_mut()
        .insert(header::ORIGIN, ORIGIN.parse().expect("header"));
    let answer = send(&h.router, from_site).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
}

#[tokio::test]
async fn hostile_input_is_never_a_500_and_never_stored_unescaped() {
    let h = harness(10_000);
    let form = |extra: &[(&str, &str)]| {
        let mut f = ana();
        for (k, v) in extra {
            f.retain(|(key, _)| key != k);
            f.push(((*k).into(), (*v).into()));
        }
        f
    };
    let cases: Vec<(&str, Request<Body>)> = vec![
        ("crlf in name", request("/api/signup", "application/x-www-form-urlencoded", form_body(&form(&[("name", "Eve\r\nBcc: x@y.example"), ("email", "eve@example.org")])), 2)),
        ("10k name", request("/api/signup", "application/x-www-form-urlencoded", form_body(&form(&[("name", &"x".repeat(10_000))])), 2)),
        ("invalid utf-8", request("/api/signup", "application/x-www-form-urlencoded", b"name=%FF%FE&zip=\xff\xfe".to_vec(), 2)),
        ("invalid utf-8 json", request("/api/signup", "application/json", b"{\"name\": \"\xff\"}".to_vec(), 2)),
        ("duplicate keys", request("/api/signup", "application/x-www-form-urlencoded", "name=A&name=B&zip=92105&zip=92115".to_owned(), 2)),
        ("duplicate json keys", request("/api/signup", "application/json", r#"{"name":"A","name":"B"}"#.to_owned(), 2)),
        ("unknown fields", request("/api/signup", "application/json", json!({"name": "A", "isAdmin": true, "__proto__": {}}).to_string(), 2)),
        ("wrong types", request("/api/signup", "application/json", json!({"name": 5, "roles": "shopper", "consent": "yes", "household_size": "many", "zip": 92105}).to_string(), 2)),
        ("object for text", request("/api/signup", "application/json", json!({"name": {"first": "A"}}).to_string(), 2)),
        ("not an object", request("/api/signup", "application/json", "[1,2,3]".to_owned(), 2)),
        ("truncated json", request("/api/signup", "application/json", "{\"name\": ".to_owned(), 2)),
        ("nested arrays", request("/api/signup", "application/json", json!({"roles": [["shopper"]]}).to_string(), 2)),
        ("percent garbage", request("/api/donate", "application/x-www-form-urlencoded", "%%%&&==&name".to_owned(), 2)),
    ];
    for (what, req) in cases {
        let answer = send(&h.router, req).await;
        assert!(
            [
                StatusCode::SEE_OTHER,
                StatusCode::CREATED,
                StatusCode::BAD_REQUEST,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
            .contains(&answer.status),
            "{what}: {} {}",
            answer.status,
            answer.body
        );
        assert!(!answer.body.contains("<script"), "{what}");
    }
    // Only the CRLF name was valid; it is stored on one line, and escaped wherever shown.
    let people = h.store.everyone().await.expect("read").people;
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(people[0].submission.name(), "Eve  Bcc: x@y.example");
    let mut csv = Vec::new();
    mutualaid_handler::export::write_csv(&people, &mut csv).expect("csv");
    let csv = String::from_utf8(csv).expect("utf-8");
    assert!(
        csv.contains("\"Eve  Bcc: x@y.example\""),
        "a name is one line: {csv}"
    );
}

#[tokio::test]
async fn the_csv_export_neutralizes_formulas() {
    let h = harness(100);
    let mut form = ana();
    form.iter_mut().find(|(k, _)| k == "name").expect("name").1 =
        "=HYPERLINK(\"http://evil.example\",\"click\")".into();
    form.push(("notes".into(), "@SUM(A1:A9)".into()));
    assert_eq!(
        post_form(&h.router, "/api/signup", &form, 1).await.status,
        StatusCode::SEE_OTHER
    );
    let mut csv = Vec::new();
    mutualaid_handler::export::write_csv(&h.store.everyone().await.expect("read").people, &mut csv)
        .expect("csv");
    let csv = String::from_utf8(csv).expect("utf-8");
    let row = csv.lines().nth(1).expect("a row");
    assert!(
        row.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""),
        "{row}"
    );
    assert!(row.contains("\"'@SUM(A1:A9)\""), "{row}");
    assert!(row.contains("\"'+16195550123\""), "{row}");
}
