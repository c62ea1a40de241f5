//! What the Kafka source and sink report about their connection: librdkafka's logs, rate
//! limited (an unreachable broker makes it log a failed connection many times a second), and
//! readiness, unready while no broker can be reached.

use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::Statistics;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use runnel_engine::{LogLimiter, Readiness};

/// A Kafka client's logs and readiness, shared by its context's callbacks.
#[derive(Debug)]
pub(crate) struct ClientHealth {
    node: Arc<str>,
    readiness: Readiness,
    /// Warnings and errors from librdkafka, at most one per interval.
    logs: Mutex<LogLimiter>,
}

impl ClientHealth {
    pub(crate) fn new(node: Arc<str>, readiness: Readiness) -> Self {
        Self { node, readiness, logs: Mutex::new(LogLimiter::default()) }
    }

    /// A log line from librdkafka: warnings and errors at most every few seconds, with the
    /// count of those held back; the rest at debug level.
    pub(crate) fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let serious = matches!(
            level,
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning
        );
        if !serious {
            tracing::debug!(node = %self.node, facility, message, "librdkafka");
            return;
        }
        let allowed = self.logs.lock().unwrap_or_else(PoisonError::into_inner).check(1);
        if let Some(suppressed) = allowed {
            tracing::warn!(node = %self.node, facility, message, suppressed, "librdkafka");
        }
    }

    /// An error librdkafka reports: when every broker is down the node is unready.
    pub(crate) fn error(&self, error: &KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) && self.readiness.set(false) {
            tracing::warn!(node = %self.node, reason, "no Kafka broker can be reached: the node is unready until one can");
            return;
        }
        self.log(RDKafkaLogLevel::Error, "ERROR", &format!("{error}: {reason}"));
    }

    /// librdkafka's periodic statistics: a broker that is up makes the node ready again.
    pub(crate) fn stats(&self, statistics: &Statistics) {
        if statistics.brokers.values().any(|b| b.state == "UP") {
            self.reached();
        }
    }

    /// The client heard from a broker (a message, a delivery report, an assignment).
    pub(crate) fn reached(&self) {
        if self.readiness.set(true) {
            tracing::info!(node = %self.node, "a Kafka broker can be reached again");
        }
    }
}
