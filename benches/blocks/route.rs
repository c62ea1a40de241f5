//! `route`: every port's condition on each message (`mode = "all"`; the worst case of "first").

use std::hint::black_box;

use criterion::Criterion;

use crate::common::{both_ways, chat_event};

const CONDITIONS: [&str; 3] = [r#".kind == "join""#, r#".kind == "leave""#, r#".kind == "chat" and (.text | length) > 0"#];

pub(crate) fn bench(c: &mut Criterion) {
    let event = chat_event();
    let programs: Vec<_> = CONDITIONS.iter().map(|source| both_ways(source)).collect();
    let mut group = c.benchmark_group("route/3 conditions");
    for (i, path) in ["fast", "jaq"].into_iter().enumerate() {
        let conditions: Vec<_> = programs.iter().map(|ways| &ways[i].1).collect();
        group.bench_function(path, |b| b.iter(|| conditions.iter().filter(|c| c.run_bool(black_box(&event)).expect("runs")).count()));
    }
    group.finish();
}
