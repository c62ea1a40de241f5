//! The `sql` block: each chat event enriched with its user's row (500 users), on SQLite and on
//! PostgreSQL, without and with a cache; events out per second (one lookup each). For
//! PostgreSQL, a hand-written loop with tokio-postgres asks the same questions, pipelined per
//! batch of 128 events, each distinct user once, as the block does without a cache.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;

pub(crate) const USERS: &str = "DROP TABLE IF EXISTS users; CREATE TABLE users (name text PRIMARY KEY, plan text NOT NULL, since bigint NOT NULL);";

/// The 500 users, as one `INSERT`.
pub(crate) fn user_rows() -> String {
    let values: Vec<String> = (0..500).map(|n| format!("('user-{n}', '{}', {})", ["free", "pro", "team"][n % 3], 1_700_000_000 + n)).collect();
    format!("INSERT INTO users VALUES {};", values.join(", "))
}

pub(crate) fn runnel_run(input: &Path, out: &Path, url: &str, cache: bool, runtime: &tokio::runtime::Runtime) -> Duration {
    let cache = if cache { "cache = { ttl = \"60s\" }\n" } else { "" };
    let pipeline = format!(
        "[sources.in]\ntype = \"file\"\npath = {:?}\n[blocks.who]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"{url}\"\n\
         query = \"SELECT plan, since FROM users WHERE name = :user\"\nparams = {{ user = \".user\" }}\nrows = \"one\"\nresult_at = \"account\"\n{cache}\
         [sinks.out]\ntype = \"file\"\ninputs = [\"who\"]\npath = {:?}\n",
        input.display().to_string(),
        out.display().to_string(),
    );
    runtime.block_on(async {
        let pipeline = runnel::Pipeline::from_toml(&pipeline, &runnel::registry()).expect("a valid pipeline");
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

/// The same lookups by hand on PostgreSQL: batches of 128 events, each distinct user asked
/// once, pipelined; the answer set into each event, written out as NDJSON.
pub(crate) fn baseline_run(input: &Path, out: &Path, url: &str, runtime: &tokio::runtime::Runtime) -> Duration {
    use std::io::Write;
    runtime.block_on(async {
        let client = super::postgres::connect(url).await;
        let start = Instant::now();
        let statement = client.prepare("SELECT plan, since FROM users WHERE name = $1").await.expect("prepares");
        let mut lines = std::io::BufReader::new(std::fs::File::open(input).expect("the input")).lines();
        let mut writer = std::io::BufWriter::new(std::fs::File::create(out).expect("the output"));
        loop {
            let mut events: Vec<serde_json::Value> =
                lines.by_ref().take(128).map(|line| serde_json::from_str(&line.expect("a line")).expect("JSON")).collect();
            if events.is_empty() {
                break;
            }
            let mut users: Vec<String> = events.iter().map(|e| e["user"].as_str().unwrap_or_default().to_owned()).collect();
            users.sort_unstable();
            users.dedup();
            let asked = users.iter().map(|user| {
                let (client, statement) = (&client, &statement);
                async move { client.query_opt(statement, &[user]).await.expect("queries") }
            });
            let answers: HashMap<&str, serde_json::Value> = users
                .iter()
                .map(String::as_str)
                .zip(join_all(asked).await.into_iter().map(|row| match row {
                    Some(row) => serde_json::json!({"plan": row.get::<_, String>(0), "since": row.get::<_, i64>(1)}),
                    None => serde_json::Value::Null,
                }))
                .collect();
            for event in &mut events {
                let answer = answers.get(event["user"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
                event["account"] = answer;
                serde_json::to_writer(&mut writer, &event).expect("writes");
                writer.write_all(b"\n").expect("writes");
            }
        }
        writer.flush().expect("flushes");
        start.elapsed()
    })
}
