//! The `kafka` source and sink configurations, what they check, and the librdkafka client
//! configuration they make.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use runnel_blocks::JqProgram;
use serde::Deserialize;
use serde_json::Value;

/// Options the source sets itself because its delivery guarantee depends on them.
const SOURCE_OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use `brokers`"),
    ("group.id", "use `group_id`"),
    ("enable.auto.commit", "the source commits only what the pipeline finished"),
    ("enable.auto.offset.store", "the source stores only what the pipeline finished"),
    ("auto.offset.reset", "use `start_from`"),
    ("auto.commit.interval.ms", "use `commit_interval_ms`"),
];

/// Options the sink sets from its own fields.
const SINK_OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use `brokers`"),
    ("compression.type", "use `compression`"),
    ("compression.codec", "use `compression`"),
    ("enable.idempotence", "use `idempotent`"),
    ("message.timeout.ms", "use `delivery_timeout_ms`"),
    ("delivery.timeout.ms", "use `delivery_timeout_ms`"),
];

/// librdkafka consumer options the source sets unless `options` says otherwise: librdkafka's own
/// defaults starve a consumer that keeps up with its topic (measured in `benches/kafka`).
///
/// - `fetch.queue.backoff.ms`: once the prefetched messages pass `queued.min.messages` (100,000,
///   counted over all of a consumer's partitions), librdkafka stops fetching and looks again only
///   after this delay, 1 s by default. A pipeline that reads more than 100,000 messages a second
///   empties the queue sooner and then waits for the rest of the second: at the default the
///   bench's pipeline copies 110,000 to 150,000 messages a second on 2 cores, at 10 ms 250,000
///   to 350,000. A full queue is then looked at 100 times a second, which costs nothing
///   measurable.
/// - `max.partition.fetch.bytes` (1 MiB by default): larger fetches from a busy partition, so a
///   fast pipeline needs fewer round trips to the broker. One fetch response stays bounded by
///   `fetch.max.bytes`, and the prefetched messages by `queued.max.messages.kbytes`, both left to
///   librdkafka (50 and 64 MiB): it keeps them consistent with `message.max.bytes` and
///   `receive.message.max.bytes` only while they are not set.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[("fetch.queue.backoff.ms", "10"), ("max.partition.fetch.bytes", "16777216")];

/// librdkafka producer options the sink sets unless `options` says otherwise. They are
/// librdkafka's defaults since 1.5, set here so that the sink batches the same way whichever
/// librdkafka it runs on: a partition's messages wait up to 5 ms to fill a batch of up to 10,000
/// messages, which takes far fewer produce requests than sending each message at once.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("linger.ms", "5"), ("batch.num.messages", "10000")];

/// A librdkafka option's value: TOML strings, integers and booleans are all accepted.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged, expecting = "a string, an integer or a boolean")]
pub enum OptionValue {
    /// A string, passed as is.
    Text(String),
    /// An integer, passed in decimal.
    Integer(i64),
    /// A boolean, passed as `true` or `false`.
    Bool(bool),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Integer(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Where a consumer group starts in a partition for which it has no committed offset.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest message still in the partition (the default).
    #[default]
    Earliest,
    /// Only messages produced after the group joined.
    Latest,
}

/// Reads JSON messages from Kafka topics as a member of a consumer group, committing an offset
/// only once every message before it was delivered (or dropped on purpose) downstream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, `host:port` separated by commas.
    pub brokers: String,
    /// Topics to read; a name starting with `^` is a regular expression matched against every
    /// topic of the cluster (including topics created later).
    pub topics: Vec<String>,
    /// The consumer group: processes with the same group share the topics' partitions.
    pub group_id: String,
    /// Where to start in a partition the group has no committed offset for.
    #[serde(default)]
    pub start_from: StartFrom,
    /// How often the offsets of finished messages are committed, in milliseconds.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// How long a rebalance waits for the revoked partitions' messages in flight to finish
    /// before it commits what finished and lets the partitions go, in milliseconds.
    #[serde(default = "default_revoke_timeout_ms")]
    pub revoke_timeout_ms: u64,
    /// How long a partition pauses before it is read again from a message that failed
    /// downstream, in milliseconds.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Further librdkafka consumer options (`"session.timeout.ms" = 6000`), passed through.
    #[serde(default)]
    pub options: BTreeMap<String, OptionValue>,
}

fn default_commit_interval_ms() -> u64 {
    1_000
}

fn default_revoke_timeout_ms() -> u64 {
    10_000
}

fn default_retry_backoff_ms() -> u64 {
    1_000
}

impl KafkaSourceConfig {
    /// The librdkafka configuration of the consumer.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set(
                "auto.offset.reset",
                match self.start_from {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            )
            .set("statistics.interval.ms", "5000");
        for (key, value) in CONSUMER_DEFAULTS {
            config.set(*key, *value);
        }
        // Later sets win: the user's options over the defaults above.
        for (key, value) in &self.options {
            config.set(key, value.to_string());
        }
        // librdkafka commits only the offsets the source stores: every `commit_interval_ms`, when
        // partitions are revoked, and when the consumer closes.
        config
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", self.commit_interval_ms.to_string())
            .set("enable.auto.offset.store", "false");
        config
    }

    /// Every problem with the configuration; checks librdkafka options without connecting.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.brokers.trim().is_empty() {
            problems.push("`brokers` must name at least one broker".to_owned());
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            problems.push("`topics` must list at least one topic, and no empty name".to_owned());
        }
        problems.extend(self.topics.iter().filter_map(|topic| topic_pattern_problem(topic)));
        if self.group_id.trim().is_empty() {
            problems.push("`group_id` must not be empty".to_owned());
        }
        for (field, value) in [("commit_interval_ms", self.commit_interval_ms), ("revoke_timeout_ms", self.revoke_timeout_ms)] {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        problems.extend(owned_options(&self.options, SOURCE_OWNED));
        if problems.is_empty() {
            problems.extend(librdkafka_problem(&self.client_config()));
        }
        problems
    }
}

/// Compression of the produced batches.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// No compression (the default).
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// A dotted path to a field (`user.name`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's path, its parts separated by dots.
    pub field: String,
}

/// A jq expression whose first output is used.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JqSpec {
    /// The expression.
    pub jq: JqProgram,
}

/// Where a sink takes a string from: a fixed string, a field of the message, or a jq expression.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged, expecting = "a string, `{ field = \"path.to.field\" }` or `{ jq = \"expression\" }`")]
pub enum ValueFrom {
    /// The same string for every message.
    Fixed(String),
    /// A field of the message.
    Field(FieldSpec),
    /// The first output of a jq expression on the message.
    Jq(JqSpec),
}

impl ValueFrom {
    /// The string for `value`: strings as they are, numbers and booleans as JSON text; `None`
    /// when the field is missing or null, or the expression has no output or outputs null.
    ///
    /// # Errors
    /// The jq expression's error, or a description of an unusable value (an object, an array).
    pub fn resolve<'a>(&'a self, value: &'a Value) -> Result<Option<Cow<'a, str>>, String> {
        match self {
            Self::Fixed(text) => Ok(Some(Cow::Borrowed(text))),
            Self::Field(spec) => spec.field.split('.').try_fold(value, |at, part| at.get(part)).map_or(Ok(None), text_of),
            Self::Jq(spec) => match spec.jq.run_first(value).map_err(|e| e.to_string())? {
                Some(out) => Ok(text_of(&out)?.map(|text| Cow::Owned(text.into_owned()))),
                None => Ok(None),
            },
        }
    }

    fn problems(&self, field: &str) -> Vec<String> {
        match self {
            Self::Fixed(text) if text.is_empty() => vec![format!("`{field}` must not be empty")],
            Self::Field(spec) if spec.field.split('.').any(str::is_empty) => {
                vec![format!("`{field}.field` must be a dotted path such as `room` or `user.id`")]
            }
            _ => Vec::new(),
        }
    }
}

fn text_of(value: &Value) -> Result<Option<Cow<'_, str>>, String> {
    match value {
        Value::String(text) => Ok(Some(Cow::Borrowed(text))),
        Value::Null => Ok(None),
        Value::Number(_) | Value::Bool(_) => Ok(Some(Cow::Owned(value.to_string()))),
        Value::Object(_) => Err("expected a string, found an object".to_owned()),
        Value::Array(_) => Err("expected a string, found an array".to_owned()),
    }
}

/// Writes each message as JSON to a Kafka topic; acknowledges a message when the broker
/// confirmed it, and sends it to the `errors` port when delivery failed after librdkafka's retries.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap brokers, `host:port` separated by commas.
    pub brokers: String,
    /// The topic: a name, `{ field = "room" }` or `{ jq = '"room-" + .room' }`.
    pub topic: ValueFrom,
    /// The message key, from a field or expression like `topic`. Without it, the key the message
    /// arrived with (from a Kafka source) is kept.
    #[serde(default)]
    pub key: Option<ValueFrom>,
    /// Forward the message's metadata headers (from a Kafka source) as Kafka headers.
    #[serde(default = "yes")]
    pub headers: bool,
    /// Batch compression: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(default)]
    pub compression: Compression,
    /// Idempotent producer: retries never duplicate or reorder messages within a partition
    /// (implies `acks=all`).
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// How long librdkafka keeps retrying a message before reporting it failed, in milliseconds.
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// Messages handed to the producer and not yet confirmed, at most; the sink stops reading its
    /// input while that many are in flight.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Further librdkafka producer options (`"linger.ms" = 5`), passed through.
    #[serde(default)]
    pub options: BTreeMap<String, OptionValue>,
}

fn yes() -> bool {
    true
}

fn default_delivery_timeout_ms() -> u64 {
    30_000
}

/// The largest `max_in_flight`: every message in flight is held until its delivery report, and
/// the sink counts them with a tokio semaphore, which panics above `Semaphore::MAX_PERMITS`.
const MAX_IN_FLIGHT: usize = 10_000_000;

fn default_max_in_flight() -> usize {
    50_000
}

impl KafkaSinkConfig {
    /// The librdkafka configuration of the producer.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in PRODUCER_DEFAULTS {
            config.set(*key, *value);
        }
        // Later sets win: the user's options over the defaults above.
        for (key, value) in &self.options {
            config.set(key, value.to_string());
        }
        config
            .set("compression.type", self.compression.name())
            .set("enable.idempotence", self.idempotent.to_string())
            .set("message.timeout.ms", self.delivery_timeout_ms.to_string());
        config
    }

    /// Every problem with the configuration; checks librdkafka options without connecting.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.brokers.trim().is_empty() {
            problems.push("`brokers` must name at least one broker".to_owned());
        }
        problems.extend(self.topic.problems("topic"));
        if let Some(key) = &self.key {
            problems.extend(key.problems("key"));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            problems.push(format!("`max_in_flight` must be 1 to {MAX_IN_FLIGHT}"));
        }
        if self.delivery_timeout_ms == 0 {
            problems.push("`delivery_timeout_ms` must be at least 1".to_owned());
        }
        problems.extend(owned_options(&self.options, SINK_OWNED));
        if problems.is_empty() {
            problems.extend(librdkafka_problem(&self.client_config()));
        }
        problems
    }
}

/// A topic starting with `^` is a regular expression, which librdkafka compiles only when it
/// subscribes, failing then with a bare "Invalid argument or configuration". Its dialect is
/// POSIX-like, not Rust's, but a pattern that the `regex` crate cannot compile either (an unclosed
/// group, a dangling repetition) cannot be meant, so it is refused at validation.
fn topic_pattern_problem(topic: &str) -> Option<String> {
    if !topic.starts_with('^') {
        return None;
    }
    let error = regex::Regex::new(topic).err()?;
    let reason = match error {
        regex::Error::Syntax(text) => text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_owned(),
        other => other.to_string(),
    };
    Some(format!("`topics`: `{topic}` starts with `^`, so it is a regular expression, and it does not compile: {reason}"))
}

fn owned_options(options: &BTreeMap<String, OptionValue>, owned: &[(&str, &str)]) -> Vec<String> {
    owned.iter().filter(|(key, _)| options.contains_key(*key)).map(|(key, why)| format!("`options.\"{key}\"` cannot be set: {why}")).collect()
}

/// librdkafka checks option names and values when it builds its configuration, before any
/// connection is made.
fn librdkafka_problem(config: &ClientConfig) -> Option<String> {
    config.create_native_config().err().map(|e| format!("librdkafka rejects the options: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(extra: &str) -> KafkaSourceConfig {
        toml::from_str(&format!("brokers = \"b:9092\"\ntopics = [\"t\"]\ngroup_id = \"g\"\n{extra}")).expect("deserialises")
    }

    fn sink(extra: &str) -> KafkaSinkConfig {
        toml::from_str(&format!("brokers = \"b:9092\"\n{extra}")).expect("deserialises")
    }

    #[test]
    fn options_pass_through_and_the_guarantees_cannot_be_switched_off() {
        let config = source("options = { \"session.timeout.ms\" = 6000, \"check.crcs\" = true }");
        let client = config.client_config();
        assert_eq!(client.get("session.timeout.ms"), Some("6000"));
        assert_eq!(client.get("check.crcs"), Some("true"));
        assert_eq!(client.get("enable.auto.offset.store"), Some("false"));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let bad = source("options = { \"enable.auto.commit\" = true }");
        assert_eq!(bad.problems().len(), 1);
        assert!(bad.problems()[0].contains("enable.auto.commit"), "{:?}", bad.problems());
    }

    #[test]
    fn throughput_defaults_are_set_and_options_override_them() {
        let client = source("").client_config();
        for (key, value) in CONSUMER_DEFAULTS {
            assert_eq!(client.get(key), Some(*value), "{key}");
        }
        // The README's example.
        let config = source("options = { \"fetch.queue.backoff.ms\" = 1000, \"max.partition.fetch.bytes\" = \"1048576\" }");
        let client = config.client_config();
        assert_eq!(client.get("fetch.queue.backoff.ms"), Some("1000"));
        assert_eq!(client.get("max.partition.fetch.bytes"), Some("1048576"));
        assert_eq!(client.get("statistics.interval.ms"), Some("5000"));
        assert!(config.problems().is_empty(), "{:?}", config.problems());

        let config = sink("topic = \"t\"");
        let client = config.client_config();
        for (key, value) in PRODUCER_DEFAULTS {
            assert_eq!(client.get(key), Some(*value), "{key}");
        }
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let client = sink("topic = \"t\"\noptions = { \"linger.ms\" = 0 }").client_config();
        assert_eq!(client.get("linger.ms"), Some("0"));
        assert_eq!(client.get("batch.num.messages"), Some("10000"));
        assert!(source("").problems().is_empty(), "librdkafka accepts the defaults");
    }

    #[test]
    fn librdkafka_rejects_unknown_options_without_connecting() {
        let problems = source("options = { \"no.such.option\" = 1 }").problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("no.such.option"), "{problems:?}");
    }

    #[test]
    fn a_topic_pattern_that_does_not_compile_is_a_problem() {
        let with_topics = |topics: &[&str]| KafkaSourceConfig { topics: topics.iter().map(|t| (*t).to_owned()).collect(), ..source("") };
        assert!(with_topics(&["^rooms\\..*", "plain(", "^[[:alpha:]]+$"]).problems().is_empty());
        let problems = with_topics(&["^foo(", "^a{2"]).problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("`topics`: `^foo(` starts with `^`, so it is a regular expression, and it does not compile: "),
            "{problems:?}"
        );
        assert!(problems[0].contains("unclosed group"), "{problems:?}");
        assert!(problems[1].contains("`^a{2`"), "{problems:?}");
    }

    #[test]
    fn topics_and_keys_come_from_strings_fields_or_jq() {
        let config = sink("topic = { field = \"room\" }\nkey = { jq = '.user + \"!\"' }");
        let value = json!({"room": "r1", "user": "ann"});
        assert_eq!(config.topic.resolve(&value).expect("ok").as_deref(), Some("r1"));
        assert_eq!(config.key.as_ref().expect("key").resolve(&value).expect("ok").as_deref(), Some("ann!"));
        let fixed = sink("topic = \"out\"");
        assert_eq!(fixed.topic.resolve(&value).expect("ok").as_deref(), Some("out"));
        let nested = ValueFrom::Field(FieldSpec { field: "a.b".into() });
        assert_eq!(nested.resolve(&json!({"a": {"b": 7}})).expect("ok").as_deref(), Some("7"));
        assert_eq!(nested.resolve(&json!({"a": 1})).expect("ok"), None);
        assert!(nested.resolve(&json!({"a": {"b": [1]}})).is_err());
    }

    #[test]
    fn bad_selectors_are_reported() {
        let error = toml::from_str::<KafkaSinkConfig>("brokers = \"b\"\ntopic = { column = \"x\" }").expect_err("invalid");
        assert!(error.to_string().contains("{ field = "), "{error}");
        assert!(toml::from_str::<KafkaSinkConfig>("brokers = \"b\"\ntopic = { jq = \".a ==\" }").is_err());
        assert_eq!(sink("topic = \"\"").problems(), vec!["`topic` must not be empty".to_owned()]);
        assert_eq!(sink("topic = { field = \"a..b\" }").problems().len(), 1);
        // Past tokio's semaphore limit the sink would panic when it starts.
        assert_eq!(sink("topic = \"t\"\nmax_in_flight = 2305843009213693952").problems(), vec!["`max_in_flight` must be 1 to 10000000".to_owned()]);
    }
}
