//! Stateful blocks as their state grows: n messages with n distinct keys through a fresh block,
//! for n = 1,000, 100,000 and 1,000,000. The time per message should not grow with n.
//!
//! - `state/window`: a tumbling window with a count per key; each message opens a window, and all
//!   are emitted at the end (as at shutdown), so a run is open, count and emit;
//! - `state/dedupe`: every key is new, so each is remembered;
//! - `state/throttle`: every key is new, so each is tracked.
//!
//! Building the messages (1,024 at a time) and dropping what the block emitted (after each
//! 1,024 messages, and after each call to `on_close`) is outside the measurement.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use runnel::{Emitter, FunctionBlock, Message};
use runnel_blocks::dedupe::Dedupe;
use runnel_blocks::throttle::Throttle;
use runnel_blocks::window::Window;
use runnel_blocks::{DedupeConfig, ThrottleConfig, WindowConfig};
use serde_json::json;

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// Messages built per step, outside the measurement.
const CHUNK: usize = 1_024;

/// The time `block` takes for `n` messages (`make` builds message `i`), then to close: its
/// `on_close`, called again while it is `flushing`, as the engine does.
fn run(mut block: impl FunctionBlock, n: usize, make: impl Fn(usize) -> Message) -> Duration {
    let mut out = Emitter::new(2);
    let mut spent = Duration::ZERO;
    for first in (0..n).step_by(CHUNK) {
        let messages: Vec<Message> = (first..n.min(first + CHUNK)).map(&make).collect();
        let started = Instant::now();
        for message in messages {
            block.process(message, &mut out);
        }
        spent += started.elapsed();
        drop(out.take_port(0));
    }
    loop {
        let started = Instant::now();
        block.on_close(&mut out);
        spent += started.elapsed();
        drop(out.take_port(0));
        if !block.flushing() {
            break;
        }
    }
    spent
}

pub(crate) fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("state");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let window: WindowConfig =
            toml::from_str(&format!("kind = \"tumbling\"\nsize = \"1h\"\ntime_field = \".ts\"\ngroup_by = \".room\"\nmax_open_windows = {n}"))
                .expect("valid");
        let keyed = |field: &'static str| move |i: usize| Message::new(json!({ "ts": 0, field: format!("key-{i}") }));
        group.bench_function(BenchmarkId::new("window", n), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(Window::new(window.clone()), n, keyed("room"))).sum())
        });
        let dedupe: DedupeConfig = toml::from_str(&format!("key = \".id\"\nttl = \"1h\"\nmax_keys = {n}")).expect("valid");
        group.bench_function(BenchmarkId::new("dedupe", n), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(Dedupe::new(dedupe.clone()), n, keyed("id"))).sum())
        });
        let throttle: ThrottleConfig = toml::from_str(&format!("limit = 1\ninterval = \"1h\"\nkey = \".user\"\nmax_keys = {n}")).expect("valid");
        group.bench_function(BenchmarkId::new("throttle", n), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(Throttle::new(throttle.clone()), n, keyed("user"))).sum())
        });
    }
    group.finish();
}
