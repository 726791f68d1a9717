//! Posting the digest's summary ([`crate::digest::summary`]) to a Discord
//! channel through an incoming webhook: `{"content": …}` as JSON, with
//! mentions turned off, so a word in the content can never ping anyone.
//!
//! Discord answers a flood with `429` and how long to wait (`retry_after`,
//! seconds, in the JSON body; `Retry-After` in the headers): the post waits
//! that long (up to [`Webhook::max_wait`]) and tries again, up to
//! [`Webhook::max_tries`] times. A webhook that fails is the caller's to
//! note ([`crate::digest::post_summary`] counts it for the next digest's
//! self-report); it never holds up the email digest, which is sent first.
//!
//! The webhook's URL holds its secret token: it is never logged, nor put
//! in an error.

use std::time::Duration;

/// A Discord incoming webhook.
#[derive(Clone)]
pub struct Webhook {
    /// `https://discord.com/api/webhooks/ID/TOKEN` (any URL in tests).
    pub url: String,
    /// Attempts in all, when Discord says to slow down.
    pub max_tries: u32,
    /// The longest wait Discord may ask for before this gives up.
    pub max_wait: Duration,
    /// How long one request may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &"(secret)")
            .field("max_tries", &self.max_tries)
            .finish_non_exhaustive()
    }
}

/// Why a post did not go through. Never carries the URL.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// Discord answered with an error status.
    #[error("Discord answered {0}")]
    Status(u16),
    /// Still rate limited after every try, or asked to wait too long.
    #[error("Discord kept asking to wait (429) after {0} tries")]
    RateLimited(u32),
    /// No answer: DNS, connection, TLS or timeout.
    #[error("Discord could not be reached ({0})")]
    Unreachable(String),
    /// The webhook's URL could not be read where it is kept.
    #[error("the webhook's address could not be read ({0})")]
    Address(String),
}

impl Webhook {
    /// A webhook with the usual patience: 4 tries, waits up to 60 s.
    pub fn new(url: impl Into<String>) -> Webhook {
        Webhook {
            url: url.into(),
            max_tries: 4,
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(15),
        }
    }

    /// Posts `content` (at most 2,000 characters: Discord's limit).
    pub async fn post(&self, content: &str) -> Result<(), DiscordError> {
        let hook = self.clone();
        let body = serde_json::json!({
            "content": content,
            "allowed_mentions": { "parse": [] },
        })
        .to_string();
        tokio::task::spawn_blocking(move || hook.post_blocking(&body))
            .await
            .map_err(|_| DiscordError::Unreachable("the posting task stopped".into()))?
    }

    fn post_blocking(&self, body: &str) -> Result<(), DiscordError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        for attempt in 1..=self.max_tries.max(1) {
            let mut response = agent
                .post(&self.url)
                .header("content-type", "application/json")
                .send(body)
                .map_err(|e| DiscordError::Unreachable(describe(&e)))?;
            let status = response.status().as_u16();
            match status {
                200..=299 => return Ok(()),
                429 => {
                    let header = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    let wait = retry_after(&body).or(header).unwrap_or(1.0);
                    let wait = Duration::try_from_secs_f64(wait.max(0.0)).unwrap_or(self.max_wait);
                    if attempt == self.max_tries || wait > self.max_wait {
                        return Err(DiscordError::RateLimited(attempt));
                    }
                    std::thread::sleep(wait);
                }
                other => return Err(DiscordError::Status(other)),
            }
        }
        Err(DiscordError::RateLimited(self.max_tries))
    }
}

/// `retry_after` from a 429's JSON body, in seconds.
fn retry_after(body: &str) -> Option<f64> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("retry_after")?
        .as_f64()
}

/// What went wrong, without the URL (ureq's messages can include it).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) => io.kind().to_string(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "TLS failed".into(),
        _ => "request failed".into(),
    }
}

/// The webhook's URL in a Secrets Manager secret, read by the digest
/// Lambda on each run: the secret never sits in the function's environment
/// or the template. (Secrets Manager, as for the link keys, not SSM
/// Parameter Store: `aws-sdk-ssm` adds 155 s to every fresh build.)
#[cfg(feature = "aws")]
pub mod secret {
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::error::DisplayErrorContext;

    use super::{DiscordError, Webhook};

    /// The Secrets Manager actions this reads with (the digest function's policy).
    pub const ACTIONS: &[&str] = &["secretsmanager:GetSecretValue"];

    /// The webhook whose URL the secret `name` holds.
    pub async fn webhook(client: &Client, name: &str) -> Result<Webhook, DiscordError> {
        let out = client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| DiscordError::Address(DisplayErrorContext(&e).to_string()))?;
        let url = out
            .secret_string
            .map(|v| v.trim().to_owned())
            .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
            .ok_or_else(|| {
                DiscordError::Address(format!("the secret {name} holds no https:// URL"))
            })?;
        Ok(Webhook::new(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_from_discords_body() {
        assert_eq!(
            retry_after(
                r#"{"message": "You are being rate limited.", "retry_after": 0.25, "global": false}"#
            ),
            Some(0.25)
        );
        assert_eq!(retry_after("not json"), None);
    }

    #[test]
    fn the_url_never_shows_in_debug() {
        let hook = Webhook::new("https://discord.com/api/webhooks/1/secret-token");
        assert!(!format!("{hook:?}").contains("secret-token"));
    }
}
