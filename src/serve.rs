//! `mutualaid serve`: the whole product on one machine. The built site,
//! the form handler at `/api` on SQLite in the data folder, expired records
//! purged hourly and, if scheduled, the daily digest ([`crate::schedule`]).
//!
//! Two modes:
//! - **development** (the default): on loopback, the site rebuilt when
//!   content changes, with a reload script injected into HTML responses on
//!   the fly — the files in the output folder stay exactly what `build`
//!   writes, so a served folder can be deployed as it is;
//! - **production** (`--production`): built once and served from memory,
//!   compressed, with `ETag`s and the security headers
//!   ([`crate::static_site`], `http::security`); no script anywhere; the
//!   client taken from `X-Forwarded-For` only from `--trusted-proxy`
//!   addresses (`http::forwarded`); the digest on its schedule. SIGTERM
//!   stops it gracefully: requests in flight are answered, a digest being
//!   sent finishes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use mutualaid_handler::domain::Retention;
use mutualaid_handler::http::forwarded::TrustedProxies;
use mutualaid_handler::http::{self, App, HttpConfig, RateLimit};
use mutualaid_handler::links::{KeySource, LinkKeys};
use mutualaid_handler::outbox;
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_site::Site;
use notify::{RecursiveMode, Watcher};
use tokio::sync::broadcast;
use tower_http::services::ServeDir;

use crate::static_site::{self, StaticSite};

/// The path of the server-sent events that tell the page to reload.
const RELOAD_PATH: &str = "/__livereload";
/// Injected before `</body>` of every HTML response in serve mode only.
const RELOAD_SCRIPT: &str =
    "<script>new EventSource(\"/__livereload\").onmessage=function(){location.reload()}</script>";

#[derive(Clone)]
struct AppState {
    out: PathBuf,
    reload: broadcast::Sender<()>,
}

/// What `serve` needs.
pub struct Options {
    /// The loaded content (checked).
    pub site: Site,
    /// The content folder, watched.
    pub content: PathBuf,
    /// The output folder.
    pub out: PathBuf,
    /// Where to listen (port 0: any free one).
    pub listen: std::net::SocketAddr,
    /// Production mode: whose forwarding headers to believe (development
    /// mode when none).
    pub production: Option<TrustedProxies>,
    /// The daily digest, if scheduled.
    pub schedule: Option<(crate::digest::Digester, crate::schedule::DailyAt)>,
    /// The data folder.
    pub data: PathBuf,
    /// Submissions per client per 10 minutes.
    pub rate_limit: u64,
    /// The most people one volunteer helps at once.
    pub cap: usize,
    /// Client timeouts and the connection cap.
    pub limits: crate::listen::Limits,
    /// How often expired records and old mail are deleted (hourly; tests
    /// shorten it).
    pub purge_every: Duration,
    /// Where messages to people (receipts) go, and their sender
    /// (`--mail-from`; default: the network and `contact_email`).
    pub sender: (crate::digest::Delivery, Option<String>),
}

/// How often the sender looks for messages due.
const SENDER_EVERY: Duration = Duration::from_secs(2);

/// The folder in a data folder that messages to people are written to
/// when there is no `--smtp`.
pub const MESSAGES_FOLDER: &str = "messages";

/// The database file in a data folder.
const STORE_FILE: &str = "mutualaid.sqlite3";

/// The keys that sign the organizers' action links, in the data folder
/// (created on first use, readable by this user only).
pub fn link_keys(data: &Path) -> anyhow::Result<LinkKeys> {
    let file = data.join("link-keys");
    LinkKeys::load_or_create(&file).with_context(|| format!("the link keys {}", file.display()))
}

/// The SQLite store in a data folder.
pub fn open_store(data: &Path) -> anyhow::Result<SqliteStore> {
    let file = data.join(STORE_FILE);
    SqliteStore::open(&file).with_context(|| format!("opening the store {}", file.display()))
}

/// Builds once, then serves until interrupted.
pub async fn serve(options: Options) -> anyhow::Result<()> {
    let Options {
        site,
        content,
        out,
        listen,
        production,
        schedule,
        data,
        rate_limit,
        cap,
        limits,
        purge_every,
        sender,
    } = options;
    site.build(&out)
        .with_context(|| format!("writing the site to {}", out.display()))?;
    let (reload, _) = broadcast::channel(16);
    create_private_dir(&data)?;
    let files = match &production {
        None => {
            watch(
                content.clone(),
                out.clone(),
                vec![out.clone(), data.clone()],
                reload.clone(),
            )?;
            None
        }
        Some(_) => {
            let files = StaticSite::load(&out)
                .with_context(|| format!("reading the built site in {}", out.display()))?;
            let (count, plain, brotli) = files.sizes();
            println!(
                "Serving {count} files from memory: {} KiB, {} KiB compressed",
                plain / 1024,
                brotli / 1024
            );
            Some(Arc::new(files))
        }
    };

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("listening on {listen} (is another server using it? try --listen or --port)")
        })?;
    let addr = listener.local_addr()?;

    // The site is served even when the store cannot be opened: the forms answer 503 until it can.
    let file = data.join(STORE_FILE);
    let (store, opened) = SqliteStore::open_when_ready(&file);
    match opened {
        Ok(()) => purge(&store, &data, site.config.retention_days)
            .await
            .context("deleting expired records")?,
        Err(e) => eprintln!(
            "warning: the store {} could not be opened ({e}); the site is served and the forms answer 503 until it can be",
            file.display()
        ),
    }
    // The digest on its schedule; shutdown waits for a run in progress.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let digest_running = Arc::new(tokio::sync::Mutex::new(()));
    let scheduled = schedule.map(|(digester, at)| {
        println!(
            "The digest goes out daily at {} ({}).",
            at.time.strftime("%H:%M"),
            digester.config.time_zone
        );
        tokio::spawn(crate::schedule::run(
            store.clone(),
            digester,
            at,
            digest_running.clone(),
            stopped,
        ))
    });
    // Messages to people: sent within seconds of the write that caused them,
    // by this loop alone (a 201 never waits for mail).
    let site = Arc::new(site);
    {
        let store = store.clone();
        let (delivery, from) = sender;
        let letters = outbox::Letters::new(
            site.clone(),
            from.as_deref(),
            u64::from(site.config.receipts_per_hour),
        )
        .map_err(|why| anyhow::anyhow!("--mail-from: {why}"))?;
        let mut stopped = stop.subscribe();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SENDER_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stopped.changed() => return,
                }
                if let Err(e) =
                    outbox::deliver_due(&store, &delivery, &letters, crate::schedule::now()).await
                {
                    eprintln!("warning: the sender could not read the store ({e}); it tries again");
                }
            }
        });
    }
    // Retention holds while serve runs for months: expired records and old mail go every hour.
    {
        let (store, data, days) = (store.clone(), data.clone(), site.config.retention_days);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(purge_every);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = purge(&store, &data, days).await {
                    eprintln!("warning: deleting expired records: {e:#}");
                }
            }
        });
    }
    let config = HttpConfig {
        thanks: HttpConfig::thanks_from_site(&site),
        allowed_origins: vec![
            format!("http://{addr}"),
            format!("http://localhost:{}", addr.port()),
            site.config.base_url.trim_end_matches('/').to_owned(),
        ],
        rate_limit: RateLimit {
            per_window: rate_limit,
            window_secs: 600,
        },
        client_salt: uuid::Uuid::new_v4().to_string(),
        store_timeout: Duration::from_secs(5),
        retention: Retention {
            days: site.config.retention_days,
        },
        organizer_actions: Some(http::OrganizerActions {
            keys: KeySource::Fixed(link_keys(&data)?),
            cap,
            time_zone: site.config.time_zone_name().to_owned(),
        }),
    };
    let api = http::router(App {
        store,
        site,
        config,
        clock: crate::schedule::now,
    });

    let state = AppState {
        out: out.clone(),
        reload,
    };
    let proxies = production.map(Arc::new);
    let app = match (files, proxies.clone()) {
        (Some(files), Some(trusted)) => Router::new()
            .fallback(static_site::serve_file)
            .with_state(files)
            .merge(api)
            .layer(axum::middleware::from_fn_with_state(state, tidy_path))
            .layer(axum::middleware::from_fn(http::security::security_headers))
            .layer(axum::middleware::from_fn_with_state(
                trusted,
                http::forwarded::client_from_forwarded,
            )),
        _ => {
            let files = ServeDir::new(&out).fallback(get(not_found).with_state(state.clone()));
            Router::new()
                .route(RELOAD_PATH, get(reload_events))
                .fallback_service(files)
                .with_state(state.clone())
                .merge(api.layer(axum::middleware::from_fn(http::client_from_socket)))
                .layer(axum::middleware::from_fn(inject_reload_script))
                .layer(axum::middleware::from_fn_with_state(state, tidy_path))
        }
    };

    println!(
        "Serving {} on http://{addr}/ with the form handler at /api, data in {} (Ctrl-C to stop)",
        out.display(),
        data.display()
    );
    crate::listen::serve(listener, app, limits, proxies, stop_signal())
        .await
        .context("serving")?;
    // Every request in flight was answered; a digest being sent finishes before the process ends.
    let _ = stop.send(true);
    let _finished = digest_running.lock().await;
    if let Some(task) = scheduled {
        task.abort();
    }
    println!("Stopped: every request in flight was answered.");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what systemd and `kill` send).
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    println!("Stopping: answering the requests in flight first.");
}

/// Deletes expired records (and all they keep) and outbox mail older than
/// the retention period.
async fn purge(store: &SqliteStore, data: &Path, retention_days: u32) -> anyhow::Result<()> {
    store
        .purge_expired(crate::schedule::now(), retention_days)
        .await?;
    let keep = Duration::from_secs(u64::from(retention_days) * 86_400);
    let entries = [data.join("outbox"), data.join(MESSAGES_FOLDER)]
        .into_iter()
        .filter_map(|folder| std::fs::read_dir(folder).ok()) // none: no mail written yet
        .flatten();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > keep);
        if old {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Creates the data folder readable by this user only (0700): it holds
/// every person's record (the store's files are 0600 themselves).
fn create_private_dir(data: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(data)
        .with_context(|| format!("creating {}", data.display()))
}

/// The longest file name the file systems people run this on take (bytes).
const LONGEST_NAME: usize = 255;

/// Keeps the served folder's private files private and every redirect on
/// this host: a path with a segment that starts with `.` (`/.git/config`,
/// `/%2Eenv`) or is longer than a file name can be is not found, a request
/// line in absolute form is taken by its path alone, and repeated slashes
/// are one (`//signup` would otherwise be redirected to `//signup/`, which
/// a browser reads as another host).
async fn tidy_path(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // A request line in absolute form (`GET http://evil.example/signup`)
    // names a host: only its path is ours, so no redirect leaves this host.
    if request.uri().authority().is_some()
        && let Some(path) = request.uri().path_and_query().cloned()
    {
        *request.uri_mut() = Uri::from(path);
    }
    let path = request.uri().path();
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    // A dotfile, or a name no file system holds (too long to look up).
    if decoded
        .split(['/', '\\'])
        .any(|segment| segment.starts_with('.') || segment.len() > LONGEST_NAME)
    {
        return not_found(State(state), request.uri().clone()).await;
    }
    if path.contains("//") {
        let mut single = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && single.ends_with('/')) {
                single.push(c);
            }
        }
        let rewritten = match request.uri().query() {
            Some(q) => format!("{single}?{q}"),
            None => single,
        };
        if let Ok(uri) = rewritten.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    next.run(request).await
}

/// Builds the site; prints problems instead of failing, so the server keeps
/// serving the last good build while a person fixes the content.
fn rebuild(content: &Path, out: &Path) -> bool {
    let started = Instant::now();
    match Site::load(content).and_then(|site| site.build(out)) {
        Ok(report) => {
            println!(
                "Built {} pages in {} ms",
                report.pages,
                started.elapsed().as_millis()
            );
            true
        }
        Err(e) => {
            eprintln!("{e}");
            false
        }
    }
}

/// Watches the content folder on a thread; after a burst of changes settles,
/// rebuilds and tells every open page to reload. Changes inside `ignored`
/// folders (the output and the data, should they sit inside the content
/// folder) are not content changes.
fn watch(
    content: PathBuf,
    out: PathBuf,
    ignored: Vec<PathBuf>,
    reload: broadcast::Sender<()>,
) -> anyhow::Result<()> {
    let ignored: Vec<PathBuf> = ignored
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let is_content = event
            .paths
            .iter()
            .any(|p| !ignored.iter().any(|i| p.starts_with(i)));
        if !event.kind.is_access() && is_content {
            let _ = tx.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&content, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", content.display()))?;
    std::thread::spawn(move || {
        let _watcher = watcher; // lives as long as the thread
        while rx.recv().is_ok() {
            while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
            if rebuild(&content, &out) {
                let _ = reload.send(());
            }
        }
    });
    Ok(())
}

async fn reload_events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = state.reload.subscribe();
    let events = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(()) => return Some((Ok(Event::default().data("reload")), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The built 404 page in the language of the path (`/es/…` → Spanish).
async fn not_found(State(state): State<AppState>, uri: Uri) -> Response {
    let spanish_like = uri
        .path()
        .split('/')
        .nth(1)
        // A language's folder: never `..` or another hidden name.
        .filter(|first| !first.is_empty() && !first.starts_with('.') && !first.contains('\\'))
        .map(|first| state.out.join(first).join("404.html"))
        .filter(|p| p.is_file());
    let page = spanish_like.unwrap_or_else(|| state.out.join("404.html"));
    match tokio::fs::read_to_string(&page).await {
        Ok(body) => (StatusCode::NOT_FOUND, Html(body)).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

/// Adds the reload script to HTML responses; a `HEAD` is answered as the
/// `GET` would be, headers and all (`Content-Length` the length sent), with
/// no body.
async fn inject_reload_script(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let head = request.method() == axum::http::Method::HEAD;
    if head {
        *request.method_mut() = axum::http::Method::GET;
    }
    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let (mut parts, body) = response.into_parts();
    let bytes = if is_html {
        let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "could not read the page").into_response();
        };
        let html = String::from_utf8_lossy(&bytes);
        let injected = match html.rfind("</body>") {
            Some(at) => format!("{}{RELOAD_SCRIPT}{}", &html[..at], &html[at..]),
            None => format!("{html}{RELOAD_SCRIPT}"),
        };
        parts
            .headers
            .insert(header::CONTENT_LENGTH, injected.len().into());
        Body::from(injected)
    } else if head {
        body
    } else {
        return Response::from_parts(parts, body);
    };
    if head {
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, bytes)
}
