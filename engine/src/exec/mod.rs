//! How the engine runs what blocks built: the plan of tasks, and the loops of function blocks.
//!
//! - [`plan`]: turns every node's [`crate::BuiltBlock`] into the tasks to spawn, chaining lines of
//!   function blocks into one task (operator chaining). Runs once, at start.
//! - [`line`]: the loop of a line of function blocks, fed by one input: batches, deadlines,
//!   close, and the forked stateless head on several workers.
//! - [`fork`]: forked copies of a line's stateless head, run on a batch in a task of their own.
//! - [`step`]: the one routine both use: a message through a sequence of function blocks, depth
//!   first.

pub(crate) mod fork;
pub(crate) mod line;
pub(crate) mod plan;
pub(crate) mod step;
