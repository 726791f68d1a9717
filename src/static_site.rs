//! The built site as `serve --production` serves it: read once into memory
//! at start, each text file compressed once with brotli and gzip (the
//! smaller than the original are kept), and answered by `Accept-Encoding`
//! with an `ETag` per representation (`If-None-Match` gets `304`),
//! `Cache-Control` (pages revalidate every time, so a change shows at once;
//! other files are kept an hour) and `Vary: Accept-Encoding`.
//!
//! Paths resolve as the CloudFront function does: `/signup/` is
//! `/signup/index.html`; `/signup` is redirected to `/signup/`; anything
//! else unknown is the built 404 page in the language of the path. No file
//! or folder whose name starts with `.` is served; only `GET` and `HEAD`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// One file, in every encoding kept.
struct Asset {
    content_type: HeaderValue,
    cache_control: HeaderValue,
    /// The tag of the original; `-br`/`-gz` are appended for those.
    tag: String,
    identity: Bytes,
    brotli: Option<Bytes>,
    gzip: Option<Bytes>,
}

/// The site in memory, by URL path (`/es/index.html`).
pub struct StaticSite {
    files: HashMap<String, Asset>,
}

/// The encodings a client takes, from `Accept-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl StaticSite {
    /// Reads (and compresses) every file under `out`.
    pub fn load(out: &Path) -> anyhow::Result<StaticSite> {
        let mut paths = Vec::new();
        collect(out, out, &mut paths)?;
        let files = paths
            .into_par_iter()
            .map(|(url, file)| {
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                Ok((url.clone(), asset(&url, bytes)?))
            })
            .collect::<anyhow::Result<HashMap<_, _>>>()?;
        Ok(StaticSite { files })
    }

    /// How many files, and their bytes as sent uncompressed and as brotli.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let plain = self.files.values().map(|a| a.identity.len()).sum();
        let brotli = self
            .files
            .values()
            .map(|a| a.brotli.as_ref().unwrap_or(&a.identity).len())
            .sum();
        (self.files.len(), plain, brotli)
    }
}

/// Every file below `dir` as (URL path, file), skipping dotfiles.
fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let url = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .fold(String::new(), |url, part| format!("{url}/{part}"));
            out.push((url, path));
        }
    }
    Ok(())
}

fn asset(url: &str, bytes: Vec<u8>) -> anyhow::Result<Asset> {
    let mime = mime_guess::from_path(url).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "xml" | "json" | "javascript")
        || mime.suffix().is_some_and(|s| s == "xml" || s == "json");
    let content_type = if mime.type_() == mime_guess::mime::TEXT {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let hash = Sha256::digest(&bytes);
    let tag: String = hash[..10].iter().map(|b| format!("{b:02x}")).collect();
    let (brotli, gzip) = if text && bytes.len() > 256 {
        let mut br = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut br, 4096, 9, 22);
            writer.write_all(&bytes)?;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let gz = gz.finish()?;
        let smaller = |c: Vec<u8>| (c.len() < bytes.len()).then(|| Bytes::from(c));
        (smaller(br), smaller(gz))
    } else {
        (None, None)
    };
    let cache_control = if mime.subtype() == "html" {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    Ok(Asset {
        content_type: HeaderValue::from_str(&content_type)?,
        cache_control: HeaderValue::from_static(cache_control),
        tag,
        identity: Bytes::from(bytes),
        brotli,
        gzip,
    })
}

/// The best encoding the client takes among those kept.
fn negotiate(headers: &HeaderMap, asset: &Asset) -> Encoding {
    let takes = |name: &str| {
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                coding.eq_ignore_ascii_case(name) && q > 0.0
            })
    };
    if asset.brotli.is_some() && takes("br") {
        Encoding::Brotli
    } else if asset.gzip.is_some() && takes("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// What a path is.
enum Found<'a> {
    File(&'a Asset),
    Redirect(String),
    Missing(Option<&'a Asset>),
}

impl StaticSite {
    fn find(&self, path: &str) -> Found<'_> {
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        let hidden = decoded
            .split(['/', '\\'])
            .any(|segment| segment.starts_with('.'));
        if !hidden {
            let index = format!("{}/index.html", decoded.trim_end_matches('/'));
            if decoded.ends_with('/') {
                if let Some(asset) = self.files.get(&index) {
                    return Found::File(asset);
                }
            } else if let Some(asset) = self.files.get(decoded.as_ref()) {
                return Found::File(asset);
            } else if self.files.contains_key(&index) {
                return Found::Redirect(format!("{path}/"));
            }
        }
        // The 404 page in the language of the path (`/es/…`), else the default one.
        let first = decoded.split('/').nth(1).unwrap_or("");
        let localized = (!first.is_empty() && !first.starts_with('.'))
            .then(|| self.files.get(&format!("/{first}/404.html")))
            .flatten();
        Found::Missing(localized.or_else(|| self.files.get("/404.html")))
    }
}

/// The fallback service of the production router: the site's files.
pub async fn serve_file(State(site): State<Arc<StaticSite>>, request: Request) -> Response {
    let head = request.method() == Method::HEAD;
    if !head && request.method() != Method::GET {
        let mut refused = StatusCode::METHOD_NOT_ALLOWED.into_response();
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let (status, asset) = match site.find(request.uri().path()) {
        Found::File(asset) => (StatusCode::OK, asset),
        Found::Redirect(to) => {
            let to = match request.uri().query() {
                Some(q) => format!("{to}?{q}"),
                None => to,
            };
            return match HeaderValue::from_str(&to) {
                Ok(location) => (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response(),
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            };
        }
        Found::Missing(Some(page)) => (StatusCode::NOT_FOUND, page),
        Found::Missing(None) => return (StatusCode::NOT_FOUND, "Not found").into_response(),
    };
    let encoding = negotiate(request.headers(), asset);
    let (compressed, suffix, content_encoding) = match encoding {
        Encoding::Brotli => (asset.brotli.clone(), "-br", Some("br")),
        Encoding::Gzip => (asset.gzip.clone(), "-gz", Some("gzip")),
        Encoding::Identity => (None, "", None),
    };
    let bytes = compressed.unwrap_or_else(|| asset.identity.clone());
    let tag = format!("\"{}{suffix}\"", asset.tag);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, asset.content_type.clone());
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if status == StatusCode::OK {
        headers.insert(header::CACHE_CONTROL, asset.cache_control.clone());
        if let Ok(etag) = HeaderValue::from_str(&tag) {
            headers.insert(header::ETAG, etag);
        }
    } else {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if let Some(coding) = content_encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    if status == StatusCode::OK && matches_tag(request.headers(), &tag) {
        headers.remove(header::CONTENT_TYPE);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    (status, headers, body).into_response()
}

/// Whether `If-None-Match` names the representation about to be sent
/// (`tag`, quoted; a weak comparison, as RFC 9110 asks for it): a tag of
/// another encoding does not match, so no cache is told its gzip copy is
/// good for a client that takes none.
fn matches_tag(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}
