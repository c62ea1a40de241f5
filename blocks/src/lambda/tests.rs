//! The `lambda` block against Lambda's compatibility tests 8–14 (§7 of the semantics notes):
//! a pipeline of a scripted source (each message tracked for acknowledgement), the block, and
//! sinks on every port; handlers written in Rust record what they were invoked with.

mod harness;

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use runnel_engine::AckStatus::{Abandoned, Delivered, Dropped};
use serde_json::{Value, json};

use super::*;
use harness::{Recorder, Step, record, records, run, seq, wall_ms};
use runnel_engine::BlockConfig;

fn config(text: &str, handler: HandlerConfig) -> LambdaConfig {
    let mut text = text.to_owned();
    text.push_str("\nhandler = { type = \"map\", program = \"null\" }\n");
    let mut config: LambdaConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(config.validate(), Vec::<String>::new());
    config.handler = handler;
    config
}

fn sizes(calls: &[Value]) -> Vec<usize> {
    calls.iter().map(|event| event["Records"].as_array().map_or(0, Vec::len)).collect()
}

fn sequences(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v["kinesis"]["sequenceNumber"].as_str().unwrap_or_default().to_owned()).collect()
}

/// §7 test 8: the lowest failed sequence number is where the next invocation starts.
#[tokio::test(start_paused = true)]
async fn a_partial_batch_response_retries_from_the_lowest_failed_record() {
    let handler = Recorder::new(|event, call| match call {
        0 => Ok(json!({"batchItemFailures": [{"itemIdentifier": event["Records"][4]["kinesis"]["sequenceNumber"]},
                                             {"itemIdentifier": event["Records"][2]["kinesis"]["sequenceNumber"]}]})),
        _ => Ok(json!({"batchItemFailures": []})),
    });
    let inputs = records(0, 0..5, |_| "k".into());
    let outcome = run(config("report_batch_item_failures = true", handler.config()), vec![Step::Send(inputs.clone())]).await;
    let calls = handler.calls();
    assert_eq!(sequences(calls[0]["Records"].as_array().unwrap()), sequences(&inputs));
    assert_eq!(sequences(calls[1]["Records"].as_array().unwrap()), sequences(&inputs[2..]), "the retry starts at the 3rd record");
    assert_eq!(calls.len(), 2);
    assert_eq!(sequences(&outcome.port("out")), sequences(&inputs), "each record goes out once, in order");
    assert_eq!(outcome.acks, vec![Delivered; 5]);
}

/// §7 test 8: answers that fail the whole batch, and answers that are a complete success.
#[tokio::test(start_paused = true)]
async fn partial_batch_responses_that_fail_or_succeed_the_whole_batch() {
    let whole_failures = [
        json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
        json!({"batchItemFailures": [{"itemIdentifier": null}]}),
        json!({"batchItemFailures": [{"itemIdentifier": "12345"}]}),
        json!({"batchItemFailures": [{"itemId": seq(1)}]}),
        json!({"batchItemFailures": "all"}),
        json!("ok"),
    ];
    for answer in whole_failures {
        let first = answer.clone();
        let handler = Recorder::new(move |_, call| Ok(if call == 0 { first.clone() } else { json!({}) }));
        let outcome = run(config("report_batch_item_failures = true", handler.config()), vec![Step::Send(records(0, 0..3, |_| "k".into()))]).await;
        assert_eq!(sizes(&handler.calls()), [3, 3], "{answer} retries the whole batch");
        assert_eq!(outcome.port("out").len(), 3);
    }
    for answer in [json!({}), Value::Null, json!({"batchItemFailures": []}), json!({"batchItemFailures": null})] {
        let reply = answer.clone();
        let handler = Recorder::new(move |_, _| Ok(reply.clone()));
        let outcome = run(config("report_batch_item_failures = true", handler.config()), vec![Step::Send(records(0, 0..3, |_| "k".into()))]).await;
        assert_eq!(sizes(&handler.calls()), [3], "{answer} is a complete success");
        assert_eq!(outcome.acks, vec![Delivered; 3]);
    }
    // Without report_batch_item_failures the answer is not read.
    let handler = Recorder::new(|_, _| Ok(json!({"batchItemFailures": [{"itemIdentifier": ""}]})));
    run(config("", handler.config()), vec![Step::Send(records(0, 0..3, |_| "k".into()))]).await;
    assert_eq!(sizes(&handler.calls()), [3]);
}

/// §7 test 9: one poison record among 64, bisect on: 64, 32, ..., 1, and then the single record
/// still gets all its retries (splits are not retries).
#[tokio::test(start_paused = true)]
async fn bisect_halves_down_to_the_poison_record_without_using_retries() {
    let handler = Recorder::new(|event, _| {
        let poisoned = event["Records"].as_array().unwrap().iter().any(|r| r["kinesis"]["partitionKey"] == "poison");
        if poisoned { Err(HandlerError::Function("poison".into())) } else { Ok(json!({})) }
    });
    let inputs = records(0, 0..64, |i| if i == 0 { "poison".into() } else { "k".into() });
    let text = "batch_size = 64\nbisect_batch_on_function_error = true\nmaximum_retry_attempts = 2";
    let outcome = run(config(text, handler.config()), vec![Step::Send(inputs.clone())]).await;
    assert_eq!(sizes(&handler.calls()), [64, 32, 16, 8, 4, 2, 1, 1, 1, 1, 2, 4, 8, 16, 32]);
    let [failure] = &outcome.port("on_failure")[..] else { panic!("one on-failure record: {:?}", outcome.port("on_failure")) };
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 3, "the record itself was invoked 3 times");
    assert_eq!(failure["KinesisBatchInfo"]["batchSize"], 1);
    assert_eq!(failure["KinesisBatchInfo"]["startSequenceNumber"], seq(0));
    assert_eq!(sequences(&outcome.port("out")), sequences(&inputs[1..]));
    assert_eq!(outcome.acks, vec![Delivered; 64], "the poison record ends with its on-failure record");
}

/// §7 test 10: two retries are three invocations, then one on-failure record with the batch's
/// info, and the shard goes on with the next records.
#[tokio::test(start_paused = true)]
async fn retries_are_exhausted_after_three_invocations_and_the_batch_goes_to_on_failure() {
    let handler = Recorder::new(|event, _| {
        let poisoned = event["Records"].as_array().unwrap().iter().any(|r| r["kinesis"]["partitionKey"] == "poison");
        if poisoned { Err(HandlerError::Function("poison".into())) } else { Ok(json!({})) }
    });
    let inputs = records(3, 0..6, |i| if i == 1 { "poison".into() } else { format!("k{i}") });
    let outcome = run(config("batch_size = 3\nmaximum_retry_attempts = 2", handler.config()), vec![Step::Send(inputs.clone())]).await;
    assert_eq!(sizes(&handler.calls()), [3, 3, 3, 3], "3 invocations of the failing batch, then the next batch");
    let [failure] = &outcome.port("on_failure")[..] else { panic!("one on-failure record") };
    assert_eq!(failure["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(failure["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:000000000000:function:block");
    let info = &failure["KinesisBatchInfo"];
    assert_eq!(info["shardId"], "shardId-000000000003");
    assert_eq!((info["startSequenceNumber"].as_str(), info["endSequenceNumber"].as_str()), (Some(&*seq(0)), Some(&*seq(2))));
    assert_eq!(info["batchSize"], 3);
    assert_eq!(info["streamArn"], harness::STREAM_ARN);
    assert_eq!(info["approximateArrivalOfFirstRecord"], failure::iso_millis(harness::arrival_ms(0)));
    assert_eq!(info["approximateArrivalOfLastRecord"], failure::iso_millis(harness::arrival_ms(2)));
    assert_eq!(failure["payload"].as_array().map(|p| sequences(p)), Some(sequences(&inputs[..3])));
    assert_eq!(sequences(&outcome.port("out")), sequences(&inputs[3..]), "processing went on");
    assert_eq!(outcome.acks, vec![Delivered; 6]);
}

/// §7 test 10: a batch whose oldest record passed `maximum_record_age` is discarded as
/// `RecordAgeExceeded` (retries go on until then).
#[tokio::test(start_paused = true)]
async fn a_batch_older_than_the_maximum_record_age_is_discarded() {
    let handler = Recorder::new(|_, _| Err(HandlerError::Function("always".into())));
    let now = wall_ms() as f64 / 1000.0;
    let inputs = vec![record(0, 0, "k", &json!({"n": 0}), now)];
    let outcome = run(config("maximum_record_age = \"60s\"", handler.config()), vec![Step::Send(inputs)]).await;
    let [failure] = &outcome.port("on_failure")[..] else { panic!("one on-failure record") };
    assert_eq!(failure["requestContext"]["condition"], "RecordAgeExceeded");
    let invokes = handler.calls().len();
    assert!(invokes > 3, "retried until the age passed: {invokes} invocations");
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], invokes);
}

#[test]
fn a_maximum_record_age_under_60_seconds_is_rejected_with_lambdas_message() {
    let text = "[sources.in]\ntype = \"memory\"\n[blocks.f]\ntype = \"lambda\"\ninputs = [\"in\"]\nmaximum_record_age = \"59s\"\n\
                handler = { type = \"map\", program = \".\" }\n";
    let registry = crate::registry().with::<harness::MemoryStandIn>();
    let error = runnel_engine::Pipeline::from_toml(text, &registry).unwrap_err();
    let diagnostic = error.diagnostics.iter().find(|d| d.message.contains("MaximumRecordAge")).expect("a record age diagnostic");
    assert!(
        diagnostic.message.contains("MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"),
        "{diagnostic}"
    );
    assert_eq!(diagnostic.location.as_ref().map(|l| l.line), Some(6), "{diagnostic}");
}

/// §7 test 11: state round-trips, `isFinalInvokeForWindow` once per window (closed by time,
/// with `Records: []`, or when the input ends), and the results on `windows`.
#[tokio::test(start_paused = true)]
async fn tumbling_windows_carry_state_and_end_with_one_final_invocation() {
    let handler = Recorder::new(|event, _| {
        let count = event["state"]["count"].as_str().and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
        Ok(json!({"state": {"count": (count + event["Records"].as_array().map_or(0, Vec::len)).to_string()}}))
    });
    // Windows of 60 s; the first starts a minute after the next whole minute.
    let first = (wall_ms() / 60_000 + 2) * 60_000;
    let at = |ms: i64| ms as f64 / 1000.0;
    let in_first = (0..3).map(|i| record(0, i, "k", &json!({"i": i}), at(first + 1000 * i as i64))).collect();
    let in_second = vec![record(0, 3, "k", &json!({"i": 3}), at(first + 61_000))];
    let steps = vec![Step::Send(in_first), Step::SleepUntilWall(first + 65_000), Step::Send(in_second)];
    let outcome = run(config("batch_size = 2\ntumbling_window = \"60s\"", handler.config()), steps).await;
    let calls = handler.calls();
    let summary: Vec<(usize, bool, Value)> =
        calls.iter().map(|e| (sizes(std::slice::from_ref(e))[0], e["isFinalInvokeForWindow"] == true, e["state"].clone())).collect();
    assert_eq!(
        summary,
        [
            (2, false, json!({})),
            (1, false, json!({"count": "2"})),
            (0, true, json!({"count": "3"})),
            (1, false, json!({})),
            (0, true, json!({"count": "1"})),
        ],
        "the state comes back; the first window closes by time, the second when the input ends"
    );
    let finals: BTreeMap<String, usize> = calls.iter().filter(|e| e["isFinalInvokeForWindow"] == true).fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["window"]["start"].as_str().unwrap().to_owned()).or_default() += 1;
        m
    });
    assert_eq!(finals.values().collect::<Vec<_>>(), [&1, &1], "one final invocation per window: {finals:?}");
    let windows = outcome.port("windows");
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0]["window"]["start"], failure::iso_seconds(first));
    assert_eq!(windows[0]["window"]["end"], failure::iso_seconds(first + 60_000));
    assert_eq!(windows[0]["state"], json!({"count": "3"}));
    assert_eq!(windows[0]["shardId"], "shardId-000000000000");
    assert_eq!(windows[0]["isWindowTerminatedEarly"], false);
    assert_eq!(windows[1]["state"], json!({"count": "1"}));
    assert_eq!(outcome.acks, vec![Delivered; 4]);
}

/// A poison record at the end of a window's last batch: bisect sets it aside, and the window
/// still gets its final invocation with the state its other records built (the part that
/// carried "final" was discarded, not the window).
#[tokio::test(start_paused = true)]
async fn a_window_whose_last_batch_held_a_poison_record_still_closes_with_its_state() {
    let handler = Recorder::new(|event, _| {
        let records = event["Records"].as_array().unwrap();
        if records.iter().any(|r| r["kinesis"]["partitionKey"] == "poison") {
            return Err(HandlerError::Function("poison".into()));
        }
        let count = event["state"]["count"].as_u64().unwrap_or(0);
        Ok(json!({"state": {"count": count + records.len() as u64}}))
    });
    let first = (wall_ms() / 60_000 + 2) * 60_000;
    let at = |ms: i64| ms as f64 / 1000.0;
    let mut inputs: Vec<Value> =
        (0..4).map(|i| record(0, i, if i == 3 { "poison" } else { "k" }, &json!({"i": i}), at(first + 1000 * i as i64))).collect();
    // A record of the next window behind them: the first window's batch is its last.
    inputs.push(record(0, 4, "k", &json!({"i": 4}), at(first + 61_000)));
    let text = "batch_size = 10\ntumbling_window = \"60s\"\nbisect_batch_on_function_error = true\nmaximum_retry_attempts = 0";
    let outcome = run(config(text, handler.config()), vec![Step::Send(inputs)]).await;
    let windows = outcome.port("windows");
    let states: Vec<(Value, Value)> = windows.iter().map(|w| (w["window"]["start"].clone(), w["state"].clone())).collect();
    assert_eq!(
        states,
        [(json!(failure::iso_seconds(first)), json!({"count": 3})), (json!(failure::iso_seconds(first + 60_000)), json!({"count": 1}))],
        "both windows close, the first with its three good records"
    );
    let finals = handler.calls().iter().filter(|e| e["isFinalInvokeForWindow"] == true && e["window"] == windows[0]["window"]).count();
    assert!(finals >= 1, "the first window had a final invocation that succeeded");
    assert_eq!(outcome.port("on_failure").len(), 1, "the poison record alone is set aside");
    assert_eq!(outcome.acks, vec![Delivered; 5]);
}

/// §7 test 11: an answer without `state` fails the invocation; a state over 1 MB ends the
/// window early, and the window goes on with a fresh state.
#[tokio::test(start_paused = true)]
async fn windows_need_state_in_answers_and_end_early_past_one_megabyte() {
    let handler = Recorder::new(|event, call| match call {
        0 => Ok(json!({})),
        1 => Ok(json!({"state": {"big": "x".repeat(1_100_000)}})),
        _ => Ok(json!({"state": {"n": event["Records"].as_array().map_or(0, Vec::len).to_string()}})),
    });
    let first = (wall_ms() / 60_000 + 2) * 60_000;
    let inputs: Vec<Value> = (0..2).map(|i| record(0, i, "k", &json!({}), (first + i as i64) as f64 / 1000.0)).collect();
    let steps = vec![Step::Send(inputs[..1].to_vec()), Step::SleepMs(1000), Step::Send(inputs[1..].to_vec())];
    let outcome = run(config("tumbling_window = \"60s\"", handler.config()), steps).await;
    let calls = handler.calls();
    let flags: Vec<(usize, bool, bool)> = calls
        .iter()
        .map(|e| (sizes(std::slice::from_ref(e))[0], e["isFinalInvokeForWindow"] == true, e["isWindowTerminatedEarly"] == true))
        .collect();
    assert_eq!(flags[..3], [(1, false, false), (1, false, false), (0, true, true)], "retried without state, then ended early");
    assert_eq!(calls[2]["state"]["big"].as_str().map(str::len), Some(1_100_000));
    assert_eq!(calls[3]["state"], json!({}), "the window goes on with a fresh state");
    assert_eq!(calls[3]["window"], calls[0]["window"]);
    let windows = outcome.port("windows");
    assert_eq!(windows[0]["isWindowTerminatedEarly"], true);
    assert_eq!(windows.last().unwrap()["isWindowTerminatedEarly"], false);
}

/// §7 test 12 in the block: filtered records are acknowledged as dropped and never invoked; a
/// record whose data is not JSON never matches a pattern on `data`.
#[tokio::test(start_paused = true)]
async fn filtered_records_are_acknowledged_and_never_invoked() {
    let handler = Recorder::new(|_, _| Ok(json!({})));
    let mut inputs = vec![
        record(0, 0, "a", &json!({"kind": "chat", "n": 5}), 1.0),
        record(0, 1, "a", &json!({"kind": "spam"}), 1.0),
        record(0, 2, "a", &json!({"kind": "chat", "n": 50}), 1.0),
        record(0, 3, "a", &json!({"kind": "chat"}), 1.0),
    ];
    inputs[3]["kinesis"]["data"] = json!("bm90IGpzb24="); // "not json"
    let text = "filter_criteria = ['{\"data\": {\"kind\": [\"chat\"], \"n\": [{\"numeric\": [\"<\", 10]}]}}', \
                { partitionKey = [\"zzz\"] }]";
    let outcome = run(config(text, handler.config()), vec![Step::Send(inputs.clone())]).await;
    assert_eq!(sequences(&handler.calls()[0]["Records"].as_array().unwrap().clone()), [seq(0)]);
    assert_eq!(outcome.acks, [Delivered, Dropped, Dropped, Dropped]);
}

#[test]
fn a_filter_that_is_not_json_is_a_located_error() {
    let text = "[sources.in]\ntype = \"memory\"\n[blocks.f]\ntype = \"lambda\"\ninputs = [\"in\"]\n\
                filter_criteria = ['{\"data\": {}}', '{\"data\": ']\nhandler = { type = \"map\", program = \".\" }\n";
    let registry = crate::registry().with::<harness::MemoryStandIn>();
    let error = runnel_engine::Pipeline::from_toml(text, &registry).unwrap_err();
    let diagnostic = error.diagnostics.iter().find(|d| d.message.contains("filter pattern")).expect("a filter diagnostic");
    assert!(diagnostic.message.contains("invalid filter pattern: the pattern is not JSON"), "{diagnostic}");
    assert!(diagnostic.message.contains("filter_criteria[1]") || diagnostic.location.is_some(), "{diagnostic}");
    assert_eq!(diagnostic.location.as_ref().map(|l| l.line), Some(6), "{diagnostic}");
}

/// §7 test 13: with 10 lanes and random latency, each key's records keep their order while
/// the shard's are interleaved; no record is acknowledged before its invocation succeeded, so
/// a checkpoint (the longest acknowledged prefix) never passes an unfinished lane.
#[tokio::test(start_paused = true)]
async fn ten_lanes_keep_each_keys_order_and_never_acknowledge_ahead() {
    let finished: &'static Mutex<HashSet<String>> = Box::leak(Box::default());
    let handler = harness::Latency::new(finished);
    let inputs = records(0, 0..300, |i| format!("key-{}", i % 23));
    let keys: Vec<String> = inputs.iter().map(|r| r["kinesis"]["partitionKey"].as_str().unwrap().to_owned()).collect();
    let order = sequences(&inputs);
    let mut acked = vec![false; inputs.len()];
    let mut prefix = 0;
    let check = move |id: u64| {
        acked[id as usize] = true;
        while prefix < acked.len() && acked[prefix] {
            assert!(finished.lock().unwrap().contains(&order[prefix]), "record {prefix} acknowledged before its invocation ended");
            prefix += 1;
        }
    };
    let text = "batch_size = 4\nparallelization_factor = 10";
    let outcome = harness::run_checked(config(text, HandlerConfig::rust(handler.clone())), vec![Step::Send(inputs.clone())], check).await;
    let out = outcome.port("out");
    assert_eq!(out.len(), 300);
    let mut per_key: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for record in &out {
        per_key.entry(record["kinesis"]["partitionKey"].as_str().unwrap()).or_default().push(sequences(std::slice::from_ref(record))[0].clone());
    }
    for (key, seqs) in &per_key {
        let expected: Vec<String> =
            inputs.iter().filter(|r| r["kinesis"]["partitionKey"] == *key).map(|r| sequences(std::slice::from_ref(r))[0].clone()).collect();
        assert_eq!(seqs, &expected, "key {key} kept its order");
    }
    assert_ne!(sequences(&out), sequences(&inputs), "the shard's records were interleaved across lanes");
    let most = handler.most_in_flight();
    assert!((2..=10).contains(&most), "{most} invocations at once (at most one per lane)");
    assert_eq!(keys.len(), 300);
    assert_eq!(outcome.acks, vec![Delivered; 300]);
}

/// §7 test 14: the events the block builds, with and without a window, read back with the
/// `aws_lambda_events` types with no field unknown or missing; so does the on-failure record,
/// against its documented shape.
#[tokio::test(start_paused = true)]
async fn events_and_on_failure_records_match_lambdas_types() {
    use aws_lambda_events::event::kinesis::KinesisEvent;
    use aws_lambda_events::time_window::TimeWindowProperties;

    let handler = Recorder::new(|_, _| Ok(json!({})));
    run(config("", handler.config()), vec![Step::Send(records(0, 0..2, |_| "k".into()))]).await;
    let event = handler.calls()[0].clone();
    let parsed: KinesisEvent = serde_json::from_value(event.clone()).expect("a KinesisEvent");
    assert!(parsed.other.is_empty(), "unknown fields: {:?}", parsed.other);
    for (record, raw) in parsed.records.iter().zip(event["Records"].as_array().unwrap()) {
        assert!(record.other.is_empty() && record.kinesis.other.is_empty(), "unknown fields in {raw}");
        assert!(record.event_id.is_some() && record.event_source_arn.is_some() && record.aws_region.is_some(), "missing fields in {raw}");
        assert!(record.event_name.is_some() && record.event_source.is_some() && record.event_version.is_some());
        assert!(record.invoke_identity_arn.is_some() && record.kinesis.kinesis_schema_version.is_some());
        assert_eq!(serde_json::to_value(&record.kinesis.data).unwrap(), raw["kinesis"]["data"]);
    }

    let handler = Recorder::new(|_, _| Ok(json!({"state": {"count": "1"}})));
    run(config("tumbling_window = \"60s\"", handler.config()), vec![Step::Send(records(0, 0..1, |_| "k".into()))]).await;
    let mut event = handler.calls()[0].as_object().unwrap().clone();
    let event_records = event.remove("Records").unwrap();
    let window: TimeWindowProperties = serde_json::from_value(Value::Object(event.clone())).expect("TimeWindowProperties");
    let known = ["window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow", "isWindowTerminatedEarly"];
    assert_eq!(event.keys().map(String::as_str).collect::<HashSet<_>>(), HashSet::from(known), "exactly the window's fields");
    assert!(window.shard_id.is_some() && window.event_source_arn.is_some());
    let parsed: KinesisEvent = serde_json::from_value(json!({"Records": event_records})).expect("its records");
    assert!(parsed.other.is_empty());

    let handler = Recorder::new(|_, _| Err(HandlerError::Function("no".into())));
    let outcome = run(config("maximum_retry_attempts = 0", handler.config()), vec![Step::Send(records(0, 0..2, |_| "k".into()))]).await;
    let failure = outcome.port("on_failure").remove(0);
    let parsed: harness::OnFailureRecord = serde_json::from_value(failure.clone()).expect("Lambda's on-failure record");
    assert_eq!(parsed.kinesis_batch_info.batch_size, 2);
    assert_eq!(parsed.request_context.approximate_invoke_count, 1);
    let response: aws_lambda_events::event::streams::KinesisEventResponse =
        serde_json::from_value(json!({"batchItemFailures": [{"itemIdentifier": seq(1)}]})).unwrap();
    assert_eq!(response.batch_item_failures[0].item_identifier.as_deref(), Some(&*seq(1)));
}

/// Messages that are not Kinesis records go to `errors`, with the reason.
#[tokio::test(start_paused = true)]
async fn messages_that_are_not_records_go_to_errors() {
    let handler = Recorder::new(|_, _| Ok(json!({})));
    let mut no_shard = record(0, 1, "k", &json!({}), 1.0);
    no_shard.as_object_mut().unwrap().remove("eventID");
    let inputs = vec![json!({"hello": 1}), no_shard, record(0, 2, "k", &json!({}), 1.0)];
    let outcome = run(config("", handler.config()), vec![Step::Send(inputs)]).await;
    let errors = outcome.port("errors");
    assert_eq!(errors[0]["error"], "not a Kinesis record: no `kinesis` object");
    assert!(errors[1]["error"].as_str().unwrap().contains("no shard"), "{}", errors[1]);
    assert_eq!(outcome.port("out").len(), 1);
    assert_eq!(sizes(&handler.calls()), [1]);
}

/// Batches never mix shards, and the batch size bounds each.
#[tokio::test(start_paused = true)]
async fn batches_hold_one_shard_and_at_most_batch_size_records() {
    let handler = Recorder::new(|_, _| Ok(json!({})));
    let mut inputs = records(0, 0..5, |_| "k".into());
    inputs.extend(records(1, 5..8, |_| "k".into()));
    run(config("batch_size = 3", handler.config()), vec![Step::Send(inputs)]).await;
    let mut shards: Vec<(usize, Vec<String>)> = handler
        .calls()
        .iter()
        .map(|e| {
            let records = e["Records"].as_array().unwrap();
            let ids = records.iter().map(|r| r["eventID"].as_str().unwrap().split(':').next().unwrap().to_owned()).collect::<HashSet<_>>();
            (records.len(), ids.into_iter().collect())
        })
        .collect();
    shards.sort();
    assert_eq!(shards.iter().map(|(n, s)| (*n, s.len())).collect::<Vec<_>>(), [(2, 1), (3, 1), (3, 1)]);
}

/// A batching window holds records until it passes (or the batch fills).
#[tokio::test(start_paused = true)]
async fn the_batching_window_gathers_records_that_arrive_apart() {
    let handler = Recorder::new(|_, _| Ok(json!({})));
    let steps = vec![
        Step::Send(records(0, 0..1, |_| "k".into())),
        Step::SleepMs(300),
        Step::Send(records(0, 1..2, |_| "k".into())),
        Step::SleepMs(2000),
        Step::Send(records(0, 2..3, |_| "k".into())),
    ];
    run(config("maximum_batching_window = \"1s\"", handler.config()), steps).await;
    assert_eq!(sizes(&handler.calls()), [2, 1]);
}

/// At shutdown the invocation in flight finishes; the records not yet processed end
/// abandoned, so that their source reads them again.
#[tokio::test(start_paused = true)]
async fn at_shutdown_the_batch_in_flight_finishes_and_the_rest_is_abandoned() {
    let gate = harness::Gate::default();
    let outcome = harness::run_and_stop(config("batch_size = 2", HandlerConfig::rust(gate.clone())), records(0, 0..6, |_| "k".into()), gate).await;
    assert_eq!(outcome.acks, [Delivered, Delivered, Abandoned, Abandoned, Abandoned, Abandoned]);
    assert_eq!(outcome.port("out").len(), 2);
}

/// The jq handler: the program's output is the response.
#[tokio::test(start_paused = true)]
async fn a_jq_handler_answers_with_its_program() {
    let program = r#"{batchItemFailures: [.Records[] | select((.kinesis.data | @base64d | fromjson | .ok) == false) | {itemIdentifier: .kinesis.sequenceNumber}]}"#;
    let handler: HandlerConfig =
        toml::from_str::<toml::Value>(&format!("type = \"map\"\nprogram = '{program}'")).and_then(|v| v.try_into()).expect("a map handler");
    let inputs = vec![record(0, 0, "k", &json!({"ok": true}), 1.0), record(0, 1, "k", &json!({"ok": false}), 1.0)];
    let text = "report_batch_item_failures = true\nmaximum_retry_attempts = 1";
    let outcome = run(config(text, handler), vec![Step::Send(inputs)]).await;
    assert_eq!(sequences(&outcome.port("out")), [seq(0)]);
    assert_eq!(outcome.port("on_failure").len(), 1);
    assert_eq!(outcome.port("on_failure")[0]["requestContext"]["approximateInvokeCount"], 2);
}

/// A JavaScript handler file as written for Lambda's Node.js runtime: it reports the records it
/// cannot process in `batchItemFailures`; the batch is retried from the first of them, and then
/// what is left of it is set aside, as Lambda does.
#[cfg(feature = "js")]
#[tokio::test]
async fn a_javascript_handler_reports_partial_batch_failures_as_on_lambda() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("index.mjs");
    std::fs::write(
        &file,
        r#"export const handler = async (event, context) => {
  const batchItemFailures = [];
  for (const record of event.Records) {
    if (record.kinesis.partitionKey === "poison") {
      batchItemFailures.push({ itemIdentifier: record.kinesis.sequenceNumber });
    }
  }
  return { batchItemFailures };
};
"#,
    )
    .expect("writes");
    let handler = js_handler(&format!("type = \"function\"\nfile = '{}'", file.display()));
    assert_eq!(handler.problems(), Vec::<String>::new());
    let inputs = records(0, 0..4, |i| if i == 2 { "poison".into() } else { "k".into() });
    let text = "report_batch_item_failures = true\nmaximum_retry_attempts = 1";
    let outcome = run(config(text, handler), vec![Step::Send(inputs)]).await;
    assert_eq!(sequences(&outcome.port("out")), [seq(0), seq(1)]);
    let failed = outcome.port("on_failure");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["requestContext"]["approximateInvokeCount"], 2);
    let batch = &failed[0]["KinesisBatchInfo"];
    assert_eq!((batch["startSequenceNumber"].as_str(), batch["batchSize"].as_u64()), (Some(seq(2).as_str()), Some(2)), "{batch}");
}

/// A JavaScript handler that throws fails the invocation (retried, then set aside), and a syntax
/// error in inline code is a validation error with its line.
#[cfg(feature = "js")]
#[tokio::test]
async fn a_javascript_handler_that_throws_is_a_function_error() {
    let handler = js_handler(
        r#"type = "function"
code = 'export const handler = async (event) => { throw new Error("boom " + event.Records.length); }'"#,
    );
    let outcome = run(config("maximum_retry_attempts = 0", handler), vec![Step::Send(records(0, 0..2, |_| "k".into()))]).await;
    assert!(outcome.port("out").is_empty());
    let failed = outcome.port("on_failure");
    assert_eq!(failed.len(), 1, "one record of the failed batch: {failed:?}");
    assert_eq!(failed[0]["responseContext"]["functionError"], "Unhandled", "{failed:?}");
    let broken = js_handler("type = \"function\"\ncode = '''\nexport const handler = async (event) => {\n  return event +;\n};\n'''");
    let problems = broken.problems();
    assert!(problems.len() == 1 && problems[0].contains("SyntaxError") && problems[0].contains("handler.code:2:"), "{problems:?}");
}

#[cfg(feature = "js")]
fn js_handler(text: &str) -> HandlerConfig {
    toml::from_str::<toml::Value>(text).and_then(|v| v.try_into()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn out_of_range_fields_are_each_reported() {
    let text = "batch_size = 0\nmaximum_batching_window = \"301s\"\nparallelization_factor = 11\nmaximum_retry_attempts = -2\n\
                tumbling_window = \"901s\"\nhandler = { type = \"map\", program = \".\" }";
    let problems = toml::from_str::<LambdaConfig>(text).unwrap().validate();
    assert_eq!(problems.len(), 6, "{problems:#?}");
    let unknown = toml::from_str::<LambdaConfig>("handler = { type = \"javascript\", source = \"x\" }").unwrap_err();
    assert!(unknown.to_string().contains("unknown variant `javascript`"), "{unknown}");
    let _unused = Duration::ZERO;
}

/// Kafka messages (`event_source = "kafka"`) make Lambda's Kafka event, one topic-partition per
/// batch, which reads back with the `aws_lambda_events` type with no field unknown.
#[tokio::test(start_paused = true)]
async fn kafka_messages_are_invoked_as_lambdas_kafka_event() {
    use aws_lambda_events::event::kafka::KafkaEvent;
    let handler = Recorder::new(|_, _| Ok(json!({})));
    let messages = vec![
        harness::kafka_message("chat", 0, 5, json!({"kind": "chat", "n": 1})),
        harness::kafka_message("chat", 1, 9, json!({"kind": "chat", "n": 2})),
        harness::kafka_message("chat", 0, 6, json!({"kind": "join", "n": 3})),
    ];
    let text = "event_source = \"kafka\"\nbootstrap_servers = \"127.0.0.1:9092\"";
    let outcome = run(config(text, handler.config()), vec![Step::Messages(messages)]).await;
    let calls = handler.calls();
    assert_eq!(calls.len(), 2, "one batch per topic-partition");
    let event: KafkaEvent = serde_json::from_value(calls[0].clone()).expect("a KafkaEvent");
    assert!(event.other.is_empty(), "{:?}", event.other);
    assert_eq!((event.event_source.as_deref(), event.bootstrap_servers.as_deref()), (Some("SelfManagedKafka"), Some("127.0.0.1:9092")));
    let records = &event.records["chat-0"];
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [5, 6]);
    let first = &records[0];
    assert!(first.other.is_empty(), "{:?}", first.other);
    let value = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, first.value.as_deref().unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&value).unwrap(), json!({"kind": "chat", "n": 1}));
    assert_eq!(first.key.as_deref(), Some("a2V5LTU="), "base64 of key-5");
    assert_eq!(first.headers[0]["headerKey"], b"headerValue".iter().map(|&b| b as i8).collect::<Vec<_>>());
    assert_eq!((first.topic.as_deref(), first.partition, first.timestamp_type.as_deref()), (Some("chat"), 0, Some("CREATE_TIME")));
    assert_eq!(outcome.acks, vec![Delivered; 3]);
}

/// Kafka batches retry and go to `on_failure` with a `KafkaBatchInfo`; filters see `value`.
#[tokio::test(start_paused = true)]
async fn kafka_batches_are_filtered_retried_and_discarded_as_lambda_does() {
    let handler = Recorder::new(|_, _| Err(HandlerError::Function("no".into())));
    let messages = vec![
        harness::kafka_message("chat", 2, 7, json!({"kind": "chat"})),
        harness::kafka_message("chat", 2, 8, json!({"kind": "join"})),
        harness::kafka_message("chat", 2, 9, json!({"kind": "chat"})),
    ];
    let text = "event_source = \"kafka\"\nmaximum_retry_attempts = 1\nfilter_criteria = [{ value = { kind = [\"chat\"] } }]";
    let outcome = run(config(text, handler.config()), vec![Step::Messages(messages)]).await;
    assert_eq!(handler.calls().len(), 2);
    let [failure] = &outcome.port("on_failure")[..] else { panic!("one on-failure record") };
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 2);
    let info = &failure["KafkaBatchInfo"];
    assert_eq!(info["batchSize"], 2);
    assert_eq!(info["recordsInfo"]["chat-2"]["firstRecordOffset"], "7");
    assert_eq!(info["recordsInfo"]["chat-2"]["lastRecordOffset"], "9");
    assert_eq!(failure["payload"], json!([{"kind": "chat"}, {"kind": "chat"}]));
    assert_eq!(outcome.acks, [Delivered, Dropped, Delivered]);
}

#[test]
fn kafka_rejects_what_aws_defines_for_kinesis_only() {
    let text = "event_source = \"kafka\"\nparallelization_factor = 2\ntumbling_window = \"60s\"\nreport_batch_item_failures = true\n\
                handler = { type = \"map\", program = \".\" }";
    let problems = toml::from_str::<LambdaConfig>(text).unwrap().validate();
    assert_eq!(problems.iter().filter(|p| p.contains("is for Kinesis records")).count(), 3, "{problems:#?}");
}

/// Past what the block may hold (1,024 records here), it stops waiting for the batching window
/// (and stops reading until it holds less): 25 shards of 50 records, none a full batch, do not
/// wait 300 s.
#[tokio::test(start_paused = true)]
async fn a_full_block_invokes_without_waiting_for_the_batching_window() {
    let started = tokio::time::Instant::now();
    let first_call: &'static Mutex<Option<Duration>> = Box::leak(Box::default());
    let handler = Recorder::new(move |_, _| {
        first_call.lock().unwrap().get_or_insert(started.elapsed());
        Ok(json!({}))
    });
    let inputs: Vec<Value> = (0..25).flat_map(|shard| records(shard, u64::from(shard) * 50..u64::from(shard + 1) * 50, |_| "k".into())).collect();
    let steps = vec![Step::Send(inputs), Step::SleepMs(1000), Step::Send(records(99, 5000..5001, |_| "k".into()))];
    let outcome = run(config("maximum_batching_window = \"300s\"", handler.config()), steps).await;
    let waited = first_call.lock().unwrap().expect("invoked");
    assert!(waited < Duration::from_secs(1), "the first invocation waited {waited:?}");
    assert_eq!(sizes(&handler.calls()[..1]), [50]);
    assert_eq!(outcome.acks, vec![Delivered; 1251]);
}
