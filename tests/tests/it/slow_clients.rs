//! Issue 24: one client cannot hold the site. Hundreds of slow clients —
//! bodies a byte every few seconds, bodies just over the minimum rate, idle
//! connections re-opened as soon as they close — from one loopback address
//! and then spread over thirty, against `mutualaid serve --production`
//! directly and behind Caddy with the Caddyfile `docs/self-hosting.md`
//! documents. All the while an ordinary person, from another address, gets
//! the home page and a sign-up answered within a second; the slow clients
//! get `408`, `429` or are cut, never served; every sign-up acknowledged is
//! stored.
//!
//! Bounded: each attack lasts a few seconds, on loopback only.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mutualaid_tests::caddy;
use mutualaid_tests::serve::{Server, serve_site};
use mutualaid_tests::slow::{
    DRIP, JUST_OVER, Slow, Tally, Target, home, ordinary, signup, slow_address, slow_client,
};
use mutualaid_tests::{live_content, mutualaid_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// How long each attack on `serve` lasts: longer than `--body-timeout 3`.
const ATTACK: Duration = Duration::from_secs(4);
/// How long each slow-body attack through Caddy lasts: longer than the
/// documented `read_body 10s`.
const ATTACK_THROUGH_CADDY: Duration = Duration::from_millis(11_500);
/// How many slow clients at once.
const SLOW_CLIENTS: usize = 300;
/// What a person waits at most for each answer.
const PATIENCE: Duration = Duration::from_secs(1);

const PERSON: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// One attack: `SLOW_CLIENTS` slow clients behaving as `how` from
/// `addresses` addresses, while a person asks for the home page and signs up
/// twice. Returns the tally and the emails acknowledged.
async fn attack(
    target: &Target,
    how: Slow,
    addresses: usize,
    length: Duration,
    label: &str,
) -> (Arc<Tally>, Vec<String>) {
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + length;
    let clients: Vec<_> = (0..SLOW_CLIENTS)
        .map(|i| {
            tokio::spawn(slow_client(
                target.clone(),
                slow_address(i, addresses),
                how,
                until,
                tally.clone(),
            ))
        })
        .collect();
    let mut acknowledged = Vec::new();
    for round in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let status = ordinary(target, PERSON, home(target), PATIENCE).await;
        assert_eq!(
            status,
            Ok(200),
            "{label}, round {round}: the home page; {}",
            tally.report()
        );
        let email = format!("person.{label}.{round}@example.org").replace(' ', "-");
        let status = ordinary(target, PERSON, signup(target, &email), PATIENCE).await;
        assert_eq!(
            status,
            Ok(303),
            "{label}, round {round}: a sign-up; {}",
            tally.report()
        );
        acknowledged.push(email);
    }
    for client in clients {
        client.await.expect("a slow client");
    }
    assert_eq!(
        tally.served.load(Ordering::Relaxed),
        0,
        "{label}: no slow client is served: {}",
        tally.report()
    );
    (tally, acknowledged)
}

/// `serve --production` with its defaults, but for a body deadline short
/// enough that clients just over the minimum rate meet it within an attack.
fn production(dir: &Path, extra: &[&str]) -> Server {
    let content = live_content(dir);
    let outbox = dir.join("outbox");
    let mut args = vec![
        "--production",
        "--body-timeout",
        "3",
        "--outbox",
        outbox.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    serve_site(&content, dir, &args, Stdio::null())
}

fn stored_emails(data: &Path) -> String {
    let out = Command::new(mutualaid_bin())
        .args(["export", "--format", "csv", "--table", "people", "--data"])
        .arg(data)
        .output()
        .expect("mutualaid export");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The attacks on `serve` itself: each slow client is stopped by `serve`
/// (`408` for a late body, `429` past one address's share, cut when a new
/// client needs its place).
async fn every_attack_on_serve(target: &Target, data: &Path) {
    let mut acknowledged = Vec::new();
    for (how, addresses, label) in [
        (DRIP, 1, "drip from one address"),
        (JUST_OVER, 1, "just over the rate from one address"),
        (DRIP, 30, "drip from thirty"),
        (JUST_OVER, 30, "just over the rate from thirty"),
        (Slow::Idle, 30, "idle from thirty"),
    ] {
        let (tally, emails) = attack(target, how, addresses, ATTACK, label).await;
        acknowledged.extend(emails);
        assert!(
            tally.stopped() > 0,
            "{label}: the slow clients are stopped: {}",
            tally.report()
        );
        if addresses == 1 {
            assert!(
                tally.refused_429.load(Ordering::Relaxed) > 0,
                "{label}: one address holds its share, no more: {}",
                tally.report()
            );
        }
        // From thirty addresses they are over the cap: most are cut for a new client before they are late.
        if matches!(how, Slow::Body { .. }) && addresses == 1 {
            assert!(
                tally.timed_out_408.load(Ordering::Relaxed) > 0,
                "{label}: a late body is answered 408: {}",
                tally.report()
            );
        }
    }
    all_stored(data, &acknowledged);
}

/// The attacks through Caddy: the slow clients are held, and cut, by Caddy.
async fn every_attack_through_caddy(target: &Target, data: &Path) {
    let mut acknowledged = Vec::new();
    for (how, addresses, length, label) in [
        (DRIP, 1, ATTACK_THROUGH_CADDY, "drip from one address"),
        (JUST_OVER, 30, ATTACK, "just over the rate from thirty"),
        (Slow::Idle, 30, ATTACK, "idle from thirty"),
    ] {
        let (tally, emails) = attack(target, how, addresses, length, label).await;
        acknowledged.extend(emails);
        // A body that outlasts read_body (10 s) is cut by Caddy.
        if matches!(how, Slow::Body { .. }) && length == ATTACK_THROUGH_CADDY {
            assert!(
                tally.stopped() > 0,
                "{label}: Caddy cuts a body that takes longer than read_body: {}",
                tally.report()
            );
        }
    }
    all_stored(data, &acknowledged);
}

fn all_stored(data: &Path, acknowledged: &[String]) {
    let stored = stored_emails(data);
    for email in acknowledged {
        assert!(
            stored.contains(email.as_str()),
            "{email} was acknowledged and is stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_do_not_hold_serve_production() {
    let dir = tempfile::tempdir().expect("a folder");
    let server = production(dir.path(), &[]);
    let target = Target::direct(&server);
    every_attack_on_serve(&target, &dir.path().join("data")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_do_not_hold_serve_behind_the_documented_caddyfile() {
    let Some(bin) = caddy::binary() else { return };
    let dir = tempfile::tempdir().expect("a folder");
    let server = production(dir.path(), &["--trusted-proxy", "127.0.0.1"]);
    let caddy = caddy::start(&bin, server.base.trim_start_matches("http://"));
    let target = Target::caddy(&caddy);
    every_attack_through_caddy(&target, &dir.path().join("data")).await;
}

/// A connection from `from` that sends half its headers and holds on.
async fn half_a_request(target: &Target, from: IpAddr) -> Box<dyn mutualaid_tests::slow::Io> {
    let mut stream = target.connect(from).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("half a request");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seventeenth_connection_of_one_client_is_refused_while_another_is_served() {
    let dir = tempfile::tempdir().expect("a folder");
    let server = production(dir.path(), &["--max-connections", "24"]);
    let target = Target::direct(&server);
    let one = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 20));
    // Sixteen connections from one client, each half-way through its headers.
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(half_a_request(&target, one).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seventeenth = target.connect(one).await.expect("connect");
    let _ = seventeenth.write_all(home(&target).as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, seventeenth.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 429"),
        "the 17th is refused: {answer}"
    );
    assert_eq!(
        ordinary(&target, PERSON, home(&target), PATIENCE).await,
        Ok(200)
    );

    // Eight more clients fill the server to its cap of 24; a new person is still answered.
    for i in 0..8u8 {
        held.push(half_a_request(&target, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 30 + i))).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ordinary(
            &target,
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
            home(&target),
            PATIENCE
        )
        .await,
        Ok(200),
        "at the cap, a new client takes the place of the oldest unfinished request"
    );
    // The oldest held connection was the one let go.
    let mut first = held.remove(0);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, first.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))) && rest.is_empty(),
        "the oldest unfinished request was cut: {read:?} {rest:?}"
    );
}

#[test]
fn the_documented_caddyfiles_for_a_server_and_a_laptop_hold_slow_clients_alike() {
    let blocks = caddy::documented_caddyfiles();
    let server = blocks
        .iter()
        .find(|b| b.contains("aid.example.net {"))
        .expect("the server's Caddyfile");
    let laptop = blocks
        .iter()
        .find(|b| b.contains("https://localhost:8443"))
        .expect("the laptop's Caddyfile");
    let tidy = |block: &str, drop: &[&str]| -> Vec<String> {
        block
            .lines()
            .filter(|l| !drop.iter().any(|d| l.contains(d)))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        tidy(server, &["aid.example.net"]),
        tidy(
            laptop,
            &[
                "https://localhost:8443",
                "tls internal",
                "skip_install_trust"
            ]
        ),
        "the laptop's Caddyfile is the server's, on loopback"
    );
    for needed in ["read_header", "read_body", "buffer_requests", "max_size"] {
        assert!(server.contains(needed), "{needed} in {server}");
    }
}
