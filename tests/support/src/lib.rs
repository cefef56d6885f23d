//! The one test harness of the kseal workspace (docs/architecture.md "Tests"): every test crate
//! (`cli`, `controller`, `crds`, `tests`) and the benchmark programs take these helpers from
//! here instead of writing their own.
//!
//! - [`policy`]: what a test does when the control plane or a Go tool is missing: fail in CI
//!   (`CI` or `KSEAL_CLUSTER` set), otherwise print one `skipped: …` line; never a silent pass.
//! - [`cluster`]: connect to the control plane, install the CRD, namespaces, free ports,
//!   `tests/cluster/cluster.sh`.
//! - [`bins`]: where the workspace's binaries and the Go tools are; [`error`]: what a `try_`
//!   helper could not do ([`HarnessError`]).
//! - [`tmp`]: one temporary-directory type, removed on drop; [`files`]: copying trees, git.
//! - [`wait`]: wait for a condition with a timeout (no fixed sleeps); [`phases`]: run the phases
//!   of a long test so that one failing phase does not hide the others.
//! - [`metrics`]: Prometheus text parsing; [`watchdog`]: health and memory of a running
//!   controller; [`report`]: lines that show in every `cargo test` run.

pub mod bins;
pub mod cluster;
pub mod error;
pub mod files;
pub mod metrics;
pub mod phases;
pub mod policy;
pub mod tmp;
pub mod wait;
pub mod watchdog;

pub use bins::{go_bindir, go_tools, repo_root, target_bin};
pub use cluster::{
    TestNamespace, cluster_sh, connect, create_namespace, ensure_crd, free_port, kubeconfig,
    try_create_namespace, try_ensure_crd,
};
pub use error::HarnessError;
pub use files::{copy_dir, git};
pub use phases::Phases;
pub use policy::{cluster_required, require_cluster, skip_or_fail};
pub use tmp::TempDir;
pub use wait::{hold_for, wait_for};
pub use watchdog::Watchdog;

/// Sealed into cluster test cases; must never show up in logs, events, status or metrics.
pub const CANARY: &str = "kseal-canary-3b9f0c1e-never-log-me";

/// Asserts the canary appears in none of `texts` (labelled for the failure message).
pub fn assert_no_canary(texts: &[(&str, &str)]) {
    for (what, text) in texts {
        assert!(
            !text.contains(CANARY),
            "the canary value leaked into {what}"
        );
    }
}

/// A Secret's values as the API server stores them: `data`, then `stringData` over it
/// (plaintext: for assertions only).
pub fn secret_values(
    secret: &k8s_openapi::api::core::v1::Secret,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out: std::collections::BTreeMap<String, Vec<u8>> = secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in secret.string_data.clone().unwrap_or_default() {
        out.insert(k, v.into_bytes());
    }
    out
}

/// Writes a line to the process's stderr directly: the test harness captures `println!` and
/// `eprintln!` of a passing test, not writes to the stderr handle, so these lines show in every
/// `cargo test` run (tests/run-all.sh repeats the interop, fault, hostile and skipped lines at
/// the end).
pub fn report(line: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The name of the running test (libtest names each test's thread after it), for messages.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("this test")
        .to_owned()
}
