//! The Kinesis connectors. The `kinesis` source reads kinesalite (npm), a Kinesis that runs
//! here, into which the tests put records with boto3 (`boto.py`).

mod boto;
mod chat_ingest;
mod consumer;
