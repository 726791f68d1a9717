//! Against a real DynamoDB wire protocol (moto, started by `tests/run`): the
//! DynamoDB adapter keeps the store contract; the store cut or stalled
//! through a proxy gives 503 and nothing claimed that was not stored; the
//! real `submit` binary, driven by a Lambda Runtime API emulator, answers
//! API Gateway and Function URL events in both encodings.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, StatusCode, header};
use mutualaid_handler::http::{self, App};
use mutualaid_handler::store::Store;
use mutualaid_handler::store::dynamo::{self, DynamoStore};
use mutualaid_site::Site;
use mutualaid_tests::proxy::{self, Mode};
use mutualaid_tests::{aws, lambda, submit_bin};
use serde_json::{Value, json};

use crate::handler::{config, send};

async fn fresh_store(endpoint: &str, what: &str) -> (DynamoStore, String) {
    let table = aws::unique_table(what);
    let store = DynamoStore::new(aws::dynamo(endpoint).await, &table);
    store
        .create_table()
        .await
        .expect("creating the table in moto");
    (store, table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_meets_the_store_contract() {
    let (store, _) = fresh_store(&aws::endpoint(), "contract").await;
    crate::store_contract::contract(store).await;
}

#[tokio::test]
async fn the_table_has_the_key_design_index_and_ttl() {
    let endpoint = aws::endpoint();
    let (_, table) = fresh_store(&endpoint, "design").await;
    let client = aws::dynamo(&endpoint).await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe");
    let t = described.table().expect("table");
    let keys: Vec<&str> = t.key_schema().iter().map(|k| k.attribute_name()).collect();
    assert_eq!(keys, [dynamo::PARTITION_KEY, dynamo::SORT_KEY]);
    let index = &t.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some(dynamo::INDEX));
    let index_keys: Vec<&str> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(
        index_keys,
        [dynamo::INDEX_PARTITION_KEY, dynamo::INDEX_SORT_KEY]
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some(dynamo::TTL_ATTRIBUTE));
}

fn signup(email: &str) -> Value {
    json!({"name": "Fay", "email": email, "contact_method": "email", "zip": "92105", "roles": ["shopper"], "consent": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_or_stalled_store_gives_503_claims_nothing_and_recovers_by_itself() {
    let endpoint = aws::endpoint();
    let (direct, table) = fresh_store(&endpoint, "faults").await;
    let proxy = proxy::start(endpoint.trim_start_matches("http://").to_owned()).await;
    let through_proxy = DynamoStore::new(aws::dynamo(&proxy.url).await, &table);
    let site = Arc::new(Site::load(&mutualaid_tests::real_content()).expect("content"));
    let mut cfg = config(&site, 1_000);
    cfg.store_timeout = Duration::from_millis(1_500);
    let router = http::router(App {
        store: through_proxy,
        site,
        config: cfg,
        clock: http::system_clock,
    });
    let post = |body: Value| {
        let router = router.clone();
        async move {
            let request = Request::post("/api/signup")
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_string().into())
                .expect("req");
            send(&router, request).await
        }
    };

    let ok = post(signup("before@example.org")).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let mut acknowledged = vec![ok.json()["id"].as_str().expect("id").to_owned()];

    for (mode, email) in [
        (Mode::Stall, "stalled@example.org"),
        (Mode::Drop, "dropped@example.org"),
    ] {
        proxy.set(mode);
        let answer = post(signup(email)).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{mode:?}: {}",
            answer.body
        );
        assert_eq!(answer.json()["error"], "unavailable");
        let plain = Request::post("/api/signup")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                format!(
                    "name=Fay&email={}&zip=92105&lang=es",
                    email.replace('@', "%40")
                )
                .into(),
            )
            .expect("req");
        let page = send(&router, plain).await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{mode:?}");
        assert!(
            page.body.contains("no pudimos guardar"),
            "a Spanish try-again page"
        );
        assert!(
            page.body.contains(&format!("value=\"{email}\"")),
            "the input is kept"
        );
        let stored = direct
            .find(&[format!("signup:email:{email}")])
            .await
            .expect("find in moto");
        assert!(stored.is_empty(), "{mode:?}: a 503 was not stored");
    }

    proxy.set(Mode::Pass);
    let mut recovered = None;
    for _ in 0..20 {
        let answer = post(signup("after@example.org")).await;
        if answer.status == StatusCode::CREATED {
            recovered = Some(answer.json()["id"].as_str().expect("id").to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    acknowledged.push(recovered.expect("the handler recovers once the store is back"));
    let everyone: Vec<String> = direct
        .changed_since(0)
        .await
        .expect("read")
        .into_iter()
        .map(|p| p.id)
        .collect();
    for id in &acknowledged {
        assert!(everyone.contains(id), "acknowledged {id} is stored");
    }
}

/// The environment the `submit` binary needs, pointing at moto and the emulator.
fn submit_env(runtime_api: &str, table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "submit".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_ENDPOINT_URL", aws::endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", aws::REGION.into()),
        ("TABLE_NAME", table.to_owned()),
        ("SITE_ORIGIN", crate::handler::ORIGIN.into()),
        (
            "CONTENT_DIR",
            mutualaid_tests::real_content().display().to_string(),
        ),
        ("THANKS_SIGNUP_EN", "/signup/thanks/".into()),
        ("THANKS_SIGNUP_ES", "/es/signup/thanks/".into()),
        ("THANKS_DONATE_EN", "/donate/thanks/".into()),
        ("THANKS_DONATE_ES", "/es/donate/thanks/".into()),
        ("RETENTION_DAYS", "365".into()),
        ("RATE_LIMIT_PER_WINDOW", "100".into()),
        ("RATE_LIMIT_WINDOW_SECS", "600".into()),
        ("CLIENT_SALT", "salt".into()),
        ("STORE_TIMEOUT_MS", "3000".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submit_binary_answers_api_gateway_and_function_url_events_in_both_encodings() {
    let endpoint = aws::endpoint();
    let (store, table) = fresh_store(&endpoint, "lambda").await;
    let emulator = lambda::start().await;
    let mut child = Command::new(submit_bin())
        .envs(submit_env(&emulator.address, &table))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting submit");

    let form = "name=Gil&email=gil%40example.org&contact_method=email&zip=92105&roles=delivery&consent=on&lang=es";
    let json_body = json!({"name": "Hal", "phone": "619 555 0142", "contact_method": "text", "zip": "92115", "roles": ["shopper"], "consent": true}).to_string();
    for function_url in [false, true] {
        let (_, plain) = emulator
            .invoke(lambda::http_event(
                function_url,
                "/api/signup",
                "application/x-www-form-urlencoded",
                form,
                "203.0.113.9",
            ))
            .await;
        assert_eq!(plain["statusCode"], 303, "{plain}");
        assert_eq!(plain["headers"]["location"], "/es/signup/thanks/");

        let (_, created) = emulator
            .invoke(lambda::http_event(
                function_url,
                "/api/signup",
                "application/json",
                &json_body,
                "203.0.113.9",
            ))
            .await;
        assert_eq!(created["statusCode"], 201, "{created}");
        let body: Value =
            serde_json::from_str(created["body"].as_str().expect("body")).expect("JSON body");
        assert_eq!(
            body["status"],
            if function_url { "unchanged" } else { "created" }
        );

        let (_, invalid) = emulator
            .invoke(lambda::http_event(
                function_url,
                "/api/signup",
                "application/x-www-form-urlencoded",
                "name=%3Cb%3EIvy&zip=1&lang=es",
                "203.0.113.9",
            ))
            .await;
        assert_eq!(invalid["statusCode"], 422);
        let page = invalid["body"].as_str().expect("an HTML page");
        assert!(
            page.contains("Hay un problema") && page.contains("value=\"&lt;b&gt;Ivy\""),
            "{page}"
        );
    }
    let people = store.changed_since(0).await.expect("read moto");
    assert_eq!(people.len(), 2, "Gil and Hal, once each");
    assert!(emulator.polls() >= 7, "the binary polled for each event");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_submit_binary_stops_at_once_naming_a_missing_variable() {
    for missing in mutualaid_handler::lambda::SUBMIT_ENV {
        let env: Vec<(&str, String)> = submit_env("127.0.0.1:9", "t")
            .into_iter()
            .filter(|(k, _)| k != missing)
            .collect();
        let out = Command::new(submit_bin())
            .env_clear()
            .envs(env)
            .output()
            .expect("run submit");
        assert!(!out.status.success(), "{missing}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(missing),
            "the error names {missing}: {stderr}"
        );
    }
}
