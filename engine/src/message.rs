//! Messages: a JSON value plus metadata and acknowledgement tokens.
//!
//! A [`Message`] is cheap to clone and to move: the JSON value and the metadata sit together
//! behind one [`Arc`], so a message is 32 bytes, fan-out hands every consumer the same value,
//! and a block that changes a message copies it only if another consumer still holds it
//! ([`Message::value_mut`], [`Message::meta_mut`], copy-on-write).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::ack::{AckStatus, Acks};

/// One JSON message flowing through a pipeline.
#[derive(Clone, Debug)]
pub struct Message {
    body: Arc<Body>,
    /// The acknowledgement tokens of the source messages this one derives from.
    pub acks: Acks,
}

/// What copies of a message share.
#[derive(Clone, Debug)]
struct Body {
    value: Value,
    meta: Metadata,
}

impl Message {
    /// A message holding `value`, with empty metadata and no acknowledgement.
    pub fn new(value: Value) -> Self {
        Self::with_meta(value, Metadata::default())
    }

    /// A message holding `value` and `meta`.
    pub fn with_meta(value: Value, meta: Metadata) -> Self {
        Self { body: Arc::new(Body { value, meta }), acks: Acks::none() }
    }

    /// The JSON value.
    pub fn value(&self) -> &Value {
        &self.body.value
    }

    /// The JSON value, held apart from the message: it stays readable after the message moves
    /// on, without a copy.
    pub fn shared_value(&self) -> SharedValue {
        SharedValue(Arc::clone(&self.body))
    }

    /// Whether this message and `other` share one value (copies that neither has written).
    pub fn shares_value_with(&self, other: &Message) -> bool {
        Arc::ptr_eq(&self.body, &other.body)
    }

    /// The JSON value for writing; copies the message first if another message shares it.
    pub fn value_mut(&mut self) -> &mut Value {
        &mut Arc::make_mut(&mut self.body).value
    }

    /// Key, timestamps, headers and where the message came from.
    pub fn meta(&self) -> &Metadata {
        &self.body.meta
    }

    /// The metadata for writing; copies the message, value included, first if another message
    /// shares it.
    pub fn meta_mut(&mut self) -> &mut Metadata {
        &mut Arc::make_mut(&mut self.body).meta
    }

    /// Replaces the JSON value, keeping metadata and acknowledgements.
    pub fn set_value(&mut self, value: Value) {
        match Arc::get_mut(&mut self.body) {
            Some(body) => body.value = value,
            None => self.body = Arc::new(Body { value, meta: self.body.meta.clone() }),
        }
    }

    /// Takes the JSON value out, copying it only if it is shared.
    pub fn into_value(self) -> Value {
        Arc::try_unwrap(self.body).map_or_else(|shared| shared.value.clone(), |body| body.value)
    }

    /// A new message with `value` that inherits this message's metadata and acknowledgements
    /// (for blocks that turn one message into several).
    pub fn derive(&self, value: Value) -> Self {
        Self { body: Arc::new(Body { value, meta: self.body.meta.clone() }), acks: self.acks.clone() }
    }

    /// Resolves this message's acknowledgements with `status` and drops it.
    pub fn ack(self, status: AckStatus) {
        self.acks.resolve(status);
    }

    /// The size used for byte metrics: the raw size the source read, if it knows it.
    pub fn size_hint(&self) -> usize {
        self.body.meta.size as usize
    }
}

/// A message's JSON value, shared with the message ([`Message::shared_value`]).
#[derive(Clone, Debug)]
pub struct SharedValue(Arc<Body>);

impl Deref for SharedValue {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0.value
    }
}

/// What a message carries beside its JSON value.
///
/// Every field is cheap to clone, so fan-out does not deep-copy metadata either.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// Partitioning key (a Kafka key, a Kinesis partition key, a WebSocket channel).
    pub key: Option<Bytes>,
    /// Event time in milliseconds since the Unix epoch, when the source knows it.
    pub timestamp: Option<i64>,
    /// Protocol headers, shared between clones.
    pub headers: Option<Arc<Vec<(String, Bytes)>>>,
    /// Where the message entered the pipeline.
    pub origin: Origin,
    /// Connector-specific attributes (topic, client id, channel...), shared between clones.
    pub attributes: Option<Arc<serde_json::Map<String, Value>>>,
    /// Size in bytes of the raw input the source read, for byte metrics.
    pub size: u32,
    /// The number literals of the input that a 64-bit float does not hold exactly, so that
    /// sinks write them as they came (see [`ExactNumbers`]); `None` for almost every message.
    pub exact_numbers: Option<Arc<ExactNumbers>>,
}

/// Number literals that a `serde_json::Value` cannot hold exactly (`18446744073709551616`,
/// `0.1000000000000000055511151231257827`, `1e400`, `1e-400`), each beside the float the value
/// holds instead: sinks write the literal wherever that float appears in the message. So a
/// number that passes through, or is copied by a transform without arithmetic, comes out as it
/// came in; arithmetic on it works on the float, as in jq.
///
/// Lookup is by the float's bits: if a message holds two different literals that round to the
/// same float, or a computed float equal to a rounded literal (`.n + 1` where `.n` is
/// `123456789012345678901234567890`: the float does not change), the first literal is written
/// for all of them.
///
/// ```
/// # use runnel_engine::ExactNumbers;
/// // `1e400` is beyond a float's range: the value holds the largest float instead.
/// let exact = ExactNumbers::new(vec![(f64::MAX, "1e400".into())]);
/// assert_eq!(exact.literal(f64::MAX), Some("1e400"));
/// assert_eq!(exact.literal(1.5), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExactNumbers(Vec<(u64, Box<str>)>);

impl ExactNumbers {
    /// The literals, each beside the float the value holds for it.
    pub fn new(literals: Vec<(f64, Box<str>)>) -> Self {
        Self(literals.into_iter().map(|(float, literal)| (float.to_bits(), literal)).collect())
    }

    /// The literal the float `value` stands for, if it stands for one.
    pub fn literal(&self, value: f64) -> Option<&str> {
        let bits = value.to_bits();
        self.0.iter().find(|(b, _)| *b == bits).map(|(_, literal)| &**literal)
    }

    /// Whether there is no literal.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Metadata {
    /// An attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes.as_ref()?.get(name)
    }

    /// Sets an attribute, copying the attribute map first if it is shared.
    pub fn set_attribute(&mut self, name: impl Into<String>, value: Value) {
        let map = self.attributes.get_or_insert_with(Default::default);
        Arc::make_mut(map).insert(name.into(), value);
    }
}

/// Where a message entered the pipeline: a position a user can look up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The source node and the stream it read, shared by all the messages read from it: one
    /// reference to count per message rather than two.
    pub from: Option<Arc<Stream>>,
    /// A partition or shard number.
    pub partition: Option<i32>,
    /// The line number, offset or sequence number within the stream.
    pub offset: Option<u64>,
}

impl Origin {
    /// Message `offset` of `from`.
    pub fn at(from: &Arc<Stream>, offset: u64) -> Self {
        Self { from: Some(Arc::clone(from)), partition: None, offset: Some(offset) }
    }

    /// The source node's name.
    pub fn node(&self) -> Option<&str> {
        self.from.as_ref().map(|from| &*from.node)
    }

    /// The file name, topic or stream, if the source has one.
    pub fn stream(&self) -> Option<&str> {
        self.from.as_ref()?.name.as_deref()
    }
}

/// A source node and what it reads: a file, a topic, a connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Stream {
    /// The source node's name.
    pub node: Arc<str>,
    /// A file name, topic or stream, if the source has one.
    pub name: Option<Arc<str>>,
}

impl Stream {
    /// The stream `name` (if any) of source `node`, to share between its messages.
    pub fn new(node: Arc<str>, name: Option<Arc<str>>) -> Arc<Self> {
        Arc::new(Self { node, name })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = self.node() {
            write!(f, "source `{node}`")?;
        }
        if let Some(stream) = self.stream() {
            write!(f, " {stream}")?;
        }
        if let Some(partition) = self.partition {
            write!(f, " partition {partition}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " offset {offset}")?;
        }
        Ok(())
    }
}

/// A group of messages moved through a channel in one send.
pub type Batch = Vec<Message>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clones_share_the_value_until_one_writes() {
        let a = Message::new(json!({"n": 1}));
        let mut b = a.clone();
        assert!(a.shares_value_with(&b));
        b.value_mut()["n"] = json!(2);
        assert!(!a.shares_value_with(&b));
        assert_eq!(a.value()["n"], 1);
        assert_eq!(b.value()["n"], 2);
    }

    #[test]
    fn a_message_is_small_enough_to_move_in_registers() {
        assert_eq!(std::mem::size_of::<Message>(), 32);
    }

    #[test]
    fn metadata_writes_copy_a_shared_message() {
        let a = Message::new(json!({"n": 1}));
        let mut b = a.clone();
        b.meta_mut().timestamp = Some(7);
        assert_eq!((a.meta().timestamp, b.meta().timestamp), (None, Some(7)));
        assert_eq!(b.value(), a.value());
    }

    #[test]
    fn attributes_copy_on_write() {
        let mut a = Metadata::default();
        a.set_attribute("room", json!("r1"));
        let mut b = a.clone();
        b.set_attribute("room", json!("r2"));
        assert_eq!(a.attribute("room"), Some(&json!("r1")));
        assert_eq!(b.attribute("room"), Some(&json!("r2")));
    }
}
