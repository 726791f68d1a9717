//! The `digest` Lambda: on each EventBridge Scheduler event, sends the
//! organizers' digest through SES, from DynamoDB, then — when
//! `DISCORD_WEBHOOK_SECRET` names a secret — posts its counts-only
//! summary to that Discord webhook (a failure is logged and counted for the
//! next digest; the email has gone out already). Invoked by an organizer
//! with `{"delete": {"email": "…"}}` (or `"phone"`, and `"record"` to pick
//! one of several), it deletes a person's data at their request instead
//! (`mutualaid_handler::erase`; infra/README.md has the command); with
//! `{"export": {"table": "cases"}}` it answers with that table as CSV.
//! Every minute, on a schedule of its own, `{"deliver": {}}` sends the
//! messages to people that are due (receipts; `mutualaid_handler::outbox`);
//! SES's bounce and complaint events (EventBridge, `source` `aws.ses`)
//! give up the address they name; `{"contacts": {"allow": "EMAIL"}}` lifts
//! "this wasn't me" from an address, `{"contacts": {"confirm" | "drop":
//! RECORD}}` decides a record's pending contact, and `{"contacts":
//! {"revoke_links": RECORD}}` revokes its page links.
//! Backups and the purge of expired records are DynamoDB's own
//! (point-in-time recovery, TTL).

use mutualaid_handler::digest::{self, RunReport};
use mutualaid_handler::discord::secret;
use mutualaid_handler::lambda::DigestEnv;
use mutualaid_handler::links::{DEFAULT_TTL_DAYS, LinkSigner, secrets::SecretKeys};
use mutualaid_handler::{clock::system_clock, mail::Ses, store::dynamo::DynamoStore};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    mutualaid_lambdas::init_logging();
    let env = DigestEnv::from_env()?;
    let site = mutualaid_lambdas::load_site()?;
    let strings = site
        .strings
        .get(env.digest.lang.code())
        .cloned()
        .ok_or("no texts for the digest's language")?;
    let aws = mutualaid_handler::lambda::sdk_config(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
    .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table)
        .with_retention(env.retention.days);
    let mailer = Ses::new(aws_sdk_sesv2::Client::new(&aws))
        .with_configuration_set(env.ses_configuration_set.clone());
    let keys = SecretKeys::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        env.link_keys_secret,
    );
    let link_page = env.link_page;
    let discord = env
        .discord_webhook_secret
        .map(|name| (aws_sdk_secretsmanager::Client::new(&aws), name));
    let mut base_config = env.digest;
    base_config.network = site
        .config
        .short_name_in(base_config.lang.code())
        .to_owned();
    let receipts_per_hour = u64::from(site.config.receipts_per_hour);
    let letters = mutualaid_handler::outbox::Letters::new(
        std::sync::Arc::new(site),
        Some(base_config.from.email.as_ref()),
        receipts_per_hour,
    )?;
    let handler = lambda_http::lambda_runtime::service_fn(
        |event: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
            let (store, mailer, strings, keys, discord, letters) =
                (&store, &mailer, &strings, &keys, &discord, &letters);
            let mut config = base_config.clone();
            let link_page = link_page.clone();
            async move {
                // Boxed: each is a deep future of its own (the digest's layout stays shallow).
                if let Some(request) = event.payload.get("delete") {
                    return Box::pin(mutualaid_lambdas::delete(store, request)).await;
                }
                if let Some(request) = event.payload.get("export") {
                    return Box::pin(mutualaid_lambdas::export(store, request)).await;
                }
                if event.payload.get("source").and_then(|s| s.as_str()) == Some("aws.ses") {
                    let now = system_clock();
                    return Box::pin(mutualaid_lambdas::ses_event(store, &event.payload, now))
                        .await;
                }
                if let Some(request) = event.payload.get("contacts") {
                    let now = system_clock();
                    return Box::pin(mutualaid_lambdas::contacts(store, request, now)).await;
                }
                if event.payload.get("deliver").is_some() {
                    let now = system_clock();
                    return Box::pin(mutualaid_lambdas::deliver(store, mailer, letters, now)).await;
                }
                Box::pin(mutualaid_lambdas::upkeep(store, system_clock())).await;
                // Read each run, so a rotated key signs the next digest.
                config.links = Some(LinkSigner {
                    keys: keys.keys().await?,
                    page: link_page,
                    ttl_days: DEFAULT_TTL_DAYS,
                });
                let config = &config;
                let now = system_clock();
                let report = digest::run(
                    store,
                    mailer,
                    strings,
                    config,
                    now,
                    &event.context.request_id,
                )
                .await?;
                tracing::info!(
                    sent = matches!(report, RunReport::Sent { .. }),
                    "digest run"
                );
                if let (Some((secrets, name)), RunReport::Sent { summary, .. }) = (discord, &report)
                {
                    let posted = match secret::webhook(secrets, name).await {
                        Ok(hook) => {
                            digest::post_summary(store, &hook, summary, strings, config, now).await
                        }
                        Err(e) => {
                            digest::summary_failed(store, now).await;
                            Err(e)
                        }
                    };
                    match posted {
                        Ok(()) => tracing::info!("summary posted to Discord"),
                        Err(e) => {
                            tracing::warn!(error = %e, "summary not posted to Discord; the email went out")
                        }
                    }
                }
                Ok::<_, lambda_http::Error>(
                    serde_json::json!({ "sent": matches!(report, RunReport::Sent { .. }) }),
                )
            }
        },
    );
    lambda_http::lambda_runtime::run(handler).await
}
