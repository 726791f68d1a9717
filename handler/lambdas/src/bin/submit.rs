//! The `submit` Lambda: the handler's router behind `lambda_http`, on
//! DynamoDB — the forms, and the organizers' action pages (`/api/case`).

use std::sync::Arc;

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
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table);
    // The organizers' action pages: keys read from Secrets Manager on first use, refreshed every few minutes.
    let keys = SecretKeys::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        env.link_keys_secret,
    );
    let mut config = env.http;
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
    let router = http::router(app).layer(axum::middleware::from_fn(http::client_from_lambda));
    lambda_http::run(router).await
}
