//! Backoff after a failure: 1 s doubling to 5 min for `--max-unseal-retries` attempts, then
//! `--failed-requeue-period`, so a failing object is never forgotten. A failure of the API
//! server itself (unreachable, 5xx, 429, a write conflict) says nothing about the object, so it
//! never drops to the slow requeue: it retries at the last fast step, and an outage longer than
//! the fast retries does not leave objects waiting `--failed-requeue-period` after it ends.

use std::{sync::Arc, time::Duration};

use kseal_crds::SealedSecret;
use kube::runtime::{controller::Action, reflector::ObjectRef};

use super::Context;
use crate::error::ReconcileError;

/// The controller's error policy: counts the failure and requeues after [`retry_delay`].
pub fn error_policy(ss: Arc<SealedSecret>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let failures = ctx.memory.count_failure(ObjectRef::from_obj(&*ss));
    Action::requeue(retry_delay(
        failures,
        error.is_transient(),
        ctx.options.max_retries,
        ctx.options.failed_requeue,
    ))
}

/// The delay after failure number `failures` (1-based); `transient`: the API server failed, not
/// the object.
pub(super) fn retry_delay(
    failures: u32,
    transient: bool,
    max_retries: u32,
    slow: Duration,
) -> Duration {
    let attempt = if transient {
        failures.min(max_retries.max(1))
    } else {
        failures
    };
    backoff(attempt, max_retries, slow)
}

/// The delay before retry number `attempt` (1-based).
pub fn backoff(attempt: u32, max_retries: u32, slow: Duration) -> Duration {
    if attempt > max_retries {
        slow
    } else {
        Duration::from_secs(1u64 << attempt.saturating_sub(1).min(8)).min(Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_then_slow() {
        let slow = Duration::from_secs(600);
        assert_eq!(backoff(1, 5, slow), Duration::from_secs(1));
        assert_eq!(backoff(2, 5, slow), Duration::from_secs(2));
        assert_eq!(backoff(5, 5, slow), Duration::from_secs(16));
        assert_eq!(backoff(6, 5, slow), slow);
        assert_eq!(backoff(60, 100, slow), Duration::from_secs(256));
    }

    /// An object's own failure drops to the slow requeue after the fast retries; the API
    /// server's failure stays at the last fast step however long it lasts.
    #[test]
    fn transient_failures_stay_fast() {
        let slow = Duration::from_secs(600);
        let secs = Duration::from_secs;
        for (failures, transient, max_retries, delay) in [
            (1, false, 5, secs(1)),
            (3, false, 5, secs(4)),
            (5, false, 5, secs(16)),
            (6, false, 5, slow),
            (1, true, 5, secs(1)),
            (5, true, 5, secs(16)),
            (6, true, 5, secs(16)),
            (1000, true, 5, secs(16)),
            // --max-unseal-retries=0: every failure waits for the slow requeue.
            (1, false, 0, slow),
            (7, true, 0, slow),
            // The fast steps stop doubling at 256 s (300 s cap never reached by 2^8).
            (20, true, 50, secs(256)),
        ] {
            assert_eq!(
                retry_delay(failures, transient, max_retries, slow),
                delay,
                "failure {failures}, transient {transient}, max {max_retries}"
            );
        }
    }
}
