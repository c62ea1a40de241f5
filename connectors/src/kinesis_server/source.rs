//! The `kinesis_server` node: at build, binds the listener, opens (and recovers) the shard logs,
//! creates the declared streams and reads the checkpoints; while running, serves the API, runs
//! the group-commit writer and emits the stored records; at shutdown, stops accepting, answers
//! the requests in flight (their records are written), lets the pipeline drain and saves the
//! checkpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use runnel_engine::Block;
use runnel_engine::{
    BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, HttpListener, Resource, Resources, Role, RunContext, async_trait,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::api::Api;
use super::checkpoint::{Checkpoints, StreamCheckpoint};
use super::clock::{Clock, SystemClock};
use super::config::{AckMode, KinesisServerConfig, StartingPosition};
use super::http::{Endpoint, router};
use super::metrics::ServerMetrics;
use super::pump::Pump;
use super::streams::{CreateError, StreamMeta, Streams};
use super::writer::{Append, QUEUED_APPENDS, Writer};

impl Component for KinesisServerConfig {
    const TYPE: &'static str = "kinesis_server";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "A Kinesis Data Streams endpoint (AWS JSON 1.1: PutRecord(s), GetRecords, streams and shards) whose shards are durable segment logs; emits every stored record as Lambda's Kinesis event record.";
    const EXAMPLE: &'static str = r#"address = "127.0.0.1:4567"
data_dir = "kinesis-data"
streams = [{ name = "chat", shards = 4 }]
fsync = "always"
retention_hours = 24
starting_position = "TRIM_HORIZON""#;
}

#[async_trait]
impl BlockConfig for KinesisServerConfig {
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::new("listen", self.address.clone())]
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let data_dir = self.data_dir(cx)?;
        let streams = Streams::open(&data_dir, self.segment_bytes)
            .map_err(|e| BuildError::Invalid(format!("cannot open the shard logs in {}: {e}", data_dir.display())))?;
        for stream in &self.streams {
            let meta =
                StreamMeta { name: stream.name.clone(), shards: stream.shards, created_ms: clock.now_ms(), retention_hours: self.retention_hours };
            match streams.create(meta) {
                Ok(_) | Err(CreateError::Exists) => {}
                Err(CreateError::Io(e)) => {
                    return Err(BuildError::Invalid(format!("cannot create stream `{}` in {}: {e}", stream.name, data_dir.display())));
                }
            }
        }
        let checkpoint_path = match &cx.state_dir {
            Some(dir) => dir.join(format!("{}.kinesis-checkpoints.json", cx.name)),
            None => data_dir.join("checkpoints.json"),
        };
        let mut checkpoints = Checkpoints::load(checkpoint_path).map_err(|e| BuildError::Invalid(e.to_string()))?;
        self.first_positions(&streams, &mut checkpoints).map_err(|e| BuildError::Invalid(format!("cannot find the starting position: {e}")))?;
        let listener = TcpListener::bind(&self.address).await.map_err(|e| BuildError::Invalid(format!("cannot listen on {}: {e}", self.address)))?;
        let address = listener.local_addr()?;
        cx.resources.insert(address_key(&cx.name), address);
        tracing::info!(node = %cx.name, %address, data = %data_dir.display(), "kinesis endpoint listening");
        let metrics = ServerMetrics::register(&cx.metrics, &cx.name);
        Ok(BuiltBlock::task(KinesisServer {
            listener: HttpListener::new(listener, &cx.name, self.listener_limits(), &cx.metrics),
            streams: Arc::new(streams),
            checkpoints,
            clock,
            metrics,
            config: self.clone(),
        }))
    }
}

impl KinesisServerConfig {
    /// Puts the first run's starting position in the checkpoints of the streams that have none.
    fn first_positions(&self, streams: &Streams, checkpoints: &mut Checkpoints) -> std::io::Result<()> {
        for stream in streams.all() {
            if checkpoints.streams.get(&stream.meta.name).is_some_and(|c| c.created_ms == stream.meta.created_ms) {
                continue;
            }
            let mut shards = Vec::with_capacity(stream.shards.len());
            for shard in &stream.shards {
                let published = shard.log.snapshot();
                shards.push(match self.starting_position {
                    StartingPosition::TrimHorizon => published.first(),
                    StartingPosition::Latest => published.next,
                    StartingPosition::AtTimestamp => shard.log.find_time((self.starting_timestamp.unwrap_or(0.0) * 1000.0).round() as i64)?,
                });
            }
            checkpoints.streams.insert(stream.meta.name.clone(), StreamCheckpoint { created_ms: stream.meta.created_ms, shards });
        }
        Ok(())
    }
}

fn address_key(node: &str) -> String {
    format!("kinesis_server:{node}:address")
}

/// The address the `kinesis_server` called `node` listens on (useful with port 0), once the
/// pipeline has started. Taken: a second call returns `None`.
pub fn take_address(resources: &Resources, node: &str) -> Option<SocketAddr> {
    resources.take(&address_key(node))
}

/// The running `kinesis_server` source.
#[derive(Debug)]
pub struct KinesisServer {
    listener: HttpListener,
    streams: Arc<Streams>,
    checkpoints: Checkpoints,
    clock: Arc<dyn Clock>,
    metrics: ServerMetrics,
    config: KinesisServerConfig,
}

#[async_trait]
impl Block for KinesisServer {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { listener, streams, checkpoints, clock, metrics, config } = *self;
        let (appends, queued) = mpsc::channel::<Append>(QUEUED_APPENDS);
        let api = Api {
            streams: Arc::clone(&streams),
            writer: appends,
            clock: Arc::clone(&clock),
            metrics: metrics.clone(),
            region: config.region.clone(),
            account: config.account.clone(),
            max_queued_records: config.max_queued_records,
            max_shards: config.max_shards,
            retention_hours: config.retention_hours,
            delivery: (config.ack == AckMode::Delivered).then(|| Duration::from_millis(config.delivery_timeout_ms)),
        };
        let app = router(Arc::new(Endpoint { api, max_body_bytes: config.max_body_bytes, credentials: config.credentials.clone() }));
        let writer =
            Writer { streams: Arc::clone(&streams), policy: config.fsync, interval: Duration::from_millis(config.fsync_interval_ms), clock, metrics };
        let stop = cx.shutdown.clone();
        // The writer ends once the router (and with it the last sender) is gone, after the
        // requests in flight at shutdown are answered.
        let serving = async move {
            listener.serve(app, async move { stop.cancelled().await }).await;
        };
        let writing = writer.run(queued);
        let pump = Pump::new(Arc::clone(&streams), Arc::clone(&cx.name), config.region.clone(), config.account.clone(), checkpoints);
        let (tracker, acks) = cx.ack_tracker();
        let pumping = pump.run(tracker, acks, cx.output, cx.shutdown.clone(), cx.batch_size.get());
        let endpoint = async move { tokio::join!(serving, writing) };
        tokio::pin!(endpoint, pumping);
        let mut pumped = None;
        tokio::select! {
            result = &mut pumping => pumped = Some(result),
            _ = &mut endpoint => {}
        }
        match pumped {
            // The pump failed (the pipeline is gone): stop serving at once.
            Some(Err(error)) => Err(error),
            Some(Ok(())) => {
                endpoint.await;
                Ok(())
            }
            None => pumping.await,
        }
    }
}
