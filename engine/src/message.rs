//! Messages: a JSON value plus metadata and acknowledgement tokens.
//!
//! A [`Message`] is cheap to clone: the JSON value sits behind an [`Arc`], so fan-out hands every
//! consumer the same value and a block that changes it copies it only if another consumer still
//! holds it ([`Message::value_mut`], copy-on-write).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::ack::{AckStatus, Acks};

/// One JSON message flowing through a pipeline.
#[derive(Clone, Debug)]
pub struct Message {
    value: Arc<Value>,
    /// Key, timestamps, headers and where the message came from.
    pub meta: Metadata,
    /// The acknowledgement tokens of the source messages this one derives from.
    pub acks: Acks,
}

impl Message {
    /// A message holding `value`, with empty metadata and no acknowledgement.
    pub fn new(value: Value) -> Self {
        Self { value: Arc::new(value), meta: Metadata::default(), acks: Acks::none() }
    }

    /// A message holding `value` and `meta`.
    pub fn with_meta(value: Value, meta: Metadata) -> Self {
        Self { value: Arc::new(value), meta, acks: Acks::none() }
    }

    /// The JSON value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The JSON value, shared.
    pub fn shared_value(&self) -> &Arc<Value> {
        &self.value
    }

    /// The JSON value for writing; copies it first if another message shares it.
    pub fn value_mut(&mut self) -> &mut Value {
        Arc::make_mut(&mut self.value)
    }

    /// Replaces the JSON value, keeping metadata and acknowledgements.
    pub fn set_value(&mut self, value: Value) {
        self.value = Arc::new(value);
    }

    /// Replaces the JSON value with an already shared one.
    pub fn set_shared_value(&mut self, value: Arc<Value>) {
        self.value = value;
    }

    /// Takes the JSON value out, copying it only if it is shared.
    pub fn into_value(self) -> Value {
        Arc::try_unwrap(self.value).unwrap_or_else(|shared| (*shared).clone())
    }

    /// A new message with `value` that inherits this message's metadata and acknowledgements
    /// (for blocks that turn one message into several).
    pub fn derive(&self, value: Value) -> Self {
        Self { value: Arc::new(value), meta: self.meta.clone(), acks: self.acks.clone() }
    }

    /// Resolves this message's acknowledgements with `status` and drops it.
    pub fn ack(self, status: AckStatus) {
        self.acks.resolve(status);
    }

    /// The size used for byte metrics: the raw size the source read, if it knows it.
    pub fn size_hint(&self) -> usize {
        self.meta.size as usize
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
    /// The source node's name.
    pub node: Option<Arc<str>>,
    /// A file name, topic or stream, if the source has one.
    pub stream: Option<Arc<str>>,
    /// A partition or shard number.
    pub partition: Option<i32>,
    /// The line number, offset or sequence number within the stream.
    pub offset: Option<u64>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = &self.node {
            write!(f, "source `{node}`")?;
        }
        if let Some(stream) = &self.stream {
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
        assert!(Arc::ptr_eq(a.shared_value(), b.shared_value()));
        b.value_mut()["n"] = json!(2);
        assert_eq!(a.value()["n"], 1);
        assert_eq!(b.value()["n"], 2);
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
