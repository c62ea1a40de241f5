//! `map`: one new value per message, on a copy (`run`) or in place (`run_in_place`, which the
//! `map` block uses for single-output programs), next to the same change written by hand.

use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use serde_json::{Value, json};

use runnel_blocks::JqProgram;

use crate::common::{both_ways, chat_event};

pub(crate) fn bench(c: &mut Criterion) {
    let event = chat_event();
    let mut group = c.benchmark_group("map/.len = (.text | length)");
    let [(_, fast), (_, jaq)] = both_ways(".len = (.text | length)");
    group.bench_function("fast, copy", |b| b.iter(|| fast.run(black_box(&event)).expect("runs")));
    group.bench_function("jaq, copy", |b| b.iter(|| jaq.run(black_box(&event)).expect("runs")));
    group.bench_function("by hand, copy", |b| b.iter(|| by_hand(black_box(&event).clone())));
    // In place: each run gets its own copy of the event, made (and dropped) outside the timing.
    let fresh = || event.clone();
    group.bench_function("fast, in place", |b| {
        b.iter_batched(fresh, |mut value| (fast.run_in_place(&mut value).expect("runs"), value), BatchSize::SmallInput)
    });
    group.bench_function("jaq, in place", |b| {
        b.iter_batched(fresh, |mut value| (jaq.run_in_place(&mut value).expect("runs"), value), BatchSize::SmallInput)
    });
    group.bench_function("by hand, in place", |b| b.iter_batched(fresh, by_hand, BatchSize::SmallInput));
    group.finish();
}

/// The cost of the jq budget's checkpoints (`jq/budget.rs`) on a program that loops and calls
/// definitions: `splits`, `select`, `ascii_downcase` and `join` on the event's words.
pub(crate) fn bench_budget(c: &mut Criterion) {
    let event = chat_event();
    let source = r#"[.text | splits(" ") | select(length > 3) | ascii_downcase] | join(",")"#;
    let mut group = c.benchmark_group("map/words (jaq)");
    let budgeted = JqProgram::new(source).expect("compiles");
    let unbudgeted = JqProgram::without_budget(source).expect("compiles");
    assert_eq!(budgeted.run(&event).expect("runs"), unbudgeted.run(&event).expect("runs"));
    group.bench_function("with budget", |b| b.iter(|| budgeted.run(black_box(&event)).expect("runs")));
    group.bench_function("without budget", |b| b.iter(|| unbudgeted.run(black_box(&event)).expect("runs")));
    group.finish();
}

/// What the hand-written baseline of the throughput bench does.
fn by_hand(mut value: Value) -> Value {
    let len = value["text"].as_str().map_or(0, |t| t.chars().count());
    value["len"] = json!(len);
    value
}
