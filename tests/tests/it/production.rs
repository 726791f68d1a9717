//! `mutualaid serve --production` as one small server runs it: behind a
//! real Caddy (Debian's package, `tls internal` on loopback), with the
//! digest on its own schedule.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mutualaid_tests::caddy::{self, Caddy};
use mutualaid_tests::serve::{Server, serve_site};
use mutualaid_tests::{SITE, live_content, mutualaid_bin, real_content};

/// `serve --production` trusting 127.0.0.1 as its proxy, the digest into
/// `<dir>/outbox`.
fn production(dir: &Path, extra: &[&str]) -> Server {
    let content = live_content(dir);
    let outbox = dir.join("outbox");
    let mut args = vec![
        "--production",
        "--trusted-proxy",
        "127.0.0.1",
        "--outbox",
        outbox.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    serve_site(&content, dir, &args, Stdio::null())
}

fn behind_caddy(server: &Server) -> Option<Caddy> {
    let bin = caddy::binary()?;
    Some(caddy::start(
        &bin,
        server.base.trim_start_matches("http://"),
    ))
}

/// A response's status, headers (lowercase names) and body bytes.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn call(request: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> Answer {
    answer(request.call().expect("an answer"))
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .expect("the body");
    Answer {
        status,
        headers,
        body,
    }
}

const SIGNUP_EN: &str = "name=Dolores+Huerta&email=dolores%40example.org&contact_method=email&zip=92113&roles=delivery&consent=on&lang=en&website=";
const SIGNUP_ES: &str = "name=Mar%C3%ADa+Fern%C3%A1ndez&phone=%28619%29+555-0188&contact_method=text&zip=92105&roles=money&consent=on&lang=es&website=";

fn export(data: &Path, table: &str) -> String {
    let out = Command::new(mutualaid_bin())
        .args(["export", "--format", "csv", "--table", table, "--data"])
        .arg(data)
        .output()
        .expect("mutualaid export");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn through_caddy_people_sign_up_in_english_and_spanish_on_compressed_pages_with_the_security_headers_and_no_script()
 {
    let dir = tempfile::tempdir().expect("a folder");
    let server = production(dir.path(), &[]);
    let Some(caddy) = behind_caddy(&server) else {
        return;
    };
    let agent = caddy.agent();
    let base = &caddy.base;

    // Sign-ups through the proxy, in both languages.
    for (form, thanks) in [
        (SIGNUP_EN, "/signup/thanks/"),
        (SIGNUP_ES, "/es/signup/thanks/"),
    ] {
        let sent = answer(
            agent
                .post(&format!("{base}/api/signup"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", SITE)
                .send(form)
                .expect("an answer"),
        );
        assert_eq!(
            (sent.status, sent.header("location")),
            (303, Some(thanks)),
            "{}",
            sent.text()
        );
        let page = call(agent.get(&format!("{base}{thanks}")));
        assert_eq!(page.status, 200);
    }
    let people = export(&dir.path().join("data"), "people");
    assert!(people.contains("Dolores Huerta"), "{people}");
    assert!(people.contains("María Fernández"), "{people}");

    // Pages come compressed as the browser asks, with tags that revalidate.
    let br = call(
        agent
            .get(&format!("{base}/es/"))
            .header("accept-encoding", "gzip, br"),
    );
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut page = String::new();
    brotli_decompress(&br.body, &mut page);
    assert!(page.contains("lang=\"es\""), "the Spanish home page");
    let gz = call(
        agent
            .get(&format!("{base}/es/"))
            .header("accept-encoding", "gzip"),
    );
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut unzipped)
        .expect("gzip");
    assert_eq!(unzipped, page, "the same page, either way");
    assert!(
        gz.body.len() * 2 < page.len(),
        "compressed to less than half"
    );
    let etag = gz.header("etag").expect("an ETag").to_owned();
    let again = call(
        agent
            .get(&format!("{base}/es/"))
            .header("accept-encoding", "gzip")
            .header("if-none-match", &etag),
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other_encoding = call(
        agent
            .get(&format!("{base}/es/"))
            .header("accept-encoding", "identity")
            .header("if-none-match", &etag),
    );
    assert_eq!(
        (
            other_encoding.status,
            other_encoding.header("content-encoding")
        ),
        (200, None),
        "the gzip copy's tag does not validate the plain one"
    );
    assert_eq!(gz.header("cache-control"), Some("no-cache"));

    // The security headers on pages, the form handler's answers and 404s; HSTS since Caddy says HTTPS.
    let missing = call(agent.get(&format!("{base}/es/no-existe/")));
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("lang=\"es\""));
    let refused = answer(
        agent
            .post(&format!("{base}/api/signup"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", SITE)
            .send("name=&lang=es")
            .expect("an answer"),
    );
    assert_eq!(refused.status, 422);
    for (what, a) in [("page", &gz), ("404", &missing), ("422", &refused)] {
        for (name, value) in mutualaid_handler::http::security::SECURITY_HEADERS {
            assert_eq!(a.header(name), Some(value), "{name} on the {what}");
        }
        assert_eq!(
            a.header("strict-transport-security"),
            Some(mutualaid_handler::http::security::STRICT_TRANSPORT_SECURITY),
            "HSTS on the {what}: the proxy said HTTPS"
        );
    }
    let direct = call(mutualaid_tests::http_agent().get(&format!("{}/", server.base)));
    assert_eq!(
        direct.header("strict-transport-security"),
        None,
        "no HSTS over plain HTTP"
    );

    // No script in any page served, nor in the handler's pages.
    let out = dir.path().join("public");
    let mut pages = Vec::new();
    collect_html(&out, &out, &mut pages);
    assert!(pages.len() > 10, "{pages:?}");
    for path in &pages {
        let page = call(agent.get(&format!("{base}{path}")));
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.text().contains("<script"), "a script in {path}");
    }
    assert!(!refused.text().contains("<script"));
}

/// The URL path of every HTML file under `dir`.
fn collect_html(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("the built site") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_html(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            let relative = path.strip_prefix(root).expect("below the root");
            out.push(format!("/{}", relative.display()));
        }
    }
}

fn brotli_decompress(bytes: &[u8], out: &mut String) {
    brotli::Decompressor::new(bytes, 4096)
        .read_to_string(out)
        .expect("brotli");
}

/// POSTs a JSON sign-up to `server` from the local address `from`, with an
/// `X-Forwarded-For` header; the status.
fn post_from(from: &str, server: &str, forwarded_for: &str, n: usize) -> u16 {
    let socket = std::net::SocketAddr::new(from.parse().expect("an address"), 0);
    let target: std::net::SocketAddr = server
        .trim_start_matches("http://")
        .parse()
        .expect("ADDR:PORT");
    let stream = tokio_like_connect(socket, target);
    let body = serde_json::json!({
        "name": format!("Rate Person {n}"),
        "email": format!("rate-{n}@example.org"),
        "contact_method": "email",
        "zip": "92105",
        "roles": ["shopper"],
        "consent": true,
    })
    .to_string();
    let mut stream = stream;
    write!(
        stream,
        "POST /api/signup HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\nOrigin: {SITE}\r\nX-Forwarded-For: {forwarded_for}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sending");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

/// A TCP connection from a chosen local address (127.0.0.2 is loopback
/// too, and not the trusted proxy).
fn tokio_like_connect(from: std::net::SocketAddr, to: std::net::SocketAddr) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.bind(from).expect("binding the local address");
        let stream = socket.connect(to).await.expect("connecting");
        let stream = stream.into_std().expect("a std stream");
        stream.set_nonblocking(false).expect("blocking");
        stream
    })
}

#[test]
fn the_rate_limit_counts_the_client_the_trusted_proxy_names_and_ignores_the_header_from_anyone_else()
 {
    let dir = tempfile::tempdir().expect("a folder");
    let server = production(dir.path(), &["--rate-limit", "3"]);
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    // From the trusted proxy (127.0.0.1): each client its own three.
    for _ in 0..3 {
        assert_eq!(
            post_from("127.0.0.1", &server.base, "203.0.113.7", next()),
            201
        );
    }
    assert_eq!(
        post_from("127.0.0.1", &server.base, "203.0.113.7", next()),
        429,
        "the fourth from one client"
    );
    assert_eq!(
        post_from("127.0.0.1", &server.base, "198.51.100.9", next()),
        201,
        "another client behind the same proxy is not locked out"
    );
    assert_eq!(
        post_from("127.0.0.1", &server.base, "1.2.3.4, 198.51.100.9", next()),
        201,
        "what the client itself put first is not believed: still 198.51.100.9's second"
    );
    // From anyone else (127.0.0.2): the header is ignored, the socket counts.
    for i in 0..3 {
        assert_eq!(
            post_from("127.0.0.2", &server.base, &format!("192.0.2.{i}"), next()),
            201
        );
    }
    assert_eq!(
        post_from("127.0.0.2", &server.base, "192.0.2.99", next()),
        429,
        "a new X-Forwarded-For from an untrusted address buys no new bucket"
    );
}

#[test]
fn sigterm_and_a_backup_during_a_load_through_caddy_lose_no_acknowledged_submission() {
    let dir = tempfile::tempdir().expect("a folder");
    let data = dir.path().join("data");
    let mut server = production(dir.path(), &["--rate-limit", "1000000"]);
    let Some(caddy) = behind_caddy(&server) else {
        return;
    };
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            let (agent, base) = (caddy.agent(), caddy.base.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                let mut refused_in_a_row = 0;
                while !stop.load(Ordering::SeqCst) && refused_in_a_row < 50 {
                    n += 1;
                    let body = serde_json::json!({
                        "name": format!("Load Person {w}-{n}"),
                        "email": format!("load-{w}-{n}@example.org"),
                        "contact_method": "email",
                        "zip": "92105",
                        "roles": ["delivery"],
                        "consent": true,
                    });
                    let sent = agent
                        .post(&format!("{base}/api/signup"))
                        .header("content-type", "application/json")
                        .header("origin", SITE)
                        .send(body.to_string());
                    match sent.map(answer) {
                        Ok(a) if a.status == 201 => {
                            refused_in_a_row = 0;
                            let json: serde_json::Value =
                                serde_json::from_slice(&a.body).expect("JSON");
                            acknowledged
                                .lock()
                                .expect("lock")
                                .push(json["reference"].as_str().expect("a reference").into());
                        }
                        _ => {
                            refused_in_a_row += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();
    let wait_for = |n: usize| {
        while acknowledged.lock().expect("lock").len() < n {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(150);
    let before_backup: BTreeSet<String> =
        acknowledged.lock().expect("lock").iter().cloned().collect();
    let copy = dir.path().join("backup.sqlite3");
    let backup = Command::new(mutualaid_bin())
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--to")
        .arg(&copy)
        .output()
        .expect("mutualaid backup");
    assert!(backup.status.success(), "{backup:?}");
    wait_for(before_backup.len() + 150);

    // SIGTERM while the writers keep going.
    let status = server.terminate();
    assert!(status.success(), "serve stops cleanly: {status:?}");
    assert!(
        server.has_said(
            "Stopped: every request in flight was answered",
            Duration::from_secs(5)
        ),
        "{:?}",
        server.said.lock().expect("lines")
    );
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    let acknowledged: BTreeSet<String> =
        acknowledged.lock().expect("lock").iter().cloned().collect();

    let references = |db: &Path| -> BTreeSet<String> {
        let db =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("the database opens");
        let mut stmt = db
            .prepare("SELECT reference FROM submissions")
            .expect("the submission log");
        stmt.query_map([], |row| row.get::<_, String>(0))
            .expect("rows")
            .map(|r| r.expect("a reference"))
            .collect()
    };
    let in_backup = references(&copy);
    let missing: Vec<_> = before_backup.difference(&in_backup).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged before the backup began are not in it: {missing:?}",
        missing.len()
    );
    let stored = references(&data.join("mutualaid.sqlite3"));
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged sign-ups were lost at SIGTERM: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    assert!(acknowledged.len() > before_backup.len());
}

/// Seconds since the epoch of a moment written as RFC 3339.
fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>()
        .expect("a timestamp")
        .as_second()
}

fn digests_in(outbox: &Path) -> usize {
    std::fs::read_dir(outbox).map_or(0, |d| d.count())
}

/// A live site in `dir` whose last digest went out at `when` (RFC 3339).
fn last_digest_at(dir: &Path, when: &str) {
    let content = live_content(dir);
    let sent = Command::new(mutualaid_bin())
        .args(["digest", "--content"])
        .arg(&content)
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--now", &at(when).to_string()])
        .output()
        .expect("mutualaid digest");
    assert!(sent.status.success(), "{sent:?}");
}

#[test]
fn the_digest_goes_out_once_at_its_time_and_a_missed_day_is_caught_up_at_start() {
    // On time: the last digest went out yesterday at 07:00; the clock starts at 06:59:50 today.
    let dir = tempfile::tempdir().expect("a folder");
    last_digest_at(dir.path(), "2026-11-29T15:00:00Z");
    let outbox = dir.path().join("outbox");
    let server = production(
        dir.path(),
        &[
            "--digest-at",
            "07:00",
            "--clock-start",
            &at("2026-11-30T14:59:50Z").to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(digests_in(&outbox), 0, "not before its time");
    assert!(
        server.has_said("Wrote the digest", Duration::from_secs(30)),
        "{:?}",
        server.said.lock().expect("lines")
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(digests_in(&outbox), 1, "once at 07:00");
    drop(server);

    // Missed: the machine was down all of yesterday; it starts at noon and catches up at once.
    let dir = tempfile::tempdir().expect("a folder");
    last_digest_at(dir.path(), "2026-11-28T15:00:00Z");
    let outbox = dir.path().join("outbox");
    let server = production(
        dir.path(),
        &["--clock-start", &at("2026-11-30T20:00:00Z").to_string()],
    );
    assert!(
        server.has_said("Wrote the digest", Duration::from_secs(10)),
        "{:?}",
        server.said.lock().expect("lines")
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        digests_in(&outbox),
        1,
        "one catch-up, not one per missed day"
    );
    let said = server.said.lock().expect("lines").join("\n");
    assert!(
        said.contains("was due while serve was not running"),
        "{said}"
    );
}

#[test]
fn production_refuses_placeholders_and_a_digest_with_nowhere_to_go() {
    let dir = tempfile::tempdir().expect("a folder");
    let shipped = Command::new(mutualaid_bin())
        .args(["serve", "--production", "--port", "0", "--content"])
        .arg(real_content())
        .arg("--out")
        .arg(dir.path().join("public"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--outbox", "/dev/null"])
        .output()
        .expect("serve");
    assert!(!shipped.status.success());
    let said = String::from_utf8_lossy(&shipped.stderr);
    assert!(
        said.contains("config.toml:") && said.contains("placeholder"),
        "{said}"
    );

    let content = live_content(dir.path());
    let nowhere = Command::new(mutualaid_bin())
        .args(["serve", "--production", "--port", "0", "--content"])
        .arg(&content)
        .arg("--out")
        .arg(dir.path().join("public"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .env_remove("MUTUALAID_SMTP_URL")
        .output()
        .expect("serve");
    assert!(!nowhere.status.success());
    let said = String::from_utf8_lossy(&nowhere.stderr);
    assert!(
        said.contains("--smtp") && said.contains("--outbox"),
        "{said}"
    );
}

#[test]
fn a_digest_time_or_time_zone_that_cannot_be_read_is_named_at_its_line() {
    let dir = tempfile::tempdir().expect("a folder");
    let content = live_content(dir.path());
    let config = content.join("config.toml");
    let text = std::fs::read_to_string(&config)
        .expect("config.toml")
        .replace("digest_at = \"07:00\"", "digest_at = \"7am\"")
        .replace(
            "time_zone = \"America/Los_Angeles\"",
            "time_zone = \"Pacific\"",
        );
    std::fs::write(&config, &text).expect("writing");
    let line = |key: &str| {
        1 + text
            .lines()
            .position(|l| l.starts_with(key))
            .expect("the key")
    };
    let check = Command::new(mutualaid_bin())
        .args(["check", "--content"])
        .arg(&content)
        .output()
        .expect("mutualaid check");
    assert!(!check.status.success());
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        said.contains(&format!(
            "config.toml:{}: `7am` is not a time of day like 07:00",
            line("digest_at")
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "config.toml:{}: `Pacific` is not a time zone name",
            line("time_zone")
        )),
        "{said}"
    );
}
