//! Tried as an attacker would (issue 13), through `mutualaid serve` as a
//! process and the handler's router in process: the rate limit catches the
//! right client and lets an outreach table through; slow clients are cut
//! off and connections capped; a client's request id is neither logged nor
//! echoed unless it is a plain short id; dotfiles are not served and no
//! redirect leaves the host; names cannot steer how the digest displays.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mutualaid_handler::http::ClientAddr;
use mutualaid_handler::store::roles::*;
use mutualaid_tests::serve::{Server, serve_site};
use mutualaid_tests::{fixture_site, mutualaid_bin};

use crate::handler::{Harness, harness, send};

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let site = fixture_site();
    let server = serve_site(site.path(), site.path(), extra, Stdio::null());
    (site, server)
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Sends `request` as it is and reads the whole answer (the server closes).
fn raw(server: &Server, request: &str) -> String {
    let mut stream = TcpStream::connect(address(server)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(server: &Server, path: &str) -> String {
    raw(
        server,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            address(server)
        ),
    )
}

fn header_of<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn dotfiles_are_not_served_and_no_redirect_leaves_the_host() {
    let (site, server) = start(&[]);
    let out = site.path().join("public");
    std::fs::write(out.join(".env"), "SECRET=hunter2").expect("a dotfile");
    std::fs::create_dir_all(out.join(".git")).expect("a dot folder");
    std::fs::write(out.join(".git").join("config"), "SECRET=hunter2").expect("a file in it");
    for path in [
        "/.env",
        "/.git/config",
        "/%2Eenv",
        "/es/../.env",
        "/signup/.%2e/.env",
    ] {
        let answer = get(&server, path);
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(!answer.contains("hunter2"), "{path}");
    }
    for path in ["//signup", "///signup", "//example.org/%2e%2e"] {
        let answer = get(&server, path);
        if let Some(location) = header_of(&answer, "location") {
            assert!(!location.starts_with("//"), "{path} → {location}");
            assert!(location.starts_with('/'), "{path} → {location}");
        }
    }
    let answer = get(&server, "//signup");
    assert!(answer.starts_with("HTTP/1.1 30"), "{answer}");
    assert_eq!(header_of(&answer, "location"), Some("/signup/"));
    // Issue 24: a segment longer than a file name can be is not found (it
    // was an empty 500); a request line in absolute form names no host of
    // ours, so its redirect stays here.
    for long in [
        format!("/{}", "a".repeat(256)),
        format!("/signup/{}/", "é".repeat(200)),
    ] {
        let answer = get(&server, &long);
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
    let answer = raw(
        &server,
        &format!(
            "GET http://evil.example/signup HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            address(&server)
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 30"), "{answer}");
    assert_eq!(header_of(&answer, "location"), Some("/signup/"), "{answer}");
}

/// Issue 24: `serve` keeps its data folder 0700 and every file of the store
/// 0600, whatever the umask: they hold every person's record.
#[cfg(unix)]
#[test]
fn the_data_folder_and_the_stores_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (site, server) = start(&[]);
    let form = signup_form("Mode Person", "mode@example.org", &[]);
    let answer = raw(
        &server,
        &format!(
            "POST /api/signup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            address(&server),
            form.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let data = site.path().join("data");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("there").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data folder");
    let mut checked = 0;
    for entry in std::fs::read_dir(&data).expect("the data folder").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("mutualaid.sqlite3") {
            assert_eq!(mode(&entry.path()), 0o600, "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 2, "the database and its write-ahead log");
}

#[test]
fn a_slow_client_is_cut_off_and_at_the_cap_a_new_one_takes_the_oldest_place() {
    let (_site, server) = start(&["--header-timeout", "2", "--max-connections", "4"]);
    // Four clients that never finish their headers hold every slot…
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(address(&server)).expect("connect");
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .expect("half a request");
            std::thread::sleep(Duration::from_millis(50));
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // …yet a fifth is answered at once, in the place of the oldest…
    let mut fifth = TcpStream::connect(address(&server)).expect("connect");
    fifth
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("a whole request");
    fifth
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = fifth.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // …and every slow one is closed, never served: the oldest for the fifth,
    // the others when their headers are late.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut rest = Vec::new();
        let read = s.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(
            !text.contains("200 OK"),
            "a slow client is closed, never served: {read:?} {text}"
        );
        assert!(
            read.is_ok()
                || read
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "closed by the server, not our 10 s guard: {read:?}"
        );
    }
}

#[test]
fn a_clients_request_id_is_kept_only_if_short_and_plain() {
    let site = fixture_site();
    let log = site.path().join("serve.log");
    let stderr = Stdio::from(std::fs::File::create(&log).expect("log"));
    let server = serve_site(site.path(), site.path(), &[], stderr);
    let post = |id: &str| {
        raw(
            &server,
            &format!(
                "POST /api/signup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-Request-Id: {id}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
                address(&server)
            ),
        )
    };
    let long = "A".repeat(8 * 1024);
    for sent in [long.as_str(), "has spaces and <b>", "x".repeat(65).as_str()] {
        let answer = post(sent);
        let echoed = header_of(&answer, "x-request-id").expect("an id is always given");
        assert_ne!(echoed, sent);
        assert!(echoed.len() <= 64, "{echoed}");
    }
    let answer = post("abc-123_XYZ");
    assert_eq!(header_of(&answer, "x-request-id"), Some("abc-123_XYZ"));
    drop(server);
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("abc-123_XYZ"), "{logged}");
    assert!(!logged.contains(&long[..100]), "the 8 KB id is not logged");
}

fn signup_form(name: &str, email: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("name", name),
        ("email", email),
        ("contact_method", "email"),
        ("zip", "92105"),
        ("roles", "delivery"),
        ("consent", "on"),
    ];
    pairs.extend_from_slice(extra);
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_from(h: &Harness, body: String, from: IpAddr) -> StatusCode {
    let mut request = Request::post("/api/signup")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    request.extensions_mut().insert(ClientAddr(from));
    send(&h.router, request).await.status
}

#[tokio::test]
async fn the_limit_counts_bots_and_a_whole_ipv6_slash_64_as_one_client() {
    let h = harness(3);
    let bot: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
    for _ in 0..3 {
        let trap = signup_form(
            "Bot",
            "bot@example.org",
            &[("website", "http://spam.example")],
        );
        assert_eq!(post_from(&h, trap, bot).await, StatusCode::SEE_OTHER);
    }
    // The same /64, another address: the same client, past its limit — bot or not.
    let next: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().expect("ip");
    let trap = signup_form(
        "Bot",
        "bot@example.org",
        &[("website", "http://spam.example")],
    );
    assert_eq!(
        post_from(&h, trap, next).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let person = signup_form("Ana Real", "ana.real@example.org", &[]);
    assert_eq!(
        post_from(&h, person.clone(), next).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another /64 is another client.
    let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
    assert_eq!(post_from(&h, person, other).await, StatusCode::SEE_OTHER);
    assert_eq!(h.store.everyone().await.expect("read").people.len(), 1);
}

thread_local! {
    /// The boundary test's clock (each test runs on its own thread).
    static NOW: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

fn set_clock() -> i64 {
    NOW.with(std::cell::Cell::get)
}

/// Issue 24: the window slides. 30 sign-ups just before a 10-minute
/// boundary and 30 just after: the second 30 are limited (429, with the
/// seconds until the first leave the window), not a fresh window's.
async fn thirty_just_before_a_boundary_and_thirty_just_after<S: Store + Clone>(store: S) {
    let site = std::sync::Arc::new(
        mutualaid_site::Site::load(&mutualaid_tests::real_content()).expect("content"),
    );
    let router = mutualaid_handler::http::router(mutualaid_handler::http::App {
        store: store.clone(),
        site: site.clone(),
        config: crate::handler::config(&site, 30),
        clock: set_clock,
    });
    let table: IpAddr = "198.51.100.9".parse().expect("ip");
    // 1 800 000 000 s is a multiple of 600: a 10-minute boundary of the old fixed windows.
    let boundary = 1_800_000_000;
    let post = |i: usize| {
        let mut request = Request::post("/api/signup")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(signup_form(
                &format!("Vecina {i}"),
                &format!("vecina{i}@example.org"),
                &[],
            )))
            .expect("request");
        request.extensions_mut().insert(ClientAddr(table));
        request
    };
    NOW.with(|now| now.set(boundary - 2));
    for i in 0..30 {
        assert_eq!(
            send(&router, post(i)).await.status,
            StatusCode::SEE_OTHER,
            "{i}"
        );
    }
    NOW.with(|now| now.set(boundary + 2));
    for i in 30..60 {
        let answer = send(&router, post(i)).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{i}");
        assert_eq!(
            answer.headers[header::RETRY_AFTER],
            "596",
            "{i}: a place frees when the first leaves the window"
        );
    }
    assert_eq!(store.everyone().await.expect("read").people.len(), 30);
    // When the first 30 have left the window, the client is served again.
    NOW.with(|now| now.set(boundary - 2 + 600));
    assert_eq!(send(&router, post(60)).await.status, StatusCode::SEE_OTHER);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    thirty_just_before_a_boundary_and_thirty_just_after
        => on_sqlite_thirty_just_before_a_boundary_and_thirty_just_after_are_not_sixty,
        on_dynamodb_thirty_just_before_a_boundary_and_thirty_just_after_are_not_sixty
);

#[tokio::test]
async fn ten_people_behind_one_address_each_needing_three_tries_get_through_with_the_default() {
    // The default: 30 per 10 minutes (`serve --rate-limit`, the template's RateLimitPerWindow).
    let h = harness(30);
    let table: IpAddr = "198.51.100.77".parse().expect("ip");
    for i in 0..10 {
        let email = format!("neighbour{i}@example.org");
        // Two tries with a mistake (no ZIP code, then no consent), then right.
        let no_zip =
            signup_form(&format!("Neighbour {i}"), &email, &[]).replace("zip=92105", "zip=");
        let no_consent =
            signup_form(&format!("Neighbour {i}"), &email, &[]).replace("&consent=on", "");
        for wrong in [no_zip, no_consent] {
            assert_eq!(
                post_from(&h, wrong, table).await,
                StatusCode::UNPROCESSABLE_ENTITY
            );
        }
        let right = signup_form(&format!("Neighbour {i}"), &email, &[]);
        assert_eq!(
            post_from(&h, right, table).await,
            StatusCode::SEE_OTHER,
            "person {i}"
        );
    }
    assert_eq!(h.store.everyone().await.expect("read").people.len(), 10);
    let one_more = signup_form("Eleventh", "eleventh@example.org", &[]);
    assert_eq!(
        post_from(&h, one_more, table).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn names_cannot_reverse_text_or_fake_lines_in_the_digest_or_the_spreadsheet() {
    let h = harness(100);
    let tricky = "Carol\u{202E}lorac\u{2028}- Fake line\u{0}";
    let body = signup_form(
        tricky,
        "carol@example.org",
        &[
            ("notes", "line 1\r\nline 2\u{2029}\u{2066}x\u{2069}"),
            ("neighborhood", "Nor\u{202D}th\nPark"),
        ],
    );
    assert_eq!(
        post_from(&h, body, "198.51.100.9".parse().expect("ip")).await,
        StatusCode::SEE_OTHER
    );
    let semi = signup_form("Carol;=1+1", "carol2@example.org", &[]);
    assert_eq!(
        post_from(&h, semi, "198.51.100.9".parse().expect("ip")).await,
        StatusCode::SEE_OTHER
    );
    let people = h.store.everyone().await.expect("read").people;
    let carol = people
        .iter()
        .find(|p| p.submission.email() == Some("carol@example.org"))
        .expect("stored");
    assert_eq!(carol.submission.name(), "Carollorac - Fake line");
    let mutualaid_handler::store::Submission::Signup(s) = &carol.submission else {
        panic!("a sign-up")
    };
    assert_eq!(s.notes.as_deref(), Some("line 1\nline 2\nx"));
    assert_eq!(s.neighborhood.as_deref(), Some("North Park"));

    let dir = tempfile::tempdir().expect("tmp");
    let raw = crate::digest::to_outbox(
        &h.store,
        dir.path(),
        mutualaid_handler::clock::system_clock(),
    )
    .await;
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME");
    let text = message.body_text(0).expect("text");
    let html = message.body_html(0).expect("html");
    let csv =
        String::from_utf8_lossy(message.attachments().next().expect("csv").contents()).into_owned();
    for (part, out) in [
        ("text", text.as_ref()),
        ("html", html.as_ref()),
        ("csv", csv.as_str()),
    ] {
        for c in [
            '\u{202E}', '\u{202D}', '\u{2028}', '\u{2029}', '\u{2066}', '\u{0}',
        ] {
            assert!(!out.contains(c), "{part} carries {c:?}");
        }
    }
    assert!(text.contains("Carollorac - Fake line"), "{text}");
    assert!(csv.contains("\"Carol;=1+1\""), "one quoted cell: {csv}");
}

/// Invisible characters a field can hide in (issue 23): a left-to-right
/// mark, the Arabic letter mark and a tag character (an invisible "A").
const HIDDEN: [char; 3] = ['\u{200E}', '\u{061C}', '\u{E0041}'];

/// `value` with every hidden character in front of, inside and after it.
fn sprinkled(value: &str) -> String {
    let hidden: String = HIDDEN.iter().collect();
    let mut chars = value.chars();
    let first: String = chars.by_ref().take(1).collect();
    format!("{hidden}{first}{hidden}{}{hidden}", chars.as_str())
}

#[tokio::test]
async fn bidi_marks_and_tag_characters_in_every_field_reach_no_export_csv_or_digest() {
    let h = harness(100);
    let from: IpAddr = "198.51.100.10".parse().expect("ip");
    let signup = [
        ("name", "Ana López"),
        ("email", "ana.hidden@example.org"),
        ("phone", "619 555 0177"),
        ("contact_method", "email"),
        ("zip", "92105"),
        ("neighborhood", "City Heights"),
        ("roles", "delivery"),
        ("languages", "es"),
        ("availability", "mornings"),
        ("has_car", "on"),
        ("household_size", "3"),
        ("notes", "line one\nline two"),
        ("consent", "on"),
        ("lang", "en"),
    ];
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(signup.iter().map(|(k, v)| (*k, sprinkled(v))))
        .finish();
    assert_eq!(post_from(&h, body, from).await, StatusCode::SEE_OTHER);
    let donation = [
        ("name", "Bea Ruiz"),
        ("email", "bea.hidden@example.org"),
        ("phone", "619 555 0178"),
        ("frequency", "monthly"),
        ("amount", "20"),
        ("message", "for the pantry"),
        ("consent", "on"),
        ("lang", "en"),
    ];
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(donation.iter().map(|(k, v)| (*k, sprinkled(v))))
        .finish();
    let mut request = Request::post("/api/donate")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    request.extensions_mut().insert(ClientAddr(from));
    assert_eq!(send(&h.router, request).await.status, StatusCode::SEE_OTHER);

    let people = h.store.everyone().await.expect("read").people;
    assert_eq!(people.len(), 2, "both stored");
    let ana = people
        .iter()
        .find(|p| p.submission.email() == Some("ana.hidden@example.org"))
        .expect("the sign-up, its email cleaned");
    assert_eq!(ana.submission.name(), "Ana López");
    let mut export = Vec::new();
    mutualaid_handler::export::write_csv(&people, &mut export).expect("people csv");
    let mut cases = Vec::new();
    let active = h.store.active_cases().await.expect("cases").cases;
    assert_eq!(active.len(), 1, "Ana's delivery request");
    mutualaid_handler::export::write_cases_csv(&active, &mut cases).expect("cases csv");

    let dir = tempfile::tempdir().expect("tmp");
    let raw = crate::digest::to_outbox(
        &h.store,
        dir.path(),
        mutualaid_handler::clock::system_clock(),
    )
    .await;
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME");
    let text = message.body_text(0).expect("text");
    let html = message.body_html(0).expect("html");
    let attached =
        String::from_utf8_lossy(message.attachments().next().expect("csv").contents()).into_owned();
    assert!(
        text.contains("Ana López") && text.contains("Bea Ruiz"),
        "{text}"
    );
    let stored = serde_json::to_string(&people).expect("json");
    for (part, out) in [
        ("stored records", stored.as_str()),
        ("export", &String::from_utf8_lossy(&export)),
        ("cases csv", &String::from_utf8_lossy(&cases)),
        ("digest text", text.as_ref()),
        ("digest html", html.as_ref()),
        ("digest csv", attached.as_str()),
    ] {
        for c in HIDDEN {
            assert!(!out.contains(c), "{part} carries {c:?}");
        }
    }
}

#[tokio::test]
async fn every_route_the_template_throttles_is_served() {
    use mutualaid_handler::links::{KeySource, LinkKeys};
    let h = harness(100);
    let mut config = crate::handler::config(&h.site, 100);
    config.organizer_actions = Some(mutualaid_handler::http::OrganizerActions {
        keys: KeySource::Fixed(LinkKeys::parse(&LinkKeys::generate()).expect("keys")),
        cap: 3,
        time_zone: "America/Los_Angeles".into(),
    });
    let router = mutualaid_handler::http::router(mutualaid_handler::http::App {
        store: h.store.clone(),
        site: h.site.clone(),
        config,
        clock: mutualaid_handler::clock::system_clock,
    });
    for route in mutualaid_handler::http::ROUTES {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let status = send(&router, request).await.status;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{route}: {status}"
        );
    }
}

/// Through the `submit` Lambda on moto, as CloudFront forwards requests:
/// without the edge secret nothing is taken; the client is the viewer, not
/// the CloudFront edge everyone shares; bots and long request ids as under
/// `serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_submit_lambda_only_cloudfront_is_answered_and_the_viewer_is_the_client() {
    use mutualaid_tests::{aws, lambda};
    use serde_json::{Value, json};

    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "edge").await;
    aws::edge_secret(&endpoint).await;
    let emulator = lambda::start().await;
    let env = crate::aws::submit_env(&emulator.address, &table);
    let env = lambda::with_env(env, "RATE_LIMIT_PER_WINDOW", "2");
    let mut child = crate::aws::start_submit(env);
    let person = |n: usize| json!({"name": format!("Edge Person {n}"), "email": format!("edge{n}@example.org"), "contact_method": "email", "zip": "92105", "roles": ["delivery"], "consent": true});
    let event = |body: &Value, viewer: &str| {
        lambda::http_event(
            false,
            "/api/signup",
            "application/json",
            &body.to_string(),
            viewer,
        )
    };
    // Around CloudFront (no secret, or a wrong one): refused, nothing stored.
    for secret in [None, Some("guess-guess-guess-guess")] {
        let mut around = event(&person(0), "198.51.100.1");
        match secret {
            None => {
                around["headers"]
                    .as_object_mut()
                    .expect("headers")
                    .remove("x-origin-verify");
            }
            Some(s) => around["headers"]["x-origin-verify"] = json!(s),
        }
        let (_, answer) = emulator.invoke(around).await;
        assert_eq!(answer["statusCode"], 403, "{answer}");
    }
    assert!(store.everyone().await.expect("read").people.is_empty());
    // Two viewers behind one CloudFront edge: each its own client (limit 2).
    for n in 1..=2 {
        let (_, answer) = emulator.invoke(event(&person(n), "198.51.100.1")).await;
        assert_eq!(answer["statusCode"], 201, "{answer}");
    }
    let (_, third) = emulator.invoke(event(&person(3), "198.51.100.1")).await;
    assert_eq!(third["statusCode"], 429, "{third}");
    let (_, other) = emulator.invoke(event(&person(4), "2001:db8:7::5")).await;
    assert_eq!(
        other["statusCode"], 201,
        "another viewer, the same edge: {other}"
    );
    // A bot's trap hits count; then even its real-looking post is refused.
    let mut bot = person(5);
    bot["website"] = json!("http://spam.example");
    for _ in 0..2 {
        let (_, answer) = emulator.invoke(event(&bot, "203.0.113.66")).await;
        assert_eq!(answer["statusCode"], 201, "a bot is thanked: {answer}");
    }
    let (_, answer) = emulator.invoke(event(&person(6), "203.0.113.66")).await;
    assert_eq!(answer["statusCode"], 429, "{answer}");
    // A long request id is neither echoed nor kept.
    let mut long_id = event(&person(7), "203.0.113.80");
    long_id["headers"]["x-request-id"] = json!("B".repeat(8 * 1024));
    let (_, answer) = emulator.invoke(long_id).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let echoed = answer["headers"]["x-request-id"].as_str().expect("an id");
    assert!(
        echoed.len() <= 64 && !echoed.starts_with("BBBB"),
        "{echoed}"
    );
    // A name with display tricks is kept as it reads.
    let mut tricky = person(8);
    tricky["name"] = json!("Ro\u{202E}sa\u{2028}Line\u{0}");
    let (_, answer) = emulator.invoke(event(&tricky, "203.0.113.81")).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let _ = child.kill();
    let _ = child.wait();
    let names: Vec<String> = store
        .everyone()
        .await
        .expect("read")
        .people
        .iter()
        .map(|p| p.submission.name().to_owned())
        .collect();
    assert!(names.contains(&"Rosa Line".to_owned()), "{names:?}");
    assert_eq!(names.len(), 5, "{names:?}");
}

#[test]
fn a_chunked_body_over_16_kib_is_too_large_and_nothing_is_stored() {
    let (site, server) = start(&[]);
    // 17 KiB of a sign-up, in 1 KiB chunks with no Content-Length: the limit
    // counts what arrives, not what a header says.
    let body = format!(
        "name=Chunky&email=chunky%40example.org&zip=92105&roles=delivery&consent=on&notes={}",
        "a".repeat(17 * 1024)
    );
    let mut request = format!(
        "POST /api/signup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        address(&server)
    );
    for chunk in body.as_bytes().chunks(1024) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            String::from_utf8_lossy(chunk)
        ));
    }
    request.push_str("0\r\n\r\n");
    let answer = raw(&server, &request);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let people = std::process::Command::new(mutualaid_bin())
        .args(["export", "--format", "csv", "--data"])
        .arg(site.path().join("data"))
        .output()
        .expect("export");
    assert!(!String::from_utf8_lossy(&people.stdout).contains("Chunky"));
}

#[test]
fn a_client_that_stops_sending_its_body_is_cut_off() {
    let (_site, server) = start(&["--body-timeout", "1"]);
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream
        .write_all(
            b"POST /api/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"name\": \"Sl",
        )
        .expect("half a body");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(
        read.is_ok(),
        "the server ended it, not our 10 s guard: {read:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "nothing stored, no success: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(9));
}

#[test]
fn the_default_limit_is_thirty_per_ten_minutes_in_serve_and_in_the_template() {
    let help = std::process::Command::new(mutualaid_bin())
        .args(["serve", "--help"])
        .output()
        .expect("serve --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let line = help
        .lines()
        .skip_while(|l| !l.contains("--rate-limit"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(line.contains("[default: 30]"), "{help}");
    let template =
        std::fs::read_to_string(mutualaid_tests::workspace().join("infra/template.yaml"))
            .expect("template");
    let t: serde_norway::Value = serde_norway::from_str(&template).expect("YAML");
    assert_eq!(
        t["Parameters"]["RateLimitPerWindow"]["Default"].as_u64(),
        Some(30)
    );
    assert_eq!(
        t["Parameters"]["RateLimitWindowSeconds"]["Default"].as_u64(),
        Some(600)
    );
}
