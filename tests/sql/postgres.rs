//! The `sql` sink on PostgreSQL: rows inserted and upserted (JSON into `jsonb`), a refused row
//! failing alone with the server's message while the rest commits, named parameters, a statement
//! that does not fit refused at start, connections cut mid-write (through a proxy the test
//! controls) with every row committed in the end, and SIGKILLs of `runnel run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::pg;
use super::sqlite::run;
use crate::support::pipeline;

#[tokio::test]
async fn messages_become_rows_and_a_key_makes_upserts() {
    let Some(db) = pg::database("CREATE TABLE media (url text PRIMARY KEY, owner text NOT NULL, bytes bigint, meta jsonb)").await else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let messages: Vec<Value> = (0..1200)
        .map(|n| json!({"url": format!("/v/{}", n % 1000), "owner": format!("user-{}", n % 7), "size": {"bytes": n}, "tags": ["a", n]}))
        .collect();
    let sink = format!(
        "url = \"{}\"\ntable = \"media\"\ncolumns = {{ url = \".url\", owner = \".owner\", bytes = \".size.bytes\", meta = \".tags\" }}\nkey = [\"url\"]\nmax_messages = 300",
        db.url
    );
    let errors = run(dir.path(), &messages, &sink).await;
    assert!(errors.is_empty(), "{errors:?}");
    let stored = db.client.query("SELECT url, bytes FROM media ORDER BY bytes", &[]).await.expect("rows");
    assert_eq!(stored.len(), 1000, "1,200 messages, 1,000 keys");
    assert_eq!((stored[0].get::<_, String>(0), stored[0].get::<_, i64>(1)), ("/v/200".to_owned(), 200));
    let last = stored.last().expect("rows");
    assert_eq!((last.get::<_, String>(0), last.get::<_, i64>(1)), ("/v/199".to_owned(), 1199));
    let meta: String = db.client.query_one("SELECT meta::text FROM media WHERE url = '/v/5'", &[]).await.expect("a row").get(0);
    assert_eq!(meta, r#"["a", 1005]"#, "a list as jsonb");
}

#[tokio::test]
async fn a_row_the_database_refuses_fails_alone_and_the_rest_commits() {
    let schema = "CREATE TABLE media (url text PRIMARY KEY, owner text NOT NULL, bytes bigint CHECK (bytes >= 0))";
    let Some(db) = pg::database(schema).await else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let messages = [
        json!({"url": "/a", "owner": "ann", "bytes": 1}),
        json!({"url": "/b", "bytes": 2}),
        json!({"url": "/c", "owner": "cy", "bytes": -3}),
        json!({"url": "/d", "owner": "dee", "bytes": "four"}),
        json!({"url": "/e", "owner": "eve", "bytes": 5}),
        json!({"url": "/e", "owner": "eve", "bytes": 6}),
    ];
    let sink = format!("url = \"{}\"\ntable = \"media\"\ncolumns = {{ url = \".url\", owner = \".owner\", bytes = \".bytes\" }}", db.url);
    let errors = run(dir.path(), &messages, &sink).await;
    let stored: Vec<(String, i64)> =
        db.client.query("SELECT url, bytes FROM media ORDER BY url", &[]).await.expect("rows").iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(stored, [("/a".to_owned(), 1), ("/e".to_owned(), 5)]);
    let failed: Vec<(i64, String)> =
        errors.iter().map(|e| (e["origin"]["offset"].as_i64().expect("an offset"), e["error"].as_str().expect("text").to_owned())).collect();
    assert_eq!(failed.len(), 4, "{errors:?}");
    assert!(
        failed[0].0 == 2 && failed[0].1.contains(r#"null value in column "owner" of relation "media" violates not-null constraint"#),
        "{failed:?}"
    );
    assert!(failed[1].0 == 3 && failed[1].1.contains(r#"violates check constraint "media_bytes_check""#), "{failed:?}");
    assert!(failed[2].0 == 4 && failed[2].1.contains(r#""four" does not fit a parameter of type int8"#), "{failed:?}");
    assert!(
        failed[3].0 == 6
            && failed[3].1.contains(r#"duplicate key value violates unique constraint "media_pkey" (23505: Key (url)=(/e) already exists.)"#),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_statement_binds_named_parameters_and_text_stays_text() {
    let Some(db) = pg::database("CREATE TABLE views (video text PRIMARY KEY, n integer NOT NULL, last_user text)").await else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let messages: Vec<Value> = (0..30).map(|n| json!({"video": format!("v{}", n % 3), "user": "a'; DROP TABLE views; --"})).collect();
    let sink = format!(
        "url = \"{}\"\nstatement = \"INSERT INTO views (video, n, last_user) VALUES (:video, 1, :user::text) ON CONFLICT (video) DO UPDATE SET n = views.n + 1, last_user = ':not_a_parameter' || :user\"\nparams = {{ video = \".video\", user = \".user\" }}",
        db.url
    );
    let errors = run(dir.path(), &messages, &sink).await;
    assert!(errors.is_empty(), "{errors:?}");
    let stored: Vec<(String, i32, String)> = db
        .client
        .query("SELECT video, n, last_user FROM views ORDER BY video", &[])
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let user = ":not_a_parameter".to_owned() + "a'; DROP TABLE views; --";
    assert_eq!(stored, [("v0".to_owned(), 10, user.clone()), ("v1".to_owned(), 10, user.clone()), ("v2".to_owned(), 10, user)]);
}

#[tokio::test]
async fn statements_that_do_not_fit_the_database_are_refused_at_start() {
    let Some(db) = pg::database("CREATE TABLE t (a text, amount numeric)").await else { return };
    let base = "[sources.in]\ntype = \"memory\"\n[sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\n";
    let toml = format!("{base}url = \"{}\"\ntable = \"t\"\ncolumns = {{ nope = \".a\" }}\n", db.url);
    let error = pipeline(&toml).start().await.expect_err("does not start").to_string();
    assert!(error.contains("does not prepare") && error.contains(r#"column "nope" of relation "t" does not exist"#), "{error}");
    let toml = format!("{base}url = \"{}\"\ntable = \"t\"\ncolumns = {{ amount = \".a\" }}\n", db.url);
    let error = pipeline(&toml).start().await.expect_err("does not start").to_string();
    assert!(error.contains("type numeric, which runnel does not bind") && error.contains("CAST(:name AS text)::numeric"), "{error}");
}

/// A TCP proxy to PostgreSQL whose connections the test can cut, as a failover or a network
/// fault would.
struct Proxy {
    address: std::net::SocketAddr,
    cut: watch::Sender<u32>,
    /// Connections made through it.
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("an address");
        let (cut, cuts) = watch::channel(0);
        let target = Arc::new(target);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::Relaxed);
                let (target, mut cuts) = (Arc::clone(&target), cuts.clone());
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&*target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { address, cut, accepted }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// Connections cut while the sink writes: it reconnects with backoff, writes again what was not
/// committed, and in the end every message is a row; none was acknowledged before its commit
/// (the run ends with no failure and nothing missing). Writes are counted before the upsert.
#[tokio::test]
async fn connections_cut_mid_write_are_made_again_and_nothing_is_lost() {
    const MESSAGES: i64 = 20_000;
    let Some(db) = pg::database("CREATE TABLE events (id bigint PRIMARY KEY, writes integer NOT NULL)").await else { return };
    let host_port = db.url.split('@').nth(1).and_then(|rest| rest.split('/').next()).expect("host:port").to_owned();
    let proxy = Proxy::start(host_port.clone()).await;
    let url = db.url.replace(&host_port, &proxy.address.to_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = (0..MESSAGES).map(|n| json!({"id": n}).to_string()).collect();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, lines.join("\n") + "\n").expect("writes");
    let toml = format!(
        "[pipeline]\nbatch_size = 100\n[sources.in]\ntype = \"file\"\npath = \"{}\"\n\
         [sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"{url}\"\nmax_messages = 200\nretry_backoff = \"20ms\"\n\
         statement = \"INSERT INTO events (id, writes) VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET writes = events.writes + 1\"\n\
         params = {{ id = \".id\" }}\n\
         [sinks.failed]\ntype = \"memory\"\ninputs = [\"db.errors\"]\n",
        input.display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let failed = runnel::take_output(running.resources(), "failed").expect("failed");
    let rows = || async { db.client.query_one("SELECT count(*) FROM events", &[]).await.expect("a count").get::<_, i64>(0) };
    let cuts = async {
        for share in 1..=3 {
            // The row count is the database's state: polled, as `wait_until` does.
            while rows().await < MESSAGES * share / 4 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            proxy.cut();
        }
    };
    let (errors, result, ()) = tokio::join!(failed.collect_values(), running.wait(), cuts);
    result.expect("runs to the end");
    assert!(errors.is_empty(), "{errors:?}");
    let row = db.client.query_one("SELECT count(*), sum(writes)::bigint FROM events", &[]).await.expect("counts");
    let (stored, writes): (i64, i64) = (row.get(0), row.get(1));
    eprintln!("sql sink on PostgreSQL, 3 connection cuts: {MESSAGES} messages, missing {}, written twice {}", MESSAGES - stored, writes - stored);
    assert_eq!(stored, MESSAGES, "every message is a row");
    assert!(proxy.accepted.load(Ordering::Relaxed) >= 4, "a connection made again after each cut");
}

/// Durability on PostgreSQL: as the SQLite crash test, `runnel run` (a file source with
/// checkpoints into the `sql` sink) is SIGKILLed 3 times while it writes 100,000 messages; after
/// the last run every message is a row, and duplicates (counted before the upsert) are only
/// what came after the last checkpoint of each killed run.
#[test]
fn every_message_is_a_row_after_sigkills_of_runnel() {
    use std::process::{Command, Stdio};

    use crate::support::{runnel_bin, wait_for};

    const MESSAGES: i64 = 100_000;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let Some(db) = runtime.block_on(pg::database("CREATE TABLE events (id bigint PRIMARY KEY, writes integer NOT NULL)")) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = (0..MESSAGES).map(|n| json!({"id": n, "text": "see you at the gate"}).to_string()).collect();
    std::fs::write(dir.path().join("in.ndjson"), lines.join("\n") + "\n").expect("writes");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[sources.in]\ntype = \"file\"\npath = \"in.ndjson\"\ncheckpoint_interval_ms = 50\n\
             [sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"{}\"\n\
             statement = \"INSERT INTO events (id, writes) VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET writes = events.writes + 1\"\n\
             params = {{ id = \".id\" }}\n",
            db.url
        ),
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
    let counts = || -> (i64, i64) {
        runtime.block_on(async {
            let row = db.client.query_one("SELECT count(*), coalesce(sum(writes), 0)::bigint FROM events", &[]).await.expect("counts");
            (row.get(0), row.get(1))
        })
    };
    for kill in 1..=3 {
        let mut runnel = start();
        let mark = MESSAGES * kill / 4;
        wait_for("more rows", 120, || (counts().0 >= mark).then_some(()));
        runnel.kill().expect("SIGKILL");
        runnel.wait().expect("exits");
    }
    let last = start().wait_with_output().expect("runs to the end");
    assert!(last.status.success(), "{last:?}");
    let (stored, writes) = counts();
    let (missing, duplicates) = (MESSAGES - stored, writes - stored);
    eprintln!("sql sink crash test on PostgreSQL: {MESSAGES} messages, 3 SIGKILLs: missing {missing}, duplicates {duplicates}");
    assert_eq!(missing, 0);
    assert!(duplicates < MESSAGES, "a restart resumes after its checkpoint, not from the start: {duplicates} duplicates");
}

/// TLS to PostgreSQL: with `tls` (and the server's certificate as `ca_file`), the sink's and the
/// block's connections are encrypted, as the server itself reports (`pg_stat_ssl`); an URL that
/// asks for TLS without `tls` is refused before start.
#[tokio::test]
async fn with_tls_the_connections_are_encrypted() {
    let Some(db) = pg::database("CREATE TABLE seen (id bigint PRIMARY KEY, ssl boolean NOT NULL)").await else { return };
    let Some(ca) = std::env::var_os("RUNNEL_POSTGRES_CA") else {
        assert!(!crate::support::peers_required(), "RUNNEL_POSTGRES_CA is not set; scripts/test.sh makes the server's certificate");
        return;
    };
    let url = format!("{}?sslmode=require", db.url);
    let tls = format!("tls = {{ ca_file = \"{}\" }}", std::path::Path::new(&ca).display());
    let dir = tempfile::tempdir().expect("tempdir");
    let messages: Vec<Value> = (0..20).map(|n| json!({"id": n})).collect();
    let sink = format!(
        "url = \"{url}\"\n{tls}\nstatement = \"INSERT INTO seen (id, ssl) VALUES (:id, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()))\"\nparams = {{ id = \".id\" }}"
    );
    let errors = run(dir.path(), &messages, &sink).await;
    assert!(errors.is_empty(), "{errors:?}");
    let row = db.client.query_one("SELECT count(*), bool_and(ssl) FROM seen", &[]).await.expect("counts");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, bool>(1)), (20, true), "every row written over TLS");
    let toml = format!(
        "[sources.in]\ntype = \"memory\"\n[sinks.db]\ntype = \"sql\"\ninputs = [\"in\"]\nurl = \"{url}\"\ntable = \"seen\"\ncolumns = {{ id = \".id\" }}\n"
    );
    let error = runnel::Pipeline::parse(&toml, None, &runnel::registry(), |_| None).expect_err("invalid").to_string();
    assert!(error.contains("`url` asks for TLS (`sslmode`): add `tls = {}`"), "{error}");
}
