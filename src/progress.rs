//! The live progress line and the summary printed at exit.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use runnel::PipelineMetrics;

/// When to show live progress.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum When {
    /// When stderr is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// A spinner that shows messages per second and totals, refreshed from the metrics.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(when: When, metrics: PipelineMetrics, sources: Vec<String>, sinks: Vec<String>) -> Self {
        let show = match when {
            When::Auto => std::io::stderr().is_terminal(),
            When::Always => true,
            When::Never => false,
        };
        if !show {
            return Self { bar: None, task: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut last = (0_u64, tokio::time::Instant::now());
            loop {
                tick.tick().await;
                let input: u64 = sources.iter().map(|s| metrics.sent_total(s)).sum();
                let output: u64 = sinks.iter().map(|s| metrics.received_total(s)).sum();
                let now = tokio::time::Instant::now();
                let rate = (input - last.0) as f64 / now.duration_since(last.1).as_secs_f64().max(1e-3);
                last = (input, now);
                shown.set_message(format!("{input} in, {output} out, {rate:.0} msg/s"));
                shown.tick();
            }
        });
        Self { bar: Some(bar), task: Some(task) }
    }

    pub(crate) fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One line: messages in and out, errors, drops, time and rate.
pub(crate) fn summary(metrics: &PipelineMetrics, sources: &[String], sinks: &[String], elapsed: Duration) -> String {
    let input: u64 = sources.iter().map(|s| metrics.sent_total(s)).sum();
    let output: u64 = sinks.iter().map(|s| metrics.received_total(s)).sum();
    let all = metrics.node_names();
    let errors: u64 = all.iter().map(|n| metrics.errors_total(n)).sum();
    let dropped: u64 = all.iter().map(|n| metrics.dropped_total(n)).sum();
    let seconds = elapsed.as_secs_f64();
    let rate = input as f64 / seconds.max(1e-9);
    format!("runnel: {input} messages in, {output} out, {errors} errors, {dropped} dropped in {seconds:.2}s ({rate:.0} msg/s)")
}
