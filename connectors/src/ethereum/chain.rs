//! The recent canonical chain as the source has seen it: a window of block headers, linked by
//! their parent hashes, and how far it has emitted. A new head either extends the tip or
//! replaces some of the window (a reorganisation); the source fetches the headers between the
//! new head and the block it forks from, and [`Chain::apply`] says what to retract and what is
//! now deep enough to emit.
//!
//! Pure bookkeeping, without I/O, so every reorganisation shape is tested here.

use std::collections::VecDeque;

/// What the source needs of a block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) number: u64,
    pub(crate) hash: String,
    pub(crate) parent: String,
}

/// What to do after a new branch was applied, in order: retractions first (newest first), then
/// emissions (oldest first).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The block was emitted and is no longer canonical: retract what it emitted.
    Retract(Header),
    /// The block is now `confirmations` deep: emit it.
    Emit(Header),
}

/// Why a branch could not be applied.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChainError {
    /// The branch does not link to any block of the window: the reorganisation is deeper than
    /// the window, so what the replaced blocks emitted cannot be retracted.
    #[error("a reorganisation replaced block {number} or earlier, deeper than the {window} blocks kept; what those blocks emitted stays")]
    TooDeep {
        /// The first block of the branch.
        number: u64,
        /// How many blocks the window keeps.
        window: usize,
    },
}

/// The window of recent canonical headers.
#[derive(Debug)]
pub(crate) struct Chain {
    /// Contiguous, oldest first.
    blocks: VecDeque<Header>,
    /// How many blocks to keep for reorganisations.
    window: usize,
    /// Blocks must be this many below the head before they are emitted (0: at once).
    confirmations: u64,
    /// The highest block number emitted, if any.
    emitted: Option<u64>,
}

impl Chain {
    /// An empty chain: the first branch applied is taken as it is.
    pub(crate) fn new(window: usize, confirmations: u64) -> Self {
        Self { blocks: VecDeque::new(), window: window.max(1), confirmations, emitted: None }
    }

    /// A chain resumed after `finished`, a block already emitted (and acknowledged) in an
    /// earlier run.
    pub(crate) fn resumed(window: usize, confirmations: u64, finished: Header) -> Self {
        let emitted = Some(finished.number);
        Self { blocks: VecDeque::from([finished]), window: window.max(1), confirmations, emitted }
    }

    /// The newest header, if any.
    pub(crate) fn tip(&self) -> Option<&Header> {
        self.blocks.back()
    }

    /// The oldest header kept.
    pub(crate) fn oldest(&self) -> Option<&Header> {
        self.blocks.front()
    }

    /// The header kept at `number`, if any.
    pub(crate) fn at(&self, number: u64) -> Option<&Header> {
        let first = self.blocks.front()?.number;
        self.blocks.get(usize::try_from(number.checked_sub(first)?).ok()?)
    }

    /// Whether `hash` at `number` is a block of the window: where a branch may fork from.
    pub(crate) fn knows(&self, number: u64, hash: &str) -> bool {
        self.at(number).is_some_and(|header| header.hash == hash)
    }

    /// Applies `branch` (contiguous headers, oldest first, the last one the new head) whose
    /// first block's parent is a block of the window (or any, when the window is empty).
    ///
    /// # Errors
    /// [`ChainError::TooDeep`] when the first block's parent is not in a non-empty window; the
    /// branch then replaces the whole window, and nothing is retracted.
    pub(crate) fn apply(&mut self, branch: Vec<Header>) -> (Vec<Step>, Option<ChainError>) {
        let mut steps = Vec::new();
        let mut error = None;
        let Some(first) = branch.first() else { return (steps, None) };
        let forks_from = first.number.checked_sub(1).filter(|parent| self.knows(*parent, &first.parent));
        match forks_from {
            Some(ancestor) => {
                while self.tip().is_some_and(|tip| tip.number > ancestor) {
                    let replaced = self.blocks.pop_back().unwrap_or_else(|| unreachable!("a tip"));
                    if self.emitted.is_some_and(|emitted| replaced.number <= emitted) {
                        steps.push(Step::Retract(replaced));
                    }
                }
                self.emitted = self.emitted.map(|emitted| emitted.min(ancestor));
            }
            None if self.blocks.is_empty() => {}
            None => {
                error = Some(ChainError::TooDeep { number: first.number, window: self.window });
                self.blocks.clear();
                // What was emitted stays emitted: blocks at or below it are not emitted again.
            }
        }
        self.blocks.extend(branch);
        if let Some(tip) = self.tip().map(|tip| tip.number) {
            let deep_enough = tip.checked_sub(self.confirmations);
            for header in &self.blocks {
                if deep_enough.is_some_and(|deep| header.number <= deep) && self.emitted.is_none_or(|emitted| header.number > emitted) {
                    steps.push(Step::Emit(header.clone()));
                }
            }
            if let Some(Step::Emit(last)) = steps.last() {
                self.emitted = Some(last.number);
            }
        }
        while self.blocks.len() > self.window {
            self.blocks.pop_front();
        }
        (steps, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(number: u64, fork: &str) -> Header {
        let parent = if number == 0 { "genesis".to_owned() } else { format!("{fork}{}", number - 1) };
        Header { number, hash: format!("{fork}{number}"), parent }
    }

    /// Block `number` of fork `fork`, whose parent is block `number - 1` of fork `parent_fork`.
    fn forked(number: u64, fork: &str, parent_fork: &str) -> Header {
        Header { number, hash: format!("{fork}{number}"), parent: format!("{parent_fork}{}", number - 1) }
    }

    fn emitted(steps: &[Step]) -> Vec<u64> {
        steps.iter().filter_map(|s| if let Step::Emit(h) = s { Some(h.number) } else { None }).collect()
    }

    fn retracted(steps: &[Step]) -> Vec<String> {
        steps.iter().filter_map(|s| if let Step::Retract(h) = s { Some(h.hash.clone()) } else { None }).collect()
    }

    #[test]
    fn without_confirmations_every_block_is_emitted_as_it_comes() {
        let mut chain = Chain::new(16, 0);
        for n in 0..5 {
            let (steps, error) = chain.apply(vec![header(n, "a")]);
            assert_eq!((emitted(&steps), error), (vec![n], None));
        }
    }

    #[test]
    fn with_confirmations_a_block_waits_until_it_is_deep_enough() {
        let mut chain = Chain::new(16, 2);
        assert!(emitted(&chain.apply(vec![header(10, "a")]).0).is_empty());
        assert!(emitted(&chain.apply(vec![header(11, "a")]).0).is_empty());
        assert_eq!(emitted(&chain.apply(vec![header(12, "a")]).0), vec![10]);
        // A gap filled by the source: several become deep at once, in order.
        let (steps, _) = chain.apply(vec![header(13, "a"), header(14, "a"), header(15, "a")]);
        assert_eq!(emitted(&steps), vec![11, 12, 13]);
    }

    #[test]
    fn a_reorganisation_retracts_what_was_emitted_newest_first_and_emits_the_new_branch() {
        let mut chain = Chain::new(16, 0);
        for n in 0..5 {
            chain.apply(vec![header(n, "a")]);
        }
        // Blocks 3 and 4 of fork `a` are replaced by 3, 4 and 5 of fork `b`, forking from a2.
        let branch = vec![forked(3, "b", "a"), header(4, "b"), header(5, "b")];
        let (steps, error) = chain.apply(branch);
        assert_eq!(error, None);
        assert_eq!(retracted(&steps), vec!["a4", "a3"]);
        assert_eq!(emitted(&steps), vec![3, 4, 5]);
        assert_eq!(chain.tip().map(|t| t.hash.as_str()), Some("b5"));
    }

    #[test]
    fn with_enough_confirmations_a_reorganisation_retracts_nothing() {
        let mut chain = Chain::new(16, 3);
        for n in 0..6 {
            chain.apply(vec![header(n, "a")]);
        }
        // Emitted so far: 0..=2. Blocks 4 and 5 are replaced: never emitted, nothing to retract.
        let (steps, error) = chain.apply(vec![forked(4, "b", "a"), header(5, "b"), header(6, "b")]);
        assert_eq!(error, None);
        assert!(retracted(&steps).is_empty());
        assert_eq!(emitted(&steps), vec![3]);
    }

    #[test]
    fn a_head_at_the_same_height_with_another_hash_replaces_the_tip() {
        let mut chain = Chain::new(16, 0);
        chain.apply(vec![header(0, "a"), header(1, "a")]);
        let (steps, _) = chain.apply(vec![forked(1, "b", "a")]);
        assert_eq!(retracted(&steps), vec!["a1"]);
        assert_eq!(emitted(&steps), vec![1]);
    }

    #[test]
    fn a_reorganisation_deeper_than_the_window_is_reported_and_nothing_is_emitted_twice() {
        let mut chain = Chain::new(3, 0);
        for n in 0..10 {
            chain.apply(vec![header(n, "a")]);
        }
        assert_eq!(chain.oldest().map(|h| h.number), Some(7));
        let (steps, error) = chain.apply(vec![forked(5, "b", "x"), header(6, "b"), header(7, "b"), header(8, "b"), header(9, "b"), header(10, "b")]);
        assert_eq!(error, Some(ChainError::TooDeep { number: 5, window: 3 }));
        assert_eq!(emitted(&steps), vec![10]);
    }

    #[test]
    fn a_resumed_chain_goes_on_after_the_finished_block() {
        let mut chain = Chain::resumed(16, 0, header(41, "a"));
        let (steps, error) = chain.apply(vec![header(42, "a"), header(43, "a")]);
        assert_eq!((emitted(&steps), error), (vec![42, 43], None));
    }
}
