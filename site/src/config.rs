//! `content/config.toml`: the site's settings. Unknown keys are refused so a
//! typo is an error with a line number, not a silently ignored setting.

use serde::{Deserialize, Serialize};

/// Keys still read under an older spelling: (old, current).
pub const OLD_KEYS: &[(&str, &str)] = &[("organisation", "organization")];

/// The settings in `content/config.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the site is published, without a trailing slash.
    pub base_url: String,
    /// Languages, the default first.
    pub languages: Vec<String>,
    /// The network's name. The key was spelled `organisation` until
    /// 2026-11; that spelling is still read, and `check` says to change it
    /// ([`OLD_KEYS`]).
    #[serde(alias = "organisation")]
    pub organization: String,
    /// Where people write with questions and deletion requests.
    pub contact_email: String,
    /// The Discord invite link.
    pub discord_url: String,
    /// Where people can give money now.
    pub donate_url: String,
    /// Base of the form handler's URLs (`/api` on the same origin).
    pub api_base: String,
    /// Days personal data is kept.
    pub retention_days: u32,
}

impl Config {
    /// The default language (the first listed).
    pub fn default_language(&self) -> &str {
        self.languages.first().map(String::as_str).unwrap_or("en")
    }

    /// The value of `{{ config.KEY }}` in markdown, if KEY is a setting.
    pub fn value(&self, key: &str) -> Option<String> {
        Some(match key {
            "base_url" => self.base_url.clone(),
            "organization" | "organisation" => self.organization.clone(),
            "contact_email" => self.contact_email.clone(),
            "discord_url" => self.discord_url.clone(),
            "donate_url" => self.donate_url.clone(),
            "api_base" => self.api_base.clone(),
            "retention_days" => self.retention_days.to_string(),
            _ => return None,
        })
    }

    /// The URL path prefix of a language: "" for the default, "/es" for Spanish.
    pub fn lang_prefix(&self, lang: &str) -> String {
        if lang == self.default_language() {
            String::new()
        } else {
            format!("/{lang}")
        }
    }
}
