//! The key-value store behind the `kvstore` module: SQLite (WAL) in a file, or in memory, one
//! per path in the process, shared by every block and worker thread that names it.
//!
//! Values are JSON text; counters are integers of their own (PubNub keeps them apart too).
//! Each row may have an expiry (milliseconds since the Unix epoch): an expired row reads as
//! absent, a counter that expired starts again, and expired rows are deleted at open and every
//! [`PURGE_EVERY`] writes. Every call is short and blocking: callers on an async thread run it
//! with `spawn_blocking`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value as Json;

/// Expired rows are deleted after this many writes.
const PURGE_EVERY: u64 = 1024;

/// How long a write waits for another process holding the file's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// SQLite refused (the file cannot be opened or written, it is not a database...).
    #[error("kvstore {path}: {source}")]
    Sqlite {
        /// The store's file, or `:memory:`.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The store's folder cannot be made.
    #[error("kvstore: cannot create the folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stored value is not JSON (written by something else).
    #[error("kvstore: the value of `{key}` is not JSON: {source}")]
    Corrupt {
        /// The key.
        key: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A counter went past 64 bits.
    #[error("kvstore: the counter `{0}` would overflow")]
    Overflow(String),
}

/// Milliseconds since the Unix epoch, as the store reads the time.
pub(crate) type Clock = fn() -> i64;

fn system_clock() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One store: a connection to its database, used by one thread at a time.
#[derive(Debug)]
pub(crate) struct Store {
    connection: Mutex<Connection>,
    label: String,
    writes: AtomicU64,
    clock: Clock,
}

/// Every store open in the process, by path (`None`: the in-memory one), while some block holds it.
fn open_stores() -> &'static Mutex<HashMap<Option<PathBuf>, Weak<Store>>> {
    static STORES: OnceLock<Mutex<HashMap<Option<PathBuf>, Weak<Store>>>> = OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

impl Store {
    /// The store at `path` (created with its folder if missing), or the process's in-memory
    /// store for `None`: the one already open in this process if there is one.
    ///
    /// # Errors
    /// The folder cannot be created, or SQLite cannot open the file or create the tables.
    pub(crate) fn shared(path: Option<&Path>) -> Result<Arc<Self>, StoreError> {
        let key = match path {
            Some(path) => Some(canonical(path)?),
            None => None,
        };
        let mut stores = open_stores().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.get(&key).and_then(Weak::upgrade) {
            return Ok(store);
        }
        let store = Arc::new(Self::open(key.as_deref(), system_clock)?);
        stores.retain(|_, store| store.strong_count() > 0);
        stores.insert(key, Arc::downgrade(&store));
        Ok(store)
    }

    /// Whether the store at `path` is open in this process.
    #[cfg(test)]
    pub(crate) fn is_open(path: &Path) -> bool {
        let Ok(key) = canonical(path) else { return false };
        open_stores().lock().unwrap_or_else(PoisonError::into_inner).get(&Some(key)).is_some_and(|s| s.strong_count() > 0)
    }

    /// A store of its own (not shared) reading the time from `clock`.
    ///
    /// # Errors
    /// SQLite cannot open the file or create the tables.
    pub(crate) fn open(path: Option<&Path>, clock: Clock) -> Result<Self, StoreError> {
        let label = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let sqlite = |source| StoreError::Sqlite { path: label.clone(), source };
        let connection = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(sqlite)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // WAL: readers do not wait for a writer; NORMAL: a commit is not synced to disk
        // (a crash may lose the last writes, never corrupt the file).
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL CHECK (typeof(value) = 'integer'), expires INTEGER) WITHOUT ROWID;",
            )
            .map_err(sqlite)?;
        let store = Self { connection: Mutex::new(connection), label, writes: AtomicU64::new(0), clock };
        store.purge()?;
        Ok(store)
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.label.clone(), source }
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic inside a statement leaves SQLite consistent: its transaction rolls back.
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expiry(&self, ttl: Option<Duration>) -> Option<i64> {
        ttl.map(|ttl| (self.clock)().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)))
    }

    /// The value under `key`, unless it is missing or expired.
    ///
    /// # Errors
    /// SQLite fails, or the stored text is not JSON.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Json>, StoreError> {
        let text: Option<String> = self
            .connection()
            .prepare_cached("SELECT value FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)")
            .and_then(|mut statement| statement.query_row(params![key, (self.clock)()], |row| row.get(0)).optional())
            .map_err(|e| self.sqlite(e))?;
        text.map(|text| serde_json::from_str(&text).map_err(|source| StoreError::Corrupt { key: key.to_owned(), source })).transpose()
    }

    /// Stores `value` under `key`, to expire after `ttl` (never for `None`).
    ///
    /// # Errors
    /// SQLite fails.
    pub(crate) fn set(&self, key: &str, value: &Json, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached("INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?1, ?2, ?3)")
            .and_then(|mut statement| statement.execute(params![key, value.to_string(), self.expiry(ttl)]))
            .map_err(|e| self.sqlite(e))?;
        self.wrote()
    }

    /// Removes `key`'s value (not its counter). Returns whether there was one.
    ///
    /// # Errors
    /// SQLite fails.
    pub(crate) fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let removed = self
            .connection()
            .prepare_cached("DELETE FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)")
            .and_then(|mut statement| statement.execute(params![key, (self.clock)()]))
            .map_err(|e| self.sqlite(e))?;
        Ok(removed > 0)
    }

    /// Adds `by` to the counter `key` in one statement (atomic against every other writer,
    /// threads and processes alike) and returns its new value. A counter that does not exist,
    /// or has expired, starts from 0 and expires after `ttl`; the increments of a live counter
    /// keep its expiry (a fixed window, as a rate limit wants).
    ///
    /// # Errors
    /// SQLite fails, or the counter would overflow.
    pub(crate) fn increment(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StoreError> {
        let now = (self.clock)();
        let value: i64 = self
            .connection()
            .prepare_cached(
                "INSERT INTO counters (key, value, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET
                   value = CASE WHEN expires IS NOT NULL AND expires <= ?4 THEN excluded.value ELSE value + excluded.value END,
                   expires = CASE WHEN expires IS NOT NULL AND expires <= ?4 THEN excluded.expires ELSE expires END
                 RETURNING value",
            )
            .and_then(|mut statement| statement.query_row(params![key, by, self.expiry(ttl), now], |row| row.get(0)))
            .map_err(|error| match error {
                // Past 64 bits SQLite makes the sum a float, which the column's check refuses.
                rusqlite::Error::SqliteFailure(failure, _) if failure.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Overflow(key.to_owned())
                }
                other => self.sqlite(other),
            })?;
        self.wrote()?;
        Ok(value)
    }

    /// The counter `key`'s value: 0 if it does not exist or has expired.
    ///
    /// # Errors
    /// SQLite fails.
    pub(crate) fn counter(&self, key: &str) -> Result<i64, StoreError> {
        let value: Option<i64> = self
            .connection()
            .prepare_cached("SELECT value FROM counters WHERE key = ?1 AND (expires IS NULL OR expires > ?2)")
            .and_then(|mut statement| statement.query_row(params![key, (self.clock)()], |row| row.get(0)).optional())
            .map_err(|e| self.sqlite(e))?;
        Ok(value.unwrap_or(0))
    }

    /// Counts a write, and deletes the expired rows every [`PURGE_EVERY`] of them.
    fn wrote(&self) -> Result<(), StoreError> {
        if self.writes.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            self.purge()?;
        }
        Ok(())
    }

    /// Deletes the expired rows; returns how many.
    ///
    /// # Errors
    /// SQLite fails.
    pub(crate) fn purge(&self) -> Result<usize, StoreError> {
        let now = (self.clock)();
        let connection = self.connection();
        let values = connection.execute("DELETE FROM kv WHERE expires <= ?1", [now]).map_err(|e| self.sqlite(e))?;
        let counters = connection.execute("DELETE FROM counters WHERE expires <= ?1", [now]).map_err(|e| self.sqlite(e))?;
        Ok(values + counters)
    }
}

/// `path` with its folder created and made absolute, so that two spellings of one file share
/// one store.
fn canonical(path: &Path) -> Result<PathBuf, StoreError> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder { path: folder.to_owned(), source })?;
    let folder = folder.canonicalize().map_err(|source| StoreError::Folder { path: folder.to_owned(), source })?;
    Ok(path.file_name().map_or(folder.clone(), |name| folder.join(name)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;

    use serde_json::json;

    use super::*;

    /// The tests' clock: milliseconds they advance by hand.
    static NOW: AtomicI64 = AtomicI64::new(1_000_000);

    fn now() -> i64 {
        NOW.load(Ordering::SeqCst)
    }

    fn advance(ms: i64) {
        NOW.fetch_add(ms, Ordering::SeqCst);
    }

    #[test]
    fn values_are_set_read_and_removed_and_counters_are_apart() -> Result<(), StoreError> {
        let store = Store::open(None, system_clock)?;
        assert_eq!(store.get("a")?, None);
        store.set("a", &json!({"n": [1, 2.5, "x"]}), None)?;
        assert_eq!(store.get("a")?, Some(json!({"n": [1, 2.5, "x"]})));
        assert_eq!(store.increment("a", 2, None)?, 2, "a counter does not see the value of its name");
        assert_eq!(store.increment("a", -5, None)?, -3);
        assert_eq!(store.counter("a")?, -3);
        assert!(store.remove("a")?);
        assert!(!store.remove("a")?);
        assert_eq!(store.get("a")?, None);
        assert_eq!(store.counter("a")?, -3, "removeItem leaves the counter");
        Ok(())
    }

    #[test]
    fn values_expire_and_counters_start_again_after_their_ttl() -> Result<(), StoreError> {
        let store = Store::open(None, now)?;
        store.set("short", &json!("s"), Some(Duration::from_secs(60)))?;
        store.set("long", &json!("l"), None)?;
        assert_eq!(store.increment("hits", 1, Some(Duration::from_secs(60)))?, 1);
        advance(30_000);
        assert_eq!(store.increment("hits", 1, Some(Duration::from_secs(60)))?, 2, "an increment keeps the window");
        assert_eq!(store.get("short")?, Some(json!("s")));
        advance(30_000);
        assert_eq!(store.get("short")?, None, "expired at 60 s");
        assert_eq!(store.counter("hits")?, 0);
        assert_eq!(store.increment("hits", 1, Some(Duration::from_secs(60)))?, 1, "a new window");
        assert_eq!(store.get("long")?, Some(json!("l")));
        advance(120_000);
        assert_eq!(store.purge()?, 2, "the expired value and counter are deleted");
        Ok(())
    }

    #[test]
    fn a_counter_past_64_bits_is_an_error_and_keeps_its_value() -> Result<(), StoreError> {
        let store = Store::open(None, system_clock)?;
        store.increment("big", i64::MAX - 1, None)?;
        assert!(matches!(store.increment("big", 2, None), Err(StoreError::Overflow(key)) if key == "big"));
        assert_eq!(store.counter("big")?, i64::MAX - 1);
        Ok(())
    }

    #[test]
    fn one_path_is_one_store_and_increments_from_threads_all_count() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Folder { path: PathBuf::new(), source })?;
        let path = dir.path().join("sub/kv.sqlite");
        let store = Store::shared(Some(&path))?;
        let again = Store::shared(Some(&dir.path().join("sub/../sub/kv.sqlite")))?;
        assert!(Arc::ptr_eq(&store, &again), "two spellings of one file");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || (0..250).try_for_each(|_| store.increment("n", 1, None).map(drop)))
            })
            .collect();
        for thread in threads {
            thread.join().expect("the thread ends")?;
        }
        assert_eq!(store.counter("n")?, 1000);
        drop((store, again));
        assert!(!Store::is_open(&path));
        assert_eq!(Store::shared(Some(&path))?.counter("n")?, 1000, "kept in the file");
        Ok(())
    }
}
