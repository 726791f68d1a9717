//! Slow clients as an attacker runs them, and an ordinary person beside
//! them, for the tests of issue 24 (`tests/it/slow_clients.rs`) and the
//! `slow_clients` benchmark: connections from any 127.0.0.x address to
//! `serve` directly or to Caddy over TLS; bodies dripped, or connections
//! kept idle, each connecting again as soon as it is cut off.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::Instant;

use crate::caddy::Caddy;
use crate::serve::Server;

/// Any stream a client talks over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the clients connect: `serve` itself, or Caddy over TLS.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    /// `127.0.0.1:PORT` or `localhost:PORT`, for the `Host` header.
    pub host: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Target {
    /// `serve` itself, over plain HTTP.
    pub fn direct(server: &Server) -> Target {
        let host = server.base.trim_start_matches("http://").to_owned();
        Target {
            addr: host.parse().expect("serve's address"),
            host,
            tls: None,
        }
    }

    /// Caddy, over TLS trusting its local CA.
    pub fn caddy(caddy: &Caddy) -> Target {
        let host = caddy.base.trim_start_matches("https://").to_owned();
        let port: u16 = host
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&caddy.root_pem) {
            roots.add(cert.expect("Caddy's root")).expect("a root");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Target {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            host,
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        }
    }

    /// A connection from `from` (any 127.0.0.x).
    pub async fn connect(&self, from: IpAddr) -> std::io::Result<Box<dyn Io>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let stream = socket.connect(self.addr).await?;
        Ok(match &self.tls {
            None => Box::new(stream),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
                Box::new(tls.connect(name, stream).await?)
            }
        })
    }
}

/// What became of the slow clients' connections.
#[derive(Default)]
pub struct Tally {
    /// Answered `408` (a late body).
    pub timed_out_408: AtomicUsize,
    /// Answered `429` (over the address's share).
    pub refused_429: AtomicUsize,
    /// Closed with no answer (or Caddy's empty one).
    pub cut: AtomicUsize,
    /// Answered 2xx or 3xx: must stay 0.
    pub served: AtomicUsize,
    /// Answered otherwise.
    pub other: AtomicUsize,
    /// Still open when the attack ended.
    pub open_at_the_end: AtomicUsize,
}

impl Tally {
    fn seen(&self, answer: &[u8]) {
        let text = String::from_utf8_lossy(answer);
        let counter = match text.split(' ').nth(1) {
            None => &self.cut,
            Some("408") => &self.timed_out_408,
            Some("429") => &self.refused_429,
            // Debian's Caddy 2.6, when a body outlasts `read_body`, forwards
            // nothing and closes with an empty 200 of its own.
            Some("200")
                if text.contains("Server: Caddy") && text.contains("Content-Length: 0\r\n") =>
            {
                &self.cut
            }
            Some(s) if s.starts_with('2') || s.starts_with('3') => &self.served,
            Some(_) => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Answered 408 or 429, cut, or refused otherwise: anything but served.
    pub fn stopped(&self) -> usize {
        self.timed_out_408.load(Ordering::Relaxed)
            + self.refused_429.load(Ordering::Relaxed)
            + self.cut.load(Ordering::Relaxed)
            + self.other.load(Ordering::Relaxed)
    }

    /// One line of counts.
    pub fn report(&self) -> String {
        format!(
            "408: {}, 429: {}, cut: {}, served: {}, other: {}, open at the end: {}",
            self.timed_out_408.load(Ordering::Relaxed),
            self.refused_429.load(Ordering::Relaxed),
            self.cut.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
            self.open_at_the_end.load(Ordering::Relaxed),
        )
    }
}

/// How a slow client behaves.
#[derive(Clone, Copy)]
pub enum Slow {
    /// A 16 000-byte sign-up body, `bytes` every `every`.
    Body {
        /// Bytes per piece.
        bytes: usize,
        /// Time between pieces.
        every: Duration,
    },
    /// One request answered, then idle on the kept-alive connection.
    Idle,
}

/// A slow client from `from` until `until`, connecting again each time it
/// is cut off.
pub async fn slow_client(
    target: Target,
    from: IpAddr,
    how: Slow,
    until: Instant,
    tally: Arc<Tally>,
) {
    while Instant::now() < until {
        let Ok(Ok(stream)) = tokio::time::timeout_at(until, target.connect(from)).await else {
            tally.cut.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (mut read, mut write) = tokio::io::split(stream);
        let (head, every, bytes) = match how {
            Slow::Body { bytes, every } => (
                format!(
                    "POST /api/signup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\n",
                    target.host
                ),
                every,
                bytes,
            ),
            Slow::Idle => (
                format!("GET /robots.txt HTTP/1.1\r\nHost: {}\r\n\r\n", target.host),
                Duration::from_secs(3600),
                0,
            ),
        };
        if write.write_all(head.as_bytes()).await.is_err() {
            tally.cut.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let mut sent = 0;
        loop {
            tokio::select! {
                read = read.read(&mut buf) => match read {
                    Ok(0) | Err(_) => { tally.seen(&answer); break; }
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        // The idle client's one answer: it keeps the connection, idle.
                        if matches!(how, Slow::Idle) && answer.starts_with(b"HTTP/1.1 200") {
                            answer.clear();
                        }
                    }
                },
                () = tokio::time::sleep(every) => {
                    let piece = vec![b'a'; bytes.min(16_000 - sent)];
                    sent += piece.len();
                    if write.write_all(&piece).await.is_err() {
                        tally.seen(&answer);
                        break;
                    }
                }
                () = tokio::time::sleep_until(until) => {
                    tally.open_at_the_end.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        // Again soon, as an attacker would (not at once: the test shares two cores with the server).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An ordinary request from `from`, answered within `patience`: its status.
pub async fn ordinary(
    target: &Target,
    from: IpAddr,
    request: String,
    patience: Duration,
) -> Result<u16, String> {
    let exchange = async {
        let mut stream = target.connect(from).await.map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(format!("no status: {text:?}"))
    };
    tokio::time::timeout(patience, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("not answered within {patience:?}")))
}

/// `GET /`, then the connection closed.
pub fn home(target: &Target) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        target.host
    )
}

/// A whole, valid sign-up form post for `email`, then the connection closed.
pub fn signup(target: &Target, email: &str) -> String {
    let body = format!(
        "name=Ordinary+Person&email={}&contact_method=email&zip=92113&roles=delivery&consent=on&lang=en&website=",
        email.replace('@', "%40")
    );
    format!(
        "POST /api/signup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        target.host,
        body.len()
    )
}

/// The address of slow client `i` when spread over `addresses`.
pub fn slow_address(i: usize, addresses: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + (i % addresses) as u8))
}

/// A byte every 5 s.
pub const DRIP: Slow = Slow::Body {
    bytes: 1,
    every: Duration::from_secs(5),
};
/// 120 bytes every 100 ms: 1.2 KB/s, just over `serve`'s minimum of 1 KB/s.
pub const JUST_OVER: Slow = Slow::Body {
    bytes: 120,
    every: Duration::from_millis(100),
};
