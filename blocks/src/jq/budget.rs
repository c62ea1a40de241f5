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

use jaq_core::Native;
use jaq_core::box_iter::box_once;
use jaq_core::native::Fun;
use jaq_json::Val;

use super::Data;

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
    /// It built a value nested deeper than this many levels (at most
    /// [`MAX_VALUE_DEPTH`], fewer on a thread with a small stack).
    Depth(usize),
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time(limit) => write!(f, "ran longer than its time budget of {} ms", limit.as_millis()),
            Self::Memory(limit) => write!(f, "allocated more than its memory budget of {} MiB", limit / (1024 * 1024)),
            Self::Stack => f.write_str("recursed deeper than the stack allows"),
            Self::Depth(limit) => write!(f, "built a value nested deeper than {limit} levels"),
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

/// The checkpoint: unwinds with [`Exceeded`] when the running evaluation is past its budget,
/// or when `value` (the value passing the checkpoint) nests deeper than the stack left can walk.
fn check(value: &Val) {
    let Some(mut running) = RUNNING.get() else { return };
    let left = stacker::remaining_stack();
    if left.is_some_and(|left| left < STACK_RESERVE) {
        resume_unwind(Box::new(Exceeded::Stack));
    }
    running.ticks = running.ticks.wrapping_add(1);
    RUNNING.set(Some(running));
    if running.ticks % CHECK_EVERY != 0 {
        return;
    }
    // A loop deepens a value by a level or so per checkpoint: looking every few is enough.
    let deepest =
        left.map_or(MAX_VALUE_DEPTH, |left| (left.saturating_sub(STACK_RESERVE) / STACK_PER_VALUE_LEVEL).clamp(MIN_VALUE_DEPTH, MAX_VALUE_DEPTH));
    if deeper_than(value, deepest) {
        resume_unwind(Box::new(Exceeded::Depth(deepest)));
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

/// The deepest a value may nest, as jq prints and parses values: jaq compares, prints and frees
/// values by recursing as deep as they nest, and a value nested much deeper would overflow the
/// stack and abort the process.
pub const MAX_VALUE_DEPTH: usize = 10_000;

/// The depth every value may reach, however small the thread's stack: on a thread so short of
/// stack that it cannot walk this deep, recursion stops first ([`Exceeded::Stack`]).
const MIN_VALUE_DEPTH: usize = 256;

/// The stack jaq's native code (printing, comparing, freeing) takes per level of a value, in a
/// debug build, with room to spare.
const STACK_PER_VALUE_LEVEL: usize = 4 * 1024;

/// Whether `value` nests deeper than `limit` along its first or its last elements, where loops
/// build deep values (`[.]`, `{a: .}`, `[1, .]`). A walk down one element per level: it costs
/// what the value is deep, not what it holds.
pub(super) fn deeper_than(value: &Val, limit: usize) -> bool {
    fn child(v: &Val, last: bool) -> Option<&Val> {
        match v {
            Val::Arr(items) if last => items.last(),
            Val::Arr(items) => items.first(),
            Val::Obj(fields) if last => fields.last().map(|(_, v)| v),
            Val::Obj(fields) => fields.first().map(|(_, v)| v),
            _ => None,
        }
    }
    [false, true].into_iter().any(|last| {
        let mut at = value;
        let mut depth = 0;
        while let Some(next) = child(at, last) {
            depth += 1;
            if depth > limit {
                return true;
            }
            at = next;
        }
        false
    })
}

/// [`TICK`] as a native filter: its input unchanged, as a value, a path and an update, after
/// a checkpoint.
pub(super) fn tick() -> Fun<Data> {
    let native = Native::<Data>::new(|cv| {
        check(&cv.1);
        box_once(Ok(cv.1))
    })
    .with_paths(|cv| {
        check(&cv.1.0);
        box_once(Ok(cv.1))
    })
    .with_update(|cv, f| {
        check(&cv.1);
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
