//! Whole blocks, as a pipeline runs them: `FunctionBlock::process` on a batch of freshly parsed
//! chat events (parsing is outside the measurement), emitting into an `Emitter`. Next to the
//! jq-only groups, this includes the block's own work and reading messages that are not hot in
//! cache, as in a pipeline where a batch was parsed before the block sees it.

use criterion::{BatchSize, Criterion, Throughput};
use runnel::{Emitter, FunctionBlock, Message};
use runnel_blocks::filter::Filter;
use runnel_blocks::map::Map;
use runnel_blocks::window::Window;
use runnel_blocks::{JqProgram, WindowConfig};

/// Messages per measured batch, as in a pipeline's default batch size.
const BATCH: usize = 128;

/// The next batch of events; ids and times go on from where the last batch stopped, so a
/// window keeps seeing new events rather than late ones.
fn events(next: &mut u64) -> Vec<Message> {
    let start = *next;
    *next += BATCH as u64;
    (start..*next)
        .map(|i| {
            let text = format!(
                r#"{{"id":{i},"kind":"{}","room":"room-{}","user":"user-{}","text":"see you at the gate noon lunch is ready coffee deploy tonight","ts":{}}}"#,
                if i % 5 == 0 { "join" } else { "chat" },
                i % 16,
                i * 7 % 500,
                1_763_798_400_000 + i * 10
            );
            Message::new(serde_json::from_str(&text).expect("valid JSON"))
        })
        .collect()
}

/// Runs `batch` through `block` and returns what it emitted, for criterion to drop outside the
/// measurement (messages the block drops itself are freed inside it, as in a pipeline).
fn run(block: &mut dyn FunctionBlock, batch: Vec<Message>, out: &mut Emitter) -> Vec<Message> {
    for message in batch {
        block.process(message, out);
    }
    out.take_port(0)
}

pub(crate) fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("process");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut filter = Filter::new(JqProgram::new(r#".kind == "chat""#).expect("valid"));
    let mut map = Map::new(JqProgram::new(".len = (.text | length)").expect("valid"));
    let config: WindowConfig =
        toml::from_str("kind = \"tumbling\"\nsize = \"10s\"\ntime_field = \".ts\"\ngroup_by = \".room\"").expect("valid config");
    let mut window = Window::new(config);
    let mut out = Emitter::new(2);
    let mut next = 0;
    group.bench_function("filter", |b| b.iter_batched(|| events(&mut next), |batch| run(&mut filter, batch, &mut out), BatchSize::SmallInput));
    group.bench_function("map", |b| b.iter_batched(|| events(&mut next), |batch| run(&mut map, batch, &mut out), BatchSize::SmallInput));
    group.bench_function("window", |b| b.iter_batched(|| events(&mut next), |batch| run(&mut window, batch, &mut out), BatchSize::SmallInput));
    group.finish();
}
