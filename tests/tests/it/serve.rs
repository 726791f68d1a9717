//! `mutualaid serve` as a person uses it: the site on loopback, the 404 page
//! in the path's language, and an edit that rebuilds and reloads the open
//! page — with the reload script only in what is served, never in the files.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mutualaid_tests::serve::{Server, serve_site};
use mutualaid_tests::{fixture_site, mutualaid_bin, post};

fn start(content: &std::path::Path, out: &std::path::Path) -> Server {
    start_with(content, out, &[], Stdio::null())
}

fn start_with(
    content: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
    stderr: Stdio,
) -> Server {
    let dir = out.parent().expect("the site's folder");
    serve_site(content, dir, extra, stderr)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn get(url: &str) -> (u16, String) {
    let mut response = agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().expect("a text body"),
    )
}

#[test]
fn serves_the_site_with_the_404_page_in_the_paths_language() {
    let site = fixture_site();
    let out = site.path().join("public");
    let server = start(site.path(), &out);
    let (status, home) = get(&format!("{}/", server.base));
    assert_eq!(status, 200);
    assert!(home.contains("<h1>Fixture home</h1>"), "{home}");
    assert!(
        home.contains("new EventSource(\"/__livereload\")"),
        "the reload script is served"
    );
    let on_disk = std::fs::read_to_string(out.join("index.html")).expect("built");
    assert!(
        !on_disk.contains("<script"),
        "but never written into public/"
    );

    let (status, page) = get(&format!("{}/es/about/", server.base));
    assert_eq!(status, 200);
    assert!(page.contains("Sobre nosotros"));
    let (status, missing) = get(&format!("{}/no/such/page/", server.base));
    assert_eq!(status, 404);
    assert!(missing.contains("Not here"), "{missing}");
    let (status, missing) = get(&format!("{}/es/no-existe/", server.base));
    assert_eq!(status, 404);
    assert!(missing.contains("No está aquí"), "{missing}");
}

#[test]
fn an_edit_rebuilds_the_site_and_reloads_the_page() {
    let site = fixture_site();
    let out = site.path().join("public");
    let server = start(site.path(), &out);
    let events = agent_without_timeout()
        .get(&format!("{}/__livereload", server.base))
        .call()
        .expect("subscribing to reload events");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = events.into_body().into_reader();
        let mut buf = [0u8; 256];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    });
    std::thread::sleep(Duration::from_millis(200)); // the watcher is up before the server says so; the stream needs a moment
    let about = site.path().join("pages/about.md");
    let text = std::fs::read_to_string(&about).expect("read");
    std::fs::write(&about, text.replace("We are", "Today we are")).expect("edit");

    let mut seen = String::new();
    while !seen.contains("data: reload") {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(chunk) => seen.push_str(&chunk),
            Err(_) => panic!("no reload event after the edit; got {seen:?}"),
        }
    }
    let (_, page) = get(&format!("{}/about/", server.base));
    assert!(page.contains("Today we are"), "the page shows the edit");
}

fn agent_without_timeout() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn a_person_signs_up_sees_the_thank_you_page_and_export_shows_the_row_and_the_log_holds_no_personal_data()
 {
    let site = fixture_site();
    let out = site.path().join("public");
    let stderr_file = site.path().join("serve.log");
    let log = std::fs::File::create(&stderr_file).expect("log file");
    let server = start_with(site.path(), &out, &["--rate-limit", "4"], Stdio::from(log));
    let form = "name=Ana+L%C3%B3pez&email=Ana%40Example.org&phone=%28619%29+555-0123&contact_method=text&zip=92105&roles=shopper&roles=delivery&consent=on&lang=es&website=";
    let (status, _, location) = post(
        &format!("{}/api/signup", server.base),
        "application/x-www-form-urlencoded",
        form,
    );
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/es/signup/thanks/"))
    );
    let (status, _, _) = post(
        &format!("{}/api/signup", server.base),
        "application/x-www-form-urlencoded",
        form.replace("92105", "92115"),
    );
    assert_eq!(status, 303);
    let (status, body, _) = post(
        &format!("{}/api/signup", server.base),
        "application/x-www-form-urlencoded",
        "name=Ana+L%C3%B3pez&zip=9&lang=es",
    );
    assert_eq!(status, 422);
    assert!(
        body.contains("value=\"Ana López\""),
        "the page keeps what was typed"
    );
    let (status, body, _) = post(
        &format!("{}/api/donate", server.base),
        "application/json",
        r#"{"name":"Ana López","email":"ana@example.org","phone":"6195550123","frequency":"monthly","consent":true}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, _) = post(
        &format!("{}/api/donate", server.base),
        "application/json",
        r#"{"name":"Ana López"}"#,
    );
    assert_eq!(status, 429, "over the limit of 4");
    drop(server);

    let export = Command::new(mutualaid_bin())
        .args(["export", "--format", "csv", "--data"])
        .arg(site.path().join("data"))
        .output()
        .expect("export");
    assert!(export.status.success());
    let csv = String::from_utf8(export.stdout).expect("utf-8");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows.len(),
        3,
        "a header, the sign-up (updated in place) and the donation: {csv}"
    );
    assert!(
        rows[1].contains(",\"signup\",")
            && rows[1].contains(
                "\"Ana López\",\"ana@example.org\",\"'+16195550123\",\"text\",\"92115\","
            ),
        "{csv}"
    );
    assert!(
        rows[2].contains(",\"donate\",") && rows[2].contains(",\"monthly\","),
        "{csv}"
    );

    let logs = std::fs::read_to_string(&stderr_file).expect("logs");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect();
    let outcomes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["created", "updated", "invalid", "created", "rate_limited"],
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l["fields"]["outcome"].is_string())
            .all(|l| l["fields"]["request_id"]
                .as_str()
                .is_some_and(|id| id.len() == 36))
    );
    for secret in [
        "Ana",
        "López",
        "L%C3%B3pez",
        "ana@example.org",
        "Example.org",
        "6195550123",
        "(619)",
        "92105",
        "92115",
    ] {
        assert!(
            !logs.contains(secret),
            "the log contains {secret:?}:\n{logs}"
        );
    }
}

#[test]
fn mutualaid_digest_prints_a_dry_run_then_writes_the_outbox_and_export_filters_by_day() {
    let site = fixture_site();
    let out = site.path().join("public");
    let server = start(site.path(), &out);
    let form = "name=Jo+Neighbour&email=jo%40example.org&contact_method=email&zip=92105&roles=delivery&consent=on&lang=en";
    assert_eq!(
        post(
            &format!("{}/api/signup", server.base),
            "application/x-www-form-urlencoded",
            form
        )
        .0,
        303
    );
    drop(server);
    let data = site.path().join("data");
    let run = |extra: &[&str]| {
        Command::new(mutualaid_bin())
            .args(["digest", "--content"])
            .arg(site.path())
            .arg("--data")
            .arg(&data)
            .args(extra)
            .output()
            .expect("digest")
    };
    let dry = run(&["--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("Jo Neighbour") && text.contains("92105 City Heights"),
        "{text}"
    );
    assert!(
        text.contains("nobody volunteers within 10 miles"),
        "no volunteer yet: {text}"
    );
    assert!(!data.join("outbox").exists(), "a dry run sends nothing");

    let sent = run(&["--to", "a@example.org,b@example.org"]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(data.join("outbox"))
        .expect("outbox")
        .collect();
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(files[0].as_ref().expect("entry").path()).expect("eml");
    assert!(eml.contains("To: a@example.org, b@example.org"), "{eml}");
    let again = run(&["--dry-run"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("No new sign-ups since"),
        "Jo was reported"
    );

    let export = |since: &str| {
        let out = Command::new(mutualaid_bin())
            .args(["export", "--format", "csv", "--since", since, "--data"])
            .arg(&data)
            .output()
            .expect("export");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .count()
    };
    assert_eq!(export("2020-01-01"), 2, "a header and Jo");
    assert_eq!(export("2999-01-01"), 1, "only the header");
}

#[test]
fn export_names_a_damaged_record_on_stderr_and_prints_every_other() {
    use mutualaid_handler::store::Submission;
    use mutualaid_handler::store::sqlite::SqliteStore;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("mutualaid.sqlite3");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = SqliteStore::open(&file).expect("open");
    let mut ids = Vec::new();
    for (name, email) in [
        ("Good One", "good1@example.org"),
        ("Broken", "broken@example.org"),
        ("Good Two", "good2@example.org"),
    ] {
        let s = crate::store_contract::person(name, Some(email), None, "92105", &["shopper"]);
        let accepted = runtime
            .block_on(mutualaid_handler::domain::accept(
                &store,
                Submission::Signup(s),
                1_800_000_000,
                crate::store_contract::KEEP,
            ))
            .expect("accepted");
        ids.push(accepted.person_id);
    }
    drop(store);
    rusqlite::Connection::open(&file)
        .expect("open")
        .execute(
            "UPDATE people SET record = x'00ff' WHERE id = ?1",
            [&ids[1]],
        )
        .expect("damage");
    let out = Command::new(mutualaid_bin())
        .args(["export", "--format", "csv", "--data"])
        .arg(dir.path())
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "one bad record does not stop the export"
    );
    let csv = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and the two good records: {csv}"
    );
    assert!(csv.contains("good1@example.org") && csv.contains("good2@example.org"));
    assert!(
        stderr.contains(&ids[1]) && stderr.contains("could not be read"),
        "named by its key: {stderr}"
    );
    assert!(!stderr.contains("broken@example.org") && !stderr.contains("Broken"));
    let log = Command::new(mutualaid_bin())
        .args(["export", "--table", "submissions", "--data"])
        .arg(dir.path())
        .output()
        .expect("export the log");
    let log = String::from_utf8(log.stdout).expect("utf-8");
    assert_eq!(
        log.lines().count(),
        4,
        "every submission, by reference: {log}"
    );
    assert!(log.starts_with("\"reference\",\"at\",\"form\",\"record_id\",\"outcome\",\"version\""));
}

#[test]
fn with_an_unreadable_database_serve_serves_the_site_answers_503_keeping_input_and_recovers() {
    let site = fixture_site();
    let out = site.path().join("public");
    let data = site.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    let db = data.join("mutualaid.sqlite3");
    std::fs::write(&db, b"this is not a database, it was damaged").expect("damage");
    let server = start(site.path(), &out);
    let (status, home) = get(&format!("{}/", server.base));
    assert_eq!(status, 200, "the site is up");
    assert!(home.contains("<html"));
    let form = "name=Jo+Neighbour&email=jo%40example.org&contact_method=email&zip=92105&roles=delivery&consent=on&lang=en";
    let (status, page, _) = post(
        &format!("{}/api/signup", server.base),
        "application/x-www-form-urlencoded",
        form,
    );
    assert_eq!(status, 503);
    assert!(
        page.contains("value=\"Jo Neighbour\""),
        "the input is kept: {page}"
    );
    // Fixed (here: the damaged file moved aside): the forms work again, no restart.
    std::fs::rename(&db, data.join("damaged.sqlite3")).expect("move aside");
    std::thread::sleep(Duration::from_millis(1_100));
    let (status, _, location) = post(
        &format!("{}/api/signup", server.base),
        "application/x-www-form-urlencoded",
        form,
    );
    assert_eq!(status, 303);
    assert!(location.is_some_and(|l| l.ends_with("/thanks/")));
}

#[test]
fn head_answers_with_the_headers_get_sends() {
    use std::io::Write;
    let site = fixture_site();
    let out = site.path().join("public");
    let server = start(site.path(), &out);
    let address = server.base.trim_start_matches("http://").to_owned();
    let ask = |method: &str, path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
        let headers: Vec<String> = head
            .lines()
            .map(str::to_ascii_lowercase)
            .filter(|l| !l.starts_with("date:"))
            .collect();
        (headers, body.to_owned())
    };
    for path in ["/", "/es/signup/", "/sitemap.xml", "/no-such-page/"] {
        let (get_headers, get_body) = ask("GET", path);
        let (head_headers, head_body) = ask("HEAD", path);
        assert_eq!(head_headers, get_headers, "{path}");
        assert!(head_body.is_empty(), "{path}");
        let length: usize = get_headers
            .iter()
            .find_map(|h| h.strip_prefix("content-length: "))
            .unwrap_or_else(|| panic!("{path}: a length in {get_headers:?}"))
            .parse()
            .expect("a number");
        assert_eq!(length, get_body.len(), "{path}: the length sent");
    }
}

#[test]
fn a_backup_taken_while_people_sign_up_holds_everyone_acknowledged_before_it() {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let site = fixture_site();
    let out = site.path().join("public");
    let data = out.with_file_name("data");
    let server = start_with(
        site.path(),
        &out,
        &["--rate-limit", "100000"],
        Stdio::null(),
    );
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acknowledged, stop, base) =
                (acknowledged.clone(), stop.clone(), server.base.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let body = serde_json::json!({
                        "name": format!("Backup Person {w}-{n}"),
                        "email": format!("backup-{w}-{n}@example.org"),
                        "contact_method": "email",
                        "zip": "92105",
                        "roles": ["delivery"],
                        "consent": true,
                    });
                    let Ok(mut answer) = agent
                        .post(&format!("{base}/api/signup"))
                        .header("content-type", "application/json")
                        .send(body.to_string())
                    else {
                        continue;
                    };
                    if answer.status().as_u16() == 201 {
                        let json: serde_json::Value = serde_json::from_str(
                            &answer.body_mut().read_to_string().expect("body"),
                        )
                        .expect("JSON");
                        let reference = json["reference"].as_str().expect("a reference");
                        acknowledged
                            .lock()
                            .expect("lock")
                            .push(reference.to_owned());
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().expect("lock").len() < 150 {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Everything acknowledged before the backup begins must be in it.
    let before: BTreeSet<String> = acknowledged.lock().expect("lock").iter().cloned().collect();
    let copy = site.path().join("backup.sqlite3");
    let back_up = || {
        Command::new(mutualaid_bin())
            .args(["backup", "--data"])
            .arg(&data)
            .arg("--to")
            .arg(&copy)
            .output()
            .expect("mutualaid backup")
    };
    let backup = back_up();
    std::thread::sleep(Duration::from_millis(300)); // sign-ups go on after it
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    let said = String::from_utf8_lossy(&backup.stdout);
    assert!(
        backup.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(said.contains("Backed up"), "{said}");
    let db =
        rusqlite::Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the backup opens");
    let mut stmt = db
        .prepare("SELECT reference FROM submissions")
        .expect("query");
    let stored: BTreeSet<String> = stmt
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("references");
    let missing: Vec<&String> = before.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged before the backup are missing",
        missing.len()
    );
    let after = acknowledged.lock().expect("lock").len();
    assert!(after > before.len(), "sign-ups went on while it ran");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "personal data: readable by the owner only");
    }
    // A second backup to the same file is refused, the first untouched.
    let again = back_up();
    assert!(!again.status.success());
    drop(server);
}
