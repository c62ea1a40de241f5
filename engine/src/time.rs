//! Small helpers for time in `select!` loops.

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever when there is none: a `select!` branch that fires only
/// when something is due.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
