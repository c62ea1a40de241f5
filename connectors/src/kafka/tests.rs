//! Kafka tests (filled in below).
