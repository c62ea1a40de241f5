//! Per-message cost of the jq programs the built-in blocks run, on a ~180-byte chat event: each
//! on the native fast path and, for comparison, on jaq (`JqProgram::without_fast_path`).
//!
//! - `filter`: `.kind == "chat"` through `JqProgram::run_bool`, next to the test written by hand;
//! - `map`: `.len = (.text | length)` through `JqProgram::run` (on a copy) and
//!   `JqProgram::run_in_place`, next to the same change written by hand;
//! - `map/words`: a looping program on jaq with and without the jq budget's checkpoints;
//! - `route`: three conditions through `run_bool`, as a `route` block with three ports runs them;
//! - `window`: the event time `.ts` and the key `.room` through `run_first`;
//! - `process`: whole `filter`, `map` and `window` blocks on batches of 128 fresh messages;
//! - `lambda`: the `lambda` block on 20,000 Kinesis records with a handler that answers at once,
//!   next to the same batching by hand;
//! - `state`: `window`, `dedupe` and `throttle` with 1,000, 100,000 and 1,000,000 distinct keys,
//!   whose time per message should not grow with the keys held.
//!
//! `cargo bench --bench blocks` (criterion; `cargo bench --bench blocks -- map` picks a group).

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod common;
mod filter;
mod lambda;
mod map;
mod process;
mod route;
mod state;
mod window;

use criterion::Criterion;

fn main() {
    // `cargo test --all-targets` runs this without `--bench`; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("blocks: run with `cargo bench --bench blocks`");
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    filter::bench(&mut criterion);
    map::bench(&mut criterion);
    map::bench_budget(&mut criterion);
    route::bench(&mut criterion);
    window::bench(&mut criterion);
    process::bench(&mut criterion);
    state::bench(&mut criterion);
    lambda::bench(&mut criterion);
    criterion.final_summary();
}
