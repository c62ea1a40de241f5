//! The `sql` sink on SQLite (embedded; the tables are read back with rusqlite): rows inserted and
//! upserted, a statement with named parameters, a refused row failing alone with the database's
//! message while the rest commits, and configurations that cannot work refused before start.

use std::path::Path;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::pipeline;

/// Makes the database at `path` with `schema`.
fn create(path: &Path, schema: &str) {
    Connection::open(path).expect("opens").execute_batch(schema).expect("schema");
}

/// Runs `messages` (NDJSON lines in a file) into a `sql` sink configured by `sink`, and returns
/// the error records of its `errors` port.
pub(super) async fn run(dir: &Path, messages: &[Value], sink: &str) -> Vec<Value> {
    let input = dir.join("in.ndjson");
    let lines: Vec<String> = messages.iter().map(Value::to_string).collect();
    std::fs::write(&input, lines.join("\n") + "\n").expect("writes");
    let toml = format!(
        "[sources.in]\ntype = \"file\"\npath = \"{}\"\n\
         [sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\n{sink}\n\
         [sinks.failed]\ntype = \"memory\"\ninputs = [\"db.errors\"]\n",
        input.display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let failed = runnel::take_output(running.resources(), "failed").expect("failed");
    let (errors, result) = tokio::join!(failed.collect_values(), running.wait());
    result.expect("runs");
    errors
}

fn rows(path: &Path, sql: &str) -> Vec<(String, i64)> {
    let connection = Connection::open(path).expect("opens");
    let mut statement = connection.prepare(sql).expect("prepares");
    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).expect("queries").collect::<Result<_, _>>().expect("rows")
}

#[tokio::test]
async fn messages_become_rows_and_a_key_makes_upserts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("media.db");
    create(&db, "CREATE TABLE media (url TEXT PRIMARY KEY, owner TEXT NOT NULL, bytes INTEGER, meta TEXT)");
    let messages: Vec<Value> = (0..1200)
        .map(|n| json!({"url": format!("/v/{}", n % 1000), "owner": format!("user-{}", n % 7), "size": {"bytes": n}, "tags": ["a", n]}))
        .collect();
    let sink = format!(
        "url = \"sqlite:{}\"\ntable = \"media\"\ncolumns = {{ url = \".url\", owner = \".owner\", bytes = \".size.bytes\", meta = \".tags\" }}\nkey = [\"url\"]\nmax_messages = 300",
        db.display()
    );
    let errors = run(dir.path(), &messages, &sink).await;
    assert!(errors.is_empty(), "{errors:?}");
    let stored = rows(&db, "SELECT url, bytes FROM media ORDER BY bytes");
    assert_eq!(stored.len(), 1000, "1,200 messages, 1,000 keys");
    // The last 200 messages updated the rows of the first 200 keys.
    assert_eq!(stored[0], ("/v/200".to_owned(), 200));
    assert_eq!(stored.last(), Some(&("/v/199".to_owned(), 1199)));
    let meta: String = Connection::open(&db).expect("opens").query_row("SELECT meta FROM media WHERE url = '/v/5'", [], |r| r.get(0)).expect("a row");
    assert_eq!(meta, r#"["a",1005]"#, "a list as its JSON text");
}

#[tokio::test]
async fn a_row_the_database_refuses_fails_alone_and_the_rest_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("media.db");
    create(&db, "CREATE TABLE media (url TEXT PRIMARY KEY, owner TEXT NOT NULL, bytes INTEGER CHECK (bytes >= 0)) STRICT");
    let messages = [
        json!({"url": "/a", "owner": "ann", "bytes": 1}),
        json!({"url": "/b", "bytes": 2}),
        json!({"url": "/c", "owner": "cy", "bytes": -3}),
        json!({"url": "/d", "owner": "dee", "bytes": "four"}),
        json!({"url": "/e", "owner": "eve", "bytes": 5}),
        json!({"url": "/e", "owner": "eve", "bytes": 6}),
    ];
    let sink =
        format!("url = \"sqlite:{}\"\ntable = \"media\"\ncolumns = {{ url = \".url\", owner = \".owner\", bytes = \".bytes\" }}", db.display());
    let errors = run(dir.path(), &messages, &sink).await;
    assert_eq!(rows(&db, "SELECT url, bytes FROM media ORDER BY url"), [("/a".to_owned(), 1), ("/e".to_owned(), 5)]);
    let failed: Vec<(i64, String)> =
        errors.iter().map(|e| (e["origin"]["offset"].as_i64().expect("an offset"), e["error"].as_str().expect("text").to_owned())).collect();
    assert_eq!(failed.len(), 4, "{errors:?}");
    assert!(failed[0].0 == 2 && failed[0].1.contains("NOT NULL constraint failed: media.owner"), "{failed:?}");
    assert!(failed[1].0 == 3 && failed[1].1.contains("CHECK constraint failed"), "{failed:?}");
    assert!(failed[2].0 == 4 && failed[2].1.contains("cannot store TEXT value in INTEGER column media.bytes"), "{failed:?}");
    assert!(failed[3].0 == 6 && failed[3].1.contains("UNIQUE constraint failed: media.url"), "{failed:?}");
    assert!(errors.iter().all(|e| e["node"] == "db"));
}

#[tokio::test]
async fn a_statement_binds_named_parameters_from_jq_expressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("counts.db");
    create(&db, "CREATE TABLE views (video TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    let messages: Vec<Value> = (0..30).map(|n| json!({"video": format!("v{}", n % 3), "user": "a'; DROP TABLE views; --"})).collect();
    let sink = format!(
        "url = \"sqlite:{}\"\nstatement = \"INSERT INTO views (video, n) VALUES (:video, 1) ON CONFLICT (video) DO UPDATE SET n = n + 1\"\nparams = {{ video = \".video\" }}",
        db.display()
    );
    let errors = run(dir.path(), &messages, &sink).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rows(&db, "SELECT video, n FROM views ORDER BY video"), [("v0".to_owned(), 10), ("v1".to_owned(), 10), ("v2".to_owned(), 10)]);
}

#[tokio::test]
async fn configurations_that_cannot_work_are_refused_before_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    create(&db, "CREATE TABLE t (a TEXT)");
    let base = "[sources.in]\ntype = \"memory\"\n[sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\n";
    let invalid =
        |sink: &str| runnel::Pipeline::parse(&format!("{base}{sink}"), None, &runnel::registry(), |_| None).expect_err("invalid").to_string();
    let error = invalid("url = \"mysql://h/db\"\ntable = \"t\"\ncolumns = { a = \".a\" }\n");
    assert!(error.contains("node `db`") && error.contains("`url` must be `sqlite:<path>` or `postgres://"), "{error}");
    let error = invalid("url = \"sqlite:x.db\"\ntable = \"t; DROP TABLE t\"\ncolumns = { a = \".a\" }\n");
    assert!(error.contains("`table`: `t; DROP TABLE t` is not a name"), "{error}");
    let error = invalid("url = \"sqlite:x.db\"\ntable = \"t\"\ncolumns = { a = \".a\" }\nkey = [\"b\"]\n");
    assert!(error.contains("`key`: `b` is not one of `columns`"), "{error}");
    // A statement that does not fit the schema is refused when the node is built.
    let toml = format!("{base}url = \"sqlite:{}\"\ntable = \"t\"\ncolumns = {{ nope = \".a\" }}\n", db.display());
    let error = pipeline(&toml).start().await.expect_err("does not start").to_string();
    assert!(error.contains("does not prepare") && error.contains("no column named nope"), "{error}");
    let toml = format!("{base}url = \"sqlite:{}\"\nstatement = \"INSERT INTO t (a) VALUES (:a)\"\n", db.display());
    let error = pipeline(&toml).start().await.expect_err("does not start").to_string();
    assert!(error.contains("the parameter `:a` has no expression in `params`"), "{error}");
}

/// Durability: `runnel run` reading a file (with its checkpoints) into the `sql` sink is
/// SIGKILLed 3 times while it writes 100,000 messages; after the last run every message is a row
/// (missing: 0), and a restart writes again only what came after its last checkpoint (saved
/// every 50 ms here). The
/// statement counts each write of a row before its upsert, so duplicates are counted, not
/// hidden.
#[test]
fn every_message_is_a_row_after_sigkills_of_runnel() {
    use std::process::{Command, Stdio};

    use crate::support::{runnel_bin, wait_for};

    const MESSAGES: i64 = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("events.db");
    create(&db, "CREATE TABLE events (id INTEGER PRIMARY KEY, writes INTEGER NOT NULL)");
    let lines: Vec<String> = (0..MESSAGES).map(|n| json!({"id": n, "text": "see you at the gate"}).to_string()).collect();
    std::fs::write(dir.path().join("in.ndjson"), lines.join("\n") + "\n").expect("writes");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "[sources.in]\ntype = \"file\"\npath = \"in.ndjson\"\ncheckpoint_interval_ms = 50\n\
         [sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"sqlite:events.db\"\n\
         statement = \"INSERT INTO events (id, writes) VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET writes = writes + 1\"\n\
         params = { id = \".id\" }\n",
    )
    .expect("writes");
    let start = || {
        Command::new(runnel_bin())
            .args(["run", "--no-metrics", file.to_str().expect("utf-8")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts")
    };
    let rows =
        || -> i64 { Connection::open(&db).ok().and_then(|c| c.query_row("SELECT count(*) FROM events", [], |row| row.get(0)).ok()).unwrap_or(0) };
    for kill in 1..=3 {
        let mut runnel = start();
        // Killed part-way: once a further share of the rows is in.
        let mark = MESSAGES * kill / 4;
        wait_for("more rows", 120, || (rows() >= mark).then_some(()));
        runnel.kill().expect("SIGKILL");
        runnel.wait().expect("exits");
    }
    let last = start().wait_with_output().expect("runs to the end");
    assert!(last.status.success(), "{last:?}");
    let connection = Connection::open(&db).expect("opens");
    let (stored, writes): (i64, i64) =
        connection.query_row("SELECT count(*), sum(writes) FROM events", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("counts");
    let missing = MESSAGES - stored;
    let duplicates = writes - stored;
    eprintln!("sql sink crash test: {MESSAGES} messages, 3 SIGKILLs: missing {missing}, duplicates {duplicates}");
    assert_eq!(missing, 0);
    assert!(duplicates < MESSAGES, "a restart resumes after its checkpoint, not from the start: {duplicates} duplicates");
}
