//! The connections `mutualaid serve` accepts, and how long it lets each
//! one take, so that no client — however slow, however many connections
//! it opens — keeps the site from anyone else. (`axum::serve` has no such
//! limits; this is its accept loop with them, on hyper.)
//!
//! - **A deadline for the whole request.** Its headers within
//!   [`Limits::header_timeout`] (hyper's own timer: from the connection's
//!   start, or from the previous answer on a kept-alive connection). Its
//!   body, counted from the end of the headers, whole within
//!   [`Limits::body_timeout`] and never slower than
//!   [`Limits::min_body_rate`] after its first second: after `t` seconds at
//!   least `rate × (t − 1)` bytes have come. Past either, `408` and the
//!   connection closed ([`GuardedBody`]). A person's 16 KiB form on a slow
//!   phone takes seconds; a client sending a byte every few seconds is cut
//!   within about one.
//! - **Connections per client.** A client is an IPv4 address or an IPv6
//!   /64 ([`Client::of`]); it holds at most
//!   [`Limits::max_connections_per_client`] connections at once, and an
//!   IPv6 /48 [`SHARES_PER_48`] times that. A client at its share first
//!   loses its own idle kept-alive connections (many people behind one
//!   carrier NAT share an address; their idle tabs must not lock each other
//!   out); only when it has none is the new connection refused (`429`).
//!   A `--trusted-proxy` (Caddy in front) is not a client: it carries
//!   everyone's requests.
//! - **Shedding at the cap.** When all [`Limits::max_connections`] are
//!   taken, a new connection does not wait: the idle kept-alive connection
//!   idle longest is closed, else the unfinished request open longest
//!   (headers or body still coming — an ordinary request finishes in
//!   milliseconds, so the oldest is a slow one whatever its rate). A request
//!   whose body is in is never cut: it is being stored and answered. So a
//!   full server still takes a new client.
//!
//! On shutdown (SIGTERM, Ctrl-C) it stops accepting, lets every request in
//! flight finish — a submission being stored is stored and answered —
//! closes idle connections, and returns once all are done (or after
//! [`Limits::grace`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use mutualaid_handler::http::client_network;
use mutualaid_handler::http::forwarded::TrustedProxies;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long clients may take, and how many connections they may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the connection's start (or the previous answer) to the end of
    /// a request's headers.
    pub header_timeout: Duration,
    /// From the end of a request's headers to the end of its body.
    pub body_timeout: Duration,
    /// Bytes per second a body must keep up after its first second.
    pub min_body_rate: u64,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client (IPv4 address, IPv6 /64) holds at once.
    pub max_connections_per_client: usize,
    /// How long requests in flight may take to finish at shutdown.
    pub grace: Duration,
}

/// How many clients' shares one IPv6 /48 (a site, a small provider's
/// customer) may hold at once.
pub const SHARES_PER_48: usize = 4;

/// The answer to a connection over its client's share (then closed).
const REFUSED: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 57\r\n\r\nToo many connections from your address: try again soon.\r\n";

/// Serves `app` on `listener` within `limits` until `shutdown` completes.
/// Each request carries its peer's address (`ConnectInfo<SocketAddr>`).
/// Connections from `proxies` are not held to a client's share.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    proxies: Option<Arc<TrustedProxies>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let table = Arc::new(Mutex::new(Table::default()));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    'accepting: loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then accept again.
                    eprintln!("warning: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let client = match &proxies {
            Some(proxies) if proxies.trusts(peer.ip()) => None,
            _ => Some(Client::of(peer.ip())),
        };
        if let Some(client) = client
            && !lock(&table).make_room_for(client, limits.max_connections_per_client)
        {
            refuse(stream);
            continue;
        }
        // At the cap: shed one connection (the table says which) and take its place.
        let permit = loop {
            if let Ok(permit) = permits.clone().try_acquire_owned() {
                break permit;
            }
            lock(&table).shed_one();
            tokio::select! {
                permit = permits.clone().acquire_owned() => break permit.expect("the semaphore is never closed"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = &mut shutdown => break 'accepting,
            }
        };
        let (cut, cut_off) = oneshot::channel();
        let entry = Tracked {
            table: table.clone(),
            id: lock(&table).open(client, cut),
        };
        let app = app.clone();
        let entry = Arc::new(entry);
        let service = {
            let entry = entry.clone();
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let entry = entry.clone();
                let app = app.clone();
                async move {
                    entry.set(Phase::Body);
                    let tripped = Arc::new(AtomicBool::new(false));
                    let (mut parts, body) = request.into_parts();
                    parts.extensions.insert(ConnectInfo(peer));
                    let body = GuardedBody::new(body, limits, tripped.clone(), entry.clone());
                    let response = app
                        .oneshot(hyper::Request::from_parts(parts, Body::new(body)))
                        .await;
                    entry.set(Phase::Idle);
                    if tripped.load(Ordering::Relaxed) {
                        return Ok(too_slow());
                    }
                    response
                }
            })
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A connection cut off or reset is the client's business, not an error of ours.
            tokio::select! {
                _ = connection => {}
                _ = cut_off => {}
            }
            drop(entry);
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => {
            eprintln!("warning: requests still running after {} s were cut off", limits.grace.as_secs());
        }
    }
    Ok(())
}

/// `408`, and the connection closed after it.
fn too_slow() -> Response<Body> {
    let mut response = Response::new(Body::from(
        "The request took too long to arrive: send it again.\n",
    ));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Says `429` if the socket takes it at once, and closes.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(REFUSED);
}

fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    // The table holds no invariant a panic elsewhere could break half-way.
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Who holds a connection, for its share: an IPv4 address or an IPv6 /64,
/// and for IPv6 its /48.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    /// The IPv4 address, or the IPv6 address's /64 (the rate limit's client).
    pub address: IpAddr,
    /// The IPv6 address's /48; none for IPv4.
    pub network: Option<Ipv6Addr>,
}

impl Client {
    /// The client `addr` belongs to (an IPv4-mapped IPv6 address is IPv4).
    pub fn of(addr: IpAddr) -> Client {
        let address = client_network(addr);
        let network = match address {
            IpAddr::V6(v6) => Some(Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1))),
            IpAddr::V4(_) => None,
        };
        Client { address, network }
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Open; its first request's headers not yet in.
    Opening,
    /// A request's headers are in, its body is coming.
    Body,
    /// A request's body is in: being handled. Never cut.
    Handling,
    /// Answered; kept alive for another request.
    Idle,
}

struct Entry {
    /// None for a trusted proxy.
    client: Option<Client>,
    phase: Phase,
    since: Instant,
    /// Taken when the connection is cut.
    cut: Option<oneshot::Sender<()>>,
}

/// Every open connection: where it is, and how to cut it.
#[derive(Default)]
struct Table {
    next: u64,
    entries: HashMap<u64, Entry>,
}

impl Table {
    fn open(&mut self, client: Option<Client>, cut: oneshot::Sender<()>) -> u64 {
        self.next += 1;
        self.entries.insert(
            self.next,
            Entry {
                client,
                phase: Phase::Opening,
                since: Instant::now(),
                cut: Some(cut),
            },
        );
        self.next
    }

    /// Connections not being cut, and which of them match.
    fn live(&self, of: impl Fn(&Entry) -> bool) -> impl Iterator<Item = (&u64, &Entry)> {
        self.entries
            .iter()
            .filter(move |(_, e)| e.cut.is_some() && of(e))
    }

    /// Cuts the oldest live connection matching `of` in one of `phases`.
    fn cut_oldest(&mut self, phases: &[Phase], of: impl Fn(&Entry) -> bool) -> bool {
        let oldest = self
            .live(|e| phases.contains(&e.phase) && of(e))
            .min_by_key(|(_, e)| e.since)
            .map(|(id, _)| *id);
        let Some(entry) = oldest.and_then(|id| self.entries.get_mut(&id)) else {
            return false;
        };
        if let Some(cut) = entry.cut.take() {
            let _ = cut.send(());
        }
        true
    }

    /// Whether one more connection from `client` fits its share (and its
    /// /48's), after cutting its own idle connections if need be.
    fn make_room_for(&mut self, client: Client, share: usize) -> bool {
        let share = share.max(1);
        let same = move |e: &Entry| e.client.is_some_and(|c| c.address == client.address);
        let same_48 = move |e: &Entry| {
            client.network.is_some() && e.client.and_then(|c| c.network) == client.network
        };
        self.fits(share, &same)
            && (client.network.is_none() || self.fits(share * SHARES_PER_48, &same_48))
    }

    /// Whether the connections matching `of` are fewer than `share`, after
    /// cutting as many of their idle ones as it takes.
    fn fits(&mut self, share: usize, of: &dyn Fn(&Entry) -> bool) -> bool {
        while self.live(of).count() >= share {
            if !self.cut_oldest(&[Phase::Idle], of) {
                return false;
            }
        }
        true
    }

    /// At the cap: cuts the connection idle longest, else the unfinished
    /// request open longest — unless one cut is still under way.
    fn shed_one(&mut self) {
        if self.entries.values().any(|e| e.cut.is_none()) {
            return; // its place is coming free
        }
        if !self.cut_oldest(&[Phase::Idle], |_| true) {
            self.cut_oldest(&[Phase::Opening, Phase::Body], |_| true);
        }
    }
}

/// A connection's place in the table: its phase set as it goes, removed
/// when it ends.
struct Tracked {
    table: Arc<Mutex<Table>>,
    id: u64,
}

impl Tracked {
    fn set(&self, phase: Phase) {
        if let Some(entry) = lock(&self.table).entries.get_mut(&self.id) {
            entry.phase = phase;
            entry.since = Instant::now();
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        lock(&self.table).entries.remove(&self.id);
    }
}

/// A request's body held to its deadline and minimum rate; once either is
/// passed it fails (and `tripped` tells the connection to answer `408`).
struct GuardedBody {
    inner: Incoming,
    started: Instant,
    received: u64,
    whole: Duration,
    rate: u64,
    timer: Pin<Box<Sleep>>,
    tripped: Arc<AtomicBool>,
    entry: Option<Arc<Tracked>>,
}

/// The grace a body has before its rate counts.
const FIRST_SECOND: Duration = Duration::from_secs(1);

impl GuardedBody {
    fn new(
        inner: Incoming,
        limits: Limits,
        tripped: Arc<AtomicBool>,
        entry: Arc<Tracked>,
    ) -> GuardedBody {
        let started = Instant::now();
        let mut body = GuardedBody {
            inner,
            started,
            received: 0,
            whole: limits.body_timeout,
            rate: limits.min_body_rate.max(1),
            timer: Box::pin(tokio::time::sleep_until(started)),
            tripped,
            entry: Some(entry),
        };
        body.rearm();
        if http_body::Body::is_end_stream(&body.inner) {
            body.finished();
        }
        body
    }

    /// The next moment the body is late: its whole deadline, or when what
    /// came so far falls under the minimum rate.
    fn rearm(&mut self) {
        let at_rate = FIRST_SECOND.saturating_add(Duration::from_secs_f64(
            self.received as f64 / self.rate as f64,
        ));
        let deadline = self.started + at_rate.min(self.whole);
        self.timer.as_mut().reset(deadline);
    }

    /// The whole body is in: the request is being handled, never cut.
    fn finished(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.set(Phase::Handling);
        }
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    this.rearm();
                }
                if this.inner.is_end_stream() {
                    this.finished();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.finished();
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.tripped.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("the body came too slowly".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(addr: &str) -> Client {
        Client::of(addr.parse().expect("an address"))
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_a_slash_48_one_network() {
        let a = client("2001:db8:aa:1:1:2:3:4");
        assert_eq!(a, client("2001:db8:aa:1:ffff:ffff:ffff:ffff"));
        assert_ne!(a.address, client("2001:db8:aa:2::1").address);
        assert_eq!(a.network, client("2001:db8:aa:2::1").network);
        assert_ne!(a.network, client("2001:db8:ab:1::1").network);
        let v4 = client("192.0.2.7");
        assert_ne!(v4, client("192.0.2.8"));
        assert_eq!(v4.network, None);
        assert_eq!(client("::ffff:192.0.2.7"), v4);
    }

    fn table_with(clients: &[(&str, Phase)]) -> (Table, Vec<oneshot::Receiver<()>>) {
        let mut table = Table::default();
        let mut cuts = Vec::new();
        for (addr, phase) in clients {
            let (cut, cut_off) = oneshot::channel();
            let id = table.open(Some(client(addr)), cut);
            table.entries.get_mut(&id).expect("opened").phase = *phase;
            cuts.push(cut_off);
        }
        (table, cuts)
    }

    #[test]
    fn a_client_at_its_share_loses_its_idle_connections_first_then_is_refused() {
        let (mut table, mut cuts) = table_with(&[
            ("192.0.2.7", Phase::Body),
            ("192.0.2.7", Phase::Idle),
            ("192.0.2.8", Phase::Idle),
        ]);
        assert!(table.make_room_for(client("192.0.2.7"), 2));
        assert!(cuts[1].try_recv().is_ok(), "its own idle one is cut");
        assert!(cuts[2].try_recv().is_err(), "another client's is not");
        assert!(!table.make_room_for(client("192.0.2.7"), 1));
        assert!(
            cuts[0].try_recv().is_err(),
            "a request is never cut for this"
        );
        assert!(table.make_room_for(client("192.0.2.9"), 1));
    }

    #[test]
    fn a_slash_48_holds_four_shares_over_its_slash_64s() {
        let many: Vec<(String, Phase)> = (0..8)
            .map(|i| (format!("2001:db8:aa:{i}::1"), Phase::Body))
            .collect();
        let refs: Vec<(&str, Phase)> = many.iter().map(|(a, p)| (a.as_str(), *p)).collect();
        let (mut table, _cuts) = table_with(&refs);
        // Share 2: the /48 holds 8, so a ninth /64 of it is refused…
        assert!(!table.make_room_for(client("2001:db8:aa:99::1"), 2));
        // …and another /48 is not.
        assert!(table.make_room_for(client("2001:db8:ab::1"), 2));
    }

    #[test]
    fn at_the_cap_the_idle_go_first_then_the_oldest_unfinished_never_one_being_handled() {
        let (mut table, mut cuts) = table_with(&[
            ("192.0.2.1", Phase::Handling),
            ("192.0.2.2", Phase::Body),
            ("192.0.2.3", Phase::Opening),
            ("192.0.2.4", Phase::Idle),
        ]);
        table.shed_one();
        assert!(cuts[3].try_recv().is_ok(), "the idle one first");
        table.shed_one();
        assert!(
            cuts[1].try_recv().is_err() && cuts[2].try_recv().is_err(),
            "nothing more while a cut is under way"
        );
        table.entries.retain(|_, e| e.cut.is_some());
        table.shed_one();
        assert!(cuts[1].try_recv().is_ok(), "then the oldest unfinished");
        table.entries.retain(|_, e| e.cut.is_some());
        table.shed_one();
        assert!(cuts[2].try_recv().is_ok());
        table.entries.retain(|_, e| e.cut.is_some());
        table.shed_one();
        assert!(cuts[0].try_recv().is_err(), "one being handled, never");
    }
}
