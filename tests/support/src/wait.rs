//! Waiting without fixed sleeps: poll a condition until it holds (or a deadline passes), or
//! check that it keeps holding for a while.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// How often the helpers poll.
pub const POLL: Duration = Duration::from_millis(250);

/// Polls `check` every [`POLL`] until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Checks every [`POLL`] for `period` that `check` holds, panicking (naming `what`) the first
/// time it does not: for "this stays true" assertions (a follower stays a follower).
pub async fn hold_for<F, Fut>(what: &str, period: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        assert!(
            check().await,
            "no longer true after {:?}: {what}",
            start.elapsed()
        );
        if start.elapsed() >= period {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
