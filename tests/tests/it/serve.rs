//! `mutualaid serve` as a person uses it: the site on loopback, the 404 page
//! in the path's language, and an edit that rebuilds and reloads the open
//! page — with the reload script only in what is served, never in the files.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mutualaid_tests::{fixture_site, mutualaid_bin};

/// The server process, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(content: &std::path::Path, out: &std::path::Path) -> Server {
    let mut child = Command::new(mutualaid_bin())
        .args(["serve", "--port", "0", "--content"])
        .arg(content)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting mutualaid serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut server = Server {
        child,
        base: String::new(),
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if let Some(at) = line.find("http://") {
            server.base = line[at..]
                .split_whitespace()
                .next()
                .expect("url")
                .trim_end_matches('/')
                .to_owned();
            return server;
        }
    }
    panic!("mutualaid serve never said where it listens");
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
