//! `filter`: one condition per message.

use std::hint::black_box;

use criterion::Criterion;

use crate::common::{both_ways, chat_event};

pub(crate) fn bench(c: &mut Criterion) {
    let event = chat_event();
    let mut group = c.benchmark_group("filter/.kind == \"chat\"");
    for (path, program) in both_ways(r#".kind == "chat""#) {
        group.bench_function(path, |b| b.iter(|| program.run_bool(black_box(&event)).expect("runs")));
    }
    group.bench_function("by hand", |b| b.iter(|| black_box(&event)["kind"] == "chat"));
    group.finish();
}
