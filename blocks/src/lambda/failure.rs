//! The on-failure record of a discarded batch (§1.4): Lambda's invocation record for a Kinesis
//! event source, with the batch's records under `payload` as an S3 destination has them. The
//! message carries the records' acknowledgements, so they end when the record is delivered.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runnel_engine::{Acks, Message, Metadata};
use serde_json::{Value, json};

use super::record::{EventSource, Record};

/// Why a batch was discarded: `requestContext.condition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Condition {
    /// The retries (`maximum_retry_attempts`) were used up.
    RetryAttemptsExhausted,
    /// The batch's oldest record passed `maximum_record_age`.
    RecordAgeExceeded,
}

impl Condition {
    fn name(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// What an on-failure record says besides its records.
#[derive(Debug)]
pub(super) struct Discard<'a> {
    /// The block's name, the function's name in `functionArn`.
    pub(super) function: &'a str,
    pub(super) shard: &'a str,
    pub(super) condition: Condition,
    /// How many times the discarded batch was invoked.
    pub(super) invokes: u32,
    /// Now, in ms since the epoch.
    pub(super) now_ms: i64,
    pub(super) source: EventSource,
    pub(super) bootstrap_servers: Option<&'a str>,
}

/// The on-failure record of `records` (not empty), carrying their acknowledgements.
pub(super) fn on_failure_record(discard: &Discard<'_>, records: Vec<Record>) -> Message {
    let first = &records[0];
    let stream_arn = first.source_arn().unwrap_or_default().to_owned();
    let (region, account) = region_and_account(&stream_arn);
    let (info_name, batch_info) = match discard.source {
        EventSource::Kinesis => ("KinesisBatchInfo", kinesis_batch_info(discard, &records, &stream_arn)),
        EventSource::Kafka => ("KafkaBatchInfo", super::kafka::batch_info(&records, discard.bootstrap_servers)),
    };
    let function_arn = format!("arn:aws:lambda:{region}:{account}:function:{}", discard.function);
    let mut meta = Metadata { origin: first.message.meta().origin.clone(), ..Metadata::default() };
    meta.key = first.message.meta().key.clone();
    let mut acks = Acks::none();
    let mut payload = Vec::with_capacity(records.len());
    for record in records {
        let mut message = record.message;
        acks.merge(message.acks.take());
        payload.push(message.into_value());
    }
    let mut value = serde_json::Map::new();
    value.insert(
        "requestContext".into(),
        json!({
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": discard.condition.name(),
            "approximateInvokeCount": discard.invokes,
        }),
    );
    value.insert("responseContext".into(), json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}));
    value.insert("version".into(), json!("1.0"));
    value.insert("timestamp".into(), json!(iso_millis(discard.now_ms)));
    value.insert(info_name.into(), batch_info);
    value.insert("payload".into(), Value::Array(payload));
    let mut message = Message::with_meta(Value::Object(value), meta);
    message.acks = acks;
    message
}

/// `KinesisBatchInfo` of an on-failure record for `records` (not empty).
fn kinesis_batch_info(discard: &Discard<'_>, records: &[Record], stream_arn: &str) -> Value {
    let (first, last) = (&records[0], &records[records.len() - 1]);
    json!({
        "shardId": discard.shard,
        "startSequenceNumber": first.sequence(),
        "endSequenceNumber": last.sequence(),
        "approximateArrivalOfFirstRecord": iso_millis(first.arrival_ms),
        "approximateArrivalOfLastRecord": iso_millis(last.arrival_ms),
        "batchSize": records.len(),
        "streamArn": stream_arn,
    })
}

/// The region and account of an ARN (`arn:aws:kinesis:us-east-1:000000000000:stream/chat`),
/// or runnel's defaults.
fn region_and_account(arn: &str) -> (&str, &str) {
    let mut parts = arn.split(':').skip(3);
    match (parts.next(), parts.next()) {
        (Some(region), Some(account)) if !region.is_empty() && !account.is_empty() => (region, account),
        _ => ("us-east-1", "000000000000"),
    }
}

/// `ms` since the epoch as Lambda writes times: `2019-11-14T00:38:06.021Z`.
pub(super) fn iso_millis(ms: i64) -> String {
    humantime::format_rfc3339_millis(at(ms)).to_string()
}

/// `ms` since the epoch, in whole seconds: `2020-12-09T07:04:00Z`.
pub(super) fn iso_seconds(ms: i64) -> String {
    humantime::format_rfc3339_seconds(at(ms)).to_string()
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
