//! The `lambda` block's configuration: Lambda's event-source-mapping fields in snake case.

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, DEFAULT_PORT, Role, async_trait};
use serde::Deserialize;

use super::filter::FilterPattern;
use super::handler::HandlerConfig;
use super::record::EventSource;
use super::{Lambda, ON_FAILURE, WINDOWS};
use crate::time::Span;

/// Configuration of the `lambda` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaConfig {
    /// Records per invocation, at most (1..10000; Lambda's `BatchSize`). An event's payload is
    /// also kept under 6 MB.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How long records may wait for a batch to fill (at most 300 s; Lambda's
    /// `MaximumBatchingWindowInSeconds`). 0, the default, invokes as soon as records are there.
    #[serde(default)]
    pub maximum_batching_window: Option<Span>,
    /// Batches of one shard in flight at once (1..10): records go to lanes by a hash of their
    /// partition key, and each lane invokes one batch at a time, so order holds per key.
    #[serde(default = "default_parallelization_factor")]
    pub parallelization_factor: usize,
    /// Split a failed batch in two and retry the halves apart, down to single records; splits
    /// do not count as retries.
    #[serde(default)]
    pub bisect_batch_on_function_error: bool,
    /// Retries of a failed batch before it is discarded to `on_failure` (-1, the default, for
    /// no limit; up to 10000). The first attempt is not a retry.
    #[serde(default = "default_retries")]
    pub maximum_retry_attempts: i64,
    /// Discard a batch to `on_failure` once its oldest record is older than this (60 s to
    /// 7 days); no limit when unset.
    #[serde(default)]
    pub maximum_record_age: Option<Span>,
    /// Read `batchItemFailures` in responses: records before the lowest failed sequence number
    /// succeed, the rest are retried (Lambda's `ReportBatchItemFailures` response type).
    #[serde(default)]
    pub report_batch_item_failures: bool,
    /// Tumbling windows of this length (whole seconds, up to 900 s), aligned to the epoch, by
    /// the records' arrival time: the handler gets the window and its state with each event,
    /// and answers with the new state. Unset or 0: no windows.
    #[serde(default)]
    pub tumbling_window: Option<Span>,
    /// EventBridge patterns (JSON text or tables), ORed: a record matching none is acknowledged
    /// as filtered and never invoked. The field `data` is the record's data decoded from base64
    /// and parsed as JSON; other fields are the record's `kinesis` fields.
    #[serde(default)]
    pub filter_criteria: Vec<FilterPattern>,
    /// What the input is: `kinesis` (records of Lambda's Kinesis event, the default) or `kafka`
    /// (the `kafka` source's messages, invoked with Lambda's Kafka event per topic-partition).
    #[serde(default)]
    pub event_source: EventSource,
    /// The Kafka event's and on-failure record's `bootstrapServers` (`event_source = "kafka"`).
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// The function: `{ type = "map", program = "<jq>" }`, whose program receives the event
    /// and outputs the response.
    pub handler: HandlerConfig,
}

fn default_batch_size() -> usize {
    100
}

fn default_parallelization_factor() -> usize {
    1
}

fn default_retries() -> i64 {
    -1
}

/// Filters a mapping may have (Lambda's quota once raised).
const MAX_FILTERS: usize = 10;

impl Component for LambdaConfig {
    const TYPE: &'static str = "lambda";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str =
        "Invokes a handler with batches of Kinesis records, with Lambda's retries, bisect, partial failures and tumbling windows.";
    const EXAMPLE: &'static str = "batch_size = 100\nmaximum_batching_window = \"1s\"\nmaximum_retry_attempts = 2\n\
        bisect_batch_on_function_error = true\nreport_batch_item_failures = true\n\
        filter_criteria = ['{\"data\": {\"kind\": [\"chat\"]}}']\n\
        handler = { type = \"map\", program = '{batchItemFailures: []}' }";
}

impl LambdaConfig {
    /// The tumbling window's length in ms, if windows are on.
    pub(super) fn window_ms(&self) -> Option<i64> {
        self.tumbling_window.map(Span::millis).filter(|&ms| ms > 0)
    }

    /// `maximum_retry_attempts` as a limit, `None` for no limit.
    pub(super) fn retry_limit(&self) -> Option<u32> {
        u32::try_from(self.maximum_retry_attempts).ok()
    }
}

#[async_trait]
impl BlockConfig for LambdaConfig {
    fn outputs(&self) -> Vec<String> {
        vec![DEFAULT_PORT.to_owned(), ON_FAILURE.to_owned(), WINDOWS.to_owned()]
    }

    fn validate_files(&self, base_dir: &std::path::Path) -> Vec<String> {
        self.handler.file_problems(base_dir)
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = self.handler.problems();
        if !(1..=10_000).contains(&self.batch_size) {
            problems.push(format!("`batch_size` must be between 1 and 10000, not {}", self.batch_size));
        }
        if let Some(window) = self.maximum_batching_window.filter(|w| w.millis() > 300_000) {
            problems.push(format!("`maximum_batching_window` must be at most 300s, not {window}"));
        }
        if !(1..=10).contains(&self.parallelization_factor) {
            problems.push(format!("`parallelization_factor` must be between 1 and 10, not {}", self.parallelization_factor));
        }
        if !(-1..=10_000).contains(&self.maximum_retry_attempts) {
            problems.push(format!("`maximum_retry_attempts` must be between -1 (no limit) and 10000, not {}", self.maximum_retry_attempts));
        }
        if self.maximum_record_age.is_some_and(|age| !(60_000..=604_800_000).contains(&age.millis())) {
            // Lambda's own message, word for word.
            problems
                .push("`maximum_record_age`: MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)".to_owned());
        }
        if let Some(window) = self.tumbling_window {
            if window.millis() > 900_000 || window.millis() % 1000 != 0 {
                problems.push(format!("`tumbling_window` must be a whole number of seconds up to 900s, not {window}"));
            }
            if window.millis() > 0 && self.parallelization_factor > 1 {
                problems.push(
                    "`tumbling_window` keeps one state per shard, so it needs `parallelization_factor` = 1 (runnel does not split a window's state across lanes)"
                        .to_owned(),
                );
            }
        }
        if self.event_source == EventSource::Kafka {
            // AWS defines these for Kinesis only (and does not document Kafka's item identifiers).
            let kinesis_only = [
                (self.parallelization_factor > 1, "parallelization_factor"),
                (self.window_ms().is_some(), "tumbling_window"),
                (self.report_batch_item_failures, "report_batch_item_failures"),
            ];
            for (set, field) in kinesis_only {
                if set {
                    problems.push(format!("`{field}` is for Kinesis records; with `event_source = \"kafka\"` leave it unset"));
                }
            }
        }
        if self.filter_criteria.len() > MAX_FILTERS {
            problems.push(format!("`filter_criteria` holds {} patterns; at most {MAX_FILTERS}", self.filter_criteria.len()));
        }
        problems
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let handler = self.handler.build(cx).await?;
        Ok(BuiltBlock::task(Lambda::new(self.clone(), cx.name.clone(), handler)))
    }
}
