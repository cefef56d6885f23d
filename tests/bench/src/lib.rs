//! kseal-bench: the benchmark programs (`bench-crypto`, `bench-controller`, `bench-compare`) and
//! their shared code. Their own crate, so the test crate holds tests only; commands and
//! figures are in docs/benchmarks.md.
//!
//! Every figure is measured next to its peer in the same run; these helpers do the measuring:
//! [`machine`] describes the machine for report headers, [`crypto`] times RSA work against
//! `openssl speed`, [`cluster`] drives a controller on the real API server and reads its counters.

pub mod cluster;
pub mod crypto;
pub mod machine;

use std::path::PathBuf;

/// `NAME` next to the running benchmark program (`cargo run --release -p kseal-bench` builds
/// them into `<target>/release/`), whether it exists or not: the programs say which
/// `cargo build` is missing.
pub fn release_bin(name: &str) -> PathBuf {
    kseal_test_support::bins::sibling_bin(name)
}

/// A command-line count that must be at least 1.
pub fn positive(value: &str) -> Result<usize, String> {
    match value.trim().parse() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{value:?}: {e}")),
    }
}
