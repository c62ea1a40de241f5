//! The budget of one jq evaluation: how long it may run, how much memory it may allocate and
//! how deep it may recurse before it fails its message instead of stalling or aborting the
//! process.
//!
//! jaq has no hook to interrupt a running filter, so the program is instrumented (module
//! `instrument`) with calls to a native filter, [`TICK`], at every place where it can loop or
//! grow. A checkpoint looks at the clock, at the memory this thread holds (jemalloc's per-thread
//! counters) and at the stack left; past the budget it unwinds out of jaq with [`Exceeded`]
//! (`resume_unwind`, which skips the panic hook), and [`within`] turns that into an error. An
//! unwind, unlike a jq error, cannot be caught by the program's own `try`.
//!
//! The memory measure counts only when jemalloc is the global allocator, as it is in the `runnel`
//! binary; a program embedding runnel with another allocator gets the time and stack budgets only.

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use jaq_core::box_iter::box_once;
use jaq_core::native::Fun;
use jaq_core::{DataT, Native};

/// The name of the checkpoint filter the instrumented program calls.
pub(super) const TICK: &str = "__runnel_tick";

/// The stack that must remain at a checkpoint: the native code between two checkpoints (jaq's
/// interpreter, a `tojson`) must fit in it.
pub(super) const STACK_RESERVE: usize = 512 * 1024;

/// How many checkpoints pass between two looks at the clock and the allocator.
const CHECK_EVERY: u32 = 16;

/// What one evaluation of a jq program may spend.
///
/// ```
/// # use runnel_blocks::jq::Limits;
/// # use std::time::Duration;
/// let limits = Limits::default();
/// assert_eq!(limits.time, Duration::from_secs(1));
/// assert_eq!(limits.memory, 64 * 1024 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest one evaluation (one message) may run.
    pub time: Duration,
    /// The most memory, in bytes, one evaluation may hold at once (allocated and not yet freed).
    pub memory: u64,
}

/// 64 MiB of memory: jaq frees what a program built recursively, so the memory bounds the stack
/// that freeing takes as well; on the `runnel` binary's 64 MiB worker stacks, state of about
/// 100 MiB built by a pathological program (a chain of closures, `def f(g): f([g]); f(.)`)
/// overflows the stack when it is freed.
impl Default for Limits {
    fn default() -> Self {
        Self { time: Duration::from_secs(1), memory: 64 * 1024 * 1024 }
    }
}

/// Which budget an evaluation overran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// It ran longer than this.
    Time(Duration),
    /// It held more than this many bytes.
    Memory(u64),
    /// It recursed until less than 512 KiB of stack remained.
    Stack,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time(limit) => write!(f, "ran longer than its time budget of {} ms", limit.as_millis()),
            Self::Memory(limit) => write!(f, "allocated more than its memory budget of {} MiB", limit / (1024 * 1024)),
            Self::Stack => f.write_str("recursed deeper than the stack allows"),
        }
    }
}

/// The budget of the evaluation running on this thread.
#[derive(Clone, Copy)]
struct Running {
    limits: Limits,
    deadline: Instant,
    /// The thread's net allocation when the evaluation started.
    memory_at_start: u64,
    ticks: u32,
}

thread_local! {
    static RUNNING: Cell<Option<Running>> = const { Cell::new(None) };
}

/// Why an evaluation stopped before its end.
#[derive(Debug)]
pub(super) enum Stopped {
    /// It overran its budget.
    Over(Exceeded),
    /// jaq panicked (a bug in jaq, such as an overflow in its time functions): the message
    /// fails, not the node. jaq's state lives only inside the evaluation, so nothing outlives it.
    Panicked(String),
}

/// Runs `evaluate` under `limits`: `Err` when it overran them or panicked, its result otherwise.
pub(super) fn within<T>(limits: Limits, evaluate: impl FnOnce() -> T) -> Result<T, Stopped> {
    let running = Running { limits, deadline: Instant::now() + limits.time, memory_at_start: memory::held(), ticks: 0 };
    let outer = RUNNING.replace(Some(running));
    let result = catch_unwind(AssertUnwindSafe(evaluate));
    RUNNING.set(outer);
    result.map_err(|payload| match payload.downcast::<Exceeded>() {
        Ok(exceeded) => Stopped::Over(*exceeded),
        Err(other) => Stopped::Panicked(
            other.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| other.downcast_ref::<String>().cloned()).unwrap_or_default(),
        ),
    })
}

/// The checkpoint: unwinds with [`Exceeded`] when the running evaluation is past its budget.
fn check() {
    let Some(mut running) = RUNNING.get() else { return };
    if stacker::remaining_stack().is_some_and(|left| left < STACK_RESERVE) {
        resume_unwind(Box::new(Exceeded::Stack));
    }
    running.ticks = running.ticks.wrapping_add(1);
    RUNNING.set(Some(running));
    if running.ticks % CHECK_EVERY != 0 {
        return;
    }
    if Instant::now() >= running.deadline {
        resume_unwind(Box::new(Exceeded::Time(running.limits.time)));
    }
    // Signed: the thread may free memory other threads allocated.
    let grown = memory::held().wrapping_sub(running.memory_at_start) as i64;
    if grown > running.limits.memory.try_into().unwrap_or(i64::MAX) {
        resume_unwind(Box::new(Exceeded::Memory(running.limits.memory)));
    }
}

/// Unwinds with [`Exceeded::Memory`] when the running evaluation, holding `bytes` more, would be
/// past its memory budget: for a native step about to allocate that much at once.
pub(super) fn reserve(bytes: u64) {
    let Some(running) = RUNNING.get() else { return };
    let grown = memory::held().wrapping_sub(running.memory_at_start) as i64;
    if grown.saturating_add(bytes.try_into().unwrap_or(i64::MAX)) > running.limits.memory.try_into().unwrap_or(i64::MAX) {
        resume_unwind(Box::new(Exceeded::Memory(running.limits.memory)));
    }
}

/// [`TICK`] as a native filter: its input unchanged, as a value, a path and an update, after
/// a checkpoint.
pub(super) fn tick<D: DataT>() -> Fun<D> {
    let native = Native::<D>::new(|cv| {
        check();
        box_once(Ok(cv.1))
    })
    .with_paths(|cv| {
        check();
        box_once(Ok(cv.1))
    })
    .with_update(|cv, f| {
        check();
        f(cv.1)
    });
    (TICK, Box::new([]), native)
}

/// The memory this thread holds, from jemalloc's per-thread counters.
mod memory {
    use std::cell::OnceCell;

    use tikv_jemalloc_ctl::thread::{ThreadLocal, allocatedp, deallocatedp};

    thread_local! {
        static COUNTERS: OnceCell<Option<(ThreadLocal<u64>, ThreadLocal<u64>)>> = const { OnceCell::new() };
    }

    /// Bytes allocated minus bytes freed by this thread so far; 0 when jemalloc cannot tell.
    pub(super) fn held() -> u64 {
        COUNTERS.with(|counters| {
            let counters = counters.get_or_init(|| Some((allocatedp::mib().ok()?.read().ok()?, deallocatedp::mib().ok()?.read().ok()?)));
            counters.as_ref().map_or(0, |(allocated, freed)| allocated.get().wrapping_sub(freed.get()))
        })
    }
}
