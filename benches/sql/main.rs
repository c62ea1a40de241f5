//! The `sql` sink's and block's throughput. An NDJSON file of chat events (~180 bytes each):
//!
//! - **sink**: stored as rows `(id, room, user, text, ts)` through runnel (`file` source → `sql`
//!   sink) and through a hand-written loop with the same crate, into SQLite ([`sqlite`]) and into
//!   PostgreSQL ([`postgres`], when `RUNNEL_POSTGRES_URL` names a database; `scripts/test.sh`
//!   starts one). Each run writes a fresh table.
//! - **lookup**: each event enriched with its user's row ([`lookup`]), without and with a cache.
//!
//! Prints messages per second, best of 3, and the ratios.
//!
//! `cargo bench --bench sql` (`RUNNEL_BENCH_MESSAGES`, default 200,000).

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "../throughput/input.rs"]
mod input;
mod lookup;
mod postgres;
mod sqlite;

use std::time::Duration;

/// Rows per transaction, in the sink and in the loops.
const BATCH: usize = 500;

fn best_of_3(mut run: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| run()).min().unwrap_or(Duration::MAX)
}

fn per_second(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
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
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");

    let db = dir.path().join("events.db");
    let hand = best_of_3(|| {
        let took = sqlite::baseline_run(&input, &db);
        assert_eq!(sqlite::count(&db), messages, "the baseline stored every row");
        took
    });
    let engine = best_of_3(|| {
        let took = sqlite::runnel_run(&input, &db, &runtime);
        assert_eq!(sqlite::count(&db), messages, "runnel stored every row");
        took
    });
    let (hand, engine) = (per_second(messages, hand), per_second(messages, engine));
    println!("sql sink → SQLite ({messages} chat events, {BATCH} rows per transaction, WAL, synchronous = FULL; best of 3, rows per second):");
    println!("  hand-written rusqlite loop: {hand:>10.0}");
    println!("  runnel sql sink:            {engine:>10.0}  ({:.2}x)", engine / hand);

    let url = std::env::var("RUNNEL_POSTGRES_URL").ok();
    if let Some(url) = &url {
        let hand = best_of_3(|| {
            let took = postgres::baseline_run(&input, url, &runtime);
            assert_eq!(postgres::count(url, &runtime), messages, "the baseline stored every row");
            took
        });
        let engine = best_of_3(|| {
            let took = postgres::runnel_run(&input, url, &runtime);
            assert_eq!(postgres::count(url, &runtime), messages, "runnel stored every row");
            took
        });
        let (hand, engine) = (per_second(messages, hand), per_second(messages, engine));
        println!("sql sink → PostgreSQL ({messages} chat events, {BATCH} rows per transaction, pipelined inserts; best of 3, rows per second):");
        println!("  hand-written tokio-postgres loop: {hand:>10.0}");
        println!("  runnel sql sink:                  {engine:>10.0}  ({:.2}x)", engine / hand);
    } else {
        println!("sql sink → PostgreSQL: skipped (set RUNNEL_POSTGRES_URL; scripts/test.sh starts PostgreSQL)");
    }

    let out = dir.path().join("out.ndjson");
    let users = dir.path().join("users.db");
    let _ = std::fs::remove_file(&users);
    rusqlite::Connection::open(&users).expect("opens").execute_batch(&format!("{}{}", lookup::USERS, lookup::user_rows())).expect("users");
    let sqlite_url = format!("sqlite:{}", users.display());
    println!("sql block lookups ({messages} events, 500 users; best of 3, events per second):");
    for cache in [false, true] {
        let took = best_of_3(|| lookup::runnel_run(&input, &out, &sqlite_url, cache, &runtime));
        println!("  SQLite, {:<14} runnel sql block: {:>10.0}", if cache { "with cache:" } else { "without cache:" }, per_second(messages, took));
    }
    if let Some(url) = &url {
        runtime.block_on(async {
            postgres::connect(url).await.batch_execute(&format!("{}{}", lookup::USERS, lookup::user_rows())).await.expect("users")
        });
        let hand = per_second(messages, best_of_3(|| lookup::baseline_run(&input, &out, url, &runtime)));
        println!("  PostgreSQL, hand-written pipelined loop:      {hand:>10.0}");
        for cache in [false, true] {
            let engine = per_second(messages, best_of_3(|| lookup::runnel_run(&input, &out, url, cache, &runtime)));
            println!(
                "  PostgreSQL, {:<14} runnel sql block: {engine:>10.0}  ({:.2}x the loop)",
                if cache { "with cache:" } else { "without cache:" },
                engine / hand
            );
        }
    }
}
