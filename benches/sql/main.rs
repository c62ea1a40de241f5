//! The `sql` sink's throughput into SQLite: an NDJSON file of chat events (~180 bytes each)
//! stored as rows `(id, room, user, text, ts)`, through runnel (`file` source → `sql` sink) and
//! through a hand-written loop with the same crate (rusqlite): lines parsed with serde_json, one
//! prepared statement, transactions of 500 rows, WAL with `synchronous = FULL` as the sink sets.
//! Each run writes a fresh database. Prints rows per second, best of 3, and the ratio.
//!
//! `cargo bench --bench sql` (`RUNNEL_BENCH_MESSAGES`, default 200,000).

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "../throughput/input.rs"]
mod input;

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

const SCHEMA: &str = "CREATE TABLE events (id INTEGER PRIMARY KEY, room TEXT, user TEXT, text TEXT, ts INTEGER)";
const BATCH: usize = 500;

fn fresh(path: &Path) -> Connection {
    let _ = std::fs::remove_file(path);
    let connection = Connection::open(path).expect("opens");
    connection.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    connection.pragma_update(None, "synchronous", "FULL").expect("FULL");
    connection.execute_batch(SCHEMA).expect("schema");
    connection
}

fn runnel_run(input: &Path, db: &Path) -> Duration {
    drop(fresh(db));
    let pipeline = format!(
        "[sources.in]\ntype = \"file\"\npath = {:?}\n[sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"sqlite:{}\"\ntable = \"events\"\n\
         columns = {{ id = \".id\", room = \".room\", user = \".user\", text = \".text\", ts = \".ts\" }}\nmax_messages = {BATCH}\n",
        input.display().to_string(),
        db.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let pipeline = runnel::Pipeline::from_toml(&pipeline, &runnel::registry()).expect("a valid pipeline");
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

/// The fastest straightforward program: read, parse, bind, 500 rows per transaction.
fn baseline_run(input: &Path, db: &Path) -> Duration {
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

fn count(db: &Path) -> usize {
    let rows: i64 = Connection::open(db).expect("opens").query_row("SELECT count(*) FROM events", [], |row| row.get(0)).expect("counts");
    usize::try_from(rows).expect("a count")
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("sql: run with `cargo bench --bench sql`");
        return;
    }
    let messages: usize = std::env::var("RUNNEL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.ndjson");
    input::write_chat_events(&input, messages).expect("writes the input");
    let db = dir.path().join("events.db");
    let mut best = [Duration::MAX; 2];
    for _ in 0..3 {
        let hand = baseline_run(&input, &db);
        assert_eq!(count(&db), messages, "the baseline stored every row");
        let engine = runnel_run(&input, &db);
        assert_eq!(count(&db), messages, "runnel stored every row");
        best = [best[0].min(hand), best[1].min(engine)];
    }
    let [hand, engine] = best.map(|took| messages as f64 / took.as_secs_f64());
    println!("sql sink → SQLite ({messages} chat events, {BATCH} rows per transaction, WAL, synchronous = FULL; best of 3, rows per second):");
    println!("  hand-written rusqlite loop: {hand:>10.0}");
    println!("  runnel sql sink:            {engine:>10.0}  ({:.2}x)", engine / hand);
}
