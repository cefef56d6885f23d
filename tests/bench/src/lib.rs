//! Shared code of the benchmark programs (`bench-crypto`, `bench-controller`, `bench-compare`).
//!
//! Every figure is measured next to its peer in the same run; these helpers do the measuring:
//! [`machine`] describes the machine for report headers, [`crypto`] times RSA work against
//! `openssl speed`, [`cluster`] drives a controller on the real API server and reads its counters.

pub mod cluster;
pub mod crypto;
pub mod machine;

use std::path::{Path, PathBuf};

/// `NAME` in the release profile of this workspace's target directory (`$CARGO_TARGET_DIR` or
/// `target/`).
pub fn release_bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("release").join(name)
}

/// A command-line count that must be at least 1.
pub fn positive(value: &str) -> Result<usize, String> {
    match value.trim().parse() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{value:?}: {e}")),
    }
}
