//! `content/config.toml`: the site's settings. Unknown keys are refused so a
//! typo is an error with a line number, not a silently ignored setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A name as people know it: the same in every language, or one per
/// language (`{ en = "…", es = "…" }`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Name {
    /// One name for every language.
    One(String),
    /// A name per language code.
    PerLanguage(BTreeMap<String, String>),
}

impl Name {
    /// The name in `lang` (a per-language name lacking it: the first one;
    /// `check` reports the missing language).
    pub fn get(&self, lang: &str) -> &str {
        match self {
            Name::One(name) => name,
            Name::PerLanguage(names) => names
                .get(lang)
                .or_else(|| names.values().next())
                .map(String::as_str)
                .unwrap_or(""),
        }
    }

    /// The languages among `languages` it has no name for.
    pub fn missing<'a>(&self, languages: &'a [String]) -> Vec<&'a str> {
        match self {
            Name::One(_) => Vec::new(),
            Name::PerLanguage(names) => languages
                .iter()
                .filter(|l| !names.contains_key(l.as_str()))
                .map(String::as_str)
                .collect(),
        }
    }
}

/// Keys still read under an older spelling: (old, current).
pub const OLD_KEYS: &[(&str, &str)] = &[("organisation", "organization")];

/// Every setting `config.toml` may hold, as the shipped file lists them:
/// the one list people are shown (a test holds it to [`Config`]'s fields).
pub const KEYS: &[&str] = &[
    "base_url",
    "languages",
    "organization",
    "short_name",
    "contact_email",
    "discord_url",
    "donate_url",
    "api_base",
    "retention_days",
    "contact_within_days",
    "urgent_phone",
    "food_bank_url",
    "digest_at",
    "time_zone",
    "receipts_per_hour",
    "offer_hours",
    "checkin_days",
];

/// The settings in `content/config.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the site is published, without a trailing slash.
    pub base_url: String,
    /// Languages, the default first.
    pub languages: Vec<String>,
    /// The network's full name, per language (the footer,
    /// `{{ config.organization }}`). The key was spelled `organisation`
    /// until 2026-11; that spelling is still read, and `check` says to
    /// change it ([`OLD_KEYS`]).
    #[serde(alias = "organisation")]
    pub organization: Name,
    /// The short name, per language: the header and every page's title
    /// (the full name if left out).
    #[serde(default)]
    pub short_name: Option<Name>,
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
    /// Within how many days an organizer contacts a person who signed up
    /// (the thank-you page promises it).
    #[serde(default = "three")]
    pub contact_within_days: u32,
    /// Receipts sent per hour at most, all addresses together (optional,
    /// 60): past it, receipts wait their turn, so the forms cannot be used
    /// to flood strangers' inboxes (one address gets at most 3 a day).
    #[serde(default = "sixty")]
    pub receipts_per_hour: u32,
    /// Hours a volunteer has to answer an offer, from when the mail service
    /// accepted it (optional, 48): then it is asked of someone else.
    #[serde(default = "forty_eight")]
    pub offer_hours: u32,
    /// Days after the introduction a requester is asked "Did you get your
    /// groceries?" (optional, 7).
    #[serde(default = "seven")]
    pub checkin_days: u32,
    /// The phone line for urgent help today (San Diego County: 2-1-1).
    #[serde(default = "two_one_one")]
    pub urgent_phone: String,
    /// Where to find food today (a food bank's page), for the thank-you page.
    #[serde(default)]
    pub food_bank_url: Option<String>,
    /// When the organizers' digest goes out each day, `HH:MM` in
    /// [`Self::time_zone`] (`mutualaid serve --production` sends it then;
    /// optional, 07:00 if left out).
    #[serde(default)]
    pub digest_at: Option<String>,
    /// The organizers' time zone, for the digest's time and its dates
    /// (optional, `America/Los_Angeles` if left out).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// When the digest goes out if `digest_at` is left out.
pub const DEFAULT_DIGEST_AT: &str = "07:00";
/// The time zone if `time_zone` is left out.
pub const DEFAULT_TIME_ZONE: &str = "America/Los_Angeles";

fn three() -> u32 {
    3
}

fn sixty() -> u32 {
    60
}

fn forty_eight() -> u32 {
    48
}

fn seven() -> u32 {
    7
}

fn two_one_one() -> String {
    "2-1-1".to_owned()
}

impl Config {
    /// The default language (the first listed).
    pub fn default_language(&self) -> &str {
        self.languages.first().map(String::as_str).unwrap_or("en")
    }

    /// The network's full name in `lang`.
    pub fn organization_in(&self, lang: &str) -> &str {
        self.organization.get(lang)
    }

    /// The network's short name in `lang`.
    pub fn short_name_in(&self, lang: &str) -> &str {
        match &self.short_name {
            Some(name) => name.get(lang),
            None => self.organization_in(lang),
        }
    }

    /// The value of `{{ config.KEY }}` on a page in `lang`, if KEY is a
    /// setting with a single value (a name in the page's language; a text or
    /// a number as written; nothing for a list or a setting left out).
    pub fn value(&self, key: &str, lang: &str) -> Option<String> {
        match key {
            "organization" | "organisation" => return Some(self.organization_in(lang).to_owned()),
            "short_name" => return Some(self.short_name_in(lang).to_owned()),
            _ => {}
        }
        match toml::Value::try_from(self).ok()?.get(key)? {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The digest's time of day (`digest_at`, checked when the content is
    /// loaded).
    pub fn digest_time(&self) -> Result<jiff::civil::Time, String> {
        parse_time_of_day(self.digest_at.as_deref().unwrap_or(DEFAULT_DIGEST_AT))
    }

    /// The organizers' time zone's name (`time_zone`, checked when the
    /// content is loaded).
    pub fn time_zone_name(&self) -> &str {
        self.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)
    }

    /// The problems in the schedule settings, as (key, what is wrong, what
    /// to write).
    pub fn schedule_problems(&self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if let Err(why) = self.digest_time() {
            out.push((
                "digest_at",
                why,
                "write a time of day on the 24-hour clock, like digest_at = \"07:00\"".to_owned(),
            ));
        }
        if jiff::tz::TimeZone::get(self.time_zone_name()).is_err() {
            out.push((
                "time_zone",
                format!("`{}` is not a time zone name", self.time_zone_name()),
                "write a name from the time zone database, like time_zone = \"America/Los_Angeles\"".to_owned(),
            ));
        }
        out
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

/// Whether a host name is one no real deployment has: the documentation
/// domains (`example.org`, `.com`, `.net`, anything under `.example`), the
/// reserved test names (`.test`, `.invalid`) and this machine (`localhost`,
/// `127.0.0.1`, `::1`).
fn placeholder_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["example.org", "example.com", "example.net", "localhost"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        || [".example", ".test", ".invalid"]
            .iter()
            .any(|tld| host.ends_with(tld) || host == tld[1..])
        || host == "127.0.0.1"
        || host == "[::1]"
        || host == "::1"
}

/// The host of a URL (`https://host:port/path`), lowercased.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    }
}

impl Config {
    /// The settings that are still placeholders (shipped examples, a local
    /// address), as (key, why): what `check --production` refuses, since
    /// on a live site people would write, chat or give to nobody.
    pub fn placeholders(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            ("base_url", self.base_url.as_str()),
            ("discord_url", self.discord_url.as_str()),
            ("donate_url", self.donate_url.as_str()),
        ] {
            let host = url_host(value);
            if placeholder_host(host) {
                out.push((key, format!("`{key}` points at {host}, a placeholder")));
            } else if key == "discord_url"
                && value.trim_end_matches('/').ends_with("discord.gg/example")
            {
                out.push((key, format!("`{key}` is the example invite")));
            }
        }
        let email_host = self
            .contact_email
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or("");
        if placeholder_host(email_host) {
            out.push((
                "contact_email",
                format!("`contact_email` is at {email_host}, a placeholder"),
            ));
        }
        out
    }
}

/// `HH:MM` on the 24-hour clock.
pub fn parse_time_of_day(text: &str) -> Result<jiff::civil::Time, String> {
    let bad = || format!("`{text}` is not a time of day like 07:00");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| (1..=2).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    jiff::civil::Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// The smallest whole configuration, for the crate's unit tests.
#[cfg(test)]
pub(crate) fn test_config() -> Config {
    toml::from_str(
        r#"base_url = "https://x.org"
languages = ["en", "es"]
organization = "Red"
contact_email = "a@b.org"
discord_url = "https://discord.gg/x"
donate_url = "https://give.org"
api_base = "/api"
retention_days = 30"#,
    )
    .expect("a whole configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_list_of_keys_is_the_settings_and_the_shipped_file_in_its_order() {
        let shipped = include_str!("../../content/config.toml");
        let in_file: Vec<String> = shipped
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .filter_map(|l| l.split('=').next().map(|k| k.trim().to_owned()))
            .collect();
        assert_eq!(
            in_file, KEYS,
            "content/config.toml lists every key, in order"
        );
        let config: Config = toml::from_str(shipped).expect("the shipped config");
        let toml::Value::Table(fields) = toml::Value::try_from(&config).expect("serializes") else {
            panic!("a table");
        };
        let mut fields: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut keys = KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys, "Config's fields are the keys");
        assert_eq!(config.value("retention_days", "en").as_deref(), Some("365"));
        assert_eq!(
            config.value("short_name", "es").as_deref(),
            Some("Ayuda Mutua de San Diego")
        );
        assert_eq!(config.value("languages", "en"), None);
        assert_eq!(config.value("nonsense", "en"), None);
    }

    #[test]
    fn placeholders_are_the_documentation_and_local_names() {
        for host in [
            "example.org",
            "mutualaid.example.org",
            "www.example.com",
            "fixture.example",
            "site.test",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(placeholder_host(host), "{host}");
        }
        for host in [
            "ayudamutua-sd.org",
            "discord.gg",
            "exampleorg.net",
            "sandiego.gov",
        ] {
            assert!(!placeholder_host(host), "{host}");
        }
        assert_eq!(
            url_host("https://user@Give.Example.ORG:8443/x?y"),
            "Give.Example.ORG"
        );
        assert_eq!(url_host("http://127.0.0.1:8000/"), "127.0.0.1");
    }

    #[test]
    fn a_time_of_day_is_read_on_the_24_hour_clock() {
        assert_eq!(
            super::parse_time_of_day("07:00").map(|t| (t.hour(), t.minute())),
            Ok((7, 0))
        );
        assert_eq!(
            super::parse_time_of_day("7:05").map(|t| (t.hour(), t.minute())),
            Ok((7, 5))
        );
        for bad in ["7am", "24:00", "07:60", "07:0", "", "07:00:00"] {
            assert!(super::parse_time_of_day(bad).is_err(), "{bad}");
        }
    }
}
