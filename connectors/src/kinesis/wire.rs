//! The Kinesis Data Streams API's JSON shapes (AWS JSON 1.1, `X-Amz-Target:
//! Kinesis_20131202.<Operation>`), as botocore's `kinesis/2013-12-02/service-2.json` names them:
//! the requests and responses of the operations runnel serves and consumes, and the error body.
//!
//! Every type derives both `Serialize` and `Deserialize`, so the `kinesis_server` endpoint reads
//! requests and writes responses with them and the `kinesis` consumer does the reverse. Members
//! are PascalCase on the wire; optional ones are left out when absent; unknown members are
//! ignored (newer SDKs send members older servers do not know, such as `StreamId`). Blobs travel
//! as base64 strings ([`Blob`]), timestamps as epoch seconds with milliseconds (`f64`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `X-Amz-Target` prefix of every Kinesis operation.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";
/// The content type of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Bytes that travel as a base64 string (`Data`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD.decode(text.as_bytes()).map(Blob).map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// The body of every error answer (HTTP 400, or 500 for `InternalFailure`):
/// `{"__type":"ResourceNotFoundException","message":"Stream chat under account 000000000000 not found."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error's type, such as `ResourceNotFoundException`. Some services prefix it with a
    /// namespace and `#`; [`ErrorBody::kind`] strips it.
    #[serde(rename = "__type")]
    pub kind: String,
    /// The human-readable message. Kinesis spells it `message`; a few AWS services `Message`.
    #[serde(alias = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ErrorBody {
    /// An error of type `kind` saying `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self { kind: kind.into(), message: Some(message.into()) }
    }

    /// The type without a namespace prefix (`ns#ResourceNotFoundException` → `ResourceNotFoundException`).
    pub fn kind(&self) -> &str {
        self.kind.rsplit('#').next().unwrap_or(&self.kind)
    }
}

/// `CreateStream`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateStreamInput {
    /// The new stream's name (1..128 of `[a-zA-Z0-9_.-]`).
    #[serde(default)]
    pub stream_name: String,
    /// Its shards (1 when absent, as on-demand streams start with some).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
    /// `{"StreamMode": "PROVISIONED" | "ON_DEMAND"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
}

/// A stream's capacity mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamModeDetails {
    /// `PROVISIONED` or `ON_DEMAND`.
    pub stream_mode: String,
}

/// `DeleteStream`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteStreamInput {
    /// The stream, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Delete it even with registered consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_consumer_deletion: Option<bool>,
}

/// `ListStreams`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsInput {
    /// Names per page (1..10000; 100 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// List the names after this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_stream_name: Option<String>,
    /// The previous page's `NextToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListStreams`' answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    /// The page's stream names, in order.
    pub stream_names: Vec<String>,
    /// Whether more pages follow.
    pub has_more_streams: bool,
    /// The same streams with their ARN, status and mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_summaries: Vec<StreamSummary>,
    /// Passed back to get the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One stream of a `ListStreams` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSummary {
    /// Its name.
    pub stream_name: String,
    /// Its ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// `CREATING`, `ACTIVE`, `DELETING` or `UPDATING`.
    pub stream_status: String,
    /// Its capacity mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// When it was created, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_creation_timestamp: Option<f64>,
}

/// `DescribeStream` and `DescribeStreamSummary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamInput {
    /// The stream, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Shards per page (1..10000; 100 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// List the shards after this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_shard_id: Option<String>,
}

/// `DescribeStream`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamOutput {
    /// The stream.
    pub stream_description: StreamDescription,
}

/// A stream and a page of its shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescription {
    /// Its name.
    pub stream_name: String,
    /// Its ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// `CREATING`, `ACTIVE`, `DELETING` or `UPDATING`.
    pub stream_status: String,
    /// Its capacity mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// The page of shards.
    pub shards: Vec<Shard>,
    /// Whether more shards follow.
    pub has_more_shards: bool,
    /// How long records are kept.
    pub retention_period_hours: u32,
    /// When it was created, epoch seconds.
    pub stream_creation_timestamp: f64,
    /// Shard-level metrics enabled (runnel: none).
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

/// `DescribeStreamSummary`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamSummaryOutput {
    /// The stream.
    pub stream_description_summary: StreamDescriptionSummary,
}

/// A stream without its shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescriptionSummary {
    /// Its name.
    pub stream_name: String,
    /// Its ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// `CREATING`, `ACTIVE`, `DELETING` or `UPDATING`.
    pub stream_status: String,
    /// Its capacity mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// How long records are kept.
    pub retention_period_hours: u32,
    /// When it was created, epoch seconds.
    pub stream_creation_timestamp: f64,
    /// Shard-level metrics enabled (runnel: none).
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
    /// Open shards.
    pub open_shard_count: u32,
    /// Registered enhanced fan-out consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_count: Option<u32>,
}

/// Shard-level metrics enabled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMetrics {
    /// Their names.
    #[serde(default)]
    pub shard_level_metrics: Vec<String>,
}

/// One shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Shard {
    /// `shardId-000000000000`.
    pub shard_id: String,
    /// The shard it was split from or merged from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_shard_id: Option<String>,
    /// The other shard it was merged from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjacent_parent_shard_id: Option<String>,
    /// The hash keys it takes.
    pub hash_key_range: HashKeyRange,
    /// Its records' sequence numbers.
    pub sequence_number_range: SequenceNumberRange,
}

/// A shard's hash keys, decimal strings of 128-bit numbers, both ends included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HashKeyRange {
    /// The lowest.
    pub starting_hash_key: String,
    /// The highest.
    pub ending_hash_key: String,
}

/// A shard's sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SequenceNumberRange {
    /// Its first.
    pub starting_sequence_number: String,
    /// Its last, once the shard is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending_sequence_number: Option<String>,
}

/// `ListShards`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsInput {
    /// The stream, by name (not with `NextToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The previous page's `NextToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// List the shards after this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_shard_id: Option<String>,
    /// Shards per page (1..10000; 1000 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
}

/// `ListShards`' answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsOutput {
    /// The page of shards.
    pub shards: Vec<Shard>,
    /// Passed back to get the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `PutRecord`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordInput {
    /// The stream, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The record's bytes.
    #[serde(default)]
    pub data: Blob,
    /// Routes the record (1..256 characters): MD5 of it, as a 128-bit hash key.
    #[serde(default)]
    pub partition_key: String,
    /// A hash key (a decimal in `[0, 2^128-1]`) to route by instead of the partition key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_hash_key: Option<String>,
    /// The previous record's sequence number, for strict order from one producer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number_for_ordering: Option<String>,
}

/// `PutRecord`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordOutput {
    /// The shard that took it.
    pub shard_id: String,
    /// Its sequence number in that shard.
    pub sequence_number: String,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

/// `PutRecords`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsInput {
    /// The stream, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The records (1..500).
    #[serde(default)]
    pub records: Vec<PutRecordsRequestEntry>,
}

/// One record of a `PutRecords` request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsRequestEntry {
    /// The record's bytes.
    #[serde(default)]
    pub data: Blob,
    /// Routes the record (1..256 characters).
    #[serde(default)]
    pub partition_key: String,
    /// A hash key to route by instead of the partition key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_hash_key: Option<String>,
}

/// `PutRecords`' answer: one entry per request record, in the request's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsOutput {
    /// Entries with an `ErrorCode`.
    pub failed_record_count: u32,
    /// The entries.
    pub records: Vec<PutRecordsResultEntry>,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

/// The outcome of one `PutRecords` record: a shard and sequence number, or an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsResultEntry {
    /// Its sequence number, when stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    /// Its shard, when stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// `ProvisionedThroughputExceededException` or `InternalFailure`, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// What went wrong, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `GetShardIterator`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorInput {
    /// The stream, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The shard.
    #[serde(default)]
    pub shard_id: String,
    /// `AT_SEQUENCE_NUMBER`, `AFTER_SEQUENCE_NUMBER`, `AT_TIMESTAMP`, `TRIM_HORIZON` or `LATEST`.
    #[serde(default)]
    pub shard_iterator_type: String,
    /// Where `AT_SEQUENCE_NUMBER` and `AFTER_SEQUENCE_NUMBER` start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_sequence_number: Option<String>,
    /// Where `AT_TIMESTAMP` starts, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
}

/// `GetShardIterator`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorOutput {
    /// An opaque position, valid for 5 minutes.
    pub shard_iterator: String,
}

/// `GetRecords`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsInput {
    /// Where to read.
    #[serde(default)]
    pub shard_iterator: String,
    /// Records at most (1..10000; 10000 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The stream, by ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
}

/// `GetRecords`' answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsOutput {
    /// The records, in sequence-number order.
    pub records: Vec<Record>,
    /// Where to read next; absent once a closed shard is drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_shard_iterator: Option<String>,
    /// How far the answer is behind the shard's newest record (0: caught up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub millis_behind_latest: Option<u64>,
    /// A closed and drained shard's children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<ChildShard>>,
}

/// One record of a `GetRecords` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    /// Its sequence number.
    pub sequence_number: String,
    /// When the shard took it, epoch seconds with milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<f64>,
    /// Its bytes.
    pub data: Blob,
    /// Its partition key.
    pub partition_key: String,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

/// A child of a closed shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChildShard {
    /// Its id.
    pub shard_id: String,
    /// Its parents.
    pub parent_shards: Vec<String>,
    /// Its hash keys.
    pub hash_key_range: HashKeyRange,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn put_records_reads_aws_shapes_and_ignores_unknown_members() {
        let body = json!({"StreamName":"s","StreamId":"x","Records":[{"Data":"XzxkYXRhPl8w","PartitionKey":"p"},
            {"Data":"","PartitionKey":"q","ExplicitHashKey":"0"}]});
        let input: PutRecordsInput = serde_json::from_value(body).expect("valid");
        assert_eq!(input.records[0].data.0, b"_<data>_0");
        assert_eq!(input.records[1].explicit_hash_key.as_deref(), Some("0"));
        assert!(serde_json::from_value::<PutRecordsInput>(json!({"Records":[{"Data":"%%","PartitionKey":"p"}]})).is_err());
    }

    #[test]
    fn answers_leave_absent_members_out() {
        let output = PutRecordsOutput {
            failed_record_count: 1,
            records: vec![
                PutRecordsResultEntry { sequence_number: Some("1".into()), shard_id: Some("shardId-000000000000".into()), ..Default::default() },
                PutRecordsResultEntry { error_code: Some("InternalFailure".into()), error_message: Some("m".into()), ..Default::default() },
            ],
            encryption_type: Some("NONE".into()),
        };
        assert_eq!(
            serde_json::to_value(&output).expect("serialisable"),
            json!({"FailedRecordCount":1,"EncryptionType":"NONE","Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},
                {"ErrorCode":"InternalFailure","ErrorMessage":"m"}]})
        );
    }

    #[test]
    fn error_bodies_name_their_type_with_or_without_a_namespace() {
        let body: ErrorBody = serde_json::from_str(r#"{"__type":"com.amazon#ResourceNotFoundException","Message":"gone"}"#).expect("valid");
        assert_eq!((body.kind(), body.message.as_deref()), ("ResourceNotFoundException", Some("gone")));
        assert_eq!(serde_json::to_string(&ErrorBody::new("X", "y")).expect("serialisable"), r#"{"__type":"X","message":"y"}"#);
    }
}
