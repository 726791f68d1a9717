//! The organizers' digest from the command line: `mutualaid digest` sends
//! one now; `mutualaid serve --production` sends one each day
//! ([`crate::schedule`]). Both take the same settings ([`DigestArgs`]) and
//! send the same way ([`send`]): the email first, then — if a Discord
//! webhook is set — the summary, whose failure is only noted.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mutualaid_handler::digest::{self, DigestConfig, RunReport};
use mutualaid_handler::discord::Webhook;
use mutualaid_handler::mail::{MailError, Mailer, Outbox, Smtp};
use mutualaid_handler::store::sqlite::SqliteStore;
use mutualaid_site::Site;
use mutualaid_site::strings::Strings;

/// How the digest is made and where it goes.
#[derive(clap::Args, Debug, Clone)]
pub struct DigestArgs {
    /// Send the digest through this SMTP server
    /// (`smtp://localhost:25`, `smtps://user:password@host:465`).
    #[arg(
        long,
        env = "MUTUALAID_SMTP_URL",
        hide_env_values = true,
        conflicts_with = "outbox"
    )]
    pub smtp: Option<String>,
    /// Write the digest as `.eml` files into this folder instead of sending
    /// it (`mutualaid digest` does so into `<data>/outbox` unless told
    /// otherwise; `serve --production` must be told one or the other).
    #[arg(long)]
    pub outbox: Option<PathBuf>,
    /// Also post a summary with counts only (no names, emails or phones) to
    /// this Discord webhook, after the email is sent.
    #[arg(long, env = "MUTUALAID_DISCORD_WEBHOOK", hide_env_values = true)]
    pub discord_webhook: Option<String>,
    /// The sender.
    #[arg(long, default_value = "Mutual aid digest <digest@localhost>")]
    pub from: String,
    /// The organizers (repeat or separate with commas).
    #[arg(long, value_delimiter = ',', default_value = "organizers@localhost")]
    pub to: Vec<String>,
    /// The organizers' language.
    #[arg(long, default_value = "en")]
    pub lang: String,
    /// Time zone for the digest's dates (default: `time_zone` in
    /// config.toml).
    #[arg(long)]
    pub time_zone: Option<String>,
    /// The most people one volunteer is suggested for, and helps at once.
    #[arg(long, default_value_t = 3)]
    pub cap: usize,
    /// Nobody is paired further than this many miles.
    #[arg(long, default_value_t = 10.0)]
    pub max_miles: f64,
    /// A match older than this many days is asked "still going?".
    #[arg(long, default_value_t = 14)]
    pub review_days: u32,
    /// Where the organizers' action links point (default: `base_url`
    /// in config.toml); the handler's base (`api_base`) is added.
    #[arg(long)]
    pub site_address: Option<String>,
    /// How many days the action links work.
    #[arg(long, default_value_t = mutualaid_handler::links::DEFAULT_TTL_DAYS)]
    pub link_days: u32,
}

/// Where the digest goes.
pub enum Delivery {
    /// Files in a folder.
    Outbox(Outbox),
    /// An SMTP server.
    Smtp(Smtp),
}

impl Mailer for Delivery {
    async fn send(&self, message: &lettre::Message) -> Result<(), MailError> {
        match self {
            Delivery::Outbox(outbox) => outbox.send(message).await,
            Delivery::Smtp(smtp) => smtp.send(message).await,
        }
    }
}

/// Where mail goes: `--smtp` if given, else the folder `outbox` (none:
/// an error that says to choose).
pub fn delivery(args: &DigestArgs, outbox: Option<PathBuf>) -> anyhow::Result<Delivery> {
    Ok(match (&args.smtp, outbox) {
        (Some(url), _) => Delivery::Smtp(Smtp::from_url(url).context("--smtp: not an SMTP URL")?),
        (None, Some(dir)) => Delivery::Outbox(Outbox { dir }),
        (None, None) => anyhow::bail!(
            "say where the organizers' digest goes: --smtp smtp://host:25 (or MUTUALAID_SMTP_URL) to send it, or --outbox DIR to write it into a folder someone reads"
        ),
    })
}

/// Everything a run needs, checked once.
pub struct Digester {
    /// The organizers' words.
    pub strings: Strings,
    /// Who gets it, in which language and time zone.
    pub config: DigestConfig,
    /// Where it goes.
    pub delivery: Delivery,
    /// The Discord webhook, if any.
    pub discord: Option<Webhook>,
}

impl Digester {
    /// Checks the settings against the content. `default_outbox`: where the
    /// digest goes when neither `--smtp` nor `--outbox` is given (none: one
    /// of them is required).
    pub fn new(
        site: &Site,
        args: &DigestArgs,
        data: &Path,
        default_outbox: Option<PathBuf>,
    ) -> anyhow::Result<Digester> {
        let lang = &args.lang;
        let strings = site
            .strings
            .get(lang)
            .with_context(|| format!("--lang {lang}: the content has no texts in that language"))?
            .clone();
        let mailbox = |a: &str| {
            a.trim()
                .parse()
                .with_context(|| format!("{a:?} is not an email address"))
        };
        let time_zone = args
            .time_zone
            .clone()
            .unwrap_or_else(|| site.config.time_zone_name().to_owned());
        jiff::tz::TimeZone::get(&time_zone)
            .with_context(|| format!("--time-zone {time_zone}: not a time zone name"))?;
        let config = DigestConfig {
            network: site.config.short_name_in(lang).to_owned(),
            from: mailbox(&args.from)?,
            to: args
                .to
                .iter()
                .map(|a| mailbox(a))
                .collect::<anyhow::Result<_>>()?,
            lang: mutualaid_forms::Lang::from_code(Some(lang)),
            time_zone,
            pairing: digest::pairing::PairingConfig {
                cap: args.cap,
                max_miles: args.max_miles,
                ..Default::default()
            },
            review_days: args.review_days,
            links: Some(mutualaid_handler::links::LinkSigner {
                keys: crate::serve::link_keys(data)?,
                page: format!(
                    "{}{}/case",
                    args.site_address
                        .as_deref()
                        .unwrap_or(&site.config.base_url)
                        .trim_end_matches('/'),
                    site.config.api_base.trim_end_matches('/')
                ),
                ttl_days: args.link_days,
            }),
        };
        let delivery = delivery(args, args.outbox.clone().or(default_outbox))?;
        Ok(Digester {
            strings,
            config,
            delivery,
            discord: args.discord_webhook.as_deref().map(Webhook::new),
        })
    }

    /// The outbox folder, if that is where the digest goes (to say so).
    pub fn outbox(&self) -> Option<&Path> {
        match &self.delivery {
            Delivery::Outbox(outbox) => Some(&outbox.dir),
            Delivery::Smtp(_) => None,
        }
    }

    /// Sends one digest, then the Discord summary (a failure of which is
    /// printed and counted for the next digest, never returned).
    pub async fn send(
        &self,
        store: &SqliteStore,
        now: i64,
        run_id: &str,
    ) -> Result<RunReport, digest::DigestError> {
        let report = digest::run(
            store,
            &self.delivery,
            &self.strings,
            &self.config,
            now,
            run_id,
        )
        .await?;
        if let (Some(hook), RunReport::Sent { summary, .. }) = (&self.discord, &report) {
            match digest::post_summary(store, hook, summary, &self.strings, &self.config, now).await
            {
                Ok(()) => println!("Posted the summary to Discord."),
                Err(e) => eprintln!(
                    "warning: the summary was not posted to Discord ({e}); the email went out, and the next digest says so"
                ),
            }
        }
        Ok(report)
    }
}
