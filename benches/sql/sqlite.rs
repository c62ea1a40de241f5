//! SQLite: the `sql` sink against a hand-written rusqlite loop (one prepared statement,
//! transactions of 500 rows, WAL with `synchronous = FULL` as the sink sets).

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::BATCH;

pub(crate) const SCHEMA: &str = "CREATE TABLE events (id INTEGER PRIMARY KEY, room TEXT, user TEXT, text TEXT, ts INTEGER)";

fn fresh(path: &Path) -> Connection {
    let _ = std::fs::remove_file(path);
    let connection = Connection::open(path).expect("opens");
    connection.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    connection.pragma_update(None, "synchronous", "FULL").expect("FULL");
    connection.execute_batch(SCHEMA).expect("schema");
    connection
}

pub(crate) fn runnel_run(input: &Path, db: &Path, runtime: &tokio::runtime::Runtime) -> Duration {
    drop(fresh(db));
    let pipeline = format!(
        "[sources.in]\ntype = \"file\"\npath = {:?}\n[sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"sqlite:{}\"\ntable = \"events\"\n\
         columns = {{ id = \".id\", room = \".room\", user = \".user\", text = \".text\", ts = \".ts\" }}\nmax_messages = {BATCH}\n",
        input.display().to_string(),
        db.display()
    );
    runtime.block_on(async {
        let pipeline = runnel::Pipeline::from_toml(&pipeline, &runnel::registry()).expect("a valid pipeline");
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

/// The fastest straightforward program: read, parse, bind, 500 rows per transaction.
pub(crate) fn baseline_run(input: &Path, db: &Path) -> Duration {
    let mut connection = fresh(db);
    let start = Instant::now();
    let mut lines = std::io::BufReader::new(std::fs::File::open(input).expect("the input")).lines();
    let mut done = false;
    while !done {
        let transaction = connection.transaction().expect("begins");
        {
            let mut statement =
                transaction.prepare_cached("INSERT INTO events (id, room, user, text, ts) VALUES (?1, ?2, ?3, ?4, ?5)").expect("prepares");
            for _ in 0..BATCH {
                let Some(line) = lines.next() else {
                    done = true;
                    break;
                };
                let event: serde_json::Value = serde_json::from_str(&line.expect("a line")).expect("JSON");
                statement
                    .execute(rusqlite::params![
                        event["id"].as_i64(),
                        event["room"].as_str(),
                        event["user"].as_str(),
                        event["text"].as_str(),
                        event["ts"].as_i64()
                    ])
                    .expect("inserts");
            }
        }
        transaction.commit().expect("commits");
    }
    start.elapsed()
}

pub(crate) fn count(db: &Path) -> usize {
    let rows: i64 = Connection::open(db).expect("opens").query_row("SELECT count(*) FROM events", [], |row| row.get(0)).expect("counts");
    usize::try_from(rows).expect("a count")
}
