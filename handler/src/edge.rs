//! The API's edge in AWS (`aws` feature). CloudFront adds a secret header
//! ([`ORIGIN_HEADER`]) to every request it forwards to the API, and the
//! `submit` function refuses a request without it
//! (`crate::http::client_from_cloudfront`): the API's own URL cannot be
//! called around CloudFront, its security headers and its WAF. Only once
//! the secret matched is the client taken from `CloudFront-Viewer-Address`
//! (the person's address as CloudFront saw it; the request's source is a
//! CloudFront edge, shared by everyone behind it).
//!
//! The secret is a Secrets Manager secret the template generates; the rate
//! limit's salt is derived from it, so no secret sits in the function's
//! environment. When a request's header does not match, the secret is read
//! again (at most once a minute), so a rotation reaches running functions.

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// The header CloudFront adds with the secret.
pub const ORIGIN_HEADER: &str = "x-origin-verify";

/// The header CloudFront adds with the viewer's address and port.
pub const VIEWER_ADDRESS_HEADER: &str = "cloudfront-viewer-address";

/// The Secrets Manager actions this reads with (the `submit` policy).
pub const ACTIONS: &[&str] = &["secretsmanager:GetSecretValue"];

/// How often a mismatch may make it read the secret again.
const REREAD_AFTER: Duration = Duration::from_secs(60);

/// The origin secret, as last read.
pub struct EdgeSecret {
    client: Client,
    name: String,
    current: Mutex<([u8; 32], Instant)>,
    salt: String,
}

fn digest(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

impl EdgeSecret {
    async fn read(client: &Client, name: &str) -> Result<String, String> {
        let out = client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| format!("reading the edge secret: {}", DisplayErrorContext(&e)))?;
        match out.secret_string {
            Some(value) if value.len() >= 16 => Ok(value),
            _ => Err(format!(
                "the edge secret {name} has no value of at least 16 characters"
            )),
        }
    }

    /// Reads the secret `name` (at start: a function without it does not run).
    pub async fn load(client: Client, name: impl Into<String>) -> Result<EdgeSecret, String> {
        let name = name.into();
        let value = Self::read(&client, &name).await?;
        // The salt is the secret's own hash, under another name: stable while the secret is.
        let salt: String = digest(format!("client-salt\0{value}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(EdgeSecret {
            client,
            name,
            current: Mutex::new((digest(value.as_bytes()), Instant::now())),
            salt,
        })
    }

    /// The salt for the rate limit's client hashes.
    pub fn client_salt(&self) -> &str {
        &self.salt
    }

    /// Whether `given` is the secret. Compared as hashes, so the time it
    /// takes says nothing about the secret.
    pub async fn accepts(&self, given: &[u8]) -> bool {
        let given = digest(given);
        let mut current = self.current.lock().await;
        if current.0 == given {
            return true;
        }
        if current.1.elapsed() < REREAD_AFTER {
            return false;
        }
        current.1 = Instant::now();
        match Self::read(&self.client, &self.name).await {
            Ok(value) => {
                current.0 = digest(value.as_bytes());
                current.0 == given
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the edge secret again");
                false
            }
        }
    }
}

/// The address in a `CloudFront-Viewer-Address` value (`198.51.100.7:46532`,
/// `2001:db8::1:46532`: the address, a colon, the port).
pub fn viewer_address(value: &str) -> Option<std::net::IpAddr> {
    let (address, port) = value.trim().rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewer_address_is_read_for_ipv4_and_ipv6() {
        assert_eq!(
            viewer_address("198.51.100.7:46532"),
            Some("198.51.100.7".parse().expect("ip"))
        );
        assert_eq!(
            viewer_address("2001:db8:1:2::7:443"),
            Some("2001:db8:1:2::7".parse().expect("ip"))
        );
        assert_eq!(viewer_address("nonsense"), None);
        assert_eq!(viewer_address("198.51.100.7"), None);
    }
}
