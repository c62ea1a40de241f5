//! PostgreSQL: the `sql` sink against a hand-written tokio-postgres loop, the way an expert
//! writes a batched insert with it: one prepared statement, transactions of 500 rows whose
//! inserts are pipelined (sent together, not one round trip each). COPY would be faster still,
//! but it cannot upsert or refuse one row alone, which the sink must.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio_postgres::{Client, NoTls};

use super::BATCH;

pub(crate) const SCHEMA: &str =
    "DROP TABLE IF EXISTS events; CREATE TABLE events (id bigint PRIMARY KEY, room text, \"user\" text, text text, ts bigint)";

pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("PostgreSQL answers");
    tokio::spawn(connection);
    client
}

pub(crate) fn runnel_run(input: &Path, url: &str, runtime: &tokio::runtime::Runtime) -> Duration {
    let pipeline = format!(
        "[sources.in]\ntype = \"file\"\npath = {:?}\n[sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"{url}\"\ntable = \"events\"\n\
         columns = {{ id = \".id\", room = \".room\", user = \".user\", text = \".text\", ts = \".ts\" }}\nmax_messages = {BATCH}\n",
        input.display().to_string(),
    );
    runtime.block_on(async {
        connect(url).await.batch_execute(SCHEMA).await.expect("schema");
        let pipeline = runnel::Pipeline::from_toml(&pipeline, &runnel::registry()).expect("a valid pipeline");
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

pub(crate) fn baseline_run(input: &Path, url: &str, runtime: &tokio::runtime::Runtime) -> Duration {
    runtime.block_on(async {
        let mut client = connect(url).await;
        client.batch_execute(SCHEMA).await.expect("schema");
        let start = Instant::now();
        let statement = client.prepare("INSERT INTO events (id, room, \"user\", text, ts) VALUES ($1, $2, $3, $4, $5)").await.expect("prepares");
        let mut lines = std::io::BufReader::new(std::fs::File::open(input).expect("the input")).lines();
        let mut events: Vec<serde_json::Value> = Vec::with_capacity(BATCH);
        loop {
            events.clear();
            events.extend(lines.by_ref().take(BATCH).map(|line| serde_json::from_str::<serde_json::Value>(&line.expect("a line")).expect("JSON")));
            if events.is_empty() {
                break;
            }
            let transaction = client.transaction().await.expect("begins");
            let inserts = events.iter().map(|event| {
                let (id, ts) = (event["id"].as_i64(), event["ts"].as_i64());
                let (room, user, text) = (event["room"].as_str(), event["user"].as_str(), event["text"].as_str());
                let transaction = &transaction;
                let statement = &statement;
                async move { transaction.execute(statement, &[&id, &room, &user, &text, &ts]).await }
            });
            for done in join_all(inserts).await {
                done.expect("inserts");
            }
            transaction.commit().await.expect("commits");
        }
        start.elapsed()
    })
}

pub(crate) fn count(url: &str, runtime: &tokio::runtime::Runtime) -> usize {
    runtime.block_on(async {
        let rows: i64 = connect(url).await.query_one("SELECT count(*) FROM events", &[]).await.expect("counts").get(0);
        usize::try_from(rows).expect("a count")
    })
}
