//! HTTP: the only module that knows HTTP. One axum [`Router`] serves
//! `POST /api/signup` and `POST /api/donate` — and the organizers' action
//! pages, `GET`/`POST /api/case` ([`case_pages`]) — under Lambda
//! (`lambda_http`) and inside `mutualaid serve` alike.
//!
//! Every failure maps to one status and one answer a person can act on:
//!
//! | case | plain HTML form | JSON |
//! | --- | --- | --- |
//! | stored (new, updated or unchanged alike) | `303` to the thank-you page (from configuration) | `201 {"status": "received", "reference"}` |
//! | honeypot filled | `303` (nothing stored; counts against the client's limit) | `201`, the same shape (nothing stored) |
//! | invalid | `422` the form page, error summary, values kept | `422 {errors: {field: [{code, message}]}}` |
//! | over the rate limit (N submissions per client — an IPv4 address or an IPv6 /64 — in any window: it slides; errors and honeypot hits count) | `429` + `Retry-After`, values kept | `429` + `Retry-After` |
//! | store down or slow | `503`, "try again", values kept | `503` |
//! | other content type | `415` | `415` |
//! | body over 16 KiB | `413`, the form page: "too long to send, shorten it" | `413` |
//! | undecodable body | `400`, the form page: "could not read it, send it again" | `400` |
//! | JSON from an origin not allowed | — | `403` |
//! | the language switch on a form's answer (`switch_language`) | `200`, the same input in the other language, with its problems; nothing stored | — |
//! | `GET` of the form's action (a reload, Enter in the address bar) | `303` to the form's page, in the language of the page the person came from | — |
//! | a plain form posted from another site | `403`, the form page with a link to it, nothing stored | — |
//!
//! The answer never tells a stranger whether a person is on record: a new
//! sign-up, an update and an unchanged resubmission get the same status and
//! shape, and the reference is random per submission (see
//! [`crate::domain`]).
//!
//! A post comes *from elsewhere* (a plain form: `403` page; JSON: `403`)
//! when its `Origin` is a real origin other than the site's own — one of
//! the configured origins (`base_url` among them) or the request's own host
//! — whatever `Sec-Fetch-Site` says (a sibling subdomain is `same-site`,
//! and still not us); when its `Origin` is `null` without `Sec-Fetch-Site:
//! same-origin` (a sandboxed frame sends `null`; our own pages send their
//! real origin, since a page holding a form has `Referrer-Policy:
//! same-origin`); or when it has no `Origin` and `Sec-Fetch-Site` says
//! `cross-site` or `same-site`. A request with neither header (an old
//! browser, `curl`) is accepted.
//!
//! Each row is one variant of `Answer`, which `handle` decides and `respond`
//! alone turns into a response; every word a person reads comes from
//! `content/i18n`. Logs are one JSON line per request with its id, the form,
//! the status and the outcome — never a submitted value.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mutualaid_forms::{DonateInput, FieldErrors, FormId, FormInput, Lang, SignupInput};
use mutualaid_site::{FormState, FormValues, Notice, Site};
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::domain::{self, Retention};

mod case_answers;
pub mod case_pages;
pub mod forwarded;
pub mod own_page;
pub mod security;
use crate::store::{
    AdminStore, Admission, CaseDesk, Counter, DigestStore, IntakeStore, Records, SenderStore,
    StoreError, Submission, Timestamp,
};
pub use case_pages::OrganizerActions;

/// The largest body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

/// How many submissions one client may make per window.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Submissions allowed in any window (a sliding one).
    pub per_window: u64,
    /// Window length in seconds.
    pub window_secs: i64,
}

/// The handler's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where a plain form goes after success, per form and language (paths
    /// on the site's origin; never taken from the request).
    pub thanks: BTreeMap<(FormId, Lang), String>,
    /// The site's own origins (`https://mutualaid.example.org`): allowed to
    /// post JSON, and plain forms from elsewhere are refused.
    pub allowed_origins: Vec<String>,
    /// Per-client limit.
    pub rate_limit: RateLimit,
    /// Secret mixed into the hash of a client's address.
    pub client_salt: String,
    /// How long to wait for the store before answering 503.
    pub store_timeout: Duration,
    /// How long records are kept.
    pub retention: Retention,
    /// The organizers' action pages (`/api/case`), if links are signed here.
    pub organizer_actions: Option<OrganizerActions>,
}

impl HttpConfig {
    /// The thank-you paths of a built site (`signup/thanks.md` in each of
    /// its languages).
    pub fn thanks_from_site(site: &Site) -> BTreeMap<(FormId, Lang), String> {
        let mut thanks = BTreeMap::new();
        for form in FormId::ALL {
            for lang in site_langs(site) {
                if let Some(page) = site.page(&format!("{}/thanks.md", form.key()), lang.code()) {
                    thanks.insert((form, lang), page.url.clone());
                }
            }
        }
        thanks
    }
}

/// The address a request came from, set by the entry point (the socket's
/// peer locally, the request context's source IP under Lambda).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Middleware for a local server: takes the client's address from the
/// socket (`axum::serve` with `into_make_service_with_connect_info`).
pub async fn client_from_socket(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(ip) = peer {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(request).await
}

/// Middleware under Lambda behind CloudFront: a request without the origin
/// secret CloudFront adds is refused (`403`), so the API cannot be called
/// around CloudFront; then the client is the viewer CloudFront saw
/// (`CloudFront-Viewer-Address`; the request context's source IP is only a
/// CloudFront edge). See [`crate::edge`].
#[cfg(feature = "aws")]
pub async fn client_from_cloudfront(
    State(edge): State<Arc<crate::edge::EdgeSecret>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use lambda_http::request::RequestContext;
    let given = request
        .headers()
        .get(crate::edge::ORIGIN_HEADER)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    if !edge.accepts(&given).await {
        tracing::info!(status = 403, "not through CloudFront");
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": "forbidden", "message": "Use the site's address."})),
        )
            .into_response();
    }
    request.headers_mut().remove(crate::edge::ORIGIN_HEADER);
    let viewer = request
        .headers()
        .get(crate::edge::VIEWER_ADDRESS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::edge::viewer_address);
    let source = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())
        }
        _ => None,
    };
    if let Some(ip) = viewer.or(source) {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(request).await
}

/// What the handlers share.
pub struct App<S> {
    /// Where submissions go.
    pub store: S,
    /// The site, for the error and try-again pages.
    pub site: Arc<Site>,
    /// Settings.
    pub config: HttpConfig,
    /// The clock (seconds since the epoch); tests set it.
    pub clock: fn() -> Timestamp,
}

/// Every route the router serves, as `METHOD /path` (the template throttles
/// each and routes each to the `submit` function).
pub const ROUTES: &[&str] = &[
    "POST /api/signup",
    "GET /api/signup",
    "POST /api/donate",
    "GET /api/donate",
    "GET /api/case",
    "POST /api/case",
    "GET /api/me",
    "POST /api/me",
    "GET /api/me/again",
    "POST /api/me/again",
    "GET /api/me/stop",
    "POST /api/me/stop",
    "GET /api/me/not-me",
    "POST /api/me/not-me",
];

/// The router: [`ROUTES`].
pub fn router<S: IntakeStore + CaseDesk + AdminStore + SenderStore + DigestStore>(
    app: App<S>,
) -> Router {
    let origins: Vec<HeaderValue> = app
        .config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600));
    let app = Arc::new(app);
    Router::new()
        .route(
            "/api/signup",
            post(submit::<S, SignupInput>).get(to_the_form::<S, SignupInput>),
        )
        .route(
            "/api/donate",
            post(submit::<S, DonateInput>).get(to_the_form::<S, DonateInput>),
        )
        .route(
            "/api/case",
            axum::routing::get(case_pages::show::<S>).post(case_pages::act::<S>),
        )
        .route(
            "/api/me",
            axum::routing::get(own_page::show::<S>).post(own_page::act::<S>),
        )
        .route(
            "/api/me/again",
            axum::routing::get(own_page::again_form::<S>).post(own_page::again::<S>),
        )
        .route(
            "/api/me/stop",
            axum::routing::get(own_page::stop_page::<S>).post(own_page::stop::<S>),
        )
        .route(
            "/api/me/not-me",
            axum::routing::get(own_page::not_me_page::<S>).post(own_page::not_me::<S>),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(drop_unusable_request_id))
        .with_state(app)
}

/// Whether a client's `X-Request-Id` is kept (logged and echoed): up to 64
/// characters of `[A-Za-z0-9_-]`.
pub fn is_usable_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// Removes a client's request id that is not usable, so that one is made
/// instead: a client's 8 KB header is neither logged nor echoed.
async fn drop_unusable_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ids = request.headers().get_all("x-request-id");
    let usable = ids.iter().count() == 1 && ids.iter().all(|v| is_usable_request_id(v.as_bytes()));
    if !usable {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// `GET` of a form's action — a reload of its error page, Enter in the
/// address bar: `303` to the form's page, in the language the person was
/// reading (the page they came from, else their browser's first language).
async fn to_the_form<S: IntakeStore, F: Form>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
) -> Response {
    let default = site_langs(&app.site).next().unwrap_or_default();
    // The page they came from says it (`/es/…`; a path in no language's folder is the default's) …
    let from_page = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_once('/').map(|(_, path)| path))
        .map(|path| {
            let first = path.split('/').next().unwrap_or("");
            site_langs(&app.site)
                .find(|l| *l != default && l.code() == first)
                .unwrap_or(default)
        });
    // … else the browser's first language the site has.
    let from_browser = || {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split([',', ';', '-']).next())
            .and_then(|first| Lang::parse(&first.trim().to_ascii_lowercase()))
            .filter(|l| site_langs(&app.site).any(|s| s == *l))
    };
    let lang = from_page.or_else(from_browser).unwrap_or(default);
    let page = app
        .site
        .page(&format!("{}.md", F::FORM.key()), lang.code())
        .map(|p| p.url.clone())
        .unwrap_or_else(|| "/".to_owned());
    tracing::info!(form = F::FORM.key(), status = 303, "form action opened");
    (StatusCode::SEE_OTHER, [(header::LOCATION, page)]).into_response()
}

/// A form's wire struct, as the handler needs it: the contract's
/// [`FormInput`] whose valid form is a [`Submission`].
trait Form: FormInput<Valid: Into<Submission>> + Send + 'static {
    fn into_submission(self) -> Result<Submission, FieldErrors> {
        self.validate_and_normalize().map(Into::into)
    }
}

impl<F: FormInput<Valid: Into<Submission>> + Send + 'static> Form for F {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Form,
    Json,
}

fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(Encoding::Form),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// What one client is, for the rate limit: an IPv4 address, or an IPv6
/// address's /64 (one home or phone is given a whole /64, and could
/// otherwise take a fresh address for every try).
pub fn client_network(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

/// A hash of the client's network ([`client_network`]) with a secret salt:
/// enough to count requests, never the address itself.
fn client_key(salt: &str, addr: Option<IpAddr>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(
        addr.map(|a| client_network(a).to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn within<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!(
            "no answer within {} ms",
            limit.as_millis()
        )))
    })
}

/// What a submission came to: one variant per row of the table in the
/// module docs, decided by [`handle`] and made into a response only by
/// [`respond`].
enum Answer {
    /// Stored: created, updated or unchanged (the same answer for all three).
    Stored {
        reference: String,
        outcome: crate::store::Outcome,
    },
    /// The honeypot was filled: answered as if stored, nothing kept.
    Honeypot { reference: String },
    /// Problems to fix: the form again, values kept.
    Invalid {
        values: FormValues,
        errors: FieldErrors,
    },
    /// Over the rate limit: wait this many seconds.
    RateLimited {
        values: FormValues,
        retry_after: i64,
    },
    /// The store could not take it in time.
    StoreUnavailable { values: FormValues },
    /// Neither a form nor JSON.
    UnsupportedMediaType,
    /// Over [`BODY_LIMIT`].
    TooLarge,
    /// Not a form or JSON object this form reads.
    Malformed,
    /// JSON from an origin that is not the site's.
    OriginNotAllowed,
    /// A plain form posted from another site.
    CrossSite,
    /// The language switch: the same input in the other language.
    LanguageSwitched {
        values: FormValues,
        errors: Option<FieldErrors>,
    },
}

impl Answer {
    /// The outcome in the log line.
    fn name(&self) -> &'static str {
        match self {
            Answer::Stored { outcome, .. } => outcome.name(),
            Answer::Honeypot { .. } => "honeypot",
            Answer::Invalid { .. } => "invalid",
            Answer::RateLimited { .. } => "rate_limited",
            Answer::StoreUnavailable { .. } => "store_unavailable",
            Answer::UnsupportedMediaType => "unsupported_media_type",
            Answer::TooLarge => "too_large",
            Answer::Malformed => "malformed",
            Answer::OriginNotAllowed => "origin_not_allowed",
            Answer::CrossSite => "cross_site",
            Answer::LanguageSwitched { .. } => "language_switched",
        }
    }
}

async fn submit<S: IntakeStore, F: Form>(
    State(app): State<Arc<App<S>>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let encoding = encoding(&headers);
    let (answer, lang) = match encoding {
        Some(encoding) => {
            handle::<S, F>(&app, client.map(|c| c.0.0), &headers, encoding, body).await
        }
        None => (Answer::UnsupportedMediaType, Lang::default()),
    };
    let outcome = answer.name();
    // A language the site has no texts in is answered in its default.
    let lang = in_site(&app.site, lang);
    let response = respond(&app, F::FORM, lang, encoding, answer);
    tracing::info!(
        request_id = %request_id,
        form = F::FORM.key(),
        status = response.status().as_u16(),
        outcome,
        micros = started.elapsed().as_micros() as u64,
        "submission"
    );
    response
}

/// The site's languages, the default first (`languages` in config.toml;
/// `check` refuses one that is not a code).
fn site_langs(site: &Site) -> impl Iterator<Item = Lang> + '_ {
    site.config
        .languages
        .iter()
        .filter_map(|code| Lang::parse(code))
}

/// `lang` if the site has texts in it, else the site's default.
fn in_site(site: &Site, lang: Lang) -> Lang {
    if site.strings.contains_key(lang.code()) {
        lang
    } else {
        site_langs(site).next().unwrap_or_default()
    }
}

/// The language a plain form's body names (`lang`), for answers given
/// before the body is read as the form.
fn form_lang(body: &[u8]) -> Lang {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| Lang::from_code(Some(v.trim())))
        .unwrap_or_default()
}

/// Decides what a submission comes to, and in which language to say it:
/// the checks in the order of the module docs' table, then the store.
async fn handle<S: IntakeStore, F: Form>(
    app: &App<S>,
    client: Option<IpAddr>,
    headers: &HeaderMap,
    encoding: Encoding,
    body: Result<Bytes, BytesRejection>,
) -> (Answer, Lang) {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (Answer::TooLarge, Lang::default());
        }
        Err(_) => return (Answer::Malformed, Lang::default()),
    };
    if from_elsewhere(&app.config.allowed_origins, headers) {
        return match encoding {
            Encoding::Form => (Answer::CrossSite, form_lang(&body)),
            Encoding::Json => (Answer::OriginNotAllowed, Lang::default()),
        };
    }
    // The language switch on a form's answer: the same input, shown again in
    // the other language (with its problems, if any). Nothing is stored or counted.
    if encoding == Encoding::Form
        && form_urlencoded::parse(&body).any(|(k, _)| k == mutualaid_site::SWITCH_LANGUAGE_FIELD)
    {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body)
            .into_owned()
            .filter(|(k, _)| k != mutualaid_site::SWITCH_LANGUAGE_FIELD)
            .collect();
        let stripped = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let Ok(input) = serde_html_form::from_bytes::<F>(stripped.as_bytes()) else {
            return (Answer::Malformed, form_lang(&body));
        };
        let lang = input.page().lang();
        let values = FormValues::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let errors = input.into_submission().err();
        return (Answer::LanguageSwitched { values, errors }, lang);
    }
    let (input, values) = match encoding {
        Encoding::Form => match serde_html_form::from_bytes::<F>(&body) {
            Ok(input) => {
                let pairs: Vec<(String, String)> =
                    form_urlencoded::parse(&body).into_owned().collect();
                (
                    input,
                    FormValues::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                )
            }
            Err(_) => return (Answer::Malformed, form_lang(&body)),
        },
        Encoding::Json => match serde_json::from_slice::<F>(&body) {
            Ok(input) => (input, FormValues::default()),
            Err(_) => return (Answer::Malformed, Lang::default()),
        },
    };
    let lang = input.page().lang();
    let now = (app.clock)();
    let day = domain::day(now);
    let timeout = app.config.store_timeout;

    let limit = app.config.rate_limit;
    let key = client_key(&app.config.client_salt, client);
    let admitted = app
        .store
        .admit(&key, now, limit.per_window, limit.window_secs);
    match within(timeout, admitted).await {
        Ok(Admission::Limited { retry_after }) => {
            count(app, &day, Counter::RateLimited).await;
            return (
                Answer::RateLimited {
                    values,
                    retry_after,
                },
                lang,
            );
        }
        Ok(Admission::Admitted(_)) => {}
        Err(_) => return (Answer::StoreUnavailable { values }, lang),
    }

    // A bot is thanked and nothing is kept; its tries count against it like anyone's.
    if input.page().is_bot() {
        count(app, &day, Counter::Honeypot).await;
        let reference = domain::new_reference();
        return (Answer::Honeypot { reference }, lang);
    }

    let submission = match input.into_submission() {
        Ok(s) => s,
        Err(errors) => {
            count(app, &day, Counter::Rejected).await;
            return (Answer::Invalid { values, errors }, lang);
        }
    };
    match within(
        timeout,
        domain::accept(&app.store, submission, now, app.config.retention),
    )
    .await
    {
        Ok(accepted) => {
            count(app, &day, accepted.outcome.counter()).await;
            let answer = Answer::Stored {
                reference: accepted.reference,
                outcome: accepted.outcome,
            };
            (answer, lang)
        }
        Err(e) => {
            tracing::warn!(error = %e, "store refused a submission");
            (Answer::StoreUnavailable { values }, lang)
        }
    }
}

/// Counts for the digest's self-report; a failure here must not fail a
/// submission that was stored.
async fn count<S: Records>(app: &App<S>, day: &str, counter: Counter) {
    if let Err(e) = within(app.config.store_timeout, app.store.count(day, counter)).await {
        tracing::warn!(error = %e, counter = counter.name(), "could not count");
    }
}

/// Whether a post came from somewhere other than the site itself (the
/// module docs say how).
fn from_elsewhere(site_origins: &[String], headers: &HeaderMap) -> bool {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let fetch_site = value(header::HeaderName::from_static("sec-fetch-site"));
    let same_origin = fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("same-origin"));
    match value(header::ORIGIN) {
        Some("null") => !same_origin,
        Some(origin) => {
            let origin = origin.trim_end_matches('/');
            let configured = site_origins
                .iter()
                .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
            let origin_host = origin.split_once("://").map(|(_, host)| host);
            let own_host = matches!(
                (origin_host, value(header::HOST)),
                (Some(o), Some(h)) if o.eq_ignore_ascii_case(h)
            );
            !(configured || own_host)
        }
        None => fetch_site.is_some_and(|s| {
            s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site")
        }),
    }
}

/// The one place an [`Answer`] becomes a response: the status and body of
/// its row in the module docs' table, as a page in `lang` (plain forms) or
/// JSON. Every word a person reads comes from `content/i18n`.
fn respond<S>(
    app: &App<S>,
    form: FormId,
    lang: Lang,
    encoding: Option<Encoding>,
    answer: Answer,
) -> Response {
    let unsupported = || {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(json!({"error": "unsupported_media_type", "message": "Send application/x-www-form-urlencoded or application/json."})),
        )
            .into_response()
    };
    let Some(encoding) = encoding else {
        return unsupported();
    };
    let empty = FormValues::default();
    let (status, values, errors, notice) = match &answer {
        Answer::Stored { reference, .. } | Answer::Honeypot { reference } => {
            return success(app, form, lang, encoding, reference);
        }
        Answer::UnsupportedMediaType => return unsupported(),
        Answer::OriginNotAllowed => {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"error": "origin_not_allowed"})),
            )
                .into_response();
        }
        Answer::Invalid { values, errors } => {
            (StatusCode::UNPROCESSABLE_ENTITY, values, Some(errors), None)
        }
        Answer::LanguageSwitched { values, errors } => {
            (StatusCode::OK, values, errors.as_ref(), None)
        }
        Answer::RateLimited { values, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            values,
            None,
            Some(Notice::TooManyRequests),
        ),
        Answer::StoreUnavailable { values } => (
            StatusCode::SERVICE_UNAVAILABLE,
            values,
            None,
            Some(Notice::Unavailable),
        ),
        Answer::CrossSite => (StatusCode::FORBIDDEN, &empty, None, Some(Notice::CrossSite)),
        Answer::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            &empty,
            None,
            Some(Notice::TooLarge),
        ),
        Answer::Malformed => (
            StatusCode::BAD_REQUEST,
            &empty,
            None,
            Some(Notice::Malformed),
        ),
    };
    let mut response = match encoding {
        Encoding::Form => form_page(app, form, lang, status, values, errors, notice),
        Encoding::Json => json_problems(app, form, lang, status, errors, notice),
    };
    if let Answer::RateLimited { retry_after, .. } = answer
        && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn success<S>(
    app: &App<S>,
    form: FormId,
    lang: Lang,
    encoding: Encoding,
    reference: &str,
) -> Response {
    match encoding {
        Encoding::Json => (
            StatusCode::CREATED,
            axum::Json(json!({"status": "received", "reference": reference})),
        )
            .into_response(),
        Encoding::Form => {
            let location = app
                .config
                .thanks
                .get(&(form, lang))
                .or_else(|| {
                    let default = site_langs(&app.site).next().unwrap_or_default();
                    app.config.thanks.get(&(form, default))
                })
                .map(String::as_str)
                .unwrap_or("/");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, "no-store"),
                ],
            )
                .into_response()
        }
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The form's page again, with what was typed, its problems or a notice.
fn form_page<S>(
    app: &App<S>,
    form: FormId,
    lang: Lang,
    status: StatusCode,
    values: &FormValues,
    errors: Option<&FieldErrors>,
    notice: Option<Notice>,
) -> Response {
    let state = FormState {
        values: Some(values),
        errors,
        notice,
    };
    match app.site.render_form_page(form, lang.code(), &state) {
        Some(Ok(page)) => html(status, page),
        // Only a site without the form's page gets here (`check` refuses one).
        _ => (status, "Please go back and try again.").into_response(),
    }
}

/// The JSON answer: each field's problems with their messages, or the
/// notice's code and message, in `lang`.
fn json_problems<S>(
    app: &App<S>,
    form: FormId,
    lang: Lang,
    status: StatusCode,
    errors: Option<&FieldErrors>,
    notice: Option<Notice>,
) -> Response {
    let strings = app
        .site
        .strings
        .get(lang.code())
        .or_else(|| app.site.strings.values().next());
    let mut body = serde_json::Map::new();
    if let Some(errors) = errors {
        let mut fields = serde_json::Map::new();
        for e in &errors.0 {
            let field = form.field(e.field);
            let list: Vec<_> = e
                .codes
                .iter()
                .map(|code| {
                    let message = match (strings, field) {
                        (Some(s), Some(f)) => s.error_message(form, f, code),
                        _ => (*code).to_owned(),
                    };
                    json!({"code": code, "message": message})
                })
                .collect();
            fields.insert(e.field.to_owned(), list.into());
        }
        body.insert("errors".into(), fields.into());
    }
    if let (Some(notice), Some(s)) = (notice, strings) {
        let (code, title, text) = notice.texts(&s.ui);
        body.insert("error".into(), code.into());
        body.insert("message".into(), format!("{title}. {text}").into());
        if notice == Notice::TooLarge {
            body.insert("limit_bytes".into(), BODY_LIMIT.into());
        }
    }
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}
