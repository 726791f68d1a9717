//! The embedded store: one SQLite file (WAL, `synchronous=FULL`, so a
//! commit is on disk before the handler answers). Each operation is one
//! `BEGIN IMMEDIATE` transaction on a connection behind a mutex, run off the
//! async threads.
//!
//! Tables: `people` (the record as JSON, with its version, last change and
//! expiry), `contacts` (contact key → person, the dedupe index), `hits`
//! (rate-limit windows), `counters` (per-day self-report) and `digest_state`
//! (one row: the digest's watermark and lease).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Counter, DigestState, Person, Store, StoreError, Timestamp};

/// The SQLite adapter.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS people_by_change ON people (updated_at);
CREATE TABLE IF NOT EXISTS contacts (
    contact TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS hits (
    client TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    n INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client, window_start)
);
CREATE TABLE IF NOT EXISTS digest_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    version INTEGER NOT NULL
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

fn decode(json: &str) -> Result<Person, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unavailable(format!("a stored record does not decode: {e}")))
}

fn encode(person: &Person) -> Result<String, StoreError> {
    serde_json::to_string(person).map_err(unavailable)
}

impl SqliteStore {
    /// Opens (and creates if needed) the database file `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(unavailable)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` in an immediate transaction on a blocking thread.
    async fn with_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| unavailable("the database lock is poisoned"))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let value = f(&tx)?;
            tx.commit().map_err(unavailable)?;
            Ok(value)
        })
        .await
        .map_err(unavailable)?
    }

    /// Deletes records past their retention date; returns how many.
    pub async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.with_tx(move |tx| {
            tx.execute("DELETE FROM hits WHERE expires_at <= ?1", [now])
                .map_err(unavailable)?;
            tx.execute("DELETE FROM people WHERE expires_at <= ?1", [now])
                .map_err(unavailable)
        })
        .await
    }

    /// Every person, oldest first.
    pub async fn all(&self) -> Result<Vec<Person>, StoreError> {
        self.changed_since(i64::MIN).await
    }
}

fn contact_taken(tx: &rusqlite::Transaction, contact: &str) -> Result<bool, StoreError> {
    tx.query_row(
        "SELECT 1 FROM contacts WHERE contact = ?1",
        [contact],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(unavailable)
}

impl Store for SqliteStore {
    async fn find(&self, contacts: &[String]) -> Result<Vec<Person>, StoreError> {
        let contacts = contacts.to_vec();
        self.with_tx(move |tx| {
            let mut people: Vec<Person> = Vec::new();
            for contact in &contacts {
                let record: Option<String> = tx
                    .query_row(
                        "SELECT p.record FROM contacts c JOIN people p ON p.id = c.person_id WHERE c.contact = ?1",
                        [contact],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if let Some(json) = record {
                    let person = decode(&json)?;
                    if !people.iter().any(|p| p.id == person.id) {
                        people.push(person);
                    }
                }
            }
            Ok(people)
        })
        .await
    }

    async fn create(&self, person: &Person) -> Result<(), StoreError> {
        let person = person.clone();
        let json = encode(&person)?;
        self.with_tx(move |tx| {
            for contact in &person.contacts {
                if contact_taken(tx, contact)? {
                    return Err(StoreError::Conflict);
                }
            }
            tx.execute(
                "INSERT INTO people (id, record, version, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![person.id, json, person.version as i64, person.updated_at, person.expires_at],
            )
            .map_err(unavailable)?;
            for contact in &person.contacts {
                tx.execute("INSERT INTO contacts (contact, person_id) VALUES (?1, ?2)", params![contact, person.id])
                    .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn replace(
        &self,
        person: &Person,
        expected_version: u64,
        released: &[String],
        claimed: &[String],
    ) -> Result<(), StoreError> {
        let person = person.clone();
        let json = encode(&person)?;
        let (released, claimed) = (released.to_vec(), claimed.to_vec());
        self.with_tx(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE people SET record = ?2, version = ?3, updated_at = ?4, expires_at = ?5 WHERE id = ?1 AND version = ?6",
                    params![person.id, json, person.version as i64, person.updated_at, person.expires_at, expected_version as i64],
                )
                .map_err(unavailable)?;
            if updated != 1 {
                return Err(StoreError::Conflict);
            }
            for contact in &claimed {
                if contact_taken(tx, contact)? {
                    return Err(StoreError::Conflict); // the transaction rolls back on drop
                }
                tx.execute("INSERT INTO contacts (contact, person_id) VALUES (?1, ?2)", params![contact, person.id])
                    .map_err(unavailable)?;
            }
            for contact in &released {
                tx.execute("DELETE FROM contacts WHERE contact = ?1 AND person_id = ?2", params![contact, person.id])
                    .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn changed_since(&self, since: Timestamp) -> Result<Vec<Person>, StoreError> {
        self.with_tx(move |tx| {
            let mut stmt = tx
                .prepare("SELECT record FROM people WHERE updated_at >= ?1 ORDER BY updated_at, id")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([since], |row| row.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|json| decode(&json.map_err(unavailable)?))
                .collect()
        })
        .await
    }

    async fn hit(
        &self,
        client: &str,
        window_start: Timestamp,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        let client = client.to_owned();
        self.with_tx(move |tx| {
            tx.query_row(
                "INSERT INTO hits (client, window_start, n, expires_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (client, window_start) DO UPDATE SET n = n + 1 RETURNING n",
                params![client, window_start, expires_at],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(unavailable)
        })
        .await
    }

    async fn count(&self, day: &str, counter: Counter) -> Result<(), StoreError> {
        let day = day.to_owned();
        self.with_tx(move |tx| {
            tx.execute(
                "INSERT INTO counters (day, name, n) VALUES (?1, ?2, 1) ON CONFLICT (day, name) DO UPDATE SET n = n + 1",
                params![day, counter.name()],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    async fn digest_state(&self) -> Result<DigestState, StoreError> {
        let json: Option<String> = self
            .with_tx(|tx| {
                tx.query_row("SELECT state FROM digest_state WHERE id = 1", [], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(unavailable)
            })
            .await?;
        match json {
            None => Ok(DigestState::default()),
            Some(json) => serde_json::from_str(&json).map_err(unavailable),
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
