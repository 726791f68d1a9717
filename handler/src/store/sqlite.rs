//! The embedded store: one SQLite file (WAL, `synchronous=FULL`, so a
//! commit is on disk before the handler answers). Each operation is one
//! `BEGIN IMMEDIATE` transaction on a connection behind a mutex, run off the
//! async threads.
//!
//! | table | what it keeps |
//! | --- | --- |
//! | `people` | each record as JSON, with its `version`, `reported_version`, `pending` (1 while the version is newer than the reported one, else NULL; a partial index lists the pending), last change and expiry |
//! | `versions` | every version of each record's submission |
//! | `submissions` | the submission log, by reference |
//! | `identities` | identity key → the one record holding it |
//! | `contacts` | contact key → every record that gave it |
//! | `former_contacts` | contact key → every record that gave it once and no longer does, with when it last held it (deletion on request only) |
//! | `cases` | each request (delivery or funding) and where it is |
//! | `active_cases` | (person, kind) → the one case of that kind not closed ([`Write::ClaimActive`]) |
//! | `loads` | a volunteer → how many delivery cases are offered or matched to them ([`Write::Load`]) |
//! | `volunteers`, `actions` | a record's standing (a pause, a merge); every organizer action |
//! | `rate_rings`, `counters`, `digest_state` | the rate limit's last requests per client (and, keyed `receipts:<hash>`, the receipts per address), per-day self-report, the digest's lease and manifest |
//! | `page_links` | the private links to each person's page, by the hash of their token ([`super::page_link::PageLink`]) |
//! | `suppressed`, `store_keys` | the addresses that said "this wasn't me", by their keyed hash only, and the key (made once) |
//! | `mail_stops` | no more mail to an address about a record (the person unsubscribed, or the address was refused for good) |
//! | `messages` | the outbox: each message to a person ([`super::message::Message`]), `due_at` set only while it waits |
//!
//! Deleted content is overwritten (`PRAGMA secure_delete`), and an erasure
//! on request ends with a checkpoint that empties the write-ahead log, so a
//! deleted person is left in no file.
//!
//! The case desk's writes and erasure come as [`Plan`]s
//! ([`super::plan`]): each [`Write`] is one statement whose condition,
//! when it fails, rolls the whole transaction back as a conflict. The rules
//! (one active case per kind, the load and its cap) are the plan's; this
//! adapter writes no rule of its own.
//!
//! Everything a record keeps is deleted with it (`ON DELETE CASCADE`, a
//! net under the erasure plan), so [`SqliteStore::purge_expired`] leaves
//! nothing behind. A database written
//! by the first schema (one record per contact) is migrated when opened.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutualaid_forms::FormId;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::message::{AddressKey, MailStop, Message};
use super::page_link::PageLink;
use super::{
    AdminStore, Admission, Case, CaseAction, CaseDesk, CaseKind, CaseScan, CaseState, Counter,
    DigestState, DigestStore, IntakeStore, Kept, LogEntry, ManifestEntry, Outcome, Person, Plan,
    RateRing, Records, Scan, SenderStore, Standing, StoreError, Submission, Timestamp, Write,
};

/// The SQLite adapter: one connection, shared.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

/// The database file and its connection, once open.
struct Shared {
    path: PathBuf,
    slot: Mutex<Slot>,
}

struct Slot {
    conn: Option<Connection>,
    last_attempt: Instant,
}

impl Shared {
    /// Runs `f` on the connection, blocking. A store that could not be
    /// opened tries again here, at most once a second; until it can, every
    /// operation is [`StoreError::Unavailable`].
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .slot
            .lock()
            .map_err(|_| unavailable("the database lock is poisoned"))?;
        if slot.conn.is_none() {
            if slot.last_attempt.elapsed() < Duration::from_secs(1) {
                return Err(unavailable("the database could not be opened"));
            }
            slot.last_attempt = Instant::now();
            slot.conn = Some(open_connection(&self.path)?);
        }
        match &mut slot.conn {
            Some(conn) => f(conn),
            None => Err(unavailable("the database could not be opened")),
        }
    }
}

/// The schema's version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 7;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    version INTEGER NOT NULL,
    reported_version INTEGER NOT NULL DEFAULT 0,
    pending INTEGER,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS people_by_change ON people (updated_at);
CREATE INDEX IF NOT EXISTS people_pending ON people (pending) WHERE pending IS NOT NULL;
CREATE TABLE IF NOT EXISTS versions (
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    submission TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (person_id, version)
);
CREATE TABLE IF NOT EXISTS submissions (
    reference TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    form TEXT NOT NULL,
    outcome TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_by_person ON submissions (person_id);
CREATE TABLE IF NOT EXISTS identities (
    identity TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS identities_by_person ON identities (person_id);
CREATE TABLE IF NOT EXISTS contacts (
    contact TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (contact, person_id)
);
CREATE INDEX IF NOT EXISTS contacts_by_person ON contacts (person_id);
CREATE TABLE IF NOT EXISTS former_contacts (
    contact TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    last_held_at INTEGER NOT NULL,
    PRIMARY KEY (contact, person_id)
);
CREATE INDEX IF NOT EXISTS former_contacts_by_person ON former_contacts (person_id);
CREATE TABLE IF NOT EXISTS rate_rings (
    client TEXT PRIMARY KEY,
    ring TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    volunteer_id TEXT,
    record TEXT NOT NULL,
    version INTEGER NOT NULL,
    opened_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_by_person ON cases (person_id);
CREATE INDEX IF NOT EXISTS cases_by_volunteer ON cases (volunteer_id);
CREATE TABLE IF NOT EXISTS active_cases (
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (person_id, kind)
);
CREATE TABLE IF NOT EXISTS loads (
    volunteer_id TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS volunteers (
    person_id TEXT PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    record TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_time ON actions (at);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    due_at INTEGER,
    record TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_person ON messages (person_id);
CREATE TABLE IF NOT EXISTS page_links (
    hash TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    record TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS page_links_by_person ON page_links (person_id);
CREATE TABLE IF NOT EXISTS suppressed (
    hash TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS store_keys (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_stops (
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (person_id, address)
);
CREATE TABLE IF NOT EXISTS counters (
    day TEXT NOT NULL,
    name TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, name)
);
";

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn decode(id: &str, json: &str, reported_version: i64) -> Result<Person, StoreError> {
    let mut person: Person =
        serde_json::from_str(json).map_err(|_| StoreError::Unreadable { key: id.to_owned() })?;
    if person.id != id {
        return Err(StoreError::Unreadable { key: id.to_owned() });
    }
    person.reported_version = reported_version.max(0) as u64;
    Ok(person)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(unavailable)
}

/// A constraint failed: someone else holds the key (or the reference).
fn conflict_or_unavailable(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict,
        _ => unavailable(e),
    }
}

impl SqliteStore {
    /// Opens (and creates or migrates if needed) the database file `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = open_connection(path)?;
        Ok(SqliteStore::holding(path, Some(conn)))
    }

    /// The store for a server that must keep serving when the database
    /// cannot be opened (a damaged or unreadable file, a full disk): tries
    /// to open `path` now and says how that went; while it fails, every
    /// operation answers [`StoreError::Unavailable`] (the handler's 503,
    /// input kept) and the file is tried again at most once a second, so the
    /// forms work again as soon as the file is fixed.
    pub fn open_when_ready(path: &Path) -> (SqliteStore, Result<(), StoreError>) {
        match open_connection(path) {
            Ok(conn) => (SqliteStore::holding(path, Some(conn)), Ok(())),
            Err(e) => (SqliteStore::holding(path, None), Err(e)),
        }
    }

    fn holding(path: &Path, conn: Option<Connection>) -> SqliteStore {
        let slot = Slot {
            conn,
            last_attempt: Instant::now(),
        };
        SqliteStore {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                slot: Mutex::new(slot),
            }),
        }
    }
}

/// Opens (and creates or migrates if needed) the database file `path`.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| unavailable(format!("creating {}: {e}", dir.display())))?;
    }
    create_private(path)?;
    let mut conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unavailable)?;
    conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .map_err(unavailable)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(unavailable)?;
    if version < SCHEMA_VERSION {
        let first_schema = version == 0
            && tx
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'people'",
                    [],
                    |_| Ok(()),
                )
                .optional()
                .map_err(unavailable)?
                .is_some();
        if first_schema {
            migrate_from_first_schema(&tx)?;
        } else {
            tx.execute_batch(SCHEMA).map_err(unavailable)?;
        }
        if (version > 0 && version < 3) || first_schema {
            open_cases_for_earlier_requests(&tx)?;
        }
        if version > 0 || first_schema {
            rekey_identities(&tx, jiff::Timestamp::now().as_second())?;
            list_former_contacts(&tx)?;
        }
        // Schema 5: the rate limit slides (`rate_rings`); the fixed windows go.
        tx.execute_batch("DROP TABLE IF EXISTS hits;")
            .map_err(unavailable)?;
        if version < 6 {
            count_active_cases_and_loads(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(unavailable)?;
    } else if version > SCHEMA_VERSION {
        return Err(unavailable(format!(
            "{} was written by a newer mutualaid (schema {version}); use that version",
            path.display()
        )));
    }
    tx.commit().map_err(unavailable)?;
    Ok(conn)
}

/// Creates the database file, empty and readable by this user only (0600),
/// if it is not there: SQLite gives its write-ahead log and shared-memory
/// files the database file's mode, so no file of the store is readable by
/// others whatever the umask.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        create.mode(0o600);
    }
    match create.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(unavailable(format!("creating {}: {e}", path.display()))),
    }
}

/// Schema 6: the one active case of each kind and each volunteer's load
/// are kept as rows the plans write ([`Write::ClaimActive`],
/// [`Write::Load`]), counted once here from the cases (before, a unique
/// partial index held the first, and the second was counted on each read).
fn count_active_cases_and_loads(tx: &rusqlite::Transaction) -> Result<(), StoreError> {
    // The states are written by one mapping (`CaseState::name`), never as
    // literals: the indexes that held them go.
    tx.execute_batch(
        "DROP INDEX IF EXISTS cases_one_active_per_kind;
         DROP INDEX IF EXISTS cases_active;
         DROP INDEX IF EXISTS cases_by_volunteer;
         CREATE INDEX cases_by_volunteer ON cases (volunteer_id);",
    )
    .map_err(unavailable)?;
    tx.execute(
        "INSERT OR IGNORE INTO active_cases (person_id, kind, case_id) SELECT person_id, kind, id FROM cases WHERE state != ?1 ORDER BY opened_at",
        [CaseState::Closed.name()],
    )
    .map_err(unavailable)?;
    tx.execute(
        "INSERT OR REPLACE INTO loads (volunteer_id, n) SELECT volunteer_id, COUNT(*) FROM cases WHERE state IN (?1, ?2) AND volunteer_id IS NOT NULL GROUP BY volunteer_id",
        [CaseState::Matched.name(), CaseState::Offered.name()],
    )
    .map_err(unavailable)?;
    Ok(())
}

impl SqliteStore {
    /// Runs `f` in an immediate transaction on a blocking thread.
    async fn with_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            shared.with_conn(|conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let value = f(&tx)?;
                tx.commit().map_err(unavailable)?;
                Ok(value)
            })
        })
        .await
        .map_err(unavailable)?
    }

    /// Writes a consistent copy of the whole store to `to` (a new file,
    /// readable by this user only), while others keep reading and writing:
    /// `VACUUM INTO` reads one snapshot, so every write committed before it
    /// began is in the copy. Returns the records and submissions it holds.
    pub async fn backup_to(&self, to: &Path) -> Result<(u64, u64), StoreError> {
        let to = to.to_owned();
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            if to.exists() {
                return Err(unavailable(format!(
                    "{} exists already; choose a new file",
                    to.display()
                )));
            }
            let target = to
                .to_str()
                .ok_or_else(|| unavailable("the backup's path is not UTF-8"))?
                .to_owned();
            // The file exists, empty and readable by this user only, before any personal data is in it.
            let mut create = std::fs::OpenOptions::new();
            create.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                create.mode(0o600);
            }
            create.open(&to).map_err(unavailable)?;
            let copied = shared.with_conn(|conn| {
                conn.execute("VACUUM INTO ?1", [&target])
                    .map_err(unavailable)
            });
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&to);
                return Err(e);
            }
            // The copy opens, is whole, and says what it holds.
            let copy = Connection::open_with_flags(&to, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(unavailable)?;
            let check: String = copy
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .map_err(unavailable)?;
            if check != "ok" {
                return Err(unavailable(format!(
                    "the backup failed its integrity check: {check}"
                )));
            }
            let count = |table: &str| -> Result<u64, StoreError> {
                copy.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(unavailable)
            };
            Ok((count("people")?, count("submissions")?))
        })
        .await
        .map_err(unavailable)?
    }

    /// Moves everything in the write-ahead log into the database file and
    /// empties the log, so that deleted content (zeroed in the database by
    /// `secure_delete`) is left in no file. Returns whether the log could be
    /// emptied (not while another connection is reading).
    pub async fn checkpoint(&self) -> Result<bool, StoreError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            shared.with_conn(|conn| {
                let busy: i64 = conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
                    .map_err(unavailable)?;
                Ok(busy == 0)
            })
        })
        .await
        .map_err(unavailable)?
    }

    /// Deletes records past their retention, with everything they keep;
    /// returns how many records. A record is kept while it has a case that
    /// is not closed (a request stays open until an organizer closes it,
    /// however long it waits) or while it shops for someone (a match under
    /// way), and for `retention_days` after the latest of its last
    /// submission (its `expires_at`) and its last case change.
    pub async fn purge_expired(
        &self,
        now: Timestamp,
        retention_days: u32,
    ) -> Result<usize, StoreError> {
        let span = i64::from(retention_days) * 86_400;
        self.with_tx(move |tx| {
            tx.execute("DELETE FROM rate_rings WHERE expires_at <= ?1", [now])
                .map_err(unavailable)?;
            tx.execute("DELETE FROM actions WHERE expires_at <= ?1", [now])
                .map_err(unavailable)?;
            tx.execute("DELETE FROM suppressed WHERE expires_at <= ?1", [now])
                .map_err(unavailable)?;
            // A sent message keeps ids only, for a few days; a waiting one
            // lives as long as its record.
            tx.execute(
                "DELETE FROM messages WHERE expires_at <= ?1 AND due_at IS NULL",
                [now],
            )
            .map_err(unavailable)?;
            tx.execute(
                "DELETE FROM people WHERE expires_at <= ?1 AND NOT EXISTS (
                     SELECT 1 FROM cases c WHERE c.person_id = people.id
                     AND (c.state != ?3 OR json_extract(c.record, '$.changed_at') > ?1 - ?2))
                 AND NOT EXISTS (
                     SELECT 1 FROM cases v WHERE v.volunteer_id = people.id AND v.state IN (?4, ?5))",
                params![
                    now,
                    span,
                    CaseState::Closed.name(),
                    CaseState::Matched.name(),
                    CaseState::Offered.name()
                ],
            )
            .map_err(unavailable)
        })
        .await
    }

    async fn scan(&self, only_pending: bool) -> Result<Scan, StoreError> {
        self.with_tx(move |tx| {
            let sql = if only_pending {
                "SELECT id, record, reported_version FROM people WHERE pending IS NOT NULL ORDER BY updated_at, id"
            } else {
                "SELECT id, record, reported_version FROM people ORDER BY updated_at, id"
            };
            let mut stmt = tx.prepare(sql).map_err(unavailable)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, rusqlite::types::Value>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut scan = Scan::default();
            for row in rows {
                let (id, record, reported) = row.map_err(unavailable)?;
                let decoded = match &record {
                    rusqlite::types::Value::Text(json) => decode(&id, json, reported),
                    _ => Err(StoreError::Unreadable { key: id.clone() }),
                };
                match decoded {
                    Ok(person) => scan.people.push(person),
                    Err(_) => scan.unreadable.push(id),
                }
            }
            Ok(scan)
        })
        .await
    }
}

fn insert_person(tx: &rusqlite::Transaction, person: &Person) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO people (id, record, version, reported_version, pending, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            person.id,
            encode(person)?,
            person.version as i64,
            person.reported_version as i64,
            person.is_pending().then_some(1),
            person.updated_at,
            person.expires_at
        ],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(())
}

fn insert_version(tx: &rusqlite::Transaction, person: &Person) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO versions (person_id, version, submission, at) VALUES (?1, ?2, ?3, ?4)",
        params![
            person.id,
            person.version as i64,
            encode(&person.submission)?,
            person.updated_at
        ],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(())
}

fn insert_log(tx: &rusqlite::Transaction, entry: &LogEntry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO submissions (reference, person_id, at, form, outcome, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            entry.reference,
            entry.person_id,
            entry.at,
            entry.form.key(),
            entry.outcome.name(),
            entry.version as i64
        ],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(())
}

fn insert_case(tx: &rusqlite::Transaction, case: &Case) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO cases (id, person_id, kind, state, volunteer_id, record, version, opened_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            case.id,
            case.person_id,
            case.kind.name(),
            case.state.name(),
            case.volunteer_id,
            encode(case)?,
            case.version as i64,
            case.opened_at
        ],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(())
}

fn insert_action(tx: &rusqlite::Transaction, action: &CaseAction) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO actions (id, at, record, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![action.id, action.at, encode(action)?, action.expires_at],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(())
}

/// The version of record `id`'s standing (0: none, or a row that does not
/// read, which a write replaces).
fn standing_version(tx: &rusqlite::Transaction, id: &str) -> Result<u64, StoreError> {
    let version: Option<Option<i64>> = tx
        .query_row(
            "SELECT CASE WHEN json_valid(record) THEN json_extract(record, '$.version') END FROM volunteers WHERE person_id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    Ok(version.flatten().unwrap_or(0).max(0) as u64)
}

fn upsert_standing(tx: &rusqlite::Transaction, standing: &Standing) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO volunteers (person_id, record) VALUES (?1, ?2) ON CONFLICT (person_id) DO UPDATE SET record = excluded.record",
        params![standing.person_id, encode(standing)?],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(())
}

/// Makes every write of `plan`, or fails (the caller's transaction rolls
/// back): [`StoreError::Conflict`] when a write's condition does not hold.
fn carry_out(tx: &rusqlite::Transaction, plan: &Plan) -> Result<(), StoreError> {
    for write in &plan.writes {
        apply(tx, write)?;
    }
    Ok(())
}

/// One write: a statement, and its condition checked by the rows it
/// changed (or a read just before it, in the same transaction).
fn apply(tx: &rusqlite::Transaction, write: &Write) -> Result<(), StoreError> {
    let exactly_one = |changed: usize| {
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    };
    let run = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
        tx.execute(sql, params).map_err(conflict_or_unavailable)
    };
    match write {
        Write::Record {
            person,
            expected: 0,
        } => insert_person(tx, person),
        Write::Record { person, expected } => exactly_one(run(
            "UPDATE people SET record = ?2, version = ?3, pending = 1, updated_at = ?4, expires_at = ?5 WHERE id = ?1 AND version = ?6",
            params![
                person.id,
                encode(person)?,
                person.version as i64,
                person.updated_at,
                person.expires_at,
                *expected as i64
            ],
        )?),
        Write::ClaimIdentity { key, person_id, .. } => exactly_one(run(
            "INSERT INTO identities (identity, person_id) VALUES (?1, ?2) ON CONFLICT (identity) DO UPDATE SET person_id = excluded.person_id WHERE person_id = excluded.person_id",
            params![key, person_id],
        )?),
        Write::ListContact {
            contact, person_id, ..
        } => run(
            "INSERT OR IGNORE INTO contacts (contact, person_id) VALUES (?1, ?2)",
            params![contact, person_id],
        )
        .map(drop),
        Write::ListFormerContact {
            former, person_id, ..
        } => run(
            "INSERT OR REPLACE INTO former_contacts (contact, person_id, last_held_at) VALUES (?1, ?2, ?3)",
            params![former.contact, person_id, former.until],
        )
        .map(drop),
        Write::Version { person } => run(
            "INSERT OR REPLACE INTO versions (person_id, version, submission, at) VALUES (?1, ?2, ?3, ?4)",
            params![
                person.id,
                person.version as i64,
                encode(&person.submission)?,
                person.updated_at
            ],
        )
        .map(drop),
        Write::LogEntry { entry, .. } => insert_log(tx, entry),
        Write::Case { case, expected: 0 } => insert_case(tx, case),
        Write::Case { case, expected } => exactly_one(run(
            "UPDATE cases SET state = ?2, volunteer_id = ?3, record = ?4, version = ?5, opened_at = ?7 WHERE id = ?1 AND version = ?6",
            params![
                case.id,
                case.state.name(),
                case.volunteer_id,
                encode(case)?,
                case.version as i64,
                *expected as i64,
                case.opened_at
            ],
        )?),
        Write::DropCase {
            case_id, expected, ..
        } => match expected {
            Some(version) => exactly_one(run(
                "DELETE FROM cases WHERE id = ?1 AND version = ?2",
                params![case_id, *version as i64],
            )?),
            None => run("DELETE FROM cases WHERE id = ?1", params![case_id]).map(drop),
        },
        Write::ClaimActive {
            person_id,
            kind,
            case_id,
            ..
        } => run(
            "INSERT INTO active_cases (person_id, kind, case_id) VALUES (?1, ?2, ?3)",
            params![person_id, kind.name(), case_id],
        )
        .map(drop),
        Write::ReleaseActive {
            person_id,
            kind,
            case_id,
        } => exactly_one(run(
            "DELETE FROM active_cases WHERE person_id = ?1 AND kind = ?2 AND case_id = ?3",
            params![person_id, kind.name(), case_id],
        )?),
        Write::Load {
            volunteer_id,
            by,
            cap,
            ..
        } => {
            run(
                "INSERT INTO loads (volunteer_id, n) VALUES (?1, ?2) ON CONFLICT (volunteer_id) DO UPDATE SET n = n + excluded.n",
                params![volunteer_id, by],
            )?;
            match cap {
                Some(cap) if read_load(tx, volunteer_id)? > *cap as i64 => {
                    Err(StoreError::Conflict)
                }
                _ => Ok(()),
            }
        }
        Write::Standing {
            standing,
            merging_into,
        } => {
            if standing_version(tx, &standing.person_id)? != standing.expected_version() {
                return Err(StoreError::Conflict);
            }
            if let Some(into) = merging_into
                && merged_into(tx, &standing.person_id)?.is_some_and(|other| other != *into)
            {
                return Err(StoreError::Conflict);
            }
            upsert_standing(tx, standing)
        }
        Write::StandingAt {
            person_id,
            version,
            unmerged,
        } => {
            if standing_version(tx, person_id)? != *version
                || (*unmerged && merged_into(tx, person_id)?.is_some())
            {
                return Err(StoreError::Conflict);
            }
            Ok(())
        }
        Write::RecordThere { person_id } => {
            let there = tx
                .query_row(
                    "SELECT 1 FROM people WHERE id = ?1",
                    [person_id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(unavailable)?
                .is_some();
            if there {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        }
        Write::Action(action) => insert_action(tx, action),
        Write::ReleaseIdentity { key, person_id } => {
            run(
                "DELETE FROM identities WHERE identity = ?1 AND person_id = ?2",
                params![key, person_id],
            )?;
            let held_by_another = tx
                .query_row("SELECT 1 FROM identities WHERE identity = ?1", [key], |_| Ok(()))
                .optional()
                .map_err(unavailable)?
                .is_some();
            if held_by_another { Err(StoreError::Conflict) } else { Ok(()) }
        }
        Write::DropContact { contact, person_id } => run(
            "DELETE FROM contacts WHERE contact = ?1 AND person_id = ?2",
            params![contact, person_id],
        )
        .map(drop),
        Write::DropFormerContact { contact, person_id } => run(
            "DELETE FROM former_contacts WHERE contact = ?1 AND person_id = ?2",
            params![contact, person_id],
        )
        .map(drop),
        Write::DropVersion { person_id, version } => run(
            "DELETE FROM versions WHERE person_id = ?1 AND version = ?2",
            params![person_id, *version as i64],
        )
        .map(drop),
        Write::DropLogEntry {
            person_id,
            reference,
        } => run(
            "DELETE FROM submissions WHERE reference = ?1 AND person_id = ?2",
            params![reference, person_id],
        )
        .map(drop),
        Write::DropStanding { person_id } => run(
            "DELETE FROM volunteers WHERE person_id = ?1",
            params![person_id],
        )
        .map(drop),
        Write::DropLoad { person_id } => run(
            "DELETE FROM loads WHERE volunteer_id = ?1",
            params![person_id],
        )
        .map(drop),
        Write::DropRecord { person_id } => {
            run("DELETE FROM people WHERE id = ?1", params![person_id]).map(drop)
        }
        Write::Message {
            message,
            expected: 0,
        } => run(
            "INSERT INTO messages (id, person_id, due_at, record, version, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                message.id,
                message.person_id,
                message.due_at(),
                encode(message)?,
                message.version as i64,
                message.expires_at
            ],
        )
        .map(drop),
        Write::Message { message, expected } => exactly_one(run(
            "UPDATE messages SET due_at = ?2, record = ?3, version = ?4, expires_at = ?5 WHERE id = ?1 AND version = ?6",
            params![
                message.id,
                message.due_at(),
                encode(message)?,
                message.version as i64,
                message.expires_at,
                *expected as i64
            ],
        )?),
        Write::PageLink { link, expected: 0 } => run(
            "INSERT INTO page_links (hash, person_id, record, version) VALUES (?1, ?2, ?3, ?4)",
            params![
                link.hash,
                link.person_id,
                encode(link)?,
                link.version as i64
            ],
        )
        .map(drop),
        Write::PageLink { link, expected } => exactly_one(run(
            "UPDATE page_links SET record = ?2, version = ?3 WHERE hash = ?1 AND version = ?4",
            params![
                link.hash,
                encode(link)?,
                link.version as i64,
                *expected as i64
            ],
        )?),
        Write::MailStop { stop } => run(
            "INSERT OR REPLACE INTO mail_stops (person_id, address, record) VALUES (?1, ?2, ?3)",
            params![stop.person_id, stop.address, encode(stop)?],
        )
        .map(drop),
        Write::Suppress {
            hash,
            at,
            expires_at,
        } => run(
            "INSERT OR REPLACE INTO suppressed (hash, at, expires_at) VALUES (?1, ?2, ?3)",
            params![hash, at, expires_at],
        )
        .map(drop),
        Write::Unsuppress { hash } => {
            run("DELETE FROM suppressed WHERE hash = ?1", params![hash]).map(drop)
        }
        Write::DropMailStop { person_id, address } => run(
            "DELETE FROM mail_stops WHERE person_id = ?1 AND address = ?2",
            params![person_id, address],
        )
        .map(drop),
        Write::DropPageLink { person_id, hash } => run(
            "DELETE FROM page_links WHERE hash = ?1 AND person_id = ?2",
            params![hash, person_id],
        )
        .map(drop),
        Write::DropMessage { person_id, id } => run(
            "DELETE FROM messages WHERE id = ?1 AND person_id = ?2",
            params![id, person_id],
        )
        .map(drop),
        Write::ReceiptTally {
            key,
            tally,
            expires_at,
        } => exactly_one(run(
            "INSERT INTO rate_rings (client, ring, version, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (client) DO UPDATE SET ring = ?2, version = ?3, expires_at = ?4
             WHERE version = ?3 - 1",
            params![
                key,
                encode(&tally.times)?,
                tally.version as i64,
                expires_at
            ],
        )?),
    }
}

/// A volunteer's load as kept (0: no row).
fn read_load(tx: &rusqlite::Transaction, volunteer: &str) -> Result<i64, StoreError> {
    Ok(tx
        .query_row(
            "SELECT n FROM loads WHERE volunteer_id = ?1",
            [volunteer],
            |row| row.get::<_, i64>(0),
        )
        .optional()
        .map_err(unavailable)?
        .unwrap_or(0))
}

/// The record that record `id` is merged into, if any.
fn merged_into(tx: &rusqlite::Transaction, id: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT record FROM volunteers WHERE person_id = ?1",
            [id],
            |row| row.get::<_, String>(0),
        )
        .optional()
        .map_err(unavailable)?
        .and_then(|json| serde_json::from_str::<Standing>(&json).ok())
        .and_then(|s| s.merged_into))
}

/// The keys of one column that a query over `person_id` lists.
fn keys_of<T: rusqlite::types::FromSql>(
    tx: &rusqlite::Transaction,
    sql: &str,
    id: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = tx.prepare(sql).map_err(unavailable)?;
    let rows = stmt
        .query_map([id], |row| row.get::<_, T>(0))
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    Ok(rows)
}

fn decode_case(id: &str, json: &str) -> Result<Case, StoreError> {
    serde_json::from_str::<Case>(json)
        .ok()
        .filter(|c| c.id == id)
        .ok_or_else(|| StoreError::Unreadable { key: id.to_owned() })
}

/// Cases a query lists as (id, record).
fn cases_where(
    tx: &rusqlite::Transaction,
    sql: &str,
    param: Option<&str>,
) -> Result<CaseScan, StoreError> {
    let mut stmt = tx.prepare(sql).map_err(unavailable)?;
    let map = |row: &rusqlite::Row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1).ok()));
    let rows: Vec<(String, Option<String>)> = match param {
        Some(p) => stmt.query_map([p], map),
        None => stmt.query_map([], map),
    }
    .map_err(unavailable)?
    .collect::<Result<_, _>>()
    .map_err(unavailable)?;
    let mut scan = CaseScan::default();
    for (id, json) in rows {
        match decode_case(&id, json.as_deref().unwrap_or("")) {
            Ok(case) => scan.cases.push(case),
            Err(_) => scan.unreadable.push(id),
        }
    }
    Ok(scan)
}

/// The JSON records a query lists, each decoded; one that does not decode
/// is passed over (a standing or an action is never a person's request).
fn json_records<T: serde::de::DeserializeOwned>(
    tx: &rusqlite::Transaction,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = tx.prepare(sql).map_err(unavailable)?;
    let rows: Vec<String> = stmt
        .query_map(params, |row| row.get(0))
        .map_err(unavailable)?
        .collect::<Result<_, _>>()
        .map_err(unavailable)?;
    Ok(rows
        .iter()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect())
}

/// Lists `person` under each of its former contacts (and under no other).
fn list_former_contacts_of(tx: &rusqlite::Transaction, person: &Person) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM former_contacts WHERE person_id = ?1",
        [&person.id],
    )
    .map_err(unavailable)?;
    for former in &person.former_contacts {
        tx.execute(
            "INSERT OR REPLACE INTO former_contacts (contact, person_id, last_held_at) VALUES (?1, ?2, ?3)",
            params![former.contact, person.id, former.until],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

/// Schemas 1 to 3 kept no record of former contacts: each record's are
/// read from the versions it keeps, written into it and listed.
fn list_former_contacts(tx: &rusqlite::Transaction) -> Result<(), StoreError> {
    for mut person in readable_records(tx)? {
        let id = person.id.clone();
        let versions: Vec<(Submission, Timestamp)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT submission, at FROM versions WHERE person_id = ?1 ORDER BY version",
                )
                .map_err(unavailable)?;
            let rows: Vec<(String, Timestamp)> = stmt
                .query_map([&id], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(unavailable)?
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            rows.into_iter()
                .filter_map(|(json, at)| Some((serde_json::from_str(&json).ok()?, at)))
                .collect()
        };
        person.former_contacts = super::former_contacts(&versions);
        if person.former_contacts.is_empty() {
            continue;
        }
        tx.execute(
            "UPDATE people SET record = ?2 WHERE id = ?1",
            params![id, encode(&person)?],
        )
        .map_err(unavailable)?;
        list_former_contacts_of(tx, &person)?;
    }
    Ok(())
}

/// The tables that list a record under a key.
#[derive(Clone, Copy)]
enum KeyTable {
    /// One record a key: a key another record holds is a conflict.
    Identities,
    /// Every record that gave this phone or email.
    Contacts,
}

/// Lists `id` under each of `keys` in `table`.
fn list_under<'k>(
    tx: &rusqlite::Transaction,
    table: KeyTable,
    id: &str,
    keys: impl IntoIterator<Item = &'k String>,
) -> Result<(), StoreError> {
    let sql = match table {
        KeyTable::Identities => "INSERT INTO identities (identity, person_id) VALUES (?1, ?2)",
        KeyTable::Contacts => "INSERT OR IGNORE INTO contacts (contact, person_id) VALUES (?1, ?2)",
    };
    for key in keys {
        let inserted = tx.execute(sql, params![key, id]);
        match table {
            KeyTable::Identities => inserted.map_err(conflict_or_unavailable)?,
            KeyTable::Contacts => inserted.map_err(unavailable)?,
        };
    }
    Ok(())
}

/// Every record that decodes, for a migration (one that does not stays as
/// it is: listed as unreadable, never dropped).
fn readable_records(tx: &rusqlite::Transaction) -> Result<Vec<Person>, StoreError> {
    let rows: Vec<(String, String, i64)> = {
        let mut stmt = tx
            .prepare("SELECT id, record, reported_version FROM people")
            .map_err(unavailable)?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(unavailable)?
            .collect::<Result<_, _>>()
            .map_err(unavailable)?
    };
    Ok(rows
        .into_iter()
        .filter_map(|(id, json, reported)| decode(&id, &json, reported).ok())
        .collect())
}

/// Before cases (schemas 1 and 2), a request lived only in its record: each
/// record that asks for delivery or money gets an open case of that kind,
/// opened when the record was created, so no earlier request is forgotten.
fn open_cases_for_earlier_requests(tx: &rusqlite::Transaction) -> Result<(), StoreError> {
    for person in readable_records(tx)? {
        let id = person.id.clone();
        for kind in CaseKind::ALL {
            if person.submission.asks_for(kind) {
                let case = Case::open(&id, kind, person.created_at, None, person.expires_at);
                insert_case(tx, &case)?;
            }
        }
    }
    Ok(())
}

/// Schemas 1 to 3 keyed identities by the name with its accents removed
/// ([`Submission::legacy_identity_keys`]); from schema 4 by the name as
/// written. Each record's legacy keys become today's, in the transaction
/// that opens the store, so no lookup ever needs the legacy keys here. A
/// record that does not decode keeps its keys (it is listed as unreadable).
fn rekey_identities(tx: &rusqlite::Transaction, now: Timestamp) -> Result<(), StoreError> {
    for mut person in readable_records(tx)? {
        let id = person.id.clone();
        let Some(keys) = person.submission.rekeyed(&person.identities) else {
            continue;
        };
        tx.execute("DELETE FROM identities WHERE person_id = ?1", [&id])
            .map_err(unavailable)?;
        // A key is one name and one contact, so no other record can hold it.
        let mut insert = tx
            .prepare("INSERT OR IGNORE INTO identities (identity, person_id) VALUES (?1, ?2)")
            .map_err(unavailable)?;
        let mut held = Vec::with_capacity(keys.len());
        for key in keys {
            if insert.execute(params![key, id]).map_err(unavailable)? == 1 {
                held.push(key);
            }
        }
        person.identities = held;
        tx.execute(
            "UPDATE people SET record = ?2 WHERE id = ?1",
            params![id, encode(&person)?],
        )
        .map_err(unavailable)?;
        let kept: Vec<Submission> = json_records(
            tx,
            "SELECT submission FROM versions WHERE person_id = ?1 ORDER BY version",
            [&id],
        )?;
        if super::names_as_written(&kept).len() > 1 {
            insert_action(tx, &CaseAction::sent_under_two_names(&person, now))?;
        }
    }
    Ok(())
}

/// The first schema kept one record per contact (`contacts.contact` unique),
/// each record's changes inside it, and a time watermark for the digest.
/// Its records decode as [`Person`]; they become version 1 of themselves,
/// reported if the watermark had passed their last change, and they hold the
/// identity keys of their contacts (unique then, so free now).
fn migrate_from_first_schema(tx: &rusqlite::Transaction) -> Result<(), StoreError> {
    let watermark: Option<Timestamp> = tx
        .query_row("SELECT state FROM digest_state WHERE id = 1", [], |row| {
            row.get::<_, String>(0)
        })
        .optional()
        .map_err(unavailable)?
        .and_then(|json| serde_json::from_str::<DigestState>(&json).ok())
        .and_then(|state| state.last_sent);
    tx.execute_batch(
        "DROP TABLE contacts;
         ALTER TABLE people ADD COLUMN reported_version INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE people ADD COLUMN pending INTEGER;",
    )
    .map_err(unavailable)?;
    tx.execute_batch(SCHEMA).map_err(unavailable)?;
    let rows: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare("SELECT id, record FROM people")
            .map_err(unavailable)?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(unavailable)?
            .collect::<Result<_, _>>()
            .map_err(unavailable)?
    };
    for (id, json) in rows {
        // A record that does not decode stays as it is: listed as unreadable, never dropped.
        let Ok(mut person) = decode(&id, &json, 0) else {
            continue;
        };
        person.identities = person.submission.identity_keys();
        let reported = watermark.is_some_and(|w| person.updated_at < w);
        person.reported_version = if reported { person.version } else { 0 };
        tx.execute(
            "UPDATE people SET record = ?2, reported_version = ?3, pending = ?4 WHERE id = ?1",
            params![
                id,
                encode(&person)?,
                person.reported_version as i64,
                person.is_pending().then_some(1)
            ],
        )
        .map_err(unavailable)?;
        insert_version(tx, &person)?;
        list_under(tx, KeyTable::Identities, &id, &person.identities).or_else(|e| match e {
            StoreError::Conflict => Ok(()),
            e => Err(e),
        })?;
        list_under(
            tx,
            KeyTable::Contacts,
            &id,
            &person.submission.contact_keys(),
        )?;
    }
    Ok(())
}

impl Records for SqliteStore {
    async fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        let id = id.to_owned();
        self.with_tx(move |tx| {
            let row: Option<(Option<String>, i64)> = tx
                .query_row(
                    "SELECT record, reported_version FROM people WHERE id = ?1",
                    [&id],
                    |row| Ok((row.get(0).ok(), row.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            row.map(|(record, reported)| decode(&id, record.as_deref().unwrap_or(""), reported))
                .transpose()
        })
        .await
    }

    async fn cases_of(&self, person_id: &str) -> Result<Vec<Case>, StoreError> {
        let person_id = person_id.to_owned();
        self.with_tx(move |tx| {
            let scan = cases_where(
                tx,
                "SELECT id, record FROM cases WHERE person_id = ?1 ORDER BY opened_at, id",
                Some(&person_id),
            )?;
            match scan.unreadable.first() {
                Some(key) => Err(StoreError::Unreadable { key: key.clone() }),
                None => Ok(scan.cases),
            }
        })
        .await
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let id = id.to_owned();
        self.with_tx(move |tx| {
            let scan = cases_where(tx, "SELECT id, record FROM cases WHERE id = ?1", Some(&id))?;
            match scan.unreadable.first() {
                Some(key) => Err(StoreError::Unreadable { key: key.clone() }),
                None => Ok(scan.cases.into_iter().next()),
            }
        })
        .await
    }

    async fn active_cases(&self) -> Result<CaseScan, StoreError> {
        self.with_tx(|tx| {
            cases_where(
                tx,
                "SELECT c.id, c.record FROM active_cases a JOIN cases c ON c.id = a.case_id ORDER BY c.opened_at, c.id",
                None,
            )
        })
        .await
    }

    async fn standings(&self) -> Result<Vec<Standing>, StoreError> {
        self.with_tx(|tx| json_records(tx, "SELECT record FROM volunteers ORDER BY person_id", []))
            .await
    }

    async fn standing(&self, person_id: &str) -> Result<Option<Standing>, StoreError> {
        let id = person_id.to_owned();
        self.with_tx(move |tx| {
            let found: Vec<Standing> = json_records(
                tx,
                "SELECT record FROM volunteers WHERE person_id = ?1",
                [&id],
            )?;
            Ok(found.into_iter().next())
        })
        .await
    }

    async fn actions_since(&self, since: Timestamp) -> Result<Vec<CaseAction>, StoreError> {
        self.with_tx(move |tx| {
            json_records(
                tx,
                "SELECT record FROM actions WHERE at >= ?1 ORDER BY at, id",
                [since],
            )
        })
        .await
    }

    async fn everyone(&self) -> Result<Scan, StoreError> {
        self.scan(false).await
    }

    async fn sharing(&self, contacts: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let contacts = contacts.to_vec();
        self.with_tx(move |tx| {
            let mut out = Vec::new();
            let mut stmt = tx
                .prepare("SELECT person_id FROM contacts WHERE contact = ?1 ORDER BY person_id")
                .map_err(unavailable)?;
            for contact in contacts {
                let ids = stmt
                    .query_map([&contact], |row| row.get::<_, String>(0))
                    .map_err(unavailable)?;
                for id in ids {
                    out.push((contact.clone(), id.map_err(unavailable)?));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn carry_out(&self, plan: &Plan) -> Result<(), StoreError> {
        let plan = plan.clone();
        let erases = plan
            .writes
            .iter()
            .any(|w| matches!(w, Write::DropRecord { .. }));
        self.with_tx(move |tx| carry_out(tx, &plan)).await?;
        if erases {
            // Nothing deleted stays in the write-ahead log.
            self.checkpoint().await?;
        }
        Ok(())
    }

    async fn address_key(&self) -> Result<AddressKey, StoreError> {
        self.with_tx(|tx| {
            let kept: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM store_keys WHERE name = 'address'",
                    [],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if let Some(key) = kept {
                return Ok(AddressKey(key));
            }
            let key = AddressKey::generate();
            tx.execute(
                "INSERT INTO store_keys (name, value) VALUES ('address', ?1)",
                [&key.0],
            )
            .map_err(unavailable)?;
            Ok(key)
        })
        .await
    }

    async fn suppressed(&self, hash: &str) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.with_tx(move |tx| {
            Ok(tx
                .query_row("SELECT 1 FROM suppressed WHERE hash = ?1", [hash], |_| {
                    Ok(())
                })
                .optional()
                .map_err(unavailable)?
                .is_some())
        })
        .await
    }

    async fn count_by(&self, day: &str, counter: Counter, n: u64) -> Result<(), StoreError> {
        let day = day.to_owned();
        self.with_tx(move |tx| {
            tx.execute(
                "INSERT INTO counters (day, name, n) VALUES (?1, ?2, ?3) ON CONFLICT (day, name) DO UPDATE SET n = n + excluded.n",
                params![day, counter.name(), n as i64],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }
}

impl IntakeStore for SqliteStore {
    async fn holders(&self, identities: &[String]) -> Result<Vec<(String, Person)>, StoreError> {
        let identities = identities.to_vec();
        self.with_tx(move |tx| {
            let mut out = Vec::new();
            for key in identities {
                let row: Option<(String, Option<String>, i64)> = tx
                    .query_row(
                        "SELECT p.id, p.record, p.reported_version FROM identities i JOIN people p ON p.id = i.person_id WHERE i.identity = ?1",
                        [&key],
                        |row| Ok((row.get(0)?, row.get(1).ok(), row.get(2)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if let Some((id, record, reported)) = row {
                    let person = decode(&id, record.as_deref().unwrap_or(""), reported)?;
                    out.push((key, person));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn may_hold_legacy_identities(&self) -> Result<bool, StoreError> {
        // Re-keyed when opened (`rekey_identities`).
        Ok(false)
    }

    async fn admit_places(
        &self,
        client: &str,
        now: Timestamp,
        limit: u64,
        window: i64,
        places: u64,
    ) -> Result<Admission, StoreError> {
        let client = client.to_owned();
        self.with_tx(move |tx| {
            // Read, decided and written in one transaction: no other request
            // of the client comes between.
            let admission = read_rate_ring(tx, &client)?.admit_places(now, limit, window, places);
            if let Admission::Admitted(ring) = &admission {
                let times = serde_json::to_string(&ring.times).map_err(unavailable)?;
                tx.execute(
                    "INSERT INTO rate_rings (client, ring, version, expires_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (client) DO UPDATE SET ring = ?2, version = ?3, expires_at = ?4
                     WHERE version = ?3 - 1",
                    params![client, times, ring.version as i64, ring.forget_at(window)],
                )
                .map_err(unavailable)?;
            }
            Ok(admission)
        })
        .await
    }

    async fn rate_ring(&self, client: &str) -> Result<RateRing, StoreError> {
        let client = client.to_owned();
        self.with_tx(move |tx| read_rate_ring(tx, &client)).await
    }

    async fn page_link(&self, hash: &str) -> Result<Option<PageLink>, StoreError> {
        let hash = hash.to_owned();
        self.with_tx(move |tx| {
            Ok(json_records(tx, "SELECT record FROM page_links WHERE hash = ?1", [hash])?.pop())
        })
        .await
    }
}

impl CaseDesk for SqliteStore {
    async fn loads(&self, volunteers: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let volunteers = volunteers.to_vec();
        self.with_tx(move |tx| {
            let mut stmt = tx
                .prepare("SELECT volunteer_id, n FROM loads")
                .map_err(unavailable)?;
            let kept: std::collections::HashMap<String, i64> = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(unavailable)?
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            Ok(volunteers
                .into_iter()
                .map(|v| {
                    let n = kept.get(&v).copied().unwrap_or(0).max(0) as u64;
                    (v, n)
                })
                .collect())
        })
        .await
    }
}

impl DigestStore for SqliteStore {
    async fn version(&self, id: &str, version: u64) -> Result<Option<Submission>, StoreError> {
        let id = id.to_owned();
        self.with_tx(move |tx| {
            let json: Option<String> = tx
                .query_row(
                    "SELECT submission FROM versions WHERE person_id = ?1 AND version = ?2",
                    params![id, version as i64],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            json.map(|json| {
                serde_json::from_str(&json).map_err(|_| StoreError::Unreadable { key: id.clone() })
            })
            .transpose()
        })
        .await
    }

    async fn pending(&self) -> Result<Scan, StoreError> {
        self.scan(true).await
    }

    async fn mark_reported(&self, reported: &[ManifestEntry]) -> Result<(), StoreError> {
        let reported = reported.to_vec();
        self.with_tx(move |tx| {
            let mut stmt = tx
                .prepare("UPDATE people SET reported_version = ?2, pending = CASE WHEN version <= ?2 THEN NULL ELSE 1 END WHERE id = ?1 AND reported_version < ?2")
                .map_err(unavailable)?;
            for entry in &reported {
                stmt.execute(params![entry.id, entry.version as i64])
                    .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn digest_state(&self) -> Result<DigestState, StoreError> {
        let row: Option<(String, i64)> = self
            .with_tx(|tx| {
                tx.query_row(
                    "SELECT state, version FROM digest_state WHERE id = 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        match row {
            None => Ok(DigestState::default()),
            Some((json, version)) => {
                let mut state: DigestState = serde_json::from_str(&json).map_err(unavailable)?;
                state.version = version as u64;
                Ok(state)
            }
        }
    }

    async fn put_digest_state(
        &self,
        state: &DigestState,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(state).map_err(unavailable)?;
        let version = state.version as i64;
        self.with_tx(move |tx| {
            let changed = if expected_version == 0 {
                tx.execute(
                    "INSERT OR IGNORE INTO digest_state (id, state, version) VALUES (1, ?1, ?2)",
                    params![json, version],
                )
            } else {
                tx.execute(
                    "UPDATE digest_state SET state = ?1, version = ?2 WHERE id = 1 AND version = ?3",
                    params![json, version, expected_version as i64],
                )
            }
            .map_err(unavailable)?;
            if changed == 1 { Ok(()) } else { Err(StoreError::Conflict) }
        })
        .await
    }

    async fn counts(
        &self,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(Counter, u64)>, StoreError> {
        let (from, to) = (from_day.to_owned(), to_day.to_owned());
        self.with_tx(move |tx| {
            let mut out = Vec::new();
            for counter in Counter::ALL {
                let n: i64 = tx
                    .query_row(
                        "SELECT COALESCE(SUM(n), 0) FROM counters WHERE name = ?1 AND day >= ?2 AND day <= ?3",
                        params![counter.name(), from, to],
                        |row| row.get(0),
                    )
                    .map_err(unavailable)?;
                out.push((counter, n as u64));
            }
            Ok(out)
        })
        .await
    }
}

impl SenderStore for SqliteStore {
    async fn due_messages(&self, now: Timestamp, limit: usize) -> Result<Vec<Message>, StoreError> {
        self.with_tx(move |tx| {
            json_records(
                tx,
                "SELECT record FROM messages WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
                params![now, limit as i64],
            )
        })
        .await
    }

    async fn mail_stop(
        &self,
        person_id: &str,
        address: &str,
    ) -> Result<Option<MailStop>, StoreError> {
        let (id, address) = (person_id.to_owned(), address.to_owned());
        self.with_tx(move |tx| {
            Ok(json_records(
                tx,
                "SELECT record FROM mail_stops WHERE person_id = ?1 AND address = ?2",
                [id, address],
            )?
            .pop())
        })
        .await
    }

    async fn messages_of(&self, person_id: &str) -> Result<Vec<Message>, StoreError> {
        let id = person_id.to_owned();
        self.with_tx(move |tx| {
            json_records(
                tx,
                "SELECT record FROM messages WHERE person_id = ?1 ORDER BY id",
                [id],
            )
        })
        .await
    }
}

impl AdminStore for SqliteStore {
    async fn former_holders(
        &self,
        contacts: &[String],
    ) -> Result<Vec<(String, String, Timestamp)>, StoreError> {
        let contacts = contacts.to_vec();
        self.with_tx(move |tx| {
            let mut out = Vec::new();
            let mut stmt = tx
                .prepare("SELECT person_id, last_held_at FROM former_contacts WHERE contact = ?1 ORDER BY person_id")
                .map_err(unavailable)?;
            for contact in contacts {
                let rows = stmt
                    .query_map([&contact], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                    })
                    .map_err(unavailable)?;
                for row in rows {
                    let (id, at) = row.map_err(unavailable)?;
                    out.push((contact.clone(), id, at));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn kept(&self, id: &str) -> Result<Kept, StoreError> {
        let id = id.to_owned();
        self.with_tx(move |tx| {
            let keys = |sql: &str| keys_of::<String>(tx, sql, &id);
            let there = |sql: &str| -> Result<bool, StoreError> {
                Ok(tx
                    .query_row(sql, [&id], |_| Ok(()))
                    .optional()
                    .map_err(unavailable)?
                    .is_some())
            };
            let cases = cases_where(
                tx,
                "SELECT id, record FROM cases WHERE person_id = ?1 ORDER BY opened_at, id",
                Some(&id),
            )?;
            Ok(Kept {
                record: there("SELECT 1 FROM people WHERE id = ?1")?,
                identities: keys(
                    "SELECT identity FROM identities WHERE person_id = ?1 ORDER BY identity",
                )?,
                contacts: keys(
                    "SELECT contact FROM contacts WHERE person_id = ?1 ORDER BY contact",
                )?,
                former_contacts: keys(
                    "SELECT contact FROM former_contacts WHERE person_id = ?1 ORDER BY contact",
                )?,
                versions: keys_of::<i64>(
                    tx,
                    "SELECT version FROM versions WHERE person_id = ?1 ORDER BY version",
                    &id,
                )?
                .into_iter()
                .map(|v| v.max(0) as u64)
                .collect(),
                log: keys(
                    "SELECT reference FROM submissions WHERE person_id = ?1 ORDER BY reference",
                )?,
                cases: cases.cases,
                unreadable_cases: cases.unreadable,
                active: {
                    let mut stmt = tx
                        .prepare("SELECT kind, case_id FROM active_cases WHERE person_id = ?1")
                        .map_err(unavailable)?;
                    let rows = stmt
                        .query_map([&id], |row| {
                            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                        })
                        .map_err(unavailable)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(unavailable)?;
                    rows.into_iter()
                        .filter_map(|(kind, case)| Some((CaseKind::from_name(&kind)?, case)))
                        .collect()
                },
                standing: there("SELECT 1 FROM volunteers WHERE person_id = ?1")?,
                load: there("SELECT 1 FROM loads WHERE volunteer_id = ?1")?,
                messages: keys("SELECT id FROM messages WHERE person_id = ?1 ORDER BY id")?,
                page_links: keys("SELECT hash FROM page_links WHERE person_id = ?1 ORDER BY hash")?,
                mail_stops: keys(
                    "SELECT address FROM mail_stops WHERE person_id = ?1 ORDER BY address",
                )?,
            })
        })
        .await
    }

    async fn submissions(&self) -> Result<Vec<LogEntry>, StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare("SELECT reference, person_id, at, form, outcome, version FROM submissions ORDER BY at, reference")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, i64>(5)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (reference, person_id, at, form, outcome, version) = row.map_err(unavailable)?;
                let (Some(form), Some(outcome)) = (FormId::from_key(&form), Outcome::from_name(&outcome)) else {
                    continue;
                };
                out.push(LogEntry { reference, person_id, at, form, outcome, version: version as u64 });
            }
            Ok(out)
        })
        .await
    }

    async fn all_cases(&self) -> Result<CaseScan, StoreError> {
        self.with_tx(|tx| {
            cases_where(
                tx,
                "SELECT id, record FROM cases ORDER BY opened_at, id",
                None,
            )
        })
        .await
    }
}

/// The rate ring of `client` (the default when none is kept; a ring that
/// does not decode is forgotten, and the client starts afresh).
fn read_rate_ring(tx: &rusqlite::Transaction, client: &str) -> Result<RateRing, StoreError> {
    let kept: Option<(String, i64)> = tx
        .query_row(
            "SELECT ring, version FROM rate_rings WHERE client = ?1",
            [client],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    Ok(kept
        .map(|(ring, version)| RateRing {
            times: serde_json::from_str(&ring).unwrap_or_default(),
            version: version as u64,
        })
        .unwrap_or_default())
}
