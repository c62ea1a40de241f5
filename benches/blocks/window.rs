//! `window`: the event time and the group key of each message.

use std::hint::black_box;

use criterion::Criterion;

use crate::common::{both_ways, chat_event};

pub(crate) fn bench(c: &mut Criterion) {
    let event = chat_event();
    let mut group = c.benchmark_group("window/.ts and .room");
    let [time, key] = [both_ways(".ts"), both_ways(".room")];
    for ((path, time), (_, key)) in time.into_iter().zip(key) {
        group.bench_function(path, |b| {
            b.iter(|| {
                let at = time.run_first(black_box(&event)).expect("runs");
                let group = key.run_first(black_box(&event)).expect("runs");
                (at, group)
            })
        });
    }
    group.finish();
}
