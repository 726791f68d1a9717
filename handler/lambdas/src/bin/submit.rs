//! The `submit` Lambda: the handler's router behind `lambda_http`, on
//! DynamoDB — the forms, and the organizers' action pages (`/api/case`) —
//! taking only requests that came through CloudFront (`edge`).

use std::sync::Arc;

use mutualaid_handler::edge::EdgeSecret;
use mutualaid_handler::http::{self, App};
use mutualaid_handler::links::{KeySource, secrets::SecretKeys};
use mutualaid_handler::{lambda::SubmitEnv, store::dynamo::DynamoStore};

// One thread: Lambda gives a function one event at a time, and worker threads
// waking each other cost more CPU than the sign-up itself (BENCHMARKS.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    mutualaid_lambdas::init_logging();
    let env = SubmitEnv::from_env()?;
    let site = mutualaid_lambdas::load_site()?;
    let aws = mutualaid_handler::lambda::sdk_config(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
    .await;
    // Case changes through the action pages keep the record the retention period from then.
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table)
        .with_retention(env.http.retention.days);
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    // Only CloudFront's requests are taken: it sends this secret (read now; a function without it does not start).
    let edge = Arc::new(EdgeSecret::load(secrets.clone(), env.edge_secret).await?);
    // The organizers' action pages: keys read from Secrets Manager on first use, refreshed every few minutes.
    let keys = SecretKeys::new(secrets, env.link_keys_secret);
    let mut config = env.http;
    // A language beyond English and Spanish (config plus content): its thank-you pages from the content.
    for (key, path) in http::HttpConfig::thanks_from_site(&site) {
        config.thanks.entry(key).or_insert(path);
    }
    config.client_salt = edge.client_salt().to_owned();
    config.organizer_actions = Some(http::OrganizerActions {
        keys: KeySource::Secret(Arc::new(keys)),
        cap: env.cap,
        time_zone: env.time_zone,
    });
    let app = App {
        store,
        site: Arc::new(site),
        config,
        clock: mutualaid_handler::clock::system_clock,
    };
    let router = http::router(app).layer(axum::middleware::from_fn_with_state(
        edge,
        http::client_from_cloudfront,
    ));
    lambda_http::run(router).await
}
