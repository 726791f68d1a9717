//! What the Lambda binaries read from their environment, checked at start:
//! a missing or malformed variable stops the function with a message naming
//! it, before any request is taken; and the AWS SDK's configuration
//! ([`sdk_config`]).

use std::collections::BTreeMap;
use std::time::Duration;

use mutualaid_forms::{FormId, Lang};

use crate::domain::Retention;
use crate::http::{HttpConfig, RateLimit};

/// The SDK's configuration from `loader` (the environment, or a test's
/// endpoint), with its one HTTPS client: rustls on ring, the crypto provider
/// lettre already uses, in place of the SDK's default on aws-lc (a second
/// provider and a C build).
pub async fn sdk_config(loader: aws_config::ConfigLoader) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    loader.http_client(https).load().await
}

/// Every variable `submit` reads, and no other (the template sets exactly these).
pub const SUBMIT_ENV: &[&str] = &[
    "TABLE_NAME",
    "SITE_ORIGIN",
    "THANKS_SIGNUP_EN",
    "THANKS_SIGNUP_ES",
    "THANKS_DONATE_EN",
    "THANKS_DONATE_ES",
    "RETENTION_DAYS",
    "RATE_LIMIT_PER_WINDOW",
    "RATE_LIMIT_WINDOW_SECS",
    "EDGE_SECRET",
    "STORE_TIMEOUT_MS",
    "LINK_KEYS_SECRET",
    "PAIRING_CAP",
    "DIGEST_TIME_ZONE",
];

/// A variable is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn var(name: &'static str) -> Result<String, EnvError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(EnvError {
            name,
            problem: "is not set".into(),
        }),
    }
}

fn number<T: std::str::FromStr>(name: &'static str) -> Result<T, EnvError> {
    var(name)?.trim().parse().map_err(|_| EnvError {
        name,
        problem: "is not a whole number".into(),
    })
}

/// The `submit` function's settings.
#[derive(Debug, Clone)]
pub struct SubmitEnv {
    /// The DynamoDB table.
    pub table: String,
    /// The handler's settings (its organizer actions get their keys from
    /// [`Self::link_keys_secret`] once the Secrets Manager client exists).
    pub http: HttpConfig,
    /// The Secrets Manager secret holding the link keys (name or ARN).
    pub link_keys_secret: String,
    /// The Secrets Manager secret CloudFront sends as the origin header,
    /// and the rate limit's salt is derived from (name or ARN).
    pub edge_secret: String,
    /// The most people one volunteer helps at once.
    pub cap: usize,
    /// The organizers' time zone.
    pub time_zone: String,
}

fn time_zone(name: &'static str) -> Result<String, EnvError> {
    let zone = var(name)?;
    if jiff::tz::TimeZone::get(&zone).is_err() {
        return Err(EnvError {
            name,
            problem: "is not a time zone like America/Los_Angeles".into(),
        });
    }
    Ok(zone)
}

impl SubmitEnv {
    /// Reads and checks every variable.
    pub fn from_env() -> Result<SubmitEnv, EnvError> {
        let mut thanks = BTreeMap::new();
        for (form, lang, name) in [
            (FormId::Signup, Lang::EN, "THANKS_SIGNUP_EN"),
            (FormId::Signup, Lang::ES, "THANKS_SIGNUP_ES"),
            (FormId::Donate, Lang::EN, "THANKS_DONATE_EN"),
            (FormId::Donate, Lang::ES, "THANKS_DONATE_ES"),
        ] {
            let path = var(name)?;
            if !path.starts_with('/') || path.starts_with("//") {
                return Err(EnvError {
                    name,
                    problem: "must be a path on the site, like /signup/thanks/".into(),
                });
            }
            thanks.insert((form, lang), path);
        }
        let origin = var("SITE_ORIGIN")?;
        if !origin.starts_with("https://") && !origin.starts_with("http://") {
            return Err(EnvError {
                name: "SITE_ORIGIN",
                problem: "must be an origin like https://mutualaid.example.org".into(),
            });
        }
        Ok(SubmitEnv {
            table: var("TABLE_NAME")?,
            http: HttpConfig {
                thanks,
                allowed_origins: vec![origin.trim_end_matches('/').to_owned()],
                rate_limit: RateLimit {
                    per_window: number("RATE_LIMIT_PER_WINDOW")?,
                    window_secs: number("RATE_LIMIT_WINDOW_SECS")?,
                },
                // Derived from the edge secret once it is read (`crate::edge`).
                client_salt: String::new(),
                store_timeout: Duration::from_millis(number("STORE_TIMEOUT_MS")?),
                retention: Retention {
                    days: number("RETENTION_DAYS")?,
                },
                organizer_actions: None,
            },
            link_keys_secret: var("LINK_KEYS_SECRET")?,
            edge_secret: var("EDGE_SECRET")?,
            cap: number("PAIRING_CAP")?,
            time_zone: time_zone("DIGEST_TIME_ZONE")?,
        })
    }
}

/// Every variable `digest` reads, and no other.
pub const DIGEST_ENV: &[&str] = &[
    "TABLE_NAME",
    "DIGEST_FROM",
    "DIGEST_TO",
    "DIGEST_LANG",
    "DIGEST_TIME_ZONE",
    "PAIRING_CAP",
    "PAIRING_MAX_MILES",
    "MATCH_REVIEW_DAYS",
    "LINK_KEYS_SECRET",
    "SITE_ORIGIN",
    "DISCORD_WEBHOOK_SECRET",
    "RETENTION_DAYS",
    "SES_CONFIGURATION_SET",
];

/// The `digest` function's settings.
#[derive(Debug, Clone)]
pub struct DigestEnv {
    /// The DynamoDB table.
    pub table: String,
    /// Sender, organizers, language, time zone, pairing (its link signer is
    /// set once the keys are read from [`Self::link_keys_secret`]).
    pub digest: crate::digest::DigestConfig,
    /// The Secrets Manager secret holding the link keys (name or ARN).
    pub link_keys_secret: String,
    /// How long a record is kept after its last submission or case change
    /// (each digest keeps everyone still waiting that long from now).
    pub retention: Retention,
    /// Where the action links point: the site's origin + `/api/case`.
    pub link_page: String,
    /// The Secrets Manager secret holding the Discord webhook's URL (none:
    /// no summary is posted).
    pub discord_webhook_secret: Option<String>,
    /// The SES configuration set whose bounce and complaint events come
    /// back to this function (empty: none).
    pub ses_configuration_set: Option<String>,
}

fn mailbox(name: &'static str, value: &str) -> Result<lettre::message::Mailbox, EnvError> {
    value.trim().parse().map_err(|_| EnvError {
        name,
        problem: "is not an email address".into(),
    })
}

impl DigestEnv {
    /// Reads and checks every variable.
    pub fn from_env() -> Result<DigestEnv, EnvError> {
        let to = var("DIGEST_TO")?
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| mailbox("DIGEST_TO", a))
            .collect::<Result<Vec<_>, _>>()?;
        // Whether the content has texts in it is checked once the content is loaded.
        let Some(lang) = Lang::parse(var("DIGEST_LANG")?.trim()) else {
            return Err(EnvError {
                name: "DIGEST_LANG",
                problem: "must be a language code like en or es".into(),
            });
        };
        let time_zone = time_zone("DIGEST_TIME_ZONE")?;
        let origin = var("SITE_ORIGIN")?;
        if !origin.starts_with("https://") && !origin.starts_with("http://") {
            return Err(EnvError {
                name: "SITE_ORIGIN",
                problem: "must be an origin like https://mutualaid.example.org".into(),
            });
        }
        let max_miles: f64 = number("PAIRING_MAX_MILES")?;
        Ok(DigestEnv {
            table: var("TABLE_NAME")?,
            digest: crate::digest::DigestConfig {
                // The site's name for the network, set once the content is loaded.
                network: String::new(),
                from: mailbox("DIGEST_FROM", &var("DIGEST_FROM")?)?,
                to,
                lang,
                time_zone,
                pairing: crate::digest::pairing::PairingConfig {
                    cap: number("PAIRING_CAP")?,
                    max_miles,
                    ..Default::default()
                },
                review_days: number("MATCH_REVIEW_DAYS")?,
                links: None,
            },
            link_keys_secret: var("LINK_KEYS_SECRET")?,
            retention: Retention {
                days: number("RETENTION_DAYS")?,
            },
            link_page: format!("{}/api/case", origin.trim_end_matches('/')),
            // Set by the template always: empty turns the summary off.
            discord_webhook_secret: match std::env::var("DISCORD_WEBHOOK_SECRET") {
                Ok(v) => Some(v.trim().to_owned()).filter(|v| !v.is_empty()),
                Err(_) => {
                    return Err(EnvError {
                        name: "DISCORD_WEBHOOK_SECRET",
                        problem: "is not set (set it empty for no Discord summary)".into(),
                    });
                }
            },
            // Set by the template always: empty sends without one.
            ses_configuration_set: match std::env::var("SES_CONFIGURATION_SET") {
                Ok(v) => Some(v.trim().to_owned()).filter(|v| !v.is_empty()),
                Err(_) => {
                    return Err(EnvError {
                        name: "SES_CONFIGURATION_SET",
                        problem: "is not set (set it empty to send without one)".into(),
                    });
                }
            },
        })
    }
}
