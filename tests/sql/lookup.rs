//! The `sql` block (lookup) on both databases: rows set into each message (all, or one),
//! parameters that stay data however they are written (SQL injection finds nothing), the cache
//! counted on `/metrics`, and parameters or messages that cannot be looked up failing alone.

use std::path::Path;

use serde_json::{Value, json};

use super::pg;
use crate::support::pipeline;

const SCHEMA: &str = "CREATE TABLE media (owner text NOT NULL, url text PRIMARY KEY, width integer NOT NULL);
INSERT INTO media VALUES ('ann', '/v/ann-2.webm', 640), ('ann', '/v/ann-1.webm', 320), ('bob', '/v/bob-1.webm', 480);";

/// What a run gave: the messages out, the error records, and the lookups answered without and
/// with a query.
struct Looked {
    out: Vec<Value>,
    errors: Vec<Value>,
    hits: f64,
    misses: f64,
    /// The block's `runnel_node_errors_total`.
    counted_errors: f64,
}

/// Runs `messages` (in batches of 10) through a `sql` block configured by `block`.
async fn look(dir: &Path, messages: &[Value], block: &str) -> Looked {
    let input = dir.join("in.ndjson");
    let lines: Vec<String> = messages.iter().map(Value::to_string).collect();
    std::fs::write(&input, lines.join("\n") + "\n").expect("writes");
    let toml = format!(
        "[pipeline]\nbatch_size = 10\n[sources.in]\ntype = \"file\"\npath = \"{}\"\n\
         [blocks.media]\ntype = \"sql\"\ninputs = [\"in\"]\n{block}\n\
         [sinks.out]\ntype = \"memory\"\ninputs = [\"media\"]\n\
         [sinks.failed]\ntype = \"memory\"\ninputs = [\"media.errors\"]\n",
        input.display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let metrics = running.metrics().clone();
    let out = runnel::take_output(running.resources(), "out").expect("out");
    let failed = runnel::take_output(running.resources(), "failed").expect("failed");
    let (out, errors, result) = tokio::join!(out.collect_values(), failed.collect_values(), running.wait());
    result.expect("runs");
    let hits = metrics.total("runnel_sql_lookups_total", Some(("result", "hit")));
    let misses = metrics.total("runnel_sql_lookups_total", Some(("result", "miss")));
    let counted_errors = metrics.total("runnel_node_errors_total", Some(("node", "media")));
    Looked { out, errors, hits, misses, counted_errors }
}

/// The databases to run a test against: SQLite in `dir`, and PostgreSQL when there is one.
async fn databases(dir: &Path) -> Vec<String> {
    let path = dir.join("media.db");
    rusqlite::Connection::open(&path).expect("opens").execute_batch(SCHEMA).expect("schema");
    let mut urls = vec![format!("sqlite:{}", path.display())];
    if let Some(db) = pg::database(SCHEMA).await {
        urls.push(db.url);
    }
    urls
}

#[tokio::test]
async fn rows_are_set_into_each_message_and_parameters_stay_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = ["ann", "bob", "cy", "' OR 1=1 --", "ann' OR 'a'='a"];
    let messages: Vec<Value> = users.iter().map(|user| json!({"user": user})).collect();
    for url in databases(dir.path()).await {
        let query = "SELECT url, width FROM media WHERE owner = :owner ORDER BY url";
        let all =
            look(dir.path(), &messages, &format!("url = \"{url}\"\nquery = \"{query}\"\nparams = {{ owner = \".user\" }}\nresult_at = \"media\""))
                .await;
        assert!(all.errors.is_empty(), "{url}: {:?}", all.errors);
        let media: Vec<&Value> = all.out.iter().map(|m| &m["media"]).collect();
        assert_eq!(
            media,
            [
                &json!([{"url": "/v/ann-1.webm", "width": 320}, {"url": "/v/ann-2.webm", "width": 640}]),
                &json!([{"url": "/v/bob-1.webm", "width": 480}]),
                &json!([]),
                &json!([]),
                &json!([]),
            ],
            "{url}: injection attempts are only text that no owner has"
        );
        assert_eq!(all.out[0]["user"], "ann", "{url}: the message keeps its fields");
        let one =
            look(dir.path(), &messages[..3], &format!("url = \"{url}\"\nquery = \"{query}\"\nparams = {{ owner = \".user\" }}\nrows = \"one\""))
                .await;
        let first: Vec<&Value> = one.out.iter().map(|m| &m["rows"]).collect();
        assert_eq!(first, [&json!({"url": "/v/ann-1.webm", "width": 320}), &json!({"url": "/v/bob-1.webm", "width": 480}), &Value::Null], "{url}");
    }
}

#[tokio::test]
async fn the_cache_answers_parameters_it_has_seen_within_its_ttl() {
    const OWNERS: [&str; 3] = ["ann", "bob", "cy"];
    let dir = tempfile::tempdir().expect("tempdir");
    let messages: Vec<Value> = (0..100).map(|n| json!({"user": OWNERS[n % 3]})).collect();
    for url in databases(dir.path()).await {
        let block = format!(
            "url = \"{url}\"\nquery = \"SELECT count(*) AS n FROM media WHERE owner = :owner\"\nparams = {{ owner = \".user\" }}\nrows = \"one\""
        );
        let cached = look(dir.path(), &messages, &format!("{block}\ncache = {{ ttl = \"60s\" }}")).await;
        assert_eq!((cached.misses, cached.hits), (3.0, 97.0), "{url}: each owner asked once");
        assert_eq!(cached.out.iter().filter(|m| m["rows"]["n"] == 2).count(), 34, "{url}: ann's count, from the cache too");
        let uncached = look(dir.path(), &messages, &block).await;
        assert_eq!((uncached.misses, uncached.hits), (30.0, 70.0), "{url}: without a cache, each batch of 10 asks for its 3 owners");
    }
}

#[tokio::test]
async fn what_cannot_be_looked_up_fails_alone_with_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let messages = [json!({"width": 320}), json!({"width": "wide"}), json!(["not", "an object"]), json!({"width": 480})];
    for url in databases(dir.path()).await {
        let block =
            format!("url = \"{url}\"\nquery = \"SELECT url FROM media WHERE width = :width\"\nparams = {{ width = \".width?\" }}\nrows = \"one\"");
        let looked = look(dir.path(), &messages, &block).await;
        let found: Vec<&Value> = looked.out.iter().map(|m| &m["rows"]["url"]).collect();
        let failed: Vec<(u64, &str)> =
            looked.errors.iter().map(|e| (e["origin"]["offset"].as_u64().expect("an offset"), e["error"].as_str().expect("why"))).collect();
        assert!(failed.iter().any(|(line, why)| *line == 3 && why.contains("cannot set `rows`: the message is not an object")), "{url}: {failed:?}");
        assert_eq!(looked.counted_errors, failed.len() as f64, "{url}: each failure counted once");
        if url.starts_with("postgres") {
            assert_eq!(found, [&json!("/v/ann-1.webm"), &json!("/v/bob-1.webm")], "{url}");
            assert!(
                failed
                    .iter()
                    .any(|(line, why)| *line == 2
                        && why.contains(r#"the database refused the parameters: "wide" does not fit a parameter of type int4"#)),
                "{url}: {failed:?}"
            );
        } else {
            // SQLite compares a text with an integer column without an error: no row.
            assert_eq!(found, [&json!("/v/ann-1.webm"), &Value::Null, &json!("/v/bob-1.webm")], "{url}");
        }
    }
}
