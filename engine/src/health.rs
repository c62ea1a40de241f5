//! Where a pipeline is in its life ([`Phase`], shared through a [`PhaseHandle`]), and whether
//! each node can do its work ([`Readiness`]): what `/health` and `/ready` report.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a pipeline is in its life, as `/ready` and `/health` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Building blocks.
    Starting = 0,
    /// All nodes running.
    Running = 1,
    /// Sources stopped; the rest draining.
    Draining = 2,
    /// Every node finished.
    Stopped = 3,
}

/// A shared, cheap view of a pipeline's [`Phase`] and of the nodes that said they cannot work.
#[derive(Clone, Debug, Default)]
pub struct PhaseHandle(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    phase: AtomicU8,
    /// The nodes that said they cannot do their work (a source that cannot reach its broker).
    unready: Mutex<BTreeSet<Arc<str>>>,
}

impl PhaseHandle {
    /// The current phase.
    pub fn get(&self) -> Phase {
        match self.0.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Running,
            2 => Phase::Draining,
            _ => Phase::Stopped,
        }
    }

    pub(crate) fn set(&self, phase: Phase) {
        self.0.phase.store(phase as u8, Ordering::Release);
    }

    /// The nodes that say they cannot do their work, by name.
    pub fn unready_nodes(&self) -> Vec<String> {
        self.unready().iter().map(|n| n.to_string()).collect()
    }

    /// Whether the pipeline is ready: every node runs and none says it cannot work.
    pub fn is_ready(&self) -> bool {
        self.get() == Phase::Running && self.unready().is_empty()
    }

    /// The handle node `node` reports its readiness through.
    pub(crate) fn readiness(&self, node: Arc<str>) -> Readiness {
        Readiness { node, shared: Arc::clone(&self.0), ready: Arc::new(AtomicBool::new(true)) }
    }

    fn unready(&self) -> MutexGuard<'_, BTreeSet<Arc<str>>> {
        // Each change is one insert or remove: a panic cannot leave the set half-changed.
        self.0.unready.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How a node says whether it can do its work: a source that cannot reach its broker sets
/// itself unready, and `/ready` answers 503 naming it until it sets itself ready again. Nodes
/// start ready. Cheap to clone and to call often: only changes take a lock.
#[derive(Clone, Debug)]
pub struct Readiness {
    node: Arc<str>,
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// Reports whether the node can do its work; returns whether that changed.
    pub fn set(&self, ready: bool) -> bool {
        if self.ready.swap(ready, Ordering::AcqRel) == ready {
            return false;
        }
        let handle = PhaseHandle(Arc::clone(&self.shared));
        let mut unready = handle.unready();
        if ready {
            unready.remove(&self.node);
        } else {
            unready.insert(Arc::clone(&self.node));
        }
        true
    }

    /// A readiness that reports to nothing, for a node run outside a pipeline (tests).
    pub fn detached(node: &str) -> Self {
        PhaseHandle::default().readiness(Arc::from(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_says_it_cannot_work_makes_the_pipeline_unready_until_it_can() {
        let phase = PhaseHandle::default();
        phase.set(Phase::Running);
        let kafka = phase.readiness(Arc::from("kafka"));
        assert!(phase.is_ready());
        assert!(kafka.set(false));
        assert!(!kafka.set(false), "no change");
        assert!(!phase.is_ready());
        assert_eq!(phase.unready_nodes(), ["kafka"]);
        assert!(kafka.set(true));
        assert!(phase.is_ready());
    }
}
