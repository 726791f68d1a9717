//! Helpers shared by the integration tests in `tests/it/`: where the
//! workspace is, the `mutualaid` binary (built once), and fixture sites
//! copied into temporary folders so each test can change its own copy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// The real content folder.
pub fn real_content() -> PathBuf {
    workspace().join("content")
}

/// The `mutualaid` binary of this build profile, built on first use (a
/// no-op when `cargo build` already built it).
pub fn mutualaid_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "mutualaid", "--bin", "mutualaid"])
            .current_dir(workspace())
            .status()
            .expect("running cargo build for the mutualaid binary");
        assert!(status.success(), "cargo build -p mutualaid failed");
        // target/<profile>/deps/it-<hash> → target/<profile>/mutualaid
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let bin = profile_dir.join("mutualaid");
        assert!(bin.is_file(), "no binary at {}", bin.display());
        bin
    })
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy");
    for entry in std::fs::read_dir(from).expect("reading the fixture") {
        let entry = entry.expect("a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a fixture file");
        }
    }
}

/// A temporary copy of the fixture site `tests/fixtures/site`, with the
/// real interface texts (`content/i18n`) so the forms are complete.
pub fn fixture_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    copy_tree(&workspace().join("tests/fixtures/site"), dir.path());
    copy_tree(&real_content().join("i18n"), &dir.path().join("i18n"));
    dir
}

/// The Lambda binaries (`submit`, `digest`; `aws` feature), built on first use.
pub fn lambda_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "mutualaid-lambdas", "--bins"])
            .current_dir(workspace())
            .status()
            .expect("running cargo build for the Lambda binaries");
        assert!(
            status.success(),
            "cargo build -p mutualaid-lambdas --bins failed"
        );
    });
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join(name);
    assert!(bin.is_file(), "no binary at {}", bin.display());
    bin
}

pub mod aws {
    //! The moto server the test command started, and SDK clients for it.

    use aws_sdk_dynamodb::config::{Credentials, Region};

    /// The environment a process needs to talk to moto as if it were AWS.
    pub const REGION: &str = "us-west-2";

    /// moto's address (`MOTO_ENDPOINT`, set by `tests/run`).
    pub fn endpoint() -> String {
        std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
            panic!("MOTO_ENDPOINT is not set: run the tests with `tests/run`, which starts moto (or start `moto_server -p PORT` and set MOTO_ENDPOINT=http://127.0.0.1:PORT)")
        })
    }

    /// SDK configuration for an endpoint (moto, or a proxy in front of it).
    pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await
    }

    /// A DynamoDB client for an endpoint.
    pub async fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await)
    }

    /// A table name no other test uses (moto is shared by parallel tests).
    pub fn unique_table(what: &str) -> String {
        format!(
            "{what}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        )
    }
}

pub mod proxy {
    //! A TCP proxy in front of a server that a test can cut: pass traffic,
    //! drop every connection, or stall (accept and never answer).

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};

    use tokio::net::{TcpListener, TcpStream};

    /// What the proxy does with connections.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    pub enum Mode {
        /// Forward both ways.
        Pass = 0,
        /// Close at once.
        Drop = 1,
        /// Hold the connection open and send nothing.
        Stall = 2,
    }

    /// A running proxy.
    #[derive(Clone)]
    pub struct Proxy {
        /// `http://127.0.0.1:PORT`
        pub url: String,
        mode: Arc<AtomicU8>,
    }

    impl Proxy {
        /// Switches mode for new and existing traffic.
        pub fn set(&self, mode: Mode) {
            self.mode.store(mode as u8, Ordering::SeqCst);
        }
    }

    /// Starts a proxy to `target` (`127.0.0.1:PORT`) on a free port.
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let shared = mode.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mode = shared.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    match mode.load(Ordering::SeqCst) {
                        1 => drop(inbound),
                        2 => {
                            // Hold it until the proxy's mode changes, then drop it.
                            while mode.load(Ordering::SeqCst) == 2 {
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                        _ => {
                            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Proxy { url, mode }
    }
}

pub mod lambda {
    //! A Lambda Runtime API emulator: the real binary polls it for events
    //! and posts its answers, as it would in AWS.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use serde_json::Value;
    use tokio::sync::{Notify, mpsc};

    #[derive(Default)]
    struct Shared {
        queue: Mutex<Vec<(String, Value)>>,
        queued: Notify,
        polls: Mutex<u32>,
        answers: Mutex<HashMap<String, mpsc::UnboundedSender<(bool, Value)>>>,
    }

    /// A running emulator.
    #[derive(Clone)]
    pub struct Emulator {
        /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
        pub address: String,
        shared: Arc<Shared>,
    }

    /// What the function answered: `(is_error, body)`.
    pub type Answer = (bool, Value);

    impl Emulator {
        /// Queues an event and waits for the function's answer.
        pub async fn invoke(&self, event: Value) -> Answer {
            let id = format!(
                "req-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            );
            let (tx, mut rx) = mpsc::unbounded_channel();
            self.shared
                .answers
                .lock()
                .expect("lock")
                .insert(id.clone(), tx);
            self.shared.queue.lock().expect("lock").push((id, event));
            self.shared.queued.notify_waiters();
            self.shared.queued.notify_one();
            tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("the function answers within 30 s")
                .expect("an answer")
        }

        /// How many times the function has asked for its next event.
        pub fn polls(&self) -> u32 {
            *self.shared.polls.lock().expect("lock")
        }
    }

    async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
        *shared.polls.lock().expect("lock") += 1;
        loop {
            let notified = shared.queued.notified();
            if let Some((id, event)) = {
                let mut q = shared.queue.lock().expect("lock");
                if q.is_empty() {
                    None
                } else {
                    Some(q.remove(0))
                }
            } {
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0)
                    + 30_000;
                let mut headers = HeaderMap::new();
                headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
                headers.insert(
                    "lambda-runtime-deadline-ms",
                    deadline.to_string().parse().expect("header"),
                );
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-west-2:123456789012:function:submit"
                        .parse()
                        .expect("header"),
                );
                headers.insert(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0"
                        .parse()
                        .expect("header"),
                );
                return (StatusCode::OK, headers, event.to_string());
            }
            notified.await;
        }
    }

    async fn respond(
        State(shared): State<Arc<Shared>>,
        Path(id): Path<String>,
        body: String,
    ) -> StatusCode {
        answer(&shared, &id, false, &body);
        StatusCode::ACCEPTED
    }

    async fn error(
        State(shared): State<Arc<Shared>>,
        Path(id): Path<String>,
        body: String,
    ) -> StatusCode {
        answer(&shared, &id, true, &body);
        StatusCode::ACCEPTED
    }

    fn answer(shared: &Shared, id: &str, is_error: bool, body: &str) {
        let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
        if let Some(tx) = shared.answers.lock().expect("lock").remove(id) {
            let _ = tx.send((is_error, value));
        }
    }

    /// Starts an emulator on a free loopback port.
    pub async fn start() -> Emulator {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("emulator port");
        let address = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Emulator { address, shared }
    }

    /// An API Gateway HTTP API (payload 2.0) event, or a Function URL event
    /// (the same shape, with a `lambda-url` domain).
    pub fn http_event(
        function_url: bool,
        path: &str,
        content_type: &str,
        body: &str,
        source_ip: &str,
    ) -> Value {
        let domain = if function_url {
            "abcdefg.lambda-url.us-west-2.on.aws"
        } else {
            "abc123.execute-api.us-west-2.amazonaws.com"
        };
        serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": content_type, "host": domain, "user-agent": "test"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": domain.split('.').next(),
                "domainName": domain,
                "domainPrefix": domain.split('.').next(),
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "test"},
                "requestId": "gw-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "26/Nov/2026:23:00:00 +0000",
                "timeEpoch": 1_795_000_000_000_u64
            },
            "body": body,
            "isBase64Encoded": false
        })
    }
}
