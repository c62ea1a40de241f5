use runnel_engine::{AckStatus, Emitter, FunctionBlock, Message};
use serde_json::{Value, json};

use super::{Window, WindowConfig};
use crate::test_support::{held_per_entry, run_block};

fn window(text: &str) -> Window {
    let config: WindowConfig = toml::from_str(text).unwrap();
    assert_eq!(config.problems(), Vec::<String>::new());
    Window::new(config)
}

/// Feeds `(ts, room)` events; returns (emitted, late) values, acknowledging everything.
fn feed(block: &mut Window, events: &[(i64, &str)], close: bool) -> (Vec<Value>, Vec<Value>) {
    let mut out = Emitter::new(2);
    for (ts, room) in events {
        block.process(Message::new(json!({ "ts": ts, "room": room, "len": 2 })), &mut out);
    }
    if close {
        block.on_close(&mut out);
    }
    let take = |out: &mut Emitter, port| out.take_port(port).into_iter().map(Message::into_value).collect();
    (take(&mut out, 0), take(&mut out, 1))
}

const TUMBLING: &str = r#"kind = "tumbling"
size = "10s"
time_field = ".ts"
group_by = ".room"
[aggregates]
n = { op = "count" }
chars = { op = "sum", field = ".len" }"#;

#[test]
fn tumbling_windows_count_per_key_and_close_on_the_watermark() {
    let mut block = window(TUMBLING);
    let (emitted, late) = feed(&mut block, &[(1_000, "a"), (2_000, "b"), (9_999, "a"), (10_000, "a")], false);
    assert_eq!(
        emitted,
        vec![
            json!({"window": {"start": 0, "end": 10_000}, "key": "a", "n": 2, "chars": 4}),
            json!({"window": {"start": 0, "end": 10_000}, "key": "b", "n": 1, "chars": 2}),
        ]
    );
    assert!(late.is_empty());
    let (emitted, _) = feed(&mut block, &[], true);
    assert_eq!(emitted, vec![json!({"window": {"start": 10_000, "end": 20_000}, "key": "a", "n": 1, "chars": 2})]);
}

#[test]
fn windows_ending_together_are_emitted_in_the_order_they_opened_with_their_keys_as_they_came() {
    let mut block = window("kind = \"tumbling\"\nsize = \"10s\"\ntime_field = \".ts\"\ngroup_by = \".room\"");
    let mut out = Emitter::new(2);
    for room in [json!("b"), json!(7), json!({"x": [1]}), json!("a"), json!("7")] {
        block.process(Message::new(json!({ "ts": 1_000, "room": room })), &mut out);
    }
    block.on_close(&mut out);
    let emitted: Vec<(Value, Value)> = out.take_port(0).into_iter().map(|m| (m.value()["key"].clone(), m.value()["count"].clone())).collect();
    // `7` and `"7"` are one key (its text), shown as it first came.
    assert_eq!(emitted, vec![(json!("b"), json!(1)), (json!(7), json!(2)), (json!({"x": [1]}), json!(1)), (json!("a"), json!(1))]);
}

#[test]
fn late_messages_go_to_the_late_port_unless_within_the_allowed_lateness() {
    let mut block = window(&TUMBLING.replace("group_by", "allowed_lateness = \"3s\"\ngroup_by"));
    let (emitted, late) = feed(&mut block, &[(1_000, "a"), (12_000, "a"), (8_000, "a")], false);
    assert!(emitted.is_empty(), "the watermark is 9s: nothing closed yet: {emitted:?}");
    assert!(late.is_empty());
    let (emitted, late) = feed(&mut block, &[(14_000, "a"), (9_000, "a")], false);
    assert_eq!(emitted, vec![json!({"window": {"start": 0, "end": 10_000}, "key": "a", "n": 2, "chars": 4})]);
    assert_eq!(late, vec![json!({"ts": 9_000, "room": "a", "len": 2})]);
}

#[test]
fn sliding_windows_count_a_message_in_every_window_holding_it() {
    let mut block = window("kind = \"sliding\"\nsize = \"10s\"\nslide = \"5s\"\ntime_field = \".ts\"");
    let (emitted, _) = feed(&mut block, &[(7_000, "a"), (12_000, "a")], true);
    let counts: Vec<(i64, i64)> = emitted.iter().map(|v| (v["window"]["start"].as_i64().unwrap(), v["count"].as_i64().unwrap())).collect();
    assert_eq!(counts, vec![(0, 1), (5_000, 2), (10_000, 1)]);
}

#[test]
fn sessions_extend_with_activity_and_merge_when_bridged() {
    let session = "kind = \"session\"\ngap = \"5s\"\ntime_field = \".ts\"\ngroup_by = \".room\"";
    // Without lateness, 11s arrives after the watermark (20s) passed its session's end (16s).
    let (_, late) = feed(&mut window(session), &[(20_000, "a"), (11_000, "a")], false);
    assert_eq!(late.len(), 1);
    let mut block = window(&format!("{session}\nallowed_lateness = \"10s\""));
    let (emitted, _) = feed(&mut block, &[(0, "a"), (3_000, "a"), (20_000, "a"), (11_000, "a"), (16_000, "a")], false);
    assert_eq!(emitted, vec![json!({"window": {"start": 0, "end": 8_000}, "key": "a", "count": 2})]);
    let (emitted, _) = feed(&mut block, &[], true);
    assert_eq!(emitted, vec![json!({"window": {"start": 11_000, "end": 25_000}, "key": "a", "count": 3})]);
}

#[tokio::test(start_paused = true)]
async fn processing_time_windows_close_on_the_clock() {
    let mut block = window("kind = \"tumbling\"\nsize = \"1s\"\ntime = \"processing\"");
    let mut out = Emitter::new(2);
    block.process(Message::new(json!({})), &mut out);
    block.process(Message::new(json!({})), &mut out);
    let deadline = block.deadline().expect("a window is open");
    tokio::time::sleep_until(deadline).await;
    block.on_deadline(tokio::time::Instant::now(), &mut out);
    let emitted: Vec<Value> = out.take_port(0).into_iter().map(Message::into_value).collect();
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0]["count"], 2);
    assert_eq!(block.deadline(), None);
}

#[test]
fn the_open_window_cap_emits_the_oldest_early() {
    let mut block = window("kind = \"tumbling\"\nsize = \"1h\"\ntime_field = \".ts\"\ngroup_by = \".room\"\nmax_open_windows = 2");
    let (emitted, _) = feed(&mut block, &[(0, "a"), (0, "b"), (0, "c")], false);
    assert_eq!(emitted.len(), 1, "one window evicted to stay at 2: {emitted:?}");
    assert_eq!(block.state_size(), 2);
}

#[test]
fn a_sliding_window_may_put_a_message_in_at_most_a_thousand_windows() {
    let problems = |size: &str, slide: &str| {
        toml::from_str::<WindowConfig>(&format!("kind = \"sliding\"\nsize = \"{size}\"\nslide = \"{slide}\"")).unwrap().problems()
    };
    assert_eq!(problems("1000s", "1s"), Vec::<String>::new());
    assert_eq!(
        problems("1000001ms", "1s"),
        vec![
            "`slide` = 1s with `size` = 16m 40s 1ms puts each message in 1001 windows (size / slide), more than the 1000 a message may be in: \
         make `slide` at least 1s 1ms"
        ]
    );
    let problems = problems("365days", "1ms");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("puts each message in 31536000000 windows (size / slide), more than the 1000"), "{problems:?}");
}

#[test]
fn bad_configurations_are_explained() {
    let config: WindowConfig = toml::from_str("kind = \"sliding\"\nsize = \"1s\"\nslide = \"2s\"\ngap = \"1s\"").unwrap();
    assert_eq!(config.problems().len(), 2, "{:?}", config.problems());
    let config: WindowConfig = toml::from_str("kind = \"session\"").unwrap();
    assert_eq!(config.problems(), vec!["a session window needs a `gap` longer than 0"]);
}

#[tokio::test]
async fn every_aggregated_message_is_acknowledged_once_its_window_is_emitted() {
    let config: WindowConfig = toml::from_str(TUMBLING).unwrap();
    let inputs = vec![json!({"ts": 1, "room": "a", "len": 1}), json!({"ts": 2, "room": "a", "len": "x"}), json!({"ts": 3, "room": "b", "len": 1})];
    let outcome = run_block(config, inputs).await;
    assert_eq!(outcome.out.len(), 2);
    assert_eq!(outcome.errors.len(), 1);
    assert!(outcome.errors[0]["error"].as_str().unwrap().contains("aggregate `chars`: `.len` is \"x\", not a number"));
    assert_eq!(outcome.acks, vec![AckStatus::Delivered; 3]);
}

/// 100,000 keys (`room-0` .. `room-99999`), one message each, each opening one tumbling window
/// with a count: the bytes held per open window, including its key.
#[test]
fn an_open_window_with_a_count_holds_under_200_bytes() {
    const KEYS: usize = 100_000;
    let mut block = window(&format!("kind = \"tumbling\"\nsize = \"1h\"\ntime_field = \".ts\"\ngroup_by = \".room\"\nmax_open_windows = {KEYS}"));
    let mut out = Emitter::new(2);
    let per_window = held_per_entry(KEYS, || {
        for i in 0..KEYS {
            block.process(Message::new(json!({ "ts": 0, "room": format!("room-{i}") })), &mut out);
        }
    });
    assert_eq!(block.state_size(), KEYS);
    assert!(out.take_port(0).is_empty());
    eprintln!("window: {per_window:.1} bytes per open window");
    assert!(per_window < 200.0, "{per_window:.1} bytes per open window");
}

/// Opens one window per key `k0` .. `k{keys - 1}` at time `ts`.
fn open_keys(block: &mut Window, keys: usize, ts: i64, out: &mut Emitter) {
    for i in 0..keys {
        block.process(Message::new(json!({ "ts": ts, "room": format!("k{i}") })), out);
    }
}

fn keys_of(out: &mut Emitter) -> Vec<String> {
    out.take_port(0).iter().map(|m| m.value()["key"].as_str().unwrap_or("?").to_owned()).collect()
}

#[test]
fn many_windows_due_at_once_are_emitted_a_part_at_a_time_in_order() {
    let mut block = window("kind = \"tumbling\"\nsize = \"10s\"\ntime_field = \".ts\"\ngroup_by = \".room\"");
    let mut out = Emitter::new(2);
    open_keys(&mut block, 3_000, 0, &mut out);
    // The watermark passes their end: a part comes out with the message, the rest on deadlines
    // that are due at once.
    block.process(Message::new(json!({ "ts": 10_000, "room": "next" })), &mut out);
    let mut parts = vec![keys_of(&mut out)];
    while let Some(deadline) = block.deadline() {
        assert!(deadline <= tokio::time::Instant::now());
        block.on_deadline(deadline, &mut out);
        parts.push(keys_of(&mut out));
    }
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [1_024, 1_024, 952]);
    assert_eq!(parts.concat(), (0..3_000).map(|i| format!("k{i}")).collect::<Vec<_>>());
    assert_eq!(block.state_size(), 1, "the window of `next`");
}

#[test]
fn the_end_of_input_flushes_a_part_at_a_time() {
    let mut block = window("kind = \"tumbling\"\nsize = \"10s\"\ntime_field = \".ts\"\ngroup_by = \".room\"");
    let mut out = Emitter::new(2);
    open_keys(&mut block, 2_000, 0, &mut out);
    let mut parts = Vec::new();
    loop {
        block.on_close(&mut out);
        parts.push(keys_of(&mut out).len());
        if !block.flushing() {
            break;
        }
    }
    assert_eq!(parts, [1_024, 976]);
}

#[test]
fn a_due_session_not_yet_emitted_takes_no_more_messages() {
    let mut block = window("kind = \"session\"\ngap = \"5s\"\ntime_field = \".ts\"\ngroup_by = \".room\"");
    let mut out = Emitter::new(2);
    open_keys(&mut block, 1_100, 0, &mut out);
    // The watermark reaches the sessions' end (5s): 1,024 come out, 76 are due but wait.
    block.process(Message::new(json!({ "ts": 5_000, "room": "next" })), &mut out);
    assert_eq!(out.take_port(0).len(), 1_024);
    // 4.5s is not late (its session would end at 9.5s) but k1099's session [0, 5s] is closed.
    block.process(Message::new(json!({ "ts": 4_500, "room": "k1099" })), &mut out);
    block.on_close(&mut out);
    while block.flushing() {
        block.on_close(&mut out);
    }
    let k1099: Vec<Value> = out.take_port(0).into_iter().map(Message::into_value).filter(|v| v["key"] == "k1099").collect();
    assert_eq!(
        k1099,
        vec![
            json!({"window": {"start": 0, "end": 5_000}, "key": "k1099", "count": 1}),
            json!({"window": {"start": 4_500, "end": 9_500}, "key": "k1099", "count": 1}),
        ]
    );
}

#[tokio::test]
async fn in_a_pipeline_every_window_of_a_large_flush_arrives_acknowledged() {
    let config: WindowConfig = toml::from_str("kind = \"tumbling\"\nsize = \"10s\"\ntime_field = \".ts\"\ngroup_by = \".room\"").unwrap();
    let inputs = (0..3_000).map(|i| json!({ "ts": 0, "room": format!("k{i}") })).collect();
    let outcome = run_block(config, inputs).await;
    assert_eq!(outcome.out.len(), 3_000);
    assert_eq!(outcome.acks, vec![AckStatus::Delivered; 3_000]);
}
