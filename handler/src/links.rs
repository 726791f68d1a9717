//! Signed organizer links: what the digest's buttons carry, so that an
//! organizer can act without an account.
//!
//! A link names one action on one case (and volunteer; or, for a merge,
//! two records), the case's version the digest showed, an expiry, the
//! organizers' language and the key it was signed with; the signature is
//! HMAC-SHA256 over all of it (its first 128 bits). Opening a link (GET)
//! only shows a page with one button; the button (POST) acts, and only
//! on the case as the link saw it (`crate::cases`). An altered link, a key
//! no longer known or an expired link is refused, saying which.
//!
//! Keys ([`LinkKeys`]): `kid:hex` pairs, the first signs, every one listed
//! verifies — so during a rotation links signed with the old key keep
//! working until they expire. Under `serve` the keys live in
//! `<data>/link-keys` (created on first use, mode 0600); in AWS in a Secrets
//! Manager secret, re-read every few minutes (`aws` feature).

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::store::{ActionKind, CloseReason, Timestamp};

/// How long a link works, by default.
pub const DEFAULT_TTL_DAYS: u32 = 14;

/// The signature's length: HMAC-SHA256 truncated to 128 bits (RFC 2104
/// allows it; guessing one is 2^-128 a try), so the digest's many links
/// keep its HTML part small.
const SIGNATURE_BYTES: usize = 16;

/// Why keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key text is not `kid:hex[,kid:hex]`.
    #[error(
        "the link keys are not `id:hex` pairs separated by commas or lines (a key of at least 32 hex digits)"
    )]
    Malformed,
    /// The key file could not be read or written.
    #[error("the link key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key store (Secrets Manager) refused or could not be reached.
    #[error("reading the link keys: {0}")]
    Source(String),
}

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// A field is missing, or the signature does not match: changed or made up.
    Altered,
    /// Signed with a key no longer known (rotated out).
    UnknownKey,
    /// Past its expiry.
    Expired {
        /// When it expired.
        at: Timestamp,
    },
}

/// The signing keys: the first signs, all verify.
#[derive(Clone)]
pub struct LinkKeys {
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        let ids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "LinkKeys{ids:?}")
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl LinkKeys {
    /// Parses `kid:hex` pairs separated by commas or newlines.
    pub fn parse(text: &str) -> Result<LinkKeys, KeyError> {
        let keys = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|pair| {
                let (id, key) = pair.split_once(':').ok_or(KeyError::Malformed)?;
                let key = hex_decode(key.trim()).ok_or(KeyError::Malformed)?;
                let id = id.trim();
                if key.len() < 16
                    || id.is_empty()
                    || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(KeyError::Malformed);
                }
                Ok((id.to_owned(), key))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Malformed);
        }
        Ok(LinkKeys { keys })
    }

    /// A new random key, as `kid:hex` text.
    pub fn generate() -> String {
        let bytes: Vec<u8> = uuid::Uuid::new_v4()
            .as_bytes()
            .iter()
            .chain(uuid::Uuid::new_v4().as_bytes())
            .copied()
            .collect();
        let id = &hex(&bytes)[..8];
        format!("k{id}:{}", hex(&bytes))
    }

    /// The keys in `path`, created (mode 0600) with a new key if absent.
    pub fn load_or_create(path: &Path) -> Result<LinkKeys, KeyError> {
        let fail = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => LinkKeys::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(fail)?;
                }
                let text = LinkKeys::generate();
                write_private(path, &format!("{text}\n")).map_err(fail)?;
                LinkKeys::parse(&text)
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// The id of the signing key.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    fn mac(key: &[u8], message: &str) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(message.as_bytes());
        mac
    }

    /// The link's query string, signed with the current key.
    pub fn sign(&self, link: &ActionLink) -> String {
        let (kid, key) = &self.keys[0];
        let mut fields = link.fields(kid);
        let full = Self::mac(key, &canonical(&fields)).finalize().into_bytes();
        let signature = hex(&full[..SIGNATURE_BYTES]);
        fields.push(("s", signature));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
    }

    /// The link in a query string (or a form body), if it is whole, signed
    /// by a known key and not expired at `now`.
    pub fn verify(&self, query: &str, now: Timestamp) -> Result<ActionLink, LinkError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let link = ActionLink::from_fields(&get).ok_or(LinkError::Altered)?;
        let kid = get("k").ok_or(LinkError::Altered)?;
        let signature = get("s").and_then(hex_decode).ok_or(LinkError::Altered)?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| id == kid)
            .ok_or(LinkError::UnknownKey)?;
        if signature.len() != SIGNATURE_BYTES {
            return Err(LinkError::Altered);
        }
        Self::mac(key, &canonical(&link.fields(kid)))
            .verify_truncated_left(&signature)
            .map_err(|_| LinkError::Altered)?;
        if link.expires <= now {
            return Err(LinkError::Expired { at: link.expires });
        }
        Ok(link)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// The signed text: every field in a fixed order, `|`-separated (no field
/// can hold a `|`: ids, numbers, names of actions and languages).
fn canonical(fields: &[(&str, String)]) -> String {
    let mut out = String::from("mutualaid-link-v1");
    for (name, value) in fields {
        out.push('|');
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// One organizer action, as a link carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionLink {
    /// What to do.
    pub action: ActionKind,
    /// The case (none for a pause).
    pub case: Option<String>,
    /// The volunteer (a pairing, a pause), or the record kept (a merge).
    pub volunteer: Option<String>,
    /// The version the digest showed: the case's, or for a pause the
    /// volunteer's standing, for a merge the standing of the record merged
    /// away ([`crate::store::Standing::version`]).
    pub version: u64,
    /// For a merge, the version of the kept record's standing the digest
    /// showed (signed only when present, so links made before it verify).
    pub other_version: Option<u64>,
    /// When the link stops working.
    pub expires: Timestamp,
    /// The organizers' language (`en`, `es`).
    pub lang: String,
    /// What the action needs beside the case and volunteer, as signed
    /// (`d`): read it typed with [`Self::close_reason`], [`Self::days`] or
    /// [`Self::record`].
    pub detail: String,
}

impl ActionLink {
    /// A close's reason (an organizer's own reason if the link names none).
    pub fn close_reason(&self) -> CloseReason {
        match CloseReason::from_name(&self.detail) {
            Some(reason @ (CloseReason::Done | CloseReason::Withdrawn)) => reason,
            _ => CloseReason::Organizer,
        }
    }

    /// A pause's days (0: unpause).
    pub fn days(&self) -> u32 {
        self.detail.parse().unwrap_or(0)
    }

    /// The record a merge, its undo or "two people" is about.
    pub fn record(&self) -> &str {
        &self.detail
    }
}

fn safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl ActionLink {
    fn fields(&self, kid: &str) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("a", self.action.name().to_owned()),
            ("c", self.case.clone().unwrap_or_default()),
            ("v", self.volunteer.clone().unwrap_or_default()),
            ("n", self.version.to_string()),
        ];
        if let Some(other) = self.other_version {
            fields.push(("m", other.to_string()));
        }
        fields.extend([
            ("x", self.expires.to_string()),
            ("l", self.lang.clone()),
            ("d", self.detail.clone()),
            ("k", kid.to_owned()),
        ]);
        fields
    }

    fn from_fields<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> Option<ActionLink> {
        let optional = |name: &str| -> Option<Option<String>> {
            match get(name)? {
                "" => Some(None),
                v if safe(v) => Some(Some(v.to_owned())),
                _ => None,
            }
        };
        let lang = get("l")?;
        let detail = get("d")?;
        if !(lang.is_empty() || safe(lang)) || !(detail.is_empty() || safe(detail)) {
            return None;
        }
        Some(ActionLink {
            action: ActionKind::from_name(get("a")?)?,
            case: optional("c")?,
            volunteer: optional("v")?,
            version: get("n")?.parse().ok()?,
            other_version: match get("m") {
                Some(m) => Some(m.parse().ok()?),
                None => None,
            },
            expires: get("x")?.parse().ok()?,
            lang: lang.to_owned(),
            detail: detail.to_owned(),
        })
    }
}

/// Where links point and how long they work: the digest's signer.
#[derive(Debug, Clone)]
pub struct LinkSigner {
    /// The keys.
    pub keys: LinkKeys,
    /// The action page's address: the site's address and the handler's
    /// base (`https://mutualaid.example.org/api/case`).
    pub page: String,
    /// How long a link works.
    pub ttl_days: u32,
}

impl LinkSigner {
    /// The full link for an action, signed, expiring `ttl_days` after `now`.
    pub fn link(&self, mut link: ActionLink, now: Timestamp) -> String {
        link.expires = now + i64::from(self.ttl_days) * 86_400;
        format!("{}?{}", self.page, self.keys.sign(&link))
    }
}

/// Where the keys come from: fixed (a file read at start, under `serve`),
/// or a Secrets Manager secret re-read every [`REFRESH_SECS`]
/// (`aws` feature), so a rotation reaches running functions.
#[derive(Clone)]
pub enum KeySource {
    /// Keys read once.
    Fixed(LinkKeys),
    /// Keys in Secrets Manager.
    #[cfg(feature = "aws")]
    Secret(std::sync::Arc<secrets::SecretKeys>),
}

/// How long keys read from Secrets Manager are used before they are read again.
pub const REFRESH_SECS: u64 = 300;

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Fixed(keys) => write!(f, "Fixed({keys:?})"),
            #[cfg(feature = "aws")]
            KeySource::Secret(s) => write!(f, "Secret({})", s.name()),
        }
    }
}

impl KeySource {
    /// The keys, as they are now.
    pub async fn keys(&self) -> Result<LinkKeys, KeyError> {
        match self {
            KeySource::Fixed(keys) => Ok(keys.clone()),
            #[cfg(feature = "aws")]
            KeySource::Secret(s) => s.keys().await,
        }
    }
}

#[cfg(feature = "aws")]
pub mod secrets {
    //! Link keys in a Secrets Manager secret (`kid:hex[,kid:hex]`). Secrets
    //! Manager, not SSM Parameter Store: its SDK crate compiles in a fifth
    //! of the time (SSM's API is six times larger), on every build.

    use std::time::{Duration, Instant};

    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::error::DisplayErrorContext;
    use tokio::sync::Mutex;

    use super::{KeyError, LinkKeys, REFRESH_SECS};

    /// The Secrets Manager actions this reads with (the functions' policies).
    pub const ACTIONS: &[&str] = &["secretsmanager:GetSecretValue"];

    /// Keys read from one secret, cached for [`REFRESH_SECS`].
    pub struct SecretKeys {
        client: Client,
        name: String,
        cache: Mutex<Option<(LinkKeys, Instant)>>,
    }

    impl SecretKeys {
        /// Keys from the secret `name` (its name or ARN).
        pub fn new(client: Client, name: impl Into<String>) -> SecretKeys {
            SecretKeys {
                client,
                name: name.into(),
                cache: Mutex::new(None),
            }
        }

        /// The secret's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The keys, re-read when the cached ones are older than the refresh.
        pub async fn keys(&self) -> Result<LinkKeys, KeyError> {
            let mut cache = self.cache.lock().await;
            if let Some((keys, at)) = cache.as_ref()
                && at.elapsed() < Duration::from_secs(REFRESH_SECS)
            {
                return Ok(keys.clone());
            }
            let out = self
                .client
                .get_secret_value()
                .secret_id(&self.name)
                .send()
                .await
                .map_err(|e| KeyError::Source(DisplayErrorContext(&e).to_string()))?;
            let value = out
                .secret_string
                .ok_or_else(|| KeyError::Source(format!("{} has no value", self.name)))?;
            let keys = LinkKeys::parse(&value)?;
            *cache = Some((keys.clone(), Instant::now()));
            Ok(keys)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirm() -> ActionLink {
        ActionLink {
            action: ActionKind::Confirm,
            case: Some("01a2.case-1".into()),
            volunteer: Some("01a3".into()),
            version: 4,
            other_version: None,
            expires: 2_000,
            lang: "es".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn a_signed_link_verifies_and_any_change_is_refused() {
        let keys = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
        let query = keys.sign(&confirm());
        assert_eq!(keys.verify(&query, 1_000), Ok(confirm()));
        for (from, to) in [("n=4", "n=5"), ("a=confirm", "a=close"), ("l=es", "l=en")] {
            let altered = query.replace(from, to);
            assert_ne!(altered, query);
            assert_eq!(
                keys.verify(&altered, 1_000),
                Err(LinkError::Altered),
                "{to}"
            );
        }
        assert_eq!(
            keys.verify(&query, 2_000),
            Err(LinkError::Expired { at: 2_000 })
        );
        let other = LinkKeys::parse(&LinkKeys::generate()).expect("keys");
        assert_eq!(other.verify(&query, 1_000), Err(LinkError::UnknownKey));
        assert_eq!(keys.verify("a=confirm", 1_000), Err(LinkError::Altered));
    }

    #[test]
    fn during_a_rotation_the_old_key_still_verifies() {
        let old = LinkKeys::generate();
        let new = LinkKeys::generate();
        let before = LinkKeys::parse(&old).expect("old");
        let during = LinkKeys::parse(&format!("{new},{old}")).expect("both");
        let query = before.sign(&confirm());
        assert_eq!(during.verify(&query, 1_000), Ok(confirm()));
        assert!(
            during
                .sign(&confirm())
                .contains(&format!("k={}", during.current_id()))
        );
        assert!(LinkKeys::parse("k1:zz").is_err());
        assert!(LinkKeys::parse("").is_err());
        assert!(
            !format!("{during:?}").contains(&old[10..]),
            "keys never printed"
        );
    }
}
