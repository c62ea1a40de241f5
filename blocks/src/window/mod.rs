//! The `window` block: tumbling, sliding and session windows over event or processing time,
//! grouped by a key, with aggregations, a watermark with allowed lateness, a `late` port and a
//! cap on open windows.
//!
//! Event time: the watermark is the largest event time seen minus `allowed_lateness`; a window
//! is emitted once the watermark passes its end. A message whose windows have all been emitted
//! goes to the `late` port. Processing time: windows close on the clock. Open windows are emitted
//! when the input ends (at shutdown too). Each emitted message carries the acknowledgements of
//! every message it aggregates, so a source commits only what a window has emitted.

mod aggregate;
mod block;
mod closing;
mod keys;
mod pane;
#[cfg(test)]
mod tests;

use indexmap::IndexMap;
use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Role, async_trait};
use serde::Deserialize;

use crate::jq::JqProgram;
use crate::time::{Span, TimeKind};

pub use aggregate::{AggregateConfig, AggregateOp};
pub use block::Window;

/// The port that receives messages arriving after their windows were emitted.
pub const LATE: &str = "late";

/// How messages are assigned to windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Fixed, non-overlapping windows of `size`.
    Tumbling,
    /// Windows of `size` starting every `slide`; a message is in `size / slide` of them.
    Sliding,
    /// Per key, a window that stays open while messages arrive less than `gap` apart.
    Session,
}

/// Configuration of the `window` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// `tumbling`, `sliding` or `session`.
    pub kind: WindowKind,
    /// Window length (tumbling and sliding), e.g. `"10s"`.
    #[serde(default)]
    pub size: Option<Span>,
    /// How often a sliding window starts; at most `size`.
    #[serde(default)]
    pub slide: Option<Span>,
    /// Inactivity that ends a session window.
    #[serde(default)]
    pub gap: Option<Span>,
    /// `event` (default) or `processing` time.
    #[serde(default)]
    pub time: TimeKind,
    /// A jq expression for a message's event time (ms since the epoch, or an RFC 3339 string);
    /// the source's timestamp when unset.
    #[serde(default)]
    pub time_field: Option<JqProgram>,
    /// A jq expression whose value keys separate windows (e.g. `.room`); one window set when unset.
    #[serde(default)]
    pub group_by: Option<JqProgram>,
    /// How far behind the newest event time a message may be and still count (event time).
    #[serde(default)]
    pub allowed_lateness: Option<Span>,
    /// Name → aggregate, as output fields in this order. A single `count` when empty.
    #[serde(default)]
    pub aggregates: IndexMap<String, AggregateConfig>,
    /// Most windows open at once (over all keys). Past it the window ending first is emitted
    /// early, counted in `runnel_node_state_evictions_total`, and a warning is logged.
    #[serde(default = "default_max_open")]
    pub max_open_windows: usize,
}

fn default_max_open() -> usize {
    10_000
}

/// Sliding windows a message may be in, at most (`size` / `slide`, rounded up). Each message
/// updates every window it is in, and each is a window kept open per key, so a day sliding by
/// the millisecond would open 86,400,000 windows for one message; a thousand is already a
/// thousand aggregate updates per message.
pub(crate) const MAX_WINDOWS_PER_MESSAGE: u64 = 1_000;

/// A sliding window whose `size` / `slide` is over [`MAX_WINDOWS_PER_MESSAGE`].
fn windows_per_message_problem(size: Span, slide: Span) -> Option<String> {
    let millis = |span: Span| u64::try_from(span.millis()).unwrap_or(0).max(1);
    let windows = millis(size).div_ceil(millis(slide));
    (windows > MAX_WINDOWS_PER_MESSAGE).then(|| {
        let shortest = millis(size).div_ceil(MAX_WINDOWS_PER_MESSAGE);
        format!(
            "`slide` = {slide} with `size` = {size} puts each message in {windows} windows (size / slide), more than the \
             {MAX_WINDOWS_PER_MESSAGE} a message may be in: make `slide` at least {}",
            Span::from_millis(shortest)
        )
    })
}

impl Component for WindowConfig {
    const TYPE: &'static str = "window";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Aggregates messages per key over tumbling, sliding or session windows of event or processing time.";
    const EXAMPLE: &'static str = r#"kind = "tumbling"
size = "10s"
time_field = ".ts"
group_by = ".room"
allowed_lateness = "2s"
[aggregates]
messages = { op = "count" }
chars = { op = "sum", field = ".len" }
users = { op = "count_distinct", field = ".user" }"#;
}

impl WindowConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let positive = |span: Option<Span>| span.is_some_and(|s| s.millis() > 0);
        match self.kind {
            WindowKind::Tumbling | WindowKind::Sliding if !positive(self.size) => {
                problems.push(format!("a {:?} window needs a `size` longer than 0", self.kind).to_lowercase());
            }
            WindowKind::Session if !positive(self.gap) => problems.push("a session window needs a `gap` longer than 0".into()),
            _ => {}
        }
        if self.kind == WindowKind::Sliding {
            match (self.slide, self.size) {
                (Some(slide), Some(size)) if slide.millis() > 0 && slide <= size => problems.extend(windows_per_message_problem(size, slide)),
                _ => problems.push("a sliding window needs a `slide` longer than 0 and at most `size`".into()),
            }
        }
        if self.kind != WindowKind::Sliding && self.slide.is_some() {
            problems.push("`slide` is only for sliding windows".into());
        }
        if self.kind != WindowKind::Session && self.gap.is_some() {
            problems.push("`gap` is only for session windows".into());
        }
        if self.time == TimeKind::Processing && (self.time_field.is_some() || self.allowed_lateness.is_some()) {
            problems.push("`time_field` and `allowed_lateness` are for event time only".into());
        }
        if self.max_open_windows == 0 {
            problems.push("`max_open_windows` must be at least 1".into());
        }
        for (name, aggregate) in &self.aggregates {
            if name == "window" || name == "key" {
                problems.push(format!("aggregate name `{name}` is reserved for the output's own field"));
            }
            if aggregate.op == AggregateOp::CountBy && aggregate.field.is_none() {
                problems.push(format!("aggregate `{name}`: `count_by` needs a `field`"));
            }
        }
        problems
    }
}

#[async_trait]
impl BlockConfig for WindowConfig {
    fn outputs(&self) -> Vec<String> {
        vec![runnel_engine::DEFAULT_PORT.to_owned(), LATE.to_owned()]
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Window::new(self.clone())))
    }
}
