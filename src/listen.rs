//! The connections `mutualaid serve` accepts, and how long it waits for
//! them: a client that never finishes its headers, or stops sending its
//! body, is cut off, and at most so many connections are served at once —
//! the rest wait in the kernel's queue until one closes. (`axum::serve`
//! has no such limits; this is its accept loop with them, on hyper.)
//!
//! On shutdown (SIGTERM, Ctrl-C) it stops accepting, lets every request in
//! flight finish — a submission being stored is stored and answered —
//! closes idle connections, and returns once all are done (or after
//! [`Limits::grace`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long clients may take, and how many are served at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the connection's start (or the previous answer) to the end of
    /// a request's headers.
    pub header_timeout: Duration,
    /// Between two pieces of a request's body.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may take to finish at shutdown.
    pub grace: Duration,
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes.
/// Each request carries its peer's address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
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
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A connection cut off or reset is the client's business, not an error of ours.
            let _ = connection.await;
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
