//! runnel's integration tests: one binary, one module per area, shared helpers in `support`.

mod acks;
mod architecture;
mod bigchaindb;
mod blocks;
mod chat;
mod cli;
mod compliance;
mod config;
mod connectors;
mod ethereum;
mod file_source;
mod fuzz;
mod http;
mod http_memory;
mod http_response;
mod http_server;
mod image;
mod kafka;
mod kinesis_server;
mod library;
mod listener;
mod metrics;
mod pipelines;
mod runtime;
mod support;
mod websocket;
