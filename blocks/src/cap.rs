//! Evictions at a stateful block's cap: counted in the node's metrics, and warned about at the
//! 1st, 2nd, 4th, 8th... so that a block stuck at its cap keeps saying so without flooding the log.

use runnel_engine::Emitter;

/// How many entries a block has evicted early.
#[derive(Debug, Default)]
pub(crate) struct Evictions {
    count: u64,
}

impl Evictions {
    /// Records one eviction at the cap named `cap` (set to `limit`); `consequence` tells the user
    /// what it means and what to do.
    pub(crate) fn record(&mut self, out: &mut Emitter, cap: &'static str, limit: usize, consequence: &str) {
        self.count += 1;
        out.evicted(1);
        if self.count.is_power_of_two() {
            tracing::warn!(cap, limit, evicted = self.count, "{consequence}");
        }
    }
}
