//! The security headers every response carries on a self-hosted server —
//! the same as CloudFront's response headers policy in
//! `infra/template.yaml` (a test holds the two together): no script runs,
//! nothing loads from elsewhere, no page can be framed, no referrer leaks
//! to another site where a person came from (`same-origin`: a form's post
//! then carries the site's real `Origin`, not `null`; a page that keeps
//! its own stricter policy, an organizer's action page, keeps it). HSTS only when the trusted proxy says the
//! request came over HTTPS ([`super::forwarded::ViaHttps`]): over plain
//! HTTP it would mean nothing, and on `localhost` it would pin a developer's
//! browser to HTTPS.

use axum::http::HeaderValue;
use axum::response::Response;

use super::forwarded::ViaHttps;

/// `Content-Security-Policy`, as in the CloudFront policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// `Strict-Transport-Security` (two years, subdomains, no preload).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";
/// `Permissions-Policy`.
pub const PERMISSIONS_POLICY: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), interest-cohort=()";

/// Every header but HSTS, as (name, value).
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("permissions-policy", PERMISSIONS_POLICY),
];

/// Middleware: sets the headers on every response (replacing any, but a
/// `Referrer-Policy` the response set itself).
pub async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let https = request.extensions().get::<ViaHttps>().is_some();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if name == "referrer-policy" && headers.contains_key(name) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    response
}
