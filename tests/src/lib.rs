//! Helpers shared by the integration tests in `tests/it/`: where the
//! workspace is, its binaries (built once), and fixture sites
//! copied into temporary folders so each test can change its own copy.

pub mod calls;
pub mod capacity;
pub mod model;
pub mod slow;

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

/// The `mutualaid` binary of this build profile ([`workspace_bin`]).
pub fn mutualaid_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mutualaid"))
}

/// A binary of the workspace in this build profile (`target/<profile>/NAME`),
/// after building every binary once per test process.
///
/// Built so that what `cargo test --workspace` compiled is reused, not
/// compiled again (minutes of AWS and SQLite crates on this machine):
/// - with the features that command resolved: every member's binaries and
///   tests at once (`-p mutualaid-lambdas` alone resolves others);
/// - without the variables cargo sets for a test process (`CARGO_PKG_NAME`,
///   `CARGO_MANIFEST_DIR`, `OUT_DIR`, ...): ring's build script reruns when
///   they change, and everything above it with it.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key == "OUT_DIR"
                || [
                    "CARGO_PKG_",
                    "CARGO_MANIFEST_",
                    "CARGO_CRATE_",
                    "CARGO_BIN_",
                    "CARGO_PRIMARY_",
                    "CARGO_TARGET_TMPDIR",
                ]
                .iter()
                .any(|prefix| key.starts_with(prefix))
            {
                command.env_remove(key.as_ref());
            }
        }
        let status = command
            .args(["build", "--quiet", "--workspace", "--bins", "--tests"])
            .current_dir(workspace())
            .status()
            .expect("running cargo build for the workspace's binaries");
        assert!(
            status.success(),
            "cargo build --workspace --bins --tests failed"
        );
    });
    // target/<profile>/deps/it-<hash> → target/<profile>/NAME
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join(name);
    assert!(bin.is_file(), "no binary at {}", bin.display());
    bin
}

/// Says, past the test harness's output capture, that the running test
/// skips and why: a test that needs a service or tool that is not there
/// (moto, the test venv's Python tools) passes without checking anything,
/// and this line in `cargo test`'s output is how a reader knows.
pub fn skip(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // Written to the process's stderr directly: `eprintln!` in a test is captured.
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}

/// The test venv's Python (`.venv-test`, made by `tests/run`), or `None`
/// after saying why the test skips.
pub fn test_python() -> Option<PathBuf> {
    let python = workspace().join(".venv-test/bin/python");
    if python.is_file() {
        Some(python)
    } else {
        skip(&format!(
            "no {}: `tests/run` makes it (Python tools for the tests)",
            python.display()
        ));
        None
    }
}

/// The newest message in an outbox folder (names sort in the order the
/// messages were written), as raw MIME.
pub fn latest_message(outbox: &Path) -> Vec<u8> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(outbox)
        .expect("outbox")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    std::fs::read(files.last().expect("a digest")).expect("eml")
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

/// Where the live site says it is in [`live_content`] (not a placeholder,
/// so `--production` takes it): the origin a browser would send.
pub const SITE: &str = "https://aid.sandiego-mutualaid.net";

/// A copy of the real content in `dir/content` with its placeholders filled
/// in, as a network would before going live (`serve --production`).
pub fn live_content(dir: &Path) -> PathBuf {
    let content = dir.join("content");
    copy_tree(&real_content(), &content);
    let config = content.join("config.toml");
    let text = std::fs::read_to_string(&config)
        .expect("config.toml")
        .replace("https://mutualaid.example.org", SITE)
        .replace("mutualaid@example.org", "help@sandiego-mutualaid.net")
        .replace(
            "https://discord.gg/example",
            "https://discord.gg/sdmutualaid",
        )
        .replace(
            "https://example.org/donate",
            "https://sandiego-mutualaid.net/give",
        );
    std::fs::write(&config, text).expect("writing config.toml");
    content
}

/// An HTTP client for the tests: no status is an error, no redirect is
/// followed, 10 s at most per request.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

/// POSTs `body` as `content_type` to `url`: (status, body, `Location`).
pub fn post(
    url: &str,
    content_type: &str,
    body: impl AsRef<[u8]>,
) -> (u16, String, Option<String>) {
    let mut response = http_agent()
        .post(url)
        .header("content-type", content_type)
        .send(body.as_ref())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
        location,
    )
}

/// A valid sign-up, as the contract would make it: contact by email if
/// there is one, else by phone; no languages, notes or household size.
pub fn person(
    name: &str,
    email: Option<&str>,
    phone: Option<&str>,
    zip: &str,
    roles: &[&str],
) -> mutualaid_forms::Signup {
    use mutualaid_forms::{ContactMethod, Lang, Role};
    mutualaid_forms::Signup {
        name: name.into(),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        contact_method: if email.is_some() {
            ContactMethod::Email
        } else {
            ContactMethod::Phone
        },
        zip: zip.into(),
        neighborhood: None,
        roles: roles.iter().filter_map(|r| Role::from_wire(r)).collect(),
        languages: vec![],
        availability: None,
        has_car: false,
        households: None,
        household_size: None,
        notes: None,
        lang: Lang::EN,
    }
}

/// Maria Abuela's phone (92105), where she asks for help.
pub const MARIAS_PHONE: &str = "+16195550199";

/// Jose Perez, who volunteers to shop from Maria Abuela's phone: one
/// household with her, never paired with her.
pub fn jose_on_marias_phone() -> mutualaid_forms::Signup {
    person(
        "Jose Perez",
        Some("jose@example.org"),
        Some(MARIAS_PHONE),
        "92105",
        &["shopper"],
    )
}

/// A temporary copy of the fixture site `tests/fixtures/site`, with the
/// real interface texts (`content/i18n`) so the forms are complete.
pub fn fixture_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    copy_tree(&workspace().join("tests/fixtures/site"), dir.path());
    copy_tree(&real_content().join("i18n"), &dir.path().join("i18n"));
    dir
}

/// A delivery case matched with `volunteer` as an organizer does it: the
/// case offered (`mutualaid cases confirm`), then the volunteer's yes
/// recorded (`mutualaid cases accept`), at the same moment; under `cap`.
pub async fn matched<S: mutualaid_handler::store::CaseDesk>(
    store: &S,
    case: &str,
    volunteer: &str,
    at: i64,
    cap: usize,
) -> mutualaid_handler::cases::Acted {
    use mutualaid_handler::cases::{Act, act};
    use mutualaid_handler::store::Actor;
    let confirm = Act::Confirm {
        volunteer: volunteer.to_owned(),
    };
    act(store, case, None, confirm, at, cap, Actor::Cli)
        .await
        .expect("the store answers")?;
    act(store, case, None, Act::Accept, at, cap, Actor::Cli)
        .await
        .expect("the store answers")
}

pub mod serve {
    //! `mutualaid serve` as a process on a free loopback port.

    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    /// The server process, stopped when dropped.
    pub struct Server {
        child: Child,
        /// `http://127.0.0.1:PORT`, no trailing slash.
        pub base: String,
        /// What it printed on stdout so far.
        pub said: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Server {
        /// Its process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Sends SIGTERM (as systemd does) and waits up to a minute for the
        /// process to end; its exit status.
        pub fn terminate(&mut self) -> std::process::ExitStatus {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            for _ in 0..600 {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return status;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            panic!("mutualaid serve did not stop within a minute of SIGTERM");
        }

        /// Whether it has said a line containing `text` within `wait`.
        pub fn has_said(&self, text: &str, wait: Duration) -> bool {
            let until = std::time::Instant::now() + wait;
            loop {
                if self
                    .said
                    .lock()
                    .expect("lines")
                    .iter()
                    .any(|l| l.contains(text))
                {
                    return true;
                }
                if std::time::Instant::now() > until {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Starts `mutualaid serve` on `content`, building into `dir/public`
    /// and storing in `dir/data`, with `extra` arguments.
    pub fn serve_site(content: &Path, dir: &Path, extra: &[&str], stderr: Stdio) -> Server {
        let (out, data) = (dir.join("public"), dir.join("data"));
        serve(super::mutualaid_bin(), content, &out, &data, extra, stderr)
    }

    /// Starts `bin serve` on `content`, building into `out`, storing in
    /// `data`, with `extra` arguments; returns once it says where it listens.
    pub fn serve(
        bin: &Path,
        content: &Path,
        out: &Path,
        data: &Path,
        extra: &[&str],
        stderr: Stdio,
    ) -> Server {
        let mut child = Command::new(bin)
            .args(["serve", "--port", "0", "--content"])
            .arg(content)
            .arg("--out")
            .arg(out)
            .arg("--data")
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting mutualaid serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                keep.lock().expect("lines").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            base: String::new(),
            said,
        };
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            if let Some(at) = line.find("http://") {
                server.base = line[at..]
                    .split_whitespace()
                    .next()
                    .expect("url")
                    .trim_end_matches('/')
                    .to_owned();
                return server;
            }
        }
        panic!("mutualaid serve never said where it listens");
    }
}

pub mod stores {
    //! A fresh store of each kind, for tests that run one scenario on both
    //! (see [`on_both_stores!`](crate::on_both_stores)).

    use mutualaid_handler::store::dynamo::DynamoStore;
    use mutualaid_handler::store::sqlite::SqliteStore;

    /// New SQLite stores, one per [`FreshSqlite::store`], each in a
    /// temporary folder that lasts as long as this does (a test that runs
    /// one scenario many times over).
    #[derive(Default)]
    pub struct FreshSqlite(std::sync::Mutex<Vec<tempfile::TempDir>>);

    impl FreshSqlite {
        /// A new, empty store.
        pub fn store(&self) -> SqliteStore {
            let (dir, store) = sqlite();
            self.0.lock().expect("the folders").push(dir);
            store
        }
    }

    /// New DynamoDB tables on moto, one per [`FreshDynamo::store`], named
    /// after `what` and a count.
    pub struct FreshDynamo {
        endpoint: String,
        what: &'static str,
        made: std::sync::atomic::AtomicUsize,
    }

    impl FreshDynamo {
        /// Tables on the moto server at `endpoint`.
        pub fn new(endpoint: &str, what: &'static str) -> FreshDynamo {
            FreshDynamo {
                endpoint: endpoint.to_owned(),
                what,
                made: Default::default(),
            }
        }

        /// A new, empty table's store.
        pub async fn store(&self) -> DynamoStore {
            let n = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            dynamodb_table(&self.endpoint, &format!("{}-{n}", self.what))
                .await
                .0
        }
    }

    /// A new SQLite store in a temporary folder (it lasts while the folder does).
    pub fn sqlite() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tmp");
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).expect("open");
        (dir, store)
    }

    /// Overwrites the stored record of person `id` in the SQLite store of
    /// [`sqlite`]'s folder `dir` with `bad`, as a damaged row would read.
    pub fn damage_sqlite_record(dir: &std::path::Path, id: &str, bad: &str) {
        let conn = rusqlite::Connection::open(dir.join("db.sqlite3")).expect("open");
        conn.execute(
            "UPDATE people SET record = ?2 WHERE id = ?1",
            rusqlite::params![id, bad],
        )
        .expect("damage");
    }

    /// A new DynamoDB table on moto, named after `what`; `None` (after
    /// saying why the test skips) when moto is not there.
    pub async fn dynamodb(what: &str) -> Option<DynamoStore> {
        let endpoint = crate::aws::moto()?;
        Some(dynamodb_table(&endpoint, what).await.0)
    }

    /// A new DynamoDB table at `endpoint` as a table made before issue 23
    /// was left: not yet re-keyed (its records may hold identity keys of
    /// the rule before). A fresh store on it, and its name.
    pub async fn dynamodb_table_before_rekeying(
        endpoint: &str,
        what: &str,
    ) -> (DynamoStore, String) {
        let (_, table) = dynamodb_table(endpoint, what).await;
        let client = crate::aws::dynamo(endpoint).await;
        let (pk, sk) = mutualaid_handler::store::dynamo::REKEY_DONE;
        client
            .delete_item()
            .table_name(&table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
            .send()
            .await
            .expect("forgetting the re-keying");
        (DynamoStore::new(client, &table), table)
    }

    /// A new DynamoDB table at `endpoint`, named after `what`, and its name.
    pub async fn dynamodb_table(endpoint: &str, what: &str) -> (DynamoStore, String) {
        let table = crate::aws::unique_table(what);
        let store = DynamoStore::new(crate::aws::dynamo(endpoint).await, &table);
        store
            .create_table()
            .await
            .expect("creating the table in moto");
        (store, table)
    }
}

/// One scenario as two tests: `$sqlite` runs it on a new SQLite store,
/// `$dynamodb` on a new DynamoDB table on moto (skipping, with the reason,
/// when moto is not there). `$scenario` is an `async fn` taking the store.
#[macro_export]
macro_rules! on_both_stores {
    ($(#[$test:meta])* $scenario:ident => $sqlite:ident, $dynamodb:ident) => {
        $(#[$test])*
        async fn $sqlite() {
            let (_dir, store) = $crate::stores::sqlite();
            $scenario(store).await;
        }

        $(#[$test])*
        async fn $dynamodb() {
            let Some(store) = $crate::stores::dynamodb(stringify!($scenario)).await else {
                return;
            };
            $scenario(store).await;
        }
    };
}

pub mod aws {
    //! The moto server the test command started, and SDK clients for it.

    use aws_sdk_dynamodb::config::{Credentials, Region};

    /// The environment a process needs to talk to moto as if it were AWS.
    pub const REGION: &str = "us-west-2";

    /// Why a test that needs moto skips (README: Test says how to start it).
    const NO_MOTO: &str = "no MOTO_ENDPOINT (tests/run starts moto)";

    /// moto's address (`MOTO_ENDPOINT`, set by `tests/run`), or `None` after
    /// saying why the test skips: how a test that needs moto starts,
    /// `let Some(endpoint) = aws::moto() else { return };`.
    pub fn moto() -> Option<String> {
        let endpoint = std::env::var("MOTO_ENDPOINT").ok();
        if endpoint.is_none() {
            crate::skip(NO_MOTO);
        }
        endpoint
    }

    /// moto's address, in a helper of a test that already asked [`moto`].
    pub fn endpoint() -> String {
        std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| panic!("{NO_MOTO}"))
    }

    /// SDK configuration for an endpoint (moto, or a proxy in front of it).
    pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
        mutualaid_handler::lambda::sdk_config(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new("test", "test", None, None, "tests")),
        )
        .await
    }

    /// A DynamoDB client for an endpoint.
    pub async fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await)
    }

    /// Overwrites the stored record of person `id` in `table` (on moto,
    /// which the test asked for) with `bad`, as a damaged item would read.
    pub async fn damage_record(
        table: &str,
        id: &str,
        bad: aws_sdk_dynamodb::types::AttributeValue,
    ) {
        use aws_sdk_dynamodb::types::AttributeValue;
        use mutualaid_handler::store::dynamo::{PARTITION_KEY, SORT_KEY};
        dynamo(&endpoint())
            .await
            .update_item()
            .table_name(table)
            .key(PARTITION_KEY, AttributeValue::S(format!("PERSON#{id}")))
            .key(SORT_KEY, AttributeValue::S("PERSON".into()))
            .update_expression("SET #r = :bad")
            .expression_attribute_names("#r", "record")
            .expression_attribute_values(":bad", bad)
            .send()
            .await
            .expect("damage");
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

    /// The name of the edge secret in moto (created if missing), holding
    /// [`super::lambda::EDGE_SECRET_VALUE`]: the `submit` function reads it at start.
    pub const EDGE_SECRET: &str = "/mutualaid-test/edge";

    /// Every raw message the SES of the moto at `endpoint` holds for `to`,
    /// oldest first.
    pub fn sent_to(endpoint: &str, to: &str) -> Vec<String> {
        let text = ureq::get(&format!("{endpoint}/moto-api/data.json"))
            .call()
            .expect("moto data")
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .expect("text");
        let data: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        data["ses"]["RawMessage"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["destinations"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|a| a == to))
            })
            .filter_map(|m| m["raw_data"].as_str())
            .map(str::to_owned)
            .collect()
    }

    /// Creates [`EDGE_SECRET`] in moto unless it is there.
    pub async fn edge_secret(endpoint: &str) {
        let client = aws_sdk_secretsmanager::Client::new(&sdk_config(endpoint).await);
        let created = client
            .create_secret()
            .name(EDGE_SECRET)
            .secret_string(super::lambda::EDGE_SECRET_VALUE)
            .send()
            .await;
        if let Err(e) = created {
            let exists = e
                .as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception());
            assert!(exists, "creating the edge secret (moto): {e:?}");
        }
    }

    /// A new Secrets Manager secret in moto holding a fresh link key, as an
    /// operator creates it (infra/README.md): its name and the keys.
    pub async fn link_keys_secret(
        endpoint: &str,
        what: &str,
    ) -> (String, mutualaid_handler::links::LinkKeys) {
        let text = mutualaid_handler::links::LinkKeys::generate();
        let name = format!("/mutualaid-test/{what}/link-keys");
        aws_sdk_secretsmanager::Client::new(&sdk_config(endpoint).await)
            .create_secret()
            .name(&name)
            .secret_string(&text)
            .send()
            .await
            .expect("creating the link-key secret (moto)");
        let keys = mutualaid_handler::links::LinkKeys::parse(&text).expect("keys");
        (name, keys)
    }
}

pub mod proxy {
    //! A TCP proxy in front of a server that a test can cut: pass traffic,
    //! drop every connection, or stall (hold connections open, forward
    //! nothing). A change of mode applies to open connections too, so a
    //! client's pooled connections are cut as a real outage would cut them.

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    /// What the proxy does with connections.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        /// Forward both ways.
        Pass,
        /// Close at once (open connections are reset).
        Drop,
        /// Hold connections open and forward nothing.
        Stall,
    }

    /// A running proxy.
    #[derive(Clone)]
    pub struct Proxy {
        /// `http://127.0.0.1:PORT`
        pub url: String,
        mode: watch::Sender<Mode>,
    }

    impl Proxy {
        /// Switches mode for new and open connections.
        pub fn set(&self, mode: Mode) {
            self.mode.send_replace(mode);
        }
    }

    /// Starts a proxy to `target` (`127.0.0.1:PORT`) on a free port.
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (mode, _) = watch::channel(Mode::Pass);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(connection(inbound, target.clone(), modes.subscribe()));
            }
        });
        Proxy { url, mode }
    }

    /// One client connection: forwarded while the mode is `Pass`, held
    /// while it is `Stall`, closed when it becomes `Drop` or when a stall
    /// ends (the client has given up on it by then).
    async fn connection(mut inbound: TcpStream, target: String, mut mode: watch::Receiver<Mode>) {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Drop => return,
            Mode::Stall => {
                let _ = mode.changed().await;
                return;
            }
            Mode::Pass => {}
        }
        let Ok(mut outbound) = TcpStream::connect(&target).await else {
            return;
        };
        let cut = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
            cut = async { mode.wait_for(|m| *m != Mode::Pass).await.map(|m| *m) } => cut,
        };
        if let Ok(Mode::Stall) = cut {
            let _ = mode.wait_for(|m| *m != Mode::Stall).await;
        }
    }
}

pub mod lambda {
    //! A Lambda Runtime API emulator: the real binary polls it for events
    //! and posts its answers, as it would in AWS.

    /// The `submit` binary's environment, as the template sets it: polling
    /// `runtime_api`, DynamoDB `table` at `endpoint` (moto, or a proxy in
    /// front of it), the edge secret in moto, 100 submissions a client in 10
    /// minutes, 10 s for the store (moto takes one request at a time).
    pub fn submit_env(
        runtime_api: &str,
        endpoint: &str,
        table: &str,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", "submit".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_ENDPOINT_URL", endpoint.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", crate::aws::REGION.into()),
            ("TABLE_NAME", table.to_owned()),
            ("SITE_ORIGIN", SITE_ORIGIN.into()),
            ("THANKS_SIGNUP_EN", "/signup/thanks/".into()),
            ("THANKS_SIGNUP_ES", "/es/signup/thanks/".into()),
            ("THANKS_DONATE_EN", "/donate/thanks/".into()),
            ("THANKS_DONATE_ES", "/es/donate/thanks/".into()),
            ("RETENTION_DAYS", "365".into()),
            ("RATE_LIMIT_PER_WINDOW", "100".into()),
            ("RATE_LIMIT_WINDOW_SECS", "600".into()),
            ("EDGE_SECRET", crate::aws::EDGE_SECRET.into()),
            ("STORE_TIMEOUT_MS", "10000".into()),
            // Read only when an organizer opens an action link.
            ("LINK_KEYS_SECRET", "mutualaid-test/unused/link-keys".into()),
            ("PAIRING_CAP", "3".into()),
            ("DIGEST_TIME_ZONE", "America/Los_Angeles".into()),
        ]
    }

    /// The site's address in the tests (`SITE_ORIGIN`: the one origin allowed to post JSON).
    pub const SITE_ORIGIN: &str = "https://mutualaid.example.org";

    /// `env` with `key` set to `value` (replacing its entry).
    pub fn with_env(
        mut env: Vec<(&'static str, String)>,
        key: &'static str,
        value: &str,
    ) -> Vec<(&'static str, String)> {
        env.retain(|(k, _)| *k != key);
        env.push((key, value.to_owned()));
        env
    }

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
        first_poll: std::sync::OnceLock<std::time::Instant>,
        next_id: std::sync::atomic::AtomicU64,
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
            self.invoke_within(event, Duration::from_secs(30))
                .await
                .expect("the function answers within 30 s")
        }

        /// Queues an event and waits up to `limit` for the function's
        /// answer; `None` when none came (the event is then forgotten).
        pub async fn invoke_within(&self, event: Value, limit: Duration) -> Option<Answer> {
            let n = self
                .shared
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = format!("req-{n}");
            let (tx, mut rx) = mpsc::unbounded_channel();
            self.shared
                .answers
                .lock()
                .expect("lock")
                .insert(id.clone(), tx);
            self.shared
                .queue
                .lock()
                .expect("lock")
                .push((id.clone(), event));
            self.shared.queued.notify_waiters();
            self.shared.queued.notify_one();
            let answer = tokio::time::timeout(limit, rx.recv()).await.ok().flatten();
            if answer.is_none() {
                self.shared.answers.lock().expect("lock").remove(&id);
                self.shared
                    .queue
                    .lock()
                    .expect("lock")
                    .retain(|(queued, _)| *queued != id);
            }
            answer
        }

        /// When a function first asked for an event (its cold start ends).
        pub fn first_poll(&self) -> Option<std::time::Instant> {
            self.shared.first_poll.get().copied()
        }

        /// How many times the function has asked for its next event.
        pub fn polls(&self) -> u32 {
            *self.shared.polls.lock().expect("lock")
        }
    }

    async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
        *shared.polls.lock().expect("lock") += 1;
        let _ = shared.first_poll.set(std::time::Instant::now());
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

    /// The value of the edge secret the tests create (`aws::edge_secret`),
    /// which [`http_event`] sends as CloudFront does.
    pub const EDGE_SECRET_VALUE: &str = "test-edge-secret-0123456789abcdef";

    /// The address of a CloudFront edge, as the request context's source IP
    /// shows it for every request that came through CloudFront.
    pub const CLOUDFRONT_EDGE: &str = "130.176.98.7";

    /// An API Gateway HTTP API (payload 2.0) event as CloudFront forwards it
    /// (the edge secret, and `source_ip` as the viewer's address; the
    /// request context's source is a CloudFront edge), or a Function URL
    /// event (the same shape, with a `lambda-url` domain).
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
            "headers": {
                "content-type": content_type,
                "host": domain,
                "user-agent": "test",
                "x-origin-verify": EDGE_SECRET_VALUE,
                "cloudfront-viewer-address": format!("{source_ip}:54321"),
            },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": domain.split('.').next(),
                "domainName": domain,
                "domainPrefix": domain.split('.').next(),
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": CLOUDFRONT_EDGE, "userAgent": "test"},
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

pub mod caddy {
    //! Debian's Caddy as the reverse proxy in front of `mutualaid serve
    //! --production`, on a free loopback port with its own local CA (`tls
    //! internal`), writing only into a temporary folder.

    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// The Caddy process, stopped when dropped.
    pub struct Caddy {
        child: Child,
        _dir: tempfile::TempDir,
        /// `https://localhost:PORT`, no trailing slash.
        pub base: String,
        /// Its local CA's root certificate (PEM).
        pub root_pem: Vec<u8>,
    }

    impl Drop for Caddy {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Where Debian puts Caddy, if it is installed (`tests/run` installs it).
    pub fn binary() -> Option<PathBuf> {
        let bin = PathBuf::from("/usr/bin/caddy");
        if bin.is_file() {
            Some(bin)
        } else {
            crate::skip("no /usr/bin/caddy: `tests/run` installs Debian's caddy");
            None
        }
    }

    /// A free port on 127.0.0.1.
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    }

    /// The Caddyfile blocks `docs/self-hosting.md` documents, in order.
    pub fn documented_caddyfiles() -> Vec<String> {
        let doc = std::fs::read_to_string(crate::workspace().join("docs/self-hosting.md"))
            .expect("docs/self-hosting.md");
        doc.split("```caddyfile\n")
            .skip(1)
            .map(|block| block.split("```").next().unwrap_or_default().to_owned())
            .collect()
    }

    /// The documented Caddyfile for a laptop (`https://localhost:8443`),
    /// listening on `port`, proxying to `backend`, its state in `storage`
    /// and no admin endpoint.
    pub fn documented_for(port: u16, backend: &str, storage: &std::path::Path) -> String {
        let loopback = documented_caddyfiles()
            .into_iter()
            .find(|block| block.contains("https://localhost:8443"))
            .expect("docs/self-hosting.md documents a Caddyfile for https://localhost:8443");
        let text = loopback
            .replace(
                "https://localhost:8443",
                &format!("https://localhost:{port}"),
            )
            .replace("127.0.0.1:8000", backend);
        let (global, rest) = text
            .split_once("{\n")
            .expect("the documented Caddyfile opens with its global options");
        format!(
            "{global}{{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system {}\n{rest}",
            storage.display()
        )
    }

    /// Starts Caddy with the documented Caddyfile ([`documented_for`]) on a
    /// free port, proxying HTTPS to `backend` (`127.0.0.1:PORT`); returns
    /// once it answers over HTTPS.
    pub fn start(bin: &std::path::Path, backend: &str) -> Caddy {
        let dir = tempfile::tempdir().expect("a folder for Caddy");
        let port = free_port();
        let storage = dir.path().join("data");
        let config = dir.path().join("Caddyfile");
        std::fs::write(&config, documented_for(port, backend, &storage))
            .expect("writing the Caddyfile");
        let child = Command::new(bin)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting caddy");
        let root = storage.join("pki/authorities/local/root.crt");
        // Held from here on, so the process is stopped whatever happens next.
        let mut caddy = Caddy {
            child,
            _dir: dir,
            base: format!("https://localhost:{port}"),
            root_pem: Vec::new(),
        };
        for _ in 0..300 {
            if let Ok(pem) = std::fs::read(&root) {
                caddy.root_pem = pem;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!caddy.root_pem.is_empty(), "Caddy never made its local CA");
        for _ in 0..300 {
            if caddy
                .agent()
                .get(&format!("{}/", caddy.base))
                .call()
                .is_ok()
            {
                return caddy;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Caddy never answered over HTTPS");
    }

    impl Caddy {
        /// An HTTPS client that trusts Caddy's local CA, follows no
        /// redirects and treats no status as an error.
        pub fn agent(&self) -> ureq::Agent {
            let root = ureq::tls::Certificate::from_pem(&self.root_pem)
                .expect("Caddy's root certificate")
                .to_owned();
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
                    root,
                ])))
                .build();
            ureq::Agent::config_builder()
                .tls_config(tls)
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into()
        }
    }
}

pub mod smtp {
    //! A real SMTP server (aiosmtpd, installed by `tests/run` in the test
    //! venv) writing what it accepts to a Maildir.

    use std::time::Duration;

    /// The server; stopped when dropped.
    pub struct Server {
        child: std::process::Child,
        /// Its port on 127.0.0.1.
        pub port: u16,
        maildir: tempfile::TempDir,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Server {
        /// On a free port; `None` (the test skips) without the test venv.
        pub fn start() -> Option<Server> {
            Server::start_on(crate::caddy::free_port())
        }

        /// On `port` (a server that was down comes back where it was).
        pub fn start_on(port: u16) -> Option<Server> {
            Server::run(port, &["aiosmtpd.handlers.Mailbox"], true)
        }

        /// One that refuses every recipient for good (550), as for an
        /// address that does not exist (`tests/smtp/refuse.py`).
        pub fn start_refusing() -> Option<Server> {
            Server::run(crate::caddy::free_port(), &["refuse.Refuse"], false)
        }

        #[allow(clippy::zombie_processes)] // Server waits for it when dropped
        fn run(port: u16, handler: &[&str], maildir_arg: bool) -> Option<Server> {
            let python = crate::test_python()?;
            let maildir = tempfile::tempdir().expect("tmp");
            let mut command = std::process::Command::new(python);
            command
                .env("PYTHONPATH", crate::workspace().join("tests/smtp"))
                .args([
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    &format!("127.0.0.1:{port}"),
                    "-c",
                ])
                .args(handler);
            if maildir_arg {
                command.arg(maildir.path().join("mail"));
            }
            let child = command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("starting aiosmtpd");
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Server {
                        child,
                        port,
                        maildir,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("aiosmtpd did not start");
        }

        /// The folder its Maildir (`mail/`) is in.
        pub fn maildir(&self) -> &std::path::Path {
            self.maildir.path()
        }

        /// `smtp://127.0.0.1:PORT`.
        pub fn url(&self) -> String {
            format!("smtp://127.0.0.1:{}", self.port)
        }

        /// Every message it accepted, as received.
        pub fn received(&self) -> Vec<Vec<u8>> {
            let new = self.maildir().join("mail/new");
            let Ok(entries) = std::fs::read_dir(&new) else {
                return Vec::new();
            };
            entries
                .map(|e| std::fs::read(e.expect("entry").path()).expect("message"))
                .collect()
        }
    }
}
