//! A PostgreSQL database of its own for a test, on the cluster at `RUNNEL_POSTGRES_URL`.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls};

use crate::support::peers_required;

/// The cluster's URL (`RUNNEL_POSTGRES_URL`), or `None` (and a note) outside CI.
pub(crate) fn cluster() -> Option<String> {
    let found = std::env::var("RUNNEL_POSTGRES_URL").ok();
    assert!(found.is_some() || !peers_required(), "RUNNEL_POSTGRES_URL is not set; scripts/test.sh starts PostgreSQL and sets it");
    if found.is_none() {
        eprintln!("skipping: no PostgreSQL (RUNNEL_POSTGRES_URL; run scripts/test.sh)");
    }
    found
}

/// A fresh database with `schema`, and a client of it.
pub(crate) struct Database {
    /// Its URL, for a pipeline.
    pub(crate) url: String,
    /// A connection for the test's own reads.
    pub(crate) client: Client,
}

/// Connects to `url`; the connection runs on the test's runtime.
pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Makes a database with `schema`, or `None` when there is no cluster (outside CI).
pub(crate) async fn database(schema: &str) -> Option<Database> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let cluster = cluster()?;
    let name = format!("runnel_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let admin = connect(&cluster).await;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.expect("no database left from an earlier run");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("a database");
    let (base, _) = cluster.rsplit_once('/').expect("a URL with a database");
    let url = format!("{base}/{name}");
    let client = connect(&url).await;
    client.batch_execute(schema).await.expect("the schema");
    Some(Database { url, client })
}
