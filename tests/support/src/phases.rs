//! [`Phases`]: the phases of a long test, each run to its end even when an earlier one failed,
//! so a failure in one phase does not hide the results of the others. The test fails at the
//! end, naming every phase that failed (and those not run because a phase they need failed).

use std::{
    any::Any,
    future::Future,
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use futures::FutureExt as _;

/// The outcome of each phase of one test; call [`Phases::finish`] at the end.
#[derive(Debug)]
pub struct Phases {
    test: String,
    passed: Vec<(String, Duration)>,
    failed: Vec<(String, String)>,
}

impl Phases {
    pub fn new(test: &str) -> Self {
        Self {
            test: test.to_owned(),
            passed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Runs one phase; a panic inside it (a failed assertion) is recorded, printed as
    /// `phase <test>/<name>: FAILED: <message>`, and `None` returned, so later phases still run.
    pub async fn run<T>(&mut self, name: &str, phase: impl Future<Output = T>) -> Option<T> {
        let start = Instant::now();
        match AssertUnwindSafe(phase).catch_unwind().await {
            Ok(value) => {
                self.passed.push((name.to_owned(), start.elapsed()));
                Some(value)
            }
            Err(panic) => {
                let message = panic_message(&*panic);
                crate::report(&format!(
                    "phase {}/{name}: FAILED after {:.1}s: {message}",
                    self.test,
                    start.elapsed().as_secs_f64()
                ));
                self.failed.push((name.to_owned(), message));
                None
            }
        }
    }

    /// Records that phase `name` could not run because phase `needs` failed.
    pub fn not_run(&mut self, name: &str, needs: &str) {
        let message = format!("not run: it needs phase {needs}, which failed");
        crate::report(&format!("phase {}/{name}: {message}", self.test));
        self.failed.push((name.to_owned(), message));
    }

    /// Panics when any phase failed or did not run, listing them; otherwise returns.
    pub fn finish(self) {
        let total = self.passed.len() + self.failed.len();
        assert!(
            self.failed.is_empty(),
            "{}: {} of {total} phases failed:\n{}",
            self.test,
            self.failed.len(),
            self.failed
                .iter()
                .map(|(name, why)| format!("  {name}: {why}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_phase_does_not_stop_the_later_ones() {
        // A name run-all's summary does not pick up as a failed phase of a real test.
        let mut phases = Phases::new("Phases-self-test");
        let mut ran = Vec::new();
        assert_eq!(phases.run("one", async { 1 }).await, Some(1));
        let failed: Option<()> = phases.run("two", async { panic!("phase two broke") }).await;
        assert!(failed.is_none());
        phases.run("three", async { ran.push(3) }).await;
        phases.not_run("four", "two");
        assert_eq!(ran, [3]);
        let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| phases.finish()))
            .expect_err("finish fails")
            .downcast::<String>()
            .unwrap();
        assert!(message.contains("2 of 4 phases failed"), "{message}");
        assert!(message.contains("two: phase two broke"), "{message}");
        assert!(message.contains("four: not run"), "{message}");
    }
}
