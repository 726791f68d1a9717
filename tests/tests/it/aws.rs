//! Against a real DynamoDB wire protocol (moto, started by `tests/run`): the
//! DynamoDB adapter keeps the store contract; the store cut or stalled
//! through a proxy gives 503 and nothing claimed that was not stored; the
//! real `submit` binary, driven by a Lambda Runtime API emulator, answers
//! API Gateway and Function URL events in both encodings.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Request, StatusCode, header};
use mutualaid_forms::FormInput;
use mutualaid_handler::http::{self, App};
use mutualaid_handler::store::dynamo::{self, DynamoStore};
use mutualaid_handler::store::roles::*;
use mutualaid_site::Site;
use mutualaid_tests::proxy::{self, Mode};
use mutualaid_tests::{aws, lambda, workspace_bin};
use serde_json::{Value, json};

use crate::handler::{config, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_meets_the_store_contract() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, _) = mutualaid_tests::stores::dynamodb_table(&endpoint, "contract").await;
    crate::store_contract::contract(store).await;
}

#[tokio::test]
async fn dynamodb_names_a_damaged_record_and_reads_the_rest() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "damaged").await;
    crate::store_contract::a_damaged_record_is_named_and_the_rest_read(&store, |id| async move {
        let bad = AttributeValue::S("not a record".into());
        aws::damage_record(&table, &id, bad).await;
    })
    .await;
}

#[tokio::test]
async fn an_update_extends_the_expiry_of_everything_the_record_keeps() {
    use mutualaid_handler::domain;
    use mutualaid_handler::store::Submission;
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "expiry").await;
    let keep = crate::store_contract::KEEP;
    let rosa = crate::store_contract::person(
        "Rosa",
        Some("rosa@example.org"),
        Some("+16195550142"),
        "92105",
        &["delivery"],
    );
    let first = domain::accept(&store, Submission::Signup(rosa.clone()), 1_000, keep)
        .await
        .expect("created");
    domain::accept(&store, Submission::Signup(rosa.clone()), 2_000, keep)
        .await
        .expect("unchanged");
    let mut moved = rosa.clone();
    moved.zip = "92115".into();
    domain::accept(&store, Submission::Signup(moved), 3_000, keep)
        .await
        .expect("updated");
    let items = aws::dynamo(&endpoint)
        .await
        .scan()
        .table_name(&table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let mut kinds = std::collections::BTreeMap::new();
    for item in &items {
        let pk = item[dynamo::PARTITION_KEY].as_s().expect("pk");
        let sk = item[dynamo::SORT_KEY].as_s().expect("sk");
        let kind = format!(
            "{} {}",
            pk.split('#').next().unwrap_or_default(),
            sk.split('#').next().unwrap_or_default()
        );
        // The table's own bookkeeping (the re-keying's mark lasts for good),
        // and messages, which keep their own expiry (a sent one is forgotten
        // in days; a waiting one at most when the record was to be).
        if ["RATE", "COUNTS", "DIGEST", "KEYS"]
            .iter()
            .any(|k| kind.starts_with(k))
            || kind.ends_with(" MSG")
            || (pk.as_str(), sk.as_str()) == dynamo::REKEY_DONE
        {
            continue;
        }
        let expires: i64 = item[dynamo::TTL_ATTRIBUTE]
            .as_n()
            .expect("every item the record keeps expires")
            .parse()
            .expect("a number");
        assert_eq!(
            expires,
            3_000 + 30 * 86_400,
            "{pk} {sk}: the record's expiry, from its last change"
        );
        *kinds.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(
        kinds,
        std::collections::BTreeMap::from([
            ("CONTACT PERSON".to_owned(), 2),
            ("IDENTITY IDENTITY".to_owned(), 2),
            ("PERSON ACTIVE".to_owned(), 1),
            ("PERSON CASE".to_owned(), 1),
            // The private links of her two receipts (the first sign-up's and
            // the change's), kept as long as the record.
            ("PERSON LINK".to_owned(), 2),
            ("PERSON LOG".to_owned(), 3),
            ("PERSON PERSON".to_owned(), 1),
            ("PERSON V".to_owned(), 2),
        ]),
        "record {}: its versions, log, identity keys, contacts and case",
        first.person_id
    );
}

#[tokio::test]
async fn the_table_has_the_key_design_index_and_ttl() {
    let Some(endpoint) = aws::moto() else { return };
    let (_, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "design").await;
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
    let index_keys = |name: &str| -> Vec<String> {
        t.global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(name))
            .unwrap_or_else(|| panic!("no index {name}"))
            .key_schema()
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect()
    };
    assert_eq!(
        index_keys(dynamo::INDEX),
        [dynamo::INDEX_PARTITION_KEY, dynamo::INDEX_SORT_KEY]
    );
    assert_eq!(
        index_keys(dynamo::PENDING_INDEX),
        [dynamo::PENDING_ATTRIBUTE, dynamo::INDEX_SORT_KEY],
        "the sparse index of pending records"
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
    let Some(endpoint) = aws::moto() else { return };
    let (direct, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "faults").await;
    let proxy = proxy::start(endpoint.trim_start_matches("http://").to_owned()).await;
    let through_proxy = DynamoStore::new(aws::dynamo(&proxy.url).await, &table);
    let site = Arc::new(Site::load(&mutualaid_tests::real_content()).expect("content"));
    let mut cfg = config(&site, 1_000);
    cfg.store_timeout = Duration::from_millis(1_500);
    let router = http::router(App {
        store: through_proxy,
        site,
        config: cfg,
        clock: mutualaid_handler::clock::system_clock,
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
    let mut acknowledged = vec![
        ok.json()["reference"]
            .as_str()
            .expect("reference")
            .to_owned(),
    ];

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
            .sharing(&[format!("signup:email:{email}")])
            .await
            .expect("read moto");
        assert!(stored.is_empty(), "{mode:?}: a 503 was not stored");
    }

    proxy.set(Mode::Pass);
    let mut recovered = None;
    for _ in 0..20 {
        let answer = post(signup("after@example.org")).await;
        if answer.status == StatusCode::CREATED {
            recovered = Some(
                answer.json()["reference"]
                    .as_str()
                    .expect("reference")
                    .to_owned(),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    acknowledged.push(recovered.expect("the handler recovers once the store is back"));
    let logged: Vec<String> = direct
        .submissions()
        .await
        .expect("read")
        .into_iter()
        .map(|e| e.reference)
        .collect();
    for reference in &acknowledged {
        assert!(
            logged.contains(reference),
            "acknowledged {reference} is stored"
        );
    }
}

/// Invokes, and again after a 503 (as a person would: the suite shares one
/// moto, which takes one request at a time, so a store timeout can happen
/// while other tests load it).
async fn invoke_patiently(emulator: &lambda::Emulator, event: Value) -> lambda::Answer {
    let mut answer = emulator.invoke(event.clone()).await;
    for _ in 0..5 {
        if answer.1["statusCode"] != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        answer = emulator.invoke(event.clone()).await;
    }
    answer
}

/// The `submit` binary, started with `env` (see [`submit_env`]).
pub fn start_submit(env: Vec<(&'static str, String)>) -> std::process::Child {
    Command::new(workspace_bin("submit"))
        .envs(env)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting submit")
}

/// The `digest` binary, started against the emulator and moto, sending
/// from `sender` to `to` in Spanish, with the link keys in `secret` (and
/// the Discord webhook's URL in the secret `discord`, if any).
pub fn start_digest(
    runtime_api: &str,
    table: &str,
    sender: &str,
    to: &str,
    secret: String,
    discord: Option<&str>,
) -> std::process::Child {
    let endpoint = std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    let env = digest_env(runtime_api, &endpoint, table, sender, to, secret, discord);
    start_digest_with(env)
}

/// The `digest` binary's environment, as the template sets it, against
/// `endpoint` (see [`start_digest`]).
pub fn digest_env(
    runtime_api: &str,
    endpoint: &str,
    table: &str,
    sender: &str,
    to: &str,
    secret: String,
    discord: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = lambda::submit_env(runtime_api, endpoint, table)
        .into_iter()
        .filter(|(k, _)| k.starts_with("AWS_") || mutualaid_handler::lambda::DIGEST_ENV.contains(k))
        .filter(|(k, _)| {
            *k != "LINK_KEYS_SECRET" && *k != "PAIRING_CAP" && *k != "DIGEST_TIME_ZONE"
        })
        .collect();
    env.extend([
        ("DIGEST_FROM", sender.to_owned()),
        ("DIGEST_TO", to.to_owned()),
        ("DIGEST_LANG", "es".into()),
        ("DIGEST_TIME_ZONE", "America/Los_Angeles".into()),
        ("PAIRING_CAP", "3".into()),
        ("PAIRING_MAX_MILES", "10".into()),
        ("MATCH_REVIEW_DAYS", "14".into()),
        ("LINK_KEYS_SECRET", secret),
        ("DISCORD_WEBHOOK_SECRET", discord.unwrap_or("").to_owned()),
        ("SES_CONFIGURATION_SET", String::new()),
    ]);
    env
}

/// The `digest` binary, started with `env` (see [`digest_env`]).
pub fn start_digest_with(env: Vec<(&'static str, String)>) -> std::process::Child {
    Command::new(workspace_bin("digest"))
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting digest")
}

/// The `submit` binary's environment for a test: moto's DynamoDB (tests
/// that run it asked `aws::moto()` first; the one that only checks missing
/// variables runs without moto, pointing nowhere).
pub fn submit_env(runtime_api: &str, table: &str) -> Vec<(&'static str, String)> {
    let endpoint = std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    lambda::submit_env(runtime_api, &endpoint, table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submit_binary_answers_api_gateway_and_function_url_events_in_both_encodings() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "lambda").await;
    aws::edge_secret(&endpoint).await;
    let emulator = lambda::start().await;
    let mut child = start_submit(submit_env(&emulator.address, &table));

    let form = "name=Gil&email=gil%40example.org&contact_method=email&zip=92105&roles=delivery&consent=on&lang=es";
    let json_body = json!({"name": "Hal", "phone": "619 555 0142", "contact_method": "text", "zip": "92115", "roles": ["shopper"], "consent": true}).to_string();
    for function_url in [false, true] {
        let (_, plain) = invoke_patiently(
            &emulator,
            lambda::http_event(
                function_url,
                "/api/signup",
                "application/x-www-form-urlencoded",
                form,
                "203.0.113.9",
            ),
        )
        .await;
        assert_eq!(plain["statusCode"], 303, "{plain}");
        assert_eq!(plain["headers"]["location"], "/es/signup/thanks/");

        let (_, created) = invoke_patiently(
            &emulator,
            lambda::http_event(
                function_url,
                "/api/signup",
                "application/json",
                &json_body,
                "203.0.113.9",
            ),
        )
        .await;
        assert_eq!(created["statusCode"], 201, "{created}");
        let body: Value =
            serde_json::from_str(created["body"].as_str().expect("body")).expect("JSON body");
        assert_eq!(
            body["status"], "received",
            "the same answer, new (API Gateway) or unchanged (Function URL)"
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
    let people = store.everyone().await.expect("read moto").people;
    assert_eq!(people.len(), 2, "Gil and Hal, once each");
    assert!(emulator.polls() >= 7, "the binary polled for each event");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn each_lambda_stops_at_once_naming_a_missing_variable() {
    let digest_extra = [
        ("DIGEST_FROM", "d@example.org".to_owned()),
        ("DIGEST_TO", "o@example.org".to_owned()),
        ("DIGEST_LANG", "en".to_owned()),
        ("DIGEST_TIME_ZONE", "America/Los_Angeles".to_owned()),
        ("PAIRING_CAP", "3".to_owned()),
        ("PAIRING_MAX_MILES", "10".to_owned()),
        ("MATCH_REVIEW_DAYS", "14".to_owned()),
        ("DISCORD_WEBHOOK_SECRET", String::new()),
        ("SES_CONFIGURATION_SET", String::new()),
    ];
    for (binary, vars) in [
        ("submit", mutualaid_handler::lambda::SUBMIT_ENV),
        ("digest", mutualaid_handler::lambda::DIGEST_ENV),
    ] {
        let all: Vec<(&str, String)> = submit_env("127.0.0.1:9", "t")
            .into_iter()
            .chain(digest_extra.clone())
            .collect();
        for missing in vars {
            let env: Vec<(&str, String)> =
                all.iter().filter(|(k, _)| k != missing).cloned().collect();
            let out = Command::new(workspace_bin(binary))
                .env_clear()
                .envs(env)
                .output()
                .expect("run");
            assert!(!out.status.success(), "{binary} without {missing}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(missing),
                "{binary}: the error names {missing}: {stderr}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_binary_sends_on_a_schedule_event() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "digest-lambda").await;
    let sender = format!("digest-{table}@mutualaid.example.org");
    let ses = aws_sdk_sesv2::Client::new(&aws::sdk_config(&endpoint).await);
    ses.create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("verify");
    let signup = mutualaid_forms::SignupInput {
        name: Some("Kim".into()),
        email: Some("kim@example.org".into()),
        contact_method: Some("email".into()),
        zip: Some("92105".into()),
        roles: vec!["delivery".into()],
        consent: Some("on".into()),
        ..Default::default()
    };
    let submission = mutualaid_handler::store::Submission::Signup(
        signup.validate_and_normalize().expect("valid"),
    );
    // Kept a day only: the digest run must keep her, still waiting, for
    // the function's RETENTION_DAYS (365) from now (issue 23, part 5).
    let retention = mutualaid_handler::domain::Retention { days: 1 };
    let kim = mutualaid_handler::domain::accept(
        &store,
        submission,
        mutualaid_handler::clock::system_clock() - 5,
        retention,
    )
    .await
    .expect("seed");

    let (secret, _) = aws::link_keys_secret(&endpoint, &table).await;
    // The Discord webhook's URL in a secret, as infra/README.md says to put it; a local server plays Discord.
    let (webhook, discord) = crate::discord::webhook(&[(204, "")]);
    let parameter = format!("{table}/discord-webhook");
    aws_sdk_secretsmanager::Client::new(&aws::sdk_config(&endpoint).await)
        .create_secret()
        .name(&parameter)
        .secret_string(&webhook)
        .send()
        .await
        .expect("creating the secret");
    let emulator = lambda::start().await;
    let to = format!("organizers+{table}@example.org");
    let mut child = start_digest(
        &emulator.address,
        &table,
        &sender,
        &to,
        secret,
        Some(&parameter),
    );
    let schedule_event = json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.scheduler", "time": "2026-11-27T16:00:00Z", "detail": {}});
    let (is_error, answer) = emulator.invoke(schedule_event).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(!is_error, "{answer}");
    assert_eq!(answer["sent"], true);
    assert!(
        store.pending().await.expect("pending").people.is_empty(),
        "Kim is reported once SES accepted"
    );
    let kept_until = store
        .person(&kim.person_id)
        .await
        .expect("read")
        .expect("Kim")
        .expires_at;
    assert!(
        kept_until > mutualaid_handler::clock::system_clock() + 364 * 86_400,
        "Kim's request is open: the digest run keeps her a year from now ({kept_until})"
    );
    let raw = aws::sent_to(&endpoint, &to);
    assert_eq!(raw.len(), 1);
    assert!(
        raw[0].contains("Subject: Ayuda Mutua de San Diego: resumen del"),
        "in the organizers' language, with the network's Spanish name"
    );
    let posted = discord.received.lock().expect("lock").clone();
    assert_eq!(
        posted.len(),
        1,
        "the summary went to the webhook the secret holds"
    );
    let content = posted[0]["content"].as_str().expect("content");
    assert!(
        content.contains("92105") && content.contains("menos de 3 piden ayuda"),
        "counts in Spanish, Kim's area under 3: {content}"
    );
    assert!(
        !content.contains("Kim") && !content.contains("kim@"),
        "{content}"
    );
}

/// `kill -9` of the submit function right after its 201: the receipt was
/// written with the sign-up, so the digest function's next sender run
/// delivers it through SES — once, carrying the message's id — and the run
/// after sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_delivered_once_through_ses_after_submit_is_killed_right_after_its_201() {
    let Some(endpoint) = aws::moto() else { return };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "killed-submit").await;
    aws::edge_secret(&endpoint).await;
    let (secret, _) = aws::link_keys_secret(&endpoint, &table).await;
    let sender = format!("digest-{table}@mutualaid.example.org");
    aws_sdk_sesv2::Client::new(&aws::sdk_config(&endpoint).await)
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("verify");
    let email = format!("kim.{}@example.org", table.to_lowercase());
    let emulator = lambda::start().await;
    let mut submit = start_submit(submit_env(&emulator.address, &table));
    let body = json!({"name": "Kim Ode", "email": email, "contact_method": "email", "zip": "92105", "roles": ["delivery"], "consent": true}).to_string();
    let (_, created) = invoke_patiently(
        &emulator,
        lambda::http_event(
            false,
            "/api/signup",
            "application/json",
            &body,
            "203.0.113.9",
        ),
    )
    .await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let _ = submit.kill(); // SIGKILL, at once
    let _ = submit.wait();

    let digest_emulator = lambda::start().await;
    let to = format!("organizers+{table}@example.org");
    for expected in [1, 0] {
        let mut digest = start_digest(
            &digest_emulator.address,
            &table,
            &sender,
            &to,
            secret.clone(),
            None,
        );
        let (is_error, answer) = digest_emulator.invoke(json!({"deliver": {}})).await;
        let _ = digest.kill();
        let _ = digest.wait();
        assert!(!is_error, "{answer}");
        assert_eq!(answer["delivered"], expected, "{answer}");
    }
    let kim = &store.everyone().await.expect("read").people[0];
    let receipt = store.messages_of(&kim.id).await.expect("messages")[0].clone();
    let sent = aws::sent_to(&endpoint, &email);
    assert_eq!(sent.len(), 1, "once");
    assert!(
        sent[0].contains(&format!("X-Mutualaid-Message: {}", receipt.id)),
        "{}",
        sent[0]
    );
}
