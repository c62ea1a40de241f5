//! The `file` source: NDJSON lines from files, following them as they grow and rotate, with
//! checkpoints that let a restart resume where the delivered lines end.
//!
//! # Layout
//!
//! - `config`: [`FileSourceConfig`], and building it: checkpoints loaded, files found and placed.
//! - `scan`: finding the files `path` matches, and noticing truncated and renamed ones.
//! - `identity`: device, inode and a fingerprint of the first bytes tell files apart.
//! - `watched`: one file being read: where it starts, its reader, its checkpoint (its batches in
//!   flight, `crate::progress`).
//! - `checkpoint`: the checkpoint file, written atomically.
//! - `files`: every file being read, and what the source does with reads, scans and
//!   acknowledgements; this module runs the loop.

mod checkpoint;
mod config;
mod files;
mod identity;
mod scan;
#[cfg(test)]
mod tests;
mod watched;

use std::time::Duration;

use runnel_engine::{Ack, AckReceiver, Block, BlockError, RunContext, async_trait};
use tokio::time::MissedTickBehavior;

pub use config::FileSourceConfig;
pub use watched::ReadFrom;

use checkpoint::CheckpointStore;
use config::Checkpoints;
use files::Files;
use scan::Patterns;
use watched::Opened;

use crate::ndjson::{Parser, send};

/// How the source reads, from its configuration.
#[derive(Clone, Copy, Debug)]
struct Settings {
    follow: bool,
    poll: Duration,
    max_line_bytes: usize,
    checkpoint_every: Duration,
    rotate_wait: Duration,
}

/// The running `file` source.
#[derive(Debug)]
pub struct FileSource {
    settings: Settings,
    patterns: Patterns,
    store: Option<CheckpointStore>,
    /// Checkpoints of files not found when the source was built, should they appear.
    known: Checkpoints,
    /// The files found when the source was built.
    opened: Vec<Opened>,
}

#[async_trait]
impl Block for FileSource {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { settings, patterns, store, known, opened } = *self;
        // Acknowledgements are only needed to move checkpoints.
        let (tracker, mut acks) = match store {
            Some(_) => {
                let (tracker, acks) = cx.ack_tracker();
                (tracker, Some(acks))
            }
            None => (cx.ack_metrics_tracker(), None),
        };
        let mut files = Files::new(cx.name.clone(), settings, patterns, store, known, tracker);
        for opened in opened {
            files.add(opened).map_err(BlockError::other)?;
        }
        let RunContext { mut output, shutdown, batch_size, .. } = cx;
        let mut save = tokio::time::interval(settings.checkpoint_every);
        save.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(settings.poll);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut parser = Parser::new();
        let max = batch_size.get();
        let result = loop {
            if !settings.follow && !files.has_lines_queued() && parser.is_empty() {
                break Ok(());
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break Ok(()),
                Some(ack) = next_ack(&mut acks) => files.ack(ack),
                Some(parsed) = parser.next(), if !parser.is_empty() => match parsed {
                    Ok(parsed) => if let Err(error) = send(&mut output, parsed).await { break Err(error) },
                    Err(error) => break Err(error),
                },
                Some((key, read)) = files.read_next(max), if parser.has_room() && files.has_lines_queued() => {
                    match files.take(key, read) {
                        Ok(Some(job)) => if let Some(parsed) = parser.start(move || job.parse()) {
                            if let Err(error) = send(&mut output, parsed).await { break Err(error) }
                        },
                        Ok(None) => {}
                        Err(error) => break Err(error),
                    }
                }
                _ = save.tick() => files.save().await,
                _ = poll.tick(), if settings.follow => if let Err(error) = files.poll().await { break Err(error) },
            }
        };
        // Downstream drains what is queued once the output is gone; the acknowledgement channel
        // closes once the tracker and every message's tokens are gone. The last checkpoints are
        // written then (or, if downstream never finishes, the periodic ones stand).
        drop((output, parser));
        files.stop_reading();
        while acks.is_some() {
            tokio::select! {
                ack = next_ack(&mut acks) => match ack {
                    Some(ack) => files.ack(ack),
                    None => acks = None,
                },
                _ = save.tick() => files.save().await,
            }
        }
        files.save().await;
        result
    }
}

/// The next acknowledgement; `None` once the channel is closed, and never without one.
async fn next_ack(acks: &mut Option<AckReceiver>) -> Option<Ack> {
    match acks {
        Some(acks) => acks.recv().await,
        None => std::future::pending().await,
    }
}
