//! The SAM template (`infra/template.yaml`) agrees with the code: the table
//! is the store's key design, each function gets exactly the environment its
//! binary reads and exactly the IAM actions its adapters call, and the site
//! is private behind CloudFront with `/api/*` on the same origin.

use std::collections::BTreeSet;

use mutualaid_handler::lambda::{DIGEST_ENV, SUBMIT_ENV};
use mutualaid_handler::mail::SES_ACTIONS;
use mutualaid_handler::store::dynamo;
use serde_norway::Value;

fn template() -> Value {
    let path = mutualaid_tests::workspace().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
    serde_norway::from_str(&text).expect("the template is YAML")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "no resource {name}");
    r
}

#[test]
fn the_table_is_the_stores_key_design() {
    let t = template();
    let table = &resource(&t, "Table")["Properties"];
    let keys: Vec<&str> = table["KeySchema"]
        .as_sequence()
        .expect("keys")
        .iter()
        .filter_map(|k| k["AttributeName"].as_str())
        .collect();
    assert_eq!(keys, [dynamo::PARTITION_KEY, dynamo::SORT_KEY]);
    for (i, name, hash, projection) in [
        (0, dynamo::INDEX, dynamo::INDEX_PARTITION_KEY, "ALL"),
        (
            1,
            dynamo::PENDING_INDEX,
            dynamo::PENDING_ATTRIBUTE,
            "KEYS_ONLY",
        ),
    ] {
        let index = &table["GlobalSecondaryIndexes"][i];
        assert_eq!(index["IndexName"].as_str(), Some(name));
        let index_keys: Vec<&str> = index["KeySchema"]
            .as_sequence()
            .expect("keys")
            .iter()
            .filter_map(|k| k["AttributeName"].as_str())
            .collect();
        assert_eq!(index_keys, [hash, dynamo::INDEX_SORT_KEY], "{name}");
        assert_eq!(
            index["Projection"]["ProjectionType"].as_str(),
            Some(projection),
            "{name}"
        );
    }
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(dynamo::TTL_ATTRIBUTE)
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        resource(&t, "Table")["DeletionPolicy"].as_str(),
        Some("Retain")
    );
}

#[test]
fn each_function_gets_exactly_the_environment_its_binary_reads() {
    let t = template();
    for (function, wanted) in [
        ("SubmitFunction", SUBMIT_ENV),
        ("DigestFunction", DIGEST_ENV),
    ] {
        let vars = resource(&t, function)["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .expect("variables");
        let names: BTreeSet<String> = vars
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        assert_eq!(names, set(wanted), "{function}");
    }
    // The thank-you paths are the real site's thank-you pages.
    let site = &crate::real_site().site;
    let vars = &resource(&t, "SubmitFunction")["Properties"]["Environment"]["Variables"];
    for (var, key, lang) in [
        ("THANKS_SIGNUP_EN", "signup/thanks.md", "en"),
        ("THANKS_SIGNUP_ES", "signup/thanks.md", "es"),
        ("THANKS_DONATE_EN", "donate/thanks.md", "en"),
        ("THANKS_DONATE_ES", "donate/thanks.md", "es"),
    ] {
        assert_eq!(
            vars[var].as_str(),
            site.page(key, lang).map(|p| p.url.as_str()),
            "{var}"
        );
    }
}

/// Every (actions, resources) statement of a function's inline policies.
#[test]
fn each_function_reads_only_its_secrets_and_sends_as_the_sender_only() {
    // Their DynamoDB rights follow from the calls they make: tests/it/rights.rs.
    let t = template();
    let link_keys: Value = serde_norway::from_str(
        "Fn::Sub: arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${LinkKeysSecretName}-??????",
    )
    .expect("yaml");
    let by_sid = |function: &str, sid: &str| -> (BTreeSet<String>, Vec<Value>) {
        let policies = resource(&t, function)["Properties"]["Policies"]
            .as_sequence()
            .expect("inline policies only");
        let statement = policies
            .iter()
            .flat_map(|p| p["Statement"].as_sequence().expect("statements").iter())
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("{function} has a statement {sid}"));
        (
            strings(&statement["Action"]).into_iter().collect(),
            statement["Resource"]
                .as_sequence()
                .expect("resources")
                .clone(),
        )
    };
    // Both read the link keys (submit verifies links, digest signs them), that secret only.
    for function in ["SubmitFunction", "DigestFunction"] {
        let (actions, resources) = by_sid(function, "LinkKeys");
        assert_eq!(
            actions,
            set(mutualaid_handler::links::secrets::ACTIONS),
            "{function}"
        );
        assert_eq!(resources, std::slice::from_ref(&link_keys), "{function}");
    }
    let edge: Value = serde_norway::from_str("Ref: EdgeSecret").expect("yaml");
    let (actions, resources) = by_sid("SubmitFunction", "EdgeSecret");
    assert_eq!(actions, set(mutualaid_handler::edge::ACTIONS));
    assert_eq!(
        resources,
        std::slice::from_ref(&edge),
        "the edge secret only"
    );

    let (actions, resources) = by_sid("DigestFunction", "DiscordWebhookSecret");
    assert_eq!(actions, set(mutualaid_handler::discord::secret::ACTIONS));
    let parameter = serde_norway::to_string(&resources).expect("yaml");
    assert!(
        parameter.contains(":secret:${AWS::StackName}/discord-webhook-??????")
            && !parameter.contains('*'),
        "that secret only: {parameter}"
    );
    let (actions, resources) = by_sid("DigestFunction", "SendAsTheSenderOnly");
    assert_eq!(actions, set(SES_ACTIONS));
    let identity = serde_norway::to_string(&resources).expect("yaml");
    assert!(
        identity.contains(":identity/${SenderEmail}") && !identity.contains('*'),
        "the sender identity only: {identity}"
    );
    // And nothing but those and the table's statements.
    for function in ["SubmitFunction", "DigestFunction"] {
        let policies = resource(&t, function)["Properties"]["Policies"]
            .as_sequence()
            .expect("inline policies only");
        for statement in policies
            .iter()
            .flat_map(|p| p["Statement"].as_sequence().expect("statements").iter())
        {
            let actions = strings(&statement["Action"]);
            assert!(
                actions.iter().all(|a| a.starts_with("dynamodb:"))
                    || [
                        "LinkKeys",
                        "EdgeSecret",
                        "DiscordWebhookSecret",
                        "SendAsTheSenderOnly"
                    ]
                    .contains(&statement["Sid"].as_str().unwrap_or_default()),
                "{function}: {statement:?}"
            );
            let text = serde_norway::to_string(&statement["Resource"]).expect("yaml");
            assert!(
                !actions.iter().any(|a| a.starts_with("dynamodb:")) || text.contains("Table"),
                "{function}: DynamoDB rights on the table and its indexes only: {text}"
            );
        }
    }
}

#[test]
fn the_functions_are_rust_on_arm64_built_by_cargo_lambda_from_the_lambdas_crate() {
    let t = template();
    for (function, binary) in [("SubmitFunction", "submit"), ("DigestFunction", "digest")] {
        let f = resource(&t, function);
        assert_eq!(f["Type"].as_str(), Some("AWS::Serverless::Function"));
        assert_eq!(f["Properties"]["Runtime"].as_str(), Some("provided.al2023"));
        assert_eq!(strings(&f["Properties"]["Architectures"]), ["arm64"]);
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        assert_eq!(
            f["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(binary)
        );
        let code = f["Properties"]["CodeUri"].as_str().expect("CodeUri");
        let crate_dir = mutualaid_tests::workspace().join("infra").join(code);
        assert!(
            crate_dir
                .join("src/bin")
                .join(format!("{binary}.rs"))
                .is_file(),
            "{function}: {code} has the {binary} binary"
        );
        let log_group = f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .expect("its own log group");
        assert!(
            resource(&t, log_group)["Properties"]["RetentionInDays"]
                .as_i64()
                .is_some(),
            "{log_group} has a retention"
        );
    }
}

#[test]
fn the_digest_runs_daily_in_san_diegos_time_with_retries_and_a_dead_letter_queue() {
    let t = template();
    let schedule = &resource(&t, "DigestFunction")["Properties"]["Events"]["Daily"];
    assert_eq!(schedule["Type"].as_str(), Some("ScheduleV2"));
    let p = &schedule["Properties"];
    assert_eq!(
        p["ScheduleExpressionTimezone"].as_str(),
        Some("America/Los_Angeles")
    );
    assert_eq!(
        p["ScheduleExpression"]["Fn::Sub"].as_str(),
        Some("cron(0 ${DigestHour} * * ? *)")
    );
    assert!(
        p["RetryPolicy"]["MaximumRetryAttempts"]
            .as_i64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(p["DeadLetterConfig"]["Type"].as_str(), Some("SQS"));
    let hour = &t["Parameters"]["DigestHour"];
    assert_eq!(
        (hour["MinValue"].as_i64(), hour["MaxValue"].as_i64()),
        (Some(0), Some(23))
    );
}

#[test]
fn the_site_is_private_behind_cloudfront_with_the_api_on_the_same_origin() {
    let t = template();
    let block = &resource(&t, "SiteBucket")["Properties"]["PublicAccessBlockConfiguration"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[flag].as_bool(), Some(true), "{flag}");
    }
    let config = &resource(&t, "Distribution")["Properties"]["DistributionConfig"];
    assert_eq!(
        config["DefaultCacheBehavior"]["Compress"].as_bool(),
        Some(true)
    );
    let api = config["CacheBehaviors"]
        .as_sequence()
        .expect("behaviours")
        .iter()
        .find(|b| b["PathPattern"].as_str() == Some("/api/*"))
        .expect("/api/* is routed");
    assert_eq!(api["TargetOriginId"].as_str(), Some("api"));
    assert_eq!(strings(&api["AllowedMethods"]).len(), 7, "all methods");
    assert_eq!(
        api["CachePolicyId"].as_str(),
        Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"),
        "Managed-CachingDisabled"
    );
    assert_eq!(
        config["CustomErrorResponses"][0]["ResponsePagePath"].as_str(),
        Some("/404.html")
    );
    let headers = &resource(&t, "SecurityHeaders")["Properties"]["ResponseHeadersPolicyConfig"];
    let csp = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
        .as_str()
        .expect("CSP");
    assert!(
        csp.contains("script-src 'none'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self'"),
        "the forms post to /api on the same origin: {csp}"
    );
    for header in [
        "StrictTransportSecurity",
        "ContentTypeOptions",
        "ReferrerPolicy",
    ] {
        assert!(
            !headers["SecurityHeadersConfig"][header].is_null(),
            "{header}"
        );
    }
    assert_eq!(
        headers["CustomHeadersConfig"]["Items"][0]["Header"].as_str(),
        Some("Permissions-Policy")
    );
    assert_eq!(
        crate::real_site().site.config.api_base,
        "/api",
        "the built forms post to the same origin"
    );
}

#[test]
fn the_api_answers_only_cloudfront_which_sends_the_edge_secret_and_the_viewers_address() {
    let t = template();
    let config = &resource(&t, "Distribution")["Properties"]["DistributionConfig"];
    let api = config["Origins"]
        .as_sequence()
        .expect("origins")
        .iter()
        .find(|o| o["Id"].as_str() == Some("api"))
        .expect("the api origin");
    let header = &api["OriginCustomHeaders"][0];
    assert_eq!(
        header["HeaderName"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some(mutualaid_handler::edge::ORIGIN_HEADER)
    );
    assert_eq!(
        header["HeaderValue"]["Fn::Sub"].as_str(),
        Some("{{resolve:secretsmanager:${EdgeSecret}:SecretString}}"),
        "the value is the secret submit reads"
    );
    let vars = &resource(&t, "SubmitFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(vars["EDGE_SECRET"]["Ref"].as_str(), Some("EdgeSecret"));
    let generated = &resource(&t, "EdgeSecret")["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64() >= Some(32));

    // The viewer's address reaches the handler; the viewer's Host does not.
    let behaviour = config["CacheBehaviors"]
        .as_sequence()
        .expect("behaviours")
        .iter()
        .find(|b| b["PathPattern"].as_str() == Some("/api/*"))
        .expect("/api/*");
    assert_eq!(
        behaviour["OriginRequestPolicyId"]["Ref"].as_str(),
        Some("ApiOriginRequests")
    );
    let policy = &resource(&t, "ApiOriginRequests")["Properties"]["OriginRequestPolicyConfig"];
    let headers: BTreeSet<String> = strings(&policy["HeadersConfig"]["Headers"])
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    assert!(
        headers.contains(mutualaid_handler::edge::VIEWER_ADDRESS_HEADER),
        "{headers:?}"
    );
    for needed in ["content-type", "origin", "sec-fetch-site"] {
        assert!(headers.contains(needed), "{needed}: {headers:?}");
    }
    assert!(
        !headers.contains("host"),
        "API Gateway answers only to its own Host"
    );
    assert_eq!(
        policy["QueryStringsConfig"]["QueryStringBehavior"].as_str(),
        Some("all"),
        "the signed links"
    );

    // The API's own address is published nowhere.
    let outputs = serde_norway::to_string(&t["Outputs"]).expect("yaml");
    assert!(!outputs.contains("execute-api"), "{outputs}");

    // Every route the router serves is routed to submit, and throttled on its own.
    let events = resource(&t, "SubmitFunction")["Properties"]["Events"]
        .as_mapping()
        .expect("events");
    let routed: BTreeSet<String> = events
        .values()
        .map(|e| {
            format!(
                "{} {}",
                e["Properties"]["Method"].as_str().expect("method"),
                e["Properties"]["Path"].as_str().expect("path")
            )
        })
        .collect();
    assert_eq!(routed, set(mutualaid_handler::http::ROUTES));
    let throttled: BTreeSet<String> = resource(&t, "HttpApi")["Properties"]["RouteSettings"]
        .as_mapping()
        .expect("route settings")
        .iter()
        .map(|(route, settings)| {
            assert!(
                settings["ThrottlingRateLimit"].as_u64().is_some(),
                "{route:?}"
            );
            route.as_str().expect("a route").to_owned()
        })
        .collect();
    assert_eq!(throttled, set(mutualaid_handler::http::ROUTES));

    // The WAF: its own stack in us-east-1, a rate-based rule per IP on /api/.
    let waf_path = mutualaid_tests::workspace().join("infra/waf.yaml");
    let waf: Value =
        serde_norway::from_str(&std::fs::read_to_string(&waf_path).expect("infra/waf.yaml"))
            .expect("YAML");
    let acl = &waf["Resources"]["WebAcl"]["Properties"];
    assert_eq!(acl["Scope"].as_str(), Some("CLOUDFRONT"));
    let rate = acl["Rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .find_map(|r| r["Statement"]["RateBasedStatement"].as_mapping())
        .expect("a rate-based rule");
    let rate = Value::Mapping(rate.clone());
    assert_eq!(rate["AggregateKeyType"].as_str(), Some("IP"));
    assert_eq!(
        rate["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"].as_str(),
        Some("/api/")
    );
    assert_eq!(
        config["WebACLId"]["Fn::If"][0].as_str(),
        Some("HasWebAcl"),
        "the distribution takes the web ACL when one is given"
    );
}

#[test]
fn a_self_hosted_server_sends_the_security_headers_cloudfront_sends() {
    use mutualaid_handler::http::security::{self, SECURITY_HEADERS};
    let t = template();
    let config = &resource(&t, "SecurityHeaders")["Properties"]["ResponseHeadersPolicyConfig"];
    let s = &config["SecurityHeadersConfig"];
    let header = |name: &str| {
        SECURITY_HEADERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("serve --production sends no {name}"))
    };
    assert_eq!(
        s["ContentSecurityPolicy"]["ContentSecurityPolicy"].as_str(),
        Some(header("content-security-policy"))
    );
    assert_eq!(
        s["ReferrerPolicy"]["ReferrerPolicy"].as_str(),
        Some(header("referrer-policy"))
    );
    assert_eq!(
        s["FrameOptions"]["FrameOption"].as_str(),
        Some(header("x-frame-options"))
    );
    assert!(s["ContentTypeOptions"]["Override"].as_bool() == Some(true));
    assert_eq!(header("x-content-type-options"), "nosniff");
    let hsts = &s["StrictTransportSecurity"];
    let max_age = hsts["AccessControlMaxAgeSec"].as_u64().expect("max age");
    assert_eq!(
        security::STRICT_TRANSPORT_SECURITY,
        format!(
            "max-age={max_age}{}",
            if hsts["IncludeSubdomains"].as_bool() == Some(true) {
                "; includeSubDomains"
            } else {
                ""
            }
        )
    );
    let custom = &config["CustomHeadersConfig"]["Items"][0];
    assert_eq!(custom["Header"].as_str(), Some("Permissions-Policy"));
    assert_eq!(custom["Value"].as_str(), Some(header("permissions-policy")));
}
