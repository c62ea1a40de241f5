//! The thread that owns a block's engine. QuickJS values cannot cross threads, so the engine
//! lives on a thread of its own (with a stack deeper than tokio's workers) running a
//! current-thread tokio runtime for the handlers' promises; batches of messages come in over a
//! channel and go back with their results, in order.

use runnel_engine::Message;
use serde_json::{Map, Value as Json, json};
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Engine, Failure, Limits, Source};
use crate::shape::Shape;

/// A message and what the handler made of it.
pub(crate) type Done = (Message, Result<Option<Json>, Failure>);

struct Job {
    messages: Vec<Message>,
    reply: oneshot::Sender<Vec<Done>>,
}

/// The engine's thread, while it lives.
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
    shape: Shape,
}

impl Worker {
    /// Starts the thread and loads the handler there.
    ///
    /// # Errors
    /// The handler does not load (a compile error, a failed import), or the thread cannot start.
    pub(crate) async fn start(node: &str, index: usize, source: Source, limits: Limits) -> Result<Self, String> {
        let (jobs, mut queue) = mpsc::channel::<Job>(2);
        let (ready, loaded) = oneshot::channel::<Result<Shape, String>>();
        std::thread::Builder::new()
            .name(format!("js-{node}-{index}"))
            .stack_size(8 * 1024 * 1024)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready.send(Err(error.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut engine = match Engine::new(&source, limits).await {
                        Ok(engine) => engine,
                        Err(error) => {
                            let _ = ready.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready.send(Ok(engine.shape()));
                    while let Some(job) = queue.recv().await {
                        let mut done = Vec::with_capacity(job.messages.len());
                        for message in job.messages {
                            let result = engine.call(message.value(), || meta(&message)).await;
                            match &result {
                                // The handler's pending work is queued in the engine: a fresh one.
                                Err(Failure::TimedOut { waiting: true }) => match Engine::new(&source, limits).await {
                                    Ok(fresh) => engine = fresh,
                                    Err(error) => tracing::error!(%error, "cannot load the handler again after a timeout"),
                                },
                                Err(Failure::Error(error)) if error.contains("out of memory") => engine.collect_garbage().await,
                                _ => {}
                            }
                            done.push((message, result));
                        }
                        let _ = job.reply.send(done);
                    }
                });
            })
            .map_err(|e| format!("cannot start the handler's thread: {e}"))?;
        let shape = loaded.await.map_err(|_| "the handler's thread stopped".to_owned())??;
        Ok(Self { jobs, shape })
    }

    /// How the handler is written.
    pub(crate) fn shape(&self) -> Shape {
        self.shape
    }

    /// Runs the handler on each message, in order.
    ///
    /// # Errors
    /// The thread stopped (it does not, unless it panicked).
    pub(crate) fn run(&self, messages: Vec<Message>) -> impl Future<Output = Result<Vec<Done>, String>> + Send + 'static {
        let jobs = self.jobs.clone();
        async move {
            let (reply, done) = oneshot::channel();
            jobs.send(Job { messages, reply }).await.map_err(|_| "the handler's thread stopped".to_owned())?;
            done.await.map_err(|_| "the handler's thread stopped".to_owned())
        }
    }
}

/// What the handler gets besides the value: the message's key (as text), timestamp (ms),
/// attributes and origin.
fn meta(message: &Message) -> Json {
    let meta = message.meta();
    let mut object = Map::new();
    object.insert("key".into(), meta.key.as_ref().map_or(Json::Null, |key| Json::String(String::from_utf8_lossy(key).into_owned())));
    object.insert("timestamp".into(), meta.timestamp.map_or(Json::Null, Json::from));
    object.insert("attributes".into(), meta.attributes.as_ref().map_or_else(|| json!({}), |a| Json::Object((**a).clone())));
    let origin = &meta.origin;
    object.insert("origin".into(), json!({"node": origin.node(), "stream": origin.stream(), "partition": origin.partition, "offset": origin.offset}));
    Json::Object(object)
}
