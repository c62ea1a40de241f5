//! The operations: each reads its request (the AWS JSON shapes of [`crate::kinesis::wire`]),
//! checks it as AWS does (constraint violations as one `ValidationException`, then the
//! operation's own errors) and answers with the operation's response shape.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::clock::{Clock, amz_utc};
use super::errors::{ApiError, Violations};
use super::hashing;
use super::metrics::ServerMetrics;
use super::sequence::{self, IteratorError};
use super::streams::{CreateError, Shard, StreamMeta, StreamState, Streams};
use super::writer::{Append, Entry, Stored};
use crate::kinesis::record::stream_arn;
use crate::kinesis::wire::*;

/// A record's data, at most.
pub(crate) const MAX_DATA_BYTES: usize = 1 << 20;
/// A `PutRecords` call's records, at most.
pub(crate) const MAX_RECORDS: usize = 500;
/// A `PutRecords` call's data and partition keys, at most.
pub(crate) const MAX_REQUEST_BYTES: usize = 5 << 20;
/// A `GetRecords` answer's bytes, about, at most.
const MAX_GET_BYTES: usize = 10 << 20;
/// A partition key's characters, at most.
const MAX_PARTITION_KEY: usize = 256;

/// What every operation of one endpoint shares.
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) streams: Arc<Streams>,
    pub(crate) writer: mpsc::Sender<Append>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: ServerMetrics,
    pub(crate) region: String,
    pub(crate) account: String,
    /// Records each shard may have waiting for the writer.
    pub(crate) max_queued_records: usize,
    /// Shards a stream may have.
    pub(crate) max_shards: u32,
    /// Retention of the streams `CreateStream` makes.
    pub(crate) retention_hours: u32,
    /// With `ack = "delivered"`: how long a put waits for its records' delivery downstream.
    pub(crate) delivery: Option<Duration>,
}

/// The operations served, as `X-Amz-Target` names them.
pub(crate) const OPERATIONS: &[&str] = &[
    "CreateStream",
    "DeleteStream",
    "ListStreams",
    "DescribeStream",
    "DescribeStreamSummary",
    "ListShards",
    "PutRecord",
    "PutRecords",
    "GetShardIterator",
    "GetRecords",
];

impl Api {
    /// Runs `operation` on a JSON `body`: the answer's JSON, or the error.
    pub(crate) async fn call(&self, operation: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        match operation {
            "CreateStream" => answer(self.create_stream(parse(body)?)),
            "DeleteStream" => answer(self.delete_stream(parse(body)?)),
            "ListStreams" => answer(self.list_streams(parse(body)?)),
            "DescribeStream" => answer(self.describe_stream(parse(body)?)),
            "DescribeStreamSummary" => answer(self.describe_stream_summary(parse(body)?)),
            "ListShards" => answer(self.list_shards(parse(body)?)),
            "PutRecord" => answer(self.put_record(parse(body)?).await),
            "PutRecords" => answer(self.put_records(parse(body)?).await),
            "GetShardIterator" => answer(self.get_shard_iterator(parse(body)?)),
            "GetRecords" => answer(self.get_records(parse(body)?).await),
            _ => Err(ApiError { kind: "UnknownOperationException", message: format!("Unknown operation {operation}"), status: 400 }),
        }
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(format!("Stream {name} under account {} not found.", self.account))
    }

    /// The stream a request names by `StreamName` or `StreamARN`.
    fn stream(&self, name: Option<&str>, arn: Option<&str>) -> Result<Arc<StreamState>, ApiError> {
        let name = match (name, arn) {
            (Some(name), _) => name,
            (None, Some(arn)) => {
                arn.rsplit_once(":stream/").map(|(_, name)| name).ok_or_else(|| ApiError::invalid_argument(format!("Invalid StreamARN {arn}.")))?
            }
            (None, None) => return Err(ApiError::invalid_argument("Either StreamName or StreamARN must be provided.")),
        };
        self.streams.get(name).ok_or_else(|| self.not_found(name))
    }

    fn create_stream(&self, input: CreateStreamInput) -> Result<(), ApiError> {
        let mut violations = Violations::default();
        check_stream_name(&mut violations, &input.stream_name);
        let shards = input.shard_count.unwrap_or(1);
        if shards < 1 {
            violations.add(Some(&shards.to_string()), "shardCount", "Member must have value greater than or equal to 1");
        }
        violations.into_result()?;
        if shards > self.max_shards {
            return Err(ApiError::limit_exceeded(format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: 0. Limit: {}. Number of additional shards that would have resulted from this request: {shards}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
                self.account, self.region, self.max_shards
            )));
        }
        let meta = StreamMeta { name: input.stream_name.clone(), shards, created_ms: self.clock.now_ms(), retention_hours: self.retention_hours };
        match self.streams.create(meta) {
            Ok(_) => Ok(()),
            Err(CreateError::Exists) => Err(ApiError::in_use(format!("Stream {} under account {} already exists.", input.stream_name, self.account))),
            Err(CreateError::Io(error)) => Err(ApiError::internal(format!("cannot create the stream: {error}"))),
        }
    }

    fn delete_stream(&self, input: DeleteStreamInput) -> Result<(), ApiError> {
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        match self.streams.delete(&stream.meta.name, self.clock.now_ms()) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(self.not_found(&stream.meta.name)),
            Err(error) => Err(ApiError::internal(format!("cannot delete the stream: {error}"))),
        }
    }

    fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput, ApiError> {
        let limit = input.limit.unwrap_or(100) as usize;
        check_limit(limit, "limit", 10_000)?;
        let after = match input.next_token {
            Some(token) => Some(
                String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap_or_default()).map_err(|_| ApiError::invalid_argument("Invalid NextToken."))?,
            ),
            None => input.exclusive_start_stream_name,
        };
        let all: Vec<Arc<StreamState>> = self.streams.all().into_iter().filter(|s| after.as_ref().is_none_or(|a| s.meta.name > *a)).collect();
        let has_more = all.len() > limit;
        let page = &all[..all.len().min(limit)];
        Ok(ListStreamsOutput {
            stream_names: page.iter().map(|s| s.meta.name.clone()).collect(),
            has_more_streams: has_more,
            stream_summaries: page
                .iter()
                .map(|s| StreamSummary {
                    stream_name: s.meta.name.clone(),
                    stream_arn: self.arn(&s.meta.name),
                    stream_status: "ACTIVE".into(),
                    stream_mode_details: Some(provisioned()),
                    stream_creation_timestamp: Some(seconds(s.meta.created_ms)),
                })
                .collect(),
            next_token: has_more.then(|| page.last().map(|s| URL_SAFE_NO_PAD.encode(&s.meta.name))).flatten(),
        })
    }

    fn arn(&self, name: &str) -> String {
        stream_arn(&self.region, &self.account, name)
    }

    fn describe_stream(&self, input: DescribeStreamInput) -> Result<DescribeStreamOutput, ApiError> {
        let limit = input.limit.unwrap_or(100) as usize;
        check_limit(limit, "limit", 10_000)?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let after = input.exclusive_start_shard_id.as_deref();
        let shards: Vec<&Shard> = stream.shards.iter().filter(|s| after.is_none_or(|a| s.id.as_str() > a)).collect();
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: stream.meta.name.clone(),
                stream_arn: self.arn(&stream.meta.name),
                stream_status: "ACTIVE".into(),
                stream_mode_details: Some(provisioned()),
                has_more_shards: shards.len() > limit,
                shards: shards.iter().take(limit).map(|s| self.shard(&stream, s)).collect(),
                retention_period_hours: stream.meta.retention_hours,
                stream_creation_timestamp: seconds(stream.meta.created_ms),
                enhanced_monitoring: vec![EnhancedMetrics::default()],
                encryption_type: Some("NONE".into()),
            },
        })
    }

    fn describe_stream_summary(&self, input: DescribeStreamInput) -> Result<DescribeStreamSummaryOutput, ApiError> {
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: stream.meta.name.clone(),
                stream_arn: self.arn(&stream.meta.name),
                stream_status: "ACTIVE".into(),
                stream_mode_details: Some(provisioned()),
                retention_period_hours: stream.meta.retention_hours,
                stream_creation_timestamp: seconds(stream.meta.created_ms),
                enhanced_monitoring: vec![EnhancedMetrics::default()],
                encryption_type: Some("NONE".into()),
                open_shard_count: stream.meta.shards,
                consumer_count: Some(0),
            },
        })
    }

    fn shard(&self, stream: &StreamState, shard: &Shard) -> crate::kinesis::wire::Shard {
        crate::kinesis::wire::Shard {
            shard_id: shard.id.clone(),
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            hash_key_range: HashKeyRange { starting_hash_key: shard.range.0.to_string(), ending_hash_key: shard.range.1.to_string() },
            sequence_number_range: SequenceNumberRange {
                starting_sequence_number: sequence::sequence_number(stream.meta.created_ms, shard.index, 0),
                ending_sequence_number: None,
            },
        }
    }

    fn list_shards(&self, input: ListShardsInput) -> Result<ListShardsOutput, ApiError> {
        let limit = input.max_results.unwrap_or(1000) as usize;
        check_limit(limit, "maxResults", 10_000)?;
        let (stream, after) = match &input.next_token {
            Some(_) if input.stream_name.is_some() => {
                return Err(ApiError::invalid_argument("NextToken and StreamName cannot be provided together."));
            }
            Some(token) => {
                let text = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
                let (name, after) = text.split_once('\n').ok_or_else(|| ApiError::invalid_argument("Invalid NextToken."))?;
                (self.stream(Some(name), None)?, Some(after.to_owned()))
            }
            None => (self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?, input.exclusive_start_shard_id.clone()),
        };
        let shards: Vec<&Shard> = stream.shards.iter().filter(|s| after.as_deref().is_none_or(|a| s.id.as_str() > a)).collect();
        let page: Vec<crate::kinesis::wire::Shard> = shards.iter().take(limit).map(|s| self.shard(&stream, s)).collect();
        let next_token =
            (shards.len() > limit).then(|| page.last().map(|s| URL_SAFE_NO_PAD.encode(format!("{}\n{}", stream.meta.name, s.shard_id)))).flatten();
        Ok(ListShardsOutput { shards: page, next_token })
    }

    async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput, ApiError> {
        let mut violations = Violations::default();
        check_record(&mut violations, "", &input.partition_key, input.explicit_hash_key.as_deref(), input.data.0.len());
        if let Some(ordering) = &input.sequence_number_for_ordering {
            check_sequence_text(&mut violations, "sequenceNumberForOrdering", ordering);
        }
        violations.into_result()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let shard = route(&stream, &input.partition_key, input.explicit_hash_key.as_deref())?;
        if !self.admit(shard) {
            return Err(ApiError::throttled(self.rate_exceeded(&stream, shard)));
        }
        let entry = Entry { shard: shard.index, partition_key: input.partition_key, data: input.data.0 };
        let stored = self.append(&stream, vec![entry]).await?;
        match stored.first().copied().flatten() {
            Some((counter, _)) => Ok(PutRecordOutput {
                shard_id: shard.id.clone(),
                sequence_number: sequence::sequence_number(stream.meta.created_ms, shard.index, counter),
                encryption_type: Some("NONE".into()),
            }),
            None => Err(ApiError::internal("The record could not be stored.")),
        }
    }

    async fn put_records(&self, input: PutRecordsInput) -> Result<PutRecordsOutput, ApiError> {
        let mut violations = Violations::default();
        if input.records.is_empty() {
            violations.add(None, "records", "Member must have length greater than or equal to 1");
        } else if input.records.len() > MAX_RECORDS {
            violations.add(None, "records", "Member must have length less than or equal to 500");
        }
        for (i, record) in input.records.iter().enumerate() {
            check_record(
                &mut violations,
                &format!("records.{}.member.", i + 1),
                &record.partition_key,
                record.explicit_hash_key.as_deref(),
                record.data.0.len(),
            );
        }
        violations.into_result()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let total: usize = input.records.iter().map(|r| r.data.0.len() + r.partition_key.len()).sum();
        if total > MAX_REQUEST_BYTES {
            return Err(ApiError::invalid_argument("Records size exceeds 5 MB limit"));
        }
        let mut shards = Vec::with_capacity(input.records.len());
        for record in &input.records {
            shards.push(route(&stream, &record.partition_key, record.explicit_hash_key.as_deref())?);
        }
        // Admitted records go to the writer; the others are answered throttled, each on its own.
        let mut results: Vec<PutRecordsResultEntry> = Vec::with_capacity(shards.len());
        let mut entries = Vec::with_capacity(shards.len());
        let mut admitted = Vec::with_capacity(shards.len());
        for (record, shard) in input.records.into_iter().zip(&shards) {
            if self.admit(shard) {
                admitted.push(results.len());
                entries.push(Entry { shard: shard.index, partition_key: record.partition_key, data: record.data.0 });
                results.push(PutRecordsResultEntry::default());
            } else {
                results.push(PutRecordsResultEntry {
                    error_code: Some("ProvisionedThroughputExceededException".into()),
                    error_message: Some(self.rate_exceeded(&stream, shard)),
                    ..Default::default()
                });
            }
        }
        let stored = if entries.is_empty() { Vec::new() } else { self.append(&stream, entries).await? };
        for (index, stored) in admitted.into_iter().zip(stored) {
            let shard = shards[index];
            results[index] = match stored {
                Some((counter, _)) => PutRecordsResultEntry {
                    sequence_number: Some(sequence::sequence_number(stream.meta.created_ms, shard.index, counter)),
                    shard_id: Some(shard.id.clone()),
                    ..Default::default()
                },
                None => PutRecordsResultEntry {
                    error_code: Some("InternalFailure".into()),
                    error_message: Some("Internal service failure.".into()),
                    ..Default::default()
                },
            };
        }
        let failed = results.iter().filter(|r| r.error_code.is_some()).count();
        Ok(PutRecordsOutput { failed_record_count: failed as u32, records: results, encryption_type: Some("NONE".into()) })
    }

    /// Takes a place in the shard's write queue, if there is one.
    fn admit(&self, shard: &Shard) -> bool {
        let admitted = shard.queued.fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| (q < self.max_queued_records).then_some(q + 1)).is_ok();
        if !admitted {
            self.metrics.records_throttled.inc();
        }
        admitted
    }

    fn rate_exceeded(&self, stream: &StreamState, shard: &Shard) -> String {
        format!("Rate exceeded for shard {} in stream {} under account {}.", shard.id, stream.meta.name, self.account)
    }

    /// Hands records to the writer and waits until they are stored (or not).
    async fn append(&self, stream: &Arc<StreamState>, entries: Vec<Entry>) -> Result<Vec<Stored>, ApiError> {
        let count = entries.len();
        let shards: Vec<u32> = entries.iter().map(|e| e.shard).collect();
        let (reply, stored) = oneshot::channel();
        let append = Append { stream: Arc::clone(stream), entries, reply };
        if let Err(refused) = self.writer.send(append).await {
            for entry in &refused.0.entries {
                stream.shards[entry.shard as usize].queued.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(ApiError::internal("The endpoint is shutting down."));
        }
        let mut stored = stored.await.map_err(|_| ApiError::internal("The record could not be stored."))?;
        debug_assert_eq!(stored.len(), count);
        if let Some(timeout) = self.delivery {
            self.wait_for_delivery(stream, &shards, &mut stored, timeout).await;
        }
        Ok(stored)
    }

    /// With `ack = "delivered"`: waits until the source's checkpoint of each shard passes the
    /// records stored there; those of a shard that does not within `timeout` become failures.
    async fn wait_for_delivery(&self, stream: &StreamState, shards: &[u32], stored: &mut [Stored], timeout: Duration) {
        let mut last: Vec<(u32, u64)> = Vec::new();
        for (shard, counter) in shards.iter().zip(stored.iter()).filter_map(|(s, st)| st.map(|(c, _)| (*s, c))) {
            match last.iter_mut().find(|(s, _)| *s == shard) {
                Some(entry) => entry.1 = entry.1.max(counter),
                None => last.push((shard, counter)),
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        for (shard, counter) in last {
            let mut delivered = stream.shards[shard as usize].delivered.subscribe();
            let waited = tokio::time::timeout_at(deadline, delivered.wait_for(|done| *done > counter)).await;
            if !matches!(waited, Ok(Ok(_))) {
                for (s, entry) in shards.iter().zip(stored.iter_mut()) {
                    if *s == shard {
                        *entry = None;
                    }
                }
            }
        }
    }

    fn get_shard_iterator(&self, input: GetShardIteratorInput) -> Result<GetShardIteratorOutput, ApiError> {
        const TYPES: &[&str] = &["AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER", "TRIM_HORIZON"];
        let mut violations = Violations::default();
        if input.shard_id.is_empty() {
            violations.null("shardId");
        }
        if input.shard_iterator_type.is_empty() {
            violations.null("shardIteratorType");
        } else if !TYPES.contains(&input.shard_iterator_type.as_str()) {
            violations.add(
                Some(&input.shard_iterator_type),
                "shardIteratorType",
                "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]",
            );
        }
        if let Some(number) = &input.starting_sequence_number {
            check_sequence_text(&mut violations, "startingSequenceNumber", number);
        }
        violations.into_result()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let name = &stream.meta.name;
        let shard = stream
            .shard(&input.shard_id)
            .ok_or_else(|| ApiError::not_found(format!("Shard {} in stream {name} under account {} does not exist", input.shard_id, self.account)))?;
        let kind = input.shard_iterator_type.as_str();
        let with_number = matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER");
        if with_number != input.starting_sequence_number.is_some() {
            let specified = if input.starting_sequence_number.is_some() { "and" } else { "and no" };
            return Err(ApiError::invalid_argument(format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} {specified} StartingSequenceNumber."
            )));
        }
        let published = shard.log.snapshot();
        let now = self.clock.now_ms();
        let counter = match kind {
            "TRIM_HORIZON" => published.first(),
            "LATEST" => published.next,
            "AT_TIMESTAMP" => {
                let Some(at) = input.timestamp else {
                    return Err(ApiError::invalid_argument(
                        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.",
                    ));
                };
                let at_ms = (at * 1000.0).round() as i64;
                if at_ms > now {
                    return Err(ApiError::invalid_argument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {at_ms}, currentTimestampInMillis: {now}"
                    )));
                }
                shard.log.find_time(at_ms).map_err(|e| ApiError::internal(format!("cannot read the shard: {e}")))?
            }
            _ => {
                let number = input.starting_sequence_number.as_deref().unwrap_or_default();
                let invalid = || {
                    ApiError::invalid_argument(format!(
                        "StartingSequenceNumber {number} used in GetShardIterator on shard {} in stream {name} under account {} is invalid.",
                        shard.id, self.account
                    ))
                };
                let decoded = sequence::decode(number).ok_or_else(invalid)?;
                if decoded.shard != shard.index {
                    return Err(ApiError::invalid_argument(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                        super::streams::shard_id(decoded.shard),
                        shard.id
                    )));
                }
                if decoded.created_secs != stream.meta.created_ms.div_euclid(1000) % 10_000_000_000 || decoded.counter > published.next {
                    return Err(invalid());
                }
                decoded.counter + u64::from(kind == "AFTER_SEQUENCE_NUMBER")
            }
        };
        let iterator = sequence::Iterator { created_ms: stream.meta.created_ms, shard: shard.index, counter, issued_ms: now, hint: None };
        Ok(GetShardIteratorOutput { shard_iterator: iterator.encode(name) })
    }

    async fn get_records(&self, input: GetRecordsInput) -> Result<GetRecordsOutput, ApiError> {
        let mut violations = Violations::default();
        if input.shard_iterator.is_empty() {
            violations.null("shardIterator");
        }
        let limit = input.limit.unwrap_or(10_000);
        if limit < 1 {
            violations.add(Some(&limit.to_string()), "limit", "Member must have value greater than or equal to 1");
        } else if limit > 10_000 {
            violations.add(Some(&limit.to_string()), "limit", "Member must have value less than or equal to 10000");
        }
        violations.into_result()?;
        let now = self.clock.now_ms();
        let (name, iterator) = sequence::Iterator::decode(&input.shard_iterator, now).map_err(|e| match e {
            IteratorError::Invalid => ApiError::invalid_argument("Invalid ShardIterator."),
            IteratorError::Expired(issued) => ApiError {
                kind: "ExpiredIteratorException",
                message: format!(
                    "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of 300000 milliseconds.",
                    amz_utc(issued),
                    amz_utc(now)
                ),
                status: 400,
            },
        })?;
        let gone = || {
            ApiError::not_found(format!(
                "Shard {} in stream {name} under account {} does not exist",
                super::streams::shard_id(iterator.shard),
                self.account
            ))
        };
        let stream = self.streams.get(&name).filter(|s| s.meta.created_ms == iterator.created_ms).ok_or_else(gone)?;
        let shard = stream.shards.get(iterator.shard as usize).ok_or_else(gone)?;
        let stream_for_read = Arc::clone(&stream);
        let index = shard.index as usize;
        let (from, hint) = (iterator.counter, iterator.hint);
        let batch = tokio::task::spawn_blocking(move || stream_for_read.shards[index].log.read(from, limit as usize, MAX_GET_BYTES, hint))
            .await
            .map_err(|e| ApiError::internal(format!("cannot read the shard: {e}")))?
            .map_err(|e| ApiError::internal(format!("cannot read the shard: {e}")))?;
        let published = shard.log.snapshot();
        let behind = match batch.records.last() {
            _ if batch.next >= published.next => 0,
            Some(last) => (now - last.arrival_ms).max(0) as u64,
            None => 0,
        };
        let next =
            sequence::Iterator { created_ms: stream.meta.created_ms, shard: shard.index, counter: batch.next, issued_ms: now, hint: batch.hint };
        Ok(GetRecordsOutput {
            records: batch
                .records
                .into_iter()
                .map(|r| Record {
                    sequence_number: sequence::sequence_number(stream.meta.created_ms, shard.index, r.counter),
                    approximate_arrival_timestamp: Some(seconds(r.arrival_ms)),
                    data: Blob(r.data),
                    partition_key: r.partition_key,
                    encryption_type: Some("NONE".into()),
                })
                .collect(),
            next_shard_iterator: Some(next.encode(&name)),
            millis_behind_latest: Some(behind),
            child_shards: None,
        })
    }
}

/// Reads a request body as the operation's input; a body that is not one is a `SerializationException`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::serialization(serialization_message(&e)))
}

fn serialization_message(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => format!("{error}"),
        _ => "Start of structure or map found where not expected.".to_owned(),
    }
}

fn answer<T: Serialize>(result: Result<T, ApiError>) -> Result<Vec<u8>, ApiError> {
    let value = result?;
    serde_json::to_vec(&value).map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))
}

fn provisioned() -> StreamModeDetails {
    StreamModeDetails { stream_mode: "PROVISIONED".into() }
}

fn seconds(ms: i64) -> f64 {
    crate::kinesis::record::arrival_seconds(ms)
}

fn check_limit(limit: usize, name: &str, max: usize) -> Result<(), ApiError> {
    let mut violations = Violations::default();
    if limit < 1 {
        violations.add(Some(&limit.to_string()), name, "Member must have value greater than or equal to 1");
    } else if limit > max {
        violations.add(Some(&limit.to_string()), name, &format!("Member must have value less than or equal to {max}"));
    }
    violations.into_result()
}

fn check_stream_name(violations: &mut Violations, name: &str) {
    if name.is_empty() {
        violations.null("streamName");
    } else if name.len() > 128 {
        violations.add(Some(name), "streamName", "Member must have length less than or equal to 128");
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        violations.add(Some(name), "streamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    }
}

/// A record's constraints; `at` is the member path's prefix (`records.3.member.` or empty).
fn check_record(violations: &mut Violations, at: &str, partition_key: &str, explicit_hash_key: Option<&str>, data_bytes: usize) {
    let characters = partition_key.chars().count();
    if characters < 1 {
        violations.add(None, &format!("{at}partitionKey"), "Member must have length greater than or equal to 1");
    } else if characters > MAX_PARTITION_KEY {
        violations.add(None, &format!("{at}partitionKey"), "Member must have length less than or equal to 256");
    }
    if let Some(key) = explicit_hash_key.filter(|k| !hashing::is_hash_key_text(k)) {
        violations.add(Some(key), &format!("{at}explicitHashKey"), "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})");
    }
    if data_bytes > MAX_DATA_BYTES {
        violations.add(None, &format!("{at}data"), "Member must have length less than or equal to 1048576");
    }
}

fn check_sequence_text(violations: &mut Violations, at: &str, number: &str) {
    if !sequence::is_sequence_text(number) {
        violations.add(Some(number), at, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})");
    }
}

/// The shard a record goes to.
fn route<'a>(stream: &'a StreamState, partition_key: &str, explicit_hash_key: Option<&str>) -> Result<&'a Shard, ApiError> {
    let key = match explicit_hash_key {
        Some(text) => hashing::explicit_hash_key(text).map_err(|_| {
            ApiError::invalid_argument(format!(
                "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {text}"
            ))
        })?,
        None => hashing::hash_key(partition_key),
    };
    Ok(stream.shard_for(key))
}
